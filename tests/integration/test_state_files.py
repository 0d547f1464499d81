#!/usr/bin/env python3
"""The state_dir on a bad day: files owned by the service user edited by
root, corrupt or torn state files, a state_dir that is not a directory.
Each case ends in a one-line message naming the file and what was done,
and nothing promoted or recorded is lost.
"""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Env  # noqa: E402

PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello"}
NOBODY = 65534


def owners(top):
    found = set()
    for root, dirs, files in os.walk(top):
        for name in dirs + files + ["."]:
            found.add(os.lstat(os.path.join(root, name)).st_uid)
    return found


class StateFiles(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.env.create_source()
        self.env.write_config([PAIR])

    def tearDown(self):
        leaks = self.env.scan_for_secrets()
        self.env.close()
        self.assertEqual(leaks, [])

    def promote_once(self, files=None):
        sha = self.env.commit(files=files or {"src/Hello.py": "v1\n"})
        proc = self.env.once()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return sha, proc.stderr

    @unittest.skipUnless(os.geteuid() == 0, "needs root to own files as another user")
    def test_root_edit_keeps_the_service_users_files(self):
        env = self.env
        env.commit(files={"BUILD_FAIL": "boom\n"})
        self.assertEqual(env.once().returncode, 1)
        for root, dirs, files in os.walk(env.state):
            for name in dirs + files:
                os.lchown(os.path.join(root, name), NOBODY, NOBODY)
        os.chown(env.state, NOBODY, NOBODY)
        r = env.ctl("retry", "hello")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("failed state cleared", r.stdout)
        self.assertIsNone(env.route_state("hello")["failed_source_commit"])
        self.assertEqual(owners(env.state), {NOBODY})

    @unittest.skipUnless(os.geteuid() == 0, "needs root to run as another user")
    def test_another_user_is_sent_to_the_owner(self):
        env = self.env
        env.commit(files={"BUILD_FAIL": "boom\n"})
        self.assertEqual(env.once().returncode, 1)
        # nobody may read the configuration, not the state.
        os.chmod(env.dir, 0o755)
        os.chmod(env.config, 0o644)
        proc = subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
                               "--clear-groups", harness.CTL, "-f", env.config, "retry",
                               "hello"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=60, env=harness.env_with())
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertEqual(proc.stderr.strip().count("\n"), 0, proc.stderr)
        self.assertIn("%s belongs to root (uid 0); run this as that user or as root"
                      % env.state, proc.stderr)
        self.assertEqual(env.route_state("hello")["phase"], "failed")

    def test_corrupt_state_is_moved_aside_and_the_promotion_goes_on(self):
        env = self.env
        sha, _ = self.promote_once()
        path = os.path.join(env.route_dir("hello", "prod/acme/Hello"), "state.json")
        with open(path, "w") as f:
            f.write('{"phase": "idle", "last": {"source_commit": 4')  # truncated
        sha2 = env.commit(files={"src/Hello.py": "v2\n"})
        proc = env.once()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = [x for x in proc.stderr.splitlines() if "is corrupt" in x]
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertIn("%s is corrupt (not valid JSON); moved aside to %s.corrupt-"
                      % (path, path), lines[0])
        aside = [f for f in os.listdir(os.path.dirname(path)) if ".corrupt-" in f]
        self.assertEqual(len(aside), 1)
        # The map kept the first promotion and got the second.
        self.assertEqual([e["source_commit"] for e in env.version_map("hello")], [sha, sha2])
        self.assertEqual(len(env.prod_versions()), 2)

    def test_garbage_in_the_middle_of_the_map_is_skipped_and_counted(self):
        env = self.env
        sha, _ = self.promote_once()
        path = os.path.join(env.route_dir("hello", "prod/acme/Hello"), "versions.jsonl")
        with open(path, "a") as f:
            f.write("this is not json\n")
        sha2 = env.commit(files={"src/Hello.py": "v2\n"})
        self.assertEqual(env.once().returncode, 0)
        r = env.ctl("--json", "versions", "hello")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([e["source_commit"] for e in json.loads(r.stdout)], [sha, sha2])
        self.assertIn("1 unreadable line", r.stderr)

    def damage_mirror_then_promote(self, damage):
        """One promotion, damage(mirror path), a second promotion: the
        mirror is moved aside with one warning naming it, and the second
        promotion completes from a fresh one."""
        env = self.env
        sha, _ = self.promote_once()
        mirror = os.path.join(env.route_dir("hello", "prod/acme/Hello"), "mirror.git")
        damage(mirror)
        sha2 = env.commit(files={"src/Hello.py": "v2\n"})
        proc = env.once()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        warned = [x for x in proc.stderr.splitlines() if "moved aside to" in x]
        self.assertEqual(len(warned), 1, proc.stderr)
        self.assertIn("mirror %s" % mirror, warned[0])
        self.assertIn("%s.corrupt, fetching afresh" % mirror, warned[0])
        self.assertTrue(os.path.isdir(mirror + ".corrupt"))
        self.assertEqual([e["source_commit"] for e in env.version_map("hello")], [sha, sha2])
        self.assertEqual(len(env.prod_versions()), 2)
        return warned[0]

    def test_mirror_with_a_lost_pack(self):
        def lose_packs(mirror):
            packs = os.path.join(mirror, "objects", "pack")
            gone = [f for f in os.listdir(packs) if f.endswith((".pack", ".idx"))]
            self.assertTrue(gone)
            for f in gone:
                os.remove(os.path.join(packs, f))
        self.assertIn("is damaged", self.damage_mirror_then_promote(lose_packs))

    def test_mirror_with_a_corrupt_object(self):
        def corrupt(mirror):
            packs = os.path.join(mirror, "objects", "pack")
            for f in os.listdir(packs):
                if f.endswith(".pack"):
                    path = os.path.join(packs, f)
                    size = os.path.getsize(path)
                    with open(path, "r+b") as fh:   # scribble over the objects
                        fh.seek(12)
                        fh.write(b"\xff" * (size - 12 - 20))
        self.damage_mirror_then_promote(corrupt)

    def test_mirror_that_is_not_a_repository(self):
        def wreck(mirror):
            import shutil
            shutil.rmtree(mirror)
            os.makedirs(os.path.join(mirror, "junk"))
        self.damage_mirror_then_promote(wreck)

    def test_map_rebuilt_from_the_destination(self):
        env = self.env
        for i in range(5):
            self.promote_once(files={"src/Hello.py": "v%d\n" % i})
        # A version a person published by hand is not ours to map.
        work = env.prod_clone(name="by-hand")
        with open(os.path.join(work, "HOTFIX.md"), "w") as f:
            f.write("by hand\n")
        harness.git("add", "HOTFIX.md", cwd=work)
        harness.git("commit", "-q", "-m", "hotfix", cwd=work)
        harness.git("push", "-q", "origin", "HEAD:master", cwd=work)
        sha = harness.git("rev-parse", "HEAD", cwd=work)
        env.wait_build(env.prod, harness.CAROL_KEY, "acme", "Hello", sha)
        env.prod_api("POST", "/v1/algorithms/acme/Hello/versions",
                     {"version_info": {"version_type": "minor"}})
        before = env.version_map("hello")
        self.assertEqual(len(before), 5)
        path = os.path.join(env.route_dir("hello", "prod/acme/Hello"), "versions.jsonl")
        os.remove(path)
        r = env.ctl("versions", "--rebuild", "hello")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("rebuilt %s: 5 lines from 6 published versions" % path, r.stdout)
        after = env.version_map("hello")
        keys = ("pair", "source", "source_commit", "destination", "dest_commit",
                "dest_version")
        self.assertEqual([{k: e[k] for k in keys} for e in after],
                         [{k: e[k] for k in keys} for e in before])
        # Run again over a map that exists: the old one is kept aside.
        r = env.ctl("versions", "--rebuild", "hello")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("the old map kept as %s.before-rebuild-" % path, r.stdout)
        self.assertEqual(len(env.version_map("hello")), 5)
        # And the daemon goes on from it: the hand-made head is drift,
        # held (on_drift: hold), and nothing is mapped or published.
        self.assertEqual(env.once().returncode, 0)
        self.assertEqual(env.route_state("hello")["drift"]["dest_commit"], sha)
        self.assertEqual(len(env.version_map("hello")), 5)
        self.assertEqual(len(env.prod_versions()), 6)

    def test_rebuild_refused_while_the_daemon_runs(self):
        env = self.env
        self.promote_once()
        d = harness.Daemon(env)
        try:
            d.wait_ready()
            r = env.ctl("versions", "--rebuild", "hello")
            self.assertEqual(r.returncode, 1)
            self.assertIn("algopromoted holds %s" % env.state, r.stderr)
        finally:
            d.stop()
        self.assertEqual(len(env.version_map("hello")), 1)

    def test_state_dir_that_is_a_file(self):
        env = self.env
        with open(env.state, "w") as f:
            f.write("not a directory\n")
        env.commit()
        proc = env.once()
        self.assertNotEqual(proc.returncode, 0)
        errors = [x for x in proc.stderr.splitlines() if env.state in x]
        self.assertTrue(errors, proc.stderr)
        self.assertIn("Not a directory", errors[0])


if __name__ == "__main__":
    harness.main()
