#!/usr/bin/env python3
"""A webhook receiver for the notification tests: Python standard library only.

Every POST is recorded (path, headers, body, the status answered, when) in
memory, on GET /_received, and, with --record FILE, as one JSON line each.
Knobs, set in process (Receiver.set) or by POST /_knob {...}:
  fail: answer the next N POSTs with `status` (default 503), then 200
  status: the failing status
  retry_after: a Retry-After header on the failing answers ("2" or a date)
  delay_ms: wait this long before every answer (a slow receiver)

In process:  r = Receiver().start(); ...; r.stop(); r.start(port=r.port)
As a program: webhook_receiver.py [--port N] [--record FILE] prints its
port on its first line and serves until killed.
"""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, record=None):
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.received = []      # every POST, whatever was answered
        self.record = record
        self.knobs = {"fail": 0, "status": 503, "retry_after": None, "delay_ms": 0}
        self.server = None
        self.thread = None
        self.port = None

    # --- knobs and what came --------------------------------------------

    def set(self, **knobs):
        with self.lock:
            unknown = set(knobs) - set(self.knobs)
            if unknown:
                raise ValueError("unknown knobs %s" % sorted(unknown))
            self.knobs.update(knobs)

    def posts(self, path=None):
        with self.lock:
            return [r for r in self.received if path is None or r["path"] == path]

    def delivered(self, path=None):
        """The events answered 2xx, as parsed JSON bodies."""
        return [json.loads(r["body"]) for r in self.posts(path) if 200 <= r["status"] < 300]

    def wait(self, predicate, timeout=30, what="webhook condition"):
        """Waits until predicate(receiver) holds; every POST wakes it."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting for %s; received %r"
                                     % (what, self.posts()))
            with self.cond:
                self.cond.wait(min(left, 0.2))

    # --- the server -----------------------------------------------------

    def _answer(self):
        """(status, headers, delay) for the next POST, consuming a failure."""
        with self.lock:
            k = self.knobs
            delay = k["delay_ms"] / 1000.0
            if k["fail"] > 0:
                k["fail"] -= 1
                hdrs = {"Retry-After": str(k["retry_after"])} if k["retry_after"] else {}
                return k["status"], hdrs, delay
            return 200, {}, delay

    def _keep(self, rec):
        with self.cond:
            self.received.append(rec)
            if self.record:
                with open(self.record, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            self.cond.notify_all()

    def start(self, port=0):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/_received":
                    with receiver.lock:
                        body = json.dumps(receiver.received).encode()
                    self._send(200, body)
                else:
                    self._send(404)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                if self.path == "/_knob":
                    try:
                        receiver.set(**json.loads(body or b"{}"))
                    except (ValueError, TypeError) as e:
                        self._send(400, json.dumps({"error": str(e)}).encode())
                        return
                    self._send(204)
                    return
                status, hdrs, delay = receiver._answer()
                if delay:
                    time.sleep(delay)
                receiver._keep({"path": self.path, "headers": dict(self.headers.items()),
                                "body": body.decode("utf-8", "replace"), "status": status,
                                "time": time.time()})
                self._send(status, b"{}" if status < 300 else b'{"error":"scripted"}', hdrs)

        ThreadingHTTPServer.allow_reuse_address = True
        ThreadingHTTPServer.daemon_threads = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """Stops listening (connections are refused until start again)."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()
            self.server = None

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.port, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--record", help="append each POST as a JSON line here")
    args = ap.parse_args()
    r = Receiver(record=args.record).start(args.port)
    print(r.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        r.stop()


if __name__ == "__main__":
    sys.exit(main())
