"""The run directory's record of every provider batch (`llm_batches.jsonl`), so a killed run
re-attaches to its batches instead of paying for them again.

Append-only JSONL, one event a line, fsync'd: `uploaded` (OpenAI: the input file, written
before the batch is created, so a kill between upload and create is found again by its file
id), `created` (right after the provider answered the create call: the batch id and its
custom_ids), `ended` (the provider's final status and counts), `read` (its results are in
the response cache) and `abandoned` (the provider no longer knows it: its lines are sent
again). A batch created but not read is open: a rerun waits on it. The one window left is a
kill after the provider created a batch and before `created` was written (for OpenAI the
batch is then found by its input file id; Anthropic has no such handle: paid twice).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE_NAME = "llm_batches.jsonl"


@dataclass
class BatchRecord:
    """What the registry knows of one batch."""

    endpoint: str
    provider: str
    custom_ids: list[str]
    file_id: str | None = None
    batch_id: str | None = None  # None: uploaded, create not confirmed
    submitted: float | None = None
    status: str = "uploaded"
    counts: dict[str, Any] = field(default_factory=dict)
    read: bool = False


class BatchRegistry:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def uploaded(self, endpoint: str, provider: str, file_id: str, custom_ids: list[str]) -> None:
        self._append({"event": "uploaded", "endpoint": endpoint, "provider": provider, "file_id": file_id,
                      "custom_ids": custom_ids})  # fmt: skip

    def created(
        self, endpoint: str, provider: str, batch_id: str, custom_ids: list[str], file_id: str | None, status: str
    ) -> None:
        self._append({"event": "created", "endpoint": endpoint, "provider": provider, "batch_id": batch_id,
                      "file_id": file_id, "custom_ids": custom_ids, "submitted": time.time(), "status": status})  # fmt: skip

    def ended(self, batch_id: str, status: str, counts: dict[str, Any]) -> None:
        self._append({"event": "ended", "batch_id": batch_id, "status": status, "counts": counts})

    def read(self, batch_id: str) -> None:
        self._append({"event": "read", "batch_id": batch_id})

    def abandoned(self, batch_id: str | None, file_id: str | None, reason: str) -> None:
        """The provider does not know this batch (or input file) any more: never wait on it again."""
        self._append({"event": "abandoned", "batch_id": batch_id, "file_id": file_id, "reason": reason})

    def _append(self, event: dict[str, Any]) -> None:
        line = json.dumps({**event, "time": time.time()}, separators=(",", ":")) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())

    def records(self) -> list[BatchRecord]:
        """Every batch, in the order first seen; a torn last line (a kill mid-write) is skipped."""
        if not self.path.exists():
            return []
        by_file: dict[str, BatchRecord] = {}
        by_id: dict[str, BatchRecord] = {}
        order: list[BatchRecord] = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            kind = event.get("event")
            if kind in ("uploaded", "created"):
                record = by_file.get(event.get("file_id") or "") if kind == "created" else None
                if record is None:
                    record = BatchRecord(event["endpoint"], event["provider"], event["custom_ids"], event.get("file_id"))
                    order.append(record)
                    if record.file_id:
                        by_file[record.file_id] = record
                if kind == "created":
                    record.batch_id, record.submitted, record.status = event["batch_id"], event["submitted"], event["status"]
                    by_id[record.batch_id] = record
            elif kind == "abandoned":
                record = by_id.get(event.get("batch_id")) or by_file.get(event.get("file_id") or "")
                if record is not None:
                    record.status, record.read = "abandoned", True
            elif (record := by_id.get(event.get("batch_id"))) is not None:
                if kind == "ended":
                    record.status, record.counts = event["status"], event.get("counts") or {}
                elif kind == "read":
                    record.read = True
        return order

    def open_batches(self, endpoint: str) -> dict[str, BatchRecord]:
        """custom_id -> the unread batch of `endpoint` it was sent in (the latest one)."""
        out: dict[str, BatchRecord] = {}
        for record in self.records():
            if record.endpoint == endpoint and not record.read:
                out.update(dict.fromkeys(record.custom_ids, record))
        return out
