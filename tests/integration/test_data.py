#!/usr/bin/env python3
"""Hosted data follows the code: a pair's data: mappings make each
destination collection hold the source collection's files before the
code is pushed; only changed files are copied (the route's manifest),
files gone at the source go with delete: true, a file changed at the
destination by someone else holds the route, a copy streams with bounded
memory, and a copy cut by a crash or a fault resumes with what is
missing. Observed on the clusters' collections and request logs.
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Daemon, knob, wait_for, CAROL_KEY  # noqa: E402
from fakecluster_util import ALICE_KEY  # noqa: E402

SRC_COLL = "data://alice/models"
DST_COLL = "data://acme/models"
MAPPING = {"from": SRC_COLL, "to": DST_COLL}
PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello"}


def data_req(cluster, key, method, path, body=None, ctype=None):
    """One Data API request; (status, body bytes)."""
    req = urllib.request.Request(cluster.url + "/v1/connector/data/" + path,
                                 data=body, method=method)
    req.add_header("Authorization", "Simple " + key)
    if ctype:
        req.add_header("Content-Type", ctype)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=120) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Coll:
    """A collection on one cluster, as a person's scripts see it."""

    def __init__(self, cluster, key, owner, name):
        self.cluster, self.key, self.owner, self.name = cluster, key, owner, name

    def create(self, acl=None):
        body = {"name": self.name}
        if acl is not None:
            body["acl"] = {"read": acl}
        st, out = data_req(self.cluster, self.key, "POST", self.owner,
                           json.dumps(body).encode(), "application/json")
        assert st == 200, (st, out)

    def put(self, name, data):
        st, out = data_req(self.cluster, self.key, "PUT",
                           "%s/%s/%s" % (self.owner, self.name, quote(name)), data,
                           "application/octet-stream")
        assert st == 200, (st, out)

    def get(self, name):
        st, out = data_req(self.cluster, self.key, "GET",
                           "%s/%s/%s" % (self.owner, self.name, quote(name)))
        assert st == 200, (st, out)
        return out

    def delete(self, name):
        st, out = data_req(self.cluster, self.key, "DELETE",
                           "%s/%s/%s" % (self.owner, self.name, quote(name)))
        assert st == 200, (st, out)

    def listing(self):
        """{name: size} over every page, and the acl; None when missing."""
        files, marker, acl = {}, None, None
        while True:
            q = "?acl=true" + ("&marker=" + quote(marker) if marker else "")
            st, out = data_req(self.cluster, self.key, "GET",
                               "%s/%s%s" % (self.owner, self.name, q))
            if st == 404:
                return None, None
            assert st == 200, (st, out)
            page = json.loads(out)
            for f in page.get("files", []):
                files[f["filename"]] = f["size"]
            acl = acl or page.get("acl")
            marker = page.get("marker")
            if not marker:
                return files, acl


def data_requests(cluster, method=None):
    return [(r["method"], r["path"]) for r in knob(cluster, "GET", "/_requests")
            if "/connector/data/" in r["path"] and (method is None or r["method"] == method)]


class DataTest(harness.EnvCase):
    def setUp(self):
        super().setUp()
        self.src = Coll(self.env.dev, ALICE_KEY, "alice", "models")
        self.dst = Coll(self.env.prod, CAROL_KEY, "acme", "models")

    def config(self, mapping=None, **pair):
        self.env.write_config([dict(PAIR, data=[mapping or MAPPING], **pair)],
                              defaults={"reconcile_interval": "5s"})

    def once_ok(self, *args):
        proc = self.env.once(*args)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc

    def assert_same(self):
        src, _ = self.src.listing()
        dst, _ = self.dst.listing()
        self.assertEqual(dst, src)
        for name in src:
            self.assertEqual(hashlib.sha256(self.dst.get(name)).hexdigest(),
                             hashlib.sha256(self.src.get(name)).hexdigest(), name)

    def test_collection_created_and_copied_before_the_push(self):
        self.src.create(acl=["user://*"])
        self.src.put("model.bin", os.urandom(300 * 1024))
        self.src.put("labels.json", b'{"0": "cat"}')
        self.config()
        self.env.commit(files={"src/Hello.py": "loads the model\n"})
        self.once_ok()
        self.assert_same()
        _, acl = self.dst.listing()
        self.assertEqual(acl, {"read": ["user://*"]})
        reqs = [(r["method"], r["path"]) for r in knob(self.env.prod, "GET", "/_requests")]
        last_data = max(i for i, r in enumerate(reqs)
                        if "/connector/data/" in r[1] and r[0] != "GET")
        push = next(i for i, r in enumerate(reqs)
                    if r[0] == "POST" and "git-receive-pack" in r[1])
        self.assertLess(last_data, push, reqs)
        self.assertEqual(len(self.env.prod_versions()), 1)
        man = json.load(open(os.path.join(self.env.route_dir("hello", "prod/acme/Hello"),
                                          "data.json")))
        files = {f["name"]: f for f in man["collections"][0]["files"]}
        self.assertEqual(files["labels.json"]["sha256"],
                         hashlib.sha256(b'{"0": "cat"}').hexdigest())
        self.assertEqual(files["labels.json"]["size"], 12)

    def test_only_changes_are_copied_and_gone_files_deleted(self):
        self.src.create()
        for i in range(4):
            self.src.put("f%d.bin" % i, os.urandom(1000 + i))
        self.config(dict(MAPPING, delete=True))
        self.env.commit(files={"src/Hello.py": "v1\n"})
        self.once_ok()
        self.assert_same()
        knob(self.env.prod, "POST", "/_reset")
        # Change one, add one, remove one; no new code.
        self.src.put("f1.bin", os.urandom(5000))
        self.src.put("new.bin", b"brand new")
        self.src.delete("f3.bin")
        self.once_ok()
        self.assert_same()
        puts = sorted(p for m, p in data_requests(self.env.prod, "PUT"))
        self.assertEqual(puts, ["/v1/connector/data/acme/models/f1.bin",
                                "/v1/connector/data/acme/models/new.bin"])
        self.assertEqual(data_requests(self.env.prod, "DELETE"),
                         [("DELETE", "/v1/connector/data/acme/models/f3.bin")])
        self.assertEqual(len(self.env.prod_versions()), 1)
        # Nothing changed: nothing copied.
        knob(self.env.prod, "POST", "/_reset")
        self.once_ok()
        self.assertEqual(data_requests(self.env.prod, "PUT"), [])

    def test_without_delete_destination_files_stay(self):
        self.src.create()
        self.src.put("a.bin", b"a")
        self.src.put("b.bin", b"b")
        self.config()
        self.env.commit(files={"src/Hello.py": "v1\n"})
        self.once_ok()
        self.src.delete("b.bin")
        self.once_ok()
        dst, _ = self.dst.listing()
        self.assertEqual(sorted(dst), ["a.bin", "b.bin"])

    def test_destination_file_changed_by_hand_holds_the_route(self):
        self.src.create()
        self.src.put("model.bin", b"x" * 1000)
        self.config()
        self.env.commit(files={"src/Hello.py": "v1\n"})
        self.once_ok()
        self.dst.put("model.bin", b"hand-made model")
        self.src.put("other.bin", b"more")
        self.env.once()
        self.assertEqual(self.env.route_phase("hello"), "held")
        self.assertEqual(self.dst.get("model.bin"), b"hand-made model")
        st = self.env.route_state("hello")
        self.assertIn("data://acme/models/model.bin changed outside algopromoted",
                      st["drift"]["subject"])
        self.assertEqual(self.env.ctl("status", "--check").returncode, 1)
        proc = self.env.ctl("resume", "hello")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.once_ok()
        self.assert_same()
        self.assertEqual(self.dst.get("model.bin"), b"x" * 1000)

    def test_dry_run_lists_the_copies_and_changes_nothing(self):
        self.src.create()
        self.src.put("model.bin", b"m" * 2048)
        self.config()
        self.env.commit(files={"src/Hello.py": "v1\n"})
        proc = self.once_ok("--dry-run")
        self.assertIn("hello->prod/acme/Hello: would create collection data://acme/models",
                      proc.stdout)
        self.assertIn("hello->prod/acme/Hello: would copy data://alice/models/model.bin "
                      "(2048 bytes)", proc.stdout)
        self.assertEqual(self.dst.listing(), (None, None))

    def test_a_fault_on_each_data_request_class_is_survived(self):
        self.src.create()
        for i in range(3):
            self.src.put("f%d.bin" % i, os.urandom(2000))
        self.env.write_config([dict(PAIR, data=[
            dict(MAPPING, delete=True),
            {"from": SRC_COLL, "to": "data://acme/models2"}])])
        self.dst.create()
        self.dst.put("stale.bin", b"old")
        faults = [(self.env.prod, "POST", r"^/v1/connector/data/acme$"),(self.env.dev, "GET", r"^/v1/connector/data/alice/models\?"),
                  (self.env.prod, "GET", r"^/v1/connector/data/acme/models\?"),
                  (self.env.dev, "GET", r"^/v1/connector/data/alice/models/f1\.bin"),
                  (self.env.prod, "PUT", r"^/v1/connector/data/acme/models/f2\.bin"),
                  (self.env.prod, "DELETE", r"^/v1/connector/data/acme/models/stale"),
                  (self.env.dev, "GET", r"^/v1/connector/data/alice/models/f0\.bin")]
        for cluster, method, path in faults:
            knob(cluster, "POST", "/_fault", {"method": method, "path": path,
                                              "status": 503, "count": 1})
        self.env.commit(files={"src/Hello.py": "v1\n"})
        proc = self.env.once()
        if proc.returncode != 0:
            proc = self.env.once()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assert_same()
        other, _ = Coll(self.env.prod, CAROL_KEY, "acme", "models2").listing()
        self.assertEqual(other, self.src.listing()[0])
        self.assertEqual(len(self.env.prod_versions()), 1)
        hit = [r for r in knob(self.env.prod, "GET", "/_requests") if r["status"] == 503]
        hit += [r for r in knob(self.env.dev, "GET", "/_requests") if r["status"] == 503]
        self.assertEqual(len(hit), len(faults))

    def test_a_cut_download_is_not_stored_and_is_copied_again(self):
        self.src.create()
        payload = os.urandom(3 * 1024 * 1024)
        self.src.put("big.bin", payload)
        self.config()
        knob(self.env.dev, "POST", "/_fault",
             {"method": "GET", "path": r"/models/big\.bin", "truncate_after": 1000000,
              "count": 5})
        self.env.commit(files={"src/Hello.py": "v1\n"})
        proc = self.env.once()
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("big.bin", proc.stderr)
        dst, _ = self.dst.listing()
        self.assertEqual(dst, {})
        self.assertEqual(self.env.prod_versions(), [])
        knob(self.env.dev, "POST", "/_reset")
        self.once_ok()
        self.assertEqual(self.dst.get("big.bin"), payload)

    def test_kill_in_the_middle_resumes_with_what_is_missing(self):
        self.src.create()
        for i in range(6):
            self.src.put("f%d.bin" % i, os.urandom(256 * 1024))
        self.config()
        # The fourth upload hangs long enough to kill the daemon in it.
        knob(self.env.prod, "POST", "/_fault",
             {"method": "PUT", "path": r"/models/f3\.bin", "delay_ms": 30000})
        self.env.commit(files={"src/Hello.py": "v1\n"})
        d = Daemon(self.env)
        self.daemons.append(d)
        d.wait_ready()
        journal = os.path.join(self.env.route_dir("hello", "prod/acme/Hello"),
                               "data.journal")
        def puts_journaled():
            if not os.path.exists(journal):
                return 0
            return sum(json.loads(l).get("op") == "put"
                       for l in open(journal).read().splitlines())
        wait_for(lambda: puts_journaled() == 3, what="three copies journaled")
        st = self.env.ctl("status")
        self.assertIn("data 3/6 files, 768.0 KiB of 1.5 MiB", st.stdout)
        _, metrics = d.http("/metrics")
        self.assertIn("algopromoted_data_copied_files_total 3", metrics)
        self.assertIn("algopromoted_data_copied_bytes_total 786432", metrics)
        d.signal(signal.SIGKILL)
        d.proc.wait(30)
        d.stop()
        self.daemons.remove(d)
        knob(self.env.prod, "POST", "/_reset")
        self.once_ok()
        self.assert_same()
        puts = sorted(p.rsplit("/", 1)[1] for m, p in data_requests(self.env.prod, "PUT"))
        self.assertEqual(puts, ["f3.bin", "f4.bin", "f5.bin"])
        self.assertEqual(len(self.env.prod_versions()), 1)

    def test_crash_after_data_copy(self):
        """Dies after a file's PUT was answered and before the journal
        holds it: the next run sees the file landed (the source unchanged,
        the destination changed to the source's size since the copy began),
        hashes it in place instead of copying it again, and finishes with
        one publish."""
        self.src.create()
        self.src.put("a.bin", os.urandom(64 * 1024))
        self.src.put("b.bin", os.urandom(64 * 1024))
        self.dst.create()
        self.dst.put("a.bin", b"an older a")
        before = len(data_requests(self.env.prod, "PUT"))
        self.config()
        self.env.commit(files={"src/Hello.py": "v1\n"})
        proc = self.env.once(env={"ALGOPROMOTED_FAILPOINT": "after-data-copy"})
        self.env.logs.append(proc.stderr)
        self.assertEqual(proc.returncode, 99, proc.stderr)
        self.assertIn("failpoint after-data-copy", proc.stderr)
        self.assertEqual(data_requests(self.env.prod, "PUT")[before:],
                         [("PUT", "/v1/connector/data/acme/models/a.bin")])
        self.assertEqual(self.env.prod_versions(), [])
        rdir = self.env.route_dir("hello", "prod/acme/Hello")
        plan = self.once_ok("--dry-run")
        self.assertIn("would hash in place data://alice/models/a.bin (65536 bytes), "
                      "copied before an interruption", plan.stdout)
        proc = self.once_ok()
        self.assertIn("data://acme/models/a.bin was in place already", proc.stderr)
        self.assert_same()
        puts = [p for _, p in data_requests(self.env.prod, "PUT")[before:]]
        self.assertEqual(puts, ["/v1/connector/data/acme/models/a.bin",
                                "/v1/connector/data/acme/models/b.bin"])
        self.assertEqual(len(self.env.prod_versions()), 1)
        man = json.load(open(os.path.join(rdir, "data.json")))
        files = {f["name"]: f for f in man["collections"][0]["files"]}
        self.assertEqual(files["a.bin"]["sha256"],
                         hashlib.sha256(self.src.get("a.bin")).hexdigest())
        self.assertNotIn("started", man["collections"][0])
        # And a third run has nothing to do.
        self.once_ok()
        self.assertEqual(len(data_requests(self.env.prod, "PUT")[before:]), 2)
        self.assertEqual(len(self.env.prod_versions()), 1)

    def test_an_unfinished_copy_is_copied_again(self):
        """A copy begun and never answered leaves the destination as it
        was: the next run copies it (nothing says the bytes landed)."""
        self.src.create()
        self.src.put("a.bin", os.urandom(64 * 1024))
        self.config()
        knob(self.env.prod, "POST", "/_fault",
             {"method": "PUT", "path": r"/models/a\.bin", "status": 503, "count": 100})
        self.env.commit(files={"src/Hello.py": "v1\n"})
        proc = self.env.once()
        self.assertNotEqual(proc.returncode, 0)
        knob(self.env.prod, "POST", "/_reset")
        proc = self.once_ok()
        self.assertNotIn("in place already", proc.stderr)
        self.assert_same()
        self.assertEqual(len(self.env.prod_versions()), 1)

    def test_big_file_streams_in_bounded_memory(self):
        """200 MiB through the daemon; its peak RSS grows by < 16 MiB over
        a run that copies nothing (measured by wait4 of each run)."""
        self.src.create()
        self.src.put("small.bin", b"s")
        self.config()
        self.env.commit(files={"src/Hello.py": "v1\n"})
        base = self.rss_of_once()
        big = 200 * 1024 * 1024
        block = os.urandom(1024 * 1024)
        digest = hashlib.sha256()
        for _ in range(big // len(block)):
            digest.update(block)
        self.put_stream("big.bin", block, big // len(block))
        peak = self.rss_of_once()
        self.assertLess(peak - base, 16 * 1024, "peak RSS %d KiB vs %d KiB" % (peak, base))
        dst, _ = self.dst.listing()
        self.assertEqual(dst["big.bin"], big)
        man = json.load(open(os.path.join(self.env.route_dir("hello", "prod/acme/Hello"),
                                          "data.json")))
        files = {f["name"]: f for f in man["collections"][0]["files"]}
        self.assertEqual(files["big.bin"]["sha256"], digest.hexdigest())

    def put_stream(self, name, block, n):
        """PUT n copies of block without building the body in memory."""
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.env.dev.port, timeout=300)
        conn.putrequest("PUT", "/v1/connector/data/alice/models/" + name)
        conn.putheader("Authorization", "Simple " + ALICE_KEY)
        conn.putheader("Content-Length", str(len(block) * n))
        conn.endheaders()
        for _ in range(n):
            conn.send(block)
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200, resp.read())
        conn.close()

    def rss_of_once(self):
        """Runs --once; the run's own peak RSS in KiB (wait4)."""
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen([harness.DAEMON, "-f", self.env.config, "--once"],
                                    env=harness.env_with(), stdout=out,
                                    stderr=subprocess.STDOUT)
            _, status, ru = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            text = out.read().decode("utf-8", "replace")
        self.env.logs.append(text)
        self.assertEqual(proc.returncode, 0, text)
        return ru.ru_maxrss


def frozen_manifest(entries, optional=()):
    """A model_manifest.json.freeze as the ADK writes it: entries are
    (name, uri, md5); the lock by the ADK's rule."""
    def entry(name, uri, md5, required):
        e = {"name": name, "source_uri": uri, "fail_on_tamper": required,
             "metadata": {"dataset_md5_checksum": md5 or "none"}}
        if md5:
            e["md5_checksum"] = md5
        return e
    d = {"required_files": [entry(n, u, m, True) for n, u, m in entries],
         "optional_files": [entry(n, u, m, False) for n, u, m in optional],
         "timestamp": "1633450866.985464"}
    d["lock_checksum"] = hashlib.md5(str(d).encode()).hexdigest()
    return json.dumps(d, indent=2)


def adk_lock_holds(text):
    """The ADK's own check, with python3 as the oracle."""
    d = json.loads(text)
    lock = d.pop("lock_checksum")
    return hashlib.md5(str(d).encode()).hexdigest() == lock


class PinnedDataTest(harness.EnvCase):
    """A promoted tree's frozen model manifest: its files copied under
    names that hold their MD5, the manifest re-locked to them, so each
    published version keeps loading the bytes it was promoted with."""

    def setUp(self):
        super().setUp()
        self.src = Coll(self.env.dev, ALICE_KEY, "alice", "models")
        self.dst = Coll(self.env.prod, CAROL_KEY, "acme", "models")
        self.src.create()

    def prod_manifest(self, rev="HEAD"):
        work = self.env.prod_clone()
        return harness.git("show", "%s:model_manifest.json.freeze" % rev, cwd=work)

    def release(self, model, labels=b'{"0": "cat"}', message="model"):
        self.src.put("model.pth", model)
        self.src.put("labels.json", labels)
        mm = frozen_manifest(
            [("model", "data://alice/models/model.pth", hashlib.md5(model).hexdigest())],
            optional=[("labels", "data://.my/models/labels.json", None)])
        return self.env.commit(files={"model_manifest.json.freeze": mm,
                                      "src/Hello.py": message + "\n"}, message=message)

    def test_pinned_files_renamed_and_manifest_relocked(self):
        self.env.write_config([dict(PAIR, data=[dict(MAPPING, delete=True)])],
                              defaults={"data_retain": 1})
        v1 = os.urandom(64 * 1024)
        self.release(v1, message="model one")
        proc = self.env.once()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        md5_1 = hashlib.md5(v1).hexdigest()
        pin1 = "model.%s.pth" % md5_1
        labels_pin = "labels.%s.json" % hashlib.md5(b'{"0": "cat"}').hexdigest()
        self.assertEqual(self.dst.get(pin1), v1)
        self.assertEqual(self.dst.get(labels_pin), b'{"0": "cat"}')
        self.assertEqual(self.dst.get("model.pth"), v1)
        text = self.prod_manifest()
        self.assertTrue(adk_lock_holds(text), text)
        d = json.loads(text)
        self.assertEqual(d["required_files"][0]["source_uri"],
                         "data://acme/models/" + pin1)
        self.assertEqual(d["required_files"][0]["md5_checksum"], md5_1)
        self.assertEqual(d["optional_files"][0]["source_uri"],
                         "data://acme/models/" + labels_pin)
        # The source's manifest is as it was; only the copy changed.
        self.assertNotEqual(text, harness.git("show", "HEAD:model_manifest.json.freeze",
                                              cwd=self.env.work["Hello"]))
        # Version two: a new model. Version one's file stays until two
        # is published; with data_retain: 1 it goes then, and only then.
        v2 = os.urandom(64 * 1024)
        self.release(v2, message="model two")
        proc = self.env.once()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        pin2 = "model.%s.pth" % hashlib.md5(v2).hexdigest()
        self.assertEqual(self.dst.get(pin2), v2)
        self.assertEqual(self.dst.get("model.pth"), v2)
        files, _ = self.dst.listing()
        self.assertNotIn(pin1, files)
        self.assertIn(labels_pin, files)  # version two names it too
        self.assertIn("data_retain: deleted data://acme/models/" + pin1, proc.stderr)
        self.assertEqual([v for v, _ in self.env.prod_versions()], ["0.2.0", "0.1.0"])
        self.assertTrue(adk_lock_holds(self.prod_manifest()))

    def test_without_retention_every_version_keeps_its_bytes(self):
        self.env.write_config([dict(PAIR, data=[dict(MAPPING, delete=True)])])
        v1, v2 = os.urandom(4096), os.urandom(4096)
        self.release(v1, message="one")
        self.assertEqual(self.env.once().returncode, 0)
        self.release(v2, message="two")
        self.assertEqual(self.env.once().returncode, 0)
        files, _ = self.dst.listing()
        for b in (v1, v2):
            self.assertEqual(self.dst.get("model.%s.pth" % hashlib.md5(b).hexdigest()), b)
        self.assertEqual(len(files), 5)  # model.pth, labels.json and three pins

    def test_tampered_source_file_stops_the_promotion(self):
        self.env.write_config([dict(PAIR, data=[MAPPING])])
        good = os.urandom(8192)
        self.release(good)
        self.src.put("model.pth", b"tampered" + good)
        proc = self.env.once()
        self.assertNotEqual(proc.returncode, 0)
        want = hashlib.md5(good).hexdigest()
        got = hashlib.md5(b"tampered" + good).hexdigest()
        self.assertIn("the model manifest and the source's data disagree", proc.stderr)
        self.assertIn(want, proc.stderr)
        self.assertIn(got, proc.stderr)
        # No file was written: the check comes before any copy.
        files, _ = self.dst.listing()
        self.assertEqual(files, {})
        self.assertEqual(self.env.prod_versions(), [])
        self.assertFalse([r for r in knob(self.env.prod, "GET", "/_requests")
                          if "git-receive-pack" in r["path"] and r["method"] == "POST"])

    def test_a_manifest_whose_lock_does_not_hold_is_refused(self):
        self.env.write_config([dict(PAIR, data=[MAPPING])])
        model = os.urandom(1024)
        self.src.put("model.pth", model)
        d = json.loads(frozen_manifest(
            [("model", "data://alice/models/model.pth", hashlib.md5(model).hexdigest())]))
        d["timestamp"] = "1"
        self.env.commit(files={"model_manifest.json.freeze": json.dumps(d)})
        proc = self.env.once()
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("lock_checksum does not match", proc.stderr)
        self.assertEqual(self.env.prod_versions(), [])


class PagedDataTest(DataTest):
    """The same against clusters that list 7 files per page, and one
    collection of 500 files."""
    env_args = {"data_page_size": 7}

    def test_five_hundred_files_across_pages(self):
        self.src.create()
        for i in range(500):
            self.src.put("part-%03d.txt" % i, b"%d\n" % i)
        self.config()
        self.env.commit(files={"src/Hello.py": "v1\n"})
        self.once_ok()
        dst, _ = self.dst.listing()
        self.assertEqual(len(dst), 500)
        self.assertEqual(self.dst.get("part-499.txt"), b"499\n")
        knob(self.env.prod, "POST", "/_reset")
        self.once_ok()
        self.assertEqual(data_requests(self.env.prod, "PUT"), [])


# The paged variant runs every DataTest too; keep its heavy ones single.
for _name in ("test_big_file_streams_in_bounded_memory",
              "test_kill_in_the_middle_resumes_with_what_is_missing",
              "test_a_cut_download_is_not_stored_and_is_copied_again"):
    setattr(PagedDataTest, _name, None)


if __name__ == "__main__":
    harness.main()
