#!/usr/bin/env python3
"""make bench, part 2: one promotion's git work against the seed's recipe.

The seed (Algorithmia's migration script) clones source and destination,
copies the files over, commits and pushes: every cycle moves both
repositories whole. algopromoted fetches into a persistent mirror,
builds the tree at object level and pushes on one connection. Both are
timed here on the same local fakeclusters, for a small and a larger
repository, with builds taking no time so that only the git work counts.
Figures, not a test: medians of N cycles, each promoting a real change
(one line appended to five files).
"""
import argparse
import os
import re
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
from harness import git  # noqa: E402

STEP_RE = re.compile(r"route \S+: (fetch source|fetch destination|commit|push): (\d+) ms")


def populate(env, algo, files, size):
    """files text files of about size bytes each, then five to change."""
    work = env.work[algo]
    line = "x" * 63 + "\n"
    for i in range(files):
        path = os.path.join(work, "data", "f%04d.txt" % i)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("file %d\n" % i + line * (size // 64))
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "populate", cwd=work)
    git("push", "-q", "origin", "HEAD:master", cwd=work)


def change(env, algo, n):
    work = env.work[algo]
    for i in range(5):
        with open(os.path.join(work, "data", "f%04d.txt" % i), "a") as f:
            f.write("change %d\n" % n)
    git("commit", "-q", "-am", "change %d" % n, cwd=work)
    git("push", "-q", "origin", "HEAD:master", cwd=work)


def seed_cycle(env, algo, scratch):
    """The seed's recipe with the git CLI: clone both, copy, commit, push."""
    if os.path.exists(scratch):
        shutil.rmtree(scratch)
    os.makedirs(scratch)
    src, dst = os.path.join(scratch, "src"), os.path.join(scratch, "dst")
    t0 = time.monotonic()
    git("clone", "-q", env.prod.git_url("acme", algo + "Seed", harness.CAROL,
                                        harness.CAROL_KEY), dst)
    git("clone", "-q", env.dev.git_url("alice", algo, harness.ALICE, harness.ALICE_KEY), src)
    for name in os.listdir(src):
        if name == ".git":
            continue
        s, d = os.path.join(src, name), os.path.join(dst, name)
        if os.path.isdir(s):
            shutil.copytree(s, d, dirs_exist_ok=True, symlinks=True)
        else:
            shutil.copy2(s, d)
    git("add", "--all", cwd=dst)
    git("commit", "-q", "-m", "new version", cwd=dst)
    git("push", "-q", "origin", "HEAD:master", cwd=dst)
    took = time.monotonic() - t0
    shutil.rmtree(scratch)
    return took * 1000


def bench(name, files, size, rounds):
    with harness.Env(build_seconds=0) as env:
        algo = "Bench"
        env.create_source(algo)
        populate(env, algo, files, size)
        harness.api(env.prod, harness.CAROL_KEY, "POST", "/v1/algorithms/acme",
                    {"name": algo + "Seed", "details": {"label": "seed"},
                     "settings": harness.PY_SETTINGS})
        env.write_config([{"name": "bench", "source": "dev/alice/" + algo,
                           "destination": "prod/acme/" + algo}], top={"log_level": "info"})
        proc = env.once()      # the first promotion fills the mirror
        assert proc.returncode == 0, proc.stderr[-2000:]
        ours, seed, steps = [], [], {}
        for n in range(rounds):
            change(env, algo, n)
            proc = env.once()
            assert proc.returncode == 0, proc.stderr[-2000:]
            total = 0
            for step, ms in STEP_RE.findall(proc.stderr):
                steps.setdefault(step, []).append(int(ms))
                total += int(ms)
            ours.append(total)
            seed.append(seed_cycle(env, algo, os.path.join(env.dir, "seed")))
        print("%s repository (%d files of %d bytes):" % (name, files, size))
        for step in ("fetch source", "fetch destination", "commit", "push"):
            print("  algopromoted %-17s median %5.1f ms" % (step, statistics.median(steps[step])))
        m_ours, m_seed = statistics.median(ours), statistics.median(seed)
        print("  algopromoted git work       median %5.1f ms" % m_ours)
        print("  seed recipe (git CLI)       median %5.1f ms   (%.0fx slower)"
              % (m_seed, m_seed / m_ours))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    bench("small", 50, 25000, args.rounds)
    bench("medium", 2000, 25000, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
