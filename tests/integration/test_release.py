#!/usr/bin/env python3
"""Test hooks stay out of the release build.

The crash points of common/failpoint.h compile only into the test variant
(-DAP_TESTHOOKS, `make testbins`); the release `algopromoted` that `make
install` installs must not even hold their names. `make check` names the
release build with AP_RELEASE_BINDIR and the test variant with AP_BINDIR.
"""
import glob
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import TOP, FAILPOINTS  # noqa: E402

HOOK_ENV = b"ALGOPROMOTED_FAILPOINT"
HOOK_LOG = b"failpoint"  # "route R: failpoint NAME: exiting"
NAMED = "AP_RELEASE_BINDIR" in os.environ
# A sanitizer run names only its own (test) build: no release to check.
RELEASE_DIR = os.path.join(TOP, os.environ.get("AP_RELEASE_BINDIR", "."))
SKIP_RELEASE = not NAMED and "AP_BINDIR" in os.environ


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Release(unittest.TestCase):

    @unittest.skipIf(SKIP_RELEASE, "AP_BINDIR names no release build")
    def test_release_binaries_have_no_failpoint(self):
        for prog in ("algopromoted", "algopromotectl"):
            path = os.path.join(RELEASE_DIR, prog)
            if not NAMED and not os.path.exists(path):
                self.skipTest("no release build in %s" % RELEASE_DIR)
            data = read(path)
            self.assertNotIn(HOOK_ENV, data, path)
            self.assertNotIn(HOOK_LOG, data, path)
            for name in FAILPOINTS:
                self.assertNotIn(name.encode(), data, "%s: %s" % (path, name))

    def test_test_variant_has_every_failpoint(self):
        data = read(harness.DAEMON)
        self.assertIn(HOOK_ENV, data, harness.DAEMON)
        for name in FAILPOINTS:
            self.assertIn(name.encode(), data, name)

    def test_failpoint_list_matches_the_sources(self):
        # FAILPOINTS (which the crash tests and this file use) is every
        # FAILPOINT(...) in the daemon, and no other.
        found = set()
        for path in glob.glob(os.path.join(TOP, "daemon", "*.c")) + \
                glob.glob(os.path.join(TOP, "common", "*.c")):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            found.update(re.findall(r'FAILPOINT\([^,]*,\s*"([^"]+)"\)', text))
            found.update(re.findall(r'FAILPOINT_TORN\(\s*"([^"]+)"', text))
        self.assertEqual(found, set(FAILPOINTS))


if __name__ == "__main__":
    harness.main()
