"""Content-addressed LLM response cache in one SQLite file.

A key is the hash of everything that decides what a model answers (endpoint identity,
messages, sampling params, n, response_format, tools and tool_choice, sample index) and nothing that does not
(base_url, API keys). Raw responses are stored; parsing happens after the cache, so a
parser fix never needs a cache wipe.

Safety: WAL + busy_timeout lets several processes read and write the same file at once;
every put commits on its own (or put_many in one transaction), so a SIGKILL loses at most
the write in progress, which SQLite rolls back on the next open.

Batched writes: the client stores replies with `put_buffered`, which holds them in memory
(served by get()) and writes them in one transaction with `flush()`: at the end of each
step batch, once `FLUSH_ROWS` wait, or `FLUSH_SECONDS` after the first of them (a timer on
the running loop), and at close(). An autocommitted put per reply costs ~50 us of SQLite
work (a WAL append of every touched page, per row); one transaction of 256 costs ~10 us a
row. A SIGKILL loses only the replies not flushed yet (a resume reuses its checkpointed
records anyway); what was flushed stays, and the file is never left half-written.

A write that fails (disk full, quota, read-only file) never loses a paid reply: the row is
held in memory, served by get() for the rest of the run, and written with the next write
that succeeds or at close(). One warning says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from synthpipe.data.paths import cache_root
from synthpipe.llm.types import ChatRequest, ChatResponse

CACHE_FORMAT_VERSION = 1  # bump when the key recipe or stored shape changes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key      TEXT PRIMARY KEY,
    response TEXT NOT NULL,
    model    TEXT,
    created  REAL NOT NULL
)
"""
_CHUNK = 500  # stays far below SQLite's bound-parameter limit
FLUSH_ROWS = 256  # buffered replies written together once this many wait...
FLUSH_SECONDS = 0.5  # ...or this long after the first of them was buffered
_LOCK_RETRIES = 5  # on top of the 30 s busy_timeout; "locked" can still surface on open/checkpoint

T = TypeVar("T")
log = logging.getLogger(__name__)
# What a failed write raises: OSError (ENOSPC, EDQUOT, EROFS...) and SQLite's own
# "database or disk is full", "disk I/O error", "readonly database", a lock never released.
WRITE_ERRORS = (OSError, sqlite3.OperationalError)
_INHERITED: list[sqlite3.Connection] = []  # connections copied by fork(); kept alive, never closed


def default_cache_path() -> Path:
    """$SYNTHPIPE_CACHE_DIR/llm_cache.sqlite, else ~/.cache/synthpipe/llm_cache.sqlite."""
    return cache_root() / "llm_cache.sqlite"


def _is_lock_error(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class ResponseCache:
    """Thread-safe (one connection behind a lock), multi-process-safe, picklable."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._held: dict[str, tuple[Any, ...]] = {}  # rows whose write failed: key -> row
        self._pending: dict[str, tuple[Any, ...]] = {}  # buffered rows not written yet: key -> row
        self._pending_since = 0.0  # monotonic time the oldest pending row was buffered
        self._timers: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()  # loops with a flush armed
        self._warned = False
        self._open()

    # ---- keys -------------------------------------------------------------------------

    @staticmethod
    def key(identity: dict, request: ChatRequest, sample_index: int = 0) -> str:
        payload = {
            "v": CACHE_FORMAT_VERSION,
            "identity": identity,
            "messages": request.messages,
            "params": request.params.model_dump(mode="json"),
            "n": request.n,
            "response_format": request.response_format,
            "sample": sample_index,
        }
        if request.tools is not None:  # only then: keys of requests without tools stay as they were
            payload["tools"] = request.tools
            payload["tool_choice"] = request.tool_choice
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    # ---- reads ------------------------------------------------------------------------

    def get(self, key: str) -> ChatResponse | None:
        with self._lock:
            held = self._pending.get(key) or self._held.get(key)
        if held is not None:
            row = (held[1],)
        else:
            row = self._run(
                lambda c: c.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
            )
        with self._lock:
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        return ChatResponse.from_json(json.loads(row[0]), cached=True)

    def get_many(self, keys: list[str]) -> dict[str, ChatResponse]:
        wanted = list(dict.fromkeys(keys))  # dedupe, keep order
        rows: list[tuple[str, str]] = []
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            sql = f"SELECT key, response FROM responses WHERE key IN ({','.join('?' * len(chunk))})"
            rows.extend(self._run(lambda c, sql=sql, chunk=chunk: c.execute(sql, chunk).fetchall()))
        with self._lock:
            for memory in (self._held, self._pending):
                rows.extend((k, memory[k][1]) for k in wanted if k in memory)
        found = {k: ChatResponse.from_json(json.loads(v), cached=True) for k, v in rows}
        with self._lock:
            self.hits += len(found)
            self.misses += len(wanted) - len(found)
        return found

    # ---- writes -----------------------------------------------------------------------

    def put(self, key: str, response: ChatResponse, *, model: str | None = None) -> None:
        """Store once; a later put of the same key is ignored (first writer wins).
        `model` (for stats) defaults to the model the server reported."""
        self._store([self._row(key, response, model)])

    def put_many(
        self, items: Iterable[tuple[str, ChatResponse]], *, model: str | None = None
    ) -> None:
        """Like put for each item, but one transaction: all rows land or none do."""
        rows = [self._row(k, r, model) for k, r in items]
        if rows:
            self._store(rows)

    def put_buffered(self, key: str, response: ChatResponse, *, model: str | None = None) -> None:
        """Like put, but written later with other buffered replies in one transaction (see
        the module doc); get() serves it meanwhile. First writer wins here too."""
        row = self._row(key, response, model)
        with self._lock:
            if not self._pending:
                self._pending_since = time.monotonic()
            self._pending.setdefault(key, row)
            due = len(self._pending) >= FLUSH_ROWS or time.monotonic() - self._pending_since >= FLUSH_SECONDS
            if not due:
                self._arm_timer()
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the buffered replies in one transaction (rows that fail are held, as for put)."""
        with self._lock:
            rows = list(self._pending.values())
            self._pending.clear()
        if rows:
            self._store(rows)

    def _arm_timer(self) -> None:
        """Lock held. On a running loop, flush FLUSH_SECONDS from now unless a flush is armed;
        without a loop the next put, step batch or close() writes the rows."""
        loop = asyncio._get_running_loop()
        if loop is None or loop in self._timers:
            return
        self._timers.add(loop)
        loop.call_later(FLUSH_SECONDS, self._timer_flush, loop)

    def _timer_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._timers.discard(loop)
            if self._conn is None:  # closed meanwhile: close() flushed
                return
        self.flush()

    def _store(self, rows: list[tuple[Any, ...]]) -> None:
        """Write `rows`; if that fails, hold them (see the module doc). Once a write succeeds
        again, the held rows follow. While the disk stays full each put tries only its own
        rows, so a long outage costs one failed write per reply, not one per held reply."""
        if rows and not self._try_insert(rows):
            with self._lock:
                for row in rows:
                    self._held.setdefault(row[0], row)
            return
        with self._lock:
            held = list(self._held.values())
        if held and self._try_insert(held):
            with self._lock:
                for row in held:
                    self._held.pop(row[0], None)

    def _try_insert(self, rows: list[tuple[Any, ...]]) -> bool:
        try:
            self._run(lambda c: self._insert(c, rows))
        except WRITE_ERRORS as exc:
            self._warn_once(exc)
            return False
        return True

    @staticmethod
    def _insert(c: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        c.execute("BEGIN IMMEDIATE")  # take the write lock up front: no upgrade deadlock
        try:
            c.executemany("INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?)", rows)
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:  # SQLite may have rolled back already (e.g. disk full)
                c.execute("ROLLBACK")
            raise

    def _warn_once(self, exc: BaseException) -> None:
        with self._lock:
            if self._warned:
                return
            self._warned = True
        log.warning(
            "cannot write to the LLM response cache %s (%s): replies are kept in memory for this run "
            "and written when the cache accepts writes again; free space to keep them for the next run",
            self.path, exc,
        )  # fmt: skip

    @property
    def unsaved(self) -> int:
        """Replies held in memory because their write failed."""
        with self._lock:
            return len(self._held)

    @staticmethod
    def _row(key: str, response: ChatResponse, model: str | None) -> tuple[Any, ...]:
        text = json.dumps(response.to_json(), ensure_ascii=False)
        return (key, text, model if model is not None else response.model, time.time())

    # ---- stats & lifecycle ------------------------------------------------------------

    def hit_rate(self) -> float | None:
        total = self.hits + self.misses
        return self.hits / total if total else None

    def stats(self) -> dict[str, Any]:
        """Counters and the entry count, after writing what is buffered."""
        self.flush()
        entries = self._run(lambda c: c.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
        return {
            "entries": entries,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hit_rate(),
            "path": str(self.path),
            "unsaved": self.unsaved,
        }

    def close(self) -> None:
        """Write the held rows (last chance), then close. Rows that still cannot be written
        are lost to the next run: it pays for them again unless it resumes this run's records."""
        if self._conn is not None:
            self.flush()
        if self.unsaved and self._conn is not None:
            self._store([])
            if lost := self.unsaved:
                log.warning(
                    "%d LLM replies could not be written to the response cache %s: a fresh run pays for "
                    "them again (resuming this run directory does not)", lost, self.path,
                )  # fmt: skip
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # Connections and locks cannot cross processes; the copy reopens the same file and
        # sees what this one has answered so far.
        if self._conn is not None:
            self.flush()
        return {"path": self.path, "hits": self.hits, "misses": self.misses}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])
        self.hits, self.misses = state["hits"], state["misses"]

    # ---- internals --------------------------------------------------------------------

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, so each statement is its own transaction.
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 30000")  # before WAL switch, which takes a lock
            self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL"))
            conn.execute("PRAGMA synchronous = NORMAL")
            self._retry(lambda: conn.execute(_SCHEMA))
        except BaseException:
            conn.close()
            raise
        self._conn, self._pid = conn, os.getpid()

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            if self._conn is None:
                raise sqlite3.ProgrammingError(f"response cache {self.path} is closed")
            if self._pid != os.getpid():
                # A forked child must neither use nor close the parent's connection (closing
                # may checkpoint and delete the WAL under the parent), so park it and reopen.
                _INHERITED.append(self._conn)
                self._open()
            conn = self._conn
            return self._retry(lambda: fn(conn))

    @staticmethod
    def _retry(fn: Callable[[], T]) -> T:
        for attempt in range(_LOCK_RETRIES):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_lock_error(exc) or attempt == _LOCK_RETRIES - 1:
                    raise
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")
