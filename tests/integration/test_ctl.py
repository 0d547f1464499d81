#!/usr/bin/env python3
"""algopromotectl: -V, status --json and --check, pause, resume, promote,
argument errors and --json errors, with the daemon stopped and running.

Each test has its own clusters and state_dir and drives the real
binaries; what it asserts is on stdout, stderr, the exit status and the
files under state_dir.
"""
import json
import os
import re
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Env, Daemon, wait_for, knob  # noqa: E402

PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello"}
DEST = "prod/acme/Hello"
TWO = dict(PAIR, destination=None, destinations=[DEST, "prod/carol/Hello"])
del TWO["destination"]


def makefile_version():
    with open(os.path.join(harness.TOP, "Makefile")) as f:
        return re.search(r"^VERSION\s*:?=\s*(\S+)", f.read(), re.M).group(1)


def daemon_has(cmd):
    """Whether the daemon's control commands include cmd (its source is
    the truth the binaries under test were built from)."""
    with open(os.path.join(harness.TOP, "daemon", "server.c")) as f:
        return '"%s"' % cmd in f.read()


class CtlTest(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.env.create_source()
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        leaks = self.env.scan_for_secrets()
        self.env.close()
        self.assertEqual(leaks, [])

    def start(self):
        d = Daemon(self.env)
        self.daemons.append(d)
        return d.wait_ready()

    def ctl(self, *args, rc=0):
        proc = self.env.ctl(*args)
        self.assertEqual(proc.returncode, rc, "algopromotectl %s: %s%s"
                         % (" ".join(args), proc.stdout, proc.stderr))
        return proc

    def ctl_json(self, *args, rc=0):
        return json.loads(self.ctl("--json", *args, rc=rc).stdout)

    def promoted(self, pairs=(PAIR,)):
        """One source commit promoted by --once; returns it."""
        c = self.env.commit(files={"src/Hello.py": "v1\n"})
        self.env.write_config(list(pairs))
        proc = self.env.once()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return c

    def hold_file(self, dest=DEST):
        return os.path.join(self.env.route_dir("hello", dest), "operator.json")

    def assert_one_line_error(self, proc, rc, pattern):
        self.assertEqual(proc.returncode, rc, proc.stdout + proc.stderr)
        self.assertEqual(proc.stdout, "")
        self.assertRegex(proc.stderr, r"\Aalgopromotectl: " + pattern + r"[^\n]*\n\Z")


class Version(CtlTest):
    def test_version(self):
        want = "algopromotectl %s\n" % makefile_version()
        for flag in ("-V", "--version"):
            proc = subprocess.run([harness.CTL, flag], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertEqual((proc.returncode, proc.stdout, proc.stderr), (0, want, ""))


class Status(CtlTest):
    def test_json_envelope_same_routes_stopped_and_running(self):
        c1 = self.promoted()
        off = self.ctl_json("status")
        self.assertEqual(sorted(off), ["daemon", "routes"])
        self.assertEqual(off["daemon"], "stopped")
        self.assertEqual(len(off["routes"]), 1)
        r = off["routes"][0]
        self.assertEqual((r["pair"], r["destination"], r["phase"]), ("hello", DEST, "idle"))
        self.assertEqual(r["last"]["source_commit"], c1)
        self.assertIsNone(r["hold"])
        self.assertIsNone(r["live"])
        self.start()
        on = self.ctl_json("status")
        self.assertEqual(sorted(on), ["daemon", "routes"])
        self.assertEqual(on["daemon"], "running")
        self.assertEqual(len(on["routes"]), 1)
        self.assertEqual(sorted(on["routes"][0]), sorted(r))
        self.assertEqual(on["routes"][0]["last"], r["last"])
        self.assertIsNone(on["routes"][0]["hold"])
        self.assertIsInstance(on["routes"][0]["live"], dict)

    def test_check_all_fine(self):
        self.promoted()
        self.assertEqual(self.ctl("status", "--check").stdout, "1 route OK\n")
        env = self.ctl_json("status", "--check")
        self.assertEqual(env["daemon"], "stopped")
        self.assertEqual(len(env["routes"]), 1)

    def test_check_failed_route(self):
        self.promoted()
        self.env.commit(files={"BUILD_FAIL": "boom\n"})
        self.assertEqual(self.env.once().returncode, 1)
        error = self.env.route_state("hello")["error"]
        self.assertRegex(error, r"build \S+ of \S+ failed")
        proc = self.ctl("status", "--check", rc=1)
        self.assertEqual(proc.stdout, "hello %s: failed: %s\n" % (DEST, error))
        self.assertEqual(proc.stderr, "")
        env = self.ctl_json("status", "--check", rc=1)
        self.assertEqual(env["routes"][0]["phase"], "failed")
        # Plain status shows it and still exits 0.
        row = self.ctl("status").stdout.splitlines()[1]
        self.assertRegex(row, r"^hello\s+%s\s+failed\s" % DEST)
        # The daemon says the same.
        self.start()
        proc = self.ctl("status", "--check", rc=1)
        self.assertEqual(proc.stdout, "hello %s: failed: %s\n" % (DEST, error))
        self.assertEqual(self.ctl_json("status", "--check", rc=1)["daemon"], "running")

    def test_check_poll_failing(self):
        env = self.env
        env.commit(files={"src/Hello.py": "v1\n"})
        env.write_config([dict(PAIR, poll_interval="1h")])
        # The daemon's polls of the source fail; nothing else does.
        knob(env.dev, "POST", "/_fault", {"path": "^/git/", "user_agent": "^algopromoted",
                                          "status": 503, "count": -1})
        self.start()
        st = wait_for(lambda: [r for r in self.ctl_json("status")["routes"]
                               if r["live"]["poll_error"]], 30, "a failed poll")[0]
        self.assertIn("503", st["live"]["poll_error"])
        proc = self.ctl("status", "--check", rc=1)
        lines = proc.stdout.splitlines()
        self.assertEqual(len(lines), 1, proc.stdout)
        self.assertTrue(lines[0].startswith("hello %s: poll failing: " % DEST), lines[0])
        self.assertIn("503", lines[0])
        self.assertEqual(self.ctl_json("status", "--check", rc=1)["routes"][0]["live"]
                         ["poll_error"], self.ctl_json("status")["routes"][0]["live"]
                         ["poll_error"])
        # Polls that work again clear it.
        knob(env.dev, "POST", "/_reset")
        self.ctl("trigger", "hello")
        wait_for(lambda: self.ctl_json("status")["routes"][0]["live"]["poll_error"] is None,
                 30, "a poll that works")
        self.assertEqual(self.ctl("status", "--check").stdout, "1 route OK\n")

    def test_check_drift_and_resume_offline(self):
        """A route the job held on a changed destination (phase held,
        written here as the job writes it): shown, checked, and resumed
        offline by accepting the foreign head."""
        self.promoted()
        foreign = "f" * 40
        path = os.path.join(self.env.route_dir("hello", DEST), "state.json")
        st = self.env.route_state("hello")
        st["phase"] = "held"
        st["drift"] = {"dest_commit": foreign, "author": "Ops Person <ops@example.com>",
                       "subject": "hotfix on prod", "time": "2026-11-25T14:02:11Z"}
        with open(path, "w") as f:
            json.dump(st, f)
        why = ("held: destination changed outside algopromoted by Ops Person "
               "<ops@example.com>: hotfix on prod (%s)" % foreign[:12])
        proc = self.ctl("status", "--check", rc=1)
        self.assertEqual(proc.stdout, "hello %s: %s\n" % (DEST, why))
        hold = self.ctl_json("status")["routes"][0]["hold"]
        self.assertEqual((hold["kind"], hold["by"], hold["dest_commit"]),
                         ("drift", "algopromoted", foreign))
        row = self.ctl("status").stdout.splitlines()[1]
        self.assertRegex(row, r"^hello\s+%s\s+held\s.*%s$" % (DEST, re.escape(why)))
        proc = self.ctl("resume", "hello")
        self.assertEqual(proc.stdout, "hello->%s: promoting on top of %s, which changed "
                         "the destination outside algopromoted\n" % (DEST, foreign[:12]))
        st = self.env.route_state("hello")
        self.assertEqual((st["phase"], st["drift"], st["accepted_dest_commit"]),
                         ("idle", None, foreign))
        self.assertEqual(self.ctl("status", "--check").stdout, "1 route OK\n")
        self.assertEqual(self.ctl("resume", "hello").stdout, "hello->%s: not held\n" % DEST)


class PauseResume(CtlTest):
    REASON = "maintenance window — Änderungssperre"

    def test_offline_pause_resume_and_a_later_start(self):
        c1 = self.promoted()
        self.assertFalse(os.path.exists(self.hold_file()))
        proc = self.ctl("pause", "hello", "--reason", self.REASON)
        self.assertEqual(proc.stdout, "hello->%s: paused: %s\n" % (DEST, self.REASON))
        with open(self.hold_file(), encoding="utf-8") as f:
            op = json.load(f)
        self.assertEqual((op["hold"], op["reason"]), ("paused", self.REASON))
        self.assertRegex(op["since"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(os.stat(self.hold_file()).st_mode & 0o777, 0o600)
        # The state file is the job's: untouched.
        self.assertEqual(self.env.route_state("hello")["phase"], "idle")
        # status: the table, --check and --json say so.
        row = self.ctl("status").stdout.splitlines()[1]
        self.assertRegex(row, r"^hello\s+%s\s+paused\s.*paused by operator: %s$"
                         % (DEST, re.escape(self.REASON)))
        proc = self.ctl("status", "--check", rc=1)
        self.assertEqual(proc.stdout, "hello %s: paused by operator: %s\n"
                         % (DEST, self.REASON))
        hold = self.ctl_json("status")["routes"][0]["hold"]
        self.assertEqual((hold["kind"], hold["by"], hold["reason"], hold["since"]),
                         ("paused", "operator", self.REASON, op["since"]))
        # A daemon started later keeps it paused.
        d = self.start()
        on = self.ctl_json("status", "--check", rc=1)
        self.assertEqual(on["daemon"], "running")
        self.assertEqual(on["routes"][0]["hold"]["reason"], self.REASON)
        self.assertTrue(os.path.exists(self.hold_file()))
        self.assertEqual(self.env.route_state("hello")["last"]["source_commit"], c1)
        self.assertEqual(d.stop(), 0)
        # resume without the daemon: the file goes, the route is free.
        proc = self.ctl("resume", "hello")
        self.assertEqual(proc.stdout, "hello->%s: resumed\n" % DEST)
        self.assertFalse(os.path.exists(self.hold_file()))
        self.assertEqual(self.ctl("status", "--check").stdout, "1 route OK\n")
        self.assertIsNone(self.ctl_json("status")["routes"][0]["hold"])
        self.assertEqual(self.ctl("resume", "hello").stdout, "hello->%s: not held\n" % DEST)
        # And the next run promotes again.
        c2 = self.env.commit(files={"src/Hello.py": "v2\n"})
        self.assertEqual(self.env.once().returncode, 0)
        self.assertEqual(self.env.route_state("hello")["last"]["source_commit"], c2)

    def test_pause_without_reason_and_again(self):
        self.promoted()
        self.assertEqual(self.ctl("pause", "hello").stdout, "hello->%s: paused\n" % DEST)
        with open(self.hold_file()) as f:
            self.assertIsNone(json.load(f)["reason"])
        self.assertEqual(self.ctl("status", "--check", rc=1).stdout,
                         "hello %s: paused by operator\n" % DEST)
        # Pausing again replaces the reason.
        self.ctl("pause", "hello", "--reason", "second")
        self.assertEqual(self.ctl_json("status")["routes"][0]["hold"]["reason"], "second")

    def test_corrupt_operator_file_shows_as_paused_and_resume_clears_it(self):
        self.promoted()
        with open(self.hold_file(), "w") as f:
            f.write("{not json")
        proc = self.ctl("status", "--check", rc=1)
        self.assertRegex(proc.stdout, r"^hello %s: paused by operator: \S*operator\.json: "
                         r"not valid JSON" % DEST)
        hold = self.ctl_json("status")["routes"][0]["hold"]
        self.assertEqual(hold["kind"], "paused")
        self.assertEqual(self.ctl("resume", "hello").stdout, "hello->%s: resumed\n" % DEST)
        self.assertFalse(os.path.exists(self.hold_file()))

    def test_destination_selects_one_route(self):
        env = self.env
        self.promoted([TWO])
        other = "prod/carol/Hello"
        proc = self.ctl("pause", "hello", "--destination", other, "--reason", "carol's")
        self.assertEqual(proc.stdout, "hello->%s: paused: carol's\n" % other)
        self.assertTrue(os.path.exists(self.hold_file(other)))
        self.assertFalse(os.path.exists(self.hold_file(DEST)))
        proc = self.ctl("status", "--check", rc=1)
        self.assertEqual(proc.stdout, "hello %s: paused by operator: carol's\n" % other)
        # An unknown destination names the pair's.
        proc = env.ctl("pause", "hello", "--destination", "prod/acme/Nope")
        self.assert_one_line_error(proc, 2, re.escape(
            'pair "hello" has no destination "prod/acme/Nope" (its destinations: '
            '%s, %s)' % (DEST, other)))
        proc = env.ctl("resume", "hello", "--destination", "prod/acme/Nope")
        self.assert_one_line_error(proc, 2, 'pair "hello" has no destination')
        self.assertEqual(self.ctl("resume", "hello", "--destination", DEST).stdout,
                         "hello->%s: not held\n" % DEST)
        self.assertTrue(os.path.exists(self.hold_file(other)))
        self.assertEqual(self.ctl("resume", "hello").stdout,
                         "hello->%s: not held\nhello->%s: resumed\n" % (DEST, other))
        self.assertFalse(os.path.exists(self.hold_file(other)))

    def test_state_dir_missing(self):
        self.env.write_config([PAIR])
        proc = self.env.ctl("resume", "hello")
        self.assertEqual((proc.returncode, proc.stdout), (0, "hello: nothing to resume\n"))
        proc = self.env.ctl("pause", "hello")
        if os.geteuid() == 0:
            # Root would make a state_dir the daemon's user cannot use.
            self.assert_one_line_error(proc, 1, re.escape(self.env.state) +
                                       " does not exist: algopromoted never ran")
            self.assertFalse(os.path.exists(self.env.state))
            # Once it exists, pause makes the lock and the route's directory.
            os.makedirs(self.env.state, 0o700)
            proc = self.env.ctl("pause", "hello")
        self.assertEqual((proc.returncode, proc.stdout), (0, "hello->%s: paused\n" % DEST),
                         proc.stderr)
        self.assertTrue(os.path.exists(self.hold_file()))
        self.assertTrue(os.path.exists(os.path.join(self.env.state, "lock")))

    def test_lock_held_without_an_answer(self):
        """A process that holds the state lock without a control socket
        (algopromoted --once) cannot be edited around."""
        self.promoted()
        import fcntl
        with open(os.path.join(self.env.state, "lock")) as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            for cmd in (("pause", "hello"), ("resume", "hello")):
                proc = self.env.ctl(*cmd)
                self.assert_one_line_error(proc, 1, re.escape(
                    "algopromoted holds %s but does not answer on " % self.env.state))
        self.assertFalse(os.path.exists(self.hold_file()))

    @unittest.skipUnless(daemon_has("pause"), "the daemon has no pause command yet")
    def test_pause_through_the_daemon_holds_promotions(self):
        env = self.env
        c1 = self.promoted()
        env.write_config([dict(PAIR, poll_interval="1h")])
        self.start()
        proc = self.ctl("pause", "hello", "--reason", "freeze")
        self.assertIn("hello->%s" % DEST, proc.stdout)
        self.assertTrue(os.path.exists(self.hold_file()))
        c2 = env.commit(files={"src/Hello.py": "v2\n"})
        self.ctl("trigger", "hello")
        # The daemon saw c2 and started nothing.
        wait_for(lambda: self.ctl_json("status")["routes"][0]["live"]["source_head"] == c2,
                 30, "the poll of c2")
        r = self.ctl_json("status")["routes"][0]
        self.assertFalse(r["live"]["job"])
        self.assertEqual(r["hold"]["kind"], "paused")
        self.assertEqual(r["last"]["source_commit"], c1)
        self.assertEqual(len(env.version_map("hello")), 1)
        self.ctl("resume", "hello")
        self.assertFalse(os.path.exists(self.hold_file()))
        wait_for(lambda: env.route_state("hello")["last"]["source_commit"] == c2, 60,
                 "c2 promoted after resume")
        self.assertEqual(len(env.version_map("hello")), 2)


class Promote(CtlTest):
    def test_promote_needs_the_daemon(self):
        c1 = self.promoted()
        proc = self.env.ctl("promote", "hello", "--source-commit", c1)
        self.assert_one_line_error(proc, 1, re.escape(
            "algopromoted is not running (nothing listens on %s); promote needs it"
            % os.path.join(self.env.dir, "run", "control.sock")))
        self.assertFalse(os.path.exists(self.hold_file()))

    def test_request_reaches_the_daemon(self):
        """What the daemon answers is printed: its messages, or its error
        with exit 1 (a daemon without the command says so)."""
        c1 = self.promoted()
        self.start()
        proc = self.env.ctl("promote", "hello", "--source-commit", c1[:12])
        if daemon_has("promote"):
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("hello->%s" % DEST, proc.stdout)
        else:
            self.assert_one_line_error(proc, 1, re.escape('unknown command "promote"'))
            out = self.ctl_json("promote", "hello", "--source-version", "1.2.0", rc=1)
            self.assertEqual(out, {"ok": False, "error": 'unknown command "promote"'})


class ArgumentErrors(CtlTest):
    def setUp(self):
        super().setUp()
        self.env.write_config([PAIR])

    def check(self, args, pattern, rc=2):
        proc = self.env.ctl(*args)
        self.assert_one_line_error(proc, rc, pattern)
        self.assertFalse(os.path.exists(self.env.state), "%s wrote state" % (args,))

    def test_promote_without_a_source_state(self):
        self.check(["promote", "hello"], re.escape(
            "promote: give one of a source commit or a source version"))

    def test_promote_with_both(self):
        self.check(["promote", "hello", "--source-commit", "abcdef1", "--source-version",
                    "1.2.3"], re.escape("promote: give one of a source commit or a source "
                                        "version"))

    def test_promote_bad_sha(self):
        for sha in ("abc", "ABCDEF1234", "zzzzzzzz", "a" * 41):
            self.check(["promote", "hello", "--source-commit", sha], re.escape(
                'promote: source commit "%s" is not 7 to 40 lowercase hex digits' % sha))

    def test_promote_bad_version(self):
        for v in ("1.2", "v1.2.3", "01.2.3", "1.2.3-rc1", ""):
            self.check(["promote", "hello", "--source-version", v], re.escape(
                'promote: source version "%s" is not X.Y.Z' % v))

    def test_unknown_destination(self):
        self.check(["promote", "hello", "--source-version", "1.2.3", "--destination",
                    "prod/acme/Other"], re.escape(
                        'pair "hello" has no destination "prod/acme/Other" '
                        '(its destinations: %s)' % DEST))

    def test_reason(self):
        self.check(["pause", "hello", "--reason", "x" * 513],
                   re.escape("--reason is 513 bytes long, more than 512"))
        self.check(["pause", "hello", "--reason", "two\nlines"],
                   re.escape("--reason is more than one line (a line break at byte 4)"))
        self.check(["pause", "hello", "--reason", "tab\there"],
                   re.escape("--reason holds a control character (0x09 at byte 4)"))
        self.check(["pause", "hello", "--reason", b"caf\xe9"],
                   re.escape("--reason is not valid UTF-8 (byte 4 is 0xe9)"))
        self.check(["pause", "hello", "--reason", b"\xed\xa0\x80"],   # a surrogate
                   re.escape("--reason is not valid UTF-8 (byte 1 is 0xed)"))
        self.check(["pause", "hello", "--reason", ""], re.escape("--reason is empty"))
        # 512 bytes of UTF-8 are fine: 170 three-byte characters and 2 more.
        os.makedirs(self.env.state, 0o700)
        ok = "€" * 170 + "ok"
        self.assertEqual(len(ok.encode()), 512)
        self.assertEqual(self.env.ctl("pause", "hello", "--reason", ok).returncode, 0)

    def test_options_and_commands(self):
        self.check(["status", "--reason", "x"], re.escape("--reason does not go with status"))
        self.check(["resume", "hello", "--reason", "x"],
                   re.escape("--reason does not go with resume"))
        self.check(["pause", "hello", "--source-commit", "abcdef1"],
                   re.escape("--source-commit does not go with pause"))
        self.check(["retry", "hello", "--check"], re.escape("--check does not go with retry"))
        self.check(["pause"], re.escape("pause needs one PAIR"))
        self.check(["status", "hello"], re.escape("status takes no arguments"))
        self.check(["pause", "hello", "--reason"], re.escape("--reason needs an argument"))
        self.check(["pause", "hello", "--bogus"], re.escape("unknown option --bogus"))
        self.check(["frob"], re.escape('unknown command "frob"'))
        self.check(["pause", "nosuch"], re.escape('no pair "nosuch" in %s' % self.env.config))


class JsonOutput(CtlTest):
    def test_error_envelope(self):
        self.env.write_config([PAIR])
        for args, rc, error in (
                (["promote", "hello", "--source-commit", "xyz"], 2,
                 'promote: source commit "xyz" is not 7 to 40 lowercase hex digits '
                 '(--source-commit SHA or --source-version X.Y.Z)'),
                (["pause", "nosuch"], 2, 'no pair "nosuch" in %s' % self.env.config),
                (["trigger", "hello"], 1, "algopromoted is not running (nothing listens on "
                 "%s); trigger needs it" % os.path.join(self.env.dir, "run", "control.sock")),
                (["frob"], 2, 'unknown command "frob" (see algopromotectl -h)')):
            proc = self.env.ctl("--json", *args)
            self.assertEqual(proc.returncode, rc, proc.stderr)
            self.assertEqual(json.loads(proc.stdout), {"ok": False, "error": error})
            self.assertEqual(proc.stderr, "algopromotectl: %s\n" % error)
        # A configuration's errors, on one line.
        with open(self.env.config, "a") as f:
            f.write("bogus_key: 1\nother_key: 2\n")
        proc = self.env.ctl("--json", "status")
        self.assertEqual(proc.returncode, 2)
        errors = proc.stderr.splitlines()
        self.assertEqual(len(errors), 2, proc.stderr)
        self.assertIn('unknown key "bogus_key"', errors[0])
        self.assertIn('unknown key "other_key"', errors[1])
        self.assertEqual(json.loads(proc.stdout), {"ok": False, "error": "; ".join(errors)})

    def test_messages_offline_and_from_the_daemon(self):
        self.promoted()
        out = self.ctl_json("pause", "hello", "--reason", "r")
        self.assertEqual(out, {"ok": True, "messages": ["hello->%s: paused: r" % DEST]})
        out = self.ctl_json("resume", "hello")
        self.assertEqual(out, {"ok": True, "messages": ["hello->%s: resumed" % DEST]})
        out = self.ctl_json("retry", "hello")
        self.assertEqual(out, {"ok": True, "messages": [
            "hello->%s: nothing to retry" % DEST]})
        self.start()
        out = self.ctl_json("trigger", "hello")
        self.assertEqual(out, {"ok": True, "messages": ["hello->%s: polling now" % DEST]})
        # -s reaches the daemon without the configuration.
        sock = os.path.join(self.env.dir, "run", "control.sock")
        with open(self.env.config, "a") as f:
            f.write("bogus_key: 1\n")
        out = self.ctl_json("-s", sock, "status")
        self.assertEqual((out["daemon"], len(out["routes"])), ("running", 1))
        out = self.ctl_json("-s", sock, "trigger", "nosuch", rc=1)
        self.assertEqual(out, {"ok": False, "error": 'no pair "nosuch"'})


if __name__ == "__main__":
    harness.main()
