#!/usr/bin/env python3
"""make demo: the service, live, between two emulated clusters.

Starts a "dev" and a "prod" fakecluster on free local ports, creates
dev/alice/Hello and pushes a change to it, writes a configuration and runs
algopromoted as a service (not --once), showing its log as it promotes.
Then `algopromotectl status` and `versions`, a second change that a
`trigger` brings over as 0.2.0, and the end: everything it started is
stopped and its temporary directory removed, also on Ctrl-C or failure.

Binaries: $AP_BINDIR (relative to the top of the tree), else the top.
--keep leaves the temporary directory for a look; --timeout SECONDS bounds
each wait (default 60).
"""
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration"))
import harness  # noqa: E402

PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello"}
ROUTE = "hello->prod/acme/Hello"


class Failed(Exception):
    pass


class Service:
    """algopromoted in the foreground, in its own process group, its log
    printed as it comes (prefixed) and kept for waits on a line."""

    def __init__(self, env, prefix="  algopromoted| "):
        self.prefix = prefix
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        self.proc = subprocess.Popen(
            [harness.DAEMON, "-f", env.config], env=harness.env_with(),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            sys.stdout.write(self.prefix + line + "\n")
            sys.stdout.flush()
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_line(self, what, pred, start=0, timeout=60):
        """The index of the first log line from start on for which pred is
        true; woken by each new line, never polling."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i]):
                        return i
                    i += 1
                if self.eof:
                    raise Failed("algopromoted exited (status %s) before %s"
                                 % (self.proc.poll(), what))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failed("no %s within %d s" % (what, timeout))
                self.cond.wait(left)

    def mark(self):
        with self.cond:
            return len(self.lines)

    def stop(self, timeout=20):
        """SIGTERM to the group, SIGKILL if it lingers; the exit status."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)    # anything left in it
        except ProcessLookupError:
            pass
        rc = self.proc.wait()
        self.reader.join(5)
        self.proc.stdout.close()
        return rc


def say(text=""):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def show(env, *args):
    say("\n$ algopromotectl %s" % " ".join(args))
    proc = env.ctl(*args)
    for line in (proc.stdout + proc.stderr).splitlines():
        say("  " + line)
    if proc.returncode != 0:
        raise Failed("algopromotectl %s: exit %d" % (" ".join(args), proc.returncode))
    return proc


def promoted(version):
    """The log line that ends the route's promotion as version."""
    return lambda line: (ROUTE + ": promoted ") in line and line.endswith(" " + version)


def run(env, timeout):
    say("dev cluster:  %s\nprod cluster: %s\nworking in:   %s"
        % (env.dev.url, env.prod.url, env.dir))
    env.create_source()
    say("\ncreated dev/alice/Hello; pushing a change to it")
    env.commit(files={"src/Hello.py": "def apply(input):\n"
                      "    return 'hello from dev, ' + str(input)\n"},
               message="Friendlier greeting")
    env.write_config([PAIR], top={"log_level": "info"})
    say("\nconfiguration %s:" % env.config)
    with open(env.config) as f:
        for line in f:
            say("  " + line.rstrip())

    say("\n$ algopromoted -f %s   (the service; its log below)" % env.config)
    svc = Service(env)
    try:
        svc.wait_line("readiness", lambda l: " ready: " in l, timeout=timeout)
        # The first poll sees the change: the promotion, live.
        svc.wait_line("the promotion of 0.1.0", promoted("0.1.0"), timeout=timeout)
        harness.wait_for(lambda: env.route_phase("hello") == "idle", timeout,
                         "the route to be idle")
        say("\nprod/acme/Hello now has: %s" % ", ".join(sorted(v for v, _ in
                                                                env.prod_versions())))

        show(env, "status")
        show(env, "versions", "hello")

        say("\npushing a second change to dev/alice/Hello")
        env.commit(files={"README.md": "# Hello\n\nPromoted by algopromoted.\n"},
                   message="Add a README")
        mark = svc.mark()
        show(env, "trigger", "hello")
        svc.wait_line("the promotion of 0.2.0", promoted("0.2.0"), start=mark,
                      timeout=timeout)
        harness.wait_for(lambda: env.route_phase("hello") == "idle", timeout,
                         "the route to be idle")
        show(env, "status")
        show(env, "versions", "hello")
        versions = sorted(v for v, _ in env.prod_versions())
        say("\nprod/acme/Hello versions: %s" % ", ".join(versions))
        if versions != ["0.1.0", "0.2.0"]:
            raise Failed("prod/acme/Hello holds %s, not 0.1.0 and 0.2.0" % versions)
    finally:
        say("\nstopping algopromoted")
        rc = svc.stop()
        env.logs.append("\n".join(svc.lines))
    if rc != 0:
        raise Failed("algopromoted exited with status %d" % rc)
    leaks = env.scan_for_secrets()
    if leaks:
        raise Failed("a key leaked: %s" % leaks)
    say("no API key in the state directory, the logs or what the clusters saw")


def main():
    keep = "--keep" in sys.argv
    timeout = 60
    if "--timeout" in sys.argv:
        timeout = float(sys.argv[sys.argv.index("--timeout") + 1])
    # SIGTERM (a CI job cancelled) ends the demo as Ctrl-C does: through
    # the finally clauses that stop what it started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # And Ctrl-C even when started in the background of a shell, which
    # starts it with SIGINT ignored (Python then leaves it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    start = time.monotonic()
    env = None
    try:
        env = harness.Env(build_seconds=1.0, keep=keep)
        run(env, timeout)
    except Failed as e:
        say("demo: %s" % e)
        return 1
    except KeyboardInterrupt:
        say("\ndemo: interrupted")
        return 130
    finally:
        if env is not None:
            env.close()
            if keep:
                say("kept: %s" % env.dir)
    say("demo: done in %.0f s, everything stopped" % (time.monotonic() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
