#!/usr/bin/env python3
"""/metrics at scale: a route's series are counters and gauges, the
duration histograms are per cluster (per route only with metrics:
{per_route_histograms: true}); the body stays small; a slow reader gets
all of it, even when it takes longer than the daemon's timeout, and even
when a reload removes routes while it is being written.
"""
import os
import re
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
import harness  # noqa: E402
import promcheck  # noqa: E402
from harness import Daemon, EnvCase, wait_for  # noqa: E402

RATE = 100 * 1024           # bytes a second the slow reader takes
HTTPD_TIMEOUT = 10          # daemon/httpd.h HTTPD_TIMEOUT_SEC


def pairs(n, first=0):
    """n routes held by approval: manual, so that only polling runs."""
    return [{"name": "p%04d" % i, "source": "dev/alice/Hello",
             "destination": "prod/acme/Hello%04d" % i, "track": "versions",
             "approval": "manual", "poll_interval": "1h"} for i in range(first, first + n)]


class SlowScrape:
    """GET /metrics over a socket with a small receive buffer, read at
    about RATE bytes a second: the body (chunked or not) and how long it
    took. step(n) reads n more bytes of the answer; finish() the rest."""

    def __init__(self, port, rate=RATE):
        self.rate = rate
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        self.sock.settimeout(60)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Accept: text/plain\r\n\r\n")
        self.raw = bytearray()
        self.t0 = time.monotonic()
        self.eof = False

    def step(self, n):
        want = len(self.raw) + n
        while not self.eof and len(self.raw) < want:
            data = self.sock.recv(4096)
            if not data:
                self.eof = True
                break
            self.raw += data
            # Throttled: never ahead of RATE since the start.
            ahead = len(self.raw) / self.rate - (time.monotonic() - self.t0)
            if ahead > 0:
                time.sleep(ahead)

    def finish(self):
        while not self.eof:
            self.step(1 << 20)
        self.sock.close()
        self.elapsed = time.monotonic() - self.t0
        head, sep, body = bytes(self.raw).partition(b"\r\n\r\n")
        assert sep, "no end of headers in %r" % bytes(self.raw[:200])
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip()
                        for k, v in (line.split(":", 1) for line in lines[1:])}
        if self.headers.get("transfer-encoding") == "chunked":
            body = dechunk(body)
        elif "content-length" in self.headers:
            n = int(self.headers["content-length"])
            assert len(body) == n, "%d of %d bytes" % (len(body), n)
        return body.decode()


def dechunk(data):
    """The body of a chunked answer; AssertionError when it is cut (no
    last chunk)."""
    out, i = bytearray(), 0
    while True:
        j = data.find(b"\r\n", i)
        assert j >= 0, "cut in a chunk size after %d bytes" % len(out)
        size = int(data[i:j].split(b";")[0], 16)
        i = j + 2
        if size == 0:
            return bytes(out)
        assert len(data) >= i + size + 2, "cut in a chunk after %d bytes" % len(out)
        out += data[i:i + size]
        assert data[i + size:i + size + 2] == b"\r\n"
        i += size + 2


def route_labels(text, family):
    """{(pair, destination)} of a family's samples."""
    return set(re.findall(r'^%s\{pair="([^"]*)",destination="([^"]*)"' % family, text, re.M))


class Scale(EnvCase):

    def start(self, n, top=None):
        self.env.write_config(pairs(n), top=top)
        d = Daemon(self.env)
        self.daemons.append(d)
        d.wait_ready()
        return d

    def test_thousand_routes_slowly(self):
        """1,000 routes: every route's series, no histogram per route, a
        body of a few hundred bytes a route, read at 100 KB/s."""
        n = 1000
        d = self.start(n)
        s = SlowScrape(d.http_port())
        text = s.finish()
        self.assertEqual(s.status, 200)
        self.assertEqual(promcheck.check(text), [])
        m = promcheck.parse(text)
        self.assertEqual(m[("algopromoted_routes", frozenset())], n)
        want = {("p%04d" % i, "prod/acme/Hello%04d" % i) for i in range(n)}
        for family in ("algopromoted_route_polls_total", "algopromoted_route_phase"):
            self.assertEqual(route_labels(text, family), want, family)
        self.assertNotIn("algopromoted_route_poll_duration_seconds", text)
        self.assertIn('algopromoted_cluster_poll_duration_seconds_count{cluster="dev"}', text)
        per_route = len(text.encode()) / n
        print("\n%d routes: %d bytes, %.0f bytes a route, read in %.1f s"
              % (n, len(text.encode()), per_route, s.elapsed), file=sys.stderr)
        self.assertLess(per_route, 500)

    def test_slow_reader_longer_than_timeout_and_reload(self):
        """A body larger than the kernel's socket buffers hold (the per-route
        histograms on: 7.5 MB), read at 100 KB/s for longer than the
        daemon's timeout, then at full speed; a reload that removes half
        the routes meanwhile: the answer is whole and valid, the routes as
        they were when it began. (Before, the request's read timeout ended
        such an answer 10 s after it began.)"""
        n = 1000
        d = self.start(n, top={"metrics": {"per_route_histograms": True}})
        s = SlowScrape(d.http_port())
        s.step(RATE * 3)
        self.env.write_config(pairs(n // 2), top={"metrics": {"per_route_histograms": True}})
        d.signal(signal.SIGHUP)
        d.await_message("READY", "1")
        wait_for(lambda: "reloaded: %d routes" % (n // 2) in d.log_text(), 30, "the reload")
        s.step(RATE * (HTTPD_TIMEOUT + 5) - len(s.raw))
        self.assertFalse(s.eof)
        s.rate = 1 << 40
        text = s.finish()
        self.assertEqual(s.status, 200)
        self.assertGreater(s.elapsed, HTTPD_TIMEOUT + 2)
        self.assertEqual(promcheck.check(text), [])
        want = {("p%04d" % i, "prod/acme/Hello%04d" % i) for i in range(n)}
        for family in ("algopromoted_route_polls_total", "algopromoted_route_phase",
                       "algopromoted_route_poll_duration_seconds_count"):
            self.assertEqual(route_labels(text, family), want, family)
        self.assertTrue(text.endswith("\n"))
        self.assertIn("process_start_time_seconds", text)
        # And after it, the routes the reload kept.
        code, text = d.http("/metrics")
        self.assertEqual(code, 200)
        self.assertEqual(promcheck.check(text), [])
        self.assertEqual(len(route_labels(text, "algopromoted_route_polls_total")), n // 2)

    def test_reader_that_stops_is_dropped(self):
        """A reader that takes nothing more is dropped after the timeout,
        and the daemon answers others meanwhile."""
        n = 1000
        d = self.start(n, top={"metrics": {"per_route_histograms": True}})
        s = SlowScrape(d.http_port())
        s.step(20000)
        t0 = time.monotonic()
        self.assertEqual(d.http("/healthz")[0], 200)
        code, text = d.http("/metrics")
        self.assertEqual(code, 200)
        self.assertEqual(promcheck.check(text), [])
        # Stalled: the daemon closes it after HTTPD_TIMEOUT without progress.
        time.sleep(max(0, HTTPD_TIMEOUT + 3 - (time.monotonic() - t0)))
        s.sock.settimeout(10)
        got = b""
        try:
            while True:
                data = s.sock.recv(65536)
                if not data:
                    break
                got += data
        except ConnectionResetError:
            pass
        s.raw += got
        s.eof = True
        with self.assertRaises(AssertionError):
            s.finish()


class Histograms(EnvCase):
    """Durations per cluster: a poll is the source cluster's, a promotion
    and a build wait the destination cluster's; per route only when the
    configuration asks."""

    def metrics(self, d):
        code, text = d.http("/metrics")
        self.assertEqual(code, 200)
        self.assertEqual(promcheck.check(text), [])
        return text, promcheck.parse(text)

    def test_per_cluster_then_per_route(self):
        pair = {"name": "hello", "source": "dev/alice/Hello",
                "destination": "prod/acme/Hello"}
        route = {"pair": "hello", "destination": "prod/acme/Hello"}
        self.env.write_config([pair])
        self.env.commit(files={"src/Hello.py": "v1\n"})
        d = Daemon(self.env)
        self.daemons.append(d)
        d.wait_ready()

        def val(name, **labels):
            return self.metrics(d)[1].get((name, frozenset(labels.items())))
        wait_for(lambda: val("algopromoted_route_promotions_total", result="promoted",
                             **route) == 1, 60, "the promotion")
        text, m = self.metrics(d)

        def count(family, cluster):
            return m.get((family + "_count", frozenset({("cluster", cluster)})))
        self.assertEqual(count("algopromoted_cluster_promotion_duration_seconds", "prod"), 1)
        self.assertEqual(count("algopromoted_cluster_promotion_duration_seconds", "dev"), 0)
        self.assertEqual(count("algopromoted_cluster_build_wait_seconds", "prod"), 1)
        self.assertEqual(count("algopromoted_cluster_build_wait_seconds", "dev"), 0)
        polls = m[("algopromoted_route_polls_total", frozenset(route.items()))]
        self.assertGreaterEqual(polls, 1)
        self.assertGreaterEqual(count("algopromoted_cluster_poll_duration_seconds", "dev"),
                                polls)
        self.assertEqual(count("algopromoted_cluster_poll_duration_seconds", "prod"), 0)
        self.assertNotRegex(text, r"(?m)^algopromoted_route_\w+_bucket")
        self.assertNotIn("# TYPE algopromoted_route_promotion_duration_seconds", text)

        # Per route too, from the reload on.
        self.env.write_config([pair], top={"metrics": {"per_route_histograms": True}})
        d.signal(signal.SIGHUP)
        d.await_message("READY", "1")
        wait_for(lambda: ("algopromoted_route_promotion_duration_seconds_count",
                          frozenset(route.items())) in self.metrics(d)[1], 30, "per route")
        self.env.commit(files={"src/Hello.py": "v2\n"})
        self.assertEqual(self.env.ctl("trigger", "hello").returncode, 0)
        wait_for(lambda: val("algopromoted_route_promotions_total", result="promoted",
                             **route) == 2, 60, "the second promotion")
        _, m = self.metrics(d)
        self.assertEqual(m[("algopromoted_route_promotion_duration_seconds_count",
                            frozenset(route.items()))], 1)
        self.assertEqual(m[("algopromoted_route_build_wait_seconds_count",
                            frozenset(route.items()))], 1)
        self.assertEqual(m[("algopromoted_cluster_promotion_duration_seconds_count",
                            frozenset({("cluster", "prod")}))], 2)

        # And a bad metrics: key is refused where it is.
        self.env.write_config([pair], top={"metrics": {"per_route": True}})
        proc = self.env.run("-n")
        self.assertEqual(proc.returncode, 2)
        self.assertRegex(proc.stderr, r"algopromoted\.yaml:\d+:\d+: .*unknown key "
                                      r"\"?metrics\.per_route\"?")


if __name__ == "__main__":
    harness.main()
