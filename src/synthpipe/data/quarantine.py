"""Quarantine: where malformed input records go instead of crashing the run.

Each bad record becomes one JSON line ``{"file", "line", "reason", "raw"}``. In strict mode
the first bad record raises :class:`~synthpipe.errors.DataError` instead.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import IO, Any

from synthpipe.errors import DataError

RAW_LIMIT = 2000  # chars of the offending input kept per entry


def strict_error(file: str, line: int | None, reason: str) -> DataError:
    """The error strict mode raises for one bad record."""
    where = file if line is None else f"{file}:{line}"
    return DataError(
        f"{where}: {reason} (fix the record, or run without --strict to quarantine bad records)"
    )


def reason_category(reason: str) -> str:
    """Group reasons for counting: the text before the first ':' ("bad JSON: ..." -> "bad JSON")."""
    return reason.split(":", 1)[0].strip()


class Quarantine:
    """Collects malformed input records; optionally appends them to a JSONL file."""

    def __init__(
        self, path: Path | str | None = None, strict: bool = False, keep_in_memory: int = 100
    ):
        self.path = Path(path) if path is not None else None
        self.strict = strict
        self.keep_in_memory = keep_in_memory
        self.entries: list[dict[str, Any]] = []
        self.count = 0
        self.reasons: Counter[str] = Counter()
        self._fh: IO[str] | None = None
        self._lock = threading.Lock()  # steps may report from worker threads

    def add(self, file: str, line: int | None, reason: str, raw: str | None = None) -> None:
        if self.strict:
            raise strict_error(file, line, reason)
        entry = {
            "file": file,
            "line": line,
            "reason": reason,
            "raw": None if raw is None else raw[:RAW_LIMIT],
        }
        with self._lock:
            self._write(entry)
            if len(self.entries) < self.keep_in_memory:
                self.entries.append(entry)
            self.count += 1
            self.reasons[reason_category(reason)] += 1

    def _write(self, entry: dict[str, Any]) -> None:
        if self.path is None:
            return
        if self._fh is None:  # opened lazily: a clean run leaves no file behind
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
        self._fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._fh.flush()  # in the OS's hands now: a SIGKILL loses nothing

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> Quarantine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # A copy sent to another process appends to the same file through its own handle.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_fh"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
