#!/usr/bin/env python3
"""`algopromoted --once` against two emulated clusters, "dev" and "prod".

Each test builds its own pair of clusters and state_dir, drives the real
binaries, and checks the destination's repository and versions, the state
files and the logs.
"""
import json
import re
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Env, git, tree_of, api, knob  # noqa: E402

PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello"}


def expected_tree(env, algo="Hello", owner="acme", name="expected"):
    """The source head with algorithmia.conf naming the destination, built
    with the git CLI: what the destination tree must be, object for object."""
    work = os.path.join(env.dir, name)
    if not os.path.exists(work):
        git("clone", "-q", env.work[algo], work)
    git("fetch", "-q", "origin", cwd=work)
    git("reset", "-q", "--hard", "origin/master", cwd=work)
    conf = os.path.join(work, "algorithmia.conf")
    with open(conf) as f:
        text = f.read()
    text = text.replace('"username": "alice"', '"username": "%s"' % owner)
    text = text.replace('"algoname": "%s"' % algo, '"algoname": "%s"' % algo)
    with open(conf, "w") as f:
        f.write(text)
    git("add", "algorithmia.conf", cwd=work)
    git("commit", "-q", "--allow-empty", "-m", "expected", cwd=work)
    return tree_of(work)


def prod_tree(env, algo="Hello", owner="acme"):
    work = env.prod_clone(algo, owner)
    return tree_of(work), work


class Promote(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.env.create_source()

    def tearDown(self):
        leaks = self.env.scan_for_secrets()
        self.env.close()
        self.assertEqual(leaks, [])

    def once_ok(self, *args, env=None):
        proc = self.env.once(*args, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc

    def test_first_and_second_promotion(self):
        env = self.env
        c1 = env.commit(files={"src/Hello.py": "def apply(x):\n    return 'hi ' + x\n"})
        env.write_config([PAIR])
        proc = self.once_ok()
        self.assertIn("route hello->prod/acme/Hello: publish", proc.stderr)
        algo = env.prod_api("GET", "/v1/algorithms/acme/Hello")
        # Created from the source's details and settings.
        self.assertEqual(algo["details"]["label"], "Hello (dev)")
        self.assertEqual(algo["settings"]["source_visibility"], "closed")
        versions = env.prod_versions()
        self.assertEqual([v for v, _ in versions], ["0.1.0"])
        tree, work = prod_tree(env)
        self.assertEqual(tree, expected_tree(env))
        msg = git("log", "-1", "--format=%B", cwd=work)
        self.assertIn("Promoted-from: dev/alice/Hello@" + c1, msg)
        self.assertEqual(git("log", "-1", "--format=%an <%ae>", cwd=work),
                         "algopromoted <algopromoted@localhost>")

        c2 = env.commit(files={"src/Hello.py": "def apply(x):\n    return 'hey ' + x\n"})
        self.once_ok()
        self.assertEqual([v for v, _ in env.prod_versions()], ["0.2.0", "0.1.0"])
        vmap = env.version_map("hello")
        self.assertEqual([(e["source_commit"], e["dest_version"]) for e in vmap],
                         [(c1, "0.1.0"), (c2, "0.2.0")])
        self.assertEqual(vmap[1]["dest_commit"], env.prod_head())
        st = env.route_state("hello")
        self.assertEqual(st["phase"], "idle")
        self.assertEqual(st["last"]["source_commit"], c2)
        self.assertEqual(st["last"]["dest_version"], "0.2.0")

        # Idempotent: nothing new, nothing done.
        head = env.prod_head()
        self.once_ok()
        self.assertEqual(env.prod_head(), head)
        self.assertEqual(len(env.prod_versions()), 2)
        self.assertEqual(len(env.version_map("hello")), 2)

        status = env.ctl("status")
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertRegex(status.stdout, r"hello\s+prod/acme/Hello\s+idle\s+%s\s+-\s+0\.2\.0"
                         % c2[:12])
        js = json.loads(env.ctl("--json", "status").stdout)["routes"]
        self.assertEqual(js[0]["last"]["dest_version"], "0.2.0")
        vers = env.ctl("versions", "hello")
        self.assertEqual(vers.returncode, 0)
        lines = vers.stdout.strip().splitlines()
        self.assertEqual(len(lines), 3)
        self.assertIn(c1[:12], lines[1])
        self.assertIn("0.1.0", lines[1])
        self.assertIn("0.2.0", lines[2])
        js = json.loads(env.ctl("--json", "versions", "hello").stdout)
        self.assertEqual([e["dest_version"] for e in js], ["0.1.0", "0.2.0"])

    def test_files_arrive_exactly(self):
        env = self.env
        blob = bytes(range(256)) * 40 + b"\x00\xff"
        env.commit(files={
            "data/model.bin": blob,
            "bin/run.sh": ("exec", "#!/bin/sh\necho run\n"),
            "link": ("symlink", "src/Hello.py"),
            "old/name.txt": "to be renamed\n",
            "gone.txt": "to be deleted\n",
        })
        env.write_config([PAIR])
        self.once_ok()
        env.commit(files={"new/name.txt": "to be renamed\n"},
                   remove=["old/name.txt", "gone.txt"])
        self.once_ok()
        tree, work = prod_tree(env)
        self.assertEqual(tree, expected_tree(env))
        self.assertFalse(os.path.exists(os.path.join(work, "gone.txt")))
        self.assertFalse(os.path.exists(os.path.join(work, "old")))
        self.assertTrue(os.path.islink(os.path.join(work, "link")))
        self.assertTrue(os.access(os.path.join(work, "bin/run.sh"), os.X_OK))
        with open(os.path.join(work, "data/model.bin"), "rb") as f:
            self.assertEqual(f.read(), blob)
        with open(os.path.join(work, "algorithmia.conf")) as f:
            conf = json.load(f)
        self.assertEqual((conf["username"], conf["algoname"]), ("acme", "Hello"))

    def test_exclude_preserve_and_no_change(self):
        env = self.env
        env.commit(files={"notes/dev-only.md": "dev notes\n", "config/prod.json": "{\"dev\":1}\n",
                          "src/x.pyc": b"\x00compiled", "src/Hello.py": "v1\n"})
        pair = dict(PAIR, exclude=["notes/", "*.pyc"], preserve=["config/prod.json"])
        env.write_config([pair])
        self.once_ok()
        work = env.prod_clone()
        self.assertFalse(os.path.exists(os.path.join(work, "notes")))
        self.assertFalse(os.path.exists(os.path.join(work, "src/x.pyc")))
        # Preserved but absent at the destination: absent.
        self.assertFalse(os.path.exists(os.path.join(work, "config/prod.json")))
        # A person sets the production config at the destination.
        os.makedirs(os.path.join(work, "config"), exist_ok=True)
        with open(os.path.join(work, "config/prod.json"), "w") as f:
            f.write("{\"prod\":1}\n")
        git("add", "config/prod.json", cwd=work)
        git("commit", "-q", "-m", "prod config", cwd=work)
        git("push", "-q", "origin", "HEAD:master", cwd=work)

        env.commit(files={"src/Hello.py": "v2\n", "config/prod.json": "{\"dev\":2}\n"})
        self.once_ok()
        work = env.prod_clone()
        with open(os.path.join(work, "config/prod.json")) as f:
            self.assertEqual(f.read(), "{\"prod\":1}\n")
        with open(os.path.join(work, "src/Hello.py")) as f:
            self.assertEqual(f.read(), "v2\n")
        self.assertEqual(len(env.prod_versions()), 2)

        # A source commit that changes only excluded files: no commit, no
        # publish, but the route records that it is up to date with it.
        head = env.prod_head()
        c3 = env.commit(files={"notes/dev-only.md": "more notes\n"})
        self.once_ok()
        self.assertEqual(env.prod_head(), head)
        self.assertEqual(len(env.prod_versions()), 2)
        st = env.route_state("hello")
        self.assertEqual(st["last"]["source_commit"], c3)
        self.assertEqual(st["last"]["dest_commit"], head)

    def test_fan_out(self):
        env = self.env
        env.commit(files={"src/Hello.py": "fan\n"})
        env.write_config([{"name": "hello", "source": "dev/alice/Hello",
                           "destinations": ["prod/acme/Hello", "prod/carol/Hello"]}])
        self.once_ok()
        for owner in ("acme", "carol"):
            self.assertEqual([v for v, _ in env.prod_versions(owner=owner)], ["0.1.0"])
            tree, _ = prod_tree(env, owner=owner)
            self.assertEqual(tree, expected_tree(env, owner=owner, name="exp-" + owner))
            self.assertEqual(len(env.version_map("hello", "prod/%s/Hello" % owner)), 1)

    def test_track_versions(self):
        env = self.env
        pair = dict(PAIR, track="versions")
        env.write_config([pair])
        c1 = env.commit(files={"src/Hello.py": "one\n"})
        # Nothing published at the source yet: nothing promoted.
        self.once_ok()
        with self.assertRaises(harness.ApiError):
            env.prod_api("GET", "/v1/algorithms/acme/Hello")
        self.assertEqual(env.publish_source(c1, "major"), "1.0.0")
        c2 = env.commit(files={"src/Hello.py": "two\n"})
        self.assertEqual(env.publish_source(c2, "minor"), "1.1.0")
        c3 = env.commit(files={"src/Hello.py": "three\n"})
        self.assertEqual(env.publish_source(c3, "minor"), "1.2.0")
        # An unpublished commit on top is not promoted.
        env.commit(files={"src/Hello.py": "four, unpublished\n"})
        self.once_ok()
        vmap = env.version_map("hello")
        self.assertEqual(len(vmap), 1)
        self.assertEqual((vmap[0]["source_version"], vmap[0]["source_commit"],
                          vmap[0]["dest_version"]), ("1.2.0", c3, "0.1.0"))
        work = env.prod_clone()
        with open(os.path.join(work, "src/Hello.py")) as f:
            self.assertEqual(f.read(), "three\n")
        msg = git("log", "-1", "--format=%B", cwd=work)
        self.assertIn("Promoted-version: 1.2.0", msg)
        self.once_ok()
        self.assertEqual(len(env.prod_versions()), 1)

    def test_build_failure_then_recovery(self):
        env = self.env
        env.write_config([PAIR])
        env.commit(files={"src/Hello.py": "good\n"})
        self.once_ok()
        bad = env.commit(files={"BUILD_FAIL": "boom\n"})
        proc = env.once()
        self.assertEqual(proc.returncode, 1)
        self.assertRegex(proc.stderr, r"route hello->prod/acme/Hello: build \S+ of \S+ failed")
        self.assertEqual(len(env.prod_versions()), 1)
        st = env.route_state("hello")
        self.assertEqual(st["phase"], "failed")
        self.assertEqual(st["failed_source_commit"], bad)
        self.assertTrue(st["error_permanent"])
        with open(st["build_log"]) as f:
            self.assertIn("BUILD_FAIL", f.read())
        # Not retried for the same commit...
        head = env.prod_head()
        proc = env.once()
        self.assertEqual(proc.returncode, 1)
        self.assertIn("failed before", proc.stderr)
        self.assertEqual(env.prod_head(), head)
        status = env.ctl("status")
        self.assertIn("failed", status.stdout)
        self.assertIn("build", status.stdout)
        # ... until a new source commit arrives.
        good = env.commit(files={"src/Hello.py": "fixed\n"}, remove=["BUILD_FAIL"])
        self.once_ok()
        self.assertEqual([v for v, _ in env.prod_versions()], ["0.2.0", "0.1.0"])
        st = env.route_state("hello")
        self.assertEqual((st["phase"], st["failed_source_commit"], st["error"]),
                         ("idle", None, None))
        self.assertEqual(st["last"]["source_commit"], good)

    def test_retry_clears_failure(self):
        env = self.env
        env.write_config([PAIR])
        env.commit(files={"BUILD_FAIL": "boom\n"})
        self.assertEqual(env.once().returncode, 1)
        r = env.ctl("retry", "hello")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("failed state cleared", r.stdout)
        st = env.route_state("hello")
        self.assertIsNone(st["failed_source_commit"])
        # The retry runs the same commit again: it fails again, honestly.
        proc = env.once()
        self.assertEqual(proc.returncode, 1)
        self.assertNotIn("failed before", proc.stderr)
        self.assertEqual(env.ctl("retry", "nosuch").returncode, 2)

    def test_ca_file_joins_the_git_trust(self):
        env = self.env
        ca = os.path.join(env.dir, "private-ca.pem")
        shutil.copy("/etc/ssl/certs/ca-certificates.crt", ca)
        env.write_config([PAIR], cluster_opts={"prod": {"ca_file": ca}})
        env.commit(files={"src/Hello.py": "with a ca_file\n"})
        self.once_ok()
        bundle = os.path.join(env.state, "ca-bundle.pem")
        self.assertEqual(os.stat(bundle).st_mode & 0o777, 0o600)
        with open(ca) as f, open(bundle) as g:
            self.assertIn(f.read(), g.read())
        os.unlink(ca)
        # Gone by the next start: a clear configuration error.
        proc = env.once()
        self.assertEqual(proc.returncode, 2)
        self.assertIn('cannot read ca_file "%s"' % ca, proc.stderr)

    def test_manual_approval(self):
        env = self.env
        env.write_config([dict(PAIR, approval="manual")])
        c1 = env.commit(files={"src/Hello.py": "needs a yes\n"})
        proc = self.once_ok()
        self.assertIn("waits for `algopromotectl approve hello`", proc.stderr)
        with self.assertRaises(harness.ApiError):
            env.prod_api("GET", "/v1/algorithms/acme/Hello")
        st = env.route_state("hello")
        self.assertEqual((st["phase"], st["pending"]["source_commit"]), ("approval", c1))
        self.assertIn("approval", env.ctl("status").stdout)
        # Waiting is not failing, and asking again changes nothing.
        self.once_ok()
        self.assertEqual(env.route_state("hello")["phase"], "approval")
        out = env.ctl("retry", "hello")
        self.assertIn("nothing to retry", out.stdout)
        out = env.ctl("approve", "hello")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("hello->prod/acme/Hello: approved " + c1, out.stdout)
        self.once_ok()
        self.assertEqual([v for v, _ in env.prod_versions()], ["0.1.0"])
        self.assertEqual(env.version_map("hello")[-1]["source_commit"], c1)
        # A newer source commit needs its own approval.
        env.commit(files={"src/Hello.py": "and another\n"})
        self.once_ok()
        self.assertEqual(env.route_state("hello")["phase"], "approval")
        self.assertEqual(len(env.prod_versions()), 1)
        out = env.ctl("approve", "nosuch")
        self.assertEqual(out.returncode, 2)
        self.assertIn('no pair "nosuch"', out.stderr)

    def test_destination_recreated(self):
        env = self.env
        env.write_config([PAIR])
        env.commit(files={"src/Hello.py": "v1\n"})
        self.once_ok()
        env.prod_api("DELETE", "/v1/algorithms/acme/Hello")
        env.prod_api("POST", "/v1/algorithms/acme",
                     {"name": "Hello", "details": {"label": "Hello by hand"},
                      "settings": harness.PY_SETTINGS})
        proc = self.once_ok()
        self.assertIn("changed outside algopromoted", proc.stderr)
        tree, _ = prod_tree(env)
        self.assertEqual(tree, expected_tree(env))
        self.assertEqual([v for v, _ in env.prod_versions()], ["0.1.0"])
        last = env.version_map("hello")[-1]
        self.assertEqual((last["dest_commit"], last["dest_version"]),
                         (env.prod_head(), "0.1.0"))

    def test_dry_run_changes_nothing(self):
        env = self.env
        c1 = env.commit(files={"src/Hello.py": "dry\n", "extra.txt": "x\n"})
        env.write_config([PAIR])
        proc = env.run("--dry-run")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("would create prod/acme/Hello", proc.stdout)
        self.assertIn("would promote dev/alice/Hello@" + c1, proc.stdout)
        self.assertIn("extra.txt", proc.stdout)
        self.assertRegex(proc.stdout, r"\d+ files? changed")
        with self.assertRaises(harness.ApiError):
            env.prod_api("GET", "/v1/algorithms/acme/Hello")
        self.once_ok()
        env.commit(files={"src/Hello.py": "dry 2\n"})
        head = env.prod_head()
        proc = env.run("--dry-run")
        self.assertIn("src/Hello.py", proc.stdout)
        self.assertEqual(env.prod_head(), head)
        self.assertEqual(len(env.prod_versions()), 1)

    def test_transient_api_faults_are_retried_within_the_job(self):
        env = self.env
        env.write_config([PAIR])
        env.commit(files={"src/Hello.py": "v1\n"})
        knob(env.prod, "POST", "/_reset")
        # The destination's builds list is busy twice, asking for 1 s.
        knob(env.prod, "POST", "/_fault",
             {"method": "GET", "path": r"/v1/algorithms/acme/Hello/builds(\?|$)",
              "status": 503, "count": 2, "headers": {"Retry-After": "1"}})
        # One run is enough: the job tries the request again itself.
        proc = self.once_ok()
        self.assertRegex(proc.stderr, r"info: route hello->prod/acme/Hello: api: GET "
                         r"\S+/builds\S*: 503 .*; try 2 of 5 in")
        self.assertEqual([v for v, _ in env.prod_versions()], ["0.1.0"])
        seen = [r for r in knob(env.prod, "GET", "/_requests")
                if r["method"] == "GET" and
                re.search(r"/v1/algorithms/acme/Hello/builds(\?|$)", r["path"])]
        self.assertEqual([r["status"] for r in seen[:3]], [503, 503, 200])
        # Never sooner than Retry-After.
        at = [harness.parse_iso(r["time"]) for r in seen[:3]]
        self.assertGreaterEqual(at[1] - at[0], 1.0)
        self.assertGreaterEqual(at[2] - at[1], 1.0)
        # A push and a publish, once each.
        self.assertEqual(len(env.version_map("hello")), 1)

    def test_transient_git_faults_are_retried_within_the_job(self):
        env = self.env
        env.write_config([PAIR])
        env.commit(files={"src/Hello.py": "v1\n"})
        knob(env.dev, "POST", "/_reset")
        # The source's fetch fails once: a 502 to the daemon's upload-pack.
        knob(env.dev, "POST", "/_fault",
             {"method": "POST", "path": r"/git-upload-pack$", "user_agent": "algopromoted",
              "status": 502, "count": 1})
        proc = self.once_ok()
        self.assertRegex(proc.stderr, r"info: route hello->prod/acme/Hello: fetch .*502.*; "
                         r"try 2 of 5 in \d+\.\d s")
        self.assertEqual([v for v, _ in env.prod_versions()], ["0.1.0"])
        seen = [r["status"] for r in knob(env.dev, "GET", "/_requests")
                if r["method"] == "POST" and r["path"].endswith("/git-upload-pack")]
        self.assertEqual(seen[:2], [502, 200])
        self.assertEqual(len(env.version_map("hello")), 1)

    def test_concurrent_foreign_push(self):
        env = self.env
        env.write_config([dict(PAIR, on_drift="overwrite")])
        env.commit(files={"src/Hello.py": "v1\n"})
        self.once_ok()
        foreign = env.prod_clone(name="foreign")
        env.commit(files={"src/Hello.py": "v2\n"})
        # Hold the daemon's push advertisement for 3 s; meanwhile a person
        # pushes to prod. The daemon built on the old head, so it must
        # notice, rebuild on top of the foreign commit, and publish once.
        knob(env.prod, "POST", "/_reset")
        knob(env.prod, "POST", "/_fault",
             {"method": "GET", "path": r"/git/acme/Hello\.git/info/refs\?service=git-receive-pack",
              "user_agent": "algopromoted", "delay_ms": 3000, "count": 1})
        daemon = subprocess.Popen([harness.DAEMON, "-f", env.config, "--once"],
                                  env=harness.env_with(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        # Await the daemon's destination fetch (an event in the request
        # log), then push by hand while its push advertisement is held.
        harness.await_request(env.prod, "service=git-upload-pack")
        with open(os.path.join(foreign, "HOTFIX.md"), "w") as f:
            f.write("pushed by a person\n")
        git("add", "HOTFIX.md", cwd=foreign)
        git("commit", "-q", "-m", "hotfix", cwd=foreign)
        git("push", "-q", "origin", "HEAD:master", cwd=foreign)
        out, err = daemon.communicate(timeout=120)
        env.logs.append(out + err)
        self.assertEqual(daemon.returncode, 0, err)
        self.assertIn("destination moved", err)
        work = env.prod_clone()
        # Built on top of the foreign commit (history kept), yet the tree
        # is exactly the source's: the hand-pushed file is gone.
        self.assertFalse(os.path.exists(os.path.join(work, "HOTFIX.md")))
        self.assertEqual(tree_of(work), expected_tree(env))
        with open(os.path.join(work, "src/Hello.py")) as f:
            self.assertEqual(f.read(), "v2\n")
        # The foreign commit is in the history, not overwritten.
        self.assertIn("hotfix", git("log", "--format=%s", cwd=work))
        self.assertEqual([v for v, _ in env.prod_versions()], ["0.2.0", "0.1.0"])

    def test_push_between_build_and_publish_goes_round_again(self):
        env = self.env
        # The publish is held long enough for a person's clone, commit and
        # push to land first even on a loaded machine (3 s was not), and
        # the request's timeout is longer still.
        env.write_config([dict(PAIR, on_drift="overwrite")],
                         cluster_opts={"prod": {"timeout": "40s"}})
        env.commit(files={"src/Hello.py": "v1\n"})
        self.once_ok()
        before = env.prod_head()
        env.commit(files={"src/Hello.py": "v2\n"})
        # Hold the daemon's publish; meanwhile a person pushes.
        knob(env.prod, "POST", "/_reset")
        knob(env.prod, "POST", "/_fault",
             {"method": "POST", "path": r"/v1/algorithms/acme/Hello/versions$",
              "delay_ms": 15000, "count": 1})
        daemon = subprocess.Popen([harness.DAEMON, "-f", env.config, "--once"],
                                  env=harness.env_with(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)

        def ours_built():
            head = env.prod_head()
            if head == before:
                return None
            builds = env.prod_api("GET", "/v1/algorithms/acme/Hello/builds?limit=100")
            done = [b for b in builds["results"]
                    if b["commit_sha"] == head and b["status"] == "succeeded"]
            return head if done else None
        ours = harness.wait_for(ours_built, 60, "our build")
        foreign = env.prod_clone(name="foreign")
        with open(os.path.join(foreign, "HOTFIX.md"), "w") as f:
            f.write("pushed by a person\n")
        git("add", "HOTFIX.md", cwd=foreign)
        git("commit", "-q", "-m", "hotfix", cwd=foreign)
        git("push", "-q", "origin", "HEAD:master", cwd=foreign)
        hotfix = env.prod_head()
        out, err = daemon.communicate(timeout=120)
        env.logs.append(out + err)
        self.assertEqual(daemon.returncode, 0, err)
        self.assertIn("going round again", err)
        # The publish named our commit, so the server refused to publish
        # the person's build under our name; we went round and published
        # a commit on top of theirs, with the source's tree.
        published = dict((h, v) for v, h in env.prod_versions())
        self.assertNotIn(ours, published)
        self.assertNotIn(hotfix, published)
        final = env.prod_head()
        self.assertEqual(published.get(final), "0.2.0")
        vmap = env.version_map("hello")
        self.assertEqual([(m["dest_commit"], m["dest_version"]) for m in vmap[1:]],
                         [(final, "0.2.0")])
        work = env.prod_clone()
        self.assertFalse(os.path.exists(os.path.join(work, "HOTFIX.md")))
        self.assertEqual(tree_of(work), expected_tree(env))
        self.assertIn("hotfix", git("log", "--format=%s", cwd=work))

    def test_keys_with_plus_and_slash_never_leak(self):
        env = self.env
        self.assertIn("+", harness.CAROL_KEY)
        self.assertIn("/", harness.CAROL_KEY)
        env.write_config([PAIR])
        env.commit(files={"src/Hello.py": "secret-free\n"})
        self.once_ok("-v")
        self.assertEqual(len(env.prod_versions()), 1)
        mirror_cfg = os.path.join(env.route_dir("hello", "prod/acme/Hello"), "mirror.git",
                                  "config")
        with open(mirror_cfg) as f:
            self.assertNotIn("url", f.read())
        # A wrong key: a clear error, and still no key anywhere.
        with open(os.path.join(env.keys, "prod.key"), "w") as f:
            f.write("simWrongKeyForProd+abc/defgh\n")
        env.commit(files={"src/Hello.py": "again\n"})
        proc = env.once()
        self.assertEqual(proc.returncode, 1)
        self.assertRegex(proc.stderr, r"route hello->prod/acme/Hello: .*(401|authentication)")
        self.assertNotIn("simWrongKeyForProd", proc.stderr)
        st = env.route_state("hello")
        self.assertTrue(st["error"])
        self.assertNotIn("simWrongKeyForProd", json.dumps(st))


class Parallel(unittest.TestCase):
    """workers run routes in parallel; max_parallel bounds each cluster."""

    def builds(self, env, algos):
        spans = []
        for a in algos:
            for b in env.prod_api("GET", "/v1/algorithms/acme/%s/builds" % a)["results"]:
                spans.append((b["started_at"], b["finished_at"], a))
        return sorted(spans)

    def run_three(self, max_parallel):
        with Env(build_seconds=1.0) as env:
            algos = ["Alpha", "Beta", "Gamma"]
            pairs = []
            for a in algos:
                env.create_source(a)
                env.commit(a, files={"src/%s.py" % a: "v1\n"})
                pairs.append({"name": a.lower(), "source": "dev/alice/" + a,
                              "destination": "prod/acme/" + a})
            env.write_config(pairs, top={"workers": 4},
                             cluster_opts={"prod": {"max_parallel": max_parallel}})
            proc = env.once()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            spans = self.builds(env, algos)
            self.assertEqual(len(spans), 3)
            overlaps = sum(1 for x, y in zip(spans, spans[1:]) if y[0] < x[1])
            self.assertEqual(env.scan_for_secrets(), [])
            return overlaps

    def test_max_parallel_one_serialises_builds(self):
        self.assertEqual(self.run_three(1), 0)

    def test_workers_overlap_builds(self):
        self.assertGreater(self.run_three(4), 0)


class ExactlyOnce(unittest.TestCase):
    """A crash at each step that changes the remote side, then a clean run:
    one commit, one push, one publish, one map line."""

    def crash_then_finish(self, point, first=False):
        """Dies at point in the promotion of a second source commit (of the
        first with first=True), then runs again and checks the outcome."""
        with Env() as env:
            env.create_source()
            env.write_config([PAIR])
            want = ["0.1.0"]
            if not first:
                env.commit(files={"src/Hello.py": "v1\n"})
                self.assertEqual(env.once().returncode, 0)
                want = ["0.2.0", "0.1.0"]
            c2 = env.commit(files={"src/Hello.py": "v2\n"})
            proc = env.once(env={"ALGOPROMOTED_FAILPOINT": point})
            env.logs.append(proc.stderr)
            self.assertEqual(proc.returncode, 99, proc.stderr)
            self.assertIn("failpoint " + point, proc.stderr)
            proc = env.once()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            work = env.prod_clone()
            subjects = git("log", "--format=%s", cwd=work).splitlines()
            self.assertEqual(sum(s.startswith("Promote dev/alice/Hello@") for s in subjects),
                             len(want), subjects)
            self.assertEqual([v for v, _ in env.prod_versions()], want)
            vmap = env.version_map("hello")   # every line whole JSON
            self.assertEqual([e["source_commit"] for e in vmap][-1], c2)
            self.assertEqual(len(vmap), len(want))
            self.assertEqual(vmap[-1]["dest_version"], want[0])
            st = env.route_state("hello")
            self.assertEqual((st["phase"], st["last"]["dest_version"]), ("idle", want[0]))
            self.assertIsNone(st["pending"]["source_commit"])
            # Nothing half-written is left in place.
            rdir = env.route_dir("hello", "prod/acme/Hello")
            self.assertEqual([f for f in os.listdir(rdir) if f.startswith("state.json.")], [])
            # And a third run does nothing at all.
            head = env.prod_head()
            self.assertEqual(env.once().returncode, 0)
            self.assertEqual(env.prod_head(), head)
            self.assertEqual(len(env.prod_versions()), len(want))
            self.assertEqual(env.scan_for_secrets(), [])
            return env.logs

    def test_crash_after_fetch(self):
        self.crash_then_finish("after-fetch")

    def test_crash_after_create(self):
        self.crash_then_finish("after-create", first=True)

    def test_crash_after_commit(self):
        self.crash_then_finish("after-commit")

    def test_crash_before_push(self):
        self.crash_then_finish("before-push")

    def test_crash_after_push(self):
        self.crash_then_finish("after-push")

    def test_crash_during_build(self):
        self.crash_then_finish("during-build")

    def test_crash_after_build(self):
        self.crash_then_finish("after-build")

    def test_crash_after_publish(self):
        self.crash_then_finish("after-publish")

    def test_crash_after_record(self):
        self.crash_then_finish("after-record")

    def test_crash_in_the_middle_of_a_state_write(self):
        self.crash_then_finish("mid-state-write")

    def test_crash_in_the_middle_of_a_map_append(self):
        logs = self.crash_then_finish("mid-map-append")
        self.assertTrue(any("a torn last line" in log and ".torn" in log for log in logs))

    def test_interrupted_publish_then_the_source_moves_on(self):
        # The next run promotes the new commit, and first writes down the
        # interrupted one it finds published.
        with Env() as env:
            env.create_source()
            env.write_config([PAIR])
            c1 = env.commit(files={"src/Hello.py": "v1\n"})
            proc = env.once(env={"ALGOPROMOTED_FAILPOINT": "after-publish"})
            self.assertEqual(proc.returncode, 99, proc.stderr)
            c2 = env.commit(files={"src/Hello.py": "v2\n"})
            proc = env.once()
            env.logs.append(proc.stderr)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("the interrupted promotion of %.12s was published as 0.1.0" % c1,
                          proc.stderr)
            self.assertEqual([(e["source_commit"], e["dest_version"])
                              for e in env.version_map("hello")],
                             [(c1, "0.1.0"), (c2, "0.2.0")])
            self.assertEqual([v for v, _ in env.prod_versions()], ["0.2.0", "0.1.0"])
            self.assertEqual(env.scan_for_secrets(), [])

    def test_lock_files_left_in_the_mirror_by_a_kill(self):
        with Env() as env:
            env.create_source()
            env.write_config([PAIR])
            env.commit(files={"src/Hello.py": "v1\n"})
            self.assertEqual(env.once().returncode, 0)
            mirror = os.path.join(env.route_dir("hello", "prod/acme/Hello"), "mirror.git")
            for lock in ("refs/algopromoted/source.lock", "refs/promote/pending.lock"):
                os.makedirs(os.path.dirname(os.path.join(mirror, lock)), exist_ok=True)
                open(os.path.join(mirror, lock), "w").close()
            env.commit(files={"src/Hello.py": "v2\n"})
            proc = env.once()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("removed 2 lock files left in %s by an interrupted run" % mirror,
                          proc.stderr)
            self.assertEqual(len(env.version_map("hello")), 2)

    def test_every_crash_point_is_tested(self):
        import test_data  # the data copy's crash point is tested there
        tested = {m[len("test_crash_"):] for cls in (type(self), test_data.DataTest)
                  for m in dir(cls) if m.startswith("test_crash_")}
        named = {"in_the_middle_of_a_state_write": "mid-state-write",
                 "in_the_middle_of_a_map_append": "mid-map-append"}
        self.assertEqual({named.get(t, t.replace("_", "-")) for t in tested},
                         set(harness.FAILPOINTS))


if __name__ == "__main__":
    harness.main()
