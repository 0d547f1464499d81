#!/usr/bin/env python3
"""make bench, part "scale": the daemon with many routes.

For each N of --routes, N/10 source algorithms on the dev fakecluster,
each promoted to 10 destinations on prod (1,000 routes = 100 sources x
10 destinations; 10,000 = 1,000 x 10), the pairs written in include:
files of 100 pairs each. Every route is held by `approval: manual`: its
state file says the source head waits for approval, so no job starts
and only polling runs.

The sources are one algorithm made through the API and copied in the
fakecluster's store while it is stopped (making 1,000 through the API
takes minutes on a loaded 2-core machine); they all hold its commit.
The polls themselves go to a replay of the fakecluster's own info/refs
answer for that repository (the basic-auth header checked, keep-alive):
the Python fakecluster runs `git http-backend` per request, a few dozen
polls per second on this machine, which would measure the fake.

Figures, per N:
- start-up: exec to READY=1 on NOTIFY_SOCKET (sent once the routes, the
  state and the sockets are up; /healthz is 200 from then on);
- RSS during the first round of polls (its peak, sampled every 50 ms)
  and idle (every route polled, status.json written, nothing due for
  10 min), from /proc/PID/status;
- reload: SIGHUP to READY=1 after RELOADING=1, sent once the new
  configuration is in effect (routes moved, added, removed); each new
  file adds or removes one pair;
- /metrics: the body's size, a full-speed scrape's time, and how long
  /healthz takes to answer meanwhile (the loop is not held while the
  body is made);
- polls per second and CPU per 1,000 polls: a second daemon with
  poll_interval 5s (the shortest allowed: N/5 polls/s due) for a
  window; polls counted at the replay, CPU from /proc/PID/stat.

A benchmark, not a test: it exits 0 whatever the figures are; nonzero
only when it could not run.
"""
import argparse
import base64
import selectors
import json
import os
import shutil
import socket
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
from fakecluster_util import start_cluster  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
DESTS = 10                  # destinations per source
PAIRS_PER_FILE = 100        # pairs per include: file
GOALS_MIB = {1000: 32, 10000: 128}
GOAL_START_S = 2.0
GOAL_RELOAD_S = 2.0


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def await_message(d, key, timeout=120):
    """The next KEY=1 from d; fails at once when d exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if d.next_message(timeout=0.5).get(key) == "1":
                return
        except OSError:
            pass
        if d.proc.poll() is not None:
            raise RuntimeError("the daemon exited %d:\n%s"
                               % (d.proc.returncode, d.log_text()[-2000:]))
    raise RuntimeError("no %s=1 from the daemon in %d s" % (key, timeout))


class Replay:
    """Answers every GET .../info/refs?service=git-upload-pack with the
    bytes the fakecluster gave for the sources' repository (all hold the
    same commit), with keep-alive, and checks the basic-auth header: one
    thread on selectors, far faster than http.server or the fake."""

    def __init__(self, body, auth):
        self.auth = auth.encode()
        self.ok = (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-git-upload-pack-"
                   b"advertisement\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
        self.bad = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"
        self.count = 0
        self.lock = threading.Lock()
        self.sel = selectors.DefaultSelector()
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(256)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        bufs = {}
        while not self.stopping:
            for key, _ in self.sel.select(0.2):
                if key.data is None:
                    try:
                        conn, _ = self.lsock.accept()
                    except OSError:
                        continue
                    conn.setblocking(False)
                    bufs[conn] = b""
                    self.sel.register(conn, selectors.EVENT_READ, True)
                    continue
                conn = key.fileobj
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.sel.unregister(conn)
                    conn.close()
                    bufs.pop(conn, None)
                    continue
                buf = bufs[conn] + data
                out = []
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    lines = head.split(b"\r\n")
                    good = (lines[0].endswith(b"/info/refs?service=git-upload-pack HTTP/1.1")
                            and b"authorization: " + self.auth in
                            [line.lower()[:15] + line[15:] for line in lines[1:]])
                    out.append(self.ok if good else self.bad)
                bufs[conn] = buf
                if out:
                    try:
                        conn.setblocking(True)
                        conn.sendall(b"".join(out))
                        conn.setblocking(False)
                    except OSError:
                        pass
                    with self.lock:
                        self.count += len(out)
        for conn in list(bufs):
            conn.close()
        self.lsock.close()

    def stop(self):
        self.stopping = True
        self.thread.join()


def row(what, unit, values):
    return {"what": what, "unit": unit, "median": float(statistics.median(values)),
            "min": float(min(values)), "max": float(max(values)), "n": len(values)}


class Scale:
    """One Env holding N routes: sources, configuration, state files."""

    def __init__(self, nroutes):
        self.n = nroutes
        self.nsources = max(1, nroutes // DESTS)
        self.env = harness.Env(build_seconds=0)
        self.head = None
        self.replay = None
        try:
            self.make_sources()
            self.write_state()
        except BaseException:
            self.env.close()
            raise

    def close(self):
        if self.replay is not None:
            self.replay.stop()
        self.env.close()

    def source(self, i):
        return "Algo%04d" % i

    def make_sources(self):
        env = self.env
        first = self.source(0)
        harness.api(env.dev, harness.ALICE_KEY, "POST", "/v1/algorithms/" + harness.ALICE,
                    {"name": first, "details": {"label": first},
                     "settings": harness.PY_SETTINGS})
        state_dir = env.dev.state_dir
        env.dev.stop()
        path = os.path.join(state_dir, "state.json")
        with open(path) as f:
            store = json.load(f)
        key = "%s/%s" % (harness.ALICE, first)
        rec = store["algorithms"][key]
        repo = os.path.join(state_dir, "repos", harness.ALICE, first + ".git")
        for i in range(1, self.nsources):
            name = self.source(i)
            r = json.loads(json.dumps(rec))
            r["id"] = "%s-%d" % (rec["id"][:-6], i)
            r["name"] = name
            r["details"] = dict(rec["details"], label=name)
            store["algorithms"]["%s/%s" % (harness.ALICE, name)] = r
            shutil.copytree(repo, os.path.join(state_dir, "repos", harness.ALICE,
                                               name + ".git"), symlinks=True)
        with open(path + ".tmp", "w") as f:
            json.dump(store, f)
        os.rename(path + ".tmp", path)
        env.dev = start_cluster(state_dir, build_seconds=0)
        self.head = harness.git("ls-remote", env.dev.git_url(harness.ALICE, first, harness.ALICE,
                                                               harness.ALICE_KEY),
                                "refs/heads/master").split()[0]
        auth = "Basic " + base64.b64encode(("%s:%s" % (harness.ALICE, harness.ALICE_KEY))
                                           .encode()).decode()
        url = "%s/git/%s/%s.git/info/refs?service=git-upload-pack" % (env.dev.url,
                                                                      harness.ALICE, first)
        req = urllib.request.Request(url, headers={"Authorization": auth})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=30) as resp:
            body = resp.read()
        if self.head.encode() not in body:
            raise RuntimeError("the fakecluster's info/refs does not name " + self.head)
        self.replay = Replay(body, auth)

    def pairs(self):
        for i in range(self.nsources):
            name = self.source(i)
            yield {"name": "s%04d" % i, "source": "dev/alice/" + name,
                   "destinations": ["prod/acme/%sD%d" % (name, d) for d in range(DESTS)]}

    def extra(self):
        return {"name": "extra", "source": "dev/alice/" + self.source(0),
                "destinations": ["prod/acme/Extra"]}

    def write_state(self):
        """Each route waits for approval of the source's head (also the
        one a reload adds)."""
        for p in list(self.pairs()) + [self.extra()]:
            for dest in p["destinations"]:
                d = self.env.route_dir(p["name"], dest)
                os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, "state.json"), "w") as f:
                    json.dump({"format": 1, "pair": p["name"], "source": p["source"],
                               "destination": dest, "phase": "approval",
                               "pending": {"source_commit": self.head}}, f)

    def write_config(self, poll_interval, extra_pair=False):
        """The top file names the include: glob; the pairs are in it."""
        inc = os.path.join(self.env.dir, "pairs.d")
        if os.path.isdir(inc):
            shutil.rmtree(inc)
        os.makedirs(inc)
        pairs = list(self.pairs())
        if extra_pair:
            pairs.append(self.extra())
        for k in range(0, len(pairs), PAIRS_PER_FILE):
            with open(os.path.join(inc, "%04d.yaml" % (k // PAIRS_PER_FILE)), "w") as f:
                f.write("pairs:\n")
                for p in pairs[k:k + PAIRS_PER_FILE]:
                    f.write("  - %s\n" % json.dumps(p))
        self.env.write_config([], defaults={"approval": "manual"},
                              top={"log_level": "info", "workers": 2,
                                   "poll_interval": poll_interval},
                              extra="include: pairs.d/*.yaml\n")
        # write_config writes "pairs:" with no item: drop that line;
        # polls go to the replay.
        with open(self.env.config) as f:
            text = f.read().replace("pairs:\n", "").replace(
                "git: http://localhost:%d\n" % self.env.dev.port,
                "git: http://127.0.0.1:%d\n" % self.replay.port)
        with open(self.env.config, "w") as f:
            f.write(text)

    def start(self):
        t0 = time.monotonic()
        d = harness.Daemon(self.env)
        try:
            await_message(d, "READY")
        except BaseException:
            d.stop()
            raise
        return d, time.monotonic() - t0

    def polled(self):
        """Routes whose first poll is in state_dir/status.json."""
        try:
            with open(os.path.join(self.env.state, "status.json")) as f:
                st = json.load(f)
        except (OSError, ValueError):
            return 0
        routes = st.get("routes", []) if isinstance(st, dict) else st
        return sum(1 for r in routes if (r.get("live") or {}).get("last_poll"))

    def polls_answered(self):
        with self.replay.lock:
            return self.replay.count


# The /healthz prober, a process of its own (in a thread, it would wait
# for the scraping thread's hold on the interpreter, not for the daemon):
# asks until its stdin closes, then prints the latencies (ms), one a line.
PROBE = r"""
import select, socket, sys, time
port = int(sys.argv[1])
lat = []
while not select.select([sys.stdin], [], [], 0)[0]:
    t = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        while c.recv(4096):
            pass
    lat.append((time.monotonic() - t) * 1000)
print("\n".join("%.3f" % x for x in lat))
"""


def scrape_metrics(d, scrapes):
    """GET /metrics `scrapes` times at full speed while another process
    asks for /healthz in a loop: (body bytes, scrape seconds, /healthz
    latencies in ms during the scrapes). A /healthz answer that waits
    shows the loop held by the body's production."""
    probe = subprocess.Popen([sys.executable, "-c", PROBE, str(d.http_port())],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    sizes, took = [], []
    try:
        time.sleep(0.2)   # the prober's start-up, not a synchronisation
        for _ in range(scrapes):
            t = time.monotonic()
            code, body = d.http("/metrics")
            took.append(time.monotonic() - t)
            if code != 200:
                raise RuntimeError("/metrics answered %d" % code)
            sizes.append(len(body.encode()))
    finally:
        out = probe.communicate(input="", timeout=60)[0]
    lat = [float(x) for x in out.split()]
    return max(sizes), took, lat


def measure(n, quick, rows, ratios, notes):
    starts = 1 if quick else 3
    reloads = 1 if quick else 3
    window = 10 if quick else 30
    t0 = time.monotonic()
    sc = Scale(n)
    print("%d routes (%d sources x %d destinations, %d include files): set up in %.0f s"
          % (n, sc.nsources, DESTS, (sc.nsources + PAIRS_PER_FILE - 1) // PAIRS_PER_FILE,
             time.monotonic() - t0), flush=True)
    try:
        sc.write_config("10m")
        start_s, busy, idle = [], [], []
        reload_s = []
        for k in range(starts):
            p0 = sc.polls_answered()
            d, took = sc.start()
            start_s.append(took)
            try:
                pid = d.proc.pid
                peak = 0
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline:
                    peak = max(peak, rss_kib(pid))
                    if sc.polls_answered() - p0 >= n:
                        break
                    time.sleep(0.05)
                else:
                    raise RuntimeError("the first round of %d polls did not end" % n)
                harness.wait_for(lambda: sc.polled() >= n, 120, "status.json with every poll")
                busy.append(max(peak, rss_kib(pid)) / 1024)
                time.sleep(3)	# the last status.json write; nothing due
                idle.append(rss_kib(pid) / 1024)
                if k == 0:
                    size, took, lat = scrape_metrics(d, 3 if quick else 5)
                    rows.append(row("/metrics body, %d routes" % n, "MB", [size / 1e6]))
                    rows.append(row("/metrics scrape at full speed, %d routes" % n, "s",
                                    took))
                    rows.append(row("/healthz answer during the scrapes, %d routes" % n,
                                    "ms", lat))
                    ratios.append({"what": "/metrics body at %d routes (MB)" % n,
                                   "value": round(size / 1e6, 2),
                                   "goal": "< 5 MB" if n >= 10000 else None,
                                   "met": size < 5e6 if n >= 10000 else None})
                    lat.sort()
                    notes.append("%d routes: %d /healthz answers during %d /metrics "
                                 "scrapes (%.1f MB each): 99th "
                                 "percentile %.1f ms, the slowest %.1f ms"
                                 % (n, len(lat), len(took), size / 1e6,
                                    lat[int(len(lat) * 0.99)] if lat else 0,
                                    lat[-1] if lat else 0))
                    # Reloads: the new file adds one pair, then removes it.
                    for j in range(reloads):
                        sc.write_config("10m", extra_pair=(j % 2 == 0))
                        t1 = time.monotonic()
                        d.signal(signal.SIGHUP)
                        await_message(d, "RELOADING")
                        await_message(d, "READY")
                        reload_s.append(time.monotonic() - t1)
                        said = "reloaded: %d routes" % (n + 1 if j % 2 == 0 else n)
                        lines = [x for x in d.log_text().splitlines() if "reloaded: " in x]
                        if len(lines) != j + 1 or said not in lines[-1]:
                            raise RuntimeError("reload %d: the log does not say %r"
                                               % (j + 1, said))
                    sc.write_config("10m")
                    idle_after = rss_kib(pid) / 1024
                    notes.append("%d routes: RSS after %d reloads: %.1f MiB"
                                 % (n, reloads, idle_after))
            finally:
                rc = d.stop()
            if rc != 0:
                raise RuntimeError("the daemon exited %d" % rc)
        rows.append(row("RSS, first round of polls (peak), %d routes" % n, "MiB", busy))
        rows.append(row("RSS, idle after the first round, %d routes" % n, "MiB", idle))
        rows.append(row("start-up (exec to READY=1), %d routes" % n, "s", start_s))
        rows.append(row("reload (SIGHUP to READY=1, one pair more or less), %d routes" % n,
                        "s", reload_s))
        goal = GOALS_MIB.get(n)
        worst = max(busy + idle)
        ratios.append({"what": "RSS at %d routes, worst of polling and idle (MiB)" % n,
                       "value": round(worst, 1),
                       "goal": "<= %d MiB" % goal if goal else None,
                       "met": worst <= goal if goal else None})
        ratios.append({"what": "start-up at %d routes (s, median)" % n,
                       "value": round(statistics.median(start_s), 3),
                       "goal": "< %g s" % GOAL_START_S,
                       "met": statistics.median(start_s) < GOAL_START_S})
        ratios.append({"what": "reload at %d routes (s, median)" % n,
                       "value": round(statistics.median(reload_s), 3),
                       "goal": "< %g s" % GOAL_RELOAD_S,
                       "met": statistics.median(reload_s) < GOAL_RELOAD_S})

        # Polling rate: every route due every 5 s (the shortest allowed).
        sc.write_config("5s")
        d, _ = sc.start()
        try:
            pid = d.proc.pid
            time.sleep(3)
            p0, c0, w0 = sc.polls_answered(), cpu_seconds(pid), time.monotonic()
            rss_max = rss_kib(pid)
            end = w0 + window
            while time.monotonic() < end:
                time.sleep(0.5)
                rss_max = max(rss_max, rss_kib(pid))
            p1, c1, w1 = sc.polls_answered(), cpu_seconds(pid), time.monotonic()
        finally:
            rc = d.stop()
        if rc != 0:
            raise RuntimeError("the daemon exited %d" % rc)
        polls = p1 - p0
        rate = polls / (w1 - w0)
        rows.append(row("polls per second, %d routes due every 5 s" % n, "polls/s", [rate]))
        if polls > 0:
            rows.append(row("daemon CPU per 1,000 polls, %d routes" % n, "s",
                            [(c1 - c0) / polls * 1000]))
        rows.append(row("RSS while every route is due every 5 s (peak), %d routes" % n,
                        "MiB", [rss_max / 1024]))
        notes.append("%d routes at poll_interval 5s: %d polls answered in %.0f s"
                     % (n, polls, w1 - w0))
    finally:
        sc.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--routes", default="1000,10000",
                    help="comma-separated route counts (multiples of %d)" % DESTS)
    ap.add_argument("--quick", action="store_true", help="one sample each, shorter windows")
    ap.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = ap.parse_args()
    try:
        counts = [int(x) for x in args.routes.split(",") if x.strip()]
    except ValueError:
        ap.error("--routes: comma-separated integers")
    if not os.access(harness.DAEMON, os.X_OK):
        print("scale: no daemon at %s (set AP_BINDIR)" % harness.DAEMON, file=sys.stderr)
        return 2

    rows, ratios, notes = [], [], []
    cmds = ["tests/bench/scale.py --routes %s%s" % (args.routes,
                                                      " --quick" if args.quick else "")]
    try:
        for n in counts:
            measure(n, args.quick, rows, ratios, notes)
    except (RuntimeError, AssertionError, OSError, subprocess.SubprocessError) as e:
        print("scale: could not run: %s" % e, file=sys.stderr)
        return 1
    for r in rows:
        print("%-70s %9.3f %-8s (min %.3f, max %.3f, n %d)"
              % (r["what"], r["median"], r["unit"], r["min"], r["max"], r["n"]))
    for r in ratios:
        print("%-70s %9s  goal %s: %s" % (r["what"], r["value"], r["goal"],
                                          {True: "met", False: "missed", None: "-"}[r["met"]]))
    for n in notes:
        print("note: " + n)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"part": "scale", "commands": cmds, "rows": rows, "ratios": ratios,
                       "notes": notes}, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
