#!/usr/bin/env python3
"""gitops_http_server.py: a git smart-HTTP server for the gitops tests.

Runs git-http-backend as a CGI behind HTTP/1.1 keep-alive with basic auth,
so libgit2 talks to a real receive-pack and upload-pack (hooks included).

    gitops_http_server.py --root DIR --user NAME:KEY [--user ...] [--log FILE]
                          [--tls CERT KEY]

Prints the port it listens on (127.0.0.1, --port 0 picks one) as the first
line of stdout.  Every repository under --root is served at its path, e.g.
DIR/git/alice/Hello.git as /git/alice/Hello.git.  Each request is logged to
--log as "METHOD PATH STATUS AUTH" (AUTH: the user, "-" when none was
sent, "!" when a wrong one was).  A 401 carries a short text/plain body,
as most servers send one; under /bare401/ (e.g. /bare401/git/alice/X.git,
served from DIR/git/alice/X.git) the body comes without a Content-Type,
which libgit2 1.5 mishandles when it retries.  /redirect/HOST:PORT/REST
answers 302 to http://HOST:PORT/REST, for testing that clients do not
follow it.  /fault/ID/METHOD/N/WHAT/REST serves /REST, except that the
first N requests with that ID and METHOD (GET, POST or ANY) get WHAT
instead: an HTTP status (a short text/plain body) or "drop" (the
connection is closed without an answer).
With --tls it speaks https with that certificate.  The server exits when
its parent process does.
"""
import argparse
import base64
import os
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BACKEND = "/usr/lib/git-core/git-http-backend"


def read_body(handler):
    """A request's body, de-chunked (also used by hostile_server.py)."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
    n = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(n) if n else b""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gitops-test/1"

    def log_message(self, fmt, *args):
        pass

    def record(self, status, who):
        if self.server.logpath:
            with self.server.loglock, open(self.server.logpath, "a") as f:
                f.write("%s %s %d %s\n" % (self.command, self.path,
                                           status, who))

    def reply(self, status, headers, body, who):
        self.record(status, who)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        return read_body(self)

    def user(self):
        """The authenticated user, "-" for no credentials, "!" for bad."""
        values = self.headers.get_all("Authorization") or []
        if not values:
            return "-"
        for v in values:
            scheme, _, token = v.partition(" ")
            if scheme.lower() != "basic":
                continue
            try:
                name, _, key = base64.b64decode(token).decode().partition(":")
            except Exception:
                continue
            if self.server.users.get(name) == key:
                return name
        return "!"

    def fault(self):
        """The fault to inject for /fault/... (None: none), and the path
        to serve otherwise."""
        if not self.path.startswith("/fault/"):
            return None, self.path
        parts = self.path.split("/", 6)
        fid, method, n, what = parts[2], parts[3], int(parts[4]), parts[5]
        rest = "/" + parts[6]
        if method not in ("ANY", self.command):
            return None, rest
        with self.server.loglock:
            seen = self.server.faults.get(fid, 0)
            self.server.faults[fid] = seen + 1
        return (what if seen < n else None), rest

    def handle_any(self):
        body = self.read_body()
        what, target = self.fault()
        if what == "drop":
            self.record(0, "-")
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if what is not None:
            self.reply(int(what), [("Content-Type", "text/plain")],
                       b"injected fault\n", "-")
            return
        if self.path.startswith("/redirect/"):
            target = self.path[len("/redirect/"):]
            self.reply(302, [("Location", "http://" + target)], b"", "-")
            return
        path, _, query = target.partition("?")
        bare = path.startswith("/bare401/")
        if bare:
            path = path[len("/bare401"):]
        who = self.user()
        if who in ("-", "!"):
            headers = [("WWW-Authenticate", 'Basic realm="git"')]
            if not bare:
                headers.append(("Content-Type", "text/plain"))
            self.reply(401, headers, b"authentication required\n", who)
            return
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.server.root,
            "GIT_PROJECT_ROOT": self.server.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REMOTE_USER": who,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
        }
        if self.headers.get("Git-Protocol"):
            env["HTTP_GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        proc = subprocess.run([BACKEND], input=body, env=env,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = proc.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.reply(status, headers, payload, who)

    do_GET = handle_any
    do_POST = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Clients that hang up early (a refused credential, a cancelled
        # operation) are part of the tests, not server failures.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def watch_parent(parent):
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user", action="append", default=[])
    ap.add_argument("--log")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = ap.parse_args()

    srv = Server(("127.0.0.1", args.port), Handler)
    srv.root = os.path.abspath(args.root)
    srv.users = dict(u.split(":", 1) for u in args.user)
    srv.logpath = args.log
    srv.faults = {}
    srv.loglock = threading.Lock()
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*args.tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=watch_parent, args=(os.getppid(),),
                     daemon=True).start()
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
