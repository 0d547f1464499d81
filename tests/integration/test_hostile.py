#!/usr/bin/env python3
"""Hostile input from the network, the source and the configuration.

API answers (the fakecluster's /_fault knob, or tests/fakes/hostile_server.py
where it cannot say it): HTML instead of JSON, truncated JSON, members of
the wrong type, bytes that are not UTF-8, a body over the cap (announced,
streamed, gzip), redirects to another host. Git: ref advertisements with
bad pkt-line lengths or over the poller's cap, redirects, and source trees
holding "..", ".", ".git", absolute and slashed names, empty and
NUL-holding names, 300 levels of directories. Configuration (-n, the
start, a reload): a YAML alias bomb, 10 MB, flow nesting 10000 to 500000
deep, bytes that are not UTF-8, a NUL.

Each case: one clear error line naming the request, repository or
file:line:col; no crash, no hang, little memory; nothing pushed (after
the push: nothing published), no map line, no key anywhere; and, where
checked, one promotion once the cause is gone. Names and links git
allows (not UTF-8, a newline, a symlink out of the tree) are promoted
byte for byte and never followed.
"""
import binascii
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fakes"))
import harness  # noqa: E402
from harness import Env, knob  # noqa: E402
from hostile_server import HostileServer, pkt, sideband  # noqa: E402

PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello"}
ROUTE = "route hello->prod/acme/Hello: "
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warn|error): ")
ADV = "application/x-git-upload-pack-advertisement"
DEST = r"^/v1/algorithms/acme/Hello$"
BUILDS = r"^/v1/algorithms/acme/Hello/builds\?"
BUILD = r"^/v1/algorithms/acme/Hello/builds/[0-9a-f-]+$"
PUBLISH = r"^/v1/algorithms/acme/Hello/versions$"
REFS = r"/info/refs\?service=git-upload-pack$"
UPLOAD = r"/git-upload-pack$"
MAX_RSS_KB = 200 * 1024   # no case may come near what it announces (1 GiB)
HTML = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<style>body{font-family:sans-serif;margin:0;padding:0;background:#fafafa}"
        "h1{font-size:2em;color:#333}.box{border:1px solid #ccc;padding:1em}</style>"
        "<script>window.dataLayer=window.dataLayer||[];</script>"
        "<title>Sign in - Corporate Proxy</title></head>"
        "<body><div class=box><h1>Sign in</h1><form>...</form></div></body></html>\n")


# --- running the daemon -------------------------------------------------------

def run_daemon(env, *args, timeout=60):
    """algopromoted -f CONFIG ARGS; (returncode, stderr, max RSS in KB).
    A watchdog kills it after timeout: a hang fails the test, it does not
    stall it."""
    out = tempfile.TemporaryFile()
    proc = subprocess.Popen([harness.DAEMON, "-f", env.config] + list(args),
                            env=harness.env_with(), stdin=subprocess.DEVNULL,
                            stdout=out, stderr=subprocess.STDOUT)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    text = out.read().decode("utf-8")   # the log is UTF-8, whatever came in
    out.close()
    env.logs.append(text)
    return proc.returncode, text, usage.ru_maxrss


def assert_sane_log(test, rc, text, rss=None):
    """No crash, no sanitizer report, every line one whole log line."""
    test.assertIn(rc, (0, 1, 2), "exit %s:\n%s" % (rc, text[-3000:]))
    for bad in ("Sanitizer", "runtime error:", "Segmentation", "Aborted"):
        test.assertNotIn(bad, text)
    for line in text.splitlines():
        test.assertRegex(line, LINE, "not one log line")
    if rss is not None:
        test.assertLess(rss, MAX_RSS_KB, "max RSS %d KB" % rss)


def errors_of(text, level="error"):
    return [line for line in text.splitlines() if " %s: " % level in line]


# --- git plumbing on the source cluster's bare repository ---------------------

def plumb(repo, *args, data=None):
    proc = subprocess.run(["git", "--git-dir", repo] + list(args), input=data,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=harness.env_with())
    if proc.returncode != 0:
        raise AssertionError("git %s: %s" % (" ".join(args), proc.stderr.decode()))
    return proc.stdout


def raw_tree(repo, entries):
    """A tree object from (mode, name, hex id) as given, names unchecked and
    in the order given, written as a loose object; its id."""
    data = b"".join(mode + b" " + name + b"\0" + binascii.unhexlify(oid)
                    for mode, name, oid in entries)
    obj = b"tree %d\0" % len(data) + data
    oid = hashlib.sha1(obj).hexdigest()
    path = os.path.join(repo, "objects", oid[:2], oid[2:])
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "wb") as f:
            f.write(zlib.compress(obj))
        os.rename(path + ".tmp", path)
    return oid


def root_entries(repo, commit):
    """The entries of commit's root tree as raw_tree takes them."""
    out = []
    for rec in plumb(repo, "ls-tree", "-z", commit).split(b"\0"):
        if rec:
            meta, name = rec.split(b"\t", 1)
            mode, _, oid = meta.split(b" ")
            out.append((mode.lstrip(b"0"), name, oid.decode()))
    return out


def git_sorted(entries):
    """Entries in git's tree order (directories sort as NAME/)."""
    return sorted(entries, key=lambda e: e[1] + (b"/" if e[0] == b"40000" else b""))


# --- the shared set-up --------------------------------------------------------

# The clusters, their HostileServers and the first promotion cost seconds:
# the classes with the same pairs share them (closed by tearDownModule).
SHARED = {}
COUNTER = [0]


def tearDownModule():
    for env, servers in SHARED.values():
        for h in servers:
            h.close()
        env.close()


class HostileCase(unittest.TestCase):
    """An Env whose clusters sit behind a pass-through HostileServer each
    (rules added per test), a trap server for redirects, a first
    promotion done."""
    pairs = [PAIR]
    defaults = {"build_timeout": "20s"}

    @classmethod
    def setUpClass(cls):
        key = json.dumps(cls.pairs)
        if key not in SHARED:
            SHARED[key] = cls.make_env()
        cls.env, (cls.hdev, cls.hprod, cls.trap) = SHARED[key]
        cls.repo = os.path.join(cls.env.dev.state_dir, "repos", "alice", "Hello.git")

    @classmethod
    def make_env(cls):
        env = Env(build_seconds=0.1)
        servers = (HostileServer(env.dev.port), HostileServer(env.prod.port),
                   HostileServer(env.prod.port))
        env.create_source()
        env.write_config(cls.pairs, defaults=cls.defaults,
                         top={"retry_min": "1s", "poll_interval": "5s"},
                         cluster_opts={"dev": {"retries": 1, "timeout": "5s"},
                                       "prod": {"retries": 1, "timeout": "5s"}})
        with open(env.config) as f:
            text = f.read()
        for cluster, h in ((env.dev, servers[0]), (env.prod, servers[1])):
            text = text.replace("api: %s\n" % cluster.url, "api: %s\n" % h.url)
            text = text.replace("git: http://localhost:%d\n" % cluster.port,
                                "git: %s\n" % h.url)
        with open(env.config, "w") as f:
            f.write(text)
        cls.promote_first(env)
        return env, servers

    @classmethod
    def promote_first(cls, env):
        env.commit(files={"src/Hello.py": "v0\n"})
        proc = env.once()
        assert proc.returncode == 0, proc.stderr

    def setUp(self):
        env = self.env
        for c in (env.dev, env.prod):
            knob(c, "POST", "/_reset")
        for h in (self.hdev, self.hprod, self.trap):
            h.clear()

    def tearDown(self):
        self.assertEqual(self.env.scan_for_secrets(), [])

    # helpers

    def new_commit(self, **kw):
        COUNTER[0] += 1
        return self.env.commit(files={"src/Hello.py": "v%d\n" % COUNTER[0]}, **kw)

    def snapshot(self, pair="hello", dest="prod/acme/Hello", algo="Hello"):
        env = self.env
        return (env.prod_head(algo), env.prod_versions(algo),
                len(env.version_map(pair, dest)))

    def fault(self, cluster, spec):
        """A /_fault for the daemon's requests only (not the test's looks)."""
        knob(cluster, "POST", "/_fault", dict({"count": 1, "user_agent": "^algopromoted/"},
                                              **spec))

    def hostile_once(self, what, before=None, pushed=False):
        """One --once run that must fail with one error line matching the
        regex what (after "route ...: "), and change nothing at the
        destination (pushed: the push came before the hostile answer, so
        only the versions and the map must be unchanged). Returns the
        error line."""
        env = self.env
        before = before or self.snapshot()
        rc, text, rss = run_daemon(env, "--once")
        assert_sane_log(self, rc, text, rss)
        self.assertEqual(rc, 1, text[-3000:])
        lines = errors_of(text)
        self.assertEqual(len(lines), 1, text[-3000:])
        self.assertRegex(lines[0], " error: " + re.escape(ROUTE) + what)
        after = self.snapshot()
        if pushed:
            self.assertEqual(after[1:], before[1:], "published or mapped")
        else:
            self.assertEqual(after, before, "pushed, published or mapped")
        return lines[0]

    def assert_recovers(self, pair="hello", dest="prod/acme/Hello", algo="Hello"):
        """With the hostile answers gone, the next run promotes: one more
        version, one more map line, the route idle."""
        env = self.env
        for c in (env.dev, env.prod):
            knob(c, "POST", "/_reset")
        for h in (self.hdev, self.hprod):
            h.clear()
        nversions = len(env.prod_versions(algo))
        nmap = len(env.version_map(pair, dest))
        rc, text, _ = run_daemon(env, "--once")
        self.assertEqual(rc, 0, text[-3000:])
        self.assertEqual(len(env.prod_versions(algo)), nversions + 1)
        self.assertEqual(len(env.version_map(pair, dest)), nmap + 1)
        self.assertEqual(env.route_state(pair, dest)["phase"], "idle")


# --- the management API ----------------------------------------------------------

class Api(HostileCase):
    def test_html_instead_of_json(self):
        self.new_commit()
        self.fault(self.env.prod, {"method": "GET", "path": DEST, "status": 200,
                                   "body": HTML, "headers": {"Content-Type": "text/html"}})
        line = self.hostile_once(r"looking up destination: invalid JSON in response to "
                                 r"GET /v1/algorithms/acme/Hello: 200 Sign in - "
                                 r"Corporate Proxy$")
        self.assertNotIn("<", line)
        self.assert_recovers()

    def test_html_error_page(self):
        self.new_commit()
        self.fault(self.env.prod, {"method": "GET", "path": DEST, "status": 502,
                                   "body": HTML, "headers": {"Content-Type": "text/html"}})
        self.hostile_once(r"looking up destination: GET /v1/algorithms/acme/Hello: "
                          r"502 Sign in - Corporate Proxy$")

    def test_truncated_json(self):
        self.new_commit()
        self.fault(self.env.prod, {"method": "GET", "path": DEST, "status": 200,
                                   "body": '{"name": "Hello", "details": {"label": "He'})
        self.hostile_once(r'looking up destination: invalid JSON in response to GET '
                          r'/v1/algorithms/acme/Hello: 200 \{"name": "Hello", '
                          r'"details": \{"label": "He$')

    def test_body_shorter_than_its_length(self):
        self.new_commit()
        self.hprod.add("GET", DEST, HostileServer.raw(200, b'{"name": "Hello"', length=4096),
                       count=1)
        self.hostile_once(r"looking up destination: GET /v1/algorithms/acme/Hello: "
                          r"transfer closed with 4080 bytes remaining to read$")

    def test_algorithm_not_an_object(self):
        self.new_commit()
        self.fault(self.env.prod, {"method": "GET", "path": DEST, "status": 200,
                                   "body": ["Hello", 1]})
        self.hostile_once(r"looking up destination: GET /v1/algorithms/acme/Hello: "
                          r"the answer is not an object$")

    def test_not_utf8(self):
        self.new_commit()
        self.hprod.add("GET", DEST, HostileServer.raw(
            403, b'{"error": {"message": "caf\xe9 \xff\xfe denied \xc3"}}'), count=1)
        line = self.hostile_once(r"looking up destination: GET /v1/algorithms/acme/Hello: "
                                 r"403 caf\? \?\? denied \?$")
        self.assertIn("caf? ?? denied ?", self.env.route_state("hello")["error"])
        self.assertTrue(line.isprintable())
        self.assert_recovers()

    def test_build_status_an_object(self):
        # After the push: the build found in the list, then its own answer
        # has a status that is an object. The list says the build is
        # running, however fast the fake built it (on a loaded machine it
        # is done by the time it is listed, and never asked alone).
        def running(page):
            for b in page["results"]:
                b["status"] = "in-progress"
            return page
        self.new_commit()
        self.hprod.add("GET", BUILDS, self.rewrite(running))
        self.fault(self.env.prod, {"method": "GET", "path": BUILD, "status": 200, "count": -1,
                                   "body": {"build_id": "b", "status": {"state": "succeeded"}}})
        self.hostile_once(r"waiting for the build: GET /v1/algorithms/acme/Hello/builds/"
                          r"[0-9a-f-]+: status is an object, not a string$", pushed=True)
        self.assert_recovers()

    def rewrite(self, fn):
        """An answer: the real one from the fakecluster, passed through fn."""
        prod = self.env.prod

        def answer(h, body):
            req = urllib.request.Request(prod.url + h.path, headers={
                "Authorization": h.headers.get("Authorization")})
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(req, timeout=10) as resp:
                value = json.loads(resp.read())
            HostileServer.raw(200, json.dumps(fn(value)).encode())(h, body)
        return answer

    def test_build_list_status_an_object(self):
        # The list itself says our build's status is an object: an error,
        # not a wait for a status that never comes (build_timeout).
        def spoil(page):
            for b in page["results"]:
                b["status"] = {"state": b["status"]}
            return page
        self.new_commit()
        self.hprod.add("GET", BUILDS, self.rewrite(spoil))
        self.hostile_once(r"waiting for the build: GET /v1/algorithms/acme/Hello/builds: "
                          r"results\[0\]: status is an object, not a string$", pushed=True)
        self.assert_recovers()

    def test_build_without_an_id(self):
        # Our build listed with no build_id: it was followed by
        # xstrdup(NULL), a crash of the whole daemon.
        def drop_ids(page):
            for b in page["results"]:
                b.pop("build_id", None)
                b.pop("id", None)
            return page
        self.new_commit()
        self.hprod.add("GET", BUILDS, self.rewrite(drop_ids))
        self.hostile_once(r"waiting for the build: GET /v1/algorithms/acme/Hello/builds: "
                          r"the build of [0-9a-f]{40} has no build_id$", pushed=True)
        self.assert_recovers()

    def test_publish_answer_hash_a_number(self):
        # A publish answer naming its commit by a number is not taken as
        # ours: it was recorded as version 9.9.9, which does not exist.
        self.new_commit()
        self.fault(self.env.prod, {"method": "POST", "path": PUBLISH, "status": 200,
                                   "body": {"version_info": {"semantic_version": "9.9.9",
                                                             "git_hash": 5}}})
        self.hostile_once(r"publishing: POST /v1/algorithms/acme/Hello/versions: "
                          r"version_info\.git_hash is a number, not a string$", pushed=True)
        self.assertNotIn("9.9.9", json.dumps(self.env.version_map("hello")))
        self.assert_recovers()

    def test_publish_answer_without_a_hash(self):
        # The publish happens, but its answer names a version and no
        # commit: the version of ours is looked up, not taken on trust.
        sha = self.new_commit()
        nversions = len(self.env.prod_versions("Hello"))
        nmap = len(self.env.version_map("hello"))
        self.fault(self.env.prod, {"method": "POST", "path": PUBLISH, "status": 200,
                                   "after": True,
                                   "body": {"version_info": {"semantic_version": "9.9.9"}}})
        rc, text, rss = run_daemon(self.env, "--once")
        assert_sane_log(self, rc, text, rss)
        self.assertEqual(rc, 0, text[-3000:])
        versions = self.env.prod_versions("Hello")
        lines = self.env.version_map("hello")
        self.assertEqual(len(versions), nversions + 1)
        self.assertEqual(len(lines), nmap + 1)
        self.assertNotIn("9.9.9", json.dumps(lines))
        self.assertEqual(lines[-1]["source_commit"], sha)
        self.assertEqual(lines[-1]["dest_version"], versions[0][0])

    def test_versions_hash_a_number(self):
        # The look at the destination's versions (is our commit published?
        # asked after a publish answered 502) meets a version whose
        # git_hash is a number: an error, not a version passed over (which
        # would publish ours a second time).
        self.new_commit()
        self.fault(self.env.prod, {"method": "POST", "status": 502,
                                   "path": r"^/v1/algorithms/acme/Hello/versions$"})
        self.fault(self.env.prod, {
            "method": "GET", "path": r"^/v1/algorithms/acme/Hello/versions\?", "status": 200,
            "body": {"marker": None, "results": [
                {"version_info": {"semantic_version": "0.9.0", "git_hash": 1234}}]}})
        self.hostile_once(r".*GET /v1/algorithms/acme/Hello/versions: results\[0\]: "
                          r"version_info\.git_hash is a number, not a string$", pushed=True)
        self.assert_recovers()

    def test_body_announced_1gib(self):
        self.new_commit()
        self.hprod.add("GET", DEST, HostileServer.raw(200, b'{"name": "Hello"',
                                                      length=1 << 30), count=1)
        self.hostile_once(r"looking up destination: GET /v1/algorithms/acme/Hello: "
                          r"response too large \(more than 16777216 bytes\)$")
        self.assert_recovers()

    def test_body_streamed_past_the_cap(self):
        piece = b" " * 65536
        self.new_commit()
        self.hprod.add("GET", DEST, HostileServer.raw(
            200, b"[", length=-1, chunks=(piece for _ in range(17 * 16))), count=1)
        self.hostile_once(r"looking up destination: GET /v1/algorithms/acme/Hello: "
                          r"response too large \(more than 16777216 bytes\)$")

    def test_gzip_bomb(self):
        bomb = gzip.compress(b"[" + b" " * (40 << 20) + b"]", 9)
        self.assertLess(len(bomb), 100000)
        self.new_commit()
        self.hprod.add("GET", DEST, HostileServer.raw(
            200, bomb, headers=[("Content-Encoding", "gzip")]), count=1)
        self.hostile_once(r"looking up destination: GET /v1/algorithms/acme/Hello: "
                          r"response too large \(more than 16777216 bytes\)$")
        self.assert_recovers()

    def test_redirect_to_another_host(self):
        for status in (301, 302, 307):
            with self.subTest(status=status):
                self.new_commit()
                to = self.trap.url + "/v1/algorithms/acme/Hello"
                self.fault(self.env.prod, {"method": "GET", "path": DEST, "status": status,
                                           "body": "moved", "headers": {"Location": to}})
                self.hostile_once(r"looking up destination: GET /v1/algorithms/acme/Hello: "
                                  r"%d redirect to %s not followed$" % (status, re.escape(to)))
                self.assertEqual(self.trap.hits, [])
        self.assert_recovers()


class ApiVersions(HostileCase):
    """track: versions: the source's versions list decides what to promote."""
    pairs = [dict(PAIR, track="versions")]

    @classmethod
    def promote_first(cls, env):
        sha = env.commit(files={"src/Hello.py": "v0\n"})
        env.publish_source(sha)
        proc = env.once()
        assert proc.returncode == 0, proc.stderr

    def publish_new(self):
        sha = self.new_commit()
        self.env.publish_source(sha)

    def test_results_not_a_list(self):
        self.publish_new()
        self.fault(self.env.dev, {"method": "GET", "path": r"^/v1/algorithms/alice/Hello/"
                                  r"versions\?", "status": 200,
                                  "body": {"results": {"version_info": {}}}})
        self.hostile_once(r".*GET /v1/algorithms/alice/Hello/versions: no results in the "
                          r"response$")
        self.assert_recovers()

    def test_git_hash_a_number(self):
        self.publish_new()
        self.fault(self.env.dev, {"method": "GET", "path": r"^/v1/algorithms/alice/Hello/"
                                  r"versions\?", "status": 200, "body": {
                                      "marker": None, "results": [{"version_info": {
                                          "semantic_version": "7.0.0", "git_hash": 77}}]}})
        self.hostile_once(r".*GET /v1/algorithms/alice/Hello/versions: results\[0\]: "
                          r"version_info\.git_hash is a number, not a string$")
        self.assert_recovers()


# --- git: ref advertisements --------------------------------------------------------

def advertisement(sha, kind):
    head = pkt(b"# service=git-upload-pack\n") + b"0000"
    first = pkt(sha.encode() + b" HEAD\0multi_ack side-band-64k ofs-delta "
                b"symref=HEAD:refs/heads/master\n")
    master = pkt(sha.encode() + b" refs/heads/master\n")
    return {
        "zzzz": head + b"zzzz" + first[4:] + master + b"0000",
        "0003": head + b"0003" + first + master + b"0000",
        "longer": head + first + b"0fff" + master[4:] + b"0000",
    }[kind]


def big_advertisement(sha, size):
    head = pkt(b"# service=git-upload-pack\n") + b"0000"
    first = pkt(sha.encode() + b" HEAD\0side-band-64k\n")
    tags = b"".join(pkt(("%s refs/tags/t%07d\n" % (sha, i)).encode())
                    for i in range(size // 64))
    return head + first + tags + pkt(sha.encode() + b" refs/heads/master\n") + b"0000"


class GitPoller(HostileCase):
    """The service's polls: our pkt-line parser and the poller's cap."""

    def poll_error(self, answer, what):
        """Starts the service with answer for the source's info/refs; the
        first failed poll logs one warning matching what; nothing starts."""
        env = self.env
        before = self.snapshot()
        self.hdev.add("GET", REFS, answer)
        d = harness.Daemon(env)
        try:
            d.wait_ready()
            harness.wait_for(lambda: "poll failed" in d.log_text(), 30, "a failed poll")
            status, body = d.http("/status")
        finally:
            rc = d.stop()
        text = d.log_text()
        assert_sane_log(self, rc, text)
        self.assertEqual(rc, 0)
        lines = [x for x in text.splitlines() if "poll failed" in x]
        self.assertRegex(lines[0], " warn: " + re.escape(ROUTE) + r"poll failed \(permanent\): "
                         r"GET http://127\.0\.0\.1:\d+/git/alice/Hello\.git/info/refs: " + what)
        live = json.loads(body)[0]["live"]
        self.assertEqual(status, 200)
        self.assertIn(live["poll_error"], lines[0])
        self.assertEqual(self.snapshot(), before)
        self.assertNotIn("fetch source", text)

    def test_pkt_length_not_hex(self):
        sha = self.new_commit()
        self.poll_error(HostileServer.raw(200, advertisement(sha, "zzzz"), ctype=ADV),
                        r"bad pkt-line length at byte 34$")

    def test_pkt_length_below_4(self):
        sha = self.new_commit()
        self.poll_error(HostileServer.raw(200, advertisement(sha, "0003"), ctype=ADV),
                        r"bad pkt-line length at byte 34$")

    def test_pkt_longer_than_the_body(self):
        sha = self.new_commit()
        self.poll_error(HostileServer.raw(200, advertisement(sha, "longer"), ctype=ADV),
                        r"truncated pkt-line at byte \d+$")

    def test_advertisement_over_the_cap(self):
        sha = self.new_commit()
        body = big_advertisement(sha, 2 << 20)
        self.poll_error(HostileServer.raw(200, body, ctype=ADV),
                        r"response too large \(more than 1048576 bytes\)$")

    def test_advertisement_streamed_over_the_cap(self):
        sha = self.new_commit()
        body = big_advertisement(sha, 2 << 20)
        self.poll_error(HostileServer.raw(200, b"", ctype=ADV, length=-1,
                                          chunks=(body[i:i + 65536]
                                                  for i in range(0, len(body), 65536))),
                        r"response too large \(more than 1048576 bytes\)$")

    def test_redirect(self):
        self.new_commit()
        to = self.trap.url + "/git/alice/Hello.git/info/refs?service=git-upload-pack"
        self.poll_error(HostileServer.raw(302, b"", ctype=None, headers=[("Location", to)]),
                        r"302 redirect not followed \(to %s\)$" % re.escape(to))
        self.assertEqual(self.trap.hits, [])


class GitFetch(HostileCase):
    """A promotion's fetch (libgit2) of the same advertisements."""

    def test_pkt_length_not_hex(self):
        sha = self.new_commit()
        self.hdev.add("GET", REFS, HostileServer.raw(200, advertisement(sha, "zzzz"), ctype=ADV))
        self.hostile_once(r"fetching source: fetch http://127\.0\.0\.1:\d+/git/alice/"
                          r"Hello\.git: bad packet length$")
        self.assert_recovers()

    def test_pkt_longer_than_the_body(self):
        sha = self.new_commit()
        self.hdev.add("GET", REFS, HostileServer.raw(200, advertisement(sha, "longer"),
                                                     ctype=ADV))
        self.hostile_once(r"fetching source: fetch http://127\.0\.0\.1:\d+/git/alice/"
                          r"Hello\.git: early EOF$")
        self.assert_recovers()

    def test_pkt_length_below_4(self):
        # One line naming the fetch; what libgit2 says is checked by
        # test_pkt_length_below_4_says_why.
        sha = self.new_commit()
        self.hdev.add("GET", REFS, HostileServer.raw(200, advertisement(sha, "0003"), ctype=ADV))
        self.hostile_once(r"fetching source: fetch http://127\.0\.0\.1:\d+/git/alice/"
                          r"Hello\.git: ")
        self.assert_recovers()

    def test_pkt_length_below_4_says_why(self):
        # libgit2 1.5 fails here without setting a message: the line says
        # so, never the stale message of an earlier libgit2 failure on
        # that thread ("object not found - failed to find offset for pack
        # entry ..." before gitops_op_begin cleared it).
        sha = self.new_commit()
        self.hdev.add("GET", REFS, HostileServer.raw(200, advertisement(sha, "0003"), ctype=ADV))
        line = self.hostile_once(r"fetching source: ")
        self.assertRegex(line, r"(pkt|packet|length|libgit2 gave no reason)$")
        self.assertNotIn("object not found", line)
        self.assert_recovers()

    def test_redirect(self):
        self.new_commit()
        to = self.trap.url + "/git/alice/Hello.git/info/refs?service=git-upload-pack"
        self.hdev.add("GET", REFS, HostileServer.raw(302, b"", ctype=None,
                                                     headers=[("Location", to)]))
        self.hostile_once(r"fetching source: fetch http://127\.0\.0\.1:\d+/git/alice/"
                          r"Hello\.git: refusing to connect to 127\.0\.0\.1:%d, not the "
                          r"server's 127\.0\.0\.1:\d+$" % self.trap.port)
        self.assertEqual(self.trap.hits, [])
        self.assert_recovers()


# --- git: hostile source trees ---------------------------------------------------------

class Trees(HostileCase):
    """Trees written with git plumbing into the source cluster's bare
    repository; what git itself will not serve (an empty name, a NUL in a
    name) goes out as a crafted pack."""

    def setUp(self):
        super().setUp()
        # The source's head, promoted.
        self.base = plumb(self.repo, "rev-parse", "refs/heads/master").decode().strip()
        if self.env.version_map("hello")[-1]["source_commit"] != self.base:
            self.assertEqual(self.env.once().returncode, 0)
        self.assertEqual(self.env.version_map("hello")[-1]["source_commit"], self.base)
        self.blob = plumb(self.repo, "hash-object", "-w", "--stdin",
                          data=b"hostile\n").decode().strip()

    def hostile_commit(self, extra, root=None):
        """A commit on self.base whose root tree is base's plus extra
        entries (taken as given: no check; git's order), or exactly the
        entries root; master points at it."""
        entries = root if root is not None else git_sorted(
            root_entries(self.repo, self.base) + extra)
        tree = raw_tree(self.repo, entries)
        commit = plumb(self.repo, "commit-tree", tree, "-p", self.base, "-m",
                       "hostile").decode().strip()
        plumb(self.repo, "update-ref", "refs/heads/master", commit)
        return commit, tree

    def restore(self, recover=True):
        """master back on base; then an ordinary commit, promoted."""
        plumb(self.repo, "update-ref", "refs/heads/master", self.base)
        if recover:
            self.new_commit()
            self.assert_recovers()

    def refused(self, name, shown=None, mode=b"100644", oid=None, recover=False):
        commit, _ = self.hostile_commit([(mode, name, oid or self.blob)])
        shown = shown if shown is not None else name.decode()
        line = self.hostile_once(r"building tree: source commit %s has an entry \"%s\": a "
                                 r"name git does not allow in a tree$"
                                 % (commit[:12], re.escape(shown)))
        self.restore(recover)
        return line

    def test_dotdot(self):
        self.refused(b"..", recover=True)

    def test_dot(self):
        self.refused(b".", mode=b"40000", oid=plumb(
            self.repo, "rev-parse", self.base + "^{tree}").decode().strip())

    def test_dot_git(self):
        hooks = raw_tree(self.repo, [(b"100755", b"post-checkout", self.blob)])
        git_dir = raw_tree(self.repo, [(b"40000", b"hooks", hooks)])
        self.refused(b".git", mode=b"40000", oid=git_dir)

    def test_dot_git_any_case(self):
        self.refused(b".GiT", mode=b"40000",
                     oid=raw_tree(self.repo, [(b"100644", b"config", self.blob)]))

    def test_absolute_path(self):
        self.refused(b"/etc/passwd")

    def test_traversal_in_a_subdirectory(self):
        sub = raw_tree(self.repo, [(b"100644", b"../../../etc/cron.d/x", self.blob)])
        commit, _ = self.hostile_commit([(b"40000", b"deep", sub)])
        self.hostile_once(r"building tree: source commit %s has an entry "
                          r"\"deep/\.\./\.\./\.\./etc/cron\.d/x\": a name git does not "
                          r"allow in a tree$" % commit[:12])
        self.restore()

    def test_control_and_non_utf8_bytes_in_a_refused_name(self):
        line = self.refused(b"x\n/\xe9", shown="x\\x0a/\\xe9")
        self.assertTrue(line.isascii())

    def serve_pack(self, commit, tree):
        """The source's upload-pack answers with a pack of exactly these
        objects (git's own pack-objects would walk the tree and refuse)."""
        pack = plumb(self.repo, "pack-objects", "--stdout",
                     data=("%s\n%s\n%s\n" % (commit, tree, self.blob)).encode())

        def answer(h, body):
            out = pkt(b"NAK\n")
            if b"0009done\n" in body:
                out += sideband(pack) + b"0000"
            HostileServer.raw(200, out, ctype="application/x-git-upload-pack-result")(h, body)
        self.hdev.add("POST", UPLOAD, answer)

    def test_empty_name(self):
        commit, tree = self.hostile_commit(None, root=[(b"100644", b"", self.blob)])
        self.serve_pack(commit, tree)
        self.hostile_once(r"building tree: source commit %s: failed to parse tree: "
                          r"can't parse filename$" % commit)
        self.assertTrue(self.hdev.hits)
        self.restore()

    def test_nul_in_a_name(self):
        commit, tree = self.hostile_commit(None, root=[(b"100644", b"a\0b", self.blob)])
        self.serve_pack(commit, tree)
        self.hostile_once(r"building tree: source commit %s: failed to parse tree: "
                          r"can't parse filemode$" % commit)
        self.restore(recover=False)

    def test_deeper_than_256(self):
        sub = raw_tree(self.repo, [(b"100644", b"leaf", self.blob)])
        for _ in range(300):
            sub = raw_tree(self.repo, [(b"40000", b"d", sub)])
        self.hostile_commit([(b"40000", b"nest", sub)])
        self.hostile_once(r"building tree: tree nest/(d/){256}: more than 256 levels deep$")
        self.restore(recover=False)

    # Names and links git allows are the source's content: promoted
    # byte for byte, never interpreted.

    def promoted_root(self):
        repo = os.path.join(self.env.prod.state_dir, "repos", "acme", "Hello.git")
        return {e[1]: (e[0], e[2]) for e in root_entries(repo, self.env.prod_head())}

    def test_non_utf8_and_newline_names_promoted_exactly(self):
        names = [b"caf\xe9.py", b"evil\nname", b"\xff\xfe"]
        self.hostile_commit([(b"100644", n, self.blob) for n in names])
        rc, text, _ = run_daemon(self.env, "--once")
        assert_sane_log(self, rc, text)
        self.assertEqual(rc, 0, text[-3000:])
        got = self.promoted_root()
        for n in names:
            self.assertEqual(got.get(n), (b"100644", self.blob), n)
        self.restore()

    def test_symlink_out_of_the_tree_is_not_followed(self):
        # A link to a file of the daemon's host holding a marker, and an
        # algorithmia.conf that is such a link: both promoted as links,
        # the marker read by nobody.
        marker = "HOSTFILE-%d-MARKER" % os.getpid()
        secret = os.path.join(self.env.dir, "host-secret.json")
        with open(secret, "w") as f:
            f.write('{"username": "%s"}\n' % marker)
        target = b"../" * 12 + secret.lstrip("/").encode()
        link = plumb(self.repo, "hash-object", "-w", "--stdin", data=target).decode().strip()
        entries = [e for e in root_entries(self.repo, self.base) if e[1] != b"algorithmia.conf"]
        self.hostile_commit(None, root=git_sorted(
            entries + [(b"120000", b"escape", link), (b"120000", b"algorithmia.conf", link)]))
        rc, text, _ = run_daemon(self.env, "--once")
        assert_sane_log(self, rc, text)
        self.assertEqual(rc, 0, text[-3000:])
        got = self.promoted_root()
        self.assertEqual(got[b"escape"], (b"120000", link))
        self.assertEqual(got[b"algorithmia.conf"], (b"120000", link))
        self.assertNotIn(marker, text)
        prod_repo = os.path.join(self.env.prod.state_dir, "repos", "acme", "Hello.git")
        objects = plumb(prod_repo, "cat-file", "--batch-all-objects", "--batch")
        self.assertNotIn(marker.encode(), objects)
        self.restore()


# --- the configuration ---------------------------------------------------------------

BASE = """\
state_dir: {state}
listen: off
clusters:
  dev:
    api: http://127.0.0.1:1
    key_owner: alice
    api_key_file: {key}
pairs:
  - name: hello
    source: dev/alice/Hello
    destination: dev/acme/Hello
"""


class Config(unittest.TestCase):
    """algopromoted -n, the service's start and a reload on files that
    would cost a naive loader its memory or minutes."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="aptest.")
        cls.key = os.path.join(cls.dir, "dev.key")
        with open(cls.key, "w") as f:
            f.write("simHostileTestKey+x9/Qw3Lz7Rb\n")
        os.chmod(cls.key, 0o600)
        cls.path = os.path.join(cls.dir, "algopromoted.yaml")
        cls.base = BASE.format(state=os.path.join(cls.dir, "state"), key=cls.key)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def write(self, data):
        with open(self.path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())

    def run_both(self, data, want, seconds=10):
        """-n and a plain start on the file: exit 2, the same errors,
        each FILE:LINE:COL: (or FILE: for the file as a whole) on one
        line, exactly one matching want; quickly, in little memory.
        Returns the errors."""
        self.write(data)
        outs = []
        for args in (["-n"], []):
            start = time.monotonic()
            out = tempfile.TemporaryFile()
            err = tempfile.TemporaryFile()
            proc = subprocess.Popen([harness.DAEMON, "-f", self.path] + args,
                                    env=harness.env_with(), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err)
            timer = threading.Timer(60, proc.kill)
            timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
            proc.returncode = rc = os.waitstatus_to_exitcode(status)
            elapsed = time.monotonic() - start
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read().decode("utf-8")
            out.close()
            err.close()
            self.assertEqual(rc, 2, stderr)
            self.assertEqual(stdout, b"")
            self.assertLess(elapsed, seconds, args)
            self.assertLess(usage.ru_maxrss, MAX_RSS_KB)
            lines = stderr.splitlines()
            self.assertTrue(lines)
            for line in lines:
                self.assertRegex(line, r"^%s:(\d+:\d+:)? \S" % re.escape(self.path))
            self.assertEqual(len([x for x in lines if re.search(want, x)]), 1, stderr)
            outs.append(stderr)
        self.assertEqual(outs[0], outs[1])
        return outs[0]

    def test_alias_bomb(self):
        # Nine levels of ten aliases: 10^9 values if expanded.
        lol = "".join("      l%d: &l%d [%s]\n" % (i, i, ", ".join(["*l%d" % (i - 1)] * 10))
                      for i in range(1, 10))
        data = self.base + "defaults:\n  create:\n    details:\n      l0: &l0 [lol]\n" + lol
        err = self.run_both(data, r":21:31: aliases expand the configuration past 1000000 "
                            r"values$")
        self.assertEqual(len(err.splitlines()), 1, err)

    def test_alias_bomb_in_lists(self):
        # The same bomb where lists of globs are read.
        levels = ["&l0 [lol]"] + ["&l%d [%s]" % (i, ", ".join(["*l%d" % (i - 1)] * 10))
                                  for i in range(1, 10)]
        data = ("x-bomb: [%s]\n" % ", ".join(levels) + self.base
                + "    exclude: *l9\n    preserve: *l9\n")
        err = self.run_both(data, r':1:321: aliases expand the configuration past 1000000 '
                            r'values$')
        # Refused once, before anything is expanded.
        self.assertEqual(len(err.splitlines()), 1, err)

    def test_seventeen_megabytes(self):
        data = self.base + ("# " + "x" * 98 + "\n") * ((17 << 20) // 100 + 1)
        self.assertGreater(len(data), 17 << 20)
        err = self.run_both(data, r": larger than 16777216 bytes$")
        self.assertEqual(err, "%s: larger than 16777216 bytes\n" % self.path)

    def test_flow_nesting_10000(self):
        for opener, closer, col in (("[", "]", 73), ("{a: ", "}", 265)):
            with self.subTest(opener=opener):
                data = self.base + "x-deep: " + opener * 10000 + "1" + closer * 10000 + "\n"
                self.run_both(data, r":12:%d: nested more than 64 levels deep$" % col)

    def test_flow_nesting_half_a_million(self):
        # libyaml needed minutes for this (its scanner's time grows with
        # the square of the depth); now stopped after 256 levels.
        data = self.base + "x: " + "[" * 500000 + "]" * 500000 + "\n"
        self.assertLess(len(data), 1 << 20)
        err = self.run_both(data, r":12:68: nested more than 64 levels deep$", seconds=5)
        self.assertEqual(len(err.splitlines()), 1, err)

    def test_unclosed_nesting(self):
        err = self.run_both(self.base + "x: " + "{" * 100000 + "\n",
                            r":12:68: nested more than 64 levels deep$", seconds=5)
        self.assertEqual(len(err.splitlines()), 1, err)

    def test_not_utf8(self):
        base = self.base.encode()
        cases = (
            (base.replace(b"key_owner: alice", b"key_owner: al\xe9ice"),
             r":6:19: syntax error: invalid trailing UTF-8 octet$"),
            (base + b"\xff\xfe: 1\n", r":12:1: syntax error: invalid leading UTF-8 octet$"),
            (base.replace(b"name: hello", b'name: "h\xc3llo"'),
             r":9:14: syntax error: invalid trailing UTF-8 octet$"),
        )
        for data, want in cases:
            with self.subTest(want=want):
                self.run_both(data, want)

    def test_nul_byte(self):
        self.run_both(self.base.encode().replace(b"key_owner: alice", b"key_owner: al\0ice"),
                      r":6:18: syntax error: control characters are not allowed$")

    def test_reload_keeps_the_running_configuration(self):
        # SIGHUP with each hostile file: refused with its errors, the loop
        # never stalls (the watchdog would kill it), the old file kept.
        env = Env()
        try:
            env.create_source()
            env.write_config([PAIR])
            good = open(env.config).read()
            d = harness.Daemon(env, watchdog_usec=4000000)
            try:
                d.wait_ready()
                for data, want in (
                        (good + "x: " + "[" * 500000 + "]" * 500000 + "\n",
                         r"nested more than 64 levels deep"),
                        (good + "# " + "x" * (17 << 20) + "\n", r"larger than 16777216 bytes"),
                        (good.encode() + b"x: \xff\n", r"syntax error: invalid leading")):
                    with self.subTest(want=want):
                        with open(env.config, "wb") as f:
                            f.write(data if isinstance(data, bytes) else data.encode())
                        mark = len(d.log_text())
                        d.signal(signal.SIGHUP)
                        harness.wait_for(lambda: "reload failed" in d.log_text()[mark:], 10,
                                         "the reload refused")
                        new = d.log_text()[mark:]
                        self.assertRegex(new, r"error: reload: %s:(\d+:\d+:)? .*%s"
                                         % (re.escape(env.config), want))
                        self.assertEqual(d.http("/healthz")[0], 200)
                with open(env.config, "w") as f:
                    f.write(good)
            finally:
                rc = d.stop()
            self.assertEqual(rc, 0)
            assert_sane_log(self, rc, d.log_text())
            self.assertEqual(env.scan_for_secrets(), [])
        finally:
            env.close()


if __name__ == "__main__":
    harness.main()
