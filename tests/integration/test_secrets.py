#!/usr/bin/env python3
"""Keys never leave their place: a running service with one key from a
file and one from the environment, through a promotion and a reload, is
searched everywhere a key could end up: its /proc/PID/cmdline and
environ, its log, every file under state_dir (mirror config included) and
both clusters' request logs (every test's tearDown searches the last
three too). Every form: raw, URL-encoded, base64 of owner:key.
"""
import os
import re
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Env, Daemon, wait_for  # noqa: E402

PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello"}


class Secrets(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.env.create_source()

    def tearDown(self):
        self.env.close()

    def test_key_from_the_environment_is_wiped_from_environ(self):
        env = self.env
        # prod's key from the environment instead of its file.
        env.write_config([PAIR])
        with open(env.config) as f:
            text = f.read()
        text = re.sub(r"(  prod:\n(?:    .*\n)*?)    api_key_file: \S+\n",
                      r"\1    api_key_env: AP_PROD_KEY\n", text)
        self.assertIn("api_key_env: AP_PROD_KEY", text)
        with open(env.config, "w") as f:
            f.write(text)
        env.commit(files={"src/Hello.py": "v1\n"})
        d = Daemon(env, extra_env={"AP_PROD_KEY": harness.CAROL_KEY})
        try:
            d.wait_ready()
            wait_for(lambda: len(env.version_map("hello")) == 1, 60, "first promotion")
            self.assertEqual(env.scan_process(d.proc.pid), [])
            # A reload reads the key again, from where it was kept.
            d.signal(signal.SIGHUP)
            d.await_message("READY", "1")
            self.assertNotIn("reload failed", d.log_text())
            env.commit(files={"src/Hello.py": "v2\n"})
            self.assertEqual(env.ctl("trigger", "hello").returncode, 0)
            wait_for(lambda: len(env.version_map("hello")) == 2, 60, "second promotion")
            self.assertEqual(env.scan_process(d.proc.pid), [])
        finally:
            self.assertEqual(d.stop(), 0)
        self.assertEqual(env.scan_for_secrets(), [])

    def test_key_file_readable_by_others_is_refused(self):
        env = self.env
        env.write_config([PAIR])
        key = os.path.join(env.keys, "prod.key")
        os.chmod(key, 0o644)
        proc = env.once()
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("key file \"%s\" is readable by group or others (chmod 600)" % key,
                      proc.stderr)
        self.assertEqual(env.scan_for_secrets(), [])


if __name__ == "__main__":
    harness.main()
