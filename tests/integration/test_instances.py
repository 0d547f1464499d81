#!/usr/bin/env python3
"""Two instances, one truth: two `algopromoted` daemons with separate
state_dirs and the same configuration promote one route (dev -> prod)
while source commits arrive at random intervals and both daemons are
SIGKILLed and restarted at random moments. The destination is their only
lock: a push is a compare-and-set on its ref, a publish one on its commit.

At the end every published destination version comes from a distinct
source commit, none was published after a newer source commit's, the
newest source commit is published, and every line of either version map
is true of the destination.

The plan (commit times, kill times and targets, restart delays) comes from
random.Random(seed): AP_SOAK_SEED picks a run (default: a fresh seed,
printed), AP_SOAK_KILLS the number of kills (default 10; `make soak` 100).
"""
import heapq
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Env, Daemon, wait_for, git  # noqa: E402

PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello",
        "poll_interval": "5s"}
DEST = "prod/acme/Hello"
COMMITS = 20
TRAILER = re.compile(r"^Promoted-from: (\S+)@([0-9a-f]{40})$", re.M)


def soak_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


class Instance:
    """One of the two daemons: its own state_dir, control socket and
    config file (otherwise the same configuration), and its incarnations."""

    def __init__(self, env, name):
        self.env = env
        self.name = name
        self.state = os.path.join(env.state, name)
        self.config = os.path.join(env.dir, "algopromoted-%s.yaml" % name)
        self.socket = os.path.join(env.dir, "run-" + name, "control.sock")
        self.daemon = None
        self.logs = []
        self.kills = 0

    def write_config(self):
        self.env.write_config([PAIR], top={
            "state_dir": self.state, "control_socket": self.socket,
            "retry_min": "1s"},
            cluster_opts={c: {"retries": 5, "retry_budget": "20s"}
                          for c in ("dev", "prod")})
        os.rename(self.env.config, self.config)

    def running(self):
        return self.daemon is not None

    def start(self):
        self.env.config = self.config  # what Daemon runs
        self.daemon = Daemon(self.env)
        self.logs.append(self.daemon.log_path)
        self.daemon.wait_ready()

    def kill(self):
        d, self.daemon = self.daemon, None
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        self.kills += 1
        d.close()

    def died(self):
        """The log of an incarnation that exited on its own, else None."""
        if self.daemon is None or self.daemon.proc.poll() is None:
            return None
        return "exit %d:\n%s" % (self.daemon.proc.returncode,
                                 self.daemon.log_text()[-3000:])

    def trigger(self):
        subprocess.run([harness.CTL, "-f", self.config, "trigger", "hello"],
                       env=harness.env_with(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)

    def route_file(self, name):
        return os.path.join(self.state, "routes", "hello", DEST.replace("/", "."), name)

    def route_state(self):
        try:
            with open(self.route_file("state.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def version_map(self):
        path = self.route_file("versions.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def log_lines(self, pattern):
        found = []
        for n, path in enumerate(self.logs):
            with open(path, errors="replace") as f:
                found += ["%s#%d %s" % (self.name, n + 1, line.rstrip())
                          for line in f if re.search(pattern, line)]
        return found


class TwoInstances(unittest.TestCase):
    def setUp(self):
        self.env = Env(build_seconds=0.3)
        self.env.create_source()
        self.twins = [Instance(self.env, "a"), Instance(self.env, "b")]

    def tearDown(self):
        try:
            self.kill_all()
            leaks = self.env.scan_for_secrets()
        finally:
            self.env.close()
        self.assertEqual(leaks, [])

    def kill_all(self):
        """Kills every daemon still running, each whatever befell another."""
        error = None
        for t in self.twins:
            if t.running():
                try:
                    t.kill()
                except Exception as e:  # noqa: BLE001 - the others first
                    error = e
        if error is not None:
            raise error

    def published(self):
        """[(semantic_version, git_hash)] of prod's published versions, all pages."""
        out, marker = [], None
        while True:
            path = "/v1/algorithms/acme/Hello/versions?published=true&limit=100"
            if marker:
                path += "&marker=" + marker
            page = self.env.prod_api("GET", path)
            out += [(v["version_info"]["semantic_version"], v["version_info"]["git_hash"])
                    for v in page["results"]]
            marker = page.get("marker")
            if not marker:
                return out

    def prod_log(self):
        """{dest commit: (source, source commit) or None} over prod's master,
        read from one clone kept up to date."""
        view = os.path.join(self.env.dir, "prod-view")
        if os.path.exists(view):
            git("fetch", "-q", "origin", cwd=view)
        else:
            self.env.prod_clone(name="prod-view")
        log = git("log", "--format=%H%x00%B%x01", "origin/master", cwd=view)
        origin = {}
        for entry in log.split("\x01"):
            if "\x00" not in entry:
                continue
            sha, body = entry.strip().split("\x00", 1)
            found = TRAILER.findall(body)
            origin[sha] = found[0] if len(found) == 1 else None
        return origin

    def converged(self, newest):
        """Both daemons idle with the newest source commit promoted, and the
        destination's head carrying it."""
        for t in self.twins:
            st = t.route_state()
            if st is None or st["phase"] != "idle" or \
                    st["last"]["source_commit"] != newest or \
                    st["pending"]["source_commit"] is not None:
                return False
        head = self.env.prod_head()
        return head is not None and \
            self.prod_log().get(head) == (PAIR["source"], newest)

    def test_two_instances_one_truth(self):
        env = self.env
        kills = soak_int("AP_SOAK_KILLS", 10)
        seed = soak_int("AP_SOAK_SEED", random.SystemRandom().randrange(1 << 32))
        print("\ntwins: seed %d (AP_SOAK_SEED=%d), %d kills" % (seed, seed, kills),
              flush=True)
        rng = random.Random(seed)
        # Commits and kills spread over the same span; a kill every ~2 s
        # (check) to every ~0.5 s (soak), so most land mid-promotion.
        span = max(20.0, kills * 0.5)
        gaps = [rng.uniform(0.2, 1.8) for _ in range(COMMITS)]
        events, seq = [], 0
        at = 0.0
        for g in gaps:
            at += g * span / sum(gaps)
            events.append((at, seq, "commit", None))
            seq += 1
        for _ in range(kills):
            events.append((rng.uniform(0, span), seq, "kill", None))
            seq += 1
        heapq.heapify(events)

        for t in self.twins:
            os.makedirs(t.state)
            t.write_config()
        # A first source commit before the start, so that the source's
        # template commit (whose tree the new destination already holds)
        # is not what the instances first see.
        base = env.commit(files={"src/Hello.py": "v0\n"}, message="change 0")
        commits = []
        t0 = time.monotonic()
        try:
            for t in self.twins:
                t.start()
            while events:
                at, _, kind, inst = heapq.heappop(events)
                # Keeping to the plan's clock, not waiting for the daemons.
                time.sleep(max(0.0, at - (time.monotonic() - t0)))
                for t in self.twins:
                    self.assertIsNone(t.died(), "daemon %s exited on its own" % t.name)
                if kind == "commit":
                    n = len(commits) + 1
                    commits.append(env.commit(files={"src/Hello.py": "v%d\n" % n},
                                              message="change %d" % n))
                    # A webhook's poke: both hear of it at once.
                    for t in self.twins:
                        if t.running():
                            t.trigger()
                elif kind == "kill":
                    up = [t for t in self.twins if t.running()]
                    if not up:
                        heapq.heappush(events, (at + 0.2, seq, "kill", None))
                        seq += 1
                        continue
                    victim = rng.choice(up)
                    victim.kill()
                    heapq.heappush(events, (at + rng.uniform(0.05, 1.0), seq,
                                            "start", victim))
                    seq += 1
                elif kind == "start":
                    inst.start()
            for t in self.twins:
                if not t.running():
                    t.start()
            newest = commits[-1]
            try:
                wait_for(lambda: self.converged(newest), 60,
                         "both instances idle with %s promoted" % newest[:12])
            except AssertionError:
                for t in self.twins:
                    print("twins: instance %s state: %s" % (t.name, t.route_state()))
                raise
            for t in self.twins:
                self.assertIsNone(t.died(), "daemon %s exited on its own" % t.name)
            elapsed = time.monotonic() - t0
            self.check_truth(seed, base, commits, elapsed)
        finally:
            self.kill_all()

    def check_truth(self, seed, base, commits, elapsed):
        env = self.env
        origin = self.prod_log()
        versions = self.published()
        by_version = dict(versions)
        problems = []
        sources = []
        for semver, hash_ in versions:
            if origin.get(hash_) is None:
                problems.append("version %s: commit %s has no Promoted-from on "
                                "master" % (semver, hash_))
                continue
            src, commit = origin[hash_]
            if src != PAIR["source"] or commit not in [base] + commits:
                problems.append("version %s: from %s@%s, not a pushed source commit"
                                % (semver, src, commit))
            sources.append(commit)
        duplicates = len(sources) - len(set(sources))
        # Published after a newer source commit's version: the destination
        # went back to older code for a while.
        order = [([base] + commits).index(c) for c in reversed(sources)]
        backwards = sum(1 for i, n in enumerate(order) if n < max(order[:i] + [-1]))
        lost = 0 if commits[-1] in sources else 1
        if versions and origin.get(versions[0][1], (None, None))[1] != commits[-1]:
            problems.append("the newest version %s is not of the newest source "
                            "commit %s" % (versions[0][0], commits[-1]))
        false_lines = 0
        for t in self.twins:
            for line in t.version_map():
                why = None
                if line["dest_version"] not in by_version:
                    why = "no published version %s" % line["dest_version"]
                elif by_version[line["dest_version"]] != line["dest_commit"]:
                    why = "%s holds %s" % (line["dest_version"],
                                           by_version[line["dest_version"]])
                elif origin.get(line["dest_commit"]) != (line["source"],
                                                         line["source_commit"]):
                    why = "%s is from %s" % (line["dest_commit"],
                                             origin.get(line["dest_commit"]))
                if why:
                    false_lines += 1
                    problems.append("map %s: %s -> %s %s: %s" % (
                        t.name, line["source_commit"][:12], line["dest_version"],
                        line["dest_commit"][:12], why))
        print("twins: seed %d: kills survived %d (a %d, b %d), commits pushed %d, "
              "versions published %d, duplicates %d, lost %d, false map lines %d, "
              "published out of order %d, elapsed %.1f s"
              % (seed, sum(t.kills for t in self.twins), self.twins[0].kills,
                 self.twins[1].kills, len(commits), len(versions), duplicates, lost,
                 false_lines, backwards, elapsed), flush=True)
        if duplicates or lost or problems or backwards:
            print("twins: logs in %s%s" % (env.dir, "" if env.keep else
                                            " (removed; APTEST_KEEP=1 keeps them)"))
            index = {c: i for i, c in enumerate([base] + commits)}
            for semver, hash_ in reversed(versions):
                o = origin.get(hash_)
                print("twins:   %s %s <- source #%s" % (
                    semver, hash_[:12], index.get(o[1], "?") if o else "?"))
            for t in self.twins:
                print("twins:   %s" % ", ".join("%s#%d %s" % (t.name, n + 1, os.path.basename(p))
                                           for n, p in enumerate(t.logs)))
            for t in self.twins:
                for line in t.log_lines(r"moved|going round|resuming|already|refus|"
                                        r"changed outside|publish|error|fail"):
                    print("twins:   " + line)
        self.assertEqual(problems, [])
        self.assertEqual(duplicates, 0, "a source commit published twice")
        self.assertEqual(lost, 0, "the newest source commit is not published")
        self.assertEqual(backwards, 0, "a source commit published after a newer one")


if __name__ == "__main__":
    harness.main()
