#!/usr/bin/env python3
"""make bench, polling: what a poll costs, ours against `git ls-remote`.

R source algorithms (default 100), one route each, polled every 5 s by
the service against a real git server (nginx + fcgiwrap +
git-http-backend, tests/tools/gitserver.py) over HTTP/1.1 and over TLS
with HTTP/2. A first `algopromoted --once` brings every destination up
to date, so that the service only polls. Then, alternating A B A B:
  A  a window in which the daemon's CPU (user + system, /proc/PID/stat)
     and its polls (the /metrics counter) are counted;
  B  a loop of `git ls-remote URL refs/heads/master` over the same
     repositories, its CPU from the children's rusage.
Reports CPU per 1,000 polls of each (goal: ours <= 1/50 of git's), and
from the nginx access log the requests and bytes per poll of each.
A benchmark: it prints figures (JSON with --json FILE), never fails on them.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from urllib.parse import quote

BENCH = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(TESTS, "integration"))
sys.path.insert(0, os.path.join(TESTS, "tools"))
import harness  # noqa: E402
import gitserver  # noqa: E402
import bench  # noqa: E402
from harness import ALICE, ALICE_KEY, CAROL, CAROL_KEY  # noqa: E402
from test_realgit import NoticeEnv, use_git_servers  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def polls(d):
    text = d.http("/metrics")[1]
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("algopromoted_route_polls_total{"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--routes", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=30,
                    help="daemon window per transport, in 3 slices (default 30)")
    ap.add_argument("--lsremote", type=int, default=60,
                    help="git ls-remote runs per transport, in 3 slices (default 60)")
    ap.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = ap.parse_args()
    why = gitserver.missing()
    if why:
        bench.write_part(args.json, "polling", [], [], [], ["not run: %s" % why])
        print("polling: not run: %s" % why)
        return 0

    rows, ratios, notes = [], [], []
    env = NoticeEnv(build_seconds=0)
    servers = {}
    try:
        pairs = []
        t0 = time.monotonic()
        for i in range(args.routes):
            name = "Poll%03d" % i
            harness.api(env.dev, ALICE_KEY, "POST", "/v1/algorithms/alice",
                        {"name": name, "details": {"label": name},
                         "settings": harness.PY_SETTINGS})
            pairs.append({"name": "p%03d" % i, "source": "dev/alice/" + name,
                          "destination": "prod/acme/" + name, "poll_interval": "5s"})
        servers["dev"] = gitserver.GitServer(env.dev.repos_path, {ALICE: ALICE_KEY}).start()
        servers["prod"] = gitserver.GitServer(env.prod.repos_path, {CAROL: CAROL_KEY}).start()
        env.write_config(pairs, top={"log_level": "info", "workers": 2})
        plain = open(env.config).read()
        use_git_servers(env, servers, False)
        proc = env.once()
        if proc.returncode != 0:
            raise SystemExit("poll: the initial --once failed:\n" + proc.stderr[-3000:])
        print("set-up: %d routes brought up to date in %.0f s"
              % (args.routes, time.monotonic() - t0), flush=True)
        dev = servers["dev"]
        for variant, tls in (("HTTP/1.1", False), ("TLS, HTTP/2", True)):
            with open(env.config, "w") as f:
                f.write(plain)
            use_git_servers(env, servers, tls)
            base = dev.https_url if tls else dev.http_url
            urls = [base.replace("://", "://%s:%s@" % (ALICE, quote(ALICE_KEY, safe="")))
                    + "/git/alice/Poll%03d.git" % i for i in range(args.routes)]
            genv = harness.env_with({"GIT_SSL_CAINFO": dev.ca_file})
            d = harness.Daemon(env).wait_ready()
            try:
                harness.wait_for(lambda: all(r["live"]["last_poll"] for r in json.loads(
                    env.ctl("--json", "status").stdout)["routes"]), 60, "the first polls")
                git_entries = []
                git_cpu, git_runs = 0.0, 0
                k = 0
                # The daemon's CPU and polls are counted over the whole time,
                # A slices (it alone) and B slices (ls-remote beside it): a
                # poll costs it well under a clock tick.
                mark0 = dev.mark()
                p0, c0, w0 = polls(d), cpu_seconds(d.proc.pid), time.monotonic()
                for _ in range(3):
                    # A: the daemon alone.
                    time.sleep(args.seconds / 3)
                    # B: git ls-remote, the daemon polling on beside it.
                    mark = dev.mark()
                    g0 = children_cpu()
                    for _ in range(args.lsremote // 3):
                        subprocess.run(["git", "ls-remote", urls[k % len(urls)],
                                        "refs/heads/master"], env=genv, check=True,
                                       stdout=subprocess.DEVNULL)
                        k += 1
                        git_runs += 1
                    git_cpu += children_cpu() - g0
                    git_entries += [e for e in dev.requests(mark)
                                    if e["http_user_agent"].startswith("git/")]
                c1, p1, w1 = cpu_seconds(d.proc.pid), polls(d), time.monotonic()
                ours_cpu, ours_polls, window = c1 - c0, p1 - p0, w1 - w0
                ours_entries = [e for e in dev.requests(mark0)
                                if e["http_user_agent"].startswith("algopromoted/")]
                if ours_polls < args.routes:
                    print(d.log_text()[-3000:])
            finally:
                rc = d.stop()
            per_ours = ours_cpu / max(ours_polls, 1) * 1000
            per_git = git_cpu / max(git_runs, 1) * 1000
            nr, up, down = gitserver.wire_totals(ours_entries)
            gr, gup, gdown = gitserver.wire_totals(git_entries)
            protos = sorted({e["server_protocol"] for e in ours_entries})
            rows += [
                bench.row("%s: algopromoted CPU per 1,000 polls" % variant, "s", [per_ours], 3),
                bench.row("%s: git ls-remote CPU per 1,000 runs" % variant, "s", [per_git], 2),
                bench.row("%s: algopromoted polls per second (%d routes, 5 s)"
                          % (variant, args.routes), "polls/s",
                          [ours_polls / window]),
                bench.row("%s: algopromoted requests per poll" % variant, "requests",
                          [nr / max(ours_polls, 1)], 2),
                bench.row("%s: algopromoted bytes per poll client->server" % variant, "B",
                          [up / max(ours_polls, 1)], 0),
                bench.row("%s: algopromoted bytes per poll server->client" % variant, "B",
                          [down / max(ours_polls, 1)], 0),
                bench.row("%s: git ls-remote requests per run" % variant, "requests",
                          [gr / max(git_runs, 1)], 2),
                bench.row("%s: git ls-remote bytes per run client->server" % variant, "B",
                          [gup / max(git_runs, 1)], 0),
                bench.row("%s: git ls-remote bytes per run server->client" % variant, "B",
                          [gdown / max(git_runs, 1)], 0),
            ]
            r = per_ours / per_git if per_git else None
            ratios.append(bench.ratio("%s: CPU per poll, algopromoted / git ls-remote" % variant,
                                      r, "<= 0.02", None if r is None else r <= 0.02))
            notes.append("%s: %.0f polls in %.0f s (nginx saw %s), %d git ls-remote runs; "
                         "daemon exit status %d"
                         % (variant, ours_polls, window, "/".join(protos) or "none",
                            git_runs, rc))
            print("%s: ours %.3f s CPU per 1,000 polls, git ls-remote %.1f s per 1,000 runs"
                  % (variant, per_ours, per_git), flush=True)
    finally:
        for srv in servers.values():
            srv.stop()
        env.close()
    notes.append("%d routes (one source repository each) polled every 5 s; polls counted "
                 "from algopromoted_route_polls_total; ls-remote runs one process each "
                 "(protocol v2: 401, GET, POST)" % args.routes)
    bench.write_part(args.json, "polling", [
        "algopromoted -f CONF  (%d routes, poll_interval 5s, CPU from /proc/PID/stat)"
        % args.routes,
        "git ls-remote URL refs/heads/master  (a loop; CPU from RUSAGE_CHILDREN)"],
        rows, ratios, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
