"""The fakecluster's hosted-data connector API: collections of files kept on disk.

Serves /v1/connector/data/... and /v1/data/... for fakecluster.py's request handler.
README.md next to this file documents the endpoints and the choices made.
"""

import base64
import binascii
import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from bisect import bisect_right
from datetime import datetime, timezone
from urllib.parse import parse_qs, unquote

DATA_PREFIXES = ("/v1/connector/data", "/v1/data")
DEFAULT_ACL = ["algo://.my/*"]
PUBLIC_READ = "user://*"
OWNER_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
COLLECTION_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
MAX_FILENAME_BYTES = 255
CHUNK = 256 * 1024
ERROR_TYPES = {
    400: "BadRequest",
    401: "AuthenticationError",
    403: "AuthorizationError",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "AlreadyExists",
    413: "BadRequest",
    500: "InternalError",
    507: "InsufficientStorage",
}


class DataError(Exception):
    """A data-API error answer: {"error": {"message", "error_type"}} + X-Error-Message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = ERROR_TYPES.get(status, "DataApiError")


def data_path(path):
    """The part of a request path after a data prefix ("" or "/..."), or None."""
    for prefix in DATA_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix):]
    return None


def error_json(message, error_type="InternalError"):
    return {"error": {"message": message, "error_type": error_type}}


def iso_time(t):
    stamp = datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def header_safe(text):
    """A message fit for an HTTP header value: ASCII, no line breaks."""
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text.replace("\r", " ").replace("\n", " ")


def replace_file(path, data):
    """Write data to path through a temp file in the same directory and a rename."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp.", dir=directory)
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


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_acl(value):
    """Validate {"read": [...]}; returns the read list."""
    if not isinstance(value, dict) or set(value) != {"read"}:
        raise DataError(400, 'acl must be an object {"read": [...]}')
    read = value["read"]
    if not isinstance(read, list) or not all(
            isinstance(e, str) and e.startswith(("user://", "algo://")) for e in read):
        raise DataError(400, 'acl.read must be a list of "user://..." or "algo://..." strings')
    return read


def json_body(body):
    try:
        value = json.loads(body) if body.strip() else {}
    except (UnicodeDecodeError, ValueError) as e:
        raise DataError(400, "Invalid JSON: %s" % e) from None
    if not isinstance(value, dict):
        raise DataError(400, "The request body must be a JSON object")
    return value


def encode_marker(listing, after):
    raw = json.dumps({"list": listing, "after": after}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_marker(marker, listing):
    try:
        raw = base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4))
        value = json.loads(raw)
        ok = value["list"] == listing and isinstance(value["after"], str)
    except (binascii.Error, ValueError, TypeError, KeyError):
        ok = False
    if not ok:
        raise DataError(400, "Invalid marker")
    return value["after"]


# ---------------------------------------------------------------------------------------
# Storage: DIR/data/OWNER/COLLECTION/FILE, ACLs in DIR/data/OWNER/.acl/COLLECTION.json,
# uploads in progress in DIR/data/.uploads


class DataStore:
    """Collections and files on disk. `lock` serialises every change of the tree (create,
    ACL, delete, the rename that completes an upload); reads take no lock."""

    def __init__(self, state_dir):
        self.root = os.path.join(os.path.abspath(state_dir), "data")
        self.uploads = os.path.join(self.root, ".uploads")
        self.lock = threading.Lock()
        shutil.rmtree(self.uploads, ignore_errors=True)  # a crashed run's partial uploads
        os.makedirs(self.uploads, exist_ok=True)

    def owner_dir(self, owner):
        return os.path.join(self.root, owner)

    def collection_dir(self, owner, coll):
        return os.path.join(self.root, owner, coll)

    def file_path(self, owner, coll, name):
        return os.path.join(self.root, owner, coll, name)

    def acl_path(self, owner, coll):
        return os.path.join(self.root, owner, ".acl", coll + ".json")

    def exists(self, owner, coll):
        return os.path.isdir(self.collection_dir(owner, coll))

    def collections(self, owner):
        try:
            names = os.listdir(self.owner_dir(owner))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n for n in names if COLLECTION_RE.fullmatch(n)
                      and os.path.isdir(self.collection_dir(owner, n)))

    def files(self, owner, coll):
        """[(name, size, mtime)] of the collection's regular files, sorted by name."""
        out = []
        try:
            entries = list(os.scandir(self.collection_dir(owner, coll)))
        except FileNotFoundError:
            return out
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    out.append((entry.name, st.st_size, st.st_mtime))
            except FileNotFoundError:
                continue  # deleted meanwhile
        return sorted(out)

    def acl(self, owner, coll):
        try:
            with open(self.acl_path(owner, coll), encoding="utf-8") as f:
                return json.load(f)["read"]
        except FileNotFoundError:
            return list(DEFAULT_ACL)  # a collection seeded straight on disk

    def _write_acl(self, owner, coll, read):
        path = self.acl_path(owner, coll)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        replace_file(path, json.dumps({"read": read}).encode())

    def create(self, owner, coll, read):
        with self.lock:
            path = self.collection_dir(owner, coll)
            if os.path.isdir(path):
                raise DataError(409, "Collection data://%s/%s already exists" % (owner, coll))
            os.makedirs(path)
            self._write_acl(owner, coll, read)

    def set_acl(self, owner, coll, read):
        with self.lock:
            if not self.exists(owner, coll):
                raise DataError(404, "No such collection: data://%s/%s" % (owner, coll))
            self._write_acl(owner, coll, read)

    def delete_collection(self, owner, coll, force):
        with self.lock:
            if not self.exists(owner, coll):
                raise DataError(404, "No such collection: data://%s/%s" % (owner, coll))
            count = len(self.files(owner, coll))
            if count and not force:
                raise DataError(400, "Collection data://%s/%s is not empty: delete it with "
                                     "force=true" % (owner, coll))
            shutil.rmtree(self.collection_dir(owner, coll))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.acl_path(owner, coll))
            return count

    def delete_file(self, owner, coll, name):
        with self.lock:
            try:
                if not os.path.isfile(self.file_path(owner, coll, name)):
                    raise FileNotFoundError
                os.unlink(self.file_path(owner, coll, name))
            except FileNotFoundError:
                raise DataError(404, "No such file: data://%s/%s/%s"
                                % (owner, coll, name)) from None

    def store(self, owner, coll, name, chunks):
        """Write the iterable of byte chunks to a temp file; rename it into place only once
        every chunk arrived. Any exception from chunks leaves nothing behind."""
        fd, tmp = tempfile.mkstemp(prefix="upload.", dir=self.uploads)
        try:
            with os.fdopen(fd, "wb") as f:
                for data in chunks:
                    f.write(data)
                f.flush()
                os.fsync(f.fileno())
            with self.lock:
                if not self.exists(owner, coll):
                    raise DataError(404, "No such collection: data://%s/%s" % (owner, coll))
                os.replace(tmp, self.file_path(owner, coll, name))
                fsync_dir(self.collection_dir(owner, coll))
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DataError(507, "No space left for data://%s/%s/%s"
                                % (owner, coll, name)) from None
            raise
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def digest(self, owner, coll):
        """The test knob's view: files with size and SHA-256, and the ACL."""
        out = []
        for name, size, _ in self.files(owner, coll):
            h = hashlib.sha256()
            with open(self.file_path(owner, coll, name), "rb") as f:
                while True:
                    data = f.read(CHUNK)
                    if not data:
                        break
                    h.update(data)
            out.append({"filename": name, "size": size, "sha256": h.hexdigest()})
        return {"files": out, "acl": {"read": self.acl(owner, coll)}}

    def wipe(self):
        with self.lock:
            shutil.rmtree(self.root, ignore_errors=True)
            os.makedirs(self.uploads)


# ---------------------------------------------------------------------------------------
# Requests


class Target:
    """A parsed data path: owner (".my" resolved), collection and file name (or None)."""

    def __init__(self, owner, coll=None, name=None):
        self.owner, self.coll, self.name = owner, coll, name

    def uri(self):
        return "data://" + "/".join(p for p in (self.owner, self.coll, self.name) if p)


def parse_target(rest, user):
    """The path after the data prefix as a Target; 400/404 for impossible paths."""
    rest = rest[1:] if rest.startswith("/") else rest
    if rest.endswith("/"):
        rest = rest[:-1]
    if not rest:
        raise DataError(404, "A data path names an owner: data://OWNER/COLLECTION/FILE")
    try:
        parts = [unquote(p, errors="strict") for p in rest.split("/")]
    except UnicodeDecodeError:
        raise DataError(400, "The path is not UTF-8") from None
    if "" in parts:
        raise DataError(400, "Empty path segment")
    owner = user.name if parts[0] == ".my" else parts[0]
    if not OWNER_RE.fullmatch(owner):
        raise DataError(400, "Bad owner name %r" % owner)
    if len(parts) > 3 or (len(parts) == 3 and "/" in parts[2]):
        raise DataError(400, "Collections cannot contain sub-folders: a file path is "
                             "data://OWNER/COLLECTION/FILE")
    coll = parts[1] if len(parts) > 1 else None
    if coll is not None and not COLLECTION_RE.fullmatch(coll):
        raise DataError(400, "Bad collection name %r" % coll)
    name = parts[2] if len(parts) > 2 else None
    if name is not None and (name in (".", "..") or "\0" in name
                             or len(name.encode()) > MAX_FILENAME_BYTES):
        raise DataError(400, "Bad file name %r" % name)
    return Target(owner, coll, name)


class DataApi:
    """Answers data requests through the fakecluster handler `h`, which provides
    send_json, send_bytes, send_file, read_body and iter_body (see fakecluster.py)."""

    def __init__(self, store, key_user, page_size):
        self.store = store
        self.key_user = key_user
        self.page_size = page_size

    def handle(self, h, method, rest, query, authorization):
        try:
            user = self.key_user(authorization)
            if user is None:
                raise DataError(401, "Unknown or invalid API key")
            target = parse_target(rest, user)
            level = ("owner", "collection", "file")[
                (target.coll is not None) + (target.name is not None)]
            handler = getattr(self, "%s_%s" % (method.lower(), level), None)
            if handler is None:
                raise DataError(405, "Method %s is not allowed on a %s path" % (method, level))
            params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
            handler(h, user, target, params)
        except DataError as e:
            self.send_error(h, e)

    def send_error(self, h, err):
        headers = [("X-Error-Message", header_safe(err.message))]
        if h.command == "HEAD":
            h.send_bytes(err.status, b"", headers=headers)
        else:
            h.send_json(err.status, error_json(err.message, err.error_type), headers)

    # -- permissions

    @staticmethod
    def may_write(user, target):
        """Writes, and listing an owner's collections: the owner or a member of the org."""
        if not user.can_access(target.owner):
            raise DataError(403, "%s may not write to data://%s" % (user.name, target.owner))

    def may_read(self, user, target):
        """Reads: the owner's members, or anyone when the collection's ACL has user://*.
        For others a missing collection is 403, like a private one."""
        if user.can_access(target.owner):
            if not self.store.exists(target.owner, target.coll):
                raise DataError(404, "No such collection: data://%s/%s"
                                % (target.owner, target.coll))
            return
        if not (self.store.exists(target.owner, target.coll)
                and PUBLIC_READ in self.store.acl(target.owner, target.coll)):
            raise DataError(403, "%s may not read data://%s/%s"
                            % (user.name, target.owner, target.coll))

    # -- paging

    def page(self, names, query, listing):
        start = 0
        if query.get("marker"):
            start = bisect_right(names, decode_marker(query["marker"], listing))
        selected = names[start:start + self.page_size]
        more = start + self.page_size < len(names)
        return selected, encode_marker(listing, selected[-1]) if more else None

    # -- owner: list collections, create one

    def get_owner(self, h, user, target, query):
        self.may_write(user, target)
        names, marker = self.page(self.store.collections(target.owner), query, target.owner)
        out = {}
        if names:
            out["folders"] = [{"name": n} for n in names]
        if marker:
            out["marker"] = marker
        h.send_json(200, out, [("X-Data-Type", "directory")])

    def head_owner(self, h, user, target, query):
        self.may_write(user, target)
        h.send_bytes(200, b"", headers=[("X-Data-Type", "directory")])

    def post_owner(self, h, user, target, query):
        self.may_write(user, target)
        body = json_body(h.read_body())
        name = body.get("name")
        if not isinstance(name, str) or not COLLECTION_RE.fullmatch(name):
            raise DataError(400, "name is required: letters, digits, '_', '.' and '-', "
                                 "not starting with '.' or '-', at most 128 characters")
        read = check_acl(body["acl"]) if "acl" in body else list(DEFAULT_ACL)
        self.store.create(target.owner, name, read)
        h.send_json(200, {"result": "data://%s/%s" % (target.owner, name)})

    # -- collection: list files, ACL, delete

    def get_collection(self, h, user, target, query):
        self.may_read(user, target)
        acl = query.get("acl", "false").lower()
        if acl not in ("true", "false"):
            raise DataError(400, "acl must be true or false")
        files = self.store.files(target.owner, target.coll)
        by_name = {name: (size, mtime) for name, size, mtime in files}
        names, marker = self.page([f[0] for f in files], query,
                                  "%s/%s" % (target.owner, target.coll))
        out = {}
        if names:
            out["files"] = [{"filename": n, "last_modified": iso_time(by_name[n][1]),
                             "size": by_name[n][0]} for n in names]
        if marker:
            out["marker"] = marker
        if acl == "true":
            out["acl"] = {"read": self.store.acl(target.owner, target.coll)}
        h.send_json(200, out, [("X-Data-Type", "directory")])

    def head_collection(self, h, user, target, query):
        self.may_read(user, target)
        h.send_bytes(200, b"", headers=[("X-Data-Type", "directory")])

    def patch_collection(self, h, user, target, query):
        self.may_write(user, target)
        body = json_body(h.read_body())
        if "acl" not in body:
            raise DataError(400, 'The body must be {"acl": {"read": [...]}}')
        self.store.set_acl(target.owner, target.coll, check_acl(body["acl"]))
        h.send_bytes(200, b"")

    def delete_collection(self, h, user, target, query):
        self.may_write(user, target)
        force = query.get("force", "false").lower()
        if force not in ("true", "false"):
            raise DataError(400, "force must be true or false")
        count = self.store.delete_collection(target.owner, target.coll, force == "true")
        h.send_json(200, {"result": {"deleted": count}})

    # -- file: get, head, put, delete

    def get_file(self, h, user, target, query):
        self.may_read(user, target)
        try:
            f = open(self.store.file_path(target.owner, target.coll, target.name), "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise DataError(404, "No such file: %s" % target.uri()) from None
        with f:
            size = os.fstat(f.fileno()).st_size
            h.send_file(f, size, [("X-Data-Type", "file"),
                                  ("Content-Type", "application/octet-stream")])

    def head_file(self, h, user, target, query):
        self.may_read(user, target)
        path = self.store.file_path(target.owner, target.coll, target.name)
        if not os.path.isfile(path):
            raise DataError(404, "No such file: %s" % target.uri())
        h.send_file(None, os.path.getsize(path), [("X-Data-Type", "file")])

    def put_file(self, h, user, target, query):
        self.may_write(user, target)
        if not self.store.exists(target.owner, target.coll):
            raise DataError(404, "No such collection: data://%s/%s"
                            % (target.owner, target.coll))
        self.store.store(target.owner, target.coll, target.name, h.iter_body())
        h.send_json(200, {"result": target.uri()})

    def delete_file(self, h, user, target, query):
        self.may_write(user, target)
        if not self.store.exists(target.owner, target.coll):
            raise DataError(404, "No such collection: data://%s/%s"
                            % (target.owner, target.coll))
        self.store.delete_file(target.owner, target.coll, target.name)
        h.send_json(200, {"result": {"deleted": 1}})
