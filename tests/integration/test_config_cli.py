#!/usr/bin/env python3
"""test_config_cli.py: `algopromoted -n` against every configuration fixture.

bad-*.yaml: exit 2, stderr exactly the sibling .expect, nothing on stdout.
warn-*.yaml: exit 0, stderr exactly the .expect (warnings only).
good-*.yaml: exit 0, one `configuration OK: N pairs, M destinations` line.
config/example.yaml: exit 0 on a clean clone, without any key installed.
Ends with `N passed, N failed`; exits non-zero on any failure.
"""
import glob
import os
import re
import subprocess
import sys
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXDIR = os.path.join("tests", "data", "config")
BINARY = os.path.join(TOP, os.environ.get("AP_BINDIR", "."), "algopromoted")
OK_RE = re.compile(r"^configuration OK: (\d+) pairs, (\d+) destinations\n$")
# Pairs and destinations of each good fixture.
GOOD_COUNTS = {
    "good-anchors": (3, 3),
    "good-full": (2, 3),
    "good-git-url": (1, 5),
    "good-minimal": (1, 1),
}


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


def check(path):
    proc = subprocess.run([BINARY, "-n", "-f", path], cwd=TOP,
                          env=fixture_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=30)
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
        self.assertGreaterEqual(len(fixtures("bad")) + len(fixtures("good"))
                                + len(fixtures("warn")), 30)
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
            self.assertTrue(line.startswith(path + ":"), line)

    def check_warn(self, path):
        rc, out, err = check(path)
        self.assertEqual(err, expected(path))
        for line in err.splitlines():
            self.assertIn(": warning: ", line)
        self.assertRegex(out, OK_RE)
        self.assertEqual(rc, 0)

    def check_good(self, path):
        rc, out, err = check(path)
        self.assertEqual(err, "")
        m = OK_RE.match(out)
        self.assertIsNotNone(m, out)
        pairs, dests = GOOD_COUNTS[os.path.basename(path)[:-5]]
        self.assertEqual((int(m.group(1)), int(m.group(2))), (pairs, dests))
        self.assertEqual(rc, 0)

    def test_example(self):
        rc, out, err = check("config/example.yaml")
        self.assertEqual(out, "configuration OK: 2 pairs, 3 destinations\n")
        # Only the keys (and the CA bundle) it names are missing here.
        for line in err.splitlines():
            self.assertRegex(line, r"^config/example\.yaml:\d+:\d+: "
                             r"warning: ")
        self.assertEqual(rc, 0)

    def test_missing_file(self):
        rc, out, err = check(os.path.join(FIXDIR, "no-such.yaml"))
        self.assertEqual(err, FIXDIR + "/no-such.yaml: cannot open: "
                         "No such file or directory\n")
        self.assertEqual(rc, 2)


def add_fixture_tests():
    """One test per fixture, so that each counts (and fails) alone."""
    for kind in ("bad", "warn", "good"):
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
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(ConfigCheck)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout,
                                     ).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
