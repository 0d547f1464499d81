#!/usr/bin/env python3
"""The daemon against a real git server: nginx + fcgiwrap + git-http-backend.

The fakeclusters keep serving the management API; their repositories are
also served by nginx (tests/tools/gitserver.py, GIT_PROJECT_ROOT shared,
fakecluster --notice-pushes so that a push through nginx makes a build),
and each cluster's `git:` URL points at nginx: over plain HTTP/1.1, and
over TLS where the poller speaks HTTP/2 (ALPN) with the cluster's
`ca_file:`. The nginx access log shows which protocol each request came
with. Skipped, with the reason printed, when nginx or fcgiwrap is missing
(`sh packaging/deps.sh gitserver` installs them).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))
import harness  # noqa: E402
import gitserver  # noqa: E402
from harness import (ALICE, ALICE_KEY, CAROL, CAROL_KEY, Daemon, git,  # noqa: E402
                     wait_for)

PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello",
        "poll_interval": "5s"}
WHY_NOT = gitserver.missing()


class NoticeEnv(harness.Env):
    """harness.Env whose fakeclusters run with --notice-pushes."""

    def __init__(self, **kw):
        plain = harness.start_cluster

        def noticing(*a, **k):
            return plain(*a, extra_args=("--notice-pushes",), **k)
        harness.start_cluster = noticing
        try:
            super().__init__(**kw)
        finally:
            harness.start_cluster = plain


def use_git_servers(env, servers, tls):
    """Rewrites the written configuration: each cluster's git: is its nginx
    (https with ca_file when tls)."""
    with open(env.config) as f:
        text = f.read()
    for name, cluster in (("dev", env.dev), ("prod", env.prod)):
        srv = servers[name]
        old = "    git: http://localhost:%d\n" % cluster.port
        assert text.count(old) == 1, text
        new = "    git: %s\n" % (srv.https_url if tls else srv.http_url)
        if tls:
            new += "    ca_file: %s\n" % srv.ca_file
        text = text.replace(old, new)
    with open(env.config, "w") as f:
        f.write(text)


@unittest.skipIf(WHY_NOT, WHY_NOT)
class RealGit(unittest.TestCase):
    def setUp(self):
        self.env = NoticeEnv(build_seconds=0.2)
        self.env.create_source()
        self.servers = {}
        self.daemons = []
        for name, cluster, user, key in (("dev", self.env.dev, ALICE, ALICE_KEY),
                                         ("prod", self.env.prod, CAROL, CAROL_KEY)):
            self.servers[name] = gitserver.GitServer(cluster.repos_path, {user: key}).start()

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        for srv in self.servers.values():
            srv.stop()
        leaks = self.env.scan_for_secrets()
        self.env.close()
        self.assertEqual(leaks, [])

    def push_source_via_nginx(self, tls, text):
        """A commit pushed to the dev master through nginx (git CLI)."""
        srv = self.servers["dev"]
        base = srv.https_url if tls else srv.http_url
        url = base.replace("://", "://%s:%s@" % (quote(ALICE, safe=""),
                                                 quote(ALICE_KEY, safe=""))) + \
            "/git/alice/Hello.git"
        work = self.env.work["Hello"]
        with open(os.path.join(work, "src", "Hello.py"), "a") as f:
            f.write(text)
        git("commit", "-q", "-am", "via nginx: " + text.strip(), cwd=work)
        proc = subprocess.run(["git", "push", "-q", url, "HEAD:master"], cwd=work,
                              env=harness.env_with({"GIT_SSL_CAINFO": srv.ca_file}),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return git("rev-parse", "HEAD", cwd=work)

    def promoted(self, n):
        def check():
            try:
                return len(self.env.prod_versions()) == n and \
                    self.env.route_phase("hello") == "idle"
            except harness.ApiError:
                return False
        try:
            wait_for(check, 40, "%d promotions" % n)
        except AssertionError:
            for d in self.daemons:
                sys.stdout.write(d.log_text()[-4000:])
            for name, srv in self.servers.items():
                sys.stdout.write("%s nginx error log:\n%s\n" % (name, srv.error_log()[-2000:]))
            raise

    def run_case(self, tls):
        env = self.env
        env.write_config([PAIR])
        use_git_servers(env, self.servers, tls)
        self.push_source_via_nginx(tls, "# the first change\n")
        marks = {k: s.mark() for k, s in self.servers.items()}
        d = Daemon(env)
        self.daemons.append(d)
        d.wait_ready()
        self.promoted(1)
        sha = self.push_source_via_nginx(tls, "# a change pushed through nginx\n")
        ctl = env.ctl("trigger", "hello")   # a poll now rather than within 5 s
        self.assertEqual(ctl.returncode, 0, ctl.stderr)
        self.promoted(2)
        rc = d.stop()
        self.assertEqual(rc, 0, d.log_text()[-3000:])

        # Published: prod's newest version holds the change, and names its source.
        versions = env.prod_versions()
        self.assertEqual([v for v, _ in versions], ["0.2.0", "0.1.0"])
        clone = env.prod_clone()
        with open(os.path.join(clone, "src", "Hello.py")) as f:
            self.assertIn("# a change pushed through nginx", f.read())
        self.assertEqual(git("rev-parse", "HEAD", cwd=clone), versions[0][1])
        self.assertIn("Promoted-from: dev/alice/Hello@%s" % sha,
                      git("log", "-1", "--format=%B", cwd=clone))

        # The access logs: polls, fetch and push went to nginx.
        dev = self.servers["dev"].requests(marks["dev"])
        prod = self.servers["prod"].requests(marks["prod"])
        polls = [e for e in dev if e["http_user_agent"].startswith("algopromoted/")
                 and e["request_method"] == "GET"
                 and e["request_uri"].endswith("/info/refs?service=git-upload-pack")]
        self.assertGreaterEqual(len(polls), 2, dev)
        want = "HTTP/2.0" if tls else "HTTP/1.1"
        self.assertEqual({e["server_protocol"] for e in polls}, {want}, polls)
        self.assertEqual({e["status"] for e in polls}, {200}, polls)   # preemptive auth
        if tls:
            # Multiplexed: the polls share connections instead of one each.
            self.assertLess(len({e["connection"] for e in polls}), len(polls), polls)
        self.assertTrue([e for e in dev if e["request_uri"].endswith("/git-upload-pack")
                         and e["request_method"] == "POST" and e["status"] == 200], dev)
        pushes = [e for e in prod if e["request_uri"] == "/git/acme/Hello.git/git-receive-pack"
                  and e["status"] == 200]
        self.assertEqual(len(pushes), 2, prod)
        print("  %s: %d polls, %d requests to dev, %d to prod"
              % (want, len(polls), len(dev), len(prod)))

    def test_http1(self):
        self.run_case(tls=False)

    def test_tls_http2(self):
        self.run_case(tls=True)


class Tool(unittest.TestCase):
    """gitserver.py itself: nothing is left running once it is stopped."""

    @unittest.skipIf(WHY_NOT, WHY_NOT)
    def test_stop_leaves_nothing(self):
        root = tempfile.mkdtemp(prefix="gitserver-test.")
        self.addCleanup(shutil.rmtree, root, True)
        srv = gitserver.GitServer(root, {"u": "p"}).start()
        pids = [p.pid for p in srv.procs]
        directory = srv.dir
        srv.stop()
        self.assertEqual([p for p in live_members(pids)], [])
        self.assertFalse(os.path.exists(directory))


def live_members(groups):
    """Processes (zombies aside) whose process group is one of groups."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) in groups:
            found.append(int(name))
    return found


if __name__ == "__main__":
    if WHY_NOT:
        print("test_realgit: skipped: %s" % WHY_NOT)
    harness.main()
