#!/usr/bin/env python3
"""Tests of the emulated Algorithmia cluster, driven with the curl and git CLIs.

python3 tests/fakes/fakecluster/test_fakecluster.py [unittest options]
The last output line is `N passed, N failed`; the exit status is 0 only when all passed.
"""

import hashlib
import itertools
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakecluster_util import (ACME, ALICE, ALICE_KEY, BOB, BOB_KEY,  # noqa: E402
                              DEFAULT_USERS, FAKECLUSTER, start_cluster)


def tool_env():
    """curl and git must ignore the user's config, proxies and credential prompts."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GIT_") and k.lower() not in ("http_proxy", "https_proxy",
                                                              "all_proxy", "ssh_askpass")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0",
               GIT_AUTHOR_NAME="Test Author", GIT_AUTHOR_EMAIL="author@example.com",
               GIT_COMMITTER_NAME="Test Committer", GIT_COMMITTER_EMAIL="committer@example.com",
               no_proxy="*", NO_PROXY="*")
    return env


ENV = tool_env()
NAMES = itertools.count(1)
CLUSTERS = {}  # started once by setUpModule: "dev", "prod" (builds take 0.3 s)
STATE_ROOT = None
CREATE_SETTINGS = {"language": "python3-1", "environment": "cpu", "license": "apl",
                   "network_access": "full", "pipeline_enabled": True,
                   "source_visibility": "closed"}
UPDATE_SETTINGS = {"license": "apl", "network_access": "full", "pipeline_enabled": True,
                   "source_visibility": "closed"}  # what an update must carry (spec 3.4)
VARIANT_USERS = [  # a --users file: carol and dave share org "labs", erin has none
    {"name": "carol", "key": "simCarolKey0+aaaa/bbbbccccdd", "orgs": ["labs"]},
    {"name": "dave", "key": "simDaveKey00+eeee/ffffgggghh", "orgs": ["labs", "x"]},
    {"name": "erin", "key": "simErinKey00+iiii/jjjjkkkkll"},
]


def setUpModule():
    global STATE_ROOT
    STATE_ROOT = tempfile.mkdtemp(prefix="fakecluster-test-")
    for name in ("dev", "prod"):
        CLUSTERS[name] = start_cluster(os.path.join(STATE_ROOT, name), build_seconds=0.3)


def tearDownModule():
    for cluster in CLUSTERS.values():
        cluster.stop()
    shutil.rmtree(STATE_ROOT, ignore_errors=True)


def unique_name(prefix="algo"):
    return "%s%d_%s" % (prefix, next(NAMES), uuid.uuid4().hex[:6])


class Resp:
    def __init__(self, exit_code, status, headers, body, stderr):
        self.exit_code = exit_code
        self.status = status
        self.headers = headers  # lower-case name -> list of values
        self.body = body
        self.stderr = stderr

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return (self.headers.get(name.lower()) or [None])[0]


def curl(url, method="GET", key=ALICE_KEY, auth="simple", body=None, headers=(), args=()):
    """One request with the curl CLI. auth: "simple", "bare", "none" or a raw header value.
    body: a JSON value, or bytes sent as they are."""
    with tempfile.NamedTemporaryFile() as out:
        cmd = ["curl", "-sS", "--noproxy", "*", "-X", method, "-o", out.name,
               "-w", "%{http_code}\n%{header_json}"]
        if auth == "simple":
            cmd += ["-H", "Authorization: Simple " + key]
        elif auth == "bare":
            cmd += ["-H", "Authorization: " + key]
        elif auth != "none":
            cmd += ["-H", "Authorization: " + auth]
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            cmd += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        for header in headers:
            cmd += ["-H", header]
        proc = subprocess.run(cmd + list(args) + [url], input=data, capture_output=True,
                              env=ENV, timeout=60)
        status, _, header_json = proc.stdout.decode().partition("\n")
        return Resp(proc.returncode, int(status or 0),
                    json.loads(header_json) if header_json.strip() else {},
                    out.read(), proc.stderr.decode())


def git(*args, cwd=None, check=True, env=None):
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(ENV, **(env or {})), timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError("git %s failed (%d):\n%s" % (" ".join(args), proc.returncode,
                                                          proc.stderr))
    return proc


class FakeClusterCase(unittest.TestCase):
    """Helpers. `cluster` is the class's default cluster: "dev", or one of its own
    started with `cluster_options` (keyword arguments of start_cluster)."""

    cluster_options = None

    @classmethod
    def setUpClass(cls):
        if cls.cluster_options is not None:
            CLUSTERS[cls.__name__] = start_cluster(os.path.join(STATE_ROOT, cls.__name__),
                                                   **cls.cluster_options)

    @classmethod
    def tearDownClass(cls):
        if cls.cluster_options is not None:
            CLUSTERS.pop(cls.__name__).stop()

    @property
    def cluster(self):
        return CLUSTERS["dev" if self.cluster_options is None else type(self).__name__]

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fctest-", dir=STATE_ROOT)
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def api(self, method, path, cluster=None, **kw):
        return curl((cluster or self.cluster).url + path, method, **kw)

    def assertError(self, resp, status, code):
        self.assertEqual(resp.status, status, resp.body)
        self.assertEqual(resp.json()["error"]["code"], code, resp.body)
        self.assertIsInstance(resp.json()["error"]["message"], str)

    def create(self, name=None, owner=ALICE, key=ALICE_KEY, cluster=None):
        name = name or unique_name()
        resp = self.api("POST", "/v1/algorithms/" + owner, cluster, key=key,
                        body={"name": name, "details": {"label": name},
                              "settings": CREATE_SETTINGS})
        self.assertEqual(resp.status, 200, resp.body)
        return name

    def clone(self, owner, algo, user=ALICE, key=ALICE_KEY, version=None, cluster=None):
        path = os.path.join(self.tmp, unique_name("clone"))
        url = (cluster or self.cluster).git_url(owner, algo, user, key, version)
        git("clone", "--quiet", url, path)
        return path

    @staticmethod
    def commit(repo, files, message="change"):
        """Write files ({relative path: str or bytes}), commit all; returns the sha."""
        for rel, content in files.items():
            path = os.path.join(repo, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(content if isinstance(content, bytes) else content.encode())
        git("add", "--all", cwd=repo)
        git("commit", "--quiet", "-m", message, cwd=repo)
        return git("rev-parse", "HEAD", cwd=repo).stdout.strip()

    def builds(self, owner, algo, cluster=None, key=ALICE_KEY):
        resp = self.api("GET", "/v1/algorithms/%s/%s/builds" % (owner, algo), cluster, key=key)
        self.assertEqual(resp.status, 200, resp.body)
        return resp.json()["results"]

    def wait_build(self, owner, algo, sha, cluster=None, timeout=15):
        """Poll the builds API until the build of sha has left in-progress."""
        deadline = time.monotonic() + timeout
        while True:
            build = next(b for b in self.builds(owner, algo, cluster) if b["commit_sha"] == sha)
            if build["status"] != "in-progress":
                return build
            self.assertLess(time.monotonic(), deadline, "build of %s never finished" % sha)
            time.sleep(0.05)  # poll interval

    def publish(self, owner, algo, version_type="minor", cluster=None, path="versions"):
        return self.api("POST", "/v1/algorithms/%s/%s/%s" % (owner, algo, path), cluster,
                        body={"version_info": {"version_type": version_type,
                                               "release_notes": "notes"}})

    def published_version(self, owner, algo, version_type="minor", cluster=None):
        resp = self.publish(owner, algo, version_type, cluster)
        self.assertEqual(resp.status, 200, resp.body)
        return resp.json()["version_info"]["semantic_version"]


class StartupTest(FakeClusterCase):
    """Bullet 1: --port 0 prints the port, binds 127.0.0.1 only, clean SIGTERM."""

    def test_port_line_and_loopback_only(self):
        proc = subprocess.Popen([sys.executable, FAKECLUSTER, "--port", "0", "--state",
                                 os.path.join(self.tmp, "s")], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        try:
            line = proc.stdout.readline().decode()
            self.assertRegex(line, r"^[0-9]+\n$")
            port = int(line)
            listening = []
            with open("/proc/net/tcp", encoding="ascii") as f:
                for row in list(f)[1:]:
                    local, state = row.split()[1], row.split()[3]
                    if state == "0A" and int(local.split(":")[1], 16) == port:
                        listening.append(local.split(":")[0])
            self.assertEqual(listening, ["0100007F"])  # 127.0.0.1
            resp = curl("http://127.0.0.1:%d/v1/algorithms/alice/none" % port)
            self.assertError(resp, 404, 1001)
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(10), 0)
            proc.stdout.close()

    def test_default_keys_have_the_real_shape(self):
        for key in (ALICE_KEY, BOB_KEY):
            self.assertEqual(len(key), 28)
            self.assertTrue(key.startswith("sim"))
            self.assertIn("+", key)
            self.assertIn("/", key)

    def test_bad_users_file_and_corrupt_state_refused(self):
        bad_users = os.path.join(self.tmp, "users.json")
        with open(bad_users, "w", encoding="utf-8") as f:
            json.dump({"users": [{"name": "x", "key": "k"}, {"name": "y", "key": "k"}]}, f)
        with self.assertRaisesRegex(RuntimeError, "duplicate"):
            start_cluster(os.path.join(self.tmp, "a"), users=bad_users)
        state = os.path.join(self.tmp, "b")
        os.makedirs(state)
        with open(os.path.join(state, "state.json"), "w", encoding="utf-8") as f:
            f.write("{not json")
        with self.assertRaisesRegex(RuntimeError, "state.json"):
            start_cluster(state)
        with open(os.path.join(state, "state.json"), encoding="utf-8") as f:
            self.assertEqual(f.read(), "{not json")  # never silently reset


class AuthTest(FakeClusterCase):
    """Bullet 2, auth: `Simple KEY` or a bare KEY, else 401 code 2002."""

    def test_simple_and_bare_key_accepted(self):
        name = self.create()
        path = "/v1/algorithms/alice/" + name
        self.assertEqual(self.api("GET", path, auth="simple").status, 200)
        self.assertEqual(self.api("GET", path, auth="bare").status, 200)
        self.assertEqual(self.api("GET", path, auth="simple " + ALICE_KEY).status, 200)

    def test_missing_wrong_or_other_scheme_refused(self):
        name = self.create()
        path = "/v1/algorithms/alice/" + name
        for auth, key in (("none", ALICE_KEY), ("simple", "simWrongKey+abc/defghijklmnopq"),
                          ("bare", ALICE_KEY[:-1]), ("Bearer " + ALICE_KEY, ALICE_KEY),
                          ("Basic YWxpY2U6eA==", ALICE_KEY)):
            self.assertError(self.api("GET", path, auth=auth, key=key), 401, 2002)


class CreateTest(FakeClusterCase):
    """Bullet 2, create: fields, name rule, template repo, exists, owner."""

    def test_create_answers_the_algorithm_object(self):
        name = unique_name()
        resp = self.api("POST", "/v1/algorithms/alice",
                        body={"name": name, "details": {"label": "Label", "tagline": "t"},
                              "settings": CREATE_SETTINGS})
        self.assertEqual(resp.status, 200, resp.body)
        algo = resp.json()
        uuid.UUID(algo["id"])
        self.assertEqual(algo["name"], name)
        self.assertEqual(algo["details"], {"label": "Label", "tagline": "t"})
        self.assertEqual(algo["settings"]["algorithm_callability"], "private")
        self.assertEqual(algo["settings"]["language"], "python3-1")
        self.assertEqual(algo["source"]["scm"]["id"], "internal")
        self.assertEqual(algo["resource_type"], "algorithm")
        for absent in ("version_info", "build", "compilation", "error"):
            self.assertNotIn(absent, algo)

    def test_template_commit_and_no_build(self):
        name = self.create()
        repo = self.clone(ALICE, name)
        files = git("ls-files", cwd=repo).stdout.split()
        self.assertEqual(sorted(files), sorted([
            ".adk", "algorithmia.conf", "requirements.txt", "src/__init__.py",
            "src/%s.py" % name, "src/%s_test.py" % name]))
        with open(os.path.join(repo, "algorithmia.conf"), encoding="utf-8") as f:
            self.assertEqual(json.load(f), {"username": ALICE, "algoname": name,
                                            "langauge": "python3.7"})
        with open(os.path.join(repo, "src", name + ".py"), encoding="utf-8") as f:
            self.assertIn("def apply(input)", f.read())
        log = git("log", "--format=%an <%ae>", cwd=repo).stdout.split("\n")
        self.assertEqual(log[0], "Algorithmia <noreply@algorithmia.com>")
        self.assertEqual(git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo).stdout.strip(),
                         "master")
        self.assertEqual(self.builds(ALICE, name), [])

    def test_name_rule(self):
        for bad in ("1abc", "a-b", "a b", "", "_abc", "abc.d", 7):
            resp = self.api("POST", "/v1/algorithms/alice",
                            body={"name": bad, "details": {"label": "x"},
                                  "settings": CREATE_SETTINGS})
            self.assertError(resp, 400, 2015)
        self.create("Ok_Name_%s_9" % uuid.uuid4().hex[:6])

    def test_required_fields(self):
        def create(body):
            return self.api("POST", "/v1/algorithms/alice", body=dict(body, name=unique_name()))

        label = {"details": {"label": "x"}}
        self.assertError(create({"settings": CREATE_SETTINGS}), 400, 2015)
        self.assertError(create(dict(label, settings={"license": "apl"})), 400, 4001)
        self.assertError(create(dict(label, settings={"language": "cobol",
                                                      "environment": "cpu"})), 400, 4001)
        self.assertError(create(dict(label, settings={"language": "python3-1"})), 400, 2015)
        self.assertError(create(dict(label, settings=dict(CREATE_SETTINGS, license="bsd"))),
                         400, 2015)
        self.assertError(create(dict(label, settings=dict(CREATE_SETTINGS, license="mit"))),
                         400, 2015)  # closed source needs apl
        self.assertError(create(dict(label, settings=CREATE_SETTINGS, details="x")), 400, 2015)
        for runtime in ({"package_set": "python38"},
                        {"algorithm_environment": str(uuid.uuid4())}):
            self.assertEqual(create(dict(label, settings=runtime)).status, 200)

    def test_invalid_json(self):
        self.assertError(self.api("POST", "/v1/algorithms/alice", body=b'{"name": '), 400, 2013)
        self.assertError(self.api("POST", "/v1/algorithms/alice", body=b"[1]"), 400, 2015)

    def test_exists_gives_code_1002(self):
        name = self.create()
        resp = self.api("POST", "/v1/algorithms/alice",
                        body={"name": name, "details": {"label": "x"},
                              "settings": CREATE_SETTINGS})
        self.assertError(resp, 400, 1002)

    def test_owner_must_be_caller_or_one_of_its_orgs(self):
        body = {"name": unique_name(), "details": {"label": "x"}, "settings": CREATE_SETTINGS}
        self.assertError(self.api("POST", "/v1/algorithms/alice", key=BOB_KEY, body=body),
                         403, 2001)
        self.assertError(self.api("POST", "/v1/algorithms/" + ACME, key=BOB_KEY, body=body),
                         403, 2001)
        self.assertEqual(self.api("POST", "/v1/algorithms/" + ACME, body=body).status, 200)


class AlgorithmTest(FakeClusterCase):
    """Bullet 2: get, update, delete, scm/status, routing errors."""

    def test_get_unknown_and_not_yours(self):
        self.assertError(self.api("GET", "/v1/algorithms/alice/nosuch"), 404, 1001)
        name = self.create()
        self.assertError(self.api("GET", "/v1/algorithms/alice/" + name, key=BOB_KEY), 403, 2001)
        self.assertError(self.api("GET", "/v1/algorithms/alice/nosuch", key=BOB_KEY), 403, 2001)

    def test_org_membership_gives_access(self):
        name = self.create(owner=ACME)
        resp = self.api("GET", "/v1/algorithms/%s/%s" % (ACME, name))
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.json()["name"], name)
        self.assertError(self.api("GET", "/v1/algorithms/%s/%s" % (ACME, name), key=BOB_KEY),
                         403, 2001)
        self.clone(ACME, name)  # alice, as a member of the owning org

    def test_update_merges(self):
        name = self.create()
        path = "/v1/algorithms/alice/" + name
        resp = self.api("PUT", path, body={"details": {"summary": "new"},
                                           "settings": dict(UPDATE_SETTINGS,
                                                            network_access="isolated"),
                                           "version_info": {}, "source": {},
                                           "scmsCredentials": {}})
        self.assertEqual(resp.status, 200, resp.body)
        algo = resp.json()
        self.assertEqual(algo["details"], {"label": name, "summary": "new"})
        self.assertEqual(algo["settings"]["network_access"], "isolated")
        self.assertEqual(algo["settings"]["language"], "python3-1")
        self.assertNotIn("scmsCredentials", self.api("GET", path).json())
        self.assertEqual(self.api("GET", path).json()["details"]["summary"], "new")
        self.assertError(self.api("PUT", path, body={"settings": dict(UPDATE_SETTINGS,
                                                                      license="x")}), 400, 2015)
        self.assertError(self.api("PUT", path, key=BOB_KEY, body={}), 403, 2001)

    def test_update_requires_the_documented_settings(self):
        name = self.create()
        path = "/v1/algorithms/alice/" + name
        before = self.api("GET", path).json()
        for field in UPDATE_SETTINGS:
            settings = {k: v for k, v in UPDATE_SETTINGS.items() if k != field}
            resp = self.api("PUT", path, body={"details": {"summary": "lost"},
                                               "settings": settings})
            self.assertError(resp, 400, 2015)
            self.assertIn("settings." + field, resp.json()["error"]["message"])
        resp = self.api("PUT", path, body={"details": {"summary": "lost"}})
        self.assertError(resp, 400, 2015)
        self.assertIn("settings.license", resp.json()["error"]["message"])
        resp = self.api("PUT", path, body={"settings": dict(UPDATE_SETTINGS,
                                                            language="python3")})
        self.assertError(resp, 400, 2015)
        self.assertIn("settings.environment", resp.json()["error"]["message"])
        self.assertEqual(self.api("GET", path).json(), before)  # nothing was changed
        resp = self.api("PUT", path, body={"settings": dict(
            UPDATE_SETTINGS, language="python3", environment="gpu", license="mit",
            source_visibility="open", pipeline_enabled=False)})
        self.assertEqual(resp.status, 200, resp.body)
        settings = resp.json()["settings"]
        self.assertEqual((settings["language"], settings["environment"], settings["license"],
                          settings["source_visibility"], settings["pipeline_enabled"]),
                         ("python3", "gpu", "mit", "open", False))
        self.assertEqual(settings["algorithm_callability"], "private")  # merged, kept

    def test_delete_then_recreate_starts_fresh(self):
        name = self.create()
        path = "/v1/algorithms/alice/" + name
        first_id = self.api("GET", path).json()["id"]
        repo = self.clone(ALICE, name)
        sha = self.commit(repo, {"a.txt": "a"})
        git("push", "--quiet", "origin", "master", cwd=repo)
        self.assertEqual(len(self.builds(ALICE, name)), 1)
        resp = self.api("DELETE", path)
        self.assertEqual(resp.status, 204)
        self.assertEqual(resp.body, b"")
        self.assertError(self.api("GET", path), 404, 1001)
        self.assertNotEqual(git("ls-remote", self.cluster.git_url(ALICE, name, ALICE, ALICE_KEY),
                                check=False).returncode, 0)
        self.create(name)
        self.assertNotEqual(self.api("GET", path).json()["id"], first_id)
        self.assertEqual(self.builds(ALICE, name), [])
        fresh = self.clone(ALICE, name)
        self.assertEqual(git("rev-list", "--count", "HEAD", cwd=fresh).stdout.strip(), "1")
        self.assertNotEqual(git("rev-parse", "HEAD", cwd=fresh).stdout.strip(), sha)

    def test_scm_status(self):
        name = self.create()
        resp = self.api("GET", "/v1/algorithms/alice/%s/scm/status" % name)
        self.assertEqual(resp.json(), {"scm_connection_status": "active"})

    def test_unknown_endpoint_and_method(self):
        name = self.create()
        self.assertError(self.api("GET", "/v1/nothing"), 404, 5005)
        self.assertError(self.api("PATCH", "/v1/algorithms/alice/" + name), 405, 6001)


class AcceptanceTest(FakeClusterCase):
    """The issue's acceptance list, on two clusters "dev" and "prod"."""

    def test_promote_dev_to_prod_publishes_0_1_0_then_0_2_0(self):
        dev, prod = CLUSTERS["dev"], CLUSTERS["prod"]
        name = unique_name("promo")
        self.create(name, cluster=dev)
        self.create(name, cluster=prod)
        self.assertTrue("/" in ALICE_KEY and "+" in ALICE_KEY)
        self.assertIn("%2F", dev.git_url(ALICE, name, ALICE, ALICE_KEY))
        self.assertIn("%2B", dev.git_url(ALICE, name, ALICE, ALICE_KEY))
        src = self.clone(ALICE, name, cluster=dev)
        dst = self.clone(ALICE, name, cluster=prod)
        for round_, expected in ((1, "0.1.0"), (2, "0.2.0")):
            sha = self.commit(src, {"src/%s.py" % name: "def apply(x):\n    return %d\n" % round_})
            git("push", "--quiet", "origin", "master", cwd=src)
            self.assertEqual(self.wait_build(ALICE, name, sha, dev)["status"], "succeeded")
            self.assertEqual(self.published_version(ALICE, name, cluster=dev), expected)
            # promote: copy the work tree, commit, push, wait, publish
            for entry in os.listdir(src):
                if entry != ".git":
                    dst_entry = os.path.join(dst, entry)
                    if os.path.isdir(dst_entry):
                        shutil.rmtree(dst_entry)
                    copy = shutil.copytree if os.path.isdir(os.path.join(src, entry)) \
                        else shutil.copy
                    copy(os.path.join(src, entry), dst_entry)
            prod_sha = self.commit(dst, {}, "promote %s" % sha)
            git("push", "--quiet", "origin", "master", cwd=dst)
            self.assertEqual(self.wait_build(ALICE, name, prod_sha, prod)["status"], "succeeded")
            self.assertEqual(self.published_version(ALICE, name, cluster=prod), expected)
        resp = self.api("GET", "/v1/algorithms/alice/%s/versions?published=true" % name,
                        prod)
        self.assertEqual([v["version_info"]["semantic_version"] for v in resp.json()["results"]],
                         ["0.2.0", "0.1.0"])

    def test_build_fail_fails_the_build_and_publish_is_refused(self):
        name = self.create()
        repo = self.clone(ALICE, name)
        sha = self.commit(repo, {"BUILD_FAIL": "please fail\n"})
        git("push", "--quiet", "origin", "master", cwd=repo)
        in_progress = self.builds(ALICE, name)[0]
        self.assertEqual((in_progress["commit_sha"], in_progress["status"]), (sha, "in-progress"))
        build = self.wait_build(ALICE, name, sha)
        self.assertEqual(build["status"], "failed")
        self.assertIsNotNone(build["finished_at"])
        logs = self.api("GET", "/v1/algorithms/alice/%s/builds/%s/logs"
                        % (name, build["build_id"])).json()["logs"]
        self.assertIn("BUILD_FAIL", logs)
        self.assertIn(sha, logs)
        resp = self.publish(ALICE, name)
        self.assertError(resp, 400, 2012)
        self.assertIn("build failed", resp.json()["error"]["message"])
        self.assertEqual(self.api("GET", "/v1/algorithms/alice/%s/versions" % name)
                         .json()["results"], [])

    def test_wrong_key_refused_by_api_and_git(self):
        name = self.create()
        wrong = "simWrongKey+abc/defghijklmnopq"
        self.assertError(self.api("GET", "/v1/algorithms/alice/" + name, key=wrong), 401, 2002)
        proc = git("clone", self.cluster.git_url(ALICE, name, ALICE, wrong),
                   os.path.join(self.tmp, "w"), check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("Authentication failed", proc.stderr)

    def test_injected_500_is_seen_once(self):
        name = self.create()
        path = "/v1/algorithms/alice/%s/builds" % name
        self.api("POST", "/_reset", auth="none")
        fault = self.api("POST", "/_fault", auth="none",
                         body={"method": "GET", "path": "/builds$", "status": 500})
        self.assertEqual(fault.status, 200, fault.body)
        self.assertError(self.api("GET", path), 500, 5001)
        self.assertEqual(self.api("GET", path).status, 200)
        log = self.api("GET", "/_requests", auth="none").json()
        self.assertEqual([(e["method"], e["path"], e["status"]) for e in log],
                         [("GET", path, 500), ("GET", path, 200)])


class PublishTest(FakeClusterCase):
    """Bullet 2: compile and publish (semantic versions, refusals), on instant builds."""

    cluster_options = {"build_seconds": 0}

    def compile(self, name):
        resp = self.api("POST", "/v1/algorithms/alice/%s/compile" % name, body={})
        self.assertEqual(resp.status, 200, resp.body)
        return resp.json()

    def test_compile_builds_the_head(self):
        name = self.create()
        head = git("ls-remote", self.cluster.git_url(ALICE, name, ALICE, ALICE_KEY),
                   "refs/heads/master").stdout.split()[0]
        algo = self.compile(name)
        self.assertEqual(algo["version_info"]["git_hash"], head)
        self.assertEqual(algo["build"]["commit_sha"], head)
        self.assertEqual(algo["build"]["status"], "succeeded")
        self.assertEqual(algo["compilation"]["successful"], True)
        self.assertEqual(len(self.builds(ALICE, name)), 1)
        resp = self.api("POST", "/v1/algorithms/alice/%s/compile" % name)  # no body at all
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(len(self.builds(ALICE, name)), 2)

    def test_semantic_versions_increment_from_the_last_published(self):
        name = self.create()
        steps = [("major", "1.0.0"), ("minor", "1.1.0"), ("revision", "1.1.1"),
                 ("patch", "1.1.2"), ("major", "2.0.0"), ("minor", "2.1.0")]
        for version_type, expected in steps:
            self.compile(name)
            self.assertEqual(self.published_version(ALICE, name, version_type), expected)
        self.compile(name)
        resp = self.api("POST", "/v1/algorithms/alice/%s/versions" % name)  # empty: minor
        self.assertEqual(resp.json()["version_info"]["semantic_version"], "2.2.0")
        self.compile(name)
        resp = self.publish(ALICE, name, "revision", path="version")  # singular path
        self.assertEqual(resp.json()["version_info"]["semantic_version"], "2.2.1")
        self.compile(name)
        resp = self.api("POST", "/v1/algorithms/alice/%s/versions" % name,
                        body={"version_info": {"type": "default"}})
        self.assertEqual(resp.json()["version_info"]["semantic_version"], "2.3.0")
        self.compile(name)
        resp = self.api("POST", "/v1/algorithms/alice/%s/versions" % name,
                        body={"version_info": {"semantic_version": "2.3.0"}})
        self.assertError(resp, 400, 2015)
        resp = self.api("POST", "/v1/algorithms/alice/%s/versions" % name,
                        body={"version_info": {"semantic_version": "5.0.0"}})
        self.assertEqual(resp.json()["version_info"]["semantic_version"], "5.0.0")

    def test_first_publish_numbers(self):
        for version_type, expected in (("minor", "0.1.0"), ("major", "1.0.0"),
                                       ("revision", "0.0.1"), ("patch", "0.0.1")):
            name = self.create()
            self.compile(name)
            self.assertEqual(self.published_version(ALICE, name, version_type), expected)

    def test_publish_answers_the_version_object(self):
        name = self.create()
        head = self.compile(name)["build"]["commit_sha"]
        resp = self.api("POST", "/v1/algorithms/alice/%s/versions" % name,
                        body={"settings": {"algorithm_callability": "public"},
                              "details": {"label": "Shown"},
                              "version_info": {"version_type": "minor", "release_notes": "rn",
                                               "sample_input": "in"}})
        self.assertEqual(resp.status, 200, resp.body)
        version = resp.json()
        info = version["version_info"]
        self.assertEqual((info["semantic_version"], info["git_hash"], info["release_notes"],
                          info["sample_input"]), ("0.1.0", head, "rn", "in"))
        uuid.UUID(info["version_uuid"])
        self.assertEqual(version["build"]["status"], "succeeded")
        self.assertEqual(version["build"]["version_info"], {"semantic_version": "0.1.0"})
        self.assertEqual(version["compilation"]["successful"], True)
        self.assertEqual(version["self_link"], "%s/v1/algorithms/alice/%s/versions/%s"
                         % (self.cluster.url, name, head))
        self.assertEqual(version["resource_type"], "algorithm")
        self.assertEqual(version["settings"]["algorithm_callability"], "public")
        algo = self.api("GET", "/v1/algorithms/alice/" + name).json()
        self.assertEqual(algo["version_info"]["semantic_version"], "0.1.0")
        self.assertEqual(algo["details"]["label"], "Shown")

    def test_publish_refusals(self):
        name = self.create()
        self.assertError(self.publish(ALICE, name), 400, 2012)  # nothing built yet
        head = self.compile(name)["build"]["commit_sha"]
        for bad in ("huge", 3, {"a": 1}):
            self.assertError(self.publish(ALICE, name, bad), 400, 2015)
        resp = self.api("POST", "/v1/algorithms/alice/%s/versions" % name,
                        body={"version_info": {"git_hash": "0" * 40}})
        self.assertError(resp, 400, 2015)
        resp = self.api("POST", "/v1/algorithms/alice/%s/versions" % name,
                        body={"version_info": {"git_hash": head}})
        self.assertEqual(resp.status, 200, resp.body)
        resp = self.publish(ALICE, name)
        self.assertError(resp, 400, 1007)
        self.assertEqual(resp.json()["error"]["message"],
                         "Version already published. Please compile your algorithm.")
        self.assertError(self.api("POST", "/v1/algorithms/alice/%s/versions" % name,
                                  key=BOB_KEY), 403, 2001)


class InProgressTest(FakeClusterCase):
    """Builds that stay in progress: logs 404, publish refused, object shapes."""

    cluster_options = {"build_seconds": 600}

    def test_in_progress_build(self):
        name = self.create()
        repo = self.clone(ALICE, name)
        sha = self.commit(repo, {"x.txt": "x"})
        git("push", "--quiet", "origin", "master", cwd=repo)
        build = self.builds(ALICE, name)[0]
        self.assertEqual((build["status"], build["commit_sha"], build["finished_at"]),
                         ("in-progress", sha, None))
        self.assertEqual(build["resource_type"], "algorithm_build")
        self.assertRegex(build["started_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        uuid.UUID(build["build_id"])
        self.assertError(self.api("GET", "/v1/algorithms/alice/%s/builds/%s/logs"
                                  % (name, build["build_id"])), 404, 2012)
        resp = self.publish(ALICE, name)
        self.assertError(resp, 400, 2012)
        self.assertIn("not finished", resp.json()["error"]["message"])
        algo = self.api("GET", "/v1/algorithms/alice/" + name).json()
        self.assertEqual(algo["build"]["status"], "in-progress")
        self.assertNotIn("version_info", algo)
        self.assertEqual(self.api("GET", "/v1/algorithms/alice/%s/versions" % name)
                         .json()["results"], [])
        compiled = self.api("POST", "/v1/algorithms/alice/%s/compile" % name).json()
        self.assertEqual(compiled["version_info"]["git_hash"], sha)
        self.assertEqual(compiled["compilation"], {"successful": False, "output": ""})


class ListingTest(FakeClusterCase):
    """Bullet 2: versions and builds lists (newest first, limit, marker, next_link,
    published filter, --page-size cap), get version, get build, logs."""

    cluster_options = {"build_seconds": 0, "page_size": 2}

    def setUp(self):
        super().setUp()
        self.name = self.create()
        self.base = "/v1/algorithms/alice/" + self.name
        self.build_ids = []  # oldest first
        self.published = {}  # build id -> semver
        for i in range(5):
            resp = self.api("POST", self.base + "/compile")
            self.build_ids.append(resp.json()["build"]["build_id"])
            if i % 2 == 0:
                self.published[self.build_ids[-1]] = self.published_version(ALICE, self.name)

    def follow(self, path):
        """All results of a list, following next_link (full URLs) page by page."""
        seen, url = [], self.cluster.url + path
        while url:
            page = curl(url).json()
            self.assertLessEqual(len(page["results"]), 2)
            seen += page["results"]
            self.assertEqual(page["marker"] is None, page["next_link"] is None)
            url = page["next_link"]
        return seen

    def test_builds_pages_newest_first(self):
        first = self.api("GET", self.base + "/builds").json()
        self.assertEqual(len(first["results"]), 2)  # default limit capped by --page-size
        self.assertTrue(first["next_link"].startswith(self.cluster.url + self.base + "/builds?"))
        builds = self.follow(self.base + "/builds")
        self.assertEqual([b["build_id"] for b in builds], self.build_ids[::-1])
        one = self.api("GET", self.base + "/builds?limit=1").json()
        self.assertEqual([b["build_id"] for b in one["results"]], self.build_ids[-1:])
        second = self.api("GET", self.base + "/builds?limit=1&marker=" + one["marker"]).json()
        self.assertEqual([b["build_id"] for b in second["results"]], self.build_ids[-2:-1])
        self.assertEqual(len(self.api("GET", self.base + "/builds?limit=100")
                             .json()["results"]), 2)

    def test_versions_filter_and_pages(self):
        all_versions = self.follow(self.base + "/versions")
        self.assertEqual([v["build"]["build_id"] for v in all_versions], self.build_ids[::-1])
        published = self.follow(self.base + "/versions?published=true")
        self.assertEqual([v["version_info"]["semantic_version"] for v in published],
                         ["0.3.0", "0.2.0", "0.1.0"])
        unpublished = self.follow(self.base + "/versions?published=false")
        self.assertEqual(len(unpublished), 2)
        for version in unpublished:
            self.assertNotIn("semantic_version", version["version_info"])
        page = self.api("GET", self.base + "/versions?published=true&limit=1").json()
        self.assertIn("published=true", page["next_link"])

    def test_bad_limit_and_marker(self):
        for query in ("limit=0", "limit=-1", "limit=abc"):
            self.assertError(self.api("GET", self.base + "/builds?" + query), 400, 5003)
            self.assertError(self.api("GET", self.base + "/versions?" + query), 400, 5003)
        for marker in ("garbage!", "eyJ4IjogMX0", "eyJhZnRlciI6ICJub3BlIn0"):
            self.assertError(self.api("GET", self.base + "/builds?marker=" + marker), 400, 5002)
        self.assertError(self.api("GET", self.base + "/versions?published=maybe"), 400, 2015)

    def test_get_version_build_and_logs(self):
        newest = self.api("GET", self.base + "/builds?limit=1").json()["results"][0]
        version = self.api("GET", self.base + "/versions/" + newest["commit_sha"]).json()
        # the head was built five times and published thrice: the newest published wins
        self.assertEqual(version["version_info"]["semantic_version"], "0.3.0")
        by_semver = self.api("GET", self.base + "/versions/0.2.0").json()
        self.assertEqual(by_semver["version_info"]["semantic_version"], "0.2.0")
        self.assertError(self.api("GET", self.base + "/versions/" + "f" * 40), 404, 1000)
        build = self.api("GET", self.base + "/builds/" + newest["build_id"]).json()
        self.assertEqual(build, newest)
        self.assertError(self.api("GET", self.base + "/builds/" + str(uuid.uuid4())), 404, 1000)
        logs = self.api("GET", "%s/builds/%s/logs" % (self.base, newest["build_id"])).json()
        self.assertIn(newest["commit_sha"], logs["logs"])


class GitTest(FakeClusterCase):
    """Bullet 3: git smart HTTP through git http-backend."""

    def test_push_builds_the_new_head_only(self):
        name = self.create()
        repo = self.clone(ALICE, name)
        self.commit(repo, {"a.txt": "a"})
        head = self.commit(repo, {"b.txt": "b"})
        git("push", "--quiet", "origin", "master", cwd=repo)
        self.assertEqual([b["commit_sha"] for b in self.builds(ALICE, name)], [head])
        git("push", "--quiet", "origin", "master", cwd=repo)  # up to date: no new build
        self.assertEqual(len(self.builds(ALICE, name)), 1)
        self.assertEqual(self.wait_build(ALICE, name, head)["status"], "succeeded")

    def test_only_fast_forward_pushes_to_master(self):
        name = self.create()
        repo = self.clone(ALICE, name)
        self.commit(repo, {"a.txt": "a"})
        proc = git("push", "origin", "HEAD:refs/heads/feature", cwd=repo, check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("only pushes to master are accepted", proc.stderr)
        proc = git("push", "origin", "HEAD:refs/tags/v1", cwd=repo, check=False)
        self.assertNotEqual(proc.returncode, 0)
        git("push", "--quiet", "origin", "master", cwd=repo)
        git("commit", "--quiet", "--amend", "-m", "rewritten", cwd=repo)
        proc = git("push", "--force", "origin", "master", cwd=repo, check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("non-fast-forward", proc.stderr)
        proc = git("push", "origin", ":master", cwd=repo, check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("deletion prohibited", proc.stderr)
        self.assertEqual(len(self.builds(ALICE, name)), 1)
        refs = git("ls-remote", self.cluster.git_url(ALICE, name, ALICE, ALICE_KEY)).stdout
        self.assertEqual(sorted(line.split()[1] for line in refs.splitlines()),
                         ["HEAD", "refs/heads/master"])

    def test_chunked_push(self):
        name = self.create()
        repo = self.clone(ALICE, name)
        sha = self.commit(repo, {"blob.bin": os.urandom(64 * 1024)})
        proc = git("-c", "http.postBuffer=1024", "push", "origin", "master", cwd=repo,
                   env={"GIT_TRACE_CURL": "1", "GIT_TRACE_CURL_NO_DATA": "1"})
        self.assertRegex(proc.stderr, r"(?i)Send header: Transfer-Encoding: chunked")
        self.assertEqual([b["commit_sha"] for b in self.builds(ALICE, name)], [sha])
        copy = self.clone(ALICE, name)
        with open(os.path.join(copy, "blob.bin"), "rb") as f, \
                open(os.path.join(repo, "blob.bin"), "rb") as g:
            self.assertEqual(f.read(), g.read())

    def test_protocol_versions(self):
        name = self.create()
        url = self.cluster.git_url(ALICE, name, ALICE, ALICE_KEY)
        for version in ("2", "1", "0"):
            proc = git("-c", "protocol.version=" + version, "clone", url,
                       os.path.join(self.tmp, "v" + version), env={"GIT_TRACE_PACKET": "1"})
            announced = re.findall(r"git< version ([12])", proc.stderr)
            self.assertEqual(set(announced), {version} if version != "0" else set())

    def test_credentials_required_and_checked(self):
        name = self.create()
        anonymous = "%s/git/alice/%s.git" % (self.cluster.url, name)
        proc = git("ls-remote", anonymous, check=False)
        self.assertNotEqual(proc.returncode, 0)
        resp = curl(anonymous + "/info/refs?service=git-upload-pack", auth="none")
        self.assertEqual(resp.status, 401)
        self.assertTrue(resp.header("WWW-Authenticate").startswith("Basic realm="))
        for user, key in ((BOB, ALICE_KEY), (ALICE, BOB_KEY)):  # name must own the key
            proc = git("ls-remote", self.cluster.git_url(ALICE, name, user, key), check=False)
            self.assertNotEqual(proc.returncode, 0)
        proc = git("ls-remote", self.cluster.git_url(ALICE, name, BOB, BOB_KEY), check=False)
        self.assertIn("403", proc.stderr)  # a valid key, but not bob's algorithm
        proc = git("ls-remote", self.cluster.git_url(ALICE, "nosuch", ALICE, ALICE_KEY),
                   check=False)
        self.assertIn("not found", proc.stderr)

    def test_key_must_be_url_encoded(self):
        name = self.create()
        raw = "http://%s:%s@127.0.0.1:%d/git/alice/%s.git" % (ALICE, ALICE_KEY,
                                                              self.cluster.port, name)
        self.assertNotEqual(git("ls-remote", raw, check=False).returncode, 0)
        plus_raw = self.cluster.git_url(ALICE, name, ALICE, ALICE_KEY).replace("%2B", "+")
        self.assertEqual(git("ls-remote", plus_raw, check=False).returncode, 0)

    def test_published_version_is_served_read_only(self):
        name = self.create()
        repo = self.clone(ALICE, name)
        sha = self.commit(repo, {"v1.txt": "one"})
        git("push", "--quiet", "origin", "master", cwd=repo)
        self.wait_build(ALICE, name, sha)
        self.assertEqual(self.published_version(ALICE, name), "0.1.0")
        later = self.commit(repo, {"v2.txt": "two"})
        git("push", "--quiet", "origin", "master", cwd=repo)
        old = self.clone(ALICE, name, version="0.1.0")
        self.assertEqual(git("rev-parse", "HEAD", cwd=old).stdout.strip(), sha)
        self.assertFalse(os.path.exists(os.path.join(old, "v2.txt")))
        self.commit(old, {"x.txt": "x"})
        proc = git("push", "origin", "master", cwd=old, check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("403", proc.stderr)
        self.assertEqual(self.builds(ALICE, name)[0]["commit_sha"], later)
        for version in ("0.2.0", "latest", "1.0"):
            proc = git("ls-remote", self.cluster.git_url(ALICE, name, ALICE, ALICE_KEY, version),
                       check=False)
            self.assertNotEqual(proc.returncode, 0, version)
        proc = git("ls-remote", self.cluster.git_url(ALICE, name, BOB, BOB_KEY, "0.1.0"),
                   check=False)
        self.assertIn("403", proc.stderr)


class KnobTest(FakeClusterCase):
    """Bullet 4: /_fault, /_requests, /_reset."""

    cluster_options = {"build_seconds": 0}

    def setUp(self):
        super().setUp()
        self.assertEqual(self.api("POST", "/_reset", auth="none").status, 204)

    def fault(self, **spec):
        resp = self.api("POST", "/_fault", auth="none", body=spec)
        self.assertEqual(resp.status, 200, resp.body)

    def requests(self):
        return self.api("GET", "/_requests", auth="none").json()

    def test_request_log(self):
        name = self.create()
        self.api("GET", "/v1/algorithms/alice/" + name, auth="none")
        self.clone(ALICE, name)
        log = self.requests()
        self.assertEqual(log[0]["method"], "POST")
        self.assertEqual((log[0]["path"], log[0]["status"], log[0]["auth"]),
                         ("/v1/algorithms/alice", 200, True))
        self.assertEqual((log[1]["status"], log[1]["auth"]), (401, False))
        git_entries = [e for e in log if e["path"].startswith("/git/")]
        self.assertEqual(git_entries[0]["status"], 401)  # git probes without credentials
        self.assertTrue(all(e["auth"] for e in git_entries[1:]))
        for entry in log:
            self.assertEqual(set(entry), {"method", "path", "status", "auth", "time"})
            self.assertFalse(entry["path"].startswith("/_"))
        raw = self.api("GET", "/_requests", auth="none").body.decode()
        for secret in (ALICE_KEY, ALICE_KEY.replace("/", "%2F"), "Authorization", "Simple"):
            self.assertNotIn(secret, raw)

    def test_status_fault_with_body_headers_count_and_method(self):
        name = self.create()
        path = "/v1/algorithms/alice/%s/scm/status" % name
        self.fault(method="POST", path="scm/status", status=503)
        self.assertEqual(self.api("GET", path).status, 200)  # method does not match
        self.api("POST", "/_reset", auth="none")
        self.fault(path=r"/scm/status$", status=429, count=2, body="slow down",
                   headers={"Retry-After": "1"})
        for _ in range(2):
            resp = self.api("GET", path)
            self.assertEqual((resp.status, resp.body, resp.header("Retry-After")),
                             (429, b"slow down", "1"))
        self.assertEqual(self.api("GET", path).status, 200)
        self.fault(path="scm", status=400, count=-1, body={"error": {"code": 6001,
                                                                     "message": "custom"}})
        for _ in range(3):
            self.assertError(self.api("GET", path), 400, 6001)
        self.api("POST", "/_reset", auth="none")
        self.assertEqual(self.api("GET", path).status, 200)

    def test_query_string_is_matched(self):
        name = self.create()
        self.fault(path=r"builds\?limit=7", status=502)
        self.assertEqual(self.api("GET", "/v1/algorithms/alice/%s/builds" % name).status, 200)
        self.assertEqual(self.api("GET", "/v1/algorithms/alice/%s/builds?limit=7"
                                  % name).status, 502)

    def test_delay_then_served(self):
        name = self.create()
        self.fault(path="scm/status", delay_ms=300)
        start = time.monotonic()
        resp = self.api("GET", "/v1/algorithms/alice/%s/scm/status" % name)
        self.assertGreaterEqual(time.monotonic() - start, 0.3)
        self.assertEqual(resp.status, 200)

    def test_drop_connection(self):
        name = self.create()
        path = "/v1/algorithms/alice/%s/scm/status" % name
        self.fault(path="scm/status", drop=True)
        resp = self.api("GET", path)
        self.assertEqual(resp.exit_code, 52, resp.stderr)  # curl: empty reply from server
        self.assertEqual(self.api("GET", path).status, 200)
        self.assertEqual([e["status"] for e in self.requests() if e["path"] == path], [0, 200])

    def test_after_fault_acts_then_loses_the_answer(self):
        name = self.create()
        path = "/v1/algorithms/alice/%s" % name
        self.fault(method="PUT", path=name, drop=True, after=True)
        resp = self.api("PUT", path, body={"details": {"summary": "changed"},
                                           "settings": UPDATE_SETTINGS})
        self.assertEqual(resp.exit_code, 52, resp.stderr)  # the answer was lost ...
        got = self.api("GET", path).json()
        self.assertEqual(got["details"]["summary"], "changed")  # ... the change was not
        self.fault(method="PUT", path=name, status=503, after=True)
        self.assertError(self.api("PUT", path, body={"details": {"summary": "again"},
                                                     "settings": UPDATE_SETTINGS}),
                         503, 5001)
        self.assertEqual(self.api("GET", path).json()["details"]["summary"], "again")
        self.assertEqual([e["status"] for e in self.requests() if e["method"] == "PUT"],
                         [0, 503])

    def test_after_fault_on_push(self):
        name = self.create()
        work = self.clone(ALICE, name)
        sha = self.commit(work, {"extra.txt": "x\n"})
        self.fault(method="POST", path="git-receive-pack", drop=True, after=True)
        proc = git("push", "-q", "origin", "HEAD:master", cwd=work, check=False)
        self.assertNotEqual(proc.returncode, 0)
        url = self.cluster.git_url(ALICE, name, ALICE, ALICE_KEY)
        self.assertIn(sha, git("ls-remote", url, "refs/heads/master").stdout)

    def test_fault_on_git(self):
        name = self.create()
        self.fault(path=r"^/git/.*/info/refs", status=503)
        url = self.cluster.git_url(ALICE, name, ALICE, ALICE_KEY)
        proc = git("ls-remote", url, check=False)
        self.assertIn("503", proc.stderr)
        git("ls-remote", url)

    def test_fault_matches_user_agent(self):
        name = self.create()
        url = self.cluster.git_url(ALICE, name, ALICE, ALICE_KEY)
        # Aimed at libgit2 only: the git CLI passes untouched.
        self.fault(path=r"^/git/.*/info/refs", user_agent="libgit2", status=503)
        git("ls-remote", url)
        self.api("POST", "/_reset", auth="none")
        self.fault(path=r"^/git/.*/info/refs", user_agent=r"^git/\d", status=503)
        proc = git("ls-remote", url, check=False)
        self.assertIn("503", proc.stderr)

    def test_bad_fault_specs(self):
        for spec in ({"path": "("}, {"status": 99}, {"status": 500, "drop": True},
                     {"path": "x"}, {"status": 500, "count": 0}, {"status": 500, "bogus": 1},
                     {"delay_ms": -5}, {"status": 500, "headers": {"A": 1}},
                     {"status": 500, "user_agent": "["}, {"status": 500, "user_agent": 1},
                     {"status": 500, "after": "yes"}):
            resp = self.api("POST", "/_fault", auth="none", body=spec)
            self.assertError(resp, 400, 2015)
        self.assertError(self.api("POST", "/_fault", auth="none", body=b"{"), 400, 2013)
        self.assertError(self.api("GET", "/_nothing", auth="none"), 404, 5005)

    def test_reset_state_wipes_algorithms(self):
        name = self.create()
        self.assertEqual(self.api("POST", "/_reset", auth="none", body={"state": True}).status,
                         204)
        self.assertError(self.api("GET", "/v1/algorithms/alice/" + name), 404, 1001)
        self.assertEqual(os.listdir(os.path.join(self.cluster.state_dir, "repos")), [])
        self.create(name)


class RestartTest(FakeClusterCase):
    """Bullet 1: the state directory survives a restart (and builds keep running)."""

    def test_restart_keeps_everything(self):
        state = os.path.join(self.tmp, "state")
        first = start_cluster(state, build_seconds=0.3)
        self.addCleanup(first.stop)
        name = self.create(cluster=first)
        algo_id = self.api("GET", "/v1/algorithms/alice/" + name, first).json()["id"]
        repo = self.clone(ALICE, name, cluster=first)
        sha = self.commit(repo, {"a.txt": "a"})
        git("push", "--quiet", "origin", "master", cwd=repo)
        self.wait_build(ALICE, name, sha, first)
        self.assertEqual(self.published_version(ALICE, name, cluster=first), "0.1.0")
        later = self.commit(repo, {"b.txt": "b"})
        git("push", "--quiet", "origin", "master", cwd=repo)
        builds = self.builds(ALICE, name, first)
        self.assertEqual(first.stop(), 0)
        self.assertFalse([f for f in os.listdir(state) if f.startswith(".state.")])

        second = start_cluster(state, build_seconds=0.3)
        self.addCleanup(second.stop)
        algo = self.api("GET", "/v1/algorithms/alice/" + name, second).json()
        self.assertEqual(algo["id"], algo_id)
        self.assertEqual(algo["version_info"]["semantic_version"], "0.1.0")
        self.assertEqual([b["build_id"] for b in self.builds(ALICE, name, second)],
                         [b["build_id"] for b in builds])
        self.assertEqual(self.wait_build(ALICE, name, later, second)["status"], "succeeded")
        self.assertEqual(self.published_version(ALICE, name, cluster=second), "0.2.0")
        old = self.clone(ALICE, name, version="0.1.0", cluster=second)
        self.assertEqual(git("rev-parse", "HEAD", cwd=old).stdout.strip(), sha)
        self.commit(repo, {"c.txt": "c"})
        git("push", "--quiet", second.git_url(ALICE, name, ALICE, ALICE_KEY), "master", cwd=repo)
        self.assertEqual(len(self.builds(ALICE, name, second)), 3)


class VariantsTest(FakeClusterCase):
    """Knobs for the spec's open questions, and a --users file with org members."""

    cluster_options = {"users": VARIANT_USERS, "build_seconds": 0,
                       "extra_args": ("--exists-status", "409", "--notfound-style", "string")}

    def test_exists_status_409_and_string_not_found(self):
        carol = VARIANT_USERS[0]
        name = self.create(owner="carol", key=carol["key"])
        resp = self.api("POST", "/v1/algorithms/carol", key=carol["key"],
                        body={"name": name, "details": {"label": "x"},
                              "settings": CREATE_SETTINGS})
        self.assertError(resp, 409, 1002)
        resp = self.api("GET", "/v1/algorithms/carol/nosuch", key=carol["key"])
        self.assertEqual((resp.status, resp.json()), (404, {"error": "No such algorithm"}))

    def test_users_file_replaces_defaults_and_orgs_are_shared(self):
        carol, dave, erin = VARIANT_USERS
        self.assertError(self.api("GET", "/v1/algorithms/alice/x"), 401, 2002)
        name = self.create(owner="labs", key=carol["key"])
        resp = self.api("GET", "/v1/algorithms/labs/" + name, key=dave["key"])
        self.assertEqual(resp.status, 200)
        repo = self.clone("labs", name, user="dave", key=dave["key"])
        sha = self.commit(repo, {"d.txt": "from dave"})
        git("push", "--quiet", "origin", "master", cwd=repo)
        self.assertEqual(self.builds("labs", name, key=carol["key"])[0]["commit_sha"], sha)
        self.assertError(self.api("GET", "/v1/algorithms/labs/" + name, key=erin["key"]),
                         403, 2001)
        proc = git("ls-remote", self.cluster.git_url("labs", name, "erin", erin["key"]),
                   check=False)
        self.assertNotEqual(proc.returncode, 0)


class NoticePushesTest(FakeClusterCase):
    """--notice-pushes: a push that another git server (one sharing DIR/repos) made is
    built at the next API call about the algorithm, once; without the option it is not."""

    cluster_options = {"build_seconds": 0, "extra_args": ("--notice-pushes",)}

    def push_beside(self, cluster, name, files):
        """Push to the bare repo on disk, not through the cluster's /git."""
        repo = self.clone(ALICE, name, cluster=cluster)
        sha = self.commit(repo, files)
        git("push", "--quiet", os.path.join(cluster.repos_path, ALICE, name + ".git"),
            "HEAD:master", cwd=repo)
        return sha

    def test_push_beside_is_built_once(self):
        name = self.create()
        self.assertEqual(self.builds(ALICE, name), [])   # the template makes no build
        sha = self.push_beside(self.cluster, name, {"a.txt": "beside"})
        builds = self.builds(ALICE, name)
        self.assertEqual([b["commit_sha"] for b in builds], [sha])
        self.assertEqual(self.wait_build(ALICE, name, sha)["status"], "succeeded")
        self.assertEqual(len(self.builds(ALICE, name)), 1)
        self.assertEqual(self.published_version(ALICE, name), "0.1.0")
        # A push through /git is recorded as before, and not built twice.
        repo = self.clone(ALICE, name)
        sha2 = self.commit(repo, {"b.txt": "through /git"})
        git("push", "--quiet", "origin", "master", cwd=repo)
        self.assertEqual([b["commit_sha"] for b in self.builds(ALICE, name)], [sha2, sha])

    def test_publish_sees_the_push(self):
        name = self.create()
        sha = self.push_beside(self.cluster, name, {"a.txt": "x"})
        resp = self.api("POST", "/v1/algorithms/%s/%s/versions" % (ALICE, name),
                        body={"version_info": {"git_hash": sha}})
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(resp.json()["version_info"]["git_hash"], sha)

    def test_without_the_option_nothing_is_noticed(self):
        dev = CLUSTERS["dev"]
        name = self.create(cluster=dev)
        self.push_beside(dev, name, {"a.txt": "beside"})
        self.assertEqual(self.builds(ALICE, name, cluster=dev), [])


class HttpTest(FakeClusterCase):
    """HTTP/1.1 details the C client relies on, and bad input that must not hurt."""

    def test_keep_alive_for_api_and_git(self):
        """Two requests in one curl run share a connection: every answer is framed."""
        name = self.create()
        api = "%s/v1/algorithms/alice/%s" % (self.cluster.url, name)
        refs = "%s/git/alice/%s.git/info/refs?service=git-upload-pack" % (self.cluster.url, name)
        for auth, urls in ((["-H", "Authorization: " + ALICE_KEY], [api, api + "/nosuch"]),
                           (["-u", "%s:%s" % (ALICE, ALICE_KEY)], [refs, refs])):
            proc = subprocess.run(["curl", "-sS", "-v", "--noproxy", "*", "-w", "%{http_code}\n",
                                   "-o", os.devnull, "-o", os.devnull, *auth, *urls],
                                  capture_output=True, text=True, env=ENV, timeout=60)
            self.assertIn("Re-using existing connection", proc.stderr)
            self.assertEqual(proc.stdout.split(), ["200", "404"] if urls[0] == api
                             else ["200", "200"])
        self.assertIn("Transfer-Encoding: chunked", proc.stderr)  # streamed git answer

    def test_chunked_api_request_body(self):
        name = unique_name()
        body = json.dumps({"name": name, "details": {"label": "x"},
                           "settings": CREATE_SETTINGS}).encode()
        resp = self.api("POST", "/v1/algorithms/alice", body=body,
                        headers=("Transfer-Encoding: chunked",), args=("-v",))
        self.assertIn("Transfer-Encoding: chunked", resp.stderr)
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(self.api("GET", "/v1/algorithms/alice/" + name).status, 200)

    def raw(self, data):
        with socket.create_connection(("127.0.0.1", self.cluster.port), timeout=10) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)

    def test_malformed_requests_are_refused(self):
        self.assertRegex(self.raw(b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n"),
                         rb"^HTTP/1\.[01] 501 ")
        follow_up = b"GET /_requests HTTP/1.1\r\nHost: x\r\n\r\n"
        for data in (b"POST /v1/algorithms/alice HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: abc\r\n\r\n",
                     b"POST /v1/algorithms/alice HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\nAuthorization: " + ALICE_KEY.encode() +
                     b"\r\n\r\nzz\r\n"):
            # the stream after a broken body is not trusted: one answer, then close
            answer = self.raw(data + follow_up)
            self.assertRegex(answer, rb"^HTTP/1\.[01] 400 ")
            self.assertIn(b"\r\nConnection: close\r\n", answer)
            self.assertEqual(answer.count(b"HTTP/1."), 1)
        self.assertEqual(self.api("GET", "/v1/algorithms/alice/nosuch").status, 404)

    def test_handler_exception_is_a_500_and_the_server_lives_on(self):
        cluster = start_cluster(os.path.join(self.tmp, "broken"))
        self.addCleanup(cluster.stop)
        with open(os.path.join(cluster.state_dir, "repos", ALICE), "w", encoding="utf-8"):
            pass  # a file where alice's repositories should go
        resp = self.api("POST", "/v1/algorithms/alice", cluster,
                        body={"name": "x", "details": {"label": "x"},
                              "settings": CREATE_SETTINGS})
        self.assertError(resp, 500, 5001)
        self.assertEqual(self.api("GET", "/v1/algorithms/bob/x", cluster, key=BOB_KEY).status,
                         404)
        with open(cluster.log_path, encoding="utf-8") as f:
            self.assertIn("Traceback", f.read())


# ---------------------------------------------------------------------------------------
# Hosted data (spec section 7)

DATA_USERS = [dict(u) for u in DEFAULT_USERS] + [  # alice and bob, plus two for listings
    {"name": "paula", "key": "simPaulaKey0+mmmm/nnnnoooopp", "orgs": []},
    {"name": "quinn", "key": "simQuinnKey0+qqqq/rrrrsssstt", "orgs": []},
]
ISO_MS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def raw_exchange(port, data):
    """Send data on a new connection, half-close, and return everything answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def recv_until(sock, marker):
    """Bytes from sock up to and including the first `marker` (the head of an answer)."""
    data = b""
    while marker not in data:
        chunk = sock.recv(1)
        if not chunk:
            raise AssertionError("connection closed before %r; got %r" % (marker, data))
        data += chunk
    return data


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class DataCase(FakeClusterCase):
    """A cluster with data pages of 7 and the DATA_USERS."""

    cluster_options = {"users": DATA_USERS, "build_seconds": 0, "data_page_size": 7}

    def collection(self, owner=ALICE, key=ALICE_KEY, acl=None, style="/v1/connector/data"):
        name = unique_name("coll")
        body = {"name": name} if acl is None else {"name": name, "acl": {"read": acl}}
        resp = self.api("POST", "%s/%s" % (style, owner), key=key, body=body)
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(resp.json(), {"result": "data://%s/%s" % (owner, name)})
        return name

    def put(self, path, data, key=ALICE_KEY, headers=(), args=()):
        return self.api("PUT", path, key=key, body=data, args=args,
                        headers=("Content-Type: application/octet-stream",) + tuple(headers))

    def head(self, path, key=ALICE_KEY):
        return self.api("HEAD", path, key=key, args=("-I",))

    def knob(self, owner, coll):
        resp = self.api("GET", "/_data/%s/%s" % (owner, coll), auth="none")
        self.assertEqual(resp.status, 200, resp.body)
        return resp.json()

    def listing(self, path, key=ALICE_KEY):
        """Every page of a listing, following markers: (pages, all entries)."""
        pages, marker = [], None
        while True:
            sep = "&" if "?" in path else "?"
            resp = self.api("GET", path + (sep + "marker=" + marker if marker else ""), key=key)
            self.assertEqual(resp.status, 200, resp.body)
            self.assertEqual(resp.header("X-Data-Type"), "directory")
            pages.append(resp.json())
            marker = resp.json().get("marker")
            if marker is None:
                return pages

    def assertDataError(self, resp, status, error_type=None):
        self.assertEqual(resp.status, status, resp.body)
        error = resp.json()["error"]
        self.assertEqual(set(error), {"message", "error_type"})
        self.assertIsInstance(error["message"], str)
        if error_type is not None:
            self.assertEqual(error["error_type"], error_type)
        self.assertEqual(resp.header("X-Error-Message"),  # ASCII: backslash escapes
                         error["message"].encode("ascii", "backslashreplace").decode())
        return error["message"]


class DataApiTest(DataCase):
    """The data connector API: collections, files, listings, ACLs, errors."""

    def test_both_path_styles_and_dot_my(self):
        coll = self.collection(style="/v1/data")
        styles = ("/v1/connector/data", "/v1/data")
        for i, style in enumerate(styles):
            resp = self.put("%s/.my/%s/f%d.txt" % (style, coll, i), b"via " + style.encode())
            self.assertEqual(resp.json(), {"result": "data://alice/%s/f%d.txt" % (coll, i)})
        for style in styles:
            names = [f["name"] for page in self.listing(style + "/.my")
                     for f in page.get("folders", [])]
            self.assertIn(coll, names)
            files = self.listing("%s/alice/%s" % (style, coll))[0]["files"]
            self.assertEqual([f["filename"] for f in files], ["f0.txt", "f1.txt"])
            for i, written in enumerate(styles):
                resp = self.api("GET", "%s/alice/%s/f%d.txt" % (style, coll, i))
                self.assertEqual((resp.status, resp.body), (200, b"via " + written.encode()))
                self.assertEqual(resp.header("X-Data-Type"), "file")
        resp = self.api("GET", "/v1/connector/data/.my/%s/f0.txt" % coll, auth="bare")
        self.assertEqual(resp.status, 200)  # a bare key, with '+' and '/', works too

    def test_create_and_its_refusals(self):
        coll = self.collection()
        self.assertTrue(os.path.isdir(self.cluster.data_path(ALICE, coll)))
        resp = self.api("POST", "/v1/connector/data/alice", body={"name": coll})
        self.assertIn("already exists", self.assertDataError(resp, 409, "AlreadyExists"))
        for bad in ({}, {"name": ""}, {"name": "a/b"}, {"name": ".hidden"}, {"name": 7},
                    {"name": "ok", "acl": {"read": "user://*"}},
                    {"name": "ok", "acl": {"write": []}}, {"name": "ok", "acl": []},
                    {"name": "ok", "acl": {"read": ["everyone"]}}):
            resp = self.api("POST", "/v1/connector/data/alice", body=bad)
            self.assertDataError(resp, 400, "BadRequest")
        self.assertDataError(self.api("POST", "/v1/data/alice", body=b'{"name":'), 400)
        body = {"name": unique_name("coll")}
        self.assertDataError(self.api("POST", "/v1/data/alice", key=BOB_KEY, body=body),
                             403, "AuthorizationError")
        self.assertDataError(self.api("POST", "/v1/data/" + ACME, key=BOB_KEY, body=body),
                             403)
        self.assertEqual(self.api("POST", "/v1/data/" + ACME, body=body).status, 200)
        self.assertFalse(os.path.exists(self.cluster.data_path(BOB, body["name"])))

    def test_auth_and_method_errors(self):
        coll = self.collection()
        path = "/v1/connector/data/alice/%s" % coll
        for auth, key in (("none", ALICE_KEY), ("simple", "simWrongKey+abc/defghijklmnopq"),
                          ("Bearer " + ALICE_KEY, ALICE_KEY)):
            self.assertDataError(self.api("GET", path, auth=auth, key=key), 401,
                                 "AuthenticationError")
        resp = self.api("HEAD", path, auth="none", args=("-I",))
        self.assertEqual(resp.status, 401)
        self.assertTrue(resp.header("X-Error-Message"))
        self.assertDataError(self.api("POST", path + "/file", body={}), 405)
        self.assertDataError(self.api("PUT", "/v1/data/alice", body=b"x"), 405)
        self.assertDataError(self.api("GET", "/v1/data"), 404)
        self.assertDataError(self.api("GET", "/v1/data/bad.owner"), 400)
        self.assertDataError(self.api("GET", "/v1/data/alice/bad%20coll"), 400)
        self.assertDataError(self.api("GET", "/v1/data/nobody", key=BOB_KEY), 403)

    def test_put_get_overwrite_and_delete_a_file(self):
        coll = self.collection()
        path = "/v1/connector/data/alice/%s/" % coll
        name = "model weights (v1) \u00e9.bin"
        url_name = "model%20weights%20%28v1%29%20%C3%A9.bin"
        blob = bytes(range(256)) * 1000
        resp = self.put(path + url_name, blob)
        self.assertEqual(resp.json(), {"result": "data://alice/%s/%s" % (coll, name)})
        with open(self.cluster.data_path(ALICE, coll, name), "rb") as f:
            self.assertEqual(f.read(), blob)  # stored as it is, under its own name
        resp = self.api("GET", path + url_name)
        self.assertEqual((resp.status, resp.body), (200, blob))
        self.assertEqual(resp.header("Content-Length"), str(len(blob)))
        self.put(path + url_name, b"v2")
        self.assertEqual(self.api("GET", path + url_name).body, b"v2")
        resp = self.api("GET", "/v1/connector/data/alice/" + coll)
        self.assertEqual(resp.json()["files"][0]["size"], 2)
        resp = self.api("DELETE", path + url_name)
        self.assertEqual((resp.status, resp.json()), (200, {"result": {"deleted": 1}}))
        self.assertDataError(self.api("DELETE", path + url_name), 404, "NotFound")
        self.assertDataError(self.api("GET", path + url_name), 404, "NotFound")
        self.assertEqual(self.api("GET", "/v1/connector/data/alice/" + coll).json(), {})

    def test_put_refusals(self):
        coll = self.collection()
        self.assertDataError(self.put("/v1/data/alice/nosuch_coll/f", b"x"), 404)
        self.assertFalse(os.path.exists(self.cluster.data_path(ALICE, "nosuch_coll")))
        for sub in ("a/b", "a%2Fb", "a/b/c"):
            resp = self.put("/v1/data/alice/%s/%s" % (coll, sub), b"x")
            self.assertIn("sub-folders", self.assertDataError(resp, 400))
        self.assertDataError(self.put("/v1/data/alice/%s/%%2E%%2E" % coll, b"x"), 400)
        self.assertDataError(self.put("/v1/data/alice/%s/f" % coll, b"x", key=BOB_KEY), 403)
        self.assertEqual(self.knob(ALICE, coll)["files"], [])

    def test_head(self):
        coll = self.collection()
        self.put("/v1/data/alice/%s/seven" % coll, b"1234567")
        resp = self.head("/v1/data/alice/%s/seven" % coll)
        self.assertEqual((resp.status, resp.header("X-Data-Type"),
                          resp.header("Content-Length")), (200, "file", "7"))
        for path in ("/v1/data/alice/" + coll, "/v1/connector/data/.my/" + coll):
            resp = self.head(path)
            self.assertEqual((resp.status, resp.header("X-Data-Type")), (200, "directory"))
        for path in ("/v1/data/alice/%s/nofile" % coll, "/v1/data/alice/nocoll",
                     "/v1/data/alice/nocoll/nofile"):
            resp = self.head(path)
            self.assertEqual(resp.status, 404)
            self.assertIn("No such", resp.header("X-Error-Message"))
            self.assertEqual(resp.header("Content-Length"), "0")
        self.assertEqual(self.head("/v1/data/alice/%s/seven" % coll, key=BOB_KEY).status, 403)

    def test_delete_collection(self):
        coll = self.collection()
        path = "/v1/connector/data/alice/" + coll
        for i in range(3):
            self.put("%s/f%d" % (path, i), b"x")
        self.assertIn("force=true", self.assertDataError(self.api("DELETE", path), 400))
        self.assertEqual(len(self.knob(ALICE, coll)["files"]), 3)
        self.assertDataError(self.api("DELETE", path + "?force=true", key=BOB_KEY), 403)
        resp = self.api("DELETE", path + "?force=true")
        self.assertEqual((resp.status, resp.json()), (200, {"result": {"deleted": 3}}))
        self.assertEqual(self.head(path).status, 404)
        self.assertFalse(os.path.exists(self.cluster.data_path(ALICE, coll)))
        self.assertDataError(self.api("DELETE", path + "?force=true"), 404)
        empty = self.collection()
        resp = self.api("DELETE", "/v1/data/alice/" + empty)
        self.assertEqual(resp.json(), {"result": {"deleted": 0}})
        self.collection()  # the name space is free again
        names = [f["name"] for p in self.listing("/v1/data/alice") for f in p.get("folders", [])]
        self.assertNotIn(coll, names)

    def test_file_listing_pages_with_markers(self):
        coll = self.collection()
        path = "/v1/connector/data/alice/" + coll
        self.assertEqual(self.api("GET", path).json(), {})  # no "files" when empty
        names = ["f%02d" % i for i in range(20)]
        for name in names[::2]:
            self.put("%s/%s" % (path, name), name.encode() * 3)
        for name in names[1::2]:  # seeded straight on disk
            with open(self.cluster.data_path(ALICE, coll, name), "wb") as f:
                f.write(name.encode() * 3)
        pages = self.listing(path + "?acl=true")
        self.assertEqual([len(p["files"]) for p in pages], [7, 7, 6])
        self.assertEqual(["marker" in p for p in pages], [True, True, False])
        self.assertTrue(all(p["acl"] == {"read": ["algo://.my/*"]} for p in pages))
        files = [f for p in pages for f in p["files"]]
        self.assertEqual([f["filename"] for f in files], names)
        for f in files:
            self.assertEqual(set(f), {"filename", "last_modified", "size"})
            self.assertEqual(f["size"], 9)
            self.assertRegex(f["last_modified"], ISO_MS)
        self.assertNotIn("acl", self.api("GET", path).json())
        first = self.api("GET", path).json()
        self.assertEqual(first["files"], files[:7])
        # a marker names the last item returned: deleting it does not disturb the next page
        self.api("DELETE", "%s/%s" % (path, names[6]))
        resp = self.api("GET", "%s?marker=%s" % (path, first["marker"]))
        self.assertEqual(resp.json()["files"], files[7:14])
        other = self.collection()
        for marker in ("garbage!", "e30", first["marker"][:-3]):
            self.assertDataError(self.api("GET", "%s?marker=%s" % (path, marker)), 400)
        self.assertDataError(self.api("GET", "/v1/data/alice/%s?marker=%s"
                                      % (other, first["marker"])), 400)  # another listing's
        self.assertDataError(self.api("GET", path + "?acl=maybe"), 400)

    def test_collection_listing_pages(self):
        key = DATA_USERS[2]["key"]  # paula: collections made only here
        self.assertEqual(self.api("GET", "/v1/data/.my", key=DATA_USERS[3]["key"]).json(),
                         {})  # quinn has none: no "folders"
        made = sorted(self.collection("paula", key) for _ in range(15))
        pages = self.listing("/v1/connector/data/.my", key=key)
        self.assertEqual([len(p["folders"]) for p in pages], [7, 7, 1])
        self.assertEqual([f["name"] for p in pages for f in p["folders"]], made)
        self.assertEqual([set(f) for p in pages for f in p["folders"]], [{"name"}] * 15)
        self.assertEqual(self.listing("/v1/data/paula", key=key), pages)
        self.assertDataError(self.api("GET", "/v1/data/paula"), 403)  # alice

    def test_acl(self):
        coll = self.collection()
        path = "/v1/connector/data/alice/" + coll
        self.assertEqual(self.api("GET", path + "?acl=true").json()["acl"],
                         {"read": ["algo://.my/*"]})  # the default
        self.put(path + "/f", b"shared")
        self.assertDataError(self.api("GET", path + "/f", key=BOB_KEY), 403)
        resp = self.api("PATCH", path, body={"acl": {"read": ["user://*"]}})
        self.assertEqual((resp.status, resp.body), (200, b""))
        self.assertEqual(self.api("GET", path + "?acl=true").json()["acl"],
                         {"read": ["user://*"]})
        self.assertEqual(self.knob(ALICE, coll)["acl"], {"read": ["user://*"]})
        self.assertEqual(self.api("GET", path + "/f", key=BOB_KEY).body, b"shared")
        self.assertEqual(self.head(path + "/f", key=BOB_KEY).status, 200)
        self.assertEqual(self.api("GET", path, key=BOB_KEY).json()["files"][0]["filename"], "f")
        self.assertDataError(self.put(path + "/g", b"x", key=BOB_KEY), 403)  # read only
        self.assertDataError(self.api("PATCH", path, key=BOB_KEY,
                                      body={"acl": {"read": []}}), 403)
        self.assertEqual(self.api("PATCH", path, body={"acl": {"read": []}}).status, 200)
        self.assertDataError(self.api("GET", path + "/f", key=BOB_KEY), 403)
        self.assertDataError(self.api("GET", "/v1/data/alice/nosuch/f", key=BOB_KEY), 403)
        for bad in ({}, {"acl": {"read": [1]}}, {"acl": None}):
            self.assertDataError(self.api("PATCH", path, body=bad), 400)
        self.assertDataError(self.api("PATCH", "/v1/data/alice/nosuch",
                                      body={"acl": {"read": []}}), 404)
        private = self.collection(acl=[])
        self.assertEqual(self.api("GET", "/v1/data/alice/%s?acl=true" % private).json(),
                         {"acl": {"read": []}})

    def test_seeded_collection_and_test_knob(self):
        coll = unique_name("seeded")
        os.makedirs(self.cluster.data_path(ALICE, coll))
        with open(self.cluster.data_path(ALICE, coll, "a.txt"), "wb") as f:
            f.write(b"seeded")
        resp = self.api("GET", "/v1/data/alice/%s?acl=true" % coll)
        self.assertEqual(resp.json()["acl"], {"read": ["algo://.my/*"]})
        self.assertEqual(self.api("GET", "/v1/data/alice/%s/a.txt" % coll).body, b"seeded")
        self.assertEqual(self.knob(ALICE, coll), {
            "files": [{"filename": "a.txt", "size": 6,
                       "sha256": hashlib.sha256(b"seeded").hexdigest()}],
            "acl": {"read": ["algo://.my/*"]}})
        self.assertError(self.api("GET", "/_data/alice/nosuch", auth="none"), 404, 5005)

    def test_chunked_upload_and_expect_100_continue(self):
        coll = self.collection()
        path = "/v1/data/alice/%s/" % coll
        blob = os.urandom(300000)
        resp = self.put(path + "chunked", blob, headers=(
            "Transfer-Encoding: chunked", "Expect: 100-continue"), args=("-v",))
        self.assertIn("Transfer-Encoding: chunked", resp.stderr)
        self.assertIn("HTTP/1.1 100 Continue", resp.stderr)
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(self.api("GET", path + "chunked").body, blob)
        # By hand: 100 Continue comes before the body is sent ...
        head = ("PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Simple %s\r\n"
                "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        with socket.create_connection(("127.0.0.1", self.cluster.port), timeout=30) as s:
            s.sendall((head % (path + "by_hand", ALICE_KEY)).encode())
            self.assertEqual(recv_until(s, b"\r\n\r\n"), b"HTTP/1.1 100 Continue\r\n\r\n")
            s.sendall(b"hello")
            answer = recv_until(s, b"\r\n\r\n")
            self.assertRegex(answer, rb"^HTTP/1\.1 200 ")
        self.assertEqual(self.api("GET", path + "by_hand").body, b"hello")
        # ... and a refused upload is answered without it: the client keeps its body
        answer = raw_exchange(self.cluster.port,
                              (head % ("/v1/data/alice/nocoll/f", ALICE_KEY)).encode())
        self.assertRegex(answer, rb"^HTTP/1\.1 404 ")
        self.assertNotIn(b"100 Continue", answer)
        self.assertIn(b"\r\nConnection: close\r\n", answer)


class DataUploadTest(DataCase):
    """Uploads are all or nothing, and streamed: the fake never holds a file in memory."""

    def uploads(self):
        return os.listdir(os.path.join(self.cluster.state_dir, "data", ".uploads"))

    def test_cut_short_upload_stores_nothing(self):
        coll = self.collection()
        path = "/v1/data/alice/%s/" % coll
        self.put(path + "kept", b"version 1")
        before = self.knob(ALICE, coll)
        header = ("PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n%s\r\n")
        partial = os.urandom(100000)
        for name in ("kept", "new"):
            # Content-Length promises 1 MiB; the client stops after 100 kB
            answer = raw_exchange(self.cluster.port, (header % (
                path + name, ALICE_KEY, "Content-Length: 1048576\r\n")).encode() + partial)
            self.assertRegex(answer, rb"^HTTP/1\.1 400 ")
            self.assertIn(b"shorter than Content-Length", answer)
            # a chunked body without its last chunk
            answer = raw_exchange(self.cluster.port, (header % (
                path + name, ALICE_KEY, "Transfer-Encoding: chunked\r\n")).encode()
                + b"%x\r\n%s\r\n" % (len(partial), partial))
            self.assertRegex(answer, rb"^HTTP/1\.1 400 ")
        self.assertEqual(self.knob(ALICE, coll), before)
        self.assertEqual(self.api("GET", path + "kept").body, b"version 1")
        self.assertEqual(self.uploads(), [])

    def test_aborted_upload_stores_nothing(self):
        """The client resets the connection mid-body: no answer, nothing stored."""
        coll = self.collection()
        path = "/v1/data/alice/%s/big" % coll
        self.put(path, b"old")
        self.api("POST", "/_reset", auth="none")
        s = socket.create_connection(("127.0.0.1", self.cluster.port), timeout=30)
        s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
                   "Content-Length: 10000000\r\n\r\n" % (path, ALICE_KEY)).encode())
        s.sendall(os.urandom(2000000))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST
        deadline = time.monotonic() + 30
        while True:  # wait for the server to finish with the request
            log = self.api("GET", "/_requests", auth="none").json()
            if any(e["method"] == "PUT" for e in log):
                break
            self.assertLess(time.monotonic(), deadline, "the aborted PUT never ended")
            time.sleep(0.05)  # poll interval
        self.assertIn([e["status"] for e in log if e["method"] == "PUT"], ([0], [400]))
        self.assertEqual(self.api("GET", path).body, b"old")
        self.assertEqual(self.uploads(), [])

    def test_64_mib_put_and_get_are_streamed(self):
        size = 64 << 20
        src = os.path.join(self.tmp, "big.bin")
        with open(src, "wb") as f:
            for _ in range(size >> 20):
                f.write(os.urandom(1 << 20))
        digest = sha256_file(src)
        coll = self.collection()
        url = "%s/v1/connector/data/alice/%s/big.bin" % (self.cluster.url, coll)
        pid = self.cluster.proc.pid

        def peak_rss():
            with open("/proc/%d/status" % pid, encoding="ascii") as f:
                return next(int(line.split()[1]) * 1024 for line in f
                            if line.startswith("VmHWM:"))

        base = peak_rss()
        auth = ["-H", "Authorization: Simple " + ALICE_KEY]
        proc = subprocess.run(["curl", "-sS", "-v", "--noproxy", "*", "-f", *auth, "-T", src,
                               url], capture_output=True, text=True, env=ENV, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("Content-Length: %d" % size, proc.stderr)  # curl -T: a sized PUT
        self.assertEqual(self.knob(ALICE, coll)["files"],
                         [{"filename": "big.bin", "size": size, "sha256": digest}])
        dst = os.path.join(self.tmp, "back.bin")
        proc = subprocess.run(["curl", "-sS", "--noproxy", "*", "-f", *auth, "-o", dst, url],
                              capture_output=True, text=True, env=ENV, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(sha256_file(dst), digest)
        growth = peak_rss() - base
        self.assertLess(growth, 16 << 20, "peak RSS grew by %d bytes" % growth)


class DataFaultTest(DataCase):
    """/_fault and /_requests apply to data requests like to the rest."""

    def setUp(self):
        super().setUp()
        self.assertEqual(self.api("POST", "/_reset", auth="none").status, 204)

    def fault(self, **spec):
        resp = self.api("POST", "/_fault", auth="none", body=spec)
        self.assertEqual(resp.status, 200, resp.body)

    def test_third_put_fails(self):
        coll = self.collection()
        self.fault(method="PUT", path="^/v1/data/", skip=2, status=503)
        statuses = [self.put("/v1/data/alice/%s/f%d" % (coll, i), b"x").status
                    for i in range(4)]
        self.assertEqual(statuses, [200, 200, 503, 200])
        resp = self.put("/v1/data/alice/%s/g" % coll, b"x")
        self.assertEqual(resp.status, 200)
        self.assertEqual([f["filename"] for f in self.knob(ALICE, coll)["files"]],
                         ["f0", "f1", "f3", "g"])
        self.fault(method="PUT", path=coll, status=500)
        resp = self.put("/v1/data/alice/%s/h" % coll, b"x")
        self.assertEqual(resp.json(), {"error": {"message": "Injected fault",
                                                 "error_type": "InternalError"}})
        log = [(e["method"], e["status"]) for e in self.api("GET", "/_requests",
                                                              auth="none").json()]
        self.assertEqual(log, [("POST", 200), ("PUT", 200), ("PUT", 200), ("PUT", 503),
                               ("PUT", 200), ("PUT", 200), ("PUT", 500)])

    def test_get_cut_mid_body(self):
        coll = self.collection()
        path = "/v1/connector/data/alice/%s/blob" % coll
        blob = os.urandom(1 << 20)
        self.put(path, blob)
        self.fault(method="GET", path="/blob$", truncate_after=1000)
        resp = self.api("GET", path)
        self.assertEqual(resp.exit_code, 18, resp.stderr)  # curl: partial file
        self.assertEqual(resp.body, blob[:1000])
        self.assertEqual(resp.header("Content-Length"), str(len(blob)))
        resp = self.api("GET", path)
        self.assertEqual((resp.exit_code, resp.body), (0, blob))
        self.fault(method="GET", path="/blob$", drop=True)
        self.assertEqual(self.api("GET", path).exit_code, 52)
        self.assertEqual([e["status"] for e in self.api("GET", "/_requests", auth="none")
                          .json() if e["method"] == "GET"], [200, 200, 0])

    def test_delay_and_after_faults(self):
        coll = self.collection()
        self.fault(method="GET", path="^/v1/data/alice/" + coll, delay_ms=300)
        start = time.monotonic()
        resp = self.api("GET", "/v1/data/alice/" + coll)
        self.assertGreaterEqual(time.monotonic() - start, 0.3)
        self.assertEqual(resp.status, 200)
        self.fault(method="PUT", path=coll, drop=True, after=True)
        resp = self.put("/v1/data/alice/%s/late" % coll, b"stored anyway")
        self.assertEqual(resp.exit_code, 52)
        self.assertEqual(self.api("GET", "/v1/data/alice/%s/late" % coll).body,
                         b"stored anyway")
        self.fault(method="HEAD", path=coll, status=503)
        self.assertEqual(self.head("/v1/data/alice/%s/late" % coll).status, 503)

    def test_bad_fault_specs(self):
        for spec in ({"truncate_after": -1}, {"truncate_after": "10"},
                     {"truncate_after": 10, "status": 500},
                     {"truncate_after": 10, "drop": True}, {"status": 500, "skip": -1}):
            self.assertError(self.api("POST", "/_fault", auth="none", body=spec), 400, 2015)

    def test_reset_state_wipes_data(self):
        coll = self.collection()
        self.put("/v1/data/alice/%s/f" % coll, b"x")
        self.assertEqual(self.api("POST", "/_reset", auth="none", body={"state": True}).status,
                         204)
        self.assertEqual(self.head("/v1/data/alice/" + coll).status, 404)
        self.assertFalse(os.path.exists(self.cluster.data_path(ALICE)))
        self.collection()


def main():
    program = unittest.main(module=__name__, exit=False,
                            testRunner=unittest.TextTestRunner(verbosity=2))
    result = program.result
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    sys.stderr.flush()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
