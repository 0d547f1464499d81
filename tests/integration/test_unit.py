#!/usr/bin/env python3
"""The systemd unit: valid, Type=notify with a watchdog, and hardened.

`systemd-analyze security --offline` scores it without a running systemd;
the score must stay at 1.5 or better (the network daemon's floor is 1.0).
"""
import os
import shutil
import subprocess
import sys
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(TOP, "systemd", "algopromoted.service")


def unit_keys():
    keys = {}
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")) and "=" in line:
                k, v = line.split("=", 1)
                keys.setdefault(k, []).append(v)
    return keys


class Unit(unittest.TestCase):
    def test_notify_watchdog_reload(self):
        k = unit_keys()
        self.assertEqual(k["Type"], ["notify"])
        self.assertTrue(k["WatchdogSec"][0])
        self.assertEqual(k["ExecReload"], ["/bin/kill -HUP $MAINPID"])
        self.assertEqual(k["StateDirectory"], ["algopromoted"])
        self.assertEqual(k["RuntimeDirectory"], ["algopromoted"])
        self.assertEqual(k["UMask"], ["0077"])
        # Stop must outlast the daemon's own 30 s safe-point grace.
        self.assertGreater(int(k["TimeoutStopSec"][0].rstrip("s")), 30)

    @unittest.skipIf(shutil.which("systemd-analyze") is None, "no systemd-analyze")
    def test_security_score(self):
        proc = subprocess.run(["systemd-analyze", "security", "--offline=true",
                               "--threshold=15", UNIT],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(proc.returncode, 0, proc.stdout[-2000:])
        self.assertIn("Overall exposure level for algopromoted.service: 1.", proc.stdout)


if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(
        unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__]))
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed - len(result.skipped), failed))
    sys.exit(0 if failed == 0 else 1)
