"""Start and stop fakecluster.py processes from Python tests.

Import with this directory on sys.path:
    sys.path.insert(0, os.path.join(TOP, "tests", "fakes", "fakecluster"))
    from fakecluster_util import start_cluster, ALICE, ALICE_KEY
"""

import json
import os
import select
import signal
import subprocess
import sys
import time
from urllib.parse import quote

from fakecluster import DEFAULT_USERS

FAKECLUSTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakecluster.py")

ALICE, ALICE_KEY = DEFAULT_USERS[0]["name"], DEFAULT_USERS[0]["key"]  # member of ACME
BOB, BOB_KEY = DEFAULT_USERS[1]["name"], DEFAULT_USERS[1]["key"]  # no orgs
ACME = DEFAULT_USERS[0]["orgs"][0]


class Cluster:
    """A running fakecluster process. Use as a context manager or call stop()."""

    def __init__(self, proc, port, state_dir, log_path):
        self.proc = proc
        self.port = port
        self.state_dir = state_dir
        self.log_path = log_path
        self.url = "http://127.0.0.1:%d" % port

    def git_url(self, owner, algo, user, key, version=None):
        """Clone URL with percent-encoded credentials ('/' and '+' in keys included);
        version (a published semver) gives the read-only URL of that version."""
        path = "%s/%s" % (algo, version) if version else algo
        return "http://%s:%s@127.0.0.1:%d/git/%s/%s.git" % (
            quote(user, safe=""), quote(key, safe=""), self.port, owner, path)

    @property
    def repos_path(self):
        """STATE/repos: the GIT_PROJECT_ROOT of its repositories ({owner}/{algo}.git),
        for another git server to share (with --notice-pushes)."""
        return os.path.join(self.state_dir, "repos")

    def data_path(self, owner, collection=None, filename=None):
        """Where hosted data lives on disk: STATE/data/OWNER[/COLLECTION[/FILE]]. A test
        may seed a collection by making the directory and writing files into it."""
        parts = [p for p in (owner, collection, filename) if p is not None]
        return os.path.join(self.state_dir, "data", *parts)

    def stop(self, timeout=10):
        """SIGTERM, wait for exit (SIGKILL after timeout); returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _read_port(proc, deadline):
    """The first stdout line of proc, as a port number; None on EOF or timeout."""
    fd = proc.stdout.fileno()
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return None
        data = os.read(fd, 64)
        if not data:
            return None
        line += data
    return int(line) if line.strip().isdigit() else None


def start_cluster(state_dir, users=None, build_seconds=1.0, page_size=None, extra_args=(),
                  log_path=None, startup_timeout=10.0, data_page_size=None):
    """Start fakecluster.py on a free port and return a Cluster once it is listening.

    users: None for the built-in users (ALICE, BOB), the path of a users file, or a list
    of {"name", "key", "orgs"} dicts (written to STATE_DIR/users.json).
    page_size, data_page_size: None for the server defaults. extra_args: more
    command-line options, e.g. ("--exists-status", "409"). The server's stderr (one line per request) goes to
    log_path, by default STATE_DIR/fakecluster.log (appended, so restarts accumulate).
    """
    os.makedirs(state_dir, exist_ok=True)
    cmd = [sys.executable, FAKECLUSTER, "--port", "0", "--state", state_dir,
           "--build-seconds", str(build_seconds)]
    if isinstance(users, list):
        users_path = os.path.join(state_dir, "users.json")
        with open(users_path, "w", encoding="utf-8") as f:
            json.dump({"users": users}, f)
        cmd += ["--users", users_path]
    elif users is not None:
        cmd += ["--users", os.fspath(users)]
    if page_size is not None:
        cmd += ["--page-size", str(page_size)]
    if data_page_size is not None:
        cmd += ["--data-page-size", str(data_page_size)]
    cmd += list(extra_args)
    log_path = log_path or os.path.join(state_dir, "fakecluster.log")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=log)
    port = _read_port(proc, time.monotonic() + startup_timeout)
    if port is None:
        Cluster(proc, 0, state_dir, log_path).stop()
        with open(log_path, encoding="utf-8", errors="replace") as f:
            raise RuntimeError("fakecluster did not start (exit %s):\n%s"
                               % (proc.returncode, f.read()[-2000:]))
    return Cluster(proc, port, state_dir, log_path)
