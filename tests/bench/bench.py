#!/usr/bin/env python3
"""make bench: runs every part of the benchmark, writes bench/RESULTS.md.

Each part is a script of this directory that measures and writes its
figures as JSON with `--json FILE`:
    {"part": str, "commands": [str],
     "rows": [{"what", "unit", "median", "min", "max", "n"}],
     "ratios": [{"what", "value", "goal": str|null, "met": bool|null}],
     "notes": [str]}
Parts measure; none fails on a figure. This driver runs them one after
the other (nothing else of ours runs meanwhile), gathers the machine's
description, and writes and prints one report: medians with min-max and
the ratios with their goals, met or not. Its exit status is 0 when every
part ran, 1 when one could not run at all (a missing script, a crash, no
JSON); the report says which and why either way.

    bench.py [--only PART,...] [--quick] [--out FILE]

Parts also import this module for the JSON they write (row(), ratio(),
write_part()).
"""
import argparse
import datetime
import json
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))

# (part, script, arguments in a full run, arguments with --quick, timeout s).
PARTS = (
    ("idle", "idle.py", ["--seconds", "30"], ["--seconds", "20", "--routes", "50"], 600),
    ("polling", "poll.py", ["--routes", "50", "--lsremote", "45"], ["--routes", "30", "--seconds", "15", "--lsremote", "15"], 600),
    ("latency", "latency.py", ["--runs", "6"], ["--runs", "2"], 600),
    ("cycle", "cycle.py", [], ["--quick"], 1200),
    ("data", "data.py", ["--mib", "512", "--runs", "2"], ["--mib", "64", "--runs", "1"], 900),
    ("scale", "scale.py", ["--quick"], ["--quick"], 900),
    ("push", "push.py", ["--quick"], ["--quick"], 900),
)


# --- for the parts ----------------------------------------------------------

def row(what, unit, values, digits=1):
    """A row of figures: median, min, max of values."""
    values = [float(v) for v in values]
    if not values:
        return {"what": what, "unit": unit, "median": None, "min": None, "max": None, "n": 0}
    return {"what": what, "unit": unit, "median": round(statistics.median(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits),
            "n": len(values)}


def ratio(what, value, goal=None, met=None):
    """A ratio; goal is text such as "<= 0.5", met is judged by the caller."""
    return {"what": what, "value": None if value is None else round(value, 4),
            "goal": goal, "met": met}


def write_part(path, part, commands, rows, ratios=(), notes=()):
    data = {"part": part, "commands": list(commands), "rows": list(rows),
            "ratios": list(ratios), "notes": list(notes)}
    if path:
        with open(path + ".tmp", "w") as f:
            json.dump(data, f, indent=1)
        os.replace(path + ".tmp", path)
    return data


def alternate(contenders, rounds):
    """A B A B ...: yields (round, name, fn) so that drift on a noisy machine
    touches every contender alike."""
    for n in range(rounds):
        for name, fn in contenders:
            yield n, name, fn


# --- the machine --------------------------------------------------------------

def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _out(cmd):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine():
    """[(label, value)] describing where the figures come from."""
    cpu = re.search(r"^model name\s*:\s*(.*)$", _read("/proc/cpuinfo"), re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.M)
    osr = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', _read("/etc/os-release"), re.M))
    libs = []
    for pc in ("libgit2", "libcurl", "libevent", "yaml-0.1", "libcjson", "openssl"):
        v = _out(["pkg-config", "--modversion", pc])
        if v:
            libs.append("%s %s" % (pc, v))
    pkgs = []
    for pkg in ("libgit2-1.5", "libcurl4", "git", "nginx-light", "nginx-common", "fcgiwrap"):
        v = _out(["dpkg-query", "-W", "-f", "${Version}", pkg])
        if v:
            pkgs.append("%s %s" % (pkg, v))
    return [
        ("CPU", cpu.group(1) if cpu else platform.processor() or "unknown"),
        ("cores", str(os.cpu_count())),
        ("RAM", "%.1f GiB" % (int(mem.group(1)) / 1048576) if mem else "unknown"),
        ("kernel", platform.release()),
        ("OS", "%s (Debian %s)" % (osr.get("PRETTY_NAME", "?"),
                                   _read("/etc/debian_version").strip() or "?")),
        ("load average at the start", " ".join(_read("/proc/loadavg").split()[:3])),
        ("libraries (pkg-config)", ", ".join(libs) or "unknown"),
        ("packages", ", ".join(pkgs) or "unknown"),
        ("python", platform.python_version()),
        ("commit", _out(["git", "-C", TOP, "describe", "--always", "--dirty"]) or "unknown"),
    ]


# --- the report --------------------------------------------------------------

def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.3g" % v


def report(results, argv, started, took, quick):
    """RESULTS.md text from [(part, data or None, why)]."""
    out = ["# algopromoted benchmark results", ""]
    out.append("Written by `make bench` (tests/bench/bench.py) on %s, in %.1f minutes%s."
               % (started.strftime("%Y-%m-%d %H:%M UTC"), took / 60,
                  " with --quick (fewer, shorter runs)" if quick else ""))
    out.append("Medians with min-max over n runs; contenders alternate A B A B.")
    out += ["", "## Machine", ""]
    out += ["| | |", "|---|---|"]
    out += ["| %s | %s |" % (k, v) for k, v in machine()]
    out += ["", "Command: `%s`" % " ".join(shlex.quote(a) for a in argv), ""]
    ratios = []
    for part, data, why in results:
        out += ["## %s" % part, ""]
        if data is None:
            out += ["**not run: %s**" % why, ""]
            continue
        for c in data.get("commands", []):
            out.append("    %s" % c)
        if data.get("commands"):
            out.append("")
        if data.get("rows"):
            out += ["| what | unit | median | min-max | n |", "|---|---|---|---|---|"]
            for r in data["rows"]:
                out.append("| %s | %s | %s | %s-%s | %s |" % (
                    r["what"], r["unit"], fmt(r["median"]), fmt(r["min"]), fmt(r["max"]),
                    r["n"]))
            out.append("")
        if data.get("ratios"):
            out += ["| ratio | value | goal | met |", "|---|---|---|---|"]
            for r in data["ratios"]:
                met = {True: "yes", False: "**no**", None: "-"}[r.get("met")]
                out.append("| %s | %s | %s | %s |" % (r["what"], fmt(r["value"]),
                                                       r.get("goal") or "-", met))
                ratios.append((part, r, met))
            out.append("")
        for n in data.get("notes", []):
            out.append("- %s" % n)
        if data.get("notes"):
            out.append("")
    goals = [(p, r, m) for p, r, m in ratios if r.get("goal")]
    if goals:
        out += ["## Goals", "", "| part | ratio | value | goal | met |", "|---|---|---|---|---|"]
        for p, r, m in goals:
            out.append("| %s | %s | %s | %s | %s |" % (p, r["what"], fmt(r["value"]),
                                                       r["goal"], m))
        out.append("")
    return "\n".join(out)


RUNNING = []   # the process group of the part running now


def stop_running(signum, frame):
    """SIGTERM or SIGINT: the running part's process group goes first."""
    for pgid in RUNNING:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    raise SystemExit(128 + signum)


def run_part(name, script, args, timeout):
    """(data, why): data is the part's JSON, or None and why not."""
    path = os.path.join(HERE, script)
    if not os.path.exists(path):
        return None, "script missing (tests/bench/%s)" % script
    fd, out = tempfile.mkstemp(prefix="bench-%s." % name, suffix=".json")
    os.close(fd)
    os.unlink(out)
    cmd = [sys.executable, path, "--json", out] + args
    print("=== %s: %s" % (name, " ".join(shlex.quote(a) for a in cmd[1:])), flush=True)
    t0 = time.monotonic()
    tail = []

    def relay(stream):
        for raw in stream:
            line = raw.decode("utf-8", "replace")
            sys.stdout.write("  " + line)
            sys.stdout.flush()
            tail[:] = (tail + [line.rstrip()])[-8:]

    try:
        proc = subprocess.Popen(cmd, cwd=TOP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
    except OSError as e:
        return None, str(e)
    RUNNING[:] = [proc.pid]
    reader = threading.Thread(target=relay, args=(proc.stdout,), daemon=True)
    reader.start()
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)   # its servers die with it (PDEATHSIG)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(5)
        return None, "timed out after %d s; last output: %s" % (timeout, " / ".join(tail[-3:]))
    reader.join(5)
    RUNNING[:] = []
    print("=== %s: %.0f s, exit %d" % (name, time.monotonic() - t0, rc), flush=True)
    try:
        with open(out) as f:
            data = json.load(f)
        os.unlink(out)
    except (OSError, ValueError):
        return None, "exit %d, no JSON; last output: %s" % (rc, " / ".join(tail[-3:]))
    if rc != 0:
        data.setdefault("notes", []).append("the script exited %d" % rc)
    return data, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", help="comma-separated parts: " + ",".join(p[0] for p in PARTS))
    ap.add_argument("--quick", action="store_true", help="fewer, shorter runs (not for "
                    "the figures one publishes)")
    ap.add_argument("--out", default=os.path.join(TOP, "bench", "RESULTS.md"))
    ap.add_argument("--budget", type=float, default=19.5, metavar="MIN",
                    help="parts not started within this many minutes are not run "
                         "(default 19.5: make bench's 20 minutes)")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    unknown = (only or set()) - {p[0] for p in PARTS}
    if unknown:
        ap.error("unknown part(s): " + ", ".join(sorted(unknown)))
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop_running)
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    results = []
    failed = False
    for name, script, full, quick, timeout in PARTS:
        if only and name not in only:
            continue
        left = args.budget * 60 - (time.monotonic() - t0)
        if left < 30:
            data, why = None, "the %g-minute budget was used up before it" % args.budget
        else:
            data, why = run_part(name, script, quick if args.quick else full,
                                 min(timeout, left))
        failed |= data is None
        results.append((name, data, why))
    text = report(results, ["make", "bench"] if not (only or args.quick) else sys.argv,
                  started, time.monotonic() - t0, args.quick)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text + "\n")
    print()
    print(text)
    print("written to %s" % os.path.relpath(args.out, TOP))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
