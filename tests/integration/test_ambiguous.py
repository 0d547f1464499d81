#!/usr/bin/env python3
"""Answers that never came: a push or a publish the destination carried
out while algopromoted heard nothing (a dropped connection, an answer
later than the cluster's timeout, a 5xx after the request went out).

The fakecluster's "after" faults do exactly that: the request is carried
out, then its answer is lost, late or replaced. Each test checks that the
daemon looked at the destination instead of repeating blindly, within the
same run: one push, one published version, one true line in the map.
"""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Env, git, knob  # noqa: E402

PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello"}
PUSH = r"/git/acme/Hello\.git/git-receive-pack$"
PUBLISH = r"/v1/algorithms/acme/Hello/versions?$"


def requests(cluster, method, path_re):
    return [r for r in knob(cluster, "GET", "/_requests")
            if r["method"] == method and re.search(path_re, r["path"].split("?")[0])]


class Ambiguous(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.env.create_source()
        # A short timeout, so that "slower than the timeout" costs little.
        self.env.write_config([PAIR], top={"retry_min": "1s"},
                              cluster_opts={"prod": {"timeout": "2s"}})

    def tearDown(self):
        leaks = self.env.scan_for_secrets()
        self.env.close()
        self.assertEqual(leaks, [])

    def promote_with(self, fault):
        """Commits, injects fault on prod, runs one promotion; returns
        (source commit, the run's log)."""
        env = self.env
        sha = env.commit(files={"src/Hello.py": "v1\n"})
        knob(env.prod, "POST", "/_reset")
        knob(env.prod, "POST", "/_fault", dict(fault, count=1, after=True))
        start = time.monotonic()
        proc = env.once()
        self.elapsed = time.monotonic() - start
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return sha, proc.stderr

    def assert_once(self, sha):
        """One published version, mapped to sha, true of the destination."""
        env = self.env
        versions = env.prod_versions()
        self.assertEqual(len(versions), 1, versions)
        vmap = env.version_map("hello")
        self.assertEqual(len(vmap), 1, vmap)
        line = vmap[0]
        self.assertEqual((line["source_commit"], line["dest_version"]),
                         (sha, versions[0][0]))
        self.assertEqual(line["dest_commit"], versions[0][1])
        work = env.prod_clone()
        msg = git("log", "-1", "--format=%B", line["dest_commit"], cwd=work)
        self.assertIn("Promoted-from: dev/alice/Hello@" + sha, msg)
        st = env.route_state("hello")
        self.assertEqual(st["phase"], "idle")
        self.assertIsNone(st["pending"]["source_commit"])

    def test_push_answer_dropped(self):
        sha, log = self.promote_with({"method": "POST", "path": PUSH, "drop": True})
        self.assertIn("looking at the destination", log)
        self.assertIn("landed", log)
        # The push that landed was not repeated.
        pushes = requests(self.env.prod, "POST", PUSH)
        self.assertEqual(len(pushes), 1, pushes)
        self.assert_once(sha)

    def test_push_answer_500_after_the_ref_moved(self):
        sha, log = self.promote_with({"method": "POST", "path": PUSH, "status": 500})
        self.assertIn("landed", log)
        self.assertEqual(len(requests(self.env.prod, "POST", PUSH)), 1)
        self.assert_once(sha)

    def test_push_not_landed_is_pushed_again(self):
        # The connection drops before the server acts (no "after"): the
        # look finds the old head, so the push goes again, once.
        env = self.env
        sha = env.commit(files={"src/Hello.py": "v1\n"})
        knob(env.prod, "POST", "/_reset")
        knob(env.prod, "POST", "/_fault", {"method": "POST", "path": PUSH, "drop": True,
                                           "count": 1})
        proc = env.once()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("did not land; trying again", proc.stderr)
        self.assertEqual([r["status"] for r in requests(env.prod, "POST", PUSH)], [0, 200])
        self.assert_once(sha)

    def test_publish_answer_dropped(self):
        sha, log = self.promote_with({"method": "POST", "path": PUBLISH, "drop": True})
        self.assertIn("looking at the destination's versions", log)
        self.assertIn("landed as 0.1.0", log)
        self.assertEqual(len(requests(self.env.prod, "POST", PUBLISH)), 1)
        self.assert_once(sha)

    def test_publish_answer_later_than_the_timeout(self):
        # The server publishes at once and answers after 4 s; the daemon
        # gives up after 2 s, looks, finds the version and records it in
        # the same run (seconds, not a failed job and a backoff).
        sha, log = self.promote_with({"method": "POST", "path": PUBLISH,
                                      "delay_ms": 4000})
        self.assertIn("landed as 0.1.0", log)
        self.assert_once(sha)
        self.assertLess(self.elapsed, 30)
        # The late answer is logged once the server sends it: one publish.
        harness.wait_for(lambda: requests(self.env.prod, "POST", PUBLISH), 30,
                         "the late publish answer")
        self.assertEqual(len(requests(self.env.prod, "POST", PUBLISH)), 1)

    def test_publish_answer_502_after_publishing(self):
        sha, log = self.promote_with({"method": "POST", "path": PUBLISH, "status": 502})
        self.assertIn("landed as 0.1.0", log)
        self.assert_once(sha)

    def test_create_answer_dropped(self):
        # The destination is created by the run; its answer is lost.
        sha, log = self.promote_with({"method": "POST", "path": r"/v1/algorithms/acme$",
                                      "drop": True})
        self.assertIn("looking before trying again", log)
        creates = requests(self.env.prod, "POST", r"/v1/algorithms/acme$")
        self.assertEqual([r["status"] for r in creates], [0])
        self.assert_once(sha)

    def test_publish_not_landed_is_published_again(self):
        # A 502 before publishing (no "after"): the look finds nothing,
        # so the publish is sent again, once.
        env = self.env
        sha = env.commit(files={"src/Hello.py": "v1\n"})
        knob(env.prod, "POST", "/_reset")
        knob(env.prod, "POST", "/_fault", {"method": "POST", "path": PUBLISH, "status": 502,
                                           "count": 1})
        proc = env.once()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("is not published; publishing again", proc.stderr)
        self.assertEqual([r["status"] for r in requests(env.prod, "POST", PUBLISH)],
                         [502, 200])
        self.assert_once(sha)

    def test_server_publishing_another_commit_is_not_recorded(self):
        # A server that ignores the git_hash we name and publishes another
        # commit: never written into our map as ours.
        env = self.env
        env.commit(files={"src/Hello.py": "v1\n"})
        other = "0123456789abcdef0123456789abcdef01234567"
        knob(env.prod, "POST", "/_reset")
        knob(env.prod, "POST", "/_fault", {
            "method": "POST", "path": PUBLISH, "status": 200, "count": 1,
            "body": {"version_info": {"semantic_version": "0.1.0", "git_hash": other}}})
        proc = env.once()
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("not recorded as ours", proc.stderr)
        self.assertIn("published another commit", proc.stderr)
        self.assertEqual(env.version_map("hello"), [])
        # The next run publishes ours.
        proc = env.once()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(env.version_map("hello")), 1)


if __name__ == "__main__":
    harness.main()
