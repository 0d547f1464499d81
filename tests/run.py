#!/usr/bin/env python3
"""Runs every test of the project and ends with one `N passed, N failed` line.

The check(3) unit runner goes first, then each tests/**/test_*.py script
(each ends with its own `N passed, N failed` line), -j at a time (default
$AP_JOBS, else the number of CPUs, at most 4): the scripts wait on
daemons and servers more than they compute, and each works in its own
directories and ports. A script's output is printed whole when it ends.
The test tools' self-tests (tests/fakes/, tests/tools/) are counted on a
line of their own; the closing line counts the product's tests. Exit
status is 0 only when everything passed and at least one product test
ran.
"""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECK_RE = re.compile(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)")
PLAIN_RE = re.compile(r"^(\d+) passed, (\d+) failed")
TOOL_DIRS = (os.path.join("tests", "fakes") + os.sep,
             os.path.join("tests", "tools") + os.sep)


def run(cmd, env=None):
    """Runs cmd, echoing its output as it comes; returns (rc, last lines)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, cwd=TOP)
    tail = []
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace")
        sys.stdout.write(line)
        sys.stdout.flush()
        tail = (tail + [line.strip()])[-20:]
    return proc.wait(), tail


def run_quiet(cmd):
    """Runs cmd; returns (rc, its whole output)."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          cwd=TOP)
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def scripts(pattern):
    found = []
    for root, dirs, files in os.walk(os.path.join(TOP, "tests")):
        dirs.sort()
        for f in sorted(files):
            if f.startswith("test_") and f.endswith(".py"):
                path = os.path.join(root, f)
                if pattern is None or re.search(pattern, path):
                    found.append(path)
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unit", help="the check(3) runner binary")
    ap.add_argument("-k", dest="pattern", help="only scripts matching")
    ap.add_argument("-j", dest="jobs", type=int, default=0,
                    help="scripts at a time (default $AP_JOBS or the CPUs, at most 4)")
    args = ap.parse_args()

    passed = failed = 0
    tools = [0, 0]
    problems = []
    if args.unit:
        start = time.monotonic()
        rc, tail = run([args.unit])
        m = next((CHECK_RE.search(t) for t in reversed(tail)
                  if CHECK_RE.search(t)), None)
        if m is None:
            problems.append("unit tests: no summary (exit %d)" % rc)
            failed += 1
        else:
            n, f, e = (int(x) for x in m.groups())
            passed += n - f - e
            failed += f + e
            if rc != 0 and f + e == 0:
                problems.append("unit tests: exit %d" % rc)
                failed += 1
        print("unit tests: %.1fs" % (time.monotonic() - start))
    lock = threading.Lock()

    def one(path):
        rel = os.path.relpath(path, TOP)
        start = time.monotonic()
        rc, out = run_quiet([sys.executable, path])
        lines = [l.strip() for l in out.splitlines() if l.strip()]
        with lock:
            sys.stdout.write("== %s\n%s" % (rel, out))
            print("== %s: %.1fs" % (rel, time.monotonic() - start), flush=True)
        return rel, rc, lines[-1] if lines else ""

    jobs = args.jobs or int(os.environ.get("AP_JOBS") or 0) or \
        min(4, os.cpu_count() or 1)
    # The longest first, so that the last to end is a short one: size is a
    # fair guess at a script's running time.
    todo = sorted(scripts(args.pattern), key=os.path.getsize, reverse=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, todo))
    for rel, rc, last in results:
        m = PLAIN_RE.match(last)
        ok, bad = (int(m.group(1)), int(m.group(2))) if m else (0, 1)
        if m is None:
            problems.append("%s: no summary line (exit %d)" % (rel, rc))
        elif rc != 0 and bad == 0:
            problems.append("%s: exit %d" % (rel, rc))
            bad = 1
        elif bad != 0:
            problems.append("%s: %d failed" % (rel, bad))
        if rel.startswith(TOOL_DIRS):
            tools[0] += ok
            tools[1] += bad
        else:
            passed += ok
            failed += bad
    for p in problems:
        print("problem: " + p)
    if tools[0] + tools[1] > 0:
        print("test tools' self-tests: %d passed, %d failed" % tuple(tools))
    if passed + failed == 0:
        print("no test ran")
        failed = 1
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and tools[1] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
