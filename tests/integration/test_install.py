#!/usr/bin/env python3
"""`make install` and `make uninstall` into a DESTDIR, with the built binaries.

Install with PREFIX=/usr (as the Debian package does) and with the default
PREFIX (/usr/local): both programs in sbin, the man pages by section, the
unit in the right directory naming the installed daemon, the example
configuration, README, monitoring files, bash completion, the logrotate
snippet and the 0700 keys directory. Uninstall must then leave no file.
Reuses the release binaries (AP_RELEASE_BINDIR, else AP_BINDIR, else the
top directory): `make -o all` installs them as they are, building nothing.
"""
import filecmp
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINDIR = os.environ.get("AP_RELEASE_BINDIR", os.environ.get("AP_BINDIR", "."))
CONFIG = "/etc/algopromoted/algopromoted.yaml"


def make_env():
    env = dict(os.environ)
    # An outer make's jobserver is not ours to use.
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "DESTDIR", "PREFIX",
                 "SBINDIR", "MANDIR", "DATADIR", "DOCDIR", "UNITDIR",
                 "SYSCONFDIR", "MONDIR", "BASHCOMPDIR"):
        env.pop(name, None)
    return env


def make(target, destdir, *args):
    argv = ["make", "--no-print-directory", "-o", "all", target,
            "DESTDIR=" + destdir, "OUT=" + BINDIR] + list(args)
    proc = subprocess.run(argv, cwd=TOP, env=make_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120)
    return proc.returncode, proc.stdout


def files_under(root):
    found = []
    for d, _, names in os.walk(root):
        for n in names:
            found.append(os.path.relpath(os.path.join(d, n), root))
    return sorted(found)


def unit_dir_for_usr():
    """What the Makefile must pick for PREFIX=/usr."""
    try:
        out = subprocess.run(["pkg-config", "--variable=systemdsystemunitdir",
                              "systemd"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout.strip()
    except FileNotFoundError:
        out = ""
    return out or "/lib/systemd/system"


def unit_exec_lines(path):
    with open(path) as f:
        return [l.strip() for l in f
                if l.startswith(("ExecStart", "ExecReload", "ExecStop"))]


class Install(unittest.TestCase):
    def setUp(self):
        for prog in ("algopromoted", "algopromotectl"):
            path = os.path.join(TOP, BINDIR, prog)
            self.assertTrue(os.access(path, os.X_OK), "not built: " + path)
        self.tmp = tempfile.mkdtemp(prefix="ap-install-")
        self.addCleanup(shutil.rmtree, self.tmp)

    def install(self, *args):
        rc, out = make("install", self.tmp, *args)
        self.assertEqual(rc, 0, out)
        return out

    def uninstall_leaves_nothing(self, *args):
        rc, out = make("uninstall", self.tmp, *args)
        self.assertEqual(rc, 0, out)
        self.assertEqual(files_under(self.tmp), [])

    def at(self, path):
        return os.path.join(self.tmp, path.lstrip("/"))

    def assertSame(self, installed, source):
        self.assertTrue(filecmp.cmp(self.at(installed),
                                    os.path.join(TOP, source), shallow=False),
                        "%s is not %s" % (installed, source))

    def test_prefix_usr(self):
        self.install("PREFIX=/usr")
        for prog in ("algopromoted", "algopromotectl"):
            path = self.at("/usr/sbin/" + prog)
            self.assertTrue(os.access(path, os.X_OK), path)
            self.assertSame("/usr/sbin/" + prog, os.path.join(BINDIR, prog))
        self.assertFalse(os.path.exists(self.at("/usr/bin")))
        self.assertSame("/usr/share/man/man8/algopromoted.8",
                        "daemon/algopromoted.8")
        self.assertSame("/usr/share/man/man8/algopromotectl.8",
                        "daemon/algopromotectl.8")
        self.assertSame("/usr/share/man/man5/algopromoted.yaml.5",
                        "config/algopromoted.yaml.5")
        unit = self.at(unit_dir_for_usr() + "/algopromoted.service")
        self.assertEqual(stat.S_IMODE(os.stat(unit).st_mode), 0o644)
        execs = unit_exec_lines(unit)
        self.assertIn("ExecStart=/usr/sbin/algopromoted -f " + CONFIG, execs)
        self.assertIn("ExecStartPre=/usr/sbin/algopromoted -n -f " + CONFIG,
                      execs)
        self.assertSame("/usr/share/doc/algopromoted/examples/algopromoted.yaml",
                        "config/example.yaml")
        self.assertSame("/usr/share/doc/algopromoted/README.md", "README.md")
        for name in ("algopromoted-alerts.yml", "algopromoted-grafana.json"):
            self.assertSame("/usr/share/algopromoted/monitoring/" + name,
                            "packaging/monitoring/" + name)
        for prog in ("algopromoted", "algopromotectl"):
            self.assertSame("/usr/share/bash-completion/completions/" + prog,
                            "packaging/completion/" + prog)
        self.assertSame("/etc/logrotate.d/algopromoted", "packaging/logrotate")
        keys = self.at("/etc/algopromoted/keys")
        self.assertEqual(stat.S_IMODE(os.stat(keys).st_mode), 0o700)
        # Nothing besides, and no example configuration in /etc.
        self.assertEqual(len(files_under(self.tmp)), 13, files_under(self.tmp))
        self.uninstall_leaves_nothing("PREFIX=/usr")
        for d in ("/usr/share/doc/algopromoted", "/usr/share/algopromoted",
                  "/etc/algopromoted"):
            self.assertFalse(os.path.exists(self.at(d)), d)

    def test_default_prefix(self):
        self.install()
        self.assertTrue(os.access(self.at("/usr/local/sbin/algopromotectl"),
                                  os.X_OK))
        self.assertTrue(os.path.exists(
            self.at("/usr/local/share/man/man8/algopromotectl.8")))
        # systemd reads /usr/local/lib/systemd/system; the unit names the
        # daemon where it was installed.
        unit = self.at("/usr/local/lib/systemd/system/algopromoted.service")
        for line in unit_exec_lines(unit):
            if "algopromoted" in line:
                self.assertIn("=/usr/local/sbin/algopromoted ", line)
        self.assertFalse(os.path.exists(self.at("/lib")))
        self.uninstall_leaves_nothing()

    def test_directories_honoured(self):
        args = ("PREFIX=/opt/ap", "SBINDIR=/opt/ap/admin",
                "MANDIR=/opt/ap/man", "UNITDIR=/opt/units")
        self.install(*args)
        self.assertTrue(os.access(self.at("/opt/ap/admin/algopromoted"),
                                  os.X_OK))
        self.assertTrue(os.path.exists(self.at("/opt/ap/man/man5/algopromoted.yaml.5")))
        self.assertIn("ExecStart=/opt/ap/admin/algopromoted -f " + CONFIG,
                      unit_exec_lines(self.at("/opt/units/algopromoted.service")))
        self.uninstall_leaves_nothing(*args)

    def test_uninstall_keeps_keys(self):
        self.install("PREFIX=/usr")
        key = self.at("/etc/algopromoted/keys/dev.key")
        with open(key, "w") as f:
            f.write("simEXAMPLEdevKEY0000\n")
        rc, out = make("uninstall", self.tmp, "PREFIX=/usr")
        self.assertEqual(rc, 0, out)
        self.assertEqual(files_under(self.tmp), ["etc/algopromoted/keys/dev.key"])

    @unittest.skipIf(shutil.which("bash") is None, "no bash")
    def test_completion(self):
        # bash-completion's helpers, reduced to what the function uses.
        script = r"""
_init_completion() { cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}")
	cword=$COMP_CWORD; }
_filedir() { COMPREPLY=(FILES); }
. packaging/completion/algopromotectl
. packaging/completion/algopromoted
t() { f=$1; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
	COMPREPLY=(); $f; echo "${COMPREPLY[*]}"; }
t _algopromotectl algopromotectl st
t _algopromotectl algopromotectl -f config/example.yaml pause ''
t _algopromotectl algopromotectl promote hello --source-
t _algopromotectl algopromotectl -f ''
t _algopromoted algopromoted --dr
complete -p algopromotectl algopromoted
"""
        proc = subprocess.run(["bash", "-c", script], cwd=TOP,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=30)
        self.assertEqual(proc.stderr, "")
        self.assertEqual(proc.stdout.splitlines(), [
            "status",
            "hello sentiment",
            "--source-commit --source-version",
            "FILES",
            "--dry-run",
            "complete -F _algopromotectl algopromotectl",
            "complete -F _algopromoted algopromoted"])

    def test_package_version(self):
        with open(os.path.join(TOP, "packaging", "debian", "changelog")) as f:
            first = f.readline()
        with open(os.path.join(TOP, "Makefile")) as f:
            version = next(l.split(":=")[1].strip() for l in f
                           if l.startswith("VERSION"))
        self.assertTrue(first.startswith("algopromoted (%s) " % version), first)


if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(
        unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__]))
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed - len(result.skipped), failed))
    sys.exit(0 if failed == 0 else 1)
