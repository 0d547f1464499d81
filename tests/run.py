#!/usr/bin/env python3
"""Runs every test of the project and ends with one `N passed, N failed` line.

The check(3) unit runner goes first, then each tests/**/test_*.py script
(each ends with its own `N passed, N failed` line). The test tools'
self-tests (tests/fakes/, tests/tools/) are counted on a line of their
own; the closing line counts the product's tests. Exit status is 0 only
when everything passed and at least one product test ran.
"""
import argparse
import os
import re
import subprocess
import sys
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
    for path in scripts(args.pattern):
        rel = os.path.relpath(path, TOP)
        print("== %s" % rel, flush=True)
        start = time.monotonic()
        rc, tail = run([sys.executable, path])
        m = PLAIN_RE.match(tail[-1]) if tail else None
        ok, bad = (int(m.group(1)), int(m.group(2))) if m else (0, 1)
        if m is None:
            problems.append("%s: no summary line (exit %d)" % (rel, rc))
        elif rc != 0 and bad == 0:
            problems.append("%s: exit %d" % (rel, rc))
            bad = 1
        if rel.startswith(TOOL_DIRS):
            tools[0] += ok
            tools[1] += bad
        else:
            passed += ok
            failed += bad
        print("== %s: %.1fs" % (rel, time.monotonic() - start), flush=True)
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
