#!/usr/bin/env python3
"""test_config_cli.py: `algopromoted -n` against every configuration fixture,
key material as the start sees it, include: and the caps, and a reload.

bad-*.yaml: exit 2, stderr exactly the sibling .expect, nothing on stdout.
good-*.yaml: exit 0, one `configuration OK: N pairs, M destinations, F files`.
config/example.yaml: exit 2 on a clean clone (its keys are not installed),
exit 0 with --skip-keys.
Key problems: -n and a plain start fail alike, with the same lines.
Ends with `N passed, N failed`; exits non-zero on any failure.
"""
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXDIR = os.path.join("tests", "data", "config")
BINARY = os.path.join(TOP, os.environ.get("AP_BINDIR", "."), "algopromoted")
OK_RE = re.compile(r"^configuration OK( \(keys not checked\))?: (\d+) pairs?, "
                   r"(\d+) destinations?, (\d+) files?\n$")
# Pairs, destinations and files of each good fixture.
GOOD_COUNTS = {
    "good-anchors": (3, 3, 1),
    "good-full": (2, 3, 1),
    "good-git-url": (1, 5, 1),
    "good-include": (6, 7, 6),
    "good-minimal": (1, 1, 1),
}
KEY = "simEXAMPLEcliKEY+x9/Qw3Lz7Rb0000"


def fixture_env():
    """The environment the fixtures are written for, as check_config.c."""
    env = dict(os.environ)
    for name in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY",
                 "RUNTIME_DIRECTORY", "AP_TEST_UNSET_KEY", "DEV_API_KEY",
                 "PROD_API_KEY"):
        env.pop(name, None)
    env["AP_TEST_PROD_KEY"] = "simEXAMPLEprodKEYfromENV0000"
    env["AP_TEST_EMPTY_KEY"] = ""
    env["AP_TEST_SPACE_KEY"] = "sim EXAMPLE"
    return env


def fix_key_modes():
    """Git keeps no 0600: set the modes the fixtures expect."""
    for path in glob.glob(os.path.join(TOP, FIXDIR, "keys", "*.key")):
        mode = 0o644 if os.path.basename(path) == "group.key" else 0o600
        os.chmod(path, mode)


def check(path, *args, env=None, options=("-n",), timeout=30):
    proc = subprocess.run([BINARY] + list(options) + ["-f", path] + list(args),
                          cwd=TOP, env=env or fixture_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=timeout)
    return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"))


def fixtures(prefix):
    names = sorted(glob.glob(os.path.join(TOP, FIXDIR, prefix + "-*.yaml")))
    return [os.path.relpath(n, TOP) for n in names]


def expected(path):
    with open(os.path.join(TOP, path[:-len(".yaml")] + ".expect"),
              encoding="utf-8") as f:
        return f.read()


class ConfigCheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fix_key_modes()

    def test_fixture_counts(self):
        self.assertGreaterEqual(len(fixtures("bad")), 22)
        self.assertGreaterEqual(len(fixtures("bad")) + len(fixtures("good")), 30)
        self.assertEqual(fixtures("warn"), [])
        self.assertEqual(sorted(GOOD_COUNTS),
                         [os.path.basename(p)[:-5] for p in fixtures("good")])

    def check_bad(self, path):
        rc, out, err = check(path)
        want = expected(path)
        self.assertTrue(want)
        self.assertEqual(err, want)
        self.assertEqual(out, "")
        self.assertEqual(rc, 2)
        for line in err.splitlines():
            self.assertTrue(line.startswith(path + ":") or
                            line.startswith(FIXDIR + "/include/"), line)

    def check_good(self, path):
        rc, out, err = check(path)
        self.assertEqual(err, "")
        m = OK_RE.match(out)
        self.assertIsNotNone(m, out)
        self.assertIsNone(m.group(1))
        self.assertEqual(tuple(int(g) for g in m.group(2, 3, 4)),
                         GOOD_COUNTS[os.path.basename(path)[:-5]])
        self.assertEqual(rc, 0)

    def test_example(self):
        # Its keys are not installed here: -n fails as the start would.
        rc, out, err = check("config/example.yaml")
        self.assertEqual(out, "")
        self.assertEqual(rc, 2)
        self.assertRegex(err, r"config/example\.yaml:\d+:18: cluster \"prod\": "
                         r"environment variable PROD_API_KEY is not set\n")
        for line in err.splitlines():
            self.assertRegex(line, r"^config/example\.yaml:\d+:\d+: cluster ")
        rc, out, err = check("config/example.yaml", "--skip-keys")
        self.assertEqual((rc, out, err), (0, "configuration OK (keys not checked): "
                                          "2 pairs, 3 destinations, 1 file\n", ""))

    def test_missing_file(self):
        rc, out, err = check(os.path.join(FIXDIR, "no-such.yaml"))
        self.assertEqual(err, FIXDIR + "/no-such.yaml: cannot open: "
                         "No such file or directory\n")
        self.assertEqual(rc, 2)

    def test_skip_keys_needs_n(self):
        path = os.path.join(FIXDIR, "good-minimal.yaml")
        rc, out, err = check(path, "--skip-keys", options=())
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assertTrue(err.startswith("algopromoted: --skip-keys is only for -n "
                                       "(the service cannot start without its keys)\n"
                                       "usage: algopromoted "), err)
        rc, out, err = check(path, "--skip-keys", options=("--once",))
        self.assertEqual(rc, 2)
        self.assertIn("--skip-keys is only for -n", err)


CONFIG = """\
state_dir: {dir}/state
control_socket: {dir}/ctl.sock
listen: off
clusters:
  dev:
    api: http://127.0.0.1:1
    key_owner: alice
    {keyline}
  prod:
    api: http://127.0.0.1:1
    key_owner: acme
    api_key_env: AP_TEST_PROD_KEY
pairs:
  - name: hello
    source: dev/alice/Hello
    destination: prod/acme/Hello
"""


class KeyMaterial(unittest.TestCase):
    """-n fails where the start fails, with the very same lines; the start
    is run for real (it stops at the configuration)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="apcli.")
        self.path = os.path.join(self.dir, "algopromoted.yaml")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, keyline, key_mode=None, key_text=KEY + "\n"):
        key = os.path.join(self.dir, "dev.key")
        if key_mode is not None:
            with open(key, "w") as f:
                f.write(key_text)
            os.chmod(key, key_mode)
        with open(self.path, "w") as f:
            f.write(CONFIG.format(dir=self.dir, keyline=keyline % {"key": key}))
        return key

    def both(self, want, env=None):
        """-n and a plain start: exit 2, stderr exactly want; then -n
        --skip-keys passes. No key in any output."""
        outs = []
        for options in (("-n",), ()):
            rc, out, err = check(self.path, env=env, options=options)
            self.assertEqual((rc, out), (2, ""), err)
            self.assertEqual(err, want)
            self.assertNotIn(KEY, err)
            outs.append(err)
        self.assertEqual(outs[0], outs[1])
        rc, out, err = check(self.path, "--skip-keys", env=env)
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out, "configuration OK (keys not checked): 1 pair, "
                         "1 destination, 1 file\n")

    def test_key_file_missing(self):
        key = self.write("api_key_file: %(key)s")
        self.both("%s:8:19: cluster \"dev\": cannot read key file \"%s\": No such "
                  "file or directory\n" % (self.path, key))

    def test_key_file_readable(self):
        # Group or others: the key would be shared beyond the service's
        # user; systemd's credentials directory is the way to share it.
        for mode in (0o640, 0o604, 0o644, 0o440):
            with self.subTest(mode=oct(mode)):
                key = self.write("api_key_file: %(key)s", mode)
                self.both("%s:8:19: cluster \"dev\": key file \"%s\" is readable by "
                          "group or others (chmod 600)\n" % (self.path, key))

    def test_key_file_unreadable(self):
        if os.geteuid() == 0:
            self.skipTest("root reads a file of mode 0200")
        key = self.write("api_key_file: %(key)s", 0o200)
        self.both("%s:8:19: cluster \"dev\": cannot read key file \"%s\": "
                  "Permission denied\n" % (self.path, key))

    def test_key_file_not_a_file(self):
        key = self.write("api_key_file: %(key)s")
        os.mkdir(key)
        self.both("%s:8:19: cluster \"dev\": key file \"%s\" is not a regular "
                  "file\n" % (self.path, key))

    def test_key_file_empty(self):
        key = self.write("api_key_file: %(key)s", 0o600, "\n")
        self.both("%s:8:19: cluster \"dev\": key file \"%s\" is empty\n"
                  % (self.path, key))

    def test_key_variable(self):
        self.write("api_key_env: AP_TEST_DEV_KEY")
        env = fixture_env()
        env.pop("AP_TEST_DEV_KEY", None)
        self.both("%s:8:18: cluster \"dev\": environment variable AP_TEST_DEV_KEY "
                  "is not set\n" % self.path, env)
        env["AP_TEST_DEV_KEY"] = ""
        self.both("%s:8:18: cluster \"dev\": environment variable AP_TEST_DEV_KEY "
                  "is empty\n" % self.path, env)

    def test_key_file_good(self):
        self.write("api_key_file: %(key)s", 0o600)
        rc, out, err = check(self.path)
        self.assertEqual((rc, out, err), (0, "configuration OK: 1 pair, 1 destination, "
                                          "1 file\n", ""))

    def test_credentials_directory(self):
        # A relative name is looked up in $CREDENTIALS_DIRECTORY, whose
        # modes systemd sets: there a 0640 key is fine; not there, an error.
        creds = os.path.join(self.dir, "creds")
        os.mkdir(creds, 0o700)
        with open(os.path.join(creds, "dev.key"), "w") as f:
            f.write(KEY + "\n")
        os.chmod(os.path.join(creds, "dev.key"), 0o640)
        self.write("api_key_file: dev.key")
        env = fixture_env()
        env["CREDENTIALS_DIRECTORY"] = creds
        rc, out, err = check(self.path, env=env)
        self.assertEqual((rc, err), (0, ""))
        env["CREDENTIALS_DIRECTORY"] = os.path.join(self.dir, "nocreds")
        self.both("%s:8:19: cluster \"dev\": cannot read key file \"%s/nocreds/dev.key"
                  "\": No such file or directory\n" % (self.path, self.dir), env)


def realistic_pairs(first, n):
    """n pairs as operators write them: half plain, half using most keys."""
    out = []
    for i in range(first, first + n):
        team = "team_%03d" % (i % 200)
        algo = "Model_%05d" % i
        out.append("  - name: %s-model-%05d\n    source: dev/%s/%s\n"
                   % (team.replace("_", "-"), i, team, algo))
        if i % 2 == 0:
            out.append("    destination: prod/%s/%s\n    poll_interval: 5m\n"
                       % (team, algo))
            continue
        out.append("    destinations: [prod/{t}/{a}, prod/{t}/{a}Canary]\n"
                   "    track: versions\n    version_type: revision\n"
                   "    approval: manual\n"
                   "    preserve: [\"README.md\", \"config/*.json\"]\n"
                   "    exclude: [\"tests/\"]\n"
                   "    metadata_override:\n"
                   "      details: {{label: \"{a} (prod)\"}}\n"
                   "      settings: {{source_visibility: closed}}\n"
                   "    data:\n      - from: data://{t}/{l}_models\n"
                   "        to: data://{t}/{l}_models\n        delete: true\n"
                   "    notify:\n      - url: https://hooks.example.com/{t}\n"
                   "        events: [failed, held, pending-approval]\n"
                   .format(t=team, a=algo, l=algo.lower()))
    return "".join(out)


HEAD = """\
clusters:
  dev:
    api: https://api.dev.example.com
    key_owner: alice
    api_key_env: AP_TEST_PROD_KEY
  prod:
    api: https://api.prod.example.com
    key_owner: acme
    api_key_env: AP_TEST_PROD_KEY
"""


class ManyPairs(unittest.TestCase):
    """10,000 pairs in one file or many; what the caps refuse, refused fast."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="apcli.")
        self.path = os.path.join(self.dir, "algopromoted.yaml")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def timed(self, *args):
        start = time.monotonic()
        rc, out, err = check(self.path, *args, timeout=60)
        return rc, out, err, time.monotonic() - start

    def test_ten_thousand_in_one_file(self):
        with open(self.path, "w") as f:
            f.write(HEAD + "pairs:\n" + realistic_pairs(0, 10000))
        size = os.path.getsize(self.path)
        self.assertGreater(size, 3 << 20)      # 3.8 MB: far below 16 MiB
        rc, out, err, took = self.timed()
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out, "configuration OK: 10000 pairs, 15000 destinations, "
                         "1 file\n")
        self.assertLess(took, 10)

    def test_ten_thousand_in_a_hundred_files(self):
        os.mkdir(os.path.join(self.dir, "pairs.d"))
        for i in range(100):
            with open(os.path.join(self.dir, "pairs.d", "%03d.yaml" % i), "w") as f:
                f.write("pairs:\n" + realistic_pairs(i * 100, 100))
        with open(self.path, "w") as f:
            f.write(HEAD + "include: pairs.d/*.yaml\n")
        rc, out, err, took = self.timed()
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out, "configuration OK: 10000 pairs, 15000 destinations, "
                         "101 files\n")
        self.assertLess(took, 10)
        # A duplicate in another file: named with both places.
        with open(os.path.join(self.dir, "pairs.d", "999.yaml"), "w") as f:
            f.write("pairs:\n" + realistic_pairs(10, 1))
        rc, out, err, took = self.timed()
        self.assertEqual(rc, 2)
        self.assertEqual(err.splitlines()[0],
                         "%s/pairs.d/999.yaml:2:11: duplicate pair name "
                         "\"team-010-model-00010\" (first at %s/pairs.d/000.yaml:%d)"
                         % (self.dir, self.dir, 112))

    def test_billion_laughs(self):
        lol = "".join("l%d: &l%d [%s]\n" % (i, i, ", ".join(["*l%d" % (i - 1)] * 10))
                      for i in range(1, 10))
        with open(self.path, "w") as f:
            f.write("l0: &l0 [lol]\n" + lol + HEAD + "pairs: *l9\n")
        for args in ((), ("--skip-keys",)):
            rc, out, err, took = self.timed(*args)
            self.assertEqual((rc, out), (2, ""))
            self.assertEqual(err, "%s:7:25: aliases expand the configuration past "
                             "1000000 values\n" % self.path)
            self.assertLess(took, 2)

    def test_runaway_include(self):
        # A sparse gigabyte included: refused from its size, not read.
        big = os.path.join(self.dir, "big.yaml")
        with open(big, "w") as f:
            f.truncate(1 << 30)
        with open(self.path, "w") as f:
            f.write(HEAD + "include: big.yaml\n")
        rc, out, err, took = self.timed()
        self.assertEqual((rc, out), (2, ""))
        self.assertEqual(err, "%s: larger than 16777216 bytes\n" % big)
        self.assertLess(took, 2)


class Reload(harness.EnvCase):
    """SIGHUP reads the included files again, with the same loader."""

    def test_reload_reads_includes(self):
        env = self.env
        pairs_d = os.path.join(env.dir, "pairs.d")
        os.mkdir(pairs_d)
        env.write_config([{"name": "hello", "source": "dev/alice/Hello",
                           "destination": "prod/acme/Hello"}],
                         extra="include: pairs.d/*.yaml\n")
        d = harness.Daemon(env)
        self.daemons.append(d)
        d.wait_ready()
        with open(os.path.join(pairs_d, "other.yaml"), "w") as f:
            f.write("pairs:\n  - name: other\n    source: dev/alice/Other\n"
                    "    destination: prod/acme/Other\n")
        d.signal(signal.SIGHUP)
        d.await_message("RELOADING", "1")
        d.await_message("READY", "1")
        harness.wait_for(lambda: "reloaded: 2 routes, 1 added, 0 removed"
                         in d.log_text(), 30, "the reload")
        self.assertIn("route other->prod/acme/Other: added", d.log_text())
        # A broken included file: refused where it is broken, old kept.
        with open(os.path.join(pairs_d, "zz.yaml"), "w") as f:
            f.write("pairs:\n  - name: broken\n    source: dev/alice/B\n")
        d.signal(signal.SIGHUP)
        d.await_message("RELOADING", "1")
        d.await_message("READY", "1")
        harness.wait_for(lambda: "reload failed" in d.log_text(), 30, "the refusal")
        self.assertIn("reload: %s/zz.yaml:2:5: pair \"broken\": missing required key "
                      "\"destination\" (or \"destinations\")" % pairs_d, d.log_text())
        self.assertEqual(d.stop(), 0)


def add_fixture_tests():
    """One test per fixture, so that each counts (and fails) alone."""
    for kind in ("bad", "good"):
        for path in fixtures(kind):
            name = "test_%s" % os.path.basename(path)[:-5].replace("-", "_")

            def run(self, path=path, kind=kind):
                getattr(self, "check_" + kind)(path)
            setattr(ConfigCheck, name, run)


def main():
    if not os.access(BINARY, os.X_OK):
        print("algopromoted is not built (make all)")
        print("0 passed, 1 failed")
        return 1
    add_fixture_tests()
    suite = unittest.TestSuite(
        unittest.defaultTestLoader.loadTestsFromTestCase(case)
        for case in (ConfigCheck, KeyMaterial, ManyPairs, Reload))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout,
                                     ).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
