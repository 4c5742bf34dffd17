"""Set the run's outputs aside as batches finish, so they are written without a second pass.

Steps that only mark drops do not store their records (see checkpoints.py), so writing
``kept`` and ``dropped`` after a run would mean rebuilding every batch from the checkpoints
(reading a replayed source again). While the executor has each batch in memory anyway, it
hands the records each step dropped, and the records the last step kept, to a
:class:`RecordSpill`: one pickle file per step (and one for the kept records), appended in
batch order whatever order batches finish in. When the spill holds every batch of every step,
the outputs are streamed from it; otherwise (a step reused from an earlier run, the Ray
executor) they are rebuilt from the checkpoints, into a fresh spill.
"""

from __future__ import annotations

import pickle
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from synthpipe.data.records import DROP, Batch, Record

KEPT = "(kept)"


class RecordSpill:
    """Records by step, in batch order; `add` may be called from any thread."""

    def __init__(self, directory: Path, steps: list[str]):
        self.dir = directory
        self.steps = steps
        self._lock = threading.Lock()
        self._files: dict[str, BinaryIO] = {}
        self._next: dict[str, int] = {}  # the next batch index to append, per step
        self._pending: dict[str, dict[int, Batch]] = {}  # batches that finished early
        self.reset()

    def reset(self) -> None:
        self.close()
        self.dir.mkdir(parents=True)
        self._next = {}
        self._pending = {}

    def add(self, step: str, index: int, records: Batch) -> None:
        """Step `step`'s records of batch `index` (its dropped ones, or the kept ones for KEPT)."""
        with self._lock:
            pending = self._pending.setdefault(step, {})
            pending[index] = records
            nxt = self._next.get(step, 0)
            while nxt in pending:
                self._append(step, pending.pop(nxt))
                nxt += 1
            self._next[step] = nxt

    def set_aside(self, step: str, index: int, batch: Batch) -> Batch:
        """Add the records of `step`'s batch `index` that it dropped; returns the kept ones."""
        self.add(step, index, [r for r in batch if r.get(DROP) is not None])
        return [r for r in batch if r.get(DROP) is None]

    def batches(self, step: str) -> int:
        """Consecutive batches 0..n-1 of `step` appended so far."""
        return self._next.get(step, 0)

    def records(self, step: str) -> Iterator[Record]:
        """Every record spilled for `step`, in batch order."""
        handle = self._files.get(step)
        if handle is None:
            return
        handle.flush()
        with open(handle.name, "rb") as fh:
            while True:
                try:
                    yield from pickle.load(fh)
                except EOFError:
                    return

    def dropped(self) -> Iterator[Record]:
        """The ledger: every step's dropped records, step by step in plan order."""
        for step in self.steps:
            yield from self.records(step)

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files = {}
        shutil.rmtree(self.dir, ignore_errors=True)

    def _append(self, step: str, records: Batch) -> None:
        if not records:
            return
        handle = self._files.get(step)
        if handle is None:
            name = "kept" if step == KEPT else f"{self.steps.index(step):03d}"
            handle = self._files[step] = (self.dir / f"{name}.pkl").open("wb")
        pickle.dump(records, handle, protocol=pickle.HIGHEST_PROTOCOL)
