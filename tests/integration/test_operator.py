#!/usr/bin/env python3
"""Production belongs to people: drift is held, not overwritten; a route
can be paused, and pinned to an older source state (a rollback), and no
automatic promotion undoes either until `resume`.

Driven through the control socket as algopromotectl drives it; the
outcome is observed on the clusters, the state files and the route's
status.
"""
import json
import os
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Env, Daemon, git, knob, tree_of, wait_for  # noqa: E402
from test_promote import expected_tree  # noqa: E402

PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello"}
DEST = "prod/acme/Hello"


def hand_push(env, files, subject, author="Night Oncall <oncall@example.com>",
              name="by-hand"):
    """A person's commit on top of prod's master; returns its sha."""
    work = env.prod_clone(name=name)
    for path, text in files.items():
        full = os.path.join(work, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
        git("add", path, cwd=work)
    git("commit", "-q", "--author", author, "-m", subject, cwd=work)
    git("push", "-q", "origin", "HEAD:master", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


class OperatorTest(unittest.TestCase):
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

    def control(self, cmd, **args):
        """One request on the control socket; the reply object."""
        req = dict(args, cmd=cmd)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(os.path.join(self.env.dir, "run", "control.sock"))
            s.sendall((json.dumps(req) + "\n").encode())
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return json.loads(data)

    def route(self, dest=DEST):
        for r in self.control("status")["routes"]:
            if r["destination"] == dest:
                return r
        raise AssertionError("no route to %s" % dest)

    def wait_map(self, n, dest=DEST):
        wait_for(lambda: len(self.env.version_map("hello", dest)) == n and
                 self.env.route_state("hello", dest)["phase"] == "idle", 60,
                 "%d promotions" % n)
        return self.env.version_map("hello", dest)

    def wait_polled(self, sha, dest=DEST):
        """Triggers a poll and waits until the daemon has seen sha: its
        decision about it is taken in the same step."""
        self.control("trigger", pair="hello")
        wait_for(lambda: self.route(dest)["live"]["source_head"] == sha, 30,
                 "the poll that sees %s" % sha[:12])
        return self.route(dest)

    def expected_tree(self, name="expected"):
        """The tree the source's head promotes to."""
        return expected_tree(self.env, name=name)


class Drift(OperatorTest):
    def test_night_hotfix_is_held_named_and_resumed(self):
        env = self.env
        env.write_config([dict(PAIR, poll_interval="5s", reconcile_interval="5s")])
        env.commit(files={"src/Hello.py": "v1\n"})
        d = self.start()
        self.wait_map(1)
        # At night a person hot-fixes prod by hand.
        hotfix = hand_push(env, {"src/Hello.py": "v1 with a hotfix\n"},
                           "hotfix: cap the batch size")
        # Reconciliation notices within reconcile_interval and holds. The
        # job writes the phase, then the loop takes the hold it reports:
        # both are awaited.
        wait_for(lambda: env.route_state("hello")["phase"] == "held" and
                 self.route()["hold"] is not None, 30, "the drift to be held")
        st = env.route_state("hello")
        self.assertEqual(st["drift"]["dest_commit"], hotfix)
        self.assertEqual(st["drift"]["author"], "Night Oncall <oncall@example.com>")
        self.assertEqual(st["drift"]["subject"], "hotfix: cap the batch size")
        hold = self.route()["hold"]
        self.assertEqual((hold["kind"], hold["by"], hold["dest_commit"], hold["author"],
                          hold["subject"]),
                         ("drift", "algopromoted", hotfix, "Night Oncall <oncall@example.com>",
                          "hotfix: cap the batch size"))
        self.assertRegex(d.log_text(), r"destination head %s \(Night Oncall "
                         r"<oncall@example.com>: \"hotfix: cap the batch size\"\) was not "
                         r"pushed by algopromoted: the route is held until `algopromotectl "
                         r"resume hello`" % hotfix[:12])
        # Dev moves on: nothing is promoted over the hotfix.
        c2 = env.commit(files={"src/Hello.py": "v2\n"})
        r = self.wait_polled(c2)
        self.assertFalse(r["live"]["job"])
        self.assertEqual(env.prod_head(), hotfix)
        self.assertEqual([v for v, _ in env.prod_versions()], ["0.1.0"])
        # The plan names the hold and what resume would promote.
        proc = env.ctl("plan", "hello")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.splitlines()[:3], [
            "hello->prod/acme/Hello: held: destination head %s changed outside "
            "algopromoted; `algopromotectl resume hello` promotes on top of it" % hotfix,
            "hello->prod/acme/Hello: would promote dev/alice/Hello@%s" % c2,
            "1 file changed, 1 insertion(+), 1 deletion(-)"])
        # resume: promoted on top of the hotfix, its tree replaced.
        reply = self.control("resume", pair="hello")
        self.assertTrue(reply["ok"], reply)
        self.assertRegex(reply["messages"][0], r"promoting on top of %s" % hotfix[:12])
        vmap = self.wait_map(2)
        self.assertEqual(vmap[-1]["source_commit"], c2)
        work = env.prod_clone()
        self.assertEqual(tree_of(work), self.expected_tree())
        git("merge-base", "--is-ancestor", hotfix, "HEAD", cwd=work)
        self.assertEqual([v for v, _ in env.prod_versions()], ["0.2.0", "0.1.0"])
        st = env.route_state("hello")
        self.assertIsNone(st["drift"])
        self.assertEqual(st["accepted_dest_commit"], hotfix)
        self.assertIsNone(self.route()["hold"])

    def test_foreign_push_during_a_promotion_is_held(self):
        env = self.env
        env.write_config([PAIR])
        env.commit(files={"src/Hello.py": "v1\n"})
        self.assertEqual(env.once().returncode, 0)
        promoted = env.prod_head()
        env.commit(files={"src/Hello.py": "v2\n"})
        # The daemon's push waits 3 s; meanwhile a person pushes.
        knob(env.prod, "POST", "/_reset")
        knob(env.prod, "POST", "/_fault",
             {"method": "GET", "path": r"/git/acme/Hello\.git/info/refs\?service=git-receive-pack",
              "user_agent": "algopromoted", "delay_ms": 3000, "count": 1})
        daemon = subprocess.Popen([harness.DAEMON, "-f", env.config, "--once"],
                                  env=harness.env_with(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        harness.await_request(env.prod, "service=git-upload-pack")
        hotfix = hand_push(env, {"HOTFIX.md": "pushed by a person\n"}, "hotfix")
        out, err = daemon.communicate(timeout=120)
        env.logs.append(out + err)
        self.assertEqual(daemon.returncode, 0, err)
        self.assertIn("destination moved", err)
        self.assertEqual(env.prod_head(), hotfix)
        self.assertEqual([v for v, _ in env.prod_versions()], ["0.1.0"])
        st = env.route_state("hello")
        self.assertEqual((st["phase"], st["drift"]["dest_commit"]), ("held", hotfix))
        self.assertIsNone(st["pending"]["dest_commit"])
        self.assertEqual(st["last"]["dest_commit"], promoted)
        # Held stays held: another run changes nothing.
        proc = env.once()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(env.prod_head(), hotfix)

    def test_a_new_destination_is_not_drift(self):
        env = self.env
        # Content in prod before algopromoted ever pushed there.
        env.prod_api("POST", "/v1/algorithms/acme",
                     {"name": "Hello", "details": {"label": "Hello"},
                      "settings": harness.PY_SETTINGS})
        hand_push(env, {"OLD.md": "from before\n"}, "older content")
        env.write_config([PAIR])
        env.commit(files={"src/Hello.py": "v1\n"})
        proc = env.once()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(env.route_state("hello")["phase"], "idle")
        self.assertEqual(tree_of(env.prod_clone()), self.expected_tree())

    def test_a_changed_preserved_file_is_not_drift(self):
        env = self.env
        env.write_config([dict(PAIR, preserve=["config/prod.json"])])
        env.commit(files={"src/Hello.py": "v1\n"})
        self.assertEqual(env.once().returncode, 0)
        mine = hand_push(env, {"config/prod.json": "{\"prod\": 1}\n"}, "prod config")
        env.commit(files={"src/Hello.py": "v2\n"})
        proc = env.once()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(env.route_state("hello")["phase"], "idle")
        work = env.prod_clone()
        git("merge-base", "--is-ancestor", mine, "HEAD", cwd=work)
        with open(os.path.join(work, "config/prod.json")) as f:
            self.assertEqual(f.read(), "{\"prod\": 1}\n")


class PauseAndPin(OperatorTest):
    def test_pause_holds_across_a_restart_and_resume_promotes(self):
        env = self.env
        env.write_config([PAIR])
        env.commit(files={"src/Hello.py": "v1\n"})
        self.start()
        self.wait_map(1)
        reply = self.control("pause", pair="hello", reason="release freeze until Monday")
        self.assertTrue(reply["ok"], reply)
        self.assertEqual(reply["messages"], ["hello->prod/acme/Hello: paused"])
        with open(os.path.join(env.route_dir("hello", DEST), "operator.json")) as f:
            op = json.load(f)
        self.assertEqual((op["hold"], op["reason"]), ("paused", "release freeze until Monday"))
        c2 = env.commit(files={"src/Hello.py": "v2\n"})
        r = self.wait_polled(c2)
        self.assertFalse(r["live"]["job"])
        self.assertEqual((r["hold"]["kind"], r["hold"]["by"], r["hold"]["reason"]),
                         ("paused", "operator", "release freeze until Monday"))
        self.assertEqual(len(env.version_map("hello")), 1)
        # A restart keeps the pause.
        self.daemons.pop().stop()
        self.start()
        r = self.wait_polled(c2)
        self.assertEqual(r["hold"]["kind"], "paused")
        self.assertEqual(len(env.version_map("hello")), 1)
        # resume promotes what waited.
        reply = self.control("resume", pair="hello")
        self.assertEqual(reply["messages"], ["hello->prod/acme/Hello: resumed (was paused)"])
        self.assertEqual(self.wait_map(2)[-1]["source_commit"], c2)
        self.assertFalse(os.path.exists(os.path.join(env.route_dir("hello", DEST),
                                                     "operator.json")))
        self.assertEqual(self.control("resume", pair="hello")["messages"],
                         ["hello->prod/acme/Hello: nothing to resume"])

    def test_the_daemon_refuses_a_bad_reason(self):
        env = self.env
        env.write_config([PAIR])
        env.commit(files={"src/Hello.py": "v1\n"})
        self.start()
        self.wait_map(1)
        # algopromotectl checks too; a client of the socket may not.
        for reason, why in (("tab\there", "holds a control character (0x09 at byte 4)"),
                            ("x" * 513, "is 513 bytes long, more than 512"),
                            ("", "is empty")):
            reply = self.control("pause", pair="hello", reason=reason)
            self.assertEqual(reply["messages"],
                             ["hello->prod/acme/Hello: not paused: the reason " + why])
        self.assertIsNone(self.route()["hold"])
        self.assertFalse(os.path.exists(os.path.join(env.route_dir("hello", DEST),
                                                     "operator.json")))

    def test_pin_rolls_back_and_holds_until_resume(self):
        env = self.env
        env.write_config([PAIR])
        c1 = env.commit(files={"src/Hello.py": "v1\n"})
        v1_tree = self.expected_tree("exp1")
        self.start()
        self.wait_map(1)
        c2 = env.commit(files={"src/Hello.py": "v2\n"})
        self.wait_polled(c2)
        self.wait_map(2)
        # Roll back to the first source commit, by a prefix of it.
        reply = self.control("promote", pair="hello", source_commit=c1[:10])
        self.assertTrue(reply["ok"], reply)
        self.assertRegex(reply["messages"][0], r"pinned to source commit %s by operator"
                         % c1[:10])
        vmap = self.wait_map(3)
        self.assertEqual((vmap[-1]["source_commit"], vmap[-1]["dest_version"]), (c1, "0.3.0"))
        self.assertEqual(tree_of(env.prod_clone()), v1_tree)
        r = self.route()
        self.assertEqual((r["hold"]["kind"], r["hold"]["source_commit"]), ("pinned", c1[:10]))
        # The source moves on: the pin holds.
        c3 = env.commit(files={"src/Hello.py": "v3\n"})
        r = self.wait_polled(c3)
        self.assertFalse(r["live"]["job"])
        self.assertEqual(len(env.version_map("hello")), 3)
        # resume: the source's head again.
        self.control("resume", pair="hello")
        self.assertEqual(self.wait_map(4)[-1]["source_commit"], c3)

    def test_pin_a_source_version(self):
        env = self.env
        env.write_config([dict(PAIR, track="versions")])
        c1 = env.commit(files={"src/Hello.py": "v1\n"})
        self.assertEqual(env.publish_source(c1), "0.1.0")
        c2 = env.commit(files={"src/Hello.py": "v2\n"})
        self.assertEqual(env.publish_source(c2), "0.2.0")
        self.start()
        self.assertEqual(self.wait_map(1)[-1]["source_version"], "0.2.0")
        self.control("promote", pair="hello", source_version="0.1.0")
        last = self.wait_map(2)[-1]
        self.assertEqual((last["source_commit"], last["source_version"]), (c1, "0.1.0"))

    def test_bad_pins_are_refused_or_fail_clearly(self):
        env = self.env
        env.write_config([PAIR])
        env.commit(files={"src/Hello.py": "v1\n"})
        self.start()
        self.wait_map(1)
        for args, want in (
                ({"source_commit": "xyz"}, "not 7 to 40 lowercase hex digits"),
                ({}, "give one of a source commit or a source version"),
                ({"source_commit": "abcdef1", "source_version": "1.0.0"},
                 "give one of a source commit or a source version"),
                ({"source_version": "1.0"}, "is not X.Y.Z")):
            reply = self.control("promote", pair="hello", **args)
            self.assertIn(want, reply["messages"][0])
            self.assertIn("not pinned", reply["messages"][0])
        reply = self.control("promote", pair="hello", destination="prod/acme/Nope",
                             source_commit="abcdef1")
        self.assertEqual(reply, {"ok": False, "error": 'pair "hello" has no destination '
                                 '"prod/acme/Nope"'})
        self.assertEqual(self.route()["hold"], None)
        # A commit the source does not have: the job fails and says so.
        self.control("promote", pair="hello", source_commit="deadbeef" * 5)
        wait_for(lambda: "pinned source commit" in (env.route_state("hello")["error"] or ""),
                 30, "the pin's failure")
        self.assertIn("deadbeefdeadbeef", env.route_state("hello")["error"])
        self.assertEqual(len(env.version_map("hello")), 1)


TRIGGER_TOKEN = "simTrig+ger/T0ken=="


class Trigger(OperatorTest):
    """POST /trigger/PAIR: a dev CI announcing its push."""

    def config(self, token=True, other=True, **pair):
        top = {"poll_interval": "1h"}
        if token:
            path = os.path.join(self.env.keys, "trigger.token")
            with open(path, "w") as f:
                f.write(TRIGGER_TOKEN + "\n")
            os.chmod(path, 0o600)
            top["trigger_token_file"] = path
        pairs = [dict(PAIR, **pair)]
        if other:
            pairs.append({"name": "other", "source": "dev/alice/Hello",
                          "destination": "prod/acme/Other"})
        self.env.write_config(pairs, top=top)

    def post(self, d, pair, token=TRIGGER_TOKEN, scheme="Bearer"):
        headers = {"Authorization": "%s %s" % (scheme, token)} if token else {}
        return d.http("/trigger/" + pair, method="POST", headers=headers, full=True)

    def test_without_the_setting_the_listener_stays_read_only(self):
        self.config(token=False)
        self.env.commit(files={"src/Hello.py": "v1\n"})
        d = self.start()
        self.wait_map(1)
        status, body, _ = self.post(d, "hello")
        self.assertEqual((status, body), (405, "method not allowed\n"))
        self.assertEqual(d.http("/trigger/hello")[0], 404)

    def test_refused_without_the_token_and_unknown_pairs(self):
        env = self.env
        self.config()
        env.commit(files={"src/Hello.py": "v1\n"})
        d = self.start()
        self.wait_map(1)
        polls = d.log_text().count("info/refs")
        for token, scheme in ((None, None), ("wrong", "Bearer"),
                              (TRIGGER_TOKEN[:-1], "Bearer"), (TRIGGER_TOKEN, "Basic")):
            status, body, headers = self.post(d, "hello", token, scheme)
            self.assertEqual(status, 401, (token, scheme))
            self.assertEqual(headers["WWW-Authenticate"], 'Bearer realm="algopromoted"')
        # An unknown pair is 404 only to the token's holder.
        self.assertEqual(self.post(d, "nope", None)[0], 401)
        self.assertEqual(self.post(d, "nope")[:2], (404, "no such pair\n"))
        self.assertEqual(self.post(d, "hello/../other")[0], 404)
        self.assertEqual(d.log_text().count("info/refs"), polls)
        # Said once, the rest counted, whatever the client sends.
        self.assertEqual(d.log_text().count("POST /trigger refused"), 1)
        self.assertNotIn(TRIGGER_TOKEN, d.log_text())

    def test_a_push_then_a_trigger_promotes_now(self):
        env = self.env
        self.config()
        env.commit(files={"src/Hello.py": "v1\n"})
        d = self.start()
        self.wait_map(1)
        wait_for(lambda: len(env.version_map("other", "prod/acme/Other")) == 1, 60,
                 "the other pair")
        c2 = env.commit(files={"src/Hello.py": "v2\n"})
        status, body, _ = self.post(d, "hello")
        self.assertEqual((status, body), (202, "hello: polling now\n"))
        # poll_interval is an hour: only the trigger can have done it.
        self.assertEqual(self.wait_map(2)[-1]["source_commit"], c2)
        self.assertIn("pair hello: poll triggered over http", d.log_text())
        # Only that pair was polled.
        self.assertEqual(len(env.version_map("other", "prod/acme/Other")), 1)
        self.assertNotEqual(self.route("prod/acme/Other")["live"]["source_head"], c2)

    def test_at_most_one_trigger_waits(self):
        env = self.env
        self.config(other=False)   # its polls would mix with hello's
        env.commit(files={"src/Hello.py": "v1\n"})
        d = self.start()
        self.wait_map(1)
        knob(env.dev, "POST", "/_reset")
        # The next poll of hello's source takes 2 s.
        knob(env.dev, "POST", "/_fault",
             {"method": "GET", "path": r"/git/alice/Hello\.git/info/refs",
              "user_agent": "algopromoted", "delay_ms": 2000, "count": 1})
        done = d.log_text().count("poller: GET")
        replies = [self.post(d, "hello")[:2] for _ in range(6)]
        self.assertEqual(replies[0], (202, "hello: polling now\n"))
        self.assertEqual(replies[1], (202, "hello: polls when the work under way ends\n"))
        self.assertEqual(replies[2:], [(202, "hello: a trigger is already waiting\n")] * 4)
        # The poll under way, then the one that waited: two, not six.
        wait_for(lambda: d.log_text().count("poller: GET") >= done + 2, 30,
                 "both polls answered")
        self.assertEqual(len([r for r in knob(env.dev, "GET", "/_requests")
                              if "info/refs" in r["path"]]), 2)

class Plan(OperatorTest):
    """algopromotectl plan PAIR: what would be promoted, and what holds
    it; nothing remote changes."""

    def plan(self, *args):
        proc = self.env.ctl("plan", "hello", *args)
        return proc.returncode, proc.stdout, proc.stderr

    def test_plan_shows_the_change_and_changes_nothing(self):
        env = self.env
        env.write_config([dict(PAIR, poll_interval="1h")])
        env.commit(files={"src/Hello.py": "v1\n", "OLD.md": "old\n"})
        self.start()
        self.wait_map(1)
        head = env.prod_head()
        c2 = env.commit(files={"src/Hello.py": "v2, longer\n", "NEW.md": "new\n"},
                        remove=["OLD.md"])
        state = open(os.path.join(env.route_dir("hello", DEST), "state.json")).read()
        knob(env.prod, "POST", "/_reset")
        rc, out, err = self.plan()
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.splitlines()[:2], [
            "hello->prod/acme/Hello: would promote dev/alice/Hello@%s" % c2,
            "3 files changed, 2 insertions(+), 2 deletions(-)"])
        self.assertIn("1 added, 1 removed, 1 changed; 7 bytes -> 15 bytes\n", out)
        self.assertIn(" A NEW.md (+1 -0, 4 bytes)\n", out)
        self.assertIn(" D OLD.md (+0 -1, 4 bytes)\n", out)
        self.assertIn(" M src/Hello.py (+1 -1, 3 -> 11 bytes)\n", out)
        self.assertEqual(env.prod_head(), head)
        self.assertEqual([r for r in knob(env.prod, "GET", "/_requests")
                          if r["method"] not in ("GET",) and "upload-pack" not in r["path"]], [])
        self.assertEqual(open(os.path.join(env.route_dir("hello", DEST), "state.json")).read(),
                         state)
        self.assertEqual(os.listdir(os.path.join(env.state, "plans")), [])


    def test_plan_names_what_holds_each_destination(self):
        env = self.env
        pair = {k: v for k, v in PAIR.items() if k != "destination"}
        env.write_config([dict(pair, poll_interval="1h",
                               destinations=["prod/acme/Hello", "prod/acme/Paused",
                                             "prod/acme/Pinned", "prod/acme/Drifted"])])
        c1 = env.commit(files={"src/Hello.py": "v1\n"})
        self.start()
        for dest in ("prod/acme/Hello", "prod/acme/Paused", "prod/acme/Pinned",
                     "prod/acme/Drifted"):
            self.wait_map(1, dest)
        self.control("pause", pair="hello", destination="prod/acme/Paused",
                     reason="freeze")
        c2 = env.commit(files={"src/Hello.py": "v2\n"})
        self.control("promote", pair="hello", destination="prod/acme/Pinned",
                     source_commit=c1)
        work = env.prod_clone(algo="Drifted", name="drift")
        with open(os.path.join(work, "HOTFIX"), "w") as f:
            f.write("by hand\n")
        git("add", "HOTFIX", cwd=work)
        git("commit", "-q", "-m", "hotfix", cwd=work)
        git("push", "-q", "origin", "HEAD:master", cwd=work)
        rc, out, err = self.plan()
        self.assertEqual(rc, 0, err)
        self.assertIn("hello->prod/acme/Paused: held: paused by operator: freeze\n", out)
        self.assertRegex(out, r"hello->prod/acme/Pinned: held: pinned to source commit "
                         r"%s by operator; nothing newer is promoted until "
                         r"`algopromotectl resume hello`\n" % c1)
        self.assertRegex(out, r"hello->prod/acme/Drifted: held: destination head [0-9a-f]{40} "
                         r".*changed outside algopromoted")
        self.assertIn("hello->prod/acme/Hello: would promote dev/alice/Hello@%s\n" % c2, out)
        # --destination: that one only; --json: the daemon's reply.
        rc, out, err = self.plan("--destination", "prod/acme/Paused", "--json")
        self.assertEqual(rc, 0, err)
        plans = json.loads(out)["plans"]
        self.assertEqual([p["destination"] for p in plans], ["prod/acme/Paused"])
        self.assertTrue(plans[0]["ok"])

    def test_plan_with_approval_and_without_the_daemon(self):
        env = self.env
        env.write_config([dict(PAIR, approval="manual")])
        c1 = env.commit(files={"src/Hello.py": "v1\n"})
        rc, out, err = self.plan()
        self.assertEqual(rc, 1)
        self.assertIn("algopromoted is not running", err)
        self.assertIn("algopromoted --dry-run", err)
        self.start()
        wait_for(lambda: env.route_phase("hello") == "approval", 60, "approval")
        rc, out, err = self.plan()
        self.assertEqual(rc, 0, err)
        self.assertIn("hello->prod/acme/Hello: held: %s waits for approval (approval: manual); "
                      "`algopromotectl approve hello`\n" % c1, out)
        self.assertIn("hello->prod/acme/Hello: would create prod/acme/Hello", out)
        self.assertEqual(env.route_phase("hello"), "approval")


if __name__ == "__main__":
    harness.main()
