#!/usr/bin/env python3
"""make demo: two emulated clusters, one source algorithm, one promotion.

Starts a "dev" and a "prod" fakecluster on free local ports, creates
dev/alice/Hello and pushes a change to it, writes a configuration, runs
`algopromoted --once`, shows `algopromotectl status` and `versions`, then
a second change and a second run, and stops everything it started.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration"))
import harness  # noqa: E402


def show(title, proc):
    print("\n$ %s" % title)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stdout.write(proc.stderr)
        raise SystemExit("demo: %s failed (exit %d)" % (title, proc.returncode))


def log_tail(proc, n=12):
    lines = [l for l in proc.stderr.splitlines() if "route " in l and " info: " in l]
    for line in lines[-n:]:
        print("  " + line)


def main():
    keep = "--keep" in sys.argv
    with harness.Env(build_seconds=1.0, keep=keep) as env:
        print("dev cluster:  %s   prod cluster: %s" % (env.dev.url, env.prod.url))
        env.create_source()
        print("created dev/alice/Hello; pushing a change")
        env.commit(files={"src/Hello.py": "def apply(input):\n"
                          "    return 'hello from dev, ' + str(input)\n"},
                   message="Friendlier greeting")
        env.write_config([{"name": "hello", "source": "dev/alice/Hello",
                           "destination": "prod/acme/Hello"}])
        print("configuration: %s" % env.config)
        with open(env.config) as f:
            for line in f:
                print("  " + line.rstrip())

        print("\n$ algopromoted --once   (first promotion: creates prod/acme/Hello)")
        proc = env.once()
        log_tail(proc)
        if proc.returncode != 0:
            sys.stdout.write(proc.stderr)
            raise SystemExit("demo: algopromoted --once failed")

        env.commit(files={"README.md": "# Hello\n\nPromoted by algopromoted.\n"},
                   message="Add a README")
        print("\npushed a second change to dev/alice/Hello")
        print("\n$ algopromoted --once   (second promotion)")
        proc = env.once()
        log_tail(proc)
        if proc.returncode != 0:
            sys.stdout.write(proc.stderr)
            raise SystemExit("demo: algopromoted --once failed")

        show("algopromotectl status", env.ctl("status"))
        show("algopromotectl versions hello", env.ctl("versions", "hello"))
        print("\nprod/acme/Hello versions:",
              ", ".join(v for v, _ in env.prod_versions()))
        leaks = env.scan_for_secrets()
        if leaks:
            raise SystemExit("demo: a key leaked: %s" % leaks)
        print("no API key in the state directory or the logs")
        if keep:
            print("kept: %s" % env.dir)
    print("demo: done, everything stopped")


if __name__ == "__main__":
    main()
