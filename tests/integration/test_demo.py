#!/usr/bin/env python3
"""make demo: tests/demo.py runs the service live, shows the 0.1.0 and
0.2.0 promotions, and leaves nothing behind: no process (this test is
the subreaper of whatever the demo starts, so an orphan would become its
child) and no temporary directory, also when interrupted.
"""
import ctypes
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DEMO = os.path.join(harness.TOP, "tests", "demo.py")
PR_SET_CHILD_SUBREAPER = 36


def children():
    """Our living children (/proc/PID/stat: ppid is field 4)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.append((int(pid), stat))
    return found


def mentions(path):
    """Processes whose command line names path."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if path.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def reap():
    """Collects any zombie children so that they are not counted."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class Demo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")

    def setUp(self):
        reap()
        self.assertEqual(children(), [])

    def start(self):
        return subprocess.Popen([sys.executable, DEMO, "--timeout", "30"],
                                env=harness.env_with(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def assert_nothing_left(self, out):
        m = re.search(r"^working in: +(\S+)$", out, re.M)
        self.assertIsNotNone(m, out)
        workdir = m.group(1)
        self.assertTrue(workdir.startswith("/tmp/") or workdir.startswith(os.sep), workdir)
        self.assertFalse(os.path.exists(workdir), "left %s" % workdir)
        reap()
        left = children()
        named = [pid for pid in mentions(workdir) if pid != os.getpid()]
        for pid in set([p for p, _ in left] + named):     # not past this test
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        reap()
        self.assertEqual(left, [], out[-3000:])
        self.assertEqual(named, [])

    def test_demo(self):
        t0 = time.monotonic()
        proc = self.start()
        out = proc.communicate(timeout=110)[0].decode("utf-8", "replace")
        took = time.monotonic() - t0
        self.assertEqual(proc.returncode, 0, out[-3000:])
        # The service's own log, streamed with its prefix, as it promotes.
        for version in ("0.1.0", "0.2.0"):
            self.assertRegex(out, r"(?m)^  algopromoted\| .* route hello->prod/acme/Hello: "
                             r"promoted dev/alice/Hello@[0-9a-f]{12} as prod/acme/Hello "
                             + re.escape(version) + "$")
        self.assertRegex(out, r"(?m)^  algopromoted\| .* algopromoted \S+ ready: 1 routes")
        self.assertLess(out.index("as prod/acme/Hello 0.1.0"), out.index("$ algopromotectl status"))
        # status, versions, a trigger that brings the second change.
        self.assertIn("$ algopromotectl trigger hello", out)
        self.assertLess(out.index("$ algopromotectl trigger hello"),
                        out.index("as prod/acme/Hello 0.2.0"))
        self.assertRegex(out, r"(?m)^  hello +prod/acme/Hello +idle .* 0\.2\.0 ")
        self.assertRegex(out, r"(?m)^  \S+ +[0-9a-f]{12} .* prod/acme/Hello +0\.2\.0 ")
        self.assertIn("prod/acme/Hello versions: 0.1.0, 0.2.0", out)
        self.assertNotIn("--once", out)
        self.assertRegex(out, r"demo: done in \d+ s, everything stopped\n$")
        self.assertLess(took, 60, "the demo took %.0f s" % took)
        self.assert_nothing_left(out)

    def test_interrupted_mid_promotion(self):
        proc = self.start()
        out = []
        try:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace")
                out.append(line)
                if "route hello->prod/acme/Hello: push:" in line:
                    break
            else:
                self.fail("no push in:\n" + "".join(out))
            proc.send_signal(signal.SIGINT)     # Ctrl-C, to the demo alone
            out.append(proc.communicate(timeout=60)[0].decode("utf-8", "replace"))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        text = "".join(out)
        self.assertEqual(proc.returncode, 130, text[-3000:])
        self.assertIn("demo: interrupted", text)
        self.assertIn("stopping algopromoted", text)
        self.assert_nothing_left(text)


if __name__ == "__main__":
    harness.main()
