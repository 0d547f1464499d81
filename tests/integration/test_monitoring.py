#!/usr/bin/env python3
"""Monitoring out of the box: the alerting rules and the Grafana dashboard
in packaging/monitoring/ use only metrics a running algopromoted exports;
the rules pass `promtool check rules` and their own `promtool test rules`
(when promtool, Debian package prometheus, is installed); the process
metrics and the alerting gauges carry real values.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
import harness  # noqa: E402
import promcheck  # noqa: E402
from harness import Env, Daemon, wait_for  # noqa: E402

MON = os.path.join(harness.TOP, "packaging", "monitoring")
RULES = os.path.join(MON, "algopromoted-alerts.yml")
RULES_TEST = os.path.join(MON, "algopromoted-alerts_test.yml")
# make check takes promtool out of the prometheus package into the build
# directory (packaging/deps.sh) and names it here; or one on PATH.
# made absolute: `promtool test rules` runs in MON, where the rule files are.
PROMTOOL = os.environ.get("AP_PROMTOOL")
if not PROMTOOL or not os.access(PROMTOOL, os.X_OK):
    PROMTOOL = shutil.which("promtool")
if PROMTOOL:
    PROMTOOL = os.path.abspath(PROMTOOL)
DASHBOARD = os.path.join(MON, "algopromoted-grafana.json")
PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello"}
ROUTE = {"pair": "hello", "destination": "prod/acme/Hello"}
# Series Prometheus makes itself, not the daemon.
SYNTHETIC = {"up"}

# PromQL: what is not a metric name.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr):
    """The metric names a PromQL expression (or a Grafana label_values())
    reads: identifiers outside strings, label matchers, ranges and
    grouping clauses that are not functions or keywords."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{?\w+\}?", " ", e)
    e = re.sub(r"\b\d+(ms|[smhdwy])\b", " ", e)     # durations (offset)
    e = re.sub(r"\b\d+(\.\d+)?(e[+-]?\d+)?\b", " ", e)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        rest = e[m.end():].lstrip()
        if rest.startswith("("):
            continue            # a function
        if m.group(0).lower() in KEYWORDS:
            continue
        names.add(m.group(0))
    return names


def rule_exprs(path=RULES):
    """Every expr: of a rules file, plain or folded (>-), without PyYAML."""
    exprs, lines = [], open(path).read().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)-?\s*expr:\s*(.*)$", lines[i])
        i += 1
        if not m:
            continue
        indent, text = len(m.group(1)), m.group(2).strip()
        if text in (">-", ">", "|", "|-"):
            block = []
            while i < len(lines) and (not lines[i].strip() or
                                      len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i].strip())
                i += 1
            text = " ".join(block)
        exprs.append(text)
    return exprs


def alerts(path=RULES):
    """[(name, for, labels text, annotations text)] of a rules file: each
    rule's lines from `- alert:` to the next."""
    text = open(path).read()
    out = []
    for chunk in re.split(r"\n(?=[ \t]*- alert:)", text)[1:]:
        name = re.search(r"- alert:\s*(\S+)", chunk).group(1)
        out.append((name, chunk))
    return out


def dashboard_exprs(path=DASHBOARD):
    with open(path) as f:
        dash = json.load(f)
    exprs = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                exprs.append(t["expr"])
            walk(p.get("panels", []))
    walk(dash["panels"])
    for v in dash["templating"]["list"]:
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if v["type"] == "query":
            exprs.append(re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", q))
    return dash, exprs


class Static(unittest.TestCase):
    """What can be checked without a daemon."""

    def test_extractor(self):
        self.assertEqual(metric_names(
            'sum by (pair, le) (rate(a_total{x="b c",y=~"$v"}[5m])) / ignoring(kind) '
            'b_seconds > 0.8 * c and on(pair) time() - d offset 5m'),
            {"a_total", "b_seconds", "c", "d"})
        self.assertEqual(metric_names('absent(up{job="algopromoted"})'), {"up"})

    def test_every_alert_has_for_severity_and_annotations(self):
        found = alerts()
        self.assertGreaterEqual(len(found), 8)
        for name, chunk in found:
            self.assertRegex(chunk, r"\n\s+for:\s*\d+[smhd]", name)
            self.assertRegex(chunk, r"\n\s+severity:\s*(critical|warning|info)\b", name)
            self.assertRegex(chunk, r"\n\s+summary:", name)
            self.assertRegex(chunk, r"\n\s+description:", name)
            # An alert on routes names the route; one on clusters the cluster.
            if "algopromoted_route_" in chunk:
                self.assertIn("{{ $labels.pair }}", chunk, name)
                self.assertIn("{{ $labels.destination }}", chunk, name)
            elif "algopromoted_cluster_" in chunk:
                self.assertIn("{{ $labels.cluster }}", chunk, name)
        exprs = rule_exprs()
        self.assertEqual(len(exprs), len(found))
        used = set().union(*(metric_names(e) for e in exprs))
        for want in ("up", "algopromoted_route_phase", "algopromoted_route_promotions_total",
                     "algopromoted_route_hold_since_timestamp_seconds",
                     "algopromoted_route_build_waiting_seconds",
                     "algopromoted_route_build_timeout_seconds",
                     "algopromoted_route_polls_total", "algopromoted_route_poll_errors_total"):
            self.assertIn(want, used)
        names = {n for n, _ in found}
        # What the rules are for: each kind of trouble has its alert.
        for want in ("AlgopromotedDown", "AlgopromotedAbsent", "AlgopromotedRouteFailed",
                     "AlgopromotedRoutePausedTooLong", "AlgopromotedRouteHeldOnDrift",
                     "AlgopromotedPollsFailing", "AlgopromotedBuildWaitNearTimeout"):
            self.assertIn(want, names)

    def test_dashboard_shape(self):
        dash, exprs = dashboard_exprs()
        self.assertGreaterEqual(dash["schemaVersion"], 36)
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")

        def uses_var(p):
            return p.get("datasource", {}).get("uid") == "${datasource}"
        panels = [p for p in dash["panels"] if p["type"] != "row"]
        self.assertTrue(all(uses_var(p) for p in panels))
        self.assertTrue(all(uses_var(t) for p in panels for t in p["targets"]))
        ids = [p["id"] for p in dash["panels"]]
        self.assertEqual(len(ids), len(set(ids)))
        text = " ".join(exprs)
        for name in ("algopromoted_route_promotions_total", "algopromoted_route_phase",
                     "algopromoted_cluster_build_wait_seconds_bucket",
                     "algopromoted_cluster_promotion_duration_seconds_bucket",
                     "algopromoted_cluster_poll_duration_seconds_bucket",
                     "algopromoted_data_copied_bytes_total", "algopromoted_route_polls_total",
                     "process_resident_memory_bytes", "process_cpu_seconds_total",
                     "process_open_fds"):
            self.assertIn(name, text)

    @unittest.skipIf(PROMTOOL is None,
                     "promtool is not installed (Debian package: prometheus)")
    def test_promtool(self):
        proc = subprocess.run([PROMTOOL, "check", "rules", RULES], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        self.assertEqual(proc.returncode, 0, proc.stdout)
        self.assertIn("SUCCESS", proc.stdout)
        # The rules fire when they should, naming the route, and not before.
        proc = subprocess.run([PROMTOOL, "test", "rules", RULES_TEST],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              cwd=MON)
        self.assertEqual(proc.returncode, 0, proc.stdout)


class Live(unittest.TestCase):
    """One daemon, one route promoted, then a slow build, a pause: the
    metrics as a scraper sees them."""

    @classmethod
    def setUpClass(cls):
        cls.env = Env(build_seconds=1.5)
        try:
            cls.env.create_source()
            cls.env.write_config([PAIR], defaults={"build_timeout": "5m"})
            cls.env.commit(files={"src/Hello.py": "v1\n"})
            cls.before = time.time()
            cls.d = Daemon(cls.env)
            cls.d.wait_ready()
            cls.after = time.time()
            wait_for(lambda: cls.metric("algopromoted_route_promotions_total",
                                        result="promoted", **ROUTE) == 1, 60, "promotion")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "d", None) is not None:
            cls.d.stop()
        leaks = cls.env.scan_for_secrets()
        cls.env.close()
        assert leaks == [], leaks

    @classmethod
    def scrape(cls):
        code, text = cls.d.http("/metrics")
        assert code == 200, code
        errors = promcheck.check(text)
        assert errors == [], errors
        return text, promcheck.parse(text)

    @classmethod
    def metric(cls, name, **labels):
        return cls.scrape()[1].get((name, frozenset(labels.items())))

    def test_rules_and_dashboard_use_exported_metrics(self):
        text, m = self.scrape()
        # A family's HELP and TYPE lines count too (a histogram's samples
        # are NAME_bucket, NAME_sum, NAME_count), and they are there when
        # it has no sample yet (a route's gauges while it is not held or
        # waiting, its labelled counters before their first count).
        typed = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
        for name in typed:
            self.assertIn("# HELP %s " % name, text)
        exported = {name for name, _ in m} | typed
        used = {}
        for e in rule_exprs():
            for n in metric_names(e):
                used.setdefault(n, "rules: " + e)
        _, exprs = dashboard_exprs()
        for e in exprs:
            for n in metric_names(e):
                used.setdefault(n, "dashboard: " + e)
        self.assertGreater(len(used), 15)
        missing = {n: where for n, where in used.items()
                   if n not in exported and n not in SYNTHETIC}
        self.assertEqual(missing, {})

    def test_build_info_and_process_metrics(self):
        version = subprocess.run([harness.DAEMON, "-V"], stdout=subprocess.PIPE,
                                 text=True).stdout.split()[-1]
        _, m = self.scrape()

        def val(name, **labels):
            return m[(name, frozenset(labels.items()))]
        self.assertEqual(val("algopromoted_build_info", version=version), 1)
        self.assertEqual([k for k in m if k[0] == "algopromoted_build_info"],
                         [("algopromoted_build_info", frozenset({("version", version)}))])
        pid = self.d.proc.pid
        fds = len(os.listdir("/proc/%d/fd" % pid))
        self.assertGreaterEqual(val("process_open_fds"), 3)
        # Workers may open a file between the two looks; not many.
        self.assertLessEqual(abs(val("process_open_fds") - fds), 4)
        with open("/proc/%d/limits" % pid) as f:
            soft = re.search(r"^Max open files\s+(\d+)", f.read(), re.M).group(1)
        self.assertEqual(val("process_max_fds"), int(soft))
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
        rss = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) * 1024
        vsz = int(re.search(r"^VmSize:\s+(\d+) kB", status, re.M).group(1)) * 1024
        self.assertGreater(val("process_resident_memory_bytes"), 1 << 20)
        self.assertLess(abs(val("process_resident_memory_bytes") - rss), rss / 2)
        self.assertLess(abs(val("process_virtual_memory_bytes") - vsz), vsz / 2)
        self.assertGreaterEqual(val("process_virtual_memory_bytes"),
                                val("process_resident_memory_bytes"))
        # Started between our spawn and its readiness (the kernel's boot
        # time is in whole seconds).
        start = val("process_start_time_seconds")
        self.assertGreaterEqual(start, int(self.before) - 1)
        self.assertLessEqual(start, self.after + 0.02)
        # A promotion (git, TLS-free HTTP, JSON) costs some CPU; it grows.
        cpu = val("process_cpu_seconds_total")
        self.assertGreater(cpu, 0)
        wait_for(lambda: self.metric("process_cpu_seconds_total") > cpu, 30, "more CPU")

    def test_build_wait_and_timeout(self):
        # Not waiting: neither the wait nor the timeout beside it.
        self.assertIsNone(self.metric("algopromoted_route_build_waiting_seconds", **ROUTE))
        self.assertIsNone(self.metric("algopromoted_route_build_timeout_seconds", **ROUTE))
        prod = {"cluster": "prod"}
        waits = self.metric("algopromoted_cluster_build_wait_seconds_count", **prod)
        t0 = time.monotonic()
        self.env.commit(files={"src/Hello.py": "v2\n"})
        self.assertEqual(self.env.ctl("trigger", "hello").returncode, 0)
        # While the destination builds (1.5 s), the wait grows, and the
        # timeout is beside it.
        m = wait_for(lambda: (lambda m: m if m.get(
            ("algopromoted_route_build_waiting_seconds", frozenset(ROUTE.items())))
            else None)(self.scrape()[1]), 60, "a build wait")
        waited = m[("algopromoted_route_build_waiting_seconds", frozenset(ROUTE.items()))]
        self.assertGreater(waited, 0)
        self.assertLessEqual(waited, time.monotonic() - t0)
        self.assertEqual(m[("algopromoted_route_build_timeout_seconds",
                            frozenset(ROUTE.items()))], 300)
        wait_for(lambda: self.metric("algopromoted_route_promotions_total", result="promoted",
                                     **ROUTE) == 2, 60, "second promotion")
        self.assertIsNone(self.metric("algopromoted_route_build_waiting_seconds", **ROUTE))
        # The wait counted in the destination's cluster.
        self.assertEqual(self.metric("algopromoted_cluster_build_wait_seconds_count", **prod),
                         waits + 1)
        self.assertEqual(self.metric("algopromoted_cluster_build_wait_seconds_count",
                                     cluster="dev"), 0)

    def test_pause_since(self):
        paused = dict(ROUTE, kind="paused")
        # Not held: no series.
        self.assertIsNone(self.metric("algopromoted_route_hold_since_timestamp_seconds",
                                      **paused))
        t0 = time.time()
        proc = self.env.ctl("pause", "hello", "--reason", "monitoring test")
        t1 = time.time()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        try:
            since = wait_for(lambda: self.metric(
                "algopromoted_route_hold_since_timestamp_seconds", **paused), 30, "the pause")
            self.assertGreaterEqual(since, int(t0))
            self.assertLessEqual(since, t1 + 1)
            for kind in ("pinned", "drift"):
                self.assertIsNone(self.metric("algopromoted_route_hold_since_timestamp_seconds",
                                              kind=kind, **ROUTE))
        finally:
            self.assertEqual(self.env.ctl("resume", "hello").returncode, 0)
        wait_for(lambda: self.metric("algopromoted_route_hold_since_timestamp_seconds",
                                     **paused) is None, 30, "the resume")


if __name__ == "__main__":
    harness.main()
