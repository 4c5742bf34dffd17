"""Files under one root that is a local directory or an object-store prefix (fsspec URI).

A run directory may be ``s3://bucket/prefix`` (or ``gs://``, any fsspec protocol); ``file://``
URIs are plain local paths. :class:`Store` gives the few operations a run needs on either:
exists, read, list, remove, and an atomic write. Locally a write is a temp file renamed into
place (see :func:`synthpipe.data.writers.atomic_path`); on an object store it is one whole-object
PUT (a multipart upload for big files), which is atomic per object: a reader sees the whole
object or none. A reader therefore trusts a file that exists, and a set of files only once
their commit marker (a step's ``DONE``, a run's ``run.json``) is written after them.

Object stores have no rename, no append and no locks: what needs them stays on a local disk
(:func:`work_dir`); the run's lock at the URI is a lease taken by :meth:`Store.create`, an
exclusive create (see :mod:`synthpipe.pipeline.remote_lock` and docs/storage.md).

Connection settings come from the usual environment (``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``,
``AWS_ENDPOINT_URL``, ...) plus ``SYNTHPIPE_STORAGE_OPTIONS``, a JSON object of fsspec
storage options (e.g. ``{"endpoint_url": "http://127.0.0.1:9000"}``), resolved once on the
driver and carried with the store to Ray workers.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from synthpipe.data.paths import cache_root
from synthpipe.data.writers import atomic_path
from synthpipe.errors import UsageError
from synthpipe.importing import require

OPTIONS_ENV = "SYNTHPIPE_STORAGE_OPTIONS"
#: fsspec protocol -> the module that implements it (named in the error when it is missing)
_PROTOCOL_MODULES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")
_MANGLED = re.compile(r"^(s3|s3a|gs|gcs|az|abfs|file):/[^/]")  # Path("s3://b/p") is s3:/b/p
_FILESYSTEMS: dict[str, Any] = {}  # per process: one client per protocol and options
_FS_LOCK = threading.Lock()


def is_uri(location: str | Path) -> bool:
    """True for ``scheme://...`` (``file://`` included); a Path is never a URI."""
    return isinstance(location, str) and bool(_URI.match(location))


def is_remote(location: str | Path) -> bool:
    """True for a URI that is not ``file://``: its files live on an object store."""
    return is_uri(location) and urlparse(str(location)).scheme != "file"


def local_path(location: str | Path) -> Path:
    """A local location as a Path (``file:///x`` -> ``/x``)."""
    if is_uri(location):
        return Path(urlparse(str(location)).path)
    if _MANGLED.match(str(location)):
        raise UsageError(f"{location} looks like a URI that pathlib cut to one '/': pass it as a string ('s3://...')")
    return Path(location).expanduser()


def work_dir(uri: str) -> Path:
    """The local directory that holds what a remote run directory cannot (lock, spill, logs):
    ``$SYNTHPIPE_CACHE_DIR/runs/<name>-<hash of the URI>``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", uri.rstrip("/").rpartition("/")[2]) or "run"
    return cache_root() / "runs" / f"{name}-{hashlib.sha256(uri.encode()).hexdigest()[:12]}"


def join(location: str | Path, name: str) -> str | Path:
    """`location`/`name`: a URI stays a string, a local path a Path."""
    return f"{location.rstrip('/')}/{name}" if is_remote(location) else Path(location) / name


def local_file(location: str | Path) -> Path:
    """A file or directory (a sharded output) as a local path: for a remote URI, a fresh copy
    under ``$SYNTHPIPE_CACHE_DIR/downloads``; a missing one gives a path that does not exist."""
    if not is_remote(location):
        return local_path(location)
    store = Store(str(location))
    store.check_reachable()
    local = cache_root() / "downloads" / work_dir(store.url).name / store.url.rpartition("/")[2]
    shutil.rmtree(local.parent, ignore_errors=True)
    if not store.download(local) and store.exists(""):  # not a prefix: one object
        store.get("", local)
    return local


def storage_options(protocol: str) -> dict[str, Any]:
    """fsspec options for `protocol` from the environment (see the module docstring)."""
    options: dict[str, Any] = {}
    if raw := os.environ.get(OPTIONS_ENV):
        try:
            options = dict(json.loads(raw))
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{OPTIONS_ENV} must be a JSON object of fsspec storage options: {exc}") from None
    if protocol in ("s3", "s3a") and (endpoint := os.environ.get("AWS_ENDPOINT_URL")):
        options.setdefault("endpoint_url", endpoint)
    return options


class Store:
    """Files under `root` (a local directory or a URI); names are relative, "/"-separated."""

    def __init__(self, root: str | Path, options: dict[str, Any] | None = None):
        self.remote = is_remote(root)
        if self.remote:
            parsed = urlparse(str(root))
            self.protocol = parsed.scheme
            self.url = str(root).rstrip("/")
            self.path = f"{parsed.netloc}{parsed.path}".rstrip("/")  # the fsspec path, no protocol
            self.options = storage_options(self.protocol) if options is None else options
        else:
            self.url = str(local_path(root))
            self.root = local_path(root)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def child(self, name: str) -> Store:
        if self.remote:
            return Store(f"{self.url}/{name}", self.options)
        return Store(self.root / name)

    # -- the object-store client (made lazily, once per process) -------------------------
    @property
    def fs(self) -> Any:
        key = json.dumps([self.protocol, self.options], sort_keys=True, default=str)
        with _FS_LOCK:
            if key not in _FILESYSTEMS:
                _FILESYSTEMS[key] = _filesystem(self.protocol, self.options)
            return _FILESYSTEMS[key]

    def _key(self, name: str) -> str:
        return f"{self.path}/{name}" if name else self.path

    def check_reachable(self) -> None:
        """Fail with a clear error when the bucket cannot be listed (missing, no access, down)."""
        if not self.remote:
            return
        bucket = self.path.split("/")[0]
        try:
            self.fs.info(bucket)  # one HEAD: the bucket exists and these credentials may see it
        except Exception as exc:  # each backend raises its own kinds: name the cause, say what to check
            raise UsageError(
                f"cannot reach {self.protocol}://{bucket}: {type(exc).__name__}: {exc}. Check that the "
                f"bucket exists and the credentials and endpoint (AWS_* variables, AWS_ENDPOINT_URL, "
                f"{OPTIONS_ENV}) are right"
            ) from None

    # -- files ----------------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        return self.fs.exists(self._key(name)) if self.remote else (self.root / name).exists()

    def read_bytes(self, name: str) -> bytes:
        if not self.remote:
            return (self.root / name).read_bytes()
        # s3fs asks for the size first (a HEAD) to split big reads; batch files are small
        options = {"max_concurrency": 1} if self.protocol in ("s3", "s3a") else {}
        return self.fs.cat_file(self._key(name), **options)

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode("utf-8")

    @contextlib.contextmanager
    def writing(self, name: str, durable: bool = True) -> Iterator[Path]:
        """Yield a local temp path; when the block succeeds its file becomes `name` at once
        (a rename locally, one upload to an object store). On an exception nothing appears."""
        if not self.remote:
            with atomic_path(self.root / name, durable=durable) as tmp:
                yield tmp
            return
        with tempfile.TemporaryDirectory(prefix="synthpipe-put-") as scratch:
            tmp = Path(scratch) / Path(name).name
            yield tmp
            self.fs.put_file(str(tmp), self._key(name))

    def write_bytes(self, name: str, data: bytes, durable: bool = True) -> None:
        if self.remote:
            self.fs.pipe_file(self._key(name), data)
            return
        with self.writing(name, durable) as tmp:
            tmp.write_bytes(data)

    def write_text(self, name: str, text: str, durable: bool = True) -> None:
        self.write_bytes(name, text.encode("utf-8"), durable)

    @property
    def can_create(self) -> bool:
        """True when :meth:`create` is exclusive: S3 through s3fs (a conditional PUT)."""
        return self.remote and self.protocol in ("s3", "s3a")

    def create(self, name: str, data: bytes) -> bool:
        """Write `name` only if it does not exist (of two racing writers, one wins): True if
        this call created it. Only where :attr:`can_create`."""
        if not self.can_create:
            raise NotImplementedError(f"{self.url} has no exclusive create")
        try:
            self.fs.pipe_file(self._key(name), data, mode="create")  # If-None-Match: *
        except FileExistsError:
            return False
        return True

    def names(self, pattern: str = "*") -> list[str]:
        """Names of the files directly under the root matching the glob `pattern`."""
        if not self.remote:
            return [p.name for p in self.root.glob(pattern)] if self.root.is_dir() else []
        try:
            entries = self.fs.ls(self.path, detail=False, refresh=True)
        except FileNotFoundError:
            return []
        names = (e.rstrip("/").rpartition("/")[2] for e in entries)
        return [n for n in names if fnmatch.fnmatchcase(n, pattern)]

    def find(self) -> list[str]:
        """Every file under the root, as names relative to it."""
        if not self.remote:
            return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())
        try:
            keys = self.fs.find(self.path)
        except FileNotFoundError:
            return []
        return sorted(k[len(self.path) + 1 :] for k in keys if k.startswith(self.path + "/"))

    def remove(self, name: str) -> None:
        """Remove file `name` (on an object store, "" is the object at the root's own key); a
        missing one is fine."""
        if not self.remote:
            (self.root / name).unlink(missing_ok=True)
            return
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._key(name))

    def clear(self, keep: frozenset[str] = frozenset()) -> None:
        """Remove everything under the root (on an object store, except the names in `keep`)."""
        if not self.remote:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        if keys := [self._key(name) for name in self.find() if name not in keep]:
            self.fs.rm(keys)

    def mkdir(self) -> None:
        """Make the root (a prefix needs none: it exists once an object is under it)."""
        if not self.remote:
            self.root.mkdir(parents=True, exist_ok=True)

    def locate(self, name: str) -> tuple[str, Any]:
        """(path, filesystem) for pyarrow readers: ``pq.read_table(path, filesystem=fs)``."""
        if not self.remote:
            return str(self.root / name), None
        return self._key(name), self.fs

    # -- whole trees ------------------------------------------------------------------------
    def upload(self, local: Path, name: str) -> None:
        """Copy local file `local` to `name` (one atomic object)."""
        if self.remote:
            self.fs.put_file(str(local), self._key(name))
        else:
            with self.writing(name) as tmp:
                shutil.copyfile(local, tmp)

    def get(self, name: str, local: Path) -> None:
        """Copy file `name` to the local path `local`."""
        local.parent.mkdir(parents=True, exist_ok=True)
        if self.remote:
            self.fs.get_file(self._key(name), str(local))
        else:
            shutil.copyfile(self.root / name, local)

    def download(self, local: Path, keep: Callable[[str], bool] = lambda name: True) -> list[str]:
        """Copy every file under the root for which `keep(name)` holds to `local`/name."""
        names = [n for n in self.find() if keep(n)]
        for name in names:
            self.get(name, local / name)
        return names


def _filesystem(protocol: str, options: dict[str, Any]) -> Any:
    """The fsspec filesystem for `protocol`; a missing implementation names what to install."""
    module = _PROTOCOL_MODULES.get(protocol)
    if module is not None:
        require(module, why=f"a {protocol}:// run directory")
    require("fsspec", why=f"a {protocol}:// run directory")
    import fsspec

    # no listing cache: other processes (Ray workers) add objects this one must see
    try:
        return fsspec.filesystem(protocol, use_listings_cache=False, **options)
    except (ImportError, ValueError) as exc:
        raise UsageError(f"cannot open {protocol}:// storage: {exc}") from None
