"""hostile_server.py: a scripted HTTP server in front of a fakecluster.

For answers the fakecluster's /_fault knob cannot give: a Content-Length
the body never reaches, more bytes than a client's cap, a gzip bomb, a
git ref advertisement with the right content type and broken pkt-lines,
an upload-pack answer carrying a crafted pack. Every request not matched
by a rule is passed to the upstream cluster as it came (its answer sent
back with a Content-Length). Runs in a thread of the test:

    with HostileServer(upstream_port) as h:
        h.add("GET", r"/info/refs", h.raw(200, body, ctype=...))
        ... point a cluster's api: or git: at h.url ...
        h.hits                  # requests answered by a rule
"""
import http.client
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gitops_http_server import read_body

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
       "proxy-connection", "te", "trailer", "upgrade"}


class Rule:
    def __init__(self, method, path, answer, count):
        self.method, self.path, self.answer, self.count = method, re.compile(path), answer, count


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        body = read_body(self)
        rule = self.server.owner.take(self.command, self.path)
        if rule is None:
            self.forward(body)
            return
        self.server.owner.record(self.command, self.path)
        self.close_connection = True
        try:
            rule.answer(self, body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        # Closing at once could turn a fully sent answer into a reset.
        try:
            self.connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    do_POST = do_PUT = do_DELETE = do_GET


    def forward(self, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.owner.upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            headers["Host"] = "127.0.0.1:%d" % self.server.owner.upstream
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError:
            self.close_connection = True
            return
        finally:
            conn.close()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class HostileServer:
    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.rules = []
        self.hits = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, method, path, answer, count=-1):
        """answer(handler, request_body) writes the whole answer to
        handler.wfile; count -1: every matching request."""
        with self.lock:
            self.rules.append(Rule(method, path, answer, count))

    def clear(self):
        with self.lock:
            self.rules = []
            self.hits = []

    def take(self, method, path):
        with self.lock:
            for rule in self.rules:
                if rule.method in ("*", method) and rule.path.search(path):
                    if rule.count > 0:
                        rule.count -= 1
                        if rule.count == 0:
                            self.rules.remove(rule)
                    return rule
        return None

    def record(self, method, path):
        with self.lock:
            self.hits.append((method, path))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- answers ---------------------------------------------------------

    @staticmethod
    def raw(status, body=b"", ctype="application/json", headers=(), length=None,
            chunks=None):
        """An answer: status, Content-Type ctype (None: none), more headers,
        Content-Length length (default len(body); -1: none, the body ends
        with the connection), then body, then each of chunks (an iterable
        of bytes, sent as they come)."""
        def answer(h, _body):
            lines = ["HTTP/1.1 %d X" % status]
            if ctype is not None:
                lines.append("Content-Type: " + ctype)
            lines += ["%s: %s" % kv for kv in headers]
            n = len(body) if length is None else length
            if n >= 0:
                lines.append("Content-Length: %d" % n)
            lines.append("Connection: close")
            h.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            for c in chunks or ():
                h.wfile.write(c)
        return answer


def pkt(data):
    """One pkt-line of data (bytes)."""
    return b"%04x" % (len(data) + 4) + data


def sideband(data, band=1):
    """data as side-band-64k pkt-lines of one band."""
    out = b""
    for i in range(0, len(data), 65515):
        out += pkt(bytes([band]) + data[i:i + 65515])
    return out
