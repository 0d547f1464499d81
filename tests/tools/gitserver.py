#!/usr/bin/env python3
"""gitserver.py: a real git smart-HTTP server on loopback, for tests and the bench.

Debian's nginx (nginx-light) in front of fcgiwrap running
/usr/lib/git-core/git-http-backend, with HTTP basic auth from an htpasswd
file (nginx sets REMOTE_USER, so push is enabled), on two ports of
127.0.0.1: plain HTTP/1.1, and TLS with HTTP/2 (ALPN) under a throwaway CA
made with openssl. Everything it writes (configuration, certificates, pid,
temp paths, logs, the fcgiwrap socket) lives in one temp directory;
repositories are served from GIT_PROJECT_ROOT = the given root, which
whoever serves the API may share. Runs as any user: nginx gets its own
prefix and runs in the foreground (daemon off).

As a module:
    srv = GitServer(root, {"alice": "KEY"}).start()   # or `with GitServer(...)`
    srv.http_url        "http://localhost:PORT"  (HTTP/1.1)
    srv.https_url       "https://localhost:PORT" (TLS, HTTP/2 by ALPN)
    srv.ca_file         the CA that signed the server's certificate
    srv.mark()          a position in the access log
    srv.requests(mark)  the access-log entries since mark, as dicts
    srv.stop()
    missing()           why no server can run here (None when it can)

As a command: gitserver.py --root DIR --user NAME:PASSWORD [...] prints
one JSON line (urls, ca_file, access_log) and serves until SIGTERM or
SIGINT.

Nothing is left running: nginx and fcgiwrap each lead a process group
(with their workers and CGIs) that stop() kills; each also gets SIGTERM when the process that started it
dies (PR_SET_PDEATHSIG), so a test killed with SIGKILL leaves nothing.
"""
import argparse
import base64
import ctypes
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

NGINX = "/usr/sbin/nginx"
FCGIWRAP = "/usr/sbin/fcgiwrap"
BACKEND = "/usr/lib/git-core/git-http-backend"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

# One access-log line per request; fields separated by a tab.
LOG_FIELDS = ("msec", "connection", "connection_requests", "server_protocol",
              "request_method", "request_uri", "status", "request_length",
              "bytes_sent", "remote_user", "request_time", "http_user_agent")

CONF = """\
worker_processes {workers};
{user}pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format bench '{log_format}';
    access_log {dir}/access.log bench;
    client_body_temp_path {dir}/tmp/body;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    proxy_temp_path {dir}/tmp/proxy;
    scgi_temp_path {dir}/tmp/scgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    client_max_body_size 0;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    http2_max_concurrent_streams 256;
    server {{
        listen 127.0.0.1:{http_port};
        listen 127.0.0.1:{https_port} ssl http2;
        server_name localhost;
        ssl_certificate {dir}/server.pem;
        ssl_certificate_key {dir}/server.key;
        location ~ ^/git(/.*)$ {{
            auth_basic "git";
            auth_basic_user_file {dir}/htpasswd;
            fastcgi_pass unix:{dir}/fcgiwrap.sock;
            fastcgi_buffering off;
            fastcgi_request_buffering off;
            fastcgi_read_timeout 600s;
            fastcgi_param SCRIPT_FILENAME {backend};
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;
            fastcgi_param SERVER_PROTOCOL $server_protocol;
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param QUERY_STRING $query_string;
            fastcgi_param CONTENT_TYPE $content_type;
            fastcgi_param CONTENT_LENGTH $content_length if_not_empty;
            fastcgi_param PATH_INFO $1;
            fastcgi_param REMOTE_USER $remote_user;
            fastcgi_param REMOTE_ADDR $remote_addr;
            fastcgi_param GIT_PROJECT_ROOT {root};
            fastcgi_param GIT_HTTP_EXPORT_ALL 1;
            fastcgi_param GIT_CONFIG_NOSYSTEM 1;
            fastcgi_param GIT_CONFIG_GLOBAL /dev/null;
            fastcgi_param HOME {dir};
            fastcgi_param PATH /usr/bin:/bin;
        }}
    }}
}}
"""


def missing():
    """None when nginx, fcgiwrap, git-http-backend and openssl are here;
    else the reason no server can run."""
    for path, what in ((NGINX, "nginx (nginx-light)"), (FCGIWRAP, "fcgiwrap"),
                       (BACKEND, "git-http-backend (git)"), (OPENSSL, "openssl")):
        if not os.access(path, os.X_OK):
            return "%s not installed (%s); `sh packaging/deps.sh gitserver` installs it" % (
                what, path)
    return None


def _pdeathsig():
    """preexec_fn: SIGTERM to the child when its parent dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)   # PR_SET_PDEATHSIG
    except OSError:
        pass


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args, cwd):
    proc = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(args[:3]),
                                              proc.stderr.decode(errors="replace")[-1000:]))


def make_certs(directory, days=2):
    """A throwaway CA (ca.pem) and a server certificate for localhost and
    127.0.0.1 signed by it (server.pem, server.key) in directory."""
    _run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key",
          "-out", "ca.pem", "-days", str(days), "-subj", "/CN=gitserver test CA",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"], directory)
    _run([OPENSSL, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key",
          "-out", "server.csr", "-subj", "/CN=localhost"], directory)
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _run([OPENSSL, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
          "-CAcreateserial", "-out", "server.pem", "-days", str(days),
          "-extfile", "server.ext"], directory)


def htpasswd_line(user, password):
    """nginx's {SHA} scheme: the file never holds the password itself."""
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    return "%s:{SHA}%s\n" % (user, digest)


def parse_log_line(line):
    parts = line.rstrip("\n").split("\t")
    if len(parts) != len(LOG_FIELDS):
        return None
    e = dict(zip(LOG_FIELDS, parts))
    for k in ("connection", "connection_requests", "status", "request_length", "bytes_sent"):
        e[k] = int(e[k])
    e["msec"] = float(e["msec"])
    e["request_time"] = float(e["request_time"])
    return e


class GitServer:
    """nginx + fcgiwrap + git-http-backend over root, users {name: password}."""

    def __init__(self, root, users, workers=1, cgi_children=4, directory=None):
        self.root = os.path.abspath(root)
        self.users = dict(users)
        self.workers = workers
        self.cgi_children = cgi_children
        self.given_dir = directory
        self.dir = None
        self.procs = []
        self.http_port = self.https_port = None

    # -- life

    def start(self, timeout=20):
        why = missing()
        if why:
            raise RuntimeError(why)
        self.dir = self.given_dir or tempfile.mkdtemp(prefix="gitserver.")
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout):
        make_certs(self.dir)
        with open(os.path.join(self.dir, "htpasswd"), "w") as f:
            for user, password in self.users.items():
                f.write(htpasswd_line(user, password))
        sock = os.path.join(self.dir, "fcgiwrap.sock")
        fcgi = subprocess.Popen([FCGIWRAP, "-c", str(self.cgi_children), "-s", "unix:" + sock],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(self.dir, "fcgiwrap.log"), "ab"),
                                start_new_session=True, preexec_fn=_pdeathsig,
                                env={"PATH": "/usr/bin:/bin"})
        self.procs.append(fcgi)
        user = ""
        if os.geteuid() == 0:   # nginx would switch its workers to nobody
            user = "user root root;\n"
        for attempt in range(5):
            self.http_port, self.https_port = _free_port(), _free_port()
            conf = CONF.format(workers=self.workers, user=user, dir=self.dir, root=self.root,
                               backend=BACKEND, http_port=self.http_port,
                               https_port=self.https_port,
                               log_format="\\t".join("$" + f for f in LOG_FIELDS))
            path = os.path.join(self.dir, "nginx.conf")
            with open(path, "w") as f:
                f.write(conf)
            nginx = subprocess.Popen([NGINX, "-p", self.dir, "-c", path, "-e",
                                      os.path.join(self.dir, "error.log"),
                                      "-g", "daemon off;"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "nginx.stderr"), "ab"),
                                     start_new_session=True, preexec_fn=_pdeathsig)
            if self._await_listening(nginx, timeout):
                self.procs.append(nginx)
                break
            nginx.wait()
        else:
            raise RuntimeError("nginx did not start: %s" % self.error_log()[-2000:])
        deadline = time.monotonic() + timeout
        while not os.path.exists(sock):
            if fcgi.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fcgiwrap did not start")
            time.sleep(0.01)

    def _await_listening(self, nginx, timeout):
        """True once both ports accept; False when nginx exited (a port taken)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if nginx.poll() is not None:
                return False
            ok = True
            for port in (self.http_port, self.https_port):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                except OSError:
                    ok = False
            if ok:
                return True
            time.sleep(0.02)
        nginx.kill()
        return False

    def stop(self):
        """Stops nginx and fcgiwrap (and any CGI they run); removes the temp
        directory unless it was given."""
        if self.procs:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                for p in self.procs:
                    try:
                        os.killpg(p.pid, sig)
                    except ProcessLookupError:
                        pass
                deadline = time.monotonic() + wait
                while time.monotonic() < deadline and any(p.poll() is None for p in self.procs):
                    time.sleep(0.02)
                if all(p.poll() is not None for p in self.procs):
                    break
            for p in self.procs:
                p.wait()
            self.procs = []
        if self.dir and not self.given_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- what clients need

    @property
    def http_url(self):
        return "http://localhost:%d" % self.http_port

    @property
    def https_url(self):
        return "https://localhost:%d" % self.https_port

    @property
    def ca_file(self):
        return os.path.join(self.dir, "ca.pem")

    @property
    def access_log(self):
        return os.path.join(self.dir, "access.log")

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- the access log

    def mark(self):
        """The access log's current end: pass it to requests()."""
        try:
            return os.path.getsize(self.access_log)
        except FileNotFoundError:
            return 0

    def requests(self, since=0):
        """Access-log entries after the mark since: dicts of LOG_FIELDS with
        connection, connection_requests, status, request_length (request
        line, headers and body) and bytes_sent (status line, headers and
        body) as ints. nginx writes a line when the request ends."""
        try:
            with open(self.access_log, "rb") as f:
                f.seek(since)
                text = f.read().decode(errors="replace")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            e = parse_log_line(line)
            if e is not None:
                out.append(e)
        return out


def wire_totals(entries):
    """(requests, bytes client->server, bytes server->client) of entries."""
    return (len(entries), sum(e["request_length"] for e in entries),
            sum(e["bytes_sent"] for e in entries))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Serve git repositories over smart HTTP "
                                 "(nginx + fcgiwrap + git-http-backend) on loopback.")
    ap.add_argument("--root", required=True, help="GIT_PROJECT_ROOT: the repositories")
    ap.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD",
                    help="a basic-auth user (repeatable)")
    ap.add_argument("--dir", help="keep configuration and logs here (default: a temp dir, "
                    "removed at exit)")
    ap.add_argument("--cgi-children", type=int, default=4)
    args = ap.parse_args(argv)
    why = missing()
    if why:
        sys.stderr.write("gitserver: %s\n" % why)
        return 2
    users = {}
    for spec in args.user:
        name, sep, password = spec.partition(":")
        if not sep or not name:
            ap.error("--user takes NAME:PASSWORD")
        users[name] = password
    if args.dir:
        os.makedirs(args.dir, exist_ok=True)
    srv = GitServer(args.root, users, cgi_children=args.cgi_children, directory=args.dir)
    stop = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.append(1))
    srv.start()
    try:
        print(json.dumps({"http_url": srv.http_url, "https_url": srv.https_url,
                          "ca_file": srv.ca_file, "access_log": srv.access_log,
                          "dir": srv.dir}), flush=True)
        while not stop:
            signal.pause()
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
