#!/usr/bin/env python3
"""make bench, cycle: one promotion of a 5-file change, ours against the git CLI.

Contenders, each promoting the same source change to a destination of its
own, run one after the other in every round (A B C D, A B C D, ...):
  ours  `algopromoted --once` (whole process: detect, fetch into its mirror,
        object-level commit, push, wait for the build, publish), and its
        git work alone (the sum of its fetch/commit/push log lines);
  (a)   the seed's first run: clone source and destination, copy the
        files over, `git add --all`, commit, push, remove the clones;
  (b)   the seed's repeat run in kept working copies: `git pull`, `cp -R`,
        `git add --all`, commit, push, then one publish call with curl;
  (c)   a git-CLI object-level cycle: fetch into a bare mirror,
        `git commit-tree`, push.
Repositories: small (50 files, ~1.3 MB) and medium (2,000 files, ~50 MB of
text and random binary). Servers: the fakecluster's own git (Python, a
`git http-backend` per request) and a real one, nginx + fcgiwrap +
git-http-backend (tests/tools/gitserver.py) over HTTP/1.1 and over TLS
with HTTP/2, sharing the fakeclusters' repositories (the API stays the
fakecluster's, with --notice-pushes). Against nginx, the access log gives
each contender's git requests and bytes per promotion. Server repositories
are `git gc`ed after set-up and between servers (tech-notes 4: loose
objects slow the server). Builds take no time.

Goals (whole process): ours <= 0.5x (b) on small, <= 0.1x (b) on medium.
A benchmark: it prints figures (JSON with --json FILE), never fails on them.
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import time
from urllib.parse import quote

BENCH = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(TESTS, "integration"))
sys.path.insert(0, os.path.join(TESTS, "tools"))
import harness  # noqa: E402
import gitserver  # noqa: E402
import bench  # noqa: E402
from harness import ALICE, ALICE_KEY, CAROL, CAROL_KEY  # noqa: E402
from test_realgit import NoticeEnv, use_git_servers  # noqa: E402

STEP_RE = re.compile(r"route \S+: (fetch source|fetch destination|commit|push): (\d+) ms")
SIZES = {  # name: (text files, binary files, bytes per file)
    "small": (45, 5, 26000),
    "medium": (1600, 400, 25000),
}
A_ROUNDS = {"small": 4, "medium": 2}   # (a) clones 2 x 50 MB a run: at most 2 there
ALGO = "Bench"
DESTS = {"ours": ALGO, "a": ALGO + "SeedFirst", "b": ALGO + "SeedRepeat", "c": ALGO + "Cli"}
LABEL = {"ours": "algopromoted --once (whole process)",
         "a": "(a) seed first run: clone both, copy, commit, push",
         "b": "(b) seed repeat run: pull, cp -R, add, commit, push, publish",
         "c": "(c) git CLI object cycle: fetch, commit-tree, push"}


def run(cmd, cwd=None, env=None):
    proc = subprocess.run(cmd, cwd=cwd, env=harness.env_with(env), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(redact("%s failed: %s" % (" ".join(cmd[:4]), proc.stderr[-2000:])))
    return proc.stdout.strip()


def redact(text):
    for key in (ALICE_KEY, CAROL_KEY):
        text = text.replace(key, "KEY").replace(quote(key, safe=""), "KEY")
    return text


def git(*args, cwd=None, env=None):
    return run(["git"] + list(args), cwd=cwd, env=env)


def text_pool(rng, size):
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
             for _ in range(2000)]
    out, n = [], 0
    while n < size:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 12))) + "\n"
        out.append(line)
        n += len(line)
    return "".join(out)


def populate(work, size):
    """The size's files in work/data: text files first (the changed ones),
    then random binaries."""
    texts, bins, each = SIZES[size]
    rng = random.Random(14)
    pool = text_pool(rng, 1 << 20)
    data = os.path.join(work, "data")
    os.makedirs(data, exist_ok=True)
    for i in range(texts):
        start = rng.randrange(0, len(pool) - each)
        with open(os.path.join(data, "t%04d.txt" % i), "w") as f:
            f.write("file %d\n" % i + pool[start:start + each])
    for i in range(bins):
        with open(os.path.join(data, "b%04d.bin" % i), "wb") as f:
            f.write(rng.randbytes(each))


def repo_path(env, cluster, owner, algo):
    c = env.dev if cluster == "dev" else env.prod
    return os.path.join(c.repos_path, owner, algo + ".git")


class Fixture:
    """One Env with the source and the four destinations in step, and the
    git servers over the same repositories."""

    def __init__(self, size, log):
        self.size = size
        self.log = log
        self.env = NoticeEnv(build_seconds=0)
        self.servers = {}
        self.dir = self.env.dir
        env = self.env
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self):
        env = self.env
        t0 = time.monotonic()
        work = env.create_source(ALGO)
        populate(work, self.size)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", "populate", cwd=work)
        self.log("  source populated: %.1f s" % (time.monotonic() - t0))
        self.src_repo = repo_path(env, "dev", ALICE, ALGO)
        git("push", "-q", self.src_repo, "HEAD:master", cwd=work)
        self.log("  source pushed: %.1f s" % (time.monotonic() - t0))
        for key, algo in DESTS.items():
            harness.api(env.prod, CAROL_KEY, "POST", "/v1/algorithms/acme",
                        {"name": algo, "details": {"label": algo},
                         "settings": harness.PY_SETTINGS})
        # Every destination starts holding the source's tree (one commit on
        # its template), made on disk from the source's pack, hard-linked
        # (as `git clone --local` does): set-up, not measured.
        git("repack", "-d", "-q", cwd=self.src_repo)   # a small push lands loose
        self.mirror = os.path.join(self.dir, "cli-mirror.git")
        git("init", "-q", "--bare", self.mirror)
        tree = git("rev-parse", "master^{tree}", cwd=self.src_repo)
        for repo in [self.mirror] + [repo_path(env, "prod", "acme", a) for a in DESTS.values()]:
            pack = os.path.join(self.src_repo, "objects", "pack")
            for name in os.listdir(pack):
                to = os.path.join(repo, "objects", "pack", name)
                if not os.path.exists(to):
                    os.link(os.path.join(pack, name), to)
        git("update-ref", "refs/src/master", git("rev-parse", "master", cwd=self.src_repo),
            cwd=self.mirror)
        for key, algo in DESTS.items():
            dst = repo_path(env, "prod", "acme", algo)
            commit = git("commit-tree", tree, "-p", "master", "-m", "in step", cwd=dst)
            git("update-ref", "refs/heads/master", commit, cwd=dst)
            git("fetch", "-q", dst, "+refs/heads/master:refs/dst/%s" % key, cwd=self.mirror)
        self.log("  destinations in step: %.1f s" % (time.monotonic() - t0))
        # (b)'s kept working copies, cloned on disk.
        self.wsrc = os.path.join(self.dir, "seed-src")
        self.wdst = os.path.join(self.dir, "seed-dst")
        git("clone", "-q", self.src_repo, self.wsrc)
        git("clone", "-q", repo_path(env, "prod", "acme", DESTS["b"]), self.wdst)
        for name, cluster, user, key in (("dev", env.dev, ALICE, ALICE_KEY),
                                         ("prod", env.prod, CAROL, CAROL_KEY)):
            if gitserver.missing() is None:
                self.servers[name] = gitserver.GitServer(cluster.repos_path,
                                                         {user: key}).start()
        self.configs = {}
        env.write_config([{"name": "bench", "source": "dev/alice/" + ALGO,
                           "destination": "prod/acme/" + ALGO}],
                         top={"log_level": "info", "workers": 2})
        plain = open(env.config).read()
        self.configs["fakecluster"] = os.path.join(self.dir, "conf-fakecluster.yaml")
        with open(self.configs["fakecluster"], "w") as f:
            f.write(plain)
        if self.servers:
            for variant, tls in (("nginx-http1", False), ("nginx-tls-h2", True)):
                with open(env.config, "w") as f:
                    f.write(plain)
                use_git_servers(env, self.servers, tls)
                self.configs[variant] = os.path.join(self.dir, "conf-%s.yaml" % variant)
                shutil.copy(env.config, self.configs[variant])
        self.log("  servers started: %.1f s" % (time.monotonic() - t0))
        # The daemon's first run fills its mirror (the destination already
        # holds the tree: nothing is pushed).
        proc = self.once("fakecluster")[1]
        if proc.returncode != 0:
            raise RuntimeError("the first --once failed:\n" + proc.stderr[-3000:])
        self.log("  first --once: %.1f s" % (time.monotonic() - t0))
        self.gc()
        self.n = 0
        self.log("%s fixture ready in %.0f s (%s)" % (self.size, time.monotonic() - t0,
                                                      self.du(self.src_repo)))

    @staticmethod
    def du(path):
        total = 0
        for root, _, files in os.walk(path):
            total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
        return "%.1f MB packed" % (total / 1e6)

    def close(self):
        for srv in self.servers.values():
            srv.stop()
        self.env.close()

    def gc(self):
        """git gc of every server repository (no timing)."""
        for repo in [self.src_repo] + [repo_path(self.env, "prod", "acme", a)
                                       for a in DESTS.values()]:
            git("-c", "gc.auto=0", "gc", "-q", cwd=repo)

    # --- URLs of a variant

    def url(self, variant, cluster, algo):
        owner, user, key = (("alice", ALICE, ALICE_KEY) if cluster == "dev"
                            else ("acme", CAROL, CAROL_KEY))
        if variant == "fakecluster":
            c = self.env.dev if cluster == "dev" else self.env.prod
            return c.git_url(owner, algo, user, key)
        srv = self.servers[cluster]
        base = srv.https_url if variant == "nginx-tls-h2" else srv.http_url
        return base.replace("://", "://%s:%s@" % (quote(user, safe=""), quote(key, safe=""))) \
            + "/git/%s/%s.git" % (owner, algo)

    def git_env(self, variant):
        if variant != "nginx-tls-h2":
            return None
        bundle = os.path.join(self.dir, "ca-bundle.pem")
        if not os.path.exists(bundle):
            with open(bundle, "w") as out:
                for srv in self.servers.values():
                    with open(srv.ca_file) as f:
                        out.write(f.read())
        return {"GIT_SSL_CAINFO": bundle}

    # --- the source change

    def change(self):
        """Appends a line to five text files of the source (pushed on disk)."""
        self.n += 1
        work = self.env.work[ALGO]
        for i in range(5):
            with open(os.path.join(work, "data", "t%04d.txt" % i), "a") as f:
                f.write("change %d\n" % self.n)
        git("commit", "-q", "-am", "change %d" % self.n, cwd=work)
        git("push", "-q", self.src_repo, "HEAD:master", cwd=work)

    # --- the contenders; each returns (ms, git work ms or None)

    def once(self, variant):
        t0 = time.monotonic()
        proc = subprocess.run([harness.DAEMON, "-f", self.configs[variant], "--once"],
                              env=harness.env_with(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=600)
        return (time.monotonic() - t0) * 1000, proc

    def ours(self, variant):
        ms, proc = self.once(variant)
        if proc.returncode != 0:
            raise RuntimeError("algopromoted --once failed:\n" + proc.stderr[-3000:])
        steps = STEP_RE.findall(proc.stderr)
        if not any(s == "push" for s, _ in steps):
            raise RuntimeError("algopromoted --once pushed nothing:\n" + proc.stderr[-3000:])
        return ms, float(sum(int(v) for _, v in steps))

    def seed_first(self, variant):
        scratch = os.path.join(self.dir, "seed-first")
        shutil.rmtree(scratch, ignore_errors=True)
        os.makedirs(scratch)
        src, dst = os.path.join(scratch, "src"), os.path.join(scratch, "dst")
        e = self.git_env(variant)
        t0 = time.monotonic()
        git("clone", "-q", self.url(variant, "dev", ALGO), src, env=e)
        git("clone", "-q", self.url(variant, "prod", DESTS["a"]), dst, env=e)
        for name in os.listdir(dst):
            if name != ".git":
                p = os.path.join(dst, name)
                shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.remove(p)
        for name in os.listdir(src):
            if name != ".git":
                s, d = os.path.join(src, name), os.path.join(dst, name)
                if os.path.isdir(s) and not os.path.islink(s):
                    shutil.copytree(s, d, symlinks=True)
                else:
                    shutil.copy2(s, d, follow_symlinks=False)
        git("add", "--all", cwd=dst)
        git("commit", "-q", "-m", "new version", cwd=dst)
        git("push", "-q", "origin", "HEAD:master", cwd=dst, env=e)
        shutil.rmtree(scratch)
        return (time.monotonic() - t0) * 1000, None

    def seed_repeat(self, variant):
        e = self.git_env(variant)
        api = self.env.prod.url + "/v1/algorithms/acme/%s/versions" % DESTS["b"]
        t0 = time.monotonic()
        git("pull", "-q", "--ff-only", self.url(variant, "dev", ALGO), "master",
            cwd=self.wsrc, env=e)
        run(["cp", "-R", os.path.join(self.wsrc, "data"), self.wdst])
        git("add", "--all", cwd=self.wdst)
        git("commit", "-q", "-m", "new version", cwd=self.wdst)
        git("push", "-q", self.url(variant, "prod", DESTS["b"]), "HEAD:master",
            cwd=self.wdst, env=e)
        run(["curl", "-sSf", "--noproxy", "*", "-o", "/dev/null", "-X", "POST",
             "-H", "Authorization: Simple " + CAROL_KEY, "-H", "Content-Type: application/json",
             "--data", '{"version_info": {"version_type": "minor"}}', api])
        return (time.monotonic() - t0) * 1000, None

    def cli_object(self, variant):
        e = self.git_env(variant)
        t0 = time.monotonic()
        git("fetch", "-q", self.url(variant, "dev", ALGO), "+refs/heads/master:refs/src/master",
            cwd=self.mirror, env=e)
        tree = git("rev-parse", "refs/src/master^{tree}", cwd=self.mirror)
        commit = git("commit-tree", tree, "-p", "refs/dst/c", "-m", "promote",
                     cwd=self.mirror)
        git("update-ref", "refs/dst/c", commit, cwd=self.mirror)
        git("push", "-q", self.url(variant, "prod", DESTS["c"]), "refs/dst/c:refs/heads/master",
            cwd=self.mirror, env=e)
        return (time.monotonic() - t0) * 1000, None


def measure(fx, variant, rounds, log, a_rounds):
    """{contender: {"ms": [...], "git": [...], "wire": [(req, up, down)]}};
    (a), the slowest by far, runs in the first a_rounds rounds only."""
    contenders = [("ours", fx.ours), ("a", fx.seed_first), ("b", fx.seed_repeat),
                  ("c", fx.cli_object)]
    out = {k: {"ms": [], "git": [], "wire": [], "server": []} for k, _ in contenders}
    for n in range(rounds):
        fx.change()
        for key, fn in contenders:
            if key == "a" and n >= a_rounds:
                continue
            marks = {k: s.mark() for k, s in fx.servers.items()}
            ms, git_ms = fn(variant)
            out[key]["ms"].append(ms)
            if git_ms is not None:
                out[key]["git"].append(git_ms)
            if variant != "fakecluster":
                time.sleep(0.05)   # nginx logs a request when it has ended
                entries = []
                for k, s in fx.servers.items():
                    entries += s.requests(marks[k])
                out[key]["wire"].append(gitserver.wire_totals(entries))
                out[key]["server"].append(sum(e["request_time"] for e in entries) * 1000)
        log("  %s %s round %d: %s" % (fx.size, variant, n + 1, ", ".join(
            "%s %.0f ms" % (k, out[k]["ms"][-1]) for k, _ in contenders
            if len(out[k]["ms"]) == n + 1)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", default="4,3", help="rounds for small,medium (default 4,3)")
    ap.add_argument("--quick", action="store_true", help="2 rounds small, 1 medium")
    ap.add_argument("--sizes", default="small,medium")
    ap.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = ap.parse_args()
    rounds = dict(zip(("small", "medium"), (int(r) for r in args.rounds.split(","))))
    if args.quick:
        rounds = {"small": 2, "medium": 1}

    def log(line):
        print(line, flush=True)

    rows, ratios, notes = [], [], []
    why = gitserver.missing()
    if why:
        notes.append("real git server not run: %s" % why)
    goals = {"small": 0.5, "medium": 0.1}
    for size in args.sizes.split(","):
        fx = Fixture(size, log)
        try:
            for variant in fx.configs:
                res = measure(fx, variant, rounds[size], log, A_ROUNDS[size])
                fx.gc()
                where = "%s, %s" % (size, variant)
                rows.append(bench.row("%s: %s" % (where, LABEL["ours"]), "ms", res["ours"]["ms"]))
                rows.append(bench.row("%s: algopromoted git work (fetches, commit, push)" % where,
                                      "ms", res["ours"]["git"]))
                for k in ("a", "b", "c"):
                    rows.append(bench.row("%s: %s" % (where, LABEL[k]), "ms", res[k]["ms"]))
                if variant != "fakecluster":
                    for k in ("ours", "a", "b", "c"):
                        w = res[k]["wire"]
                        name = "algopromoted" if k == "ours" else "(%s)" % k
                        rows.append(bench.row("%s: %s git requests per promotion" % (where, name),
                                              "requests", [x[0] for x in w], 0))
                        rows.append(bench.row("%s: %s bytes client->server" % (where, name),
                                              "KB", [x[1] / 1000 for x in w]))
                        rows.append(bench.row("%s: %s bytes server->client" % (where, name),
                                              "KB", [x[2] / 1000 for x in w]))
                        rows.append(bench.row("%s: %s git server's own time" % (where, name),
                                              "ms", res[k]["server"]))
                med = {k: bench.row("", "", res[k]["ms"])["median"] for k in res}
                r = med["ours"] / med["b"]
                ratios.append(bench.ratio("%s: algopromoted whole / (b) seed repeat" % where, r,
                                          "<= %g" % goals[size], r <= goals[size]))
                ratios.append(bench.ratio("%s: algopromoted whole / (a) seed first run" % where,
                                          med["ours"] / med["a"]))
                ratios.append(bench.ratio("%s: algopromoted whole / (c) git CLI object cycle"
                                          % where, med["ours"] / med["c"]))
                if variant != "fakecluster":
                    # What is left of each once the git server's own time
                    # (the same requests any promotion makes) is taken out.
                    own = {k: bench.row("", "", [m - sv for m, sv in zip(res[k]["ms"],
                                                                         res[k]["server"])])
                           ["median"] for k in ("ours", "b")}
                    ratios.append(bench.ratio("%s: algopromoted / (b) seed repeat, each "
                                              "without the git server's own time" % where,
                                              own["ours"] / own["b"]))
                    srv = {k: bench.row("", "", res[k]["server"])["median"] for k in ("ours", "b")}
                    floor = srv["ours"] / med["b"]
                    ratios.append(bench.ratio("%s: the git server's own time for algopromoted, "
                                              "as a share of (b) whole" % where, floor))
                    if floor > goals[size]:
                        notes.append("%s: the git server's own time for algopromoted's "
                                     "requests alone is %.2f of (b) whole: the goal (%g) is "
                                     "below what the server takes" % (where, floor,
                                                                      goals[size]))
                gmed = bench.row("", "", res["ours"]["git"])["median"]
                ratios.append(bench.ratio("%s: algopromoted git work / (c) git CLI object cycle"
                                          % where, gmed / med["c"]))
            notes.append("%s: %d text + %d binary files of %d bytes (%s); %d rounds"
                         % ((size,) + SIZES[size] + (fx.du(fx.src_repo), rounds[size])))
        finally:
            fx.close()
    notes.append("(a) runs in at most %d rounds on medium (two full clones each)"
                 % A_ROUNDS["medium"])
    notes.append("each round pushes a change to 5 text files of the source; every contender "
                 "promotes it to its own destination; builds take 0 s")
    notes.append("algopromoted --once includes its API work against the Python fakecluster "
                 "(create check, metadata, build wait, publish); (b) includes one publish "
                 "with curl; (a) and (c) publish nothing")
    notes.append("the git server's own time is nginx's $request_time summed over the "
                 "promotion's git requests (fcgiwrap, git http-backend, upload-pack or "
                 "receive-pack): a floor no client of that server goes under")
    notes.append("bytes are nginx's $request_length and $bytes_sent (headers included) "
                 "of every git request a promotion made to either server; API calls "
                 "(to the fakecluster) are not counted")
    cmds = ["algopromoted --once -f CONF",
            "git clone SRC; git clone DST; copy; git add --all; git commit; git push",
            "git pull; cp -R data DST; git add --all; git commit; git push; "
            "curl -X POST .../versions",
            "git fetch SRC +master:refs/src/master; git commit-tree; git push DST"]
    bench.write_part(args.json, "cycle", cmds, rows, ratios, notes)
    for r in ratios:
        print("%s: %.3f%s" % (r["what"], r["value"], "" if not r["goal"] else
                                "  (goal %s: %s)" % (r["goal"], "met" if r["met"] else "NOT met")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
