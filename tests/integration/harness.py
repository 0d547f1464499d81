"""Two emulated clusters, a source algorithm and the real binaries.

Shared by the integration tests and `make demo`. Everything lives in one
temporary directory; nothing outside it is touched. Python 3 standard
library and the git CLI only.
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from urllib.parse import quote

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "fakes", "fakecluster"))

from fakecluster_util import start_cluster, ALICE, ALICE_KEY  # noqa: E402

# The binaries under test: `make check` points AP_BINDIR at the test
# variant (build/test, with the crash points), `make asan` at the sanitizer
# build. The crash tests need such a build; the release one has none.
BINDIR = os.path.join(TOP, os.environ.get("AP_BINDIR", "."))
# The crash points of common/failpoint.h (ALGOPROMOTED_FAILPOINT=NAME).
FAILPOINTS = ("after-fetch", "after-create", "after-commit", "before-push", "after-push",
              "during-build", "after-build", "after-publish", "after-record",
              "mid-state-write", "mid-map-append", "after-data-copy")
DAEMON = os.path.join(BINDIR, "algopromoted")
CTL = os.path.join(BINDIR, "algopromotectl")

# The prod cluster has its own people and keys: a key sent to the wrong
# cluster fails. Both keys hold '+' and '/'.
CAROL, CAROL_KEY = "carol", "simCar0lProdKey+Zq/Wm4Xv9Ty2"
PROD_USERS = [{"name": CAROL, "key": CAROL_KEY, "orgs": ["acme"]}]

GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "Dev Person",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev Person",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
    "no_proxy": "*",
    "NO_PROXY": "*",
}

PY_SETTINGS = {"language": "python3-1", "environment": "cpu", "license": "apl",
               "network_access": "full", "pipeline_enabled": True,
               "source_visibility": "closed"}


def env_with(extra=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}
    env.update(GIT_ENV)
    env.update(extra or {})
    return env


def git(*args, cwd=None, check=True):
    proc = subprocess.run(["git"] + list(args), cwd=cwd, env=env_with(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and proc.returncode != 0:
        raise AssertionError("git %s failed: %s" % (" ".join(args), proc.stderr))
    return proc.stdout.strip()


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__("HTTP %d: %s" % (status, body))
        self.status = status
        self.body = body


def api(cluster, key, method, path, body=None):
    """One management-API call; returns parsed JSON (None for no body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(cluster.url + path, data=data, method=method)
    req.add_header("Authorization", "Simple " + key)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=30) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        raise ApiError(e.code, e.read().decode("utf-8", "replace"))
    return json.loads(raw) if raw else None


def knob(cluster, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(cluster.url + path, data=data if method == "POST" else None,
                                 method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def parse_iso(stamp):
    """The fakecluster's "2022-05-08T22:43:09.050Z" as epoch seconds."""
    from datetime import datetime
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def await_request(cluster, fragment, timeout=60):
    """Waits until the cluster's request log shows a request whose path
    holds fragment; returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in knob(cluster, "GET", "/_requests"):
            if fragment in r["path"]:
                return r
        time.sleep(0.02)
    raise AssertionError("no request for %s" % fragment)


class Env:
    """A dev and a prod cluster, a work tree of the source, a config."""

    def __init__(self, build_seconds=0.2, keep=False, data_page_size=None):
        self.dir = tempfile.mkdtemp(prefix="aptest.")
        self.keep = keep or bool(os.environ.get("APTEST_KEEP"))
        self.dev = start_cluster(os.path.join(self.dir, "dev"), build_seconds=build_seconds,
                                 data_page_size=data_page_size)
        self.prod = start_cluster(os.path.join(self.dir, "prod"), users=PROD_USERS,
                                  build_seconds=build_seconds, data_page_size=data_page_size)
        self.state = os.path.join(self.dir, "state")
        self.keys = os.path.join(self.dir, "keys")
        os.makedirs(self.keys)
        for name, key in (("dev.key", ALICE_KEY), ("prod.key", CAROL_KEY)):
            path = os.path.join(self.keys, name)
            with open(path, "w") as f:
                f.write(key + "\n")
            os.chmod(path, 0o600)
        self.config = os.path.join(self.dir, "algopromoted.yaml")
        self.logs = []
        self.work = {}

    def close(self):
        self.dev.stop()
        self.prod.stop()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the source side -------------------------------------------------

    def create_source(self, algo="Hello", owner=ALICE):
        api(self.dev, ALICE_KEY, "POST", "/v1/algorithms/" + owner,
            {"name": algo, "details": {"label": algo + " (dev)", "summary": "says hello"},
             "settings": PY_SETTINGS})
        work = os.path.join(self.dir, "work-" + algo)
        git("clone", "-q", self.dev.git_url(owner, algo, ALICE, ALICE_KEY), work)
        self.work[algo] = work
        return work

    def commit(self, algo="Hello", files=None, remove=(), message="change", push=True):
        """Writes files ({path: str|bytes|("symlink", target)|("exec", text)}),
        removes paths, commits and pushes to the dev master."""
        work = self.work[algo]
        for path in remove:
            git("rm", "-q", "-r", path, cwd=work)
        for path, content in (files or {}).items():
            full = os.path.join(work, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            if os.path.lexists(full):
                os.remove(full)
            if isinstance(content, tuple) and content[0] == "symlink":
                os.symlink(content[1], full)
            elif isinstance(content, tuple) and content[0] == "exec":
                with open(full, "w") as f:
                    f.write(content[1])
                os.chmod(full, 0o755)
            elif isinstance(content, bytes):
                with open(full, "wb") as f:
                    f.write(content)
            else:
                with open(full, "w") as f:
                    f.write(content)
            git("add", "-f", path, cwd=work)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=work)
        if push:
            git("push", "-q", "origin", "HEAD:master", cwd=work)
        return git("rev-parse", "HEAD", cwd=work)

    def wait_build(self, cluster, key, owner, algo, sha, timeout=30):
        """Polls the builds list until the build of sha has finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            builds = api(cluster, key, "GET",
                         "/v1/algorithms/%s/%s/builds?limit=50" % (owner, algo))["results"]
            for b in builds:
                if b["commit_sha"] == sha and b["status"] != "in-progress":
                    return b
            time.sleep(0.05)
        raise AssertionError("no finished build of %s" % sha)

    def publish_source(self, sha, version_type="minor", algo="Hello", owner=ALICE):
        b = self.wait_build(self.dev, ALICE_KEY, owner, algo, sha)
        assert b["status"] == "succeeded", b
        v = api(self.dev, ALICE_KEY, "POST", "/v1/algorithms/%s/%s/versions" % (owner, algo),
                {"version_info": {"version_type": version_type}})
        return v["version_info"]["semantic_version"]

    # --- the destination side ----------------------------------------------

    def prod_api(self, method, path, body=None):
        return api(self.prod, CAROL_KEY, method, path, body)

    def prod_versions(self, algo="Hello", owner="acme"):
        res = self.prod_api("GET", "/v1/algorithms/%s/%s/versions?limit=100&published=true"
                            % (owner, algo))["results"]
        return [(v["version_info"]["semantic_version"], v["version_info"]["git_hash"])
                for v in res]

    def prod_clone(self, algo="Hello", owner="acme", name=None):
        path = os.path.join(self.dir, name or ("prod-" + owner + "-" + algo))
        if os.path.exists(path):
            shutil.rmtree(path)
        git("clone", "-q", self.prod.git_url(owner, algo, CAROL, CAROL_KEY), path)
        return path

    def prod_head(self, algo="Hello", owner="acme"):
        out = git("ls-remote", self.prod.git_url(owner, algo, CAROL, CAROL_KEY),
                  "refs/heads/master")
        return out.split()[0] if out else None

    # --- the daemon ----------------------------------------------------------

    def write_config(self, pairs, defaults=None, extra="", top=None, clusters="",
                     cluster_opts=None):
        """pairs: list of dicts rendered as YAML flow mappings (JSON is YAML).
        top: more top-level keys; clusters: more cluster YAML text;
        cluster_opts: {"dev"|"prod": {key: value}} for those clusters."""
        opts = cluster_opts or {}
        settings = {"state_dir": self.state, "log_level": "debug", "workers": 2,
                    "listen": "127.0.0.1:0",
                    "control_socket": os.path.join(self.dir, "run", "control.sock")}
        settings.update(top or {})
        lines = ["%s: %s" % (k, json.dumps(v)) for k, v in settings.items()] + [
            "clusters:",
            "  dev:",
            "    api: %s" % self.dev.url,
            "    git: http://localhost:%d" % self.dev.port,
            "    key_owner: %s" % ALICE,
            "    api_key_file: %s" % os.path.join(self.keys, "dev.key"),
        ] + ["    %s: %s" % (k, json.dumps(v))
             for k, v in dict({"timeout": "10s"}, **opts.get("dev", {})).items()] + [
            "  prod:",
            "    api: %s" % self.prod.url,
            "    git: http://localhost:%d" % self.prod.port,
            "    key_owner: %s" % CAROL,
            "    api_key_file: %s" % os.path.join(self.keys, "prod.key"),
        ] + ["    %s: %s" % (k, json.dumps(v))
             for k, v in dict({"timeout": "10s"}, **opts.get("prod", {})).items()] + (
            [clusters.rstrip("\n")] if clusters else [])
        if defaults:
            lines.append("defaults: %s" % json.dumps(defaults))
        lines.append("pairs:")
        for p in pairs:
            lines.append("  - %s" % json.dumps(p))
        text = "\n".join(lines) + "\n" + extra
        with open(self.config, "w") as f:
            f.write(text)
        return self.config

    def run(self, *args, env=None, timeout=120):
        """Runs algopromoted with the config; returns CompletedProcess.
        stderr (the log) is kept for the secret scan."""
        proc = subprocess.run([DAEMON, "-f", self.config] + list(args),
                              env=env_with(env), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)
        self.logs.append(proc.stdout + proc.stderr)
        return proc

    def once(self, *args, env=None):
        return self.run("--once", *args, env=env)

    def ctl(self, *args):
        proc = subprocess.run([CTL, "-f", self.config] + list(args), env=env_with(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=60)
        self.logs.append(proc.stdout + proc.stderr)
        return proc

    def route_dir(self, pair, dest):
        return os.path.join(self.state, "routes", pair, dest.replace("/", "."))

    def route_state(self, pair, dest="prod/acme/Hello"):
        with open(os.path.join(self.route_dir(pair, dest), "state.json")) as f:
            return json.load(f)

    def route_phase(self, pair, dest="prod/acme/Hello"):
        """The route's phase, or None before its state file exists."""
        try:
            return self.route_state(pair, dest)["phase"]
        except FileNotFoundError:
            return None

    def version_map(self, pair, dest="prod/acme/Hello"):
        path = os.path.join(self.route_dir(pair, dest), "versions.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def secret_forms(self):
        forms = []
        for user, key in ((ALICE, ALICE_KEY), (CAROL, CAROL_KEY)):
            forms += [key, quote(key, safe=""),
                      base64.b64encode(("%s:%s" % (user, key)).encode()).decode()]
        return forms

    def scan_for_secrets(self):
        """Every file under state_dir and every log line: no key in any form."""
        found = []
        forms = [f.encode() for f in self.secret_forms()]
        for root, _, files in os.walk(self.state):
            for name in files:
                path = os.path.join(root, name)
                if os.path.islink(path):
                    continue
                with open(path, "rb") as f:
                    data = f.read()
                found += ["%s holds %r" % (path, s) for s in forms if s in data]
        for log in self.logs:
            found += ["log holds %r" % s for s in forms if s.decode() in log]
        for name, cluster in (("dev", self.dev), ("prod", self.prod)):
            try:
                seen = json.dumps(knob(cluster, "GET", "/_requests"))
            except OSError:
                continue    # a test stopped this cluster
            found += ["%s request log holds %r" % (name, s) for s in forms
                      if s.decode() in seen]
        return found

    def scan_process(self, pid):
        """/proc/PID/cmdline and environ: no key in any form."""
        found = []
        forms = [f.encode() for f in self.secret_forms()]
        for what in ("cmdline", "environ"):
            with open("/proc/%d/%s" % (pid, what), "rb") as f:
                data = f.read()
            found += ["/proc/%d/%s holds %r" % (pid, what, s) for s in forms if s in data]
        return found


def tree_of(work, rev="HEAD"):
    return git("rev-parse", rev + "^{tree}", cwd=work)


def main():
    """unittest.main() that ends with `N passed, N failed`."""
    import unittest
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    if len(sys.argv) > 1:
        suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:],
                                                              sys.modules["__main__"])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    if skipped:
        print("%d skipped (not counted as passed)" % skipped)
    print("%d passed, %d failed" % (result.testsRun - failed - skipped, failed))
    sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)


class Daemon:
    """A running `algopromoted` (service mode) with a fake NOTIFY_SOCKET:
    readiness and every notify message are events, never guesses."""

    def __init__(self, env, extra_env=None, watchdog_usec=None):
        import socket
        self.env = env
        self.log_path = os.path.join(env.dir, "daemon-%d.log" % len(env.logs))
        self.notify_path = os.path.join(env.dir, "notify-%d.sock" % len(env.logs))
        if os.path.exists(self.notify_path):
            os.unlink(self.notify_path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.notify_path)
        self.messages = []
        e = {"NOTIFY_SOCKET": self.notify_path}
        if watchdog_usec:
            e["WATCHDOG_USEC"] = str(watchdog_usec)
        e.update(extra_env or {})
        self.log = open(self.log_path, "w")
        env.logs.append("")  # filled in by close()
        self.log_index = len(env.logs) - 1
        self.proc = subprocess.Popen([DAEMON, "-f", env.config], env=env_with(e),
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def next_message(self, timeout=30):
        """The next notify datagram, as a dict of its KEY=VALUE lines."""
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        msg = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
        self.messages.append(msg)
        return msg

    def await_message(self, key, value=None, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s=%s from the daemon; log:\n%s"
                                     % (key, value, self.log_text()[-3000:]))
            try:
                msg = self.next_message(left)
            except OSError:
                continue
            if key in msg and (value is None or msg[key] == value):
                return msg

    def wait_ready(self):
        self.await_message("READY", "1")
        return self

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def http_port(self):
        import re
        m = re.search(r"http on \S*:(\d+)", self.log_text())
        return int(m.group(1)) if m else None

    def http(self, path, method="GET", headers=None, full=False):
        """(status, body) of METHOD http://127.0.0.1:PORT/path; with full,
        (status, body, headers)."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http_port(), path),
                                     data=b"" if method == "POST" else None,
                                     headers=headers or {}, method=method)
        try:
            with opener.open(req, timeout=10) as resp:
                out = (resp.status, resp.read().decode(), resp.headers)
        except urllib.error.HTTPError as e:
            out = (e.code, e.read().decode(), e.headers)
        return out if full else out[:2]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=60):
        import signal as sigmod
        if self.proc.poll() is None:
            self.proc.send_signal(sigmod.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.close()
        return rc

    def close(self):
        if not self.log.closed:
            self.log.close()
            self.sock.close()
            self.env.logs[self.log_index] = self.log_text()


class EnvCase(unittest.TestCase):
    """A test with its own Env (made with env_args) holding the source
    algorithm; the daemons it lists in self.daemons are stopped after it,
    and no key may appear in any file the run left."""

    env_args = {}

    def setUp(self):
        self.env = Env(**self.env_args)
        self.env.create_source()
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        leaks = self.env.scan_for_secrets()
        self.env.close()
        self.assertEqual(leaks, [])


def wait_for(predicate, timeout=60, what="condition"):
    """Polls an observable state until predicate() is true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)
