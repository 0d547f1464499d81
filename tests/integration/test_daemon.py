#!/usr/bin/env python3
"""The service loop: the real `algopromoted` running against fakeclusters.

Readiness and systemd messages come through a fake NOTIFY_SOCKET; the
rest is observed through the clusters, the state files, the control
socket and the HTTP endpoint.
"""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import harness  # noqa: E402
import promcheck  # noqa: E402
from harness import Env, Daemon, wait_for, knob  # noqa: E402

PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello"}


class DaemonTest(unittest.TestCase):
    build_seconds = 0.2

    def setUp(self):
        self.env = Env(build_seconds=self.build_seconds)
        self.env.create_source()
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        leaks = self.env.scan_for_secrets()
        self.env.close()
        self.assertEqual(leaks, [])

    def start(self, **kw):
        d = Daemon(self.env, **kw)
        self.daemons.append(d)
        return d.wait_ready()

    def wait_promoted(self, n, pair="hello", dest="prod/acme/Hello"):
        """Until the version map of the route holds n promotions (it is
        written after the publish, the state after the map)."""
        wait_for(lambda: len(self.env.version_map(pair, dest)) == n and
                 self.env.route_state(pair, dest)["phase"] == "idle", 60,
                 "%d promotions of %s" % (n, pair))

    def versions(self, algo="Hello"):
        try:
            return [v for v, _ in self.env.prod_versions(algo=algo)]
        except harness.ApiError:
            return []


class Service(DaemonTest):
    def test_push_is_promoted_and_trigger_is_immediate(self):
        env = self.env
        env.commit(files={"src/Hello.py": "v1\n"})
        env.write_config([dict(PAIR, poll_interval="5s")])
        d = self.start()
        self.wait_promoted(1)
        c2 = env.commit(files={"src/Hello.py": "v2\n"})
        self.wait_promoted(2)
        self.assertEqual(self.versions(), ["0.2.0", "0.1.0"])
        self.assertEqual(env.version_map("hello")[-1]["source_commit"], c2)
        # With an hour between polls, only a trigger can notice a push.
        env.write_config([dict(PAIR, poll_interval="1h")])
        d.signal(signal.SIGHUP)
        d.await_message("READY", "1")
        c3 = env.commit(files={"src/Hello.py": "v3\n"})
        start = time.monotonic()
        out = env.ctl("trigger", "hello")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("polling now", out.stdout)
        wait_for(lambda: env.route_state("hello")["pending"]["source_commit"] == c3
                 or env.route_state("hello")["last"]["source_commit"] == c3, 30,
                 "the triggered promotion to start")
        self.assertLess(time.monotonic() - start, 5)
        # Recorded, not just published: the state says 0.3.0.
        wait_for(lambda: env.route_state("hello")["last"]["dest_version"] == "0.3.0", 60,
                 "the triggered promotion")
        self.assertEqual(len(self.versions()), 3)
        self.assertIn("route hello->prod/acme/Hello: poll triggered", d.log_text())
        # Live status from the daemon, same shape as /status.
        st = json.loads(env.ctl("--json", "status").stdout)["routes"]
        self.assertEqual(st[0]["last"]["dest_version"], "0.3.0")
        self.assertIn("live", st[0])
        code, body = d.http("/status")
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body)[0]["pair"], "hello")
        # status.json follows within about a second.
        path = os.path.join(env.state, "status.json")
        wait_for(lambda: os.path.exists(path) and
                 json.load(open(path))[0]["last"]["dest_version"] == "0.3.0",
                 10, "status.json")
        self.assertEqual(d.stop(), 0)

    def test_approval_through_the_daemon_and_log_reopen(self):
        env = self.env
        log = os.path.join(env.dir, "algopromoted.log")
        env.write_config([dict(PAIR, approval="manual")], top={"log_file": log})
        c1 = env.commit(files={"src/Hello.py": "approve me\n"})
        d = self.start()
        wait_for(lambda: os.path.exists(os.path.join(env.route_dir(
            "hello", "prod/acme/Hello"), "state.json")) and
            env.route_state("hello")["phase"] == "approval", 30, "approval wait")
        self.assertEqual(self.versions(), [])
        out = env.ctl("approve", "hello")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("approved " + c1, out.stdout)
        self.wait_promoted(1)
        self.assertEqual(self.versions(), ["0.1.0"])
        # SIGUSR1 after logrotate moved the file: a new file, same daemon.
        os.rename(log, log + ".1")
        d.signal(signal.SIGUSR1)
        wait_for(lambda: os.path.exists(log) and "log reopened" in open(log).read(), 10,
                 "the reopened log")
        with open(log + ".1") as f:
            self.assertIn("route hello->prod/acme/Hello: promoted", f.read())
        env.logs.append(open(log).read() + open(log + ".1").read())

    def test_destination_changed_by_hand_is_repaired(self):
        env = self.env
        env.write_config([dict(PAIR, poll_interval="5s", reconcile_interval="5s",
                               on_drift="overwrite")])
        env.commit(files={"src/Hello.py": "the promoted code\n"})
        d = self.start()
        self.wait_promoted(1)
        promoted = env.prod_head()
        work = env.prod_clone(name="by-hand")
        with open(os.path.join(work, "src", "Hello.py"), "w") as f:
            f.write("edited in production\n")
        harness.git("commit", "-q", "-am", "hotfix by hand", cwd=work)
        harness.git("push", "-q", "origin", "HEAD:master", cwd=work)
        # No new source commit: only reconciliation can notice.
        self.wait_promoted(2)
        self.assertRegex(d.log_text(), r"destination head \w+ \(.*: \"hotfix by hand\"\) "
                         r"was not pushed by algopromoted; promoting over it "
                         r"\(on_drift: overwrite\)")
        work = env.prod_clone()
        with open(os.path.join(work, "src", "Hello.py")) as f:
            self.assertEqual(f.read(), "the promoted code\n")
        self.assertNotEqual(env.prod_head(), promoted)
        self.assertEqual(self.versions(), ["0.2.0", "0.1.0"])

    def test_second_instance_refused(self):
        env = self.env
        env.write_config([PAIR])
        self.start()
        proc = env.run()
        self.assertEqual(proc.returncode, 1)
        self.assertIn("another algopromoted is running on %s" % env.state, proc.stderr)

    def test_reload(self):
        env = self.env
        env.create_source("Other")
        env.commit(files={"src/Hello.py": "v1\n"})
        env.commit("Other", files={"src/Other.py": "o1\n"})
        other = {"name": "other", "source": "dev/alice/Other",
                 "destination": "prod/acme/Other"}
        env.write_config([PAIR])
        d = self.start()
        wait_for(lambda: self.versions() == ["0.1.0"], 60, "hello promoted")
        # Added pair: starts.
        env.write_config([PAIR, other])
        d.signal(signal.SIGHUP)
        d.await_message("RELOADING", "1")
        d.await_message("READY", "1")
        wait_for(lambda: self.versions("Other") == ["0.1.0"], 60, "other promoted")
        self.assertIn("route other->prod/acme/Other: added", d.log_text())
        # Invalid file: refused, errors logged, old config kept.
        with open(env.config, "a") as f:
            f.write("bogus_key: 1\n")
        d.signal(signal.SIGHUP)
        d.await_message("READY", "1")
        log = d.log_text()
        self.assertRegex(log, r"reload: \S+algopromoted\.yaml:\d+:1: unknown key \"bogus_key\"")
        self.assertIn("reload failed: keeping the running configuration", log)
        env.commit("Other", files={"src/Other.py": "o2\n"})
        # algopromotectl cannot read the broken file, but -s reaches the
        # daemon, which still runs the good one.
        self.assertEqual(env.ctl("trigger", "other").returncode, 2)
        sock = os.path.join(env.dir, "run", "control.sock")
        out = env.ctl("-s", sock, "trigger", "other")
        self.assertEqual(out.returncode, 0, out.stderr)
        wait_for(lambda: self.versions("Other") == ["0.2.0", "0.1.0"], 60,
                 "other still promoted under the kept config")
        # Removed pair: stops.
        env.write_config([PAIR])
        d.signal(signal.SIGHUP)
        d.await_message("READY", "1")
        wait_for(lambda: "route other->prod/acme/Other: removed" in d.log_text(), 30,
                 "the removal")
        out = env.ctl("trigger", "other")
        self.assertNotEqual(out.returncode, 0)
        code, body = d.http("/metrics")
        self.assertNotIn('pair="other"', body)
        self.assertIn('algopromoted_reloads_total{result="failed"} 1', body)
        self.assertIn('algopromoted_reloads_total{result="ok"} 2', body)

    def test_notify_protocol(self):
        env = self.env
        env.write_config([PAIR])
        d = Daemon(env, watchdog_usec=400000)
        self.daemons.append(d)
        first = d.next_message()
        self.assertEqual(first.get("READY"), "1")
        self.assertEqual(first.get("MAINPID"), str(d.proc.pid))
        status = d.await_message("STATUS")
        self.assertRegex(status["STATUS"], r"^1 routes, \d+ failing, \d+ held, \d+ promoting")
        # WATCHDOG=1 at half of WATCHDOG_USEC: several within a second.
        t0 = time.monotonic()
        d.await_message("WATCHDOG", "1")
        d.await_message("WATCHDOG", "1")
        self.assertLess(time.monotonic() - t0, 2)
        d.signal(signal.SIGHUP)
        d.await_message("RELOADING", "1")
        d.await_message("READY", "1")
        d.signal(signal.SIGTERM)
        d.await_message("STOPPING", "1")
        self.assertEqual(d.proc.wait(30), 0)
        keys = [k for m in d.messages for k in m]
        self.assertLess(keys.index("READY"), keys.index("STATUS"))
        self.assertLess(keys.index("RELOADING"), keys.index("STOPPING"))

    def test_failed_job_tries_again_after_retry_min_not_the_poll(self):
        # A job that fails is tried again retry_min later, whatever the
        # poll interval: here 1 s against a 10-minute poll.
        env = self.env
        env.write_config([PAIR], top={"retry_min": "1s", "poll_interval": "10m"})
        env.commit(files={"src/Hello.py": "v1\n"})
        knob(env.prod, "POST", "/_fault", {"method": "GET", "path": r"/v1/algorithms/acme/Hello$",
                                           "status": 403, "count": 1})
        d = self.start()
        self.wait_promoted(1)
        log = d.log_text()
        failed = [harness.parse_iso(x.split()[0]) for x in log.splitlines()
                  if "error: route hello->prod/acme/Hello: looking up destination" in x]
        done = [harness.parse_iso(x.split()[0]) for x in log.splitlines()
                if "promoted dev/alice/Hello@" in x]
        self.assertEqual(len(failed), 1, log)
        self.assertEqual(len(done), 1, log)
        self.assertLess(done[0] - failed[0], 10, log)



class Parallel(DaemonTest):
    build_seconds = 1.0

    def test_max_parallel_bounds_the_service(self):
        env = self.env
        algos = ["Alpha", "Beta", "Gamma"]
        pairs = []
        for a in algos:
            env.create_source(a)
            env.commit(a, files={"src/%s.py" % a: "v1\n"})
            pairs.append({"name": a.lower(), "source": "dev/alice/" + a,
                          "destination": "prod/acme/" + a})
        env.write_config(pairs, top={"workers": 4},
                         cluster_opts={"prod": {"max_parallel": 1}})
        self.start()
        for a in algos:
            self.wait_promoted(1, a.lower(), "prod/acme/" + a)
        spans = sorted((b["started_at"], b["finished_at"])
                       for a in algos for b in env.prod_api(
                           "GET", "/v1/algorithms/acme/%s/builds" % a)["results"])
        self.assertEqual(len(spans), 3)
        self.assertTrue(all(y[0] >= x[1] for x, y in zip(spans, spans[1:])), spans)


class Health(DaemonTest):
    def test_unreachable_cluster_backs_off_others_go_on(self):
        env = self.env
        # A third cluster, "lab", whose source will fail.
        lab = harness.start_cluster(os.path.join(env.dir, "lab"), build_seconds=0.2)
        try:
            harness.api(lab, harness.ALICE_KEY, "POST", "/v1/algorithms/alice",
                        {"name": "Lab", "details": {"label": "Lab"},
                         "settings": harness.PY_SETTINGS})
            clusters = ("  lab:\n    api: %s\n    git: http://localhost:%d\n"
                        "    key_owner: alice\n    api_key_file: %s\n    timeout: 2s\n"
                        % (lab.url, lab.port, os.path.join(env.keys, "dev.key")))
            env.write_config([dict(PAIR, poll_interval="5s"),
                              {"name": "lab", "source": "lab/alice/Lab",
                               "destination": "prod/acme/Lab", "poll_interval": "5s"}],
                             clusters=clusters)
            env.commit(files={"src/Hello.py": "v1\n"})
            d = self.start()
            wait_for(lambda: self.versions() == ["0.1.0"], 60, "hello promoted")
            code, body = d.http("/healthz")
            self.assertEqual((code, body), (200, "ok\n"))
            # Down for the daemon only: a person can still push to it.
            knob(lab, "POST", "/_fault", {"path": "^/git/", "user_agent": "algopromoted",
                                          "status": 503, "count": -1})
            for i in range(3):
                self.assertEqual(env.ctl("trigger", "lab").returncode, 0)
                wait_for(lambda: json.loads(env.ctl("--json", "status").stdout)["routes"][1]
                         ["live"]["poll_failures"] >= i + 1, 20, "failed poll %d" % (i + 1))
            st = json.loads(env.ctl("--json", "status").stdout)["routes"][1]
            self.assertIn("503", st["live"]["poll_error"])
            self.assertFalse(st["live"]["poll_error_permanent"])
            # The table says so too: when it polled, and the poll's error.
            row = [line for line in env.ctl("status").stdout.splitlines()
                   if line.startswith("lab ")][0]
            self.assertIn(st["live"]["last_poll"], row)
            self.assertRegex(row, r" poll: .*503")
            # Backing off: 5 s doubled three times, minus jitter.
            self.assertGreater(st["live"]["next_poll_in_ms"], 30000)
            code, body = d.http("/healthz")
            self.assertEqual(code, 503)
            self.assertIn("cluster lab unreachable", body)
            self.assertIn('algopromoted_cluster_up{cluster="lab"} 0', d.http("/metrics")[1])
            # The healthy cluster keeps promoting meanwhile.
            env.commit(files={"src/Hello.py": "v2\n"})
            wait_for(lambda: self.versions() == ["0.2.0", "0.1.0"], 60,
                     "hello promoted while lab is down")
            # A change lands on lab while it is down; then lab comes back.
            work = os.path.join(env.dir, "work-lab")
            harness.git("clone", "-q", lab.git_url("alice", "Lab", harness.ALICE,
                                                   harness.ALICE_KEY), work)
            with open(os.path.join(work, "src", "Lab.py"), "w") as f:
                f.write("lab v2\n")
            harness.git("commit", "-q", "-am", "lab change", cwd=work)
            harness.git("push", "-q", "origin", "HEAD:master", cwd=work)
            knob(lab, "POST", "/_reset")
            self.assertEqual(env.ctl("trigger", "lab").returncode, 0)
            wait_for(lambda: self.versions("Lab") == ["0.1.0"], 60, "lab promoted")
            wait_for(lambda: d.http("/healthz")[0] == 200, 10, "healthy again")
            self.assertIn("route lab->prod/acme/Lab: polling works again", d.log_text())
        finally:
            lab.stop()

    def test_metrics_syntax_and_counts(self):
        env = self.env
        env.write_config([PAIR])
        env.commit(files={"src/Hello.py": "v1\n"})
        d = self.start()
        wait_for(lambda: self.versions() == ["0.1.0"], 60, "promotion")
        wait_for(lambda: json.loads(env.ctl("--json", "status").stdout)["routes"][0]["phase"]
                 == "idle", 10, "idle")
        code, text = d.http("/metrics")
        self.assertEqual(code, 200)
        self.assertEqual(promcheck.check(text), [])
        m = promcheck.parse(text)

        def val(name, **labels):
            return m[(name, frozenset(labels.items()))]
        route = {"pair": "hello", "destination": "prod/acme/Hello"}
        self.assertEqual(val("algopromoted_routes"), 1)
        self.assertEqual(val("algopromoted_route_promotions_total", result="promoted",
                             **route), 1)
        # A labelled counter shows once it counted something.
        self.assertNotIn(("algopromoted_route_promotions_total",
                          frozenset(dict(route, result="failed").items())), m)
        polls = val("algopromoted_route_polls_total", **route)
        self.assertGreaterEqual(polls, 1)
        # Durations per cluster: the poll's is the source's, the build
        # wait's the destination's; none per route by default.
        self.assertEqual(val("algopromoted_cluster_poll_duration_seconds_count",
                             cluster="dev"), polls)
        self.assertEqual(val("algopromoted_cluster_build_wait_seconds_count",
                             cluster="prod"), 1)
        self.assertNotIn("algopromoted_route_poll_duration_seconds", text)
        self.assertEqual(val("algopromoted_route_phase", phase="idle", **route), 1)
        self.assertGreater(val("algopromoted_route_last_success_timestamp_seconds", **route),
                           time.time() - 600)
        # The publish was one POST to prod's versions: counted as api 200s.
        self.assertGreaterEqual(val("algopromoted_cluster_requests_total", cluster="prod",
                                    kind="api", status="200"), 3)
        self.assertEqual(val("algopromoted_cluster_requests_total", cluster="dev",
                             kind="git", status="200"), polls + 1)
        self.assertEqual(d.http("/nothing")[0], 404)

    def test_versions_polls_count_as_api_requests(self):
        env = self.env
        env.write_config([dict(PAIR, track="versions")])
        c1 = env.commit(files={"src/Hello.py": "v1\n"})
        self.assertEqual(env.publish_source(c1, "major"), "1.0.0")
        d = self.start()
        wait_for(lambda: self.versions() == ["0.1.0"], 60, "promotion")
        wait_for(lambda: json.loads(env.ctl("--json", "status").stdout)["routes"][0]["phase"]
                 == "idle", 10, "idle")
        route = frozenset({"pair": "hello", "destination": "prod/acme/Hello"}.items())

        def counts():
            m = promcheck.parse(d.http("/metrics")[1])
            return (m[("algopromoted_route_polls_total", route)],
                    m.get(("algopromoted_cluster_requests_total", frozenset(
                        {"cluster": "dev", "kind": "api", "status": "200"}.items())), 0),
                    m.get(("algopromoted_cluster_requests_total", frozenset(
                        {"cluster": "dev", "kind": "git", "status": "200"}.items())), 0))
        before = counts()
        self.assertEqual(env.ctl("trigger", "hello").returncode, 0)
        wait_for(lambda: counts()[0] > before[0], 20, "a triggered poll")
        after = counts()
        # Up to date: the poll was the only request, to dev's API.
        self.assertEqual(after[1] - before[1], after[0] - before[0])
        self.assertEqual(after[2], before[2])

class Shutdown(DaemonTest):
    build_seconds = 4

    def test_sigterm_during_promotion_then_resume(self):
        env = self.env
        env.write_config([PAIR])
        c1 = env.commit(files={"src/Hello.py": "v1\n"})
        d = self.start()
        wait_for(lambda: os.path.exists(os.path.join(env.route_dir("hello", "prod/acme/Hello"),
                                                     "state.json"))
                 and env.route_state("hello")["phase"] == "building", 60, "building")
        t0 = time.monotonic()
        self.assertEqual(d.stop(), 0)
        self.assertLess(time.monotonic() - t0, 30)
        st = env.route_state("hello")
        self.assertEqual(st["pending"]["source_commit"], c1)
        self.assertIsNone(st["last"]["source_commit"])
        self.assertEqual(self.versions(), [])
        self.assertIn("interrupted by shutdown", d.log_text())
        d2 = self.start()
        wait_for(lambda: self.versions() == ["0.1.0"], 60, "the resumed promotion")
        wait_for(lambda: env.route_state("hello")["phase"] == "idle", 30, "idle")
        self.assertIn("resuming an interrupted promotion", d2.log_text())
        work = env.prod_clone()
        subjects = harness.git("log", "--format=%s", cwd=work).splitlines()
        self.assertEqual(sum(s.startswith("Promote ") for s in subjects), 1)
        self.assertEqual(len(env.version_map("hello")), 1)


if __name__ == "__main__":
    harness.main()
