#!/usr/bin/env python3
"""A full disk, for real: the daemon's state_dir is a small file system
of its own (a tmpfs, or a btrfs image with a quota for EDQUOT) mounted in
a private mount namespace, and the disk fills while the daemon fetches
into the mirror, writes state.json or appends to versions.jsonl. Each
case ends in one error line naming the file and the errno's text, the
previous state intact, no temporary or torn file left, and the promotion
completed exactly once as soon as the space is back.

Needs root, unshare(1), nsenter(1) and mount(8); the EDQUOT case also a
loop device, mkfs.btrfs and btrfs(8) (btrfs-progs). Each is skipped with
the reason where it is missing.
"""
import ctypes
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Env, knob, wait_for  # noqa: E402

PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello"}
ROUTE = "route hello->prod/acme/Hello: "
ENOSPC = os.strerror(errno.ENOSPC)   # "No space left on device"
EDQUOT = os.strerror(errno.EDQUOT)   # "Disk quota exceeded"
PAGE = os.sysconf("SC_PAGESIZE")    # a tmpfs gives files whole pages
# How long the publish answer is held back: the window in which the test
# fills the disk, after the daemon has saved the "publishing" state.
HOLD_MS = 1500


def why_not_namespaces():
    """None where a private mount namespace with a tmpfs can be made."""
    if os.geteuid() != 0:
        return "needs root to mount a file system in a private mount namespace"
    for tool in ("unshare", "nsenter", "mount"):
        if shutil.which(tool) is None:
            return "needs %s(1)" % tool
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "mount", "-t",
                           "tmpfs", "-o", "size=64k", "tmpfs", tempfile.gettempdir()],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        return "cannot mount a tmpfs in a private mount namespace: %s" % proc.stdout.strip()
    return None


NO_NAMESPACES = why_not_namespaces()


def why_not_btrfs():
    if NO_NAMESPACES:
        return NO_NAMESPACES
    for tool in ("mkfs.btrfs", "btrfs", "losetup"):
        if shutil.which(tool) is None:
            return "needs %s (btrfs-progs, util-linux) for a quota that gives EDQUOT" % tool
    if not os.path.exists("/dev/loop-control"):
        return "needs a loop device (/dev/loop-control) for the btrfs image"
    return None


NO_BTRFS = why_not_btrfs()


def die_with_parent():
    """In a child: SIGKILL when the test dies, however it dies, so that
    no namespace (and no loop device) outlives it."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Disk:
    """A file system only the processes run through run() see: mounted in
    a private mount namespace that a sleeping holder process keeps alive.
    The test reaches into it through /proc/HOLDER/root; the mount goes
    with the namespace when close() kills the holder."""

    def __init__(self, mountpoint):
        self.mountpoint = mountpoint
        self.fillers = []
        os.makedirs(mountpoint, exist_ok=True)
        mine = os.readlink("/proc/self/ns/mnt")
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private",
                                        "sleep", "infinity"], preexec_fn=die_with_parent)
        ns = "/proc/%d/ns/mnt" % self.holder.pid

        def own_namespace():
            if self.holder.poll() is not None:
                raise AssertionError("unshare exited with %d" % self.holder.returncode)
            return os.readlink(ns) != mine
        try:
            wait_for(own_namespace, timeout=10, what="the holder's own mount namespace")
        except BaseException:
            self.close()
            raise

    def run(self, *argv, check=True, **kw):
        """argv run inside the namespace."""
        proc = subprocess.run(self.nsenter(argv), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=60, **kw)
        if check and proc.returncode != 0:
            raise AssertionError("%s failed: %s" % (" ".join(argv), proc.stderr))
        return proc

    def nsenter(self, argv):
        return ["nsenter", "-t", str(self.holder.pid), "-m", "--"] + list(argv)

    def path(self, path):
        """path as the namespace sees it, reachable from outside."""
        return "/proc/%d/root%s" % (self.holder.pid, os.path.abspath(path))

    def free(self):
        st = os.statvfs(self.path(self.mountpoint))
        return st.f_bavail * st.f_frsize

    def fill(self, leave=0):
        """Takes all free space but `leave` bytes (a multiple of a page)."""
        path = self.path(os.path.join(self.mountpoint, "filler-%d" % len(self.fillers)))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.posix_fallocate(fd, 0, self.free() - leave)
        finally:
            os.close(fd)
        self.fillers.append(path)
        if self.free() != leave:
            raise AssertionError("%d bytes free, not %d" % (self.free(), leave))

    def fill_inodes(self):
        """Takes every free inode: the next file created is ENOSPC."""
        top = self.path(os.path.join(self.mountpoint, "inodes"))
        os.mkdir(top)
        self.fillers.append(top)
        n = 0
        while True:
            try:
                os.close(os.open(os.path.join(top, str(n)), os.O_WRONLY | os.O_CREAT, 0o600))
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                return n
            n += 1

    def unfill(self):
        for path in self.fillers:
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        self.fillers = []

    def close(self):
        if self.holder.poll() is None:
            self.holder.kill()
        self.holder.wait()


class FullDisk(unittest.TestCase):
    def setUp(self):
        if NO_NAMESPACES:
            raise unittest.SkipTest(NO_NAMESPACES)
        self.env = Env(build_seconds=0.05)
        self.disk = None
        self.addCleanup(self.cleanup)
        self.env.create_source()
        self.env.write_config([PAIR])
        self.rdir = self.env.route_dir("hello", "prod/acme/Hello")
        self.prod_posts = 0

    def cleanup(self):
        env = self.env
        try:
            if self.disk is not None:
                # The secret scan looks at the state_dir the daemon saw.
                outside, env.state = env.state, self.disk.path(env.state)
                try:
                    leaks = env.scan_for_secrets()
                finally:
                    env.state = outside
                self.assertEqual(leaks, [])
        finally:
            if self.disk is not None:
                self.disk.close()
            env.close()

    def mount_btrfs(self):
        """A btrfs image with quotas on: a qgroup limit gives EDQUOT to
        root as well (tmpfs and ext4 quotas need CONFIG_QUOTA). The limit
        is on state_dir/routes, a subvolume of its own, so that the test
        can lift it through the unlimited top: changing a limit takes a
        transaction, which a full qgroup refuses."""
        image = os.path.join(self.env.dir, "state.btrfs")
        with open(image, "wb") as f:
            f.truncate(128 << 20)
        proc = subprocess.run(["mkfs.btrfs", "-q", image], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            self.skipTest("mkfs.btrfs failed: %s" % proc.stdout.strip())
        self.disk = Disk(self.env.state)
        proc = self.disk.run("mount", "-o", "loop", image, self.env.state, check=False)
        if proc.returncode != 0:
            self.skipTest("cannot mount a btrfs image: %s" % proc.stderr.strip())
        routes = os.path.join(self.env.state, "routes")
        self.disk.run("chmod", "0700", self.env.state)
        self.disk.run("btrfs", "quota", "enable", self.env.state)
        self.disk.run("btrfs", "subvolume", "create", routes)
        self.disk.run("chmod", "0700", routes)
        self.qgroup = "0/" + self.disk.run("btrfs", "inspect-internal", "rootid",
                                           routes).stdout.strip()

    def quota(self, limit):
        """Limits state_dir/routes to limit bytes ("none": no limit)."""
        self.disk.run("btrfs", "qgroup", "limit", str(limit), self.qgroup, self.env.state)

    def used(self):
        """The bytes state_dir/routes holds, once all is on disk."""
        self.disk.run("btrfs", "filesystem", "sync", self.env.state)
        out = self.disk.run("btrfs", "qgroup", "show", "--raw", self.env.state).stdout
        for line in out.splitlines():
            if line.split()[:1] == [self.qgroup]:
                return int(line.split()[1])
        raise AssertionError("no qgroup %s in %s" % (self.qgroup, out))

    def mount_tmpfs(self, options="size=8m"):
        self.disk = Disk(self.env.state)
        self.disk.run("mount", "-t", "tmpfs", "-o", "mode=0700," + options, "tmpfs",
                      self.env.state)

    # --- the daemon, run inside the namespace ----------------------------

    def start(self):
        return subprocess.Popen(self.disk.nsenter([harness.DAEMON, "-f", self.env.config,
                                                   "--once"]),
                                env=harness.env_with(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def finish(self, proc):
        out, err = proc.communicate(timeout=120)
        self.env.logs.append(out + err)
        return proc.returncode, err

    def once(self):
        return self.finish(self.start())

    def promote(self, files):
        """A source commit promoted with space to spare; its sha."""
        sha = self.env.commit(files=files)
        rc, log = self.once()
        self.assertEqual(rc, 0, log)
        return sha

    # --- what the daemon left -------------------------------------------

    def file(self, name):
        return self.disk.path(os.path.join(self.rdir, name))

    def read(self, name):
        with open(self.file(name), "rb") as f:
            return f.read()

    def state(self):
        return json.loads(self.read("state.json"))

    def map_lines(self):
        """The map's lines, each asserted whole JSON ending in a newline."""
        if not os.path.exists(self.file("versions.jsonl")):
            return []
        data = self.read("versions.jsonl")
        self.assertTrue(data == b"" or data.endswith(b"\n"), "torn last line: %r" % data)
        return [json.loads(line) for line in data.decode().splitlines()]

    def errors(self, log):
        """The log's error and warning lines, without their time stamps."""
        return [line.split(" ", 1)[1] for line in log.splitlines()
                if re.match(r"\S+ (error|warning): ", line)]

    def assert_no_leftovers(self):
        """No state.json.XXXXXX, no half-received pack or object, no
        lock file, anywhere in the route."""
        left = []
        for root, _, files in os.walk(self.disk.path(self.rdir)):
            left += [os.path.join(root, f) for f in files
                     if re.fullmatch(r"(state\.json|versions\.jsonl)\.\w{6}", f)
                     or f.startswith(("pack_git2_", "tmp_")) or f.endswith(".lock")]
        self.assertEqual(left, [])

    def hold_publish(self):
        """The destination holds its answer to the next publish HOLD_MS
        back, then serves it: the daemon has saved the "publishing" state
        and waits; the test fills the disk meanwhile."""
        knob(self.env.prod, "POST", "/_fault",
             {"method": "POST", "path": "^/v1/algorithms/acme/Hello/versions$",
              "delay_ms": HOLD_MS, "count": 1})

    def promote_filling_at_publish(self, sha, fill):
        """Runs the daemon on sha; once it has saved "publishing", calls
        fill(). Returns (rc, log, state.json's bytes at that moment)."""
        self.hold_publish()
        proc = self.start()
        try:
            wait_for(lambda: os.path.exists(self.file("state.json"))
                     and self.state()["phase"] == "publishing"
                     and self.state()["pending"]["source_commit"] == sha,
                     timeout=30, what="the publishing state")
            before = self.read("state.json")
            fill()
        except BaseException:
            proc.kill()
            self.finish(proc)
            raise
        rc, log = self.finish(proc)
        return rc, log, before

    def assert_completes(self, shas):
        """With space back, one run promotes the newest source commit:
        each source commit published exactly once, mapped once, in order,
        and the route idle."""
        rc, log = self.once()
        self.assertEqual(rc, 0, log)
        self.assertEqual(self.errors(log), [])
        versions = self.env.prod_versions()
        entries = self.map_lines()
        self.assertEqual([e["source_commit"] for e in entries], shas)
        self.assertEqual(len(versions), len(shas), versions)
        self.assertEqual(sorted((e["dest_version"], e["dest_commit"]) for e in entries),
                         sorted(versions))
        st = self.state()
        self.assertEqual((st["phase"], st["last"]["source_commit"], st["error"]),
                         ("idle", shas[-1], None))
        self.assertIsNone(st["pending"]["source_commit"])
        self.assert_no_leftovers()

    # --- the cases --------------------------------------------------------

    def test_mirror_fetch(self):
        """A 3 MB source commit on a disk with 512 KiB left: libgit2 cannot
        write the pack; the half-received pack goes, the state says the
        same as before (plus the error), the map is untouched."""
        self.mount_tmpfs()
        sha1 = self.promote({"src/Hello.py": "v1\n"})
        state1, map1 = self.state(), self.read("versions.jsonl")
        sha2 = self.env.commit(files={"data.bin": os.urandom(3 << 20)})
        self.disk.fill(leave=512 << 10)
        rc, log = self.once()
        self.assertEqual(rc, 1, log)
        mirror = os.path.join(self.rdir, "mirror.git")
        errors = self.errors(log)
        self.assertEqual(len(errors), 1, log)
        self.assertRegex(errors[0], r"^error: %sfetching source: fetch \S+/git/alice/Hello\.git "
                         r"download: cannot extend packfile '%s/objects/pack/pack_git2_\w+': %s$"
                         % (re.escape(ROUTE), re.escape(mirror), ENOSPC))
        st = self.state()
        self.assertEqual(st["error"], errors[0].split(ROUTE, 1)[1])
        for key in ("phase", "last", "pending", "failed_source_commit"):
            self.assertEqual(st[key], state1[key], key)
        self.assertEqual(self.read("versions.jsonl"), map1)
        self.assert_no_leftovers()
        self.assertEqual(len(self.env.prod_versions()), 1)
        self.disk.unfill()
        self.assert_completes([sha1, sha2])

    def test_state_write(self):
        """The disk fills while the publish is in flight: the map line
        still fits in the map's last page, the final state.json's temp
        file gets no page. state.json stays the "publishing" one, byte for
        byte; the next run sees the version published and only records."""
        self.mount_tmpfs()
        sha1 = self.promote({"src/Hello.py": "v1\n"})
        sha2 = self.env.commit(files={"src/Hello.py": "v2\n"})
        rc, log, before = self.promote_filling_at_publish(sha2, self.disk.fill)
        self.assertEqual(rc, 1, log)
        errors = self.errors(log)
        self.assertEqual(len(errors), 1, log)
        self.assertRegex(errors[0], r"^error: %ssaving state: write %s\.\w{6}: %s$"
                         % (re.escape(ROUTE), re.escape(os.path.join(self.rdir, "state.json")),
                            ENOSPC))
        self.assertEqual(self.read("state.json"), before)
        self.assertEqual([e["source_commit"] for e in self.map_lines()], [sha1, sha2])
        self.assert_no_leftovers()
        self.assertEqual(len(self.env.prod_versions()), 2)
        self.disk.unfill()
        self.assert_completes([sha1, sha2])

    def test_state_write_without_inodes(self):
        """The same with every inode taken instead of every page: the temp
        file cannot even be created."""
        self.mount_tmpfs("size=8m,nr_inodes=200")
        sha1 = self.promote({"src/Hello.py": "v1\n"})
        sha2 = self.env.commit(files={"src/Hello.py": "v2\n"})
        rc, log, before = self.promote_filling_at_publish(sha2, self.disk.fill_inodes)
        self.assertEqual(rc, 1, log)
        errors = self.errors(log)
        self.assertEqual(len(errors), 1, log)
        self.assertRegex(errors[0], r"^error: %ssaving state: create %s\.\w{6}: %s$"
                         % (re.escape(ROUTE), re.escape(os.path.join(self.rdir, "state.json")),
                            ENOSPC))
        self.assertEqual(self.read("state.json"), before)
        self.assertEqual([e["source_commit"] for e in self.map_lines()], [sha1, sha2])
        self.assert_no_leftovers()
        self.disk.unfill()
        self.assert_completes([sha1, sha2])

    def test_new_map(self):
        """The route's first promotion, the disk full after the publish:
        versions.jsonl cannot get its first page. Nothing of the line is
        left; the next run records the published version once."""
        self.mount_tmpfs()
        sha1 = self.env.commit(files={"src/Hello.py": "v1\n"})
        rc, log, before = self.promote_filling_at_publish(sha1, self.disk.fill)
        self.assertEqual(rc, 1, log)
        errors = self.errors(log)
        self.assertEqual(len(errors), 1, log)
        self.assertEqual(errors[0], "error: %swriting version map: append to %s: %s"
                         % (ROUTE, os.path.join(self.rdir, "versions.jsonl"), ENOSPC))
        self.assertEqual(self.map_lines(), [])
        self.assertEqual(self.read("state.json"), before)
        self.assert_no_leftovers()
        self.assertEqual(len(self.env.prod_versions()), 1)
        self.disk.unfill()
        self.assert_completes([sha1])

    def test_map_line_across_a_page(self):
        """Promotions until the map's next line would cross into a page
        it does not have yet; then the disk fills at publish. The write
        gets the part that fits in the last page, then ENOSPC: the map is
        cut back to its old size, no torn line."""
        self.mount_tmpfs()
        shas = [self.promote({"src/Hello.py": "v1\n"})]
        line = len(self.read("versions.jsonl"))
        while len(self.read("versions.jsonl")) % PAGE + line <= PAGE:
            shas.append(self.promote({"src/Hello.py": "v%d\n" % (len(shas) + 1)}))
        map1 = self.read("versions.jsonl")
        sha = self.env.commit(files={"src/Hello.py": "last\n"})
        rc, log, before = self.promote_filling_at_publish(sha, self.disk.fill)
        self.assertEqual(rc, 1, log)
        errors = self.errors(log)
        self.assertEqual(len(errors), 1, log)
        self.assertEqual(errors[0], "error: %swriting version map: append to %s: %s"
                         % (ROUTE, os.path.join(self.rdir, "versions.jsonl"), ENOSPC))
        self.assertEqual(self.read("versions.jsonl"), map1)
        self.assertEqual(self.read("state.json"), before)
        self.assert_no_leftovers()
        self.disk.unfill()
        self.assert_completes(shas + [sha])


    @unittest.skipIf(NO_BTRFS, NO_BTRFS)
    def test_quota(self):
        """EDQUOT: the state_dir's quota reached while the publish is in
        flight. btrfs writes every change anew, so the map's next line
        needs room whatever the page: the map append is what fails."""
        self.mount_btrfs()
        sha1 = self.promote({"src/Hello.py": "v1\n"})
        sha2 = self.env.commit(files={"src/Hello.py": "v2\n"})
        rc, log, before = self.promote_filling_at_publish(
            sha2, lambda: self.quota(self.used()))
        self.assertEqual(rc, 1, log)
        errors = self.errors(log)
        self.assertEqual(len(errors), 1, log)
        self.assertEqual(errors[0], "error: %swriting version map: append to %s: %s"
                         % (ROUTE, os.path.join(self.rdir, "versions.jsonl"), EDQUOT))
        self.assertEqual([e["source_commit"] for e in self.map_lines()], [sha1])
        self.assertEqual(self.read("state.json"), before)
        self.assert_no_leftovers()
        self.quota("none")
        self.assert_completes([sha1, sha2])


if __name__ == "__main__":
    harness.main()
