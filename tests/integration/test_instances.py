#!/usr/bin/env python3
"""Random SIGKILLs while source commits arrive, for one instance and for two.

One instance: a single `algopromoted` promotes one route (dev -> prod)
while 30 source commits arrive at random intervals and the daemon is
SIGKILLed at random moments and restarted on the same state_dir. At the
end the newest source commit is promoted (the destination's head carries
it, it is published, the route is idle), no source commit is published
twice, and the version map equals the destination's published versions:
one line per published version, each true of the destination.

Two instances, one truth: two daemons with separate state_dirs and the
same configuration promote the same route while 20 source commits arrive
and both are SIGKILLed and restarted at random. The destination is their
only lock: a push is a compare-and-set on its ref, a publish one on its
commit. At the end every published destination version comes from a
distinct source commit, none was published after a newer source commit's,
the newest source commit is published, and every line of either version
map is true of the destination.

The plan (commit times; kill times and targets, or each incarnation's
life for the one instance; restart delays) comes from random.Random(seed):
AP_SOAK_SEED picks a run (default: a fresh seed, printed), AP_SOAK_KILLS
the number of kills per test (default 10; `make soak` 100). Each test
prints one line of figures.
"""
import collections
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
TRAILER = re.compile(r"^Promoted-from: (\S+)@([0-9a-f]{40})$", re.M)
# What the logs say about the route's decisions, shown when a run fails.
TELLING = (r"moved|going round|resuming|already|refus|changed outside|publish|"
           r"torn|corrupt|error|fail")


def soak_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


class Instance:
    """One daemon: its own state_dir, control socket and config file
    (otherwise the same configuration as any other), and its incarnations."""

    def __init__(self, env, name):
        self.env = env
        self.name = name
        self.state = os.path.join(env.state, name)
        self.config = os.path.join(env.dir, "algopromoted-%s.yaml" % name)
        self.socket = os.path.join(env.dir, "run-" + name, "control.sock")
        self.daemon = None
        self.logs = []
        self.kills = 0
        self.busy_kills = 0
        self.life = None        # s this incarnation lives once there is work
        self.waiting = False    # its kill waits for the next source commit

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

    def kill(self, planned=True, busy=False):
        """SIGKILL; planned counts it among the kills survived (the end of
        a run kills too, but that is no kill the daemon had to survive),
        busy among those that came while a promotion was owed."""
        d, self.daemon = self.daemon, None
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        self.kills += planned
        self.busy_kills += planned and busy
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
        """(lines, unreadable): the map's lines as dicts, and the text of
        those that are not a JSON object."""
        path = self.route_file("versions.jsonl")
        lines, unreadable = [], []
        if not os.path.exists(path):
            return lines, unreadable
        with open(path, errors="replace") as f:
            for text in f:
                if not text.strip():
                    continue
                try:
                    line = json.loads(text)
                except ValueError:
                    line = None
                if isinstance(line, dict):
                    lines.append(line)
                else:
                    unreadable.append(text.rstrip("\n"))
        return lines, unreadable

    def log_lines(self, pattern):
        found = []
        for n, path in enumerate(self.logs):
            with open(path, errors="replace") as f:
                found += ["%s#%d %s" % (self.name, n + 1, line.rstrip())
                          for line in f if re.search(pattern, line)]
        return found


class Soak(unittest.TestCase):
    """The machinery both soaks share: the plan, its run, the reading of
    the destination and the figures. A subclass names its instances, its
    number of source commits and the tag of its printed lines."""

    NAMES = ()
    COMMITS = 0
    TAG = "soak"
    KILL_EVERY = 0.5    # s of the span per kill
    LIFE = None         # s: an incarnation's longest life, else kills at plan times

    def setUp(self):
        self.env = Env(build_seconds=0.3)
        self.env.create_source()
        self.instances = [Instance(self.env, n) for n in self.NAMES]

    def tearDown(self):
        try:
            self.kill_all()
            leaks = self.env.scan_for_secrets()
        finally:
            self.env.close()
        self.assertEqual(leaks, [])

    def say(self, text):
        print("%s: %s" % (self.TAG, text), flush=True)

    def kill_all(self):
        """Kills every daemon still running, each whatever befell another."""
        error = None
        for t in self.instances:
            if t.running():
                try:
                    t.kill(planned=False)
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
        """Every daemon idle with the newest source commit promoted, and the
        destination's head carrying it."""
        for t in self.instances:
            st = t.route_state()
            if st is None or st["phase"] != "idle" or \
                    st["last"]["source_commit"] != newest or \
                    st["pending"]["source_commit"] is not None:
                return False
        head = self.env.prod_head()
        return head is not None and \
            self.prod_log().get(head) == (PAIR["source"], newest)

    def caught_up(self, t, base, commits):
        """t idle with the newest source commit pushed so far promoted;
        otherwise it owes a promotion (under way or not yet noticed)."""
        st = t.route_state()
        return st is not None and st["phase"] == "idle" and \
            st["pending"]["source_commit"] is None and \
            st["last"]["source_commit"] == (commits[-1] if commits else base)

    def soak(self):
        """Runs the plan: COMMITS source commits at random intervals and
        AP_SOAK_KILLS SIGKILLs, each victim restarted after a random delay
        on its own state_dir; then waits until every instance is idle with
        the newest source commit promoted. Returns (seed, base, commits,
        elapsed).

        Kills come at random moments of the plan's span and fall on a
        random running instance, or, with LIFE set, each incarnation is
        killed a random 0..LIFE s after it is ready: a kill then lands
        anywhere in a promotion (resume, fetch, push, build wait, publish,
        record) or after it, and promotions still finish between kills.
        An incarnation that has nothing left to promote when its time
        comes lives on until the next source commit, then a new random
        time: the kills go to promotions, not to an idle daemon."""
        env = self.env
        kills = soak_int("AP_SOAK_KILLS", 10)
        seed = soak_int("AP_SOAK_SEED", random.SystemRandom().randrange(1 << 32))
        print("", flush=True)
        self.say("seed %d (AP_SOAK_SEED=%d), %d kills, %d commits, %d instance%s"
                 % (seed, seed, kills, self.COMMITS, len(self.instances),
                    "" if len(self.instances) == 1 else "s"))
        rng = random.Random(seed)
        lives = random.Random(seed + 1)     # drawn as the run needs them
        # More kills than commits: a promotion must take several kills, so
        # lives are half as long (most end before the promotion does).
        life = None if self.LIFE is None else \
            self.LIFE if kills <= self.COMMITS else self.LIFE / 2
        # Commits and kills spread over the same span, which grows with
        # the kills at KILL_EVERY s each.
        span = max(20.0, kills * self.KILL_EVERY)
        gaps = [rng.uniform(0.2, 1.8) for _ in range(self.COMMITS)]
        events, seq = [], 0
        at = 0.0
        for g in gaps:
            at += g * span / sum(gaps)
            events.append((at, seq, "commit", None))
            seq += 1
        planned = 0
        if self.LIFE is None:
            for _ in range(kills):
                events.append((rng.uniform(0, span), seq, "kill", None))
                seq += 1
            planned = kills
        heapq.heapify(events)

        for t in self.instances:
            os.makedirs(t.state)
            t.write_config()
        # A first source commit before the start, so that the source's
        # template commit (whose tree the new destination already holds)
        # is not what the instances first see.
        base = env.commit(files={"src/Hello.py": "v0\n"}, message="change 0")
        commits = []
        t0 = time.monotonic()

        def start(t):
            """Starts t; with LIFE, plans the end of this incarnation."""
            nonlocal seq, planned
            t.start()
            if life is not None and planned < kills:
                t.life = lives.uniform(0, life)
                heapq.heappush(events, (time.monotonic() - t0 + t.life, seq, "kill", t))
                seq += 1
                planned += 1

        try:
            for t in self.instances:
                start(t)
            while events:
                at, _, kind, inst = heapq.heappop(events)
                # Keeping to the plan's clock, not waiting for the daemons.
                time.sleep(max(0.0, at - (time.monotonic() - t0)))
                for t in self.instances:
                    self.assertIsNone(t.died(), "daemon %s exited on its own" % t.name)
                if kind == "commit":
                    n = len(commits) + 1
                    commits.append(env.commit(files={"src/Hello.py": "v%d\n" % n},
                                              message="change %d" % n))
                    # A webhook's poke: every running instance hears of it.
                    for t in self.instances:
                        if t.running():
                            t.trigger()
                        if t.waiting:
                            t.waiting = False
                            t.life = lives.uniform(0, life)
                            heapq.heappush(events, (time.monotonic() - t0 + t.life,
                                                    seq, "kill", t))
                            seq += 1
                elif kind == "kill":
                    up = [t for t in self.instances if t.running()]
                    if not up:
                        heapq.heappush(events, (at + 0.2, seq, "kill", None))
                        seq += 1
                        continue
                    victim = inst if inst is not None else rng.choice(up)
                    idle = self.caught_up(victim, base, commits)
                    if inst is not None and idle and \
                            any(e[2] == "commit" for e in events):
                        # Nothing to promote: the life runs from the next
                        # source commit, so kills land in promotions.
                        inst.waiting = True
                        continue
                    victim.kill(busy=not idle)
                    heapq.heappush(events, (at + rng.uniform(0.05, 1.0), seq,
                                            "start", victim))
                    seq += 1
                elif kind == "start":
                    start(inst)
            for t in self.instances:
                if not t.running():
                    t.start()
            newest = commits[-1]
            try:
                wait_for(lambda: self.converged(newest), 60,
                         "every instance idle with %s promoted" % newest[:12])
            except AssertionError:
                for t in self.instances:
                    self.say("instance %s state: %s" % (t.name, t.route_state()))
                self.show(base, commits, self.published(), self.prod_log())
                raise
            for t in self.instances:
                self.assertIsNone(t.died(), "daemon %s exited on its own" % t.name)
            return seed, base, commits, time.monotonic() - t0
        finally:
            self.kill_all()

    def judge(self, base, commits):
        """Reads the destination and every version map. Returns a dict:
        versions [(semver, dest commit)] newest first, origin, duplicates,
        lost, backwards, maps {name: lines}, false_lines, problems."""
        origin = self.prod_log()
        versions = self.published()
        by_version = dict(versions)
        pushed = [base] + commits
        problems = []
        sources = []
        for semver, hash_ in versions:
            if origin.get(hash_) is None:
                problems.append("version %s: commit %s has no Promoted-from on "
                                "master" % (semver, hash_))
                continue
            src, commit = origin[hash_]
            if src != PAIR["source"] or commit not in pushed:
                problems.append("version %s: from %s@%s, not a pushed source commit"
                                % (semver, src, commit))
            sources.append(commit)
        duplicates = len(sources) - len(set(sources))
        # Published after a newer source commit's version: the destination
        # went back to older code for a while.
        order = [pushed.index(c) for c in reversed(sources) if c in pushed]
        backwards = sum(1 for i, n in enumerate(order) if n < max(order[:i] + [-1]))
        lost = 0 if commits[-1] in sources else 1
        if versions and origin.get(versions[0][1], (None, None))[1] != commits[-1]:
            problems.append("the newest version %s is not of the newest source "
                            "commit %s" % (versions[0][0], commits[-1]))
        false_lines = 0
        maps = {}
        for t in self.instances:
            lines, unreadable = t.version_map()
            maps[t.name] = lines
            for text in unreadable:
                false_lines += 1
                problems.append("map %s: unreadable line %r" % (t.name, text[:200]))
            for line in lines:
                why = None
                if line.get("dest_version") not in by_version:
                    why = "no published version %s" % line.get("dest_version")
                elif by_version[line["dest_version"]] != line.get("dest_commit"):
                    why = "%s holds %s" % (line["dest_version"],
                                           by_version[line["dest_version"]])
                elif origin.get(line["dest_commit"]) != (line.get("source"),
                                                         line.get("source_commit")):
                    why = "%s is from %s" % (line["dest_commit"],
                                             origin.get(line["dest_commit"]))
                if why:
                    false_lines += 1
                    problems.append("map %s: %s -> %s %s: %s" % (
                        t.name, str(line.get("source_commit"))[:12],
                        line.get("dest_version"), str(line.get("dest_commit"))[:12],
                        why))
        return {"versions": versions, "origin": origin, "duplicates": duplicates,
                "lost": lost, "backwards": backwards, "maps": maps,
                "false_lines": false_lines, "problems": problems}

    def show(self, base, commits, versions, origin):
        """What a failed run leaves to read: where the logs are, the
        published versions (oldest first) with their source commit and the
        maps that hold them, and the telling log lines."""
        env = self.env
        self.say("logs in %s%s" % (env.dir, "" if env.keep else
                                   " (removed; APTEST_KEEP=1 keeps them)"))
        index = {c: i for i, c in enumerate([base] + commits)}
        self.say("  version  dest commit   source   in map of")
        maps = {t.name: t.version_map()[0] for t in self.instances}
        for semver, hash_ in reversed(versions):
            o = origin.get(hash_)
            held = [name for name, lines in maps.items()
                    if any(ln.get("dest_version") == semver for ln in lines)]
            self.say("  %-8s %s  #%-6s  %s" % (
                semver, hash_[:12], index.get(o[1], "?") if o else "?",
                ",".join(held) or "-"))
        for name, lines in maps.items():
            for line in lines:
                self.say("  map %s: source #%s -> %s %s" % (
                    name, index.get(line.get("source_commit"), "?"),
                    line.get("dest_version"), str(line.get("dest_commit"))[:12]))
        for t in self.instances:
            self.say("  %s" % ", ".join("%s#%d %s" % (t.name, n + 1, os.path.basename(p))
                                        for n, p in enumerate(t.logs)))
        for t in self.instances:
            for line in t.log_lines(TELLING):
                self.say("  " + line)


class OneInstance(Soak):
    NAMES = ("solo",)
    COMMITS = 30
    TAG = "single"
    # A promotion takes ~1 s here. Killed at plan times every 0.5 s, one
    # daemon never finishes one (100 kills: 1 version published, no kill
    # after a publish); living 0..1.6 s (0.8 s with more kills than
    # commits), it is killed in every phase and finishes some: with ~0.5 s
    # to restart and ~0.3 s to be ready, ~1.2 s a kill.
    KILL_EVERY = 1.2
    LIFE = 1.6

    def test_one_instance_random_kills(self):
        seed, base, commits, elapsed = self.soak()
        r = self.judge(base, commits)
        problems = r["problems"]
        versions = r["versions"]
        lines = r["maps"]["solo"]
        # The map equals the destination's published versions: the same
        # (version, commit) pairs, one line each.
        mapped = collections.Counter((ln.get("dest_version"), ln.get("dest_commit"))
                                     for ln in lines)
        published = collections.Counter(versions)
        missing = published - mapped
        extra = mapped - published
        for (semver, hash_), n in sorted(missing.items()):
            problems.append("map: no line for published version %s (%s)"
                            % (semver, hash_[:12]))
        for (semver, hash_), n in sorted(extra.items()):
            problems.append("map: %d line(s) too many for %s %s"
                            % (n, semver, str(hash_)[:12]))
        solo = self.instances[0]
        self.say("seed %d: kills survived %d (%d with a promotion due), commits pushed %d, "
                 "versions published %d, duplicates %d, lost %d, map lines %d "
                 "(missing %d, extra %d, false %d), published out of order %d, "
                 "elapsed %.1f s"
                 % (seed, solo.kills, solo.busy_kills, len(commits), len(versions),
                    r["duplicates"], r["lost"], len(lines), sum(missing.values()),
                    sum(extra.values()), r["false_lines"], r["backwards"], elapsed))
        if problems or r["duplicates"] or r["lost"] or r["backwards"]:
            for p in problems:
                self.say("  " + p)
            self.show(base, commits, versions, r["origin"])
        self.assertEqual(problems, [])
        self.assertEqual(r["duplicates"], 0, "a source commit published twice")
        self.assertEqual(r["lost"], 0, "the newest source commit is not published")
        self.assertEqual(r["backwards"], 0, "a source commit published after a newer one")
        self.assertEqual(sorted(mapped.elements()), sorted(versions))


class TwoInstances(Soak):
    NAMES = ("a", "b")
    COMMITS = 20
    TAG = "twins"

    def test_two_instances_one_truth(self):
        seed, base, commits, elapsed = self.soak()
        r = self.judge(base, commits)
        a, b = self.instances
        self.say("seed %d: kills survived %d (a %d, b %d; %d with a promotion due), "
                 "commits pushed %d, versions published %d, duplicates %d, lost %d, "
                 "false map lines %d, published out of order %d, elapsed %.1f s"
                 % (seed, a.kills + b.kills, a.kills, b.kills,
                    a.busy_kills + b.busy_kills, len(commits),
                    len(r["versions"]), r["duplicates"], r["lost"], r["false_lines"],
                    r["backwards"], elapsed))
        if r["problems"] or r["duplicates"] or r["lost"] or r["backwards"]:
            for p in r["problems"]:
                self.say("  " + p)
            self.show(base, commits, r["versions"], r["origin"])
        self.assertEqual(r["problems"], [])
        self.assertEqual(r["duplicates"], 0, "a source commit published twice")
        self.assertEqual(r["lost"], 0, "the newest source commit is not published")
        self.assertEqual(r["backwards"], 0, "a source commit published after a newer one")


if __name__ == "__main__":
    harness.main()
