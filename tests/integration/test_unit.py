#!/usr/bin/env python3
"""The systemd unit: valid, Type=notify with a watchdog, hardened, failing safe.

`systemd-analyze verify` must pass without a word, on a copy of the unit
whose ExecStart=/ExecStartPre=/ExecReload= name the built binaries (verify
needs the programs to exist), with the man pages of Documentation= found
through MANPATH. `systemd-analyze security --offline` scores it without a
running systemd; the exposure must stay at 1.5 or lower. Neither is
skipped: packaging/deps.sh installs systemd-analyze for `make check`.
The configuration check the unit runs before a start and a reload is run
here too, with a credential named as the unit's LoadCredential= names it.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(TOP, "systemd", "algopromoted.service")
BINDIR = os.path.join(TOP, os.environ.get("AP_RELEASE_BINDIR",
                                          os.environ.get("AP_BINDIR", ".")))
DAEMON = "/usr/sbin/algopromoted"
CONFIG = "/etc/algopromoted/algopromoted.yaml"
CHECK = "%s -n -f %s" % (DAEMON, CONFIG)
ANALYZE = shutil.which("systemd-analyze")
NO_ANALYZE = "no systemd-analyze: `sh packaging/deps.sh` installs it (package systemd)"


def unit_keys():
    keys = {}
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")) and "=" in line:
                k, v = line.split("=", 1)
                keys.setdefault(k, []).append(v)
    return keys


def seconds(value):
    m = re.fullmatch(r"(\d+)(s|min)?", value)
    if m is None:
        raise ValueError("not a simple time span: %r" % value)
    return int(m.group(1)) * (60 if m.group(2) == "min" else 1)


class Unit(unittest.TestCase):
    def test_notify_watchdog(self):
        k = unit_keys()
        self.assertEqual(k["Type"], ["notify"])
        self.assertTrue(k["WatchdogSec"][0])
        self.assertEqual(k["StateDirectory"], ["algopromoted"])
        self.assertEqual(k["RuntimeDirectory"], ["algopromoted"])
        self.assertEqual(k["LogsDirectory"], ["algopromoted"])
        self.assertEqual(k["UMask"], ["0077"])
        # Stop must outlast the daemon's own 30 s safe-point grace.
        self.assertGreater(seconds(k["TimeoutStopSec"][0]), 30)

    def test_fails_safe(self):
        k = unit_keys()
        # Not started before the operator wrote a configuration.
        self.assertEqual(k["ConditionPathExists"], [CONFIG])
        self.assertEqual(k["ExecStart"], ["%s -f %s" % (DAEMON, CONFIG)])
        self.assertEqual(k["ExecStartPre"], [CHECK])
        # The check, then the signal: a refused file fails the reload.
        self.assertEqual(k["ExecReload"], [CHECK, "/bin/kill -HUP $MAINPID"])
        self.assertEqual(k["Restart"], ["on-failure"])
        self.assertIn("2", " ".join(k["RestartPreventExitStatus"]).split())
        # RestartPreventExitStatus= does not cover ExecStartPre=: the
        # start limit must end that loop, so the burst of restarts, one
        # every RestartSec=, has to fit in the interval.
        burst = int(k["StartLimitBurst"][0])
        self.assertGreater(seconds(k["StartLimitIntervalSec"][0]),
                           burst * seconds(k["RestartSec"][0]))

    def test_credentials_directory(self):
        k = unit_keys()
        # One directory, no key named: systemd 252 loads each file of it
        # as the credential keys_FILENAME.
        self.assertEqual(k["LoadCredential"], ["keys:/etc/algopromoted/keys"])
        with open(UNIT) as f:
            header = f.read().split("[Unit]", 1)[0]
        self.assertIn("api_key_file: keys/dev.key", header)

    def run_check(self, config_text, credentials, service=True):
        """The unit's ExecReload= check, on the built binary: as the
        service runs it (credentials, named as systemd names them, in
        $CREDENTIALS_DIRECTORY), or from a shell (service=False: the
        files below the configuration's directory, by their paths)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "algopromoted.yaml")
            with open(path, "w") as f:
                f.write(config_text)
            creds = os.path.join(tmp, "credentials" if service else "")
            os.makedirs(creds, 0o700, exist_ok=True)
            for name, value in credentials.items():
                name = os.path.join(creds, name)
                os.makedirs(os.path.dirname(name), 0o700, exist_ok=True)
                fd = os.open(name, os.O_WRONLY | os.O_CREAT, 0o600)
                os.write(fd, value.encode())
                os.close(fd)
            env = dict(os.environ)
            env.pop("CREDENTIALS_DIRECTORY", None)
            if service:
                env["CREDENTIALS_DIRECTORY"] = creds
            for name in ("STATE_DIRECTORY", "RUNTIME_DIRECTORY"):
                env.pop(name, None)
            argv = CHECK.split()
            argv[0] = os.path.join(BINDIR, "algopromoted")
            argv[-1] = path
            proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  timeout=30)
            return proc.returncode, proc.stdout, proc.stderr

    CONFIG_TEXT = """\
clusters:
  dev:
    api: https://api.dev.example.com
    key_owner: alice
    api_key_file: keys/dev.key
  prod:
    api: https://api.prod.example.com
    key_owner: acme
    api_key_file: keys/prod.key
pairs:
  - name: hello
    source: dev/alice/Hello
    destination: prod/acme/Hello
"""

    def test_check_finds_credentials(self):
        # /etc/algopromoted/keys/dev.key arrives as keys_dev.key; the
        # configuration names it keys/dev.key.
        rc, out, err = self.run_check(self.CONFIG_TEXT, {
            "keys_dev.key": "simEXAMPLEdevKEY0000\n",
            "keys_prod.key": "simEXAMPLEprodKEY000\n"})
        self.assertEqual((rc, err), (0, ""), out + err)
        self.assertEqual(out, "configuration OK: 1 pair, 1 destination, 1 file\n")

    def test_check_from_a_shell(self):
        # The same configuration, checked by hand (or read by
        # algopromotectl) outside the service: keys/dev.key beside it.
        rc, out, err = self.run_check(self.CONFIG_TEXT, {
            "keys/dev.key": "simEXAMPLEdevKEY0000\n",
            "keys/prod.key": "simEXAMPLEprodKEY000\n"}, service=False)
        self.assertEqual((rc, err), (0, ""), out + err)
        # And the credential's name is not found there.
        rc, out, err = self.run_check(self.CONFIG_TEXT, {
            "keys_dev.key": "simEXAMPLEdevKEY0000\n",
            "keys_prod.key": "simEXAMPLEprodKEY000\n"}, service=False)
        self.assertEqual(rc, 2, out + err)
        self.assertRegex(err, r"algopromoted\.yaml:5:\d+: .*keys/dev\.key")

    def test_check_refuses_bad_file(self):
        bad = self.CONFIG_TEXT.replace("key_owner: acme", "key_ownr: acme")
        rc, out, err = self.run_check(bad, {
            "keys_dev.key": "simEXAMPLEdevKEY0000\n",
            "keys_prod.key": "simEXAMPLEprodKEY000\n"})
        self.assertEqual(rc, 2, out + err)
        self.assertRegex(err, r"algopromoted\.yaml:8:\d+: ")
        self.assertEqual(out, "")

    def test_verify(self):
        self.assertIsNotNone(ANALYZE, NO_ANALYZE)
        daemon = os.path.join(BINDIR, "algopromoted")
        self.assertTrue(os.access(daemon, os.X_OK), "not built: " + daemon)
        with tempfile.TemporaryDirectory() as tmp:
            with open(UNIT) as f:
                text = f.read()
            self.assertIn(DAEMON, text)
            copy = os.path.join(tmp, "algopromoted.service")
            with open(copy, "w") as f:
                f.write(text.replace(DAEMON, daemon))
            env = dict(os.environ)
            man = "--man=no"
            if shutil.which("man"):
                # Documentation= must name pages that exist: ours.
                for page, sec in (("daemon/algopromoted.8", "8"),
                                  ("config/algopromoted.yaml.5", "5")):
                    d = os.path.join(tmp, "man", "man" + sec)
                    os.makedirs(d, exist_ok=True)
                    shutil.copy(os.path.join(TOP, page), d)
                env["MANPATH"] = os.path.join(tmp, "man")
                man = "--man=yes"
            proc = subprocess.run([ANALYZE, "verify", man, copy], env=env,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True,
                                  timeout=120)
        # verify exits 0 on unknown keys and unparsable values (it only
        # warns): any output at all is a failure.
        self.assertEqual((proc.returncode, proc.stdout), (0, ""))

    def test_security_score(self):
        self.assertIsNotNone(ANALYZE, NO_ANALYZE)
        proc = subprocess.run([ANALYZE, "security", "--offline=true",
                               "--threshold=15", UNIT],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stdout[-2000:])
        m = re.search(r"Overall exposure level for algopromoted\.service: "
                      r"(\d+\.\d+)", proc.stdout)
        self.assertIsNotNone(m, proc.stdout[-2000:])
        print("exposure %s" % m.group(1))
        self.assertLessEqual(float(m.group(1)), 1.5)


if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(
        unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__]))
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed - len(result.skipped), failed))
    sys.exit(0 if failed == 0 else 1)
