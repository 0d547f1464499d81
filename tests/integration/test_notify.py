#!/usr/bin/env python3
"""Notifications (notify:) from the real daemon to local webhook receivers.

Delivery is at least once: a receiver may see an event more than once, by
the same id, and de-duplicates; these tests assert every event arrives,
that ids are unique per event, and that the repeats are repeats.
"""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "fakes"))
import harness  # noqa: E402
from harness import Env, Daemon, knob, wait_for  # noqa: E402
from webhook_receiver import Receiver  # noqa: E402
from test_operator import hand_push  # noqa: E402

PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello",
        "poll_interval": "5s"}
TOKEN = "simHookT0kenNotify+a/b9"


def by_id(events):
    """{id: [event, ...]}: what a de-duplicating receiver keeps, with the
    repeats."""
    out = {}
    for ev in events:
        out.setdefault(ev["id"], []).append(ev)
    return out


class NotifyTest(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.env.create_source()
        self.daemons = []
        self.receivers = []
        token = os.path.join(self.env.keys, "hook.token")
        with open(token, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(token, 0o600)
        self.token_file = token

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        for r in self.receivers:
            r.stop()
        leaks = self.env.scan_for_secrets()
        for r in self.receivers:
            seen = json.dumps(r.posts())
            leaks += ["a webhook got %r" % s for s in self.env.secret_forms() if s in seen]
        self.env.close()
        self.assertEqual(leaks, [])

    def receiver(self, **knobs):
        r = Receiver().start()
        r.set(**knobs)
        self.receivers.append(r)
        return r

    def start(self):
        d = Daemon(self.env)
        self.daemons.append(d)
        return d.wait_ready()

    def config(self, pairs, sinks):
        self.env.write_config(pairs, top={"notify": sinks, "poll_interval": "5s"})

    def sink(self, r, **more):
        return dict({"url": r.url(), "token_file": self.token_file}, **more)

    def wait_promoted(self, n, dest="prod/acme/Hello"):
        wait_for(lambda: len(self.env.version_map("hello", dest)) == n and
                 self.env.route_state("hello", dest)["phase"] == "idle", 60,
                 "%d promotions to %s" % (n, dest))

    def outbox(self):
        d = os.path.join(self.env.state, "outbox")
        return sorted(f for f in os.listdir(d) if f.endswith(".json")) if os.path.isdir(d) else []


class Notify(NotifyTest):
    def test_one_promoted_event_per_destination(self):
        env = self.env
        r = self.receiver()
        dests = ["prod/acme/Hello", "prod/carol/Hello"]
        pair = {k: v for k, v in PAIR.items() if k != "destination"}
        self.config([dict(pair, destinations=dests)],
                    [self.sink(r, events=["promoted", "failed"])])
        c1 = env.commit(files={"src/Hello.py": "notify\n"})
        self.start()
        for dest in dests:
            self.wait_promoted(1, dest)
        r.wait(lambda r: len(r.delivered()) >= 2, 30, "two promoted events")
        time.sleep(1)   # nothing more comes
        got = r.delivered()
        self.assertEqual(sorted(ev["destination"] for ev in got), dests)
        self.assertEqual(len({ev["id"] for ev in got}), 2)
        for ev in got:
            self.assertEqual(ev["event"], "promoted")
            self.assertEqual((ev["pair"], ev["source"], ev["source_commit"]),
                             ("hello", "dev/alice/Hello", c1))
            self.assertRegex(ev["id"], r"^[0-9a-f]{32}$")
            self.assertRegex(ev["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIsNone(ev["error"])
            self.assertTrue(ev["dest_commit"])
            self.assertEqual(ev["dest_version"], "0.1.0")
        for p in r.posts():
            self.assertEqual(p["headers"]["Authorization"], "Bearer " + TOKEN)
            self.assertEqual(p["headers"]["Content-Type"], "application/json")
        self.assertEqual(self.outbox(), [])
        status, text = self.daemons[0].http("/metrics")
        self.assertIn('algopromoted_notify_sent_total{sink="%s"} 2' % r.url(), text)
        self.assertIn("algopromoted_notify_pending 0", text)

    def test_receiver_failing_a_few_times(self):
        env = self.env
        r = self.receiver(fail=3, status=503)
        self.config([PAIR], [self.sink(r)])
        env.commit(files={"src/Hello.py": "flaky receiver\n"})
        d = self.start()
        self.wait_promoted(1)
        # 1 s, 2 s, 4 s of backoff, jittered.
        r.wait(lambda r: r.delivered(), 30, "the promoted event, at last")
        events = by_id(json.loads(p["body"]) for p in r.posts())
        promoted = [i for i, evs in events.items() if evs[0]["event"] == "promoted"]
        self.assertEqual(len(promoted), 1)
        tries = events[promoted[0]]
        self.assertEqual(len(tries), 4)                      # the same id each time
        self.assertEqual([p["status"] for p in r.posts()
                          if json.loads(p["body"])["id"] == promoted[0]], [503, 503, 503, 200])
        self.assertTrue(all(t == tries[0] for t in tries))
        _, text = d.http("/metrics")
        self.assertIn("algopromoted_notify_failed_total 3", text)
        self.assertIn("try 3 failed: HTTP 503", d.log_text())

    def test_receiver_down_across_a_restart(self):
        env = self.env
        r = self.receiver()
        port = r.port
        r.stop()                                    # down from the start
        self.config([PAIR], [self.sink(r)])
        c1 = env.commit(files={"src/Hello.py": "nobody listens\n"})
        d = self.start()
        self.wait_promoted(1)
        wait_for(lambda: "try 1 failed" in d.log_text(), 30, "a failed try")
        self.assertEqual(len(self.outbox()), 1)     # kept on disk
        self.assertEqual(d.stop(), 0)
        r.start(port=port)
        d = self.start()
        r.wait(lambda r: r.delivered(), 30, "the event after the restart")
        time.sleep(1)
        got = r.delivered()
        self.assertEqual(len(got), 1)
        self.assertEqual((got[0]["event"], got[0]["source_commit"]), ("promoted", c1))
        self.assertEqual(self.outbox(), [])
        self.assertEqual(len(self.env.version_map("hello")), 1)   # not promoted again
        self.assertIn("deliveries pending from before", d.log_text())

    def test_slow_receiver_does_not_hold_promotions(self):
        env = self.env
        r = self.receiver(delay_ms=8000)
        self.config([PAIR], [self.sink(r)])
        env.commit(files={"src/Hello.py": "one\n"})
        self.start()
        self.wait_promoted(1)
        t0 = time.monotonic()
        env.commit(files={"src/Hello.py": "two\n"})
        self.assertEqual(env.ctl("trigger", "hello").returncode, 0)
        self.wait_promoted(2)
        # The second promotion ended while the first POST still hung.
        self.assertEqual(r.posts(), [])
        self.assertLess(time.monotonic() - t0, 8)
        r.wait(lambda r: len(r.delivered()) == 2, 40, "both events, in order")
        self.assertEqual([ev["dest_version"] for ev in r.delivered()], ["0.1.0", "0.2.0"])

    def test_failed_build_sends_failed_without_a_key(self):
        env = self.env
        r = self.receiver()
        self.config([PAIR], [self.sink(r, format="json", events=["failed"]),
                             {"url": r.url("/slack"), "format": "slack"}])
        bad = env.commit(files={"BUILD_FAIL": "boom\n"})
        self.start()
        wait_for(lambda: env.route_phase("hello") == "failed", 60, "a failed build")
        r.wait(lambda r: r.delivered("/hook") and r.delivered("/slack"), 30, "failed")
        ev = r.delivered("/hook")[0]
        self.assertEqual((ev["event"], ev["source_commit"]), ("failed", bad))
        self.assertIn("build", ev["error"])
        slack = r.delivered("/slack")
        self.assertEqual(list(slack[0]), ["text"])
        self.assertIn("failed", slack[0]["text"])
        self.assertNotIn("\n", slack[0]["text"])
        for p in r.posts():
            for s in env.secret_forms():
                self.assertNotIn(s, p["body"])
        # The slack sink has no token: no Authorization at all.
        self.assertTrue(all("Authorization" not in p["headers"]
                            for p in r.posts("/slack")))

    def test_pending_approval_announced_once(self):
        env = self.env
        r = self.receiver()
        self.config([dict(PAIR, approval="manual")], [self.sink(r)])
        c1 = env.commit(files={"src/Hello.py": "needs a yes\n"})
        d = self.start()
        wait_for(lambda: env.route_phase("hello") == "approval", 60, "approval")
        for _ in range(3):
            n = d.log_text().count("poll")
            self.assertEqual(env.ctl("trigger", "hello").returncode, 0)
            wait_for(lambda: d.log_text().count("poll") > n, 30, "another poll")
        time.sleep(1)
        got = [ev for ev in r.delivered() if ev["event"] == "pending-approval"]
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["source_commit"], c1)
        self.assertEqual(env.ctl("approve", "hello").returncode, 0)
        self.wait_promoted(1)
        r.wait(lambda r: [ev for ev in r.delivered() if ev["event"] == "promoted"], 30,
               "promoted after the approval")
        self.assertEqual(len([ev for ev in r.delivered()
                              if ev["event"] == "pending-approval"]), 1)


class RouteEvents(NotifyTest):
    """What happens to a route, and what its operator does, each told
    once."""

    def events(self, r, kind=None):
        return [ev for ev in r.delivered() if kind is None or ev["event"] == kind]

    def test_night_hotfix_held_once_then_operator_events(self):
        env = self.env
        r = self.receiver()
        self.config([dict(PAIR, reconcile_interval="5s")], [self.sink(r)])
        c1 = env.commit(files={"src/Hello.py": "v1\n"})
        d = self.start()
        self.wait_promoted(1)
        hotfix = hand_push(env, {"src/Hello.py": "v1 with a hotfix\n"},
                           "hotfix: cap the batch size")
        wait_for(lambda: env.route_phase("hello") == "held", 30, "the drift held")
        r.wait(lambda r: self.events(r, "held"), 30, "the held event")
        # Polls and reconcile passes go on; the hold is told once.
        for _ in range(3):
            n = d.log_text().count("poll")
            self.assertEqual(env.ctl("trigger", "hello").returncode, 0)
            wait_for(lambda: d.log_text().count("poll") > n, 30, "another poll")
        held = self.events(r, "held")
        self.assertEqual(len(held), 1)
        self.assertEqual(held[0]["dest_commit"], hotfix)
        self.assertIn("Night Oncall <oncall@example.com>", held[0]["reason"])
        self.assertIn("hotfix: cap the batch size", held[0]["reason"])
        # The operator pauses, resumes (over the hotfix), and pins back.
        self.assertEqual(env.ctl("pause", "hello", "--reason", "looking at it").returncode, 0)
        self.assertEqual(env.ctl("resume", "hello").returncode, 0)
        c2 = env.commit(files={"src/Hello.py": "v2\n"})
        self.assertEqual(env.ctl("trigger", "hello").returncode, 0)
        self.wait_promoted(2)
        self.assertEqual(env.ctl("promote", "hello", "--source-commit", c1).returncode, 0)
        self.wait_promoted(3)
        r.wait(lambda r: len(self.events(r, "promoted")) == 3 and self.events(r, "resumed")
               and len(self.events(r, "held")) == 2, 30, "the operator's events")
        kinds = [ev["event"] for ev in self.events(r)]
        self.assertEqual(kinds, ["promoted", "held", "paused", "resumed", "promoted",
                                 "held", "promoted"])
        paused = self.events(r, "paused")[0]
        self.assertEqual(paused["reason"], "looking at it")
        pin = self.events(r, "held")[1]
        self.assertEqual(pin["source_commit"], c1)
        self.assertIn("pinned to source commit", pin["reason"])
        self.assertEqual([ev["source_commit"] for ev in self.events(r, "promoted")],
                         [c1, c2, c1])
        self.assertEqual(len({ev["id"] for ev in self.events(r)}), 7)

    def test_overwrite_sends_drift(self):
        env = self.env
        r = self.receiver()
        self.config([dict(PAIR, reconcile_interval="5s", on_drift="overwrite")],
                    [self.sink(r)])
        env.commit(files={"src/Hello.py": "v1\n"})
        self.start()
        self.wait_promoted(1)
        hotfix = hand_push(env, {"src/Hello.py": "by hand\n"}, "by hand")
        r.wait(lambda r: self.events(r, "drift"), 40, "the drift event")
        self.wait_promoted(2)
        drift = self.events(r, "drift")[0]
        self.assertEqual(drift["dest_commit"], hotfix)
        self.assertIn("on_drift: overwrite", drift["reason"])
        r.wait(lambda r: len(self.events(r, "promoted")) == 2, 30, "the repair")
        self.assertEqual([ev["dest_version"] for ev in self.events(r, "promoted")],
                         ["0.1.0", "0.2.0"])

    def test_failing_told_once_across_retries_then_recovered(self):
        env = self.env
        r = self.receiver()
        self.env.write_config([PAIR], top={"notify": [self.sink(r, events=["failed", "recovered"])],
                                           "poll_interval": "5s", "retry_min": "1s"})
        c1 = env.commit(files={"src/Hello.py": "v1\n"})
        # Six pushes refused: two jobs of three tries fail, each backing
        # off (1 s, then 2 s); the third job promotes.
        knob(env.prod, "POST", "/_fault",
             {"method": "POST", "path": r"/git-receive-pack", "status": 500, "count": 6})
        d = self.start()
        self.wait_promoted(1)
        self.assertEqual(d.log_text().count("no push landed in 3 tries"), 2)
        r.wait(lambda r: self.events(r, "recovered"), 30, "recovered")
        self.assertEqual([(ev["event"], ev["source_commit"]) for ev in self.events(r)],
                         [("failed", c1), ("recovered", c1)])
        self.assertIn("500", self.events(r, "failed")[0]["error"])

    def test_failed_build_then_retry_then_a_fix(self):
        env = self.env
        r = self.receiver()
        self.config([PAIR], [self.sink(r, events=["failed", "recovered"])])
        bad = env.commit(files={"BUILD_FAIL": "boom\n"})
        d = self.start()
        wait_for(lambda: env.route_phase("hello") == "failed", 60, "a failed build")
        r.wait(lambda r: self.events(r, "failed"), 30, "failed")
        # An operator's retry is a new attempt: failing again is told again.
        self.assertEqual(env.ctl("retry", "hello").returncode, 0)
        r.wait(lambda r: len(self.events(r, "failed")) == 2, 60, "the retry's failure")
        good = env.commit(remove=["BUILD_FAIL"])
        self.assertEqual(env.ctl("trigger", "hello").returncode, 0)
        self.wait_promoted(1)
        r.wait(lambda r: self.events(r, "recovered"), 30, "recovered")
        self.assertEqual([(ev["event"], ev["source_commit"]) for ev in self.events(r)],
                         [("failed", bad), ("failed", bad), ("recovered", good)])


if __name__ == "__main__":
    harness.main()
