#!/usr/bin/env python3
"""Emulated Algorithmia cluster: the management API and hosted data under /v1, git smart
HTTP under /git.

One process per cluster, bound to 127.0.0.1, Python 3 standard library plus the git CLI.
README.md next to this file documents the endpoints, the test knobs and the choices made
where Algorithmia's public documentation is silent.
"""

import argparse
import base64
import binascii
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from fakecluster_data import DataApi, DataError, DataStore, data_path, error_json

# Built-in users when no --users file is given. Keys have the shape of real ones
# (28 characters, "sim" prefix, base64 alphabet with both '+' and '/'), so a client
# that does not URL-encode them in git URLs fails here as it would have in production.
DEFAULT_USERS = (
    {"name": "alice", "key": "simA1iceTestKey+x9/Qw3Lz7Rb2", "orgs": ["acme"]},
    {"name": "bob", "key": "simB0bTestKey+Uv5/Hn8Kp1Tc4Y", "orgs": []},
)

STATE_FORMAT = 1
MAX_API_BODY = 10 * 1024 * 1024
DATA_CHUNK = 256 * 1024  # a data GET's answer is read from disk and sent in these
DEFAULT_LIMIT = 50
ALGO_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
ACCOUNT_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
SEMVER_RE = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
GIT_PATH_RE = re.compile(
    r"/git/(?P<owner>[^/]+)/(?P<algo>[^/]+?)(?:/(?P<version>[^/]+))?\.git(?P<rest>/.*)")
TEMPLATE_AUTHOR = "Algorithmia <noreply@algorithmia.com>"
INTERNAL_SCM = {"id": "internal", "provider": "internal", "default": True, "enabled": True}
CREATE_DEFAULT_SETTINGS = {
    "source_visibility": "open",
    "license": "apl",
    "network_access": "isolated",
    "pipeline_enabled": False,
    "insights_enabled": False,
    "royalty_microcredits": 0,
}
SETTING_CHOICES = {
    "algorithm_callability": {"private", "public"},
    "source_visibility": {"open", "closed"},
    "license": {"apl", "apache2", "gpl3", "mit"},
    "network_access": {"full", "isolated"},
    "environment": {"cpu", "gpu"},
}
BOOL_SETTINGS = ("pipeline_enabled", "insights_enabled")
LANGUAGES = {"java", "javascript", "python2-langpack", "python3-1", "python3", "r",
             "ruby", "rust", "scala"}
VERSION_TYPES = {"major": "major", "minor": "minor", "default": "minor",
                 "revision": "revision", "patch": "revision"}
PUBLISH_TEXT_FIELDS = ("release_notes", "sample_input", "sample_output")
UPDATE_REQUIRED_SETTINGS = ("license", "network_access", "pipeline_enabled", "source_visibility")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
              "content-length", "te", "trailer", "upgrade"}
PRE_RECEIVE_HOOK = """#!/bin/sh
# fakecluster: Algorithmia builds master only; every other ref is refused.
status=0
while read -r old new ref; do
	if [ "$ref" != refs/heads/master ]; then
		echo "fakecluster: refusing $ref: only pushes to master are accepted" >&2
		status=1
	fi
done
exit $status
"""
# Appended to a new repository's config: history is append-only, as on Algorithmia.
REPO_CONFIG = """[receive]
	denyNonFastForwards = true
	denyDeletes = true
[core]
	logAllRefUpdates = false
[gc]
	auto = 0
[http]
	receivepack = true
"""


class ApiError(Exception):
    """An error answer: HTTP status, Algorithmia error code, message, extra headers."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def iso_time(t):
    """Epoch seconds as Algorithmia's timestamps: 2022-05-08T22:43:09.050Z."""
    stamp = datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def write_atomic(path, data):
    """Replace path with data: temp file in the same directory, fsync, rename, fsync dir."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".state.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def git_env(home, **extra):
    """Environment for every git process: no user or system config, any repo owner."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "safe.directory",
        "GIT_CONFIG_VALUE_0": "*",
    }
    env.update(extra)
    return env


# ---------------------------------------------------------------------------------------
# Users


@dataclass(frozen=True)
class User:
    name: str
    key: str
    orgs: frozenset

    def can_access(self, owner):
        """A key reaches its user's algorithms and those of the user's orgs."""
        return owner == self.name or owner in self.orgs


def load_users(entries):
    """Validate users-file entries; returns {key: User}. Raises ValueError."""
    users, names, orgs = {}, set(), set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError("each user must be an object")
        name, key, member_of = entry.get("name"), entry.get("key"), entry.get("orgs", [])
        if not isinstance(name, str) or not ACCOUNT_NAME_RE.fullmatch(name):
            raise ValueError("bad user name %r" % (name,))
        if not isinstance(key, str) or not key or any(c.isspace() for c in key):
            raise ValueError("user %s: key must be a non-empty string without spaces" % name)
        if not isinstance(member_of, list) or not all(
                isinstance(o, str) and ACCOUNT_NAME_RE.fullmatch(o) for o in member_of):
            raise ValueError("user %s: orgs must be a list of names" % name)
        if name in names or key in users:
            raise ValueError("user %s: duplicate name or key" % name)
        names.add(name)
        orgs.update(member_of)
        users[key] = User(name, key, frozenset(member_of))
    if names & orgs:
        raise ValueError("names used both as user and org: %s" % ", ".join(sorted(names & orgs)))
    return users


def read_users_file(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not isinstance(data.get("users"), list):
        raise ValueError('users file must be {"users": [...]}')
    return load_users(data["users"])


# ---------------------------------------------------------------------------------------
# Persistent state: DIR/state.json plus bare repositories under DIR/repos


class Store:
    """Algorithm records in DIR/state.json and their bare repos in DIR/repos.

    Lock order: a repo lock (serialises pushes, create and delete of one algorithm)
    before `lock` (guards the records). Records are plain JSON values; a record's
    details/settings dicts are replaced, never mutated, so rendered answers stay valid.
    """

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.repos = os.path.join(self.root, "repos")
        self.path = os.path.join(self.root, "state.json")
        self.lock = threading.RLock()
        self._repo_locks = {}
        os.makedirs(self.repos, exist_ok=True)
        self.algorithms = self._load()

    def _load(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except ValueError as e:
            raise ValueError("%s: %s" % (self.path, e)) from None
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ValueError("%s: not a fakecluster state file (format %d)"
                             % (self.path, STATE_FORMAT))
        return data["algorithms"]

    def save(self):
        data = {"format": STATE_FORMAT, "algorithms": self.algorithms}
        write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True).encode())

    def repo_lock(self, owner, name):
        with self.lock:
            return self._repo_locks.setdefault((owner, name), threading.Lock())

    def get(self, owner, name):
        return self.algorithms.get("%s/%s" % (owner, name))

    def put(self, rec):
        self.algorithms["%s/%s" % (rec["owner"], rec["name"])] = rec
        self.save()

    def remove(self, owner, name):
        del self.algorithms["%s/%s" % (owner, name)]
        self.save()
        self.remove_repos(owner, name)

    def wipe(self):
        self.algorithms = {}
        self.save()
        shutil.rmtree(self.repos)
        os.makedirs(self.repos)

    def repo_path(self, owner, name):
        return os.path.join(self.repos, owner, name + ".git")

    def version_repo_path(self, owner, name, semver):
        return os.path.join(self.repos, owner, name, semver + ".git")

    def remove_repos(self, owner, name):
        shutil.rmtree(self.repo_path(owner, name), ignore_errors=True)
        shutil.rmtree(os.path.join(self.repos, owner, name), ignore_errors=True)

    def run_git(self, git_dir, *args, stdin=None):
        return subprocess.run(["git", "--git-dir=" + git_dir, *args], input=stdin,
                              capture_output=True, env=git_env(self.root))

    def git(self, git_dir, *args, stdin=None):
        """Run git on a bare repo; returns stdout (bytes). Raises RuntimeError."""
        proc = self.run_git(git_dir, *args, stdin=stdin)
        if proc.returncode != 0:
            raise RuntimeError("git %s failed: %s"
                               % (args[0], proc.stderr.decode(errors="replace")))
        return proc.stdout

    def _init_bare(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.git(path, "init", "--bare", "--quiet", "--template=", "--initial-branch=master")

    def init_repo(self, owner, name):
        """Bare repo with Algorithmia's settings, pre-receive hook and template commit."""
        path = self.repo_path(owner, name)
        self.remove_repos(owner, name)  # leftovers of a crash between repo and record
        self._init_bare(path)
        with open(os.path.join(path, "config"), "a", encoding="utf-8") as f:
            f.write(REPO_CONFIG)
        hooks = os.path.join(path, "hooks")
        os.makedirs(hooks, exist_ok=True)
        hook = os.path.join(hooks, "pre-receive")
        with open(hook, "w", encoding="utf-8") as f:
            f.write(PRE_RECEIVE_HOOK)
        os.chmod(hook, 0o755)
        self.git(path, "fast-import", "--quiet", stdin=template_import(owner, name, time.time()))

    def head(self, owner, name):
        """Commit id of master, or None. Read from the ref files as git
        writes them (a lock file renamed over the loose ref; packed-refs
        behind it), without a git process per API request (--notice-pushes
        asks on every one); anything else is git's to answer."""
        path = self.repo_path(owner, name)
        sha = read_ref_file(path, "refs/heads/master")
        if sha is not None:
            return sha
        proc = self.run_git(path, "rev-parse", "--quiet", "--verify",
                            "refs/heads/master^{commit}")
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def has_root_file(self, owner, name, commit, filename):
        proc = self.run_git(self.repo_path(owner, name), "cat-file", "-t",
                            "%s:%s" % (commit, filename))
        return proc.returncode == 0 and proc.stdout.strip() == b"blob"

    def add_version_repo(self, owner, name, semver, commit):
        """Read-only repo for a published version: master = that commit, objects borrowed
        (relative alternates) from the algorithm's repo, which never loses objects."""
        path = self.version_repo_path(owner, name, semver)
        shutil.rmtree(path, ignore_errors=True)
        self._init_bare(path)
        with open(os.path.join(path, "config"), "a", encoding="utf-8") as f:
            f.write("[http]\n\treceivepack = false\n")
        objects = os.path.join(path, "objects")
        source = os.path.join(self.repo_path(owner, name), "objects")
        with open(os.path.join(objects, "info", "alternates"), "w", encoding="utf-8") as f:
            f.write(os.path.relpath(source, objects) + "\n")
        self.git(path, "update-ref", "refs/heads/master", commit)


HEX40 = re.compile(r"^[0-9a-f]{40}$")


def read_ref_file(git_dir, ref):
    """ref's id from git_dir's loose ref, else its packed-refs line; None
    when neither names a plain id (missing, symbolic, or unreadable)."""
    try:
        with open(os.path.join(git_dir, ref), encoding="ascii") as f:
            sha = f.read().strip()
        return sha if HEX40.match(sha) else None
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError):
        return None
    try:
        with open(os.path.join(git_dir, "packed-refs"), encoding="ascii") as f:
            for line in f:
                sha, _, name = line.rstrip("\n").partition(" ")
                if name == ref and HEX40.match(sha):
                    return sha
    except (OSError, UnicodeDecodeError):
        pass
    return None


def template_import(owner, name, when):
    """git fast-import stream of the Python 3 template commit on master."""
    files = [
        ("algorithmia.conf", json.dumps(
            {"username": owner, "algoname": name, "langauge": "python3.7"}, indent=4) + "\n"),
        ("requirements.txt", "algorithmia>=1.0.0,<2.0\n"),
        ("src/__init__.py", ""),
        ("src/%s.py" % name,
         "from Algorithmia import ADK\n\n\n"
         "# API calls begin at the apply() function, with the request body passed as 'input'.\n"
         "def apply(input):\n"
         "    return \"hello {}\".format(str(input))\n\n\n"
         "algorithm = ADK(apply)\n"
         "algorithm.init(\"Algorithmia\")\n"),
        ("src/%s_test.py" % name,
         "from . import %s\n\n\n"
         "def test_%s():\n"
         "    assert %s.apply(\"Jane\") == \"hello Jane\"\n" % (name, name, name)),
        (".adk", ""),
    ]

    def data(text):
        raw = text.encode()
        return b"data %d\n%s\n" % (len(raw), raw)

    stamp = "%s %d +0000" % (TEMPLATE_AUTHOR, int(when))
    out = [b"commit refs/heads/master\n",
           ("author %s\ncommitter %s\n" % (stamp, stamp)).encode(),
           data("Initial commit of %s/%s from the Python 3 template" % (owner, name))]
    for path, text in files:
        out.append(b"M 100644 inline %s\n" % path.encode())
        out.append(data(text))
    return b"".join(out)


# ---------------------------------------------------------------------------------------
# JSON views of builds, versions and algorithms


def build_status(build, now):
    if now < build["finishes_at"]:
        return "in-progress"
    return "failed" if build["fails"] else "succeeded"


def build_json(build, now):
    status = build_status(build, now)
    out = {
        "build_id": build["build_id"],
        "status": status,
        "commit_sha": build["commit_sha"],
        "started_at": iso_time(build["started_at"]),
        "finished_at": None if status == "in-progress" else iso_time(build["finishes_at"]),
        "resource_type": "algorithm_build",
    }
    if build["published"]:
        out["version_info"] = {"semantic_version": build["published"]["semantic_version"]}
    return out


def build_logs(rec, build):
    target = "algo://%s/%s/%s" % (rec["owner"], rec["name"], build["commit_sha"])
    lines = ["Building %s" % target,
             "Checked out commit %s" % build["commit_sha"],
             "Installing dependencies from requirements.txt"]
    if build["fails"]:
        lines += ["Found BUILD_FAIL at the repository root: failing this build",
                  "Build failed for %s" % target]
    else:
        lines += ["Build successful for %s" % target]
    return "\n".join(lines) + "\n"


def algorithm_base(rec):
    return {
        "id": rec["id"],
        "name": rec["name"],
        "details": rec["details"],
        "settings": rec["settings"],
        "source": {"scm": INTERNAL_SCM},
        "resource_type": "algorithm",
    }


def version_fields(rec, build, base_url, now):
    info = {"git_hash": build["commit_sha"], "version_uuid": build["version_uuid"]}
    if build["published"]:
        info.update(build["published"])
    status = build_status(build, now)
    return {
        "version_info": info,
        "build": build_json(build, now),
        "compilation": {"successful": status == "succeeded",
                        "output": "" if status == "in-progress" else build_logs(rec, build)},
        "self_link": "%s/v1/algorithms/%s/%s/versions/%s"
                     % (base_url, rec["owner"], rec["name"], build["commit_sha"]),
    }


def version_json(rec, build, base_url, now):
    out = algorithm_base(rec)
    out.update(version_fields(rec, build, base_url, now))
    return out


def algorithm_json(rec, base_url, now, focus=None):
    """The algorithm object. Its version part describes `focus`, by default the latest
    published version, else the latest successful build; `build` is the latest build."""
    builds = rec["builds"]
    if focus is None:
        focus = next((b for b in reversed(builds) if b["published"]), None) or next(
            (b for b in reversed(builds) if build_status(b, now) == "succeeded"), None)
    out = algorithm_base(rec)
    if focus is not None:
        out.update(version_fields(rec, focus, base_url, now))
    if builds:
        out["build"] = build_json(builds[-1], now)
    return out


# ---------------------------------------------------------------------------------------
# Request validation helpers


def json_object(body):
    """Parse a request body that must be a JSON object; an empty body is {}."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError) as e:
        raise ApiError(400, 2013, "Invalid JSON: %s" % e) from None
    if not isinstance(value, dict):
        raise ApiError(400, 2015, "The request body must be a JSON object")
    return value


def member_object(obj, name):
    value = obj.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, 2015, "'%s' must be an object" % name)
    return value


def check_settings(settings):
    """Validate a complete settings object (after defaults or merging)."""
    for name, choices in SETTING_CHOICES.items():
        if name in settings and settings[name] not in choices:
            raise ApiError(400, 2015, "settings.%s must be one of %s"
                           % (name, ", ".join(sorted(choices))))
    for name in BOOL_SETTINGS:
        if name in settings and not isinstance(settings[name], bool):
            raise ApiError(400, 2015, "settings.%s must be a boolean" % name)
    royalty = settings.get("royalty_microcredits", 0)
    if type(royalty) is not int or royalty < 0:
        raise ApiError(400, 2015, "settings.royalty_microcredits must be a non-negative integer")
    language = settings.get("language")
    if language is not None:
        if language not in LANGUAGES:
            raise ApiError(400, 4001, "Unknown algorithm language %r" % (language,))
        if "environment" not in settings:
            raise ApiError(400, 2015, "settings.environment is required with settings.language")
    elif not any(isinstance(settings.get(k), str) and settings[k]
                 for k in ("package_set", "algorithm_environment")):
        raise ApiError(400, 4001, "Unknown algorithm language: settings need language and "
                                  "environment, package_set or algorithm_environment")
    if settings.get("source_visibility") == "closed" and settings.get("license") != "apl":
        raise ApiError(400, 2015, "Closed source requires the apl license")


def query_bool(query, name):
    value = query.get(name)
    if value is None:
        return None
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ApiError(400, 2015, "%s must be true or false" % name)


def encode_marker(build_id):
    raw = json.dumps({"after": build_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_marker(marker):
    try:
        raw = base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4))
        after = json.loads(raw)["after"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise ApiError(400, 5002, "Invalid marker") from None
    if not isinstance(after, str):
        raise ApiError(400, 5002, "Invalid marker")
    return after


def semver_tuple(text):
    return tuple(int(part) for part in text.split("."))


def next_version(last, kind):
    major, minor, patch = last or (0, 0, 0)
    if kind == "major":
        return (major + 1, 0, 0)
    if kind == "minor":
        return (major, minor + 1, 0)
    return (major, minor, patch + 1)


# ---------------------------------------------------------------------------------------
# Management API


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern
    handler: str
    locking: str  # "store": records lock; "repo": repo lock then records; "self": handler locks


ALGO_PATH = r"/v1/algorithms/(?P<owner>[^/]+)/(?P<algo>[^/]+)"
ROUTES = [Route(m, re.compile(p), h, lk) for m, p, h, lk in (
    ("POST", r"/v1/algorithms/(?P<owner>[^/]+)", "create", "self"),
    ("GET", ALGO_PATH, "get_algorithm", "store"),
    ("PUT", ALGO_PATH, "update", "store"),
    ("DELETE", ALGO_PATH, "delete", "repo"),
    ("POST", ALGO_PATH + "/compile", "compile", "repo"),
    ("POST", ALGO_PATH + "/versions?", "publish", "store"),
    ("GET", ALGO_PATH + "/versions", "list_versions", "store"),
    ("GET", ALGO_PATH + "/versions/(?P<ref>[^/]+)", "get_version", "store"),
    ("GET", ALGO_PATH + "/builds", "list_builds", "store"),
    ("GET", ALGO_PATH + "/builds/(?P<build_id>[^/]+)", "get_build", "store"),
    ("GET", ALGO_PATH + "/builds/(?P<build_id>[^/]+)/logs", "get_build_logs", "store"),
    ("GET", ALGO_PATH + "/scm/status", "scm_status", "store"),
)]


class Api:
    """Algorithmia's management API semantics over a Store."""

    def __init__(self, store, users, build_seconds, page_size, exists_status, notfound_style,
                 notice_pushes=False):
        self.store = store
        # Another git server (e.g. tests/tools/gitserver.py) shares DIR/repos: a master
        # head it moved is built when an API call next looks at the algorithm.
        self.notice_pushes = notice_pushes
        self.users = users
        self.build_seconds = build_seconds
        self.page_size = page_size
        self.exists_status = exists_status
        self.notfound_style = notfound_style

    # -- plumbing

    def key_user(self, header):
        """The User of `Authorization: Simple KEY` or a bare KEY, or None."""
        parts = (header or "").split()
        if len(parts) == 2 and parts[0].lower() == "simple":
            return self.users.get(parts[1])
        if len(parts) == 1:
            return self.users.get(parts[0])
        return None

    def authenticate(self, header):
        """key_user(), or 401 code 2002."""
        user = self.key_user(header)
        if user is None:
            raise ApiError(401, 2002, "Unknown or invalid API key")
        return user

    def dispatch(self, method, url, authorization, body, base_url):
        """Answer one /v1 request: returns (status, JSON value or None)."""
        user = self.authenticate(authorization)
        route, params = self._route(method, url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        req = SimpleNamespace(user=user, params=params, query=query, body=body,
                              base_url=base_url, path=url.path, now=time.time())
        handler = getattr(self, route.handler)
        if route.locking == "self":
            return handler(req)
        repo_lock = (self.store.repo_lock(params["owner"], params["algo"])
                     if route.locking == "repo" else contextlib.nullcontext())
        with repo_lock, self.store.lock:
            return handler(req)

    @staticmethod
    def _route(method, path):
        allowed = False
        for route in ROUTES:
            m = route.pattern.fullmatch(path)
            if m is None:
                continue
            if route.method == method:
                return route, {k: unquote(v) for k, v in m.groupdict().items()}
            allowed = True
        if allowed:
            raise ApiError(405, 6001, "Method %s is not allowed on %s" % (method, path))
        raise ApiError(404, 5005, "No such endpoint: %s" % path)

    def error_json(self, err):
        if err.code == 1001 and self.notfound_style == "string":
            return {"error": "No such algorithm"}
        return {"error": {"code": err.code, "message": err.message}}

    @staticmethod
    def authorize(user, owner):
        if not user.can_access(owner):
            raise ApiError(403, 2001, "Caller is not authorized to perform the operation")

    def algorithm(self, req):
        """The record named by the path, after the access check (403 before 404)."""
        owner, name = req.params["owner"], req.params["algo"]
        self.authorize(req.user, owner)
        rec = self.store.get(owner, name)
        if rec is None:
            raise ApiError(404, 1001, "No such algorithm: %s/%s" % (owner, name))
        if self.notice_pushes:
            self.notice_push(rec, req.now)
        return rec

    def notice_push(self, rec, now):
        """--notice-pushes: a build of master's head when it moved since the last
        build (or since create) without passing through this server's /git (caller
        holds the store lock)."""
        head = self.store.head(rec["owner"], rec["name"])
        if head is not None and head != rec.get("seen_head"):
            self.record_build(rec, head, now)

    def record_build(self, rec, commit, now):
        """A new build of commit (caller holds the store lock)."""
        build = {
            "build_id": str(uuid.uuid4()),
            "commit_sha": commit,
            "started_at": now,
            "finishes_at": now + self.build_seconds,
            "fails": self.store.has_root_file(rec["owner"], rec["name"], commit, "BUILD_FAIL"),
            "version_uuid": str(uuid.uuid4()),
            "published": None,
        }
        rec["builds"].append(build)
        if self.notice_pushes:
            rec["seen_head"] = commit
        self.store.save()
        return build

    def page(self, req, rec, keep, render):
        """One page of rec's builds (newest first) that satisfy keep()."""
        raw_limit = req.query.get("limit")
        try:
            limit = min(self.page_size, DEFAULT_LIMIT) if raw_limit is None else int(raw_limit)
        except ValueError:
            limit = 0
        if limit < 1:
            raise ApiError(400, 5003, "limit must be between 1 and %d" % self.page_size)
        limit = min(limit, self.page_size)
        builds = rec["builds"][::-1]
        start = 0
        if req.query.get("marker"):
            after = decode_marker(req.query["marker"])
            ids = [b["build_id"] for b in builds]
            if after not in ids:
                raise ApiError(400, 5002, "Invalid marker")
            start = ids.index(after) + 1
        selected, more = [], False
        for build in builds[start:]:
            if keep(build):
                if len(selected) == limit:
                    more = True
                    break
                selected.append(build)
        marker = next_link = None
        if more:
            marker = encode_marker(selected[-1]["build_id"])
            query = {k: v for k, v in req.query.items() if k not in ("limit", "marker")}
            query.update(limit=limit, marker=marker)
            next_link = "%s%s?%s" % (req.base_url, req.path, urlencode(query))
        return {"marker": marker, "next_link": next_link,
                "results": [render(b) for b in selected]}

    # -- endpoints

    def create(self, req):
        owner = req.params["owner"]
        self.authorize(req.user, owner)
        body = json_object(req.body)
        name = body.get("name")
        if not isinstance(name, str) or not ALGO_NAME_RE.fullmatch(name):
            raise ApiError(400, 2015, "name is required: letters, digits and underscores, "
                                      "starting with a letter")
        details = member_object(body, "details")
        if not isinstance(details.get("label"), str) or not details["label"]:
            raise ApiError(400, 2015, "details.label is required")
        settings = dict(CREATE_DEFAULT_SETTINGS, **member_object(body, "settings"))
        settings["algorithm_callability"] = "private"  # until a version is published
        check_settings(settings)
        scm = member_object(body, "source").get("scm", "internal")
        if scm not in ("internal", None):
            raise ApiError(400, 4011, "Only the internal SCM is emulated")
        with self.store.repo_lock(owner, name), self.store.lock:
            if self.store.get(owner, name) is not None:
                raise ApiError(self.exists_status, 1002,
                               "Algorithm %s/%s already exists" % (owner, name))
            self.store.init_repo(owner, name)
            rec = {"id": str(uuid.uuid4()), "owner": owner, "name": name, "details": details,
                   "settings": settings, "created_at": req.now, "builds": []}
            if self.notice_pushes:  # the template commit makes no build
                rec["seen_head"] = self.store.head(owner, name)
            self.store.put(rec)
            return 200, algorithm_json(rec, req.base_url, req.now)

    def get_algorithm(self, req):
        return 200, algorithm_json(self.algorithm(req), req.base_url, req.now)

    def update(self, req):
        """Spec 3.4: settings must carry license, network_access, pipeline_enabled,
        source_visibility (and environment with language); the rest is merged."""
        rec = self.algorithm(req)
        body = json_object(req.body)
        given = member_object(body, "settings")
        required = UPDATE_REQUIRED_SETTINGS + (("environment",) if "language" in given else ())
        for field in required:
            if field not in given:
                raise ApiError(400, 2015, "settings.%s is required" % field)
        details = dict(rec["details"], **member_object(body, "details"))
        settings = dict(rec["settings"], **given)
        check_settings(settings)
        rec["details"], rec["settings"] = details, settings
        self.store.save()
        return 200, algorithm_json(rec, req.base_url, req.now)

    def delete(self, req):
        rec = self.algorithm(req)
        self.store.remove(rec["owner"], rec["name"])
        return 204, None

    def compile(self, req):
        rec = self.algorithm(req)
        head = self.store.head(rec["owner"], rec["name"])
        if head is None:
            raise ApiError(400, 2012, "The repository has no master branch to build")
        build = self.record_build(rec, head, req.now)
        return 200, algorithm_json(rec, req.base_url, req.now, focus=build)

    def publish(self, req):
        rec = self.algorithm(req)
        body = json_object(req.body)
        info = member_object(body, "version_info")
        kind = info.get("version_type", info.get("type", "minor"))
        kind = VERSION_TYPES.get(kind) if isinstance(kind, str) else None
        if kind is None:
            raise ApiError(400, 2015, "version_type must be major, minor or revision (or patch)")
        for field in PUBLISH_TEXT_FIELDS:
            if field in info and not isinstance(info[field], str):
                raise ApiError(400, 2015, "version_info.%s must be a string" % field)
        details = dict(rec["details"], **member_object(body, "details"))
        settings = dict(rec["settings"], **member_object(body, "settings"))
        check_settings(settings)
        if not rec["builds"]:
            raise ApiError(400, 2012, "Invalid build status: nothing has been built yet; "
                                      "push to master or compile first")
        build = rec["builds"][-1]
        if info.get("git_hash") and info["git_hash"] != build["commit_sha"]:
            raise ApiError(400, 2015, "Only the latest build (%s) can be published"
                           % build["commit_sha"])
        status = build_status(build, req.now)
        if status == "in-progress":
            raise ApiError(400, 2012, "Invalid build status: build %s of %s is not finished "
                           "yet (in-progress)" % (build["build_id"], build["commit_sha"]))
        if status == "failed":
            raise ApiError(400, 2012, "Invalid build status: build failed (build %s of %s)"
                           % (build["build_id"], build["commit_sha"]))
        if build["published"]:
            raise ApiError(400, 1007, "Version already published. Please compile your algorithm.")
        last = max((semver_tuple(b["published"]["semantic_version"])
                    for b in rec["builds"] if b["published"]), default=None)
        wanted = info.get("semantic_version")
        if wanted:
            if not isinstance(wanted, str) or not SEMVER_RE.fullmatch(wanted) or (
                    last is not None and semver_tuple(wanted) <= last):
                raise ApiError(400, 2015, "semantic_version must be x.y.z above the last "
                                          "published version")
            version = semver_tuple(wanted)
        else:
            version = next_version(last, kind)
        semver = "%d.%d.%d" % version
        self.store.add_version_repo(rec["owner"], rec["name"], semver, build["commit_sha"])
        published = {"semantic_version": semver, "release_notes": info.get("release_notes", "")}
        published.update((f, info[f]) for f in PUBLISH_TEXT_FIELDS[1:] if f in info)
        build["published"] = published
        rec["details"], rec["settings"] = details, settings
        self.store.save()
        return 200, version_json(rec, build, req.base_url, req.now)

    def list_versions(self, req):
        rec = self.algorithm(req)
        published = query_bool(req.query, "published")

        def keep(b):
            return build_status(b, req.now) == "succeeded" and (
                published is None or bool(b["published"]) == published)

        return 200, self.page(req, rec, keep,
                              lambda b: version_json(rec, b, req.base_url, req.now))

    def get_version(self, req):
        """By git hash (a published version first when a commit was built twice) or semver."""
        rec = self.algorithm(req)
        ref = req.params["ref"]
        matches = [b for b in reversed(rec["builds"])
                   if build_status(b, req.now) == "succeeded" and (
                       b["commit_sha"] == ref
                       or (b["published"] and b["published"]["semantic_version"] == ref))]
        matches.sort(key=lambda b: not b["published"])
        if not matches:
            raise ApiError(404, 1000, "not found: no version %s" % ref)
        return 200, version_json(rec, matches[0], req.base_url, req.now)

    def list_builds(self, req):
        rec = self.algorithm(req)
        return 200, self.page(req, rec, lambda b: True, lambda b: build_json(b, req.now))

    def _build(self, req):
        rec = self.algorithm(req)
        for build in rec["builds"]:
            if build["build_id"] == req.params["build_id"]:
                return rec, build
        raise ApiError(404, 1000, "not found: no build %s" % req.params["build_id"])

    def get_build(self, req):
        return 200, build_json(self._build(req)[1], req.now)

    def get_build_logs(self, req):
        rec, build = self._build(req)
        if build_status(build, req.now) == "in-progress":
            raise ApiError(404, 2012, "Build %s is in progress; its logs exist once it has "
                                      "finished" % build["build_id"])
        return 200, {"logs": build_logs(rec, build)}

    def scm_status(self, req):
        self.algorithm(req)
        return 200, {"scm_connection_status": "active"}


# ---------------------------------------------------------------------------------------
# Test knobs: injected faults and the request log


def parse_fault(spec):
    known = {"method", "path", "user_agent", "status", "count", "delay_ms", "drop", "body",
             "headers", "after", "skip", "truncate_after"}
    if set(spec) - known:
        raise ApiError(400, 2015, "unknown fault fields: %s" % ", ".join(sorted(set(spec) - known)))
    fault = {
        "method": spec.get("method", "*"),
        "path": spec.get("path", ""),
        "user_agent": spec.get("user_agent", ""),
        "status": spec.get("status", 0),
        "count": spec.get("count", 1),
        "delay_ms": spec.get("delay_ms", 0),
        "drop": spec.get("drop", False),
        "headers": spec.get("headers", {}),
        "after": spec.get("after", False),
        "skip": spec.get("skip", 0),
        "truncate_after": spec.get("truncate_after"),
    }
    if "body" in spec:
        fault["body"] = spec["body"]
    if not all(isinstance(fault[k], str) for k in ("method", "path", "user_agent")):
        raise ApiError(400, 2015, "method, path and user_agent must be strings")
    fault["method"] = fault["method"].upper()
    for k in ("path", "user_agent"):
        try:
            re.compile(fault[k])
        except re.error as e:
            raise ApiError(400, 2015, "bad %s regex: %s" % (k, e)) from None
    if type(fault["status"]) is not int or not (fault["status"] == 0
                                                 or 200 <= fault["status"] <= 599):
        raise ApiError(400, 2015, "status must be 0 or 200..599")
    if type(fault["count"]) is not int or not (fault["count"] == -1 or fault["count"] >= 1):
        raise ApiError(400, 2015, "count must be -1 (forever) or >= 1")
    if type(fault["delay_ms"]) is not int or fault["delay_ms"] < 0:
        raise ApiError(400, 2015, "delay_ms must be a non-negative integer")
    if not isinstance(fault["drop"], bool):
        raise ApiError(400, 2015, "drop must be a boolean")
    if not isinstance(fault["after"], bool):
        raise ApiError(400, 2015, "after must be a boolean")
    if type(fault["skip"]) is not int or fault["skip"] < 0:
        raise ApiError(400, 2015, "skip must be a non-negative integer")
    cut = fault["truncate_after"]
    if cut is not None and (type(cut) is not int or cut < 0):
        raise ApiError(400, 2015, "truncate_after must be a non-negative integer")
    if cut is not None and (fault["drop"] or fault["status"]):
        raise ApiError(400, 2015, "truncate_after cuts the real answer: no drop or status")
    if not isinstance(fault["headers"], dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in fault["headers"].items()):
        raise ApiError(400, 2015, "headers must map names to strings")
    if fault["drop"] and fault["status"]:
        raise ApiError(400, 2015, "a fault either drops the connection or answers a status")
    if not (fault["drop"] or fault["status"] or fault["delay_ms"] or cut is not None):
        raise ApiError(400, 2015, "a fault needs status, delay_ms, drop or truncate_after")
    return fault


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []

    def add(self, fault):
        with self._lock:
            self._faults.append(fault)

    def clear(self):
        with self._lock:
            self._faults.clear()

    def take(self, method, path, user_agent):
        """The first fault matching this request, its count used up by one. A fault
        still skipping lets the request pass (to later faults) and counts it."""
        with self._lock:
            for fault in self._faults:
                if fault["method"] in ("*", method) and re.search(fault["path"], path) \
                        and re.search(fault["user_agent"], user_agent):
                    if fault["skip"] > 0:
                        fault["skip"] -= 1
                        continue
                    if fault["count"] > 0:
                        fault["count"] -= 1
                        if fault["count"] == 0:
                            self._faults.remove(fault)
                    return fault
        return None


class RequestLog:
    def __init__(self):
        self._lock = threading.Lock()
        self._entries = []

    def add(self, method, path, status, auth):
        with self._lock:
            self._entries.append({"method": method, "path": path, "status": status,
                                  "auth": auth, "time": iso_time(time.time())})

    def entries(self):
        with self._lock:
            return list(self._entries)

    def clear(self):
        with self._lock:
            self._entries.clear()


# ---------------------------------------------------------------------------------------
# HTTP


class FakeCluster(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, port, api, data):
        self.api = api
        self.store = api.store
        self.data = data
        self.faults = Faults()
        self.requests = RequestLog()
        super().__init__(("127.0.0.1", port), Handler)

    def server_bind(self):
        # HTTPServer.server_bind would do a reverse DNS lookup; nothing here needs it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, TimeoutError)):
            return  # the client went away between two requests: nothing to report
        super().handle_error(request, client_address)


def read_cgi_headers(stream):
    """Parse a CGI header block: (status, reason, [(name, value)])."""
    status, reason, headers = 200, "OK", []
    while True:
        line = stream.readline(65536)
        if not line:
            raise RuntimeError("git http-backend ended before its headers")
        line = line.rstrip(b"\r\n")
        if not line:
            return status, reason, headers
        name, _, value = line.decode("latin-1").partition(":")
        value = value.strip()
        if name.lower() == "status":
            code, _, reason = value.partition(" ")
            status = int(code)
        else:
            headers.append((name, value))


class AnswerCut(Exception):
    """A truncate_after fault has sent its part of the answer; the connection goes."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakecluster"
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections and stalled uploads
    _record = False  # log this request's answer in /_requests (per request)
    _after = None  # a fault that waits for the answer (per request)
    _truncate = None  # bytes of answer body still allowed by a truncate_after fault
    _expect_pending = False  # Expect: 100-continue seen, 100 Continue not yet sent
    _body_open = False  # the request body was started and not read to its end

    def do_GET(self):
        self.handle_request()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def parse_request(self):
        self._expect_pending = False
        return super().parse_request()

    def handle_expect_100(self):
        """Send 100 Continue only when the body is about to be read (iter_body): a request
        refused before that is answered without it and its connection closed, so the
        client never sends a body nobody wants."""
        self._expect_pending = True
        return True

    def log_message(self, fmt, *args):
        sys.stderr.write("fakecluster:%d %s %s\n"
                         % (self.server.server_port, self.log_date_time_string(), fmt % args))

    def send_response(self, code, message=None):
        super().send_response(code, message)
        self._responded = True
        if self._record:
            self.server.requests.add(self.command, self.path, code,
                                     "Authorization" in self.headers)

    # -- request bodies

    def _body_framing(self):
        """'chunked' or the Content-Length (0 when there is no body)."""
        te = self.headers.get("Transfer-Encoding")
        if te is not None:
            if te.split(",")[-1].strip().lower() != "chunked":
                raise ApiError(400, 2015, "unsupported Transfer-Encoding %r" % te)
            return "chunked"
        length = self.headers.get("Content-Length", "0").strip()
        if not length.isdigit():
            raise ApiError(400, 2015, "bad Content-Length %r" % length)
        return int(length)

    def _broken_body(self, message):
        self.close_connection = True  # the rest of the stream cannot be trusted
        return ApiError(400, 2015, message)

    def iter_body(self):
        """Yield the request body, de-chunked. Whoever starts it must finish it or close."""
        framing, self._body_pending = self._framing, False
        if self._expect_pending:
            self._expect_pending = False
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._body_open = True
        if framing != "chunked":
            remaining = framing
            while remaining:
                data = self.rfile.read(min(remaining, 65536))
                if not data:
                    raise self._broken_body("request body shorter than Content-Length")
                remaining -= len(data)
                yield data
            self._body_open = False
            return
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise self._broken_body("malformed chunked request body") from None
            if size == 0:
                break
            remaining = size
            while remaining:
                data = self.rfile.read(min(remaining, 65536))
                if not data:
                    raise self._broken_body("truncated chunked request body")
                remaining -= len(data)
                yield data
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise self._broken_body("malformed chunked request body")
        while self.rfile.readline(65536) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        self._body_open = False

    def read_body(self):
        chunks, size = [], 0
        for data in self.iter_body():
            size += len(data)
            if size > MAX_API_BODY:
                self.close_connection = True
                raise ApiError(413, 2015, "request body larger than %d bytes" % MAX_API_BODY)
            chunks.append(data)
        return b"".join(chunks)

    def discard_body(self):
        """Read and drop an unread request body; a broken one, one read in part, or one
        the client holds back for 100 Continue closes the connection instead."""
        if self._body_open or (self._body_pending and self._expect_pending):
            self._body_pending = False
            self.close_connection = True
            return
        if self._body_pending:
            try:
                for _ in self.iter_body():
                    pass
            except (ApiError, OSError):
                self.close_connection = True

    # -- answers

    def take_after_fault(self):
        """Apply a pending "after" fault to the answer about to go; True when it did."""
        fault, self._after = self._after, None
        return fault is not None and self.apply_fault(fault)

    def send_bytes(self, status, body, content_type=None, headers=(), reason=None):
        """A complete answer with Content-Length (none for 204/304), after reading the
        request body so the connection stays usable."""
        if self.take_after_fault():
            return
        self.discard_body()
        self.send_response(status, reason)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        no_body = status in (204, 304)
        if not no_body:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and not no_body and self.command != "HEAD":
            self.write_body(body)

    def write_body(self, data):
        """Send part of an answer body; a truncate_after fault cuts it (AnswerCut)."""
        if self._truncate is not None:
            if len(data) > self._truncate:
                self.wfile.write(data[:self._truncate])
                raise AnswerCut()
            self._truncate -= len(data)
        self.wfile.write(data)

    def send_file(self, f, size, headers=()):
        """A 200 answer of `size` bytes copied from file f in chunks, never whole in
        memory; headers only when f is None or for HEAD."""
        if self.take_after_fault():
            return
        self.discard_body()
        self.send_response(200)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(size))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if f is None or self.command == "HEAD":
            return
        remaining = size
        while remaining:
            data = f.read(min(remaining, DATA_CHUNK))
            if not data:
                self.close_connection = True  # the file shrank: the answer is short
                return
            self.write_body(data)
            remaining -= len(data)

    def send_json(self, status, value, headers=()):
        body = b"" if value is None else json.dumps(value).encode()
        self.send_bytes(status, body, None if value is None else "application/json", headers)

    def send_text(self, status, text, headers=()):
        self.send_bytes(status, text.encode(), "text/plain; charset=utf-8", headers)

    def base_url(self):
        return "http://" + (self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_port)

    # -- dispatch

    def handle_request(self):
        self._responded = False
        self._after = None
        self._truncate = None
        self._body_pending = False
        self._body_open = False
        url = urlsplit(self.path)
        knob = url.path.startswith("/_")
        self._record = not knob
        try:
            try:
                self._framing = self._body_framing()
                self._body_pending = self._framing != 0
            except ApiError as e:
                self.close_connection = True
                self.send_json(e.status, self.server.api.error_json(e))
                return
            if not knob and self.inject_fault():
                return
            if url.path.startswith("/git/"):
                self.handle_git(url)
            elif data_path(url.path) is not None:
                self.handle_data(url)
            else:
                self.handle_api(url, knob)
        except AnswerCut:
            self.close_connection = True
            self.log_message('"%s" answer cut (injected)', self.requestline)
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
            if self._record and not self._responded:  # the client went away first
                self.server.requests.add(self.command, self.path, 0,
                                         "Authorization" in self.headers)
        except Exception:
            traceback.print_exc()
            self.close_connection = True
            if not self._responded:
                self._body_pending = False
                self._truncate = None
                if data_path(url.path) is not None:
                    self.send_json(500, error_json("Internal error"))
                else:
                    self.send_json(500, {"error": {"code": 5001, "message": "Internal error"}})
        finally:
            self._record = False

    def inject_fault(self):
        """Apply the first matching /_fault; True when it answered the request. A fault
        with "after" waits for the request's answer (send_bytes, run_backend)."""
        fault = self.server.faults.take(self.command, self.path,
                                        self.headers.get("User-Agent", ""))
        if fault is None:
            return False
        if fault["after"]:
            self._after = fault
            return False
        return self.apply_fault(fault)

    def apply_fault(self, fault):
        """Delay, then drop or answer the fault's status; True when the answer is done."""
        if fault["delay_ms"]:
            time.sleep(fault["delay_ms"] / 1000)
        if fault["truncate_after"] is not None:
            self._truncate = fault["truncate_after"]
        if fault["drop"]:
            self.discard_body()
            self.close_connection = True
            self.server.requests.add(self.command, self.path, 0, "Authorization" in self.headers)
            self.log_message('"%s" connection dropped (injected)', self.requestline)
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return True
        if not fault["status"]:
            return False
        headers = list(fault["headers"].items())
        if "body" not in fault and data_path(urlsplit(self.path).path) is not None:
            self.send_json(fault["status"], error_json("Injected fault"), headers)
        elif "body" not in fault:
            self.send_json(fault["status"],
                           {"error": {"code": 5001, "message": "Injected fault"}}, headers)
        elif isinstance(fault["body"], str):
            self.send_text(fault["status"], fault["body"], headers)
        else:
            self.send_json(fault["status"], fault["body"], headers)
        return True

    def handle_api(self, url, knob):
        api = self.server.api
        try:
            body = self.read_body()
            if knob:
                status, value = self.handle_knob(url.path, body)
            else:
                status, value = api.dispatch(self.command, url, self.headers.get("Authorization"),
                                             body, self.base_url())
        except ApiError as e:
            status, value = e.status, api.error_json(e)
        self.send_json(status, value)

    def handle_data(self, url):
        data = self.server.data
        try:
            data.handle(self, self.command, data_path(url.path), url.query,
                        self.headers.get("Authorization"))
        except ApiError as e:  # a broken or oversized request body
            data.send_error(self, DataError(e.status, e.message))

    def handle_knob(self, path, body):
        if self.command == "GET" and path.startswith("/_data/"):
            parts = [unquote(p) for p in path[len("/_data/"):].split("/")]
            data = self.server.data.store
            if len(parts) != 2 or not all(parts) or not data.exists(*parts):
                raise ApiError(404, 5005, "No such collection: %s" % path[len("/_data/"):])
            return 200, data.digest(*parts)
        if (self.command, path) == ("POST", "/_fault"):
            fault = parse_fault(json_object(body))
            self.server.faults.add(fault)
            return 200, {"fault": dict(fault)}
        if (self.command, path) == ("GET", "/_requests"):
            return 200, self.server.requests.entries()
        if (self.command, path) == ("POST", "/_reset"):
            wipe = json_object(body).get("state") is True
            self.server.faults.clear()
            self.server.requests.clear()
            if wipe:
                with self.server.store.lock:
                    self.server.store.wipe()
                self.server.data.store.wipe()
            return 204, None
        raise ApiError(404, 5005, "No such test knob: %s %s" % (self.command, path))

    # -- git smart HTTP

    def git_user(self):
        """HTTP basic auth: user = the key's owner, password = the key."""
        challenge = {"WWW-Authenticate": 'Basic realm="fakecluster git"'}
        scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
        try:
            credentials = base64.b64decode(value.strip(), validate=True).decode()
            username, _, key = credentials.partition(":")
        except (binascii.Error, UnicodeDecodeError):
            username = key = None
        user = self.server.api.users.get(key) if scheme.lower() == "basic" else None
        if user is None or user.name != username:
            raise ApiError(401, 2002, "Authentication required: user name and API key", challenge)
        return user

    def handle_git(self, url):
        store = self.server.store
        try:
            m = GIT_PATH_RE.fullmatch(url.path)
            if m is None:
                raise ApiError(404, 0, "Not a repository path")
            if self.command not in ("GET", "POST"):
                raise ApiError(405, 0, "Method not allowed")
            user = self.git_user()
            owner, name, version = (unquote(m.group(g) or "") for g in ("owner", "algo", "version"))
            if not user.can_access(owner):
                raise ApiError(403, 2001, "%s may not access %s/%s" % (user.name, owner, name))
            with store.lock:
                rec = store.get(owner, name)
                published = rec is not None and version in {
                    b["published"]["semantic_version"] for b in rec["builds"] if b["published"]}
            if rec is None:
                raise ApiError(404, 1001, "No such algorithm: %s/%s" % (owner, name))
            rest = m.group("rest")
            service = parse_qs(url.query).get("service", [""])[-1]
            pushing = rest == "/git-receive-pack" or service == "git-receive-pack"
            if version:
                if pushing:
                    raise ApiError(403, 2001, "Published versions are read-only")
                if not published:
                    raise ApiError(404, 1000, "No published version %s of %s/%s"
                                   % (version, owner, name))
                path_info = "/%s/%s/%s.git%s" % (owner, name, version, rest)
            else:
                path_info = "/%s/%s.git%s" % (owner, name, rest)
        except ApiError as e:
            self.send_text(e.status, e.message + "\n", e.headers.items())
            return
        env = git_env(store.root,
                      GATEWAY_INTERFACE="CGI/1.1", SERVER_PROTOCOL=self.request_version,
                      REQUEST_METHOD=self.command, PATH_INFO=path_info, QUERY_STRING=url.query,
                      GIT_PROJECT_ROOT=store.repos, GIT_HTTP_EXPORT_ALL="1",
                      REMOTE_USER=user.name, REMOTE_ADDR=self.client_address[0])
        if self.headers.get("Content-Type"):
            env["CONTENT_TYPE"] = self.headers["Content-Type"]
        if self._framing != "chunked":
            env["CONTENT_LENGTH"] = str(self._framing)
        for header, value in self.headers.items():
            if header.lower() not in ("authorization", "proxy-authorization", "content-type",
                                      "content-length", "transfer-encoding"):
                env["HTTP_" + header.upper().replace("-", "_")] = value  # Git-Protocol too
        if self.command == "POST" and rest == "/git-receive-pack":
            # Serialised per repo; the build is recorded before the client hears back,
            # so a client that lists builds right after `git push` sees it.
            with store.repo_lock(owner, name):
                before = store.head(owner, name)
                self.run_backend(env, lambda: self.record_push(owner, name, before))
        else:
            self.run_backend(env)

    def record_push(self, owner, name, before):
        store = self.server.store
        after = store.head(owner, name)
        if after is not None and after != before:
            with store.lock:
                rec = store.get(owner, name)
                if rec is not None:
                    self.server.api.record_build(rec, after, time.time())

    def _feed_backend(self, stdin):
        """Copy the request body into the CGI's stdin (a thread). If the backend stops
        reading, keep draining so the connection stays in sync."""
        sink = stdin
        try:
            for data in self.iter_body():
                if sink is not None:
                    try:
                        sink.write(data)
                    except BrokenPipeError:
                        sink = None
        except Exception as e:  # a broken request body or connection
            self._feed_error = e
        finally:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()

    def run_backend(self, env, before_answer=None):
        """Run `git http-backend` as a CGI and relay its answer: streamed chunked, or
        buffered when before_answer must run first (and for HTTP/1.0 clients)."""
        proc = subprocess.Popen(["git", "http-backend"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=env)
        self._feed_error = None
        feeder = threading.Thread(target=self._feed_backend, args=(proc.stdin,), daemon=True)
        feeder.start()
        done = False
        try:
            status, reason, headers = read_cgi_headers(proc.stdout)
            headers = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
            if before_answer is not None or self.request_version != "HTTP/1.1":
                body = proc.stdout.read()
                feeder.join()
                proc.wait()
                if before_answer is not None:
                    before_answer()
                self.send_bytes(status, body, headers=headers, reason=reason)
                done = True
                return
            if self.take_after_fault():
                return
            self.send_response(status, reason)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while True:
                data = proc.stdout.read1(65536)
                if not data:
                    break
                self.write_body(b"%x\r\n%s\r\n" % (len(data), data))
            self.write_body(b"0\r\n\r\n")
            done = True
        finally:
            if not done and proc.poll() is None:
                proc.kill()
            feeder.join()
            proc.wait()
            proc.stdout.close()
            if self._feed_error is not None:
                self.close_connection = True


# ---------------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(description="Emulated Algorithmia cluster (API + git) for tests.")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks one "
                   "and prints it as the first stdout line")
    p.add_argument("--state", required=True, metavar="DIR", help="state directory")
    p.add_argument("--users", metavar="FILE", help='JSON {"users": [{"name", "key", "orgs"}]}')
    p.add_argument("--build-seconds", type=float, default=1.0, metavar="S",
                   help="how long a build stays in-progress (default 1)")
    p.add_argument("--page-size", type=int, default=100, metavar="N",
                   help="largest page of versions/builds (default 100)")
    p.add_argument("--data-page-size", type=int, default=1000, metavar="N",
                   help="largest page of a data listing (default 1000)")
    p.add_argument("--exists-status", type=int, default=400, metavar="N",
                   help="HTTP status of create for an existing name (code 1002; default 400)")
    p.add_argument("--notice-pushes", action="store_true",
                   help="DIR/repos is shared with another git server: a master head that "
                        "moved there is built at the next API call about the algorithm")
    p.add_argument("--notfound-style", choices=("object", "string"), default="object",
                   help='404 body for unknown algorithms; "string" gives '
                        '{"error":"No such algorithm"}')
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        p.error("--port must be 0..65535")
    if args.build_seconds < 0:
        p.error("--build-seconds must not be negative")
    if args.page_size < 1:
        p.error("--page-size must be at least 1")
    if args.data_page_size < 1:
        p.error("--data-page-size must be at least 1")
    if not 400 <= args.exists_status <= 599:
        p.error("--exists-status must be 400..599")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        users = read_users_file(args.users) if args.users else load_users(DEFAULT_USERS)
        store = Store(args.state)
        data_store = DataStore(store.root)
    except (OSError, ValueError) as e:
        sys.stderr.write("fakecluster: %s\n" % e)
        return 2
    api = Api(store, users, args.build_seconds, args.page_size, args.exists_status,
              args.notfound_style, args.notice_pushes)
    data = DataApi(data_store, api.key_user, args.data_page_size)
    server = FakeCluster(args.port, api, data)
    print(server.server_port, flush=True)
    sys.stderr.write("fakecluster:%d serving %s\n" % (server.server_port, store.root))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop.wait()
    server.shutdown()
    server.server_close()
    sys.stderr.write("fakecluster:%d stopped\n" % server.server_port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
