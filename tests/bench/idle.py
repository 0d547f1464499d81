#!/usr/bin/env python3
"""make bench: the daemon's cost while idling.

100 routes, each polled every 5 s, against local fakeclusters. First one
`algopromoted --once` brings every destination up to date, then the
service runs for a measured window in which nothing changes: every poll
finds the same head. Reports the daemon's CPU (user + system, from
/proc/PID/stat) as a share of one core, its RSS, and the polls it made.
Goal: under 1% of a core. A benchmark, not a test: it prints figures
(and writes them as JSON with --json FILE) and never fails on them.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
import bench  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--routes", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = ap.parse_args()

    with harness.Env(build_seconds=0) as env:
        pairs = []
        for i in range(args.routes):
            name = "Algo%03d" % i
            harness.api(env.dev, harness.ALICE_KEY, "POST", "/v1/algorithms/alice",
                        {"name": name, "details": {"label": name},
                         "settings": harness.PY_SETTINGS})
            pairs.append({"name": "p%03d" % i, "source": "dev/alice/" + name,
                          "destination": "prod/acme/" + name, "poll_interval": "5s"})
        env.write_config(pairs, top={"log_level": "info", "workers": 4})
        t0 = time.monotonic()
        proc = env.once()
        if proc.returncode != 0:
            sys.stdout.write(proc.stderr[-3000:])
            raise SystemExit("bench: the initial --once failed")
        print("initial --once over %d routes: %.1f s" % (args.routes, time.monotonic() - t0))

        d = harness.Daemon(env).wait_ready()
        try:
            # Let the first round of polls (spread over a second) pass.
            harness.wait_for(lambda: all(r["live"]["last_poll"] for r in json.loads(
                env.ctl("--json", "status").stdout)["routes"]), 30, "the first polls")
            time.sleep(1.5)   # the first polls' status.json write (beat: 1 s)
            pid = d.proc.pid
            status = os.path.join(env.state, "status.json")
            ino0 = os.stat(status).st_ino	# every rewrite is a new file
            metrics0 = d.http("/metrics")[1]
            c0, w0 = cpu_seconds(pid), time.monotonic()
            time.sleep(args.seconds)   # the measured idle window
            c1, w1 = cpu_seconds(pid), time.monotonic()
            rss = rss_kib(pid)
            metrics1 = d.http("/metrics")[1]
            rewritten = os.stat(status).st_ino != ino0
        finally:
            rc = d.stop()

    def polls(text):
        return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                   if l.startswith("algopromoted_route_polls_total{"))

    n = polls(metrics1) - polls(metrics0)
    share = (c1 - c0) / (w1 - w0) * 100
    print("idle window: %.0f s, %d routes every 5 s: %d polls (%.1f/s)"
          % (w1 - w0, args.routes, n, n / (w1 - w0)))
    print("daemon CPU: %.2f s = %.2f%% of one core (goal < 1%%)" % (c1 - c0, share))
    print("daemon RSS: %.1f MiB" % (rss / 1024))
    print("status.json rewritten while idle: %s" % ("yes" if rewritten else "no"))
    print("daemon exit status: %d" % rc)
    notes = ["%d routes polled every 5 s against local fakeclusters (HTTP/1.1); "
             "window %.0f s; status.json rewritten while idle: %s; daemon exit status %d"
             % (args.routes, w1 - w0, "yes" if rewritten else "no", rc)]
    bench.write_part(args.json, "idle", [
        "algopromoted --once -f CONF  (%d routes brought up to date)" % args.routes,
        "algopromoted -f CONF  (%.0f s idle window, CPU from /proc/PID/stat)" % args.seconds],
        [bench.row("daemon CPU while idle", "% of one core", [share], 2),
         bench.row("daemon RSS while idle", "MiB", [rss / 1024]),
         bench.row("polls per second", "polls/s", [n / (w1 - w0)])],
        [bench.ratio("idle CPU, share of one core (%)", share, "< 1", share < 1)], notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
