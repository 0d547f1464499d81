#!/usr/bin/env python3
"""make bench, latency: how soon a change starts a promotion job.

One route, the service running (log_level debug). The job's start is the
daemon's log line `route PAIR->DEST: promotion job started` (written as
the job is handed to a worker), with its millisecond wall-clock stamp.
Alternating A B A B, each run promoting a new source change:
  A  `algopromotectl trigger hello` right after a push, with the route's
     poll_interval at 1h: from just before the command to the job's start
     (goal: median <= 100 ms);
  B  a push with poll_interval 5s and no trigger: from the push's end to
     the job's start (the poll's phase is random: expect about half the
     interval, at most the interval plus its 10% jitter).
Git is nginx's over HTTP/1.1 (tests/tools/gitserver.py; the
fakecluster's when nginx is missing); builds take no time. A benchmark: it prints
figures (JSON with --json FILE), never fails on them.
"""
import argparse
import json
import os
import re
import sys
import time
from datetime import datetime

BENCH = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(TESTS, "integration"))
sys.path.insert(0, os.path.join(TESTS, "tools"))
import harness  # noqa: E402
import gitserver  # noqa: E402
import bench  # noqa: E402
from harness import ALICE, ALICE_KEY, CAROL, CAROL_KEY  # noqa: E402
from test_realgit import NoticeEnv, use_git_servers  # noqa: E402

PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello"}
STARTED_RE = re.compile(r"^(\S+Z) debug: route hello->prod/acme/Hello: promotion job started",
                        re.M)


TRIGGERED_RE = re.compile(r"^(\S+Z) info: route hello->prod/acme/Hello: poll triggered", re.M)


def stamp(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def starts(d, pattern=STARTED_RE):
    return [stamp(m) for m in pattern.findall(d.log_text())]


def one(env, d, n, trigger):
    """Pushes a change; returns ms from the push's end (or the trigger) to
    the job's start, and with a trigger ms from the daemon's `poll
    triggered` line to the job's start; once that promotion has finished."""
    t_push = time.time()
    env.commit(files={"src/Hello.py": "change %d\n" % n})
    t0 = time.time()
    if trigger:
        proc = env.ctl("trigger", "hello")
        if proc.returncode != 0:
            raise SystemExit("trigger failed: " + proc.stderr)
    # Clocks: the log's stamps and time.time() are the same wall clock;
    # the stamps have millisecond resolution.
    harness.wait_for(lambda: [s for s in starts(d) if s >= t_push - 0.001], 30,
                     "the job's start")
    job = min(s for s in starts(d) if s >= t_push - 0.001)
    took = (job - t0) * 1000
    inside = None
    if trigger:
        got = [s for s in starts(d, TRIGGERED_RE) if s >= t_push - 0.001]
        inside = (job - min(got)) * 1000 if got else None
    harness.wait_for(lambda: len(env.version_map("hello")) >= n and
                     env.route_phase("hello") == "idle", 60, "promotion %d" % n)
    return took, inside


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10, help="A B pairs (default 10)")
    ap.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = ap.parse_args()
    env = NoticeEnv(build_seconds=0)
    res = {"trigger": [], "poll": [], "inside": []}
    servers = {}
    where = "fakecluster git"
    try:
        env.create_source()
        if gitserver.missing() is None:
            servers["dev"] = gitserver.GitServer(env.dev.repos_path,
                                                 {ALICE: ALICE_KEY}).start()
            servers["prod"] = gitserver.GitServer(env.prod.repos_path,
                                                  {CAROL: CAROL_KEY}).start()
            where = "nginx git over HTTP/1.1"
        configs = {}
        for kind, interval in (("trigger", "1h"), ("poll", "5s")):
            env.write_config([dict(PAIR, poll_interval=interval)], top={"log_level": "debug"})
            if servers:
                use_git_servers(env, servers, False)
            configs[kind] = open(env.config).read()
        # The first promotion of all, not measured.
        env.commit(files={"src/Hello.py": "first\n"})
        proc = env.once()
        if proc.returncode != 0:
            raise SystemExit("latency: the first --once failed:\n" + proc.stderr[-3000:])
        n = 1
        for i in range(args.runs):
            for kind in ("trigger", "poll"):
                with open(env.config, "w") as f:
                    f.write(configs[kind])
                d = harness.Daemon(env).wait_ready()
                try:
                    # Past the start-up poll, so that only the trigger (or
                    # the next scheduled poll) can see the change.
                    harness.wait_for(lambda: all(r["live"]["last_poll"] for r in json.loads(
                        env.ctl("--json", "status").stdout)["routes"]), 30, "the first poll")
                    n += 1
                    took, inside = one(env, d, n, kind == "trigger")
                    res[kind].append(took)
                    if inside is not None:
                        res["inside"].append(inside)
                finally:
                    d.stop()
            print("run %d: trigger -> job start %.0f ms, push -> job start (5 s polls) %.0f ms"
                  % (i + 1, res["trigger"][-1], res["poll"][-1]), flush=True)
    finally:
        for srv in servers.values():
            srv.stop()
        env.close()
    med = bench.row("", "", res["trigger"])["median"]
    bench.write_part(args.json, "latency", [
        "git push; algopromotectl trigger hello  (poll_interval 1h)",
        "git push  (poll_interval 5s)"],
        [bench.row("algopromotectl trigger -> job start", "ms", res["trigger"]),
         bench.row("daemon's `poll triggered` line -> job start", "ms", res["inside"]),
         bench.row("push -> job start, 5 s poll interval", "ms", res["poll"])],
        [bench.ratio("trigger -> job start, median ms", med, "<= 100", med <= 100)],
        ["job start = the daemon's debug line `promotion job started` (ms stamps); "
         "the trigger figure includes algopromotectl's own start-up and the poll it asks "
         "for; one route, %s" % where])
    print("trigger -> job start: median %.0f ms (goal <= 100 ms)" % med)
    return 0


if __name__ == "__main__":
    sys.exit(main())
