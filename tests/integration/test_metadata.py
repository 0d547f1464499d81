#!/usr/bin/env python3
"""Metadata follows the code: with `metadata: sync` the destination's
details and settings become the source's (metadata_override over them,
algorithm_environment and algorithm_callability left to each cluster),
before the push that carries the code; a change of metadata alone is
applied with one update and no new version. create-only and off leave a
destination alone after its creation. Observed on the clusters: the
algorithm objects and the prod request log.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import knob, PY_SETTINGS  # noqa: E402
from fakecluster_util import ALICE_KEY  # noqa: E402

PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello"}
DEST = "prod/acme/Hello"
ALGO_PATH = "/v1/algorithms/acme/Hello"


def dev_update(env, details=None, settings=None):
    """A person edits the dev algorithm's metadata (the whole settings, as
    the API wants them)."""
    cur = harness.api(env.dev, ALICE_KEY, "GET", "/v1/algorithms/alice/Hello")
    body = {"details": dict(cur["details"], **(details or {})),
            "settings": dict(cur["settings"], **(settings or {}))}
    harness.api(env.dev, ALICE_KEY, "PUT", "/v1/algorithms/alice/Hello", body)


def prod_requests(env):
    return [(r["method"], r["path"]) for r in knob(env.prod, "GET", "/_requests")]


class MetadataTest(harness.EnvCase):
    def promote_first(self, **pair):
        self.env.write_config([dict(PAIR, **pair)])
        self.env.commit(files={"src/Hello.py": "v1\n"})
        proc = self.env.once()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(self.env.prod_versions()), 1)
        knob(self.env.prod, "POST", "/_reset")

    def prod_algo(self):
        return self.env.prod_api("GET", ALGO_PATH)

    def test_metadata_alone_follows_with_one_update_and_no_version(self):
        self.promote_first()
        dev_update(self.env, details={"summary": "says hello, politely",
                                      "tagline": "greets"},
                   settings={"network_access": "isolated"})
        proc = self.env.once()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        algo = self.prod_algo()
        self.assertEqual(algo["details"]["summary"], "says hello, politely")
        self.assertEqual(algo["details"]["tagline"], "greets")
        self.assertEqual(algo["settings"]["network_access"], "isolated")
        reqs = prod_requests(self.env)
        self.assertEqual([r for r in reqs if r[0] == "PUT"], [("PUT", ALGO_PATH)])
        self.assertFalse([r for r in reqs if r[0] == "POST"], reqs)
        self.assertFalse([r for r in reqs if "receive-pack" in r[1]], reqs)
        self.assertEqual(len(self.env.prod_versions()), 1)
        st = self.env.route_state("hello")
        self.assertEqual(st["metadata"]["fields"],
                         "details.summary, details.tagline, settings.network_access")
        self.assertIn("metadata: updated details.summary", proc.stderr)
        # Nothing changed since: no second update.
        knob(self.env.prod, "POST", "/_reset")
        self.assertEqual(self.env.once().returncode, 0)
        self.assertFalse([r for r in prod_requests(self.env) if r[0] == "PUT"])

    def test_update_goes_before_the_push_of_the_code(self):
        self.promote_first()
        dev_update(self.env, settings={"pipeline_enabled": False})
        self.env.commit(files={"src/Hello.py": "v2\n"})
        proc = self.env.once()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        reqs = prod_requests(self.env)
        put = reqs.index(("PUT", ALGO_PATH))
        push = next(i for i, r in enumerate(reqs) if "git-receive-pack" in r[1] and
                    r[0] == "POST")
        publish = next(i for i, r in enumerate(reqs)
                       if r[0] == "POST" and r[1].startswith(ALGO_PATH + "/version"))
        self.assertLess(put, push)
        self.assertLess(push, publish)
        self.assertIs(self.prod_algo()["settings"]["pipeline_enabled"], False)
        self.assertEqual(len(self.env.prod_versions()), 2)

    def test_override_and_per_cluster_fields_stay(self):
        self.promote_first(metadata_override={"settings": {"network_access": "isolated"},
                                              "details": {"label": "Hello (prod)"}})
        algo = self.prod_algo()
        self.assertEqual(algo["settings"]["network_access"], "isolated")
        self.assertEqual(algo["details"]["label"], "Hello (prod)")
        # A person on prod makes it public; dev changes the summary and
        # asks for full network access: the summary follows, the override
        # holds, callability is prod's own.
        cur = self.prod_algo()
        self.env.prod_api("PUT", ALGO_PATH, {
            "details": cur["details"],
            "settings": dict(cur["settings"], algorithm_callability="public")})
        knob(self.env.prod, "POST", "/_reset")
        dev_update(self.env, details={"summary": "new words", "label": "Hello dev 2"},
                   settings={"network_access": "full",
                             "algorithm_callability": "private"})
        self.assertEqual(self.env.once().returncode, 0)
        algo = self.prod_algo()
        self.assertEqual(algo["details"]["summary"], "new words")
        self.assertEqual(algo["details"]["label"], "Hello (prod)")
        self.assertEqual(algo["settings"]["network_access"], "isolated")
        self.assertEqual(algo["settings"]["algorithm_callability"], "public")
        self.assertEqual(len(self.env.prod_versions()), 1)

    def test_create_alias_still_works(self):
        self.promote_first(create={"details": {"label": "Made by create"}})
        self.assertEqual(self.prod_algo()["details"]["label"], "Made by create")

    def test_create_only_and_off_leave_the_destination_alone(self):
        self.promote_first(metadata="create-only")
        self.assertEqual(self.prod_algo()["details"]["summary"], "says hello")
        dev_update(self.env, details={"summary": "changed at dev"})
        self.env.commit(files={"src/Hello.py": "v2\n"})
        self.assertEqual(self.env.once().returncode, 0)
        self.assertEqual(self.prod_algo()["details"]["summary"], "says hello")
        self.assertFalse([r for r in prod_requests(self.env) if r[0] == "PUT"])
        self.assertEqual(len(self.env.prod_versions()), 2)

    def test_off_never_reads_the_source(self):
        self.promote_first(metadata="off",
                           metadata_override={"settings": dict(PY_SETTINGS)})
        algo = self.prod_algo()
        self.assertEqual(algo["details"]["label"], "Hello")
        self.assertNotIn("summary", algo["details"])

    def test_dry_run_and_plan_show_the_difference(self):
        self.promote_first()
        dev_update(self.env, details={"summary": "for the plan"})
        proc = self.env.once("--dry-run")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn('hello->prod/acme/Hello: would update metadata: '
                      'details.summary "says hello" -> "for the plan"', proc.stdout)
        self.assertFalse([r for r in prod_requests(self.env) if r[0] == "PUT"])
        self.assertEqual(self.prod_algo()["details"]["summary"], "says hello")
        st = self.env.route_state("hello")
        self.assertIsNone(st["metadata"])

    def test_a_failed_update_fails_the_run_before_the_push(self):
        self.promote_first()
        dev_update(self.env, details={"summary": "v2 words"})
        self.env.commit(files={"src/Hello.py": "v2\n"})
        knob(self.env.prod, "POST", "/_fault",
             {"method": "PUT", "path": "^/v1/algorithms/acme/Hello$", "status": 400,
              "count": 1})
        proc = self.env.once()
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("updating the destination's metadata", proc.stderr)
        self.assertFalse([r for r in prod_requests(self.env) if "receive-pack" in r[1]])
        self.assertEqual(len(self.env.prod_versions()), 1)
        # The next run applies it and promotes, once.
        self.assertEqual(self.env.once().returncode, 0)
        self.assertEqual(self.prod_algo()["details"]["summary"], "v2 words")
        self.assertEqual(len(self.env.prod_versions()), 2)


if __name__ == "__main__":
    harness.main()
