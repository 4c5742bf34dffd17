"""Vectors on disk, shared by every step, run and process: one SQLite file per embedding model.

``$SYNTHPIPE_CACHE_DIR/embeddings/<model key>.sqlite`` (default ``~/.cache/synthpipe/``, the
LLM cache's convention), keyed by the 16-byte BLAKE2b hash of a text's UTF-8 bytes
(:func:`text_key`); the model key (:attr:`Embedder.key`) hashes the model name, its weights
and the options that change vectors (``max_length``). Vectors are stored as float32, exactly
as computed. WAL mode and a busy timeout let several processes (Ray tasks, parallel runs) read
and write the same file. The file holds at most ``$SYNTHPIPE_EMBEDDING_CACHE_MB`` (default
2048) of vectors: past that, the oldest entries go first. A cache directory that cannot be
written only costs recomputation (logged once).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_log = logging.getLogger("synthpipe.embeddings")
_CHUNK = 500  # keys per SELECT ... IN (...) (SQLite's variable limit is 999 in old builds)
_ROW_OVERHEAD = 64  # bytes per row besides the vector: key, rowid, b-tree


def text_key(text: str) -> bytes:
    """16-byte BLAKE2b digest of `text` (UTF-8): the key of its vector in every cache."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def cache_dir() -> Path:
    """``$SYNTHPIPE_CACHE_DIR/embeddings`` or ``~/.cache/synthpipe/embeddings``."""
    root = os.environ.get("SYNTHPIPE_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "synthpipe"
    return base / "embeddings"


def max_rows(dim: int) -> int:
    """Rows kept per model file: ``$SYNTHPIPE_EMBEDDING_CACHE_MB`` (default 2048) of vectors."""
    megabytes = float(os.environ.get("SYNTHPIPE_EMBEDDING_CACHE_MB", "2048"))
    return max(1, int(megabytes * 2**20 // (4 * dim + _ROW_OVERHEAD)))


class VectorStore:
    """The float32 vectors of one model, by text key, in a SQLite file."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.dim = dim
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._lock = threading.Lock()
        self._broken = False

    def _connect(self) -> sqlite3.Connection | None:
        if self._broken:
            return None
        if self._conn is None or self._pid != os.getpid():  # a forked child opens its own
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")  # a cache: losing the last writes is fine
                conn.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL)")
            except (OSError, sqlite3.Error) as exc:
                self._disable(exc)
                return None
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _disable(self, exc: Exception) -> None:
        self._broken = True
        _log.warning("embedding cache %s unusable (%s: %s): vectors are recomputed", self.path, type(exc).__name__, exc)

    def get(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The stored vectors of those `keys` that are stored."""
        out: dict[bytes, np.ndarray] = {}
        with self._lock:
            conn = self._connect()
            if conn is None:
                return out
            try:
                for start in range(0, len(keys), _CHUNK):
                    chunk = list(keys[start : start + _CHUNK])
                    marks = ",".join("?" * len(chunk))
                    for key, blob in conn.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk):
                        if len(blob) == 4 * self.dim:
                            out[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
            except sqlite3.Error as exc:
                self._disable(exc)
        return out

    def put(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store `vectors` (rows aligned with `keys`) in one transaction; evict the oldest rows
        past :func:`max_rows`."""
        if not len(keys):
            return
        rows = [(k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in zip(keys, vectors, strict=True)]
        with self._lock:
            conn = self._connect()
            if conn is None:
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT OR IGNORE INTO vectors (key, vector) VALUES (?, ?)", rows)
                (top,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM vectors").fetchone()
                conn.execute("DELETE FROM vectors WHERE rowid <= ?", (top - max_rows(self.dim),))
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._disable(exc)

    def __len__(self) -> int:
        with self._lock:
            conn = self._connect()
            return conn.execute("SELECT count(*) FROM vectors").fetchone()[0] if conn else 0
