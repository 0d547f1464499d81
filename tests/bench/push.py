#!/usr/bin/env python3
"""make bench, part push: large objects, algopromoted against the git CLI.

A source algorithm holding 50 MB of model files (10 random 5 MB files and
a few text files) on one git server. Each run, alternating A B A B:
  A  algopromoted --once promotes it into a new, empty destination with a
     new state_dir: its fetch and push times come from its own log lines
     ("fetch source: N ms", "push: N ms"), and the whole process is timed;
  B  the git CLI moves the same objects: `git clone --bare` of the source
     (the fetch), then, in that clone, a commit of the source's tree on
     top of a second empty destination's template commit (as ours is) and
     `git push` of it (the push).
Then the small cycle: a change of 5 text files of about 10 KB each,
promoted by algopromoted (its push from its log line).
MB/s count the repository's file bytes (10^6 bytes a MB). Figures, not a
test: exits 0 whatever they are, nonzero only when it could not run.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
from harness import git  # noqa: E402

STEP_RE = re.compile(r"route \S+: (fetch source|push): (\d+) ms")
MODEL_FILES, MODEL_SIZE = 10, 5 * 1000 * 1000
TEXT_FILES, TEXT_SIZE = 5, 10 * 1000
GOAL_PUSH = 1.5


class Servers:
    """The git server(s) the bench runs against: here two fakeclusters
    (source, destination) that run `git http-backend` per request. The
    only place that knows; swap this class for another server."""

    def __init__(self):
        self.env = harness.Env(build_seconds=0)
        self.dir = self.env.dir

    def close(self):
        self.env.close()

    def describe(self):
        return "fakecluster (Python, git http-backend per request) on loopback"

    def create_source(self, algo):
        return self.env.create_source(algo)

    def create_destination(self, algo):
        harness.api(self.env.prod, harness.CAROL_KEY, "POST", "/v1/algorithms/acme",
                    {"name": algo, "details": {"label": algo},
                     "settings": harness.PY_SETTINGS})

    def source_url(self, algo):
        return self.env.dev.git_url(harness.ALICE, algo, harness.ALICE, harness.ALICE_KEY)

    def destination_url(self, algo):
        return self.env.prod.git_url("acme", algo, harness.CAROL, harness.CAROL_KEY)

    def once(self, state, pair, source, destination):
        """algopromoted --once of one pair with its own state_dir."""
        self.env.state = state
        self.env.write_config([{"name": pair, "source": "dev/alice/" + source,
                                "destination": "prod/acme/" + destination}],
                              top={"log_level": "info"})
        return self.env.run("--once", timeout=600)


def start_servers():
    """The one place that picks the git server the bench runs against."""
    return Servers()


def populate(srv, algo):
    """The 50 MB repository: random (incompressible) model files and a few
    text files; returns the bytes of file content."""
    work = srv.create_source(algo)
    total = 0
    os.makedirs(os.path.join(work, "model"), exist_ok=True)
    for i in range(MODEL_FILES):
        with open(os.path.join(work, "model", "weights%02d.bin" % i), "wb") as f:
            f.write(os.urandom(MODEL_SIZE))
        total += MODEL_SIZE
    os.makedirs(os.path.join(work, "src"), exist_ok=True)
    line = "y" * 63 + "\n"
    for i in range(TEXT_FILES):
        with open(os.path.join(work, "src", "t%d.txt" % i), "w") as f:
            f.write("text %d\n" % i + line * (TEXT_SIZE // 64))
        total += os.path.getsize(os.path.join(work, "src", "t%d.txt" % i))
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "models", cwd=work)
    git("push", "-q", "origin", "HEAD:master", cwd=work)
    return work, total


def change_text(work, n):
    for i in range(TEXT_FILES):
        with open(os.path.join(work, "src", "t%d.txt" % i), "a") as f:
            f.write("change %d\n" % n)
    git("commit", "-q", "-am", "change %d" % n, cwd=work)
    git("push", "-q", "origin", "HEAD:master", cwd=work)


def timed(args, cwd=None):
    t0 = time.monotonic()
    proc = subprocess.run(args, cwd=cwd, env=harness.env_with(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(args[:3]), proc.stderr[-2000:]))
    return took


def steps_of(log):
    steps = {}
    for step, ms in STEP_RE.findall(log):
        steps[step] = int(ms) / 1000.0
    return steps


def ours(srv, source, n):
    """A: the first promotion into a new empty destination; seconds."""
    state = os.path.join(srv.dir, "state-%d" % n)
    t0 = time.monotonic()
    proc = srv.once(state, "big%d" % n, source, "BigOurs%d" % n)
    whole = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError("algopromoted --once failed: " + proc.stderr[-2000:])
    steps = steps_of(proc.stderr)
    if "push" not in steps or "fetch source" not in steps:
        raise RuntimeError("no fetch/push log lines: " + proc.stderr[-2000:])
    shutil.rmtree(state, ignore_errors=True)
    return steps["fetch source"], steps["push"], whole


def theirs(srv, source, n):
    """B: git clone --bare, then a commit of the source tree on the
    destination's template commit, pushed; seconds."""
    bare = os.path.join(srv.dir, "bare-%d" % n)
    dest = "BigGit%d" % n
    srv.create_destination(dest)
    fetch = timed(["git", "clone", "-q", "--bare", srv.source_url(source), bare])
    git("fetch", "-q", srv.destination_url(dest), "master:refs/dst/master", cwd=bare)
    commit = git("commit-tree", "-p", "refs/dst/master", "-m", "promote",
                 "refs/heads/master^{tree}", cwd=bare)
    push = timed(["git", "push", "-q", srv.destination_url(dest), commit + ":refs/heads/master"],
                 cwd=bare)
    shutil.rmtree(bare, ignore_errors=True)
    return fetch, push


def row(what, unit, values):
    return {"what": what, "unit": unit, "median": round(statistics.median(values), 3),
            "min": round(min(values), 3), "max": round(max(values), 3), "n": len(values)}


def ratio(what, a, b, goal=None):
    value = statistics.median(a) / statistics.median(b)
    met = None if goal is None else value <= goal
    return {"what": what, "value": round(value, 2),
            "goal": None if goal is None else "<= %.1fx" % goal, "met": met}


def small_cycle(srv, work, source, rounds):
    """The 5-file change of ~10 KB files: push ms of algopromoted, with a
    kept state_dir (the steady state)."""
    state = os.path.join(srv.dir, "state-small")
    srv.create_destination("BigSmall")
    proc = srv.once(state, "small", source, "BigSmall")
    if proc.returncode != 0:
        raise RuntimeError("algopromoted --once failed: " + proc.stderr[-2000:])
    pushes, fetches = [], []
    for n in range(rounds):
        change_text(work, n)
        proc = srv.once(state, "small", source, "BigSmall")
        if proc.returncode != 0:
            raise RuntimeError("algopromoted --once failed: " + proc.stderr[-2000:])
        steps = steps_of(proc.stderr)
        pushes.append(steps["push"] * 1000)
        fetches.append(steps["fetch source"] * 1000)
    return fetches, pushes


def report(result):
    print("push bench (%s)" % "; ".join(result["notes"][:1]))
    for r in result["rows"]:
        print("  %-52s %9.3f %-5s (min %.3f, max %.3f, n=%d)"
              % (r["what"], r["median"], r["unit"], r["min"], r["max"], r["n"]))
    for r in result["ratios"]:
        goal = "" if r["goal"] is None else "  goal %s: %s" % (
            r["goal"], "met" if r["met"] else "NOT met")
        print("  %-52s %9.2fx%s" % (r["what"], r["value"], goal))
    for n in result["notes"][1:]:
        print("  note: " + n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one run of each, 3 small cycles")
    ap.add_argument("--runs", type=int, default=3, help="A B pairs (default 3)")
    ap.add_argument("--json", metavar="FILE", help="write the result as JSON")
    args = ap.parse_args()
    runs = 1 if args.quick else max(1, args.runs)
    small_rounds = 3 if args.quick else 5

    srv = start_servers()
    try:
        source = "Big"
        work, size = populate(srv, source)
        mb = size / 1e6
        o_fetch, o_push, o_whole, g_fetch, g_push = [], [], [], [], []
        for n in range(runs):
            f, p, w = ours(srv, source, n)
            o_fetch.append(f)
            o_push.append(p)
            o_whole.append(w)
            f, p = theirs(srv, source, n)
            g_fetch.append(f)
            g_push.append(p)
        s_fetch, s_push = small_cycle(srv, work, source, small_rounds)
        notes = [srv.describe(),
                 "repository: %d random files of %d bytes and %d text files, %.1f MB"
                 % (MODEL_FILES, MODEL_SIZE, TEXT_FILES, mb),
                 "algopromoted's fetch and push from its log lines; git CLI timed as processes",
                 "MB/s = repository file bytes / seconds",
                 "the mirror's pack settings (gitops_mirror.c): no delta search above 1 MiB, "
                 "pack.windowMemory 1 MiB; zlib re-compression is what is left of our push",
                 "the fetch waits mostly on the server: upload-pack delta-searches and "
                 "compresses the source's loose objects for either client"]
    finally:
        srv.close()

    def mbps(values):
        return [mb / v for v in values]

    result = {
        "part": "push",
        "commands": [
            "algopromoted --once -f CONFIG (new state_dir, new empty destination)",
            "git clone --bare SOURCE_URL BARE",
            "git -C BARE commit-tree -p DST_TEMPLATE -m promote master^{tree}",
            "git -C BARE push DEST_URL COMMIT:refs/heads/master",
        ],
        "rows": [
            row("push 50 MB, algopromoted (log)", "s", o_push),
            row("push 50 MB, git push", "s", g_push),
            row("push 50 MB, algopromoted", "MB/s", mbps(o_push)),
            row("push 50 MB, git push", "MB/s", mbps(g_push)),
            row("fetch 50 MB, algopromoted (log)", "s", o_fetch),
            row("fetch 50 MB, git clone --bare", "s", g_fetch),
            row("fetch 50 MB, algopromoted", "MB/s", mbps(o_fetch)),
            row("fetch 50 MB, git clone --bare", "MB/s", mbps(g_fetch)),
            row("first promotion, algopromoted --once whole process", "s", o_whole),
            row("5-file change (~10 KB files), algopromoted fetch source", "ms", s_fetch),
            row("5-file change (~10 KB files), algopromoted push", "ms", s_push),
        ],
        "ratios": [
            ratio("push 50 MB: algopromoted / git push", o_push, g_push, GOAL_PUSH),
            ratio("fetch 50 MB: algopromoted / git clone --bare", o_fetch, g_fetch),
        ],
        "notes": notes,
    }
    report(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, AssertionError, OSError, subprocess.SubprocessError) as e:
        sys.stderr.write("push bench: could not run: %s\n" % e)
        sys.exit(2)
