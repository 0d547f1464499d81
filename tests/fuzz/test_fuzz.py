#!/usr/bin/env python3
"""The fuzz corpora as a regression test: each target's replay binary
($AP_BUILD/fuzz/replay-NAME, built by `make fuzz-replay`; AP_BUILD
defaults to "build") runs every input of tests/fuzz/corpus/NAME and of
tests/fuzz/crashes/NAME (findings, kept once fixed). One test per target;
an input that crashes, aborts on a target's check or hangs fails it.
Ends with `N passed, N failed`.

While the Makefile does not include tests/fuzz/fuzz.mk nothing builds the
replays: the script then says so and runs nothing (0 passed, 0 failed).
"""
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("AP_BUILD", "build")
if not os.path.isabs(BUILD):
    BUILD = os.path.join(TOP, BUILD)
TIMEOUT = 120  # seconds for one target's whole corpus


def targets():
    names = []
    for f in sorted(os.listdir(HERE)):
        m = re.match(r"fuzz_(\w+)\.c$", f)
        if m:
            names.append(m.group(1))
    return names


def wired():
    """Does the Makefile include fuzz.mk (and so build the replays)?"""
    try:
        with open(os.path.join(TOP, "Makefile")) as f:
            return re.search(r"^-?include\s+.*tests/fuzz/fuzz\.mk", f.read(),
                             re.M) is not None
    except OSError:
        return False


def inputs(name):
    found = []
    for sub in ("corpus", "crashes"):
        d = os.path.join(HERE, sub, name)
        if os.path.isdir(d):
            found += [os.path.join(d, f) for f in sorted(os.listdir(d))
                      if not f.startswith(".")]
    return found


def replay(name):
    """'' when every input ran through, else what went wrong."""
    binary = os.path.join(BUILD, "fuzz", "replay-" + name)
    if not os.access(binary, os.X_OK):
        return "%s is missing: make fuzz-replay (BUILD=%s)" % (
            binary, os.path.relpath(BUILD, TOP))
    files = inputs(name)
    if not files:
        return "no inputs in tests/fuzz/corpus/%s" % name
    env = dict(os.environ)
    env.setdefault("TMPDIR", "/tmp")
    try:
        p = subprocess.run([binary] + files, cwd=TOP, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return "timed out after %d s" % TIMEOUT
    err = p.stderr.decode("utf-8", "replace")
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0:
        started = re.findall(r"^replay: (\S+)$", err, re.M)
        last = started[-1] if started else "?"
        tail = "\n".join(err.strip().splitlines()[-5:])
        return "exit %d on %s\n%s" % (p.returncode,
                                      os.path.relpath(last, TOP), tail)
    want = "replay: %d inputs run" % len(files)
    if want not in out:
        return "expected '%s', got: %s" % (want, out.strip())
    return ""


def main():
    names = targets()
    if not wired():
        print("tests/fuzz: the Makefile does not include tests/fuzz/fuzz.mk"
              " yet; nothing builds the replays, none run")
        print("0 passed, 0 failed")
        return 0
    passed = failed = 0
    for name in names:
        start = time.monotonic()
        why = replay(name)
        took = time.monotonic() - start
        if why:
            failed += 1
            print("FAIL fuzz replay %s (%.1fs): %s" % (name, took, why))
        else:
            passed += 1
            print("ok   fuzz replay %s: %d inputs (%.1fs)" % (
                name, len(inputs(name)), took))
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
