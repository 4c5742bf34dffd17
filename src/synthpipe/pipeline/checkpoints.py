"""Per-step checkpoints: what each step decided, batch by batch, written atomically.

A checkpoint stores only what cannot be had again more cheaply. Three storages:

- ``records``: one Parquet shard per batch holding every record the step emitted (kept and
  dropped). For steps that create or change records (LLM steps, PII redaction, sources that
  cannot be replayed): their output is the expensive thing to protect.
- ``drops``: one small JSON file per batch with the batch's row count and the rows the step
  dropped (row, ``_drop``). For steps that only mark drops (filters, dedup, decontamination):
  their batch is the input batch with those marks, so the records are the input's.
- ``replay``: one small JSON file per batch with its row count, a digest of its ids and its
  drops. For sources that give the same records every time (files, inline records,
  procedural generators): the records are read again from the source when needed.

Layout of a step's directory::

    steps/02-filter/
        FINGERPRINT          config + code + input hash, and the storage; a mismatch wipes the directory
        part-000000.parquet  (records) every record the step emitted for batch 0
        drops-000000.json    (drops, replay) batch 0's row count and drops
        DONE                 present once the step finished every batch

A batch file appears only complete (temp file + rename; on an object store, one whole-object
upload: see :mod:`synthpipe.data.storage`), so after a SIGKILL a batch is either
checkpointed or not at all: rerunning redoes exactly the missing batches. Files are not
fsynced unless the run asks for it (`durable`): a rename survives a killed process; only a
power loss can lose the last batches written, which a rerun redoes.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from synthpipe.data.records import DROP, ID, Batch
from synthpipe.data.storage import Store
from synthpipe.errors import StepError

STORAGES = ("records", "drops", "replay")
FORMAT = "3"  # bump when the on-disk layout changes: older checkpoints are recomputed (3: JSONL batches by line)
_SHARD = "part-{:06d}.parquet"
_DROPS = "drops-{:06d}.json"


def name_missing_ids(step_name: str, index: int, batch: Batch) -> Batch:
    """Give id-less records of a source's batch `index` the id ``<step>-<batch>-<row>``."""
    for j, record in enumerate(batch):
        if record.get(ID) in (None, ""):
            record[ID] = f"{step_name}-{index:06d}-{j:05d}"
    return batch


def kept(batch: Batch) -> Batch:
    return [r for r in batch if r.get(DROP) is None]


class StepCheckpoint:
    """One step's checkpoint. `upstream` is the checkpoint whose kept records a ``drops``
    step marks; `replay` gives a ``replay`` source's batches again from its start."""

    def __init__(
        self,
        directory: Path,
        fingerprint: str,
        storage: str = "records",
        upstream: StepCheckpoint | None = None,
        replay: Callable[[], Iterator[Batch]] | None = None,
        durable: bool = False,
        files: Store | None = None,
    ):
        if storage not in STORAGES:
            raise ValueError(f"unknown checkpoint storage {storage!r}")
        if storage == "drops" and upstream is None or storage == "replay" and replay is None:
            storage = "records"  # nothing to rebuild the records from
        self.dir = directory
        self.fingerprint = fingerprint
        self.storage = storage
        self.upstream = upstream
        self.replay = replay
        self.durable = durable
        # the batch files, FINGERPRINT and DONE: in `directory`, or under an object-store prefix
        # (side files of steps, such as audit.json, stay in `directory`)
        self.files = files or Store(directory)
        self._cursor: tuple[int, Iterator[Batch]] | None = None  # a replay's position (per process)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cursor": None}  # a generator does not travel to Ray workers

    # -- lifecycle ----------------------------------------------------------------------
    def prepare(self) -> bool:
        """Make the directory valid for this fingerprint and storage; True if work was reused."""
        want = f"{self.fingerprint}\nformat {FORMAT} storage {self.storage}\n"
        stamp = self.files.read_text("FINGERPRINT") if self.files.exists("FINGERPRINT") else None
        if stamp != want and (stamp is not None or self.dir.exists() or self.files.names()):
            self.wipe()
        self.dir.mkdir(parents=True, exist_ok=True)
        if stamp != want:
            self.files.write_text("FINGERPRINT", want, durable=False)
        return bool(self.indexes())

    def wipe(self) -> None:
        """Remove every file of the step: batch files, marks and side files."""
        self.files.clear()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def done(self) -> bool:
        return self.files.exists("DONE")

    def mark_done(self, num_batches: int) -> None:
        with self.files.writing("DONE", durable=self.durable) as tmp:
            Path(tmp).write_text(json.dumps({"batches": num_batches}))

    # -- batch files ----------------------------------------------------------------------
    def shard_name(self, index: int) -> str:
        return (_SHARD if self.storage == "records" else _DROPS).format(index)

    def shard_path(self, index: int) -> Path:
        """The local path of batch `index`'s file (see `files` for where it really lives)."""
        return self.dir / self.shard_name(index)

    def has(self, index: int) -> bool:
        return self.files.exists(self.shard_name(index))

    def indexes(self) -> list[int]:
        pattern = "part-*.parquet" if self.storage == "records" else "drops-*.json"
        return sorted(int(name.split("-")[1].split(".")[0]) for name in self.files.names(pattern))

    def committed_prefix(self) -> int:
        """Number of consecutive batches 0..k-1 present (sources write in order)."""
        have = set(self.indexes())
        k = 0
        while k in have:
            k += 1
        return k

    def write(self, index: int, batch: Batch, at: dict[str, Any] | None = None) -> None:
        """Checkpoint batch `index`: every record the step emitted for it, kept and dropped.
        `at`: where a sharded source found the batch, to read it again alone (replay)."""
        if self.storage == "records":
            import pyarrow.parquet as pq

            from synthpipe.data.arrow import records_to_table

            table = records_to_table(batch)
            with self.files.writing(self.shard_name(index), durable=self.durable) as tmp:
                pq.write_table(table, tmp)
            return
        decisions: dict[str, Any] = {
            "rows": len(batch),
            "drops": [[j, r[DROP]] for j, r in enumerate(batch) if r.get(DROP) is not None],
        }
        if self.storage == "replay":
            decisions["ids"] = ids_digest(batch)
            if at:
                decisions["at"] = at
        with self.files.writing(self.shard_name(index), durable=self.durable) as tmp:
            Path(tmp).write_text(json.dumps(decisions, ensure_ascii=False))

    def decisions(self, index: int) -> dict[str, Any]:
        """A ``drops`` or ``replay`` batch file: its rows, drops (and ids digest)."""
        return json.loads(self.files.read_text(self.shard_name(index)))

    # -- records --------------------------------------------------------------------------
    def read(self, index: int, kept_only: bool = True) -> Batch:
        """The records of batch `index` (rebuilt from upstream or the source when not stored)."""
        if self.storage == "records":
            import pyarrow.parquet as pq

            from synthpipe.data.arrow import table_to_records

            path, fs = self.files.locate(self.shard_name(index))
            batch = table_to_records(pq.read_table(path, filesystem=fs))
        elif self.storage == "drops":
            batch = self.apply(index, self.upstream.read(index, kept_only=True))
        else:
            batch = self._replayed(index)
        return kept(batch) if kept_only else batch

    def apply(self, index: int, records: Batch) -> Batch:
        """This step's batch `index` given the batch it received (`records`, the upstream's
        kept records): for ``drops``, those records marked; for ``records``, the shard."""
        if self.storage == "records":
            return self.read(index, kept_only=False)
        decisions = self.decisions(index)
        if decisions["rows"] != len(records):
            raise StepError(
                f"checkpoint {self.dir.name}: batch {index} held {decisions['rows']} records and its "
                f"input now gives {len(records)}; the input changed: rerun with --fresh"
            )
        for j, mark in decisions["drops"]:
            records[j][DROP] = mark
        return records

    def iter_batches(self, kept_only: bool = True) -> Iterator[Batch]:
        """Every checkpointed batch in order, streamed (a ``drops`` step streams its upstream
        once; a ``replay`` source is read again from its start)."""
        if self.storage == "records":
            for index in self.indexes():
                yield self.read(index, kept_only)
            return
        have = set(self.indexes())
        batches = self.upstream.iter_batches(kept_only=True) if self.storage == "drops" else self.replayed()
        for index, batch in enumerate(batches):
            if index in have:
                batch = self.apply(index, batch) if self.storage == "drops" else batch
                yield kept(batch) if kept_only else batch

    def iter_dropped(self) -> Iterator[Batch]:
        """Each batch's dropped records (rebuilt from upstream when not stored)."""
        if self.storage != "records" and not self.stats()["dropped"]:
            return  # nothing to rebuild the chain for
        for batch in self.iter_batches(kept_only=False):
            yield [r for r in batch if r.get(DROP) is not None]

    # -- a replayed source ------------------------------------------------------------------
    def replayed(self) -> Iterator[Batch]:
        """The source's batches from its start, checked against what was checkpointed."""
        for index, batch in enumerate(self.replay()):
            if self.has(index):
                self.check_replay(index, batch)
            yield batch

    def _replayed(self, index: int) -> Batch:
        """Batch `index` of the source: read alone where the source can (a sharded source noted
        where it found the batch), else from a replay, which consecutive reads continue."""
        direct = getattr(self.replay, "batch", None)
        at = self.decisions(index).get("at", {}) if direct is not None and self.has(index) else None
        if at is not None and (batch := direct(index, at)) is not None:
            self.check_replay(index, batch)
            return batch
        if self._cursor is None or self._cursor[0] > index:
            self._cursor = (0, iter(self.replayed()))
        position, batches = self._cursor
        for batch in batches:
            self._cursor = (position + 1, batches)
            if position == index:
                return batch
            position += 1
        raise StepError(f"checkpoint {self.dir.name}: the source no longer gives batch {index}: rerun with --fresh")

    def check_replay(self, index: int, batch: Batch) -> None:
        if ids_digest(batch) != self.decisions(index)["ids"]:
            raise StepError(
                f"step {self.dir.name}: batch {index} of the source differs from the checkpointed "
                "one (the source is not deterministic, or its input changed): rerun with --fresh"
            )

    # -- counts -------------------------------------------------------------------------
    def num_rows(self, index: int) -> int:
        """Records in batch `index` (kept and dropped), from the footer or the batch file."""
        if self.storage == "records":
            import pyarrow.parquet as pq

            path, fs = self.files.locate(self.shard_name(index))
            return pq.ParquetFile(path, filesystem=fs).metadata.num_rows
        return self.decisions(index)["rows"]

    def counts(self, index: int) -> tuple[int, list[dict]]:
        """Batch `index`'s row count and the `_drop` values of its dropped records."""
        if self.storage == "records":
            import pyarrow.parquet as pq

            path, fs = self.files.locate(self.shard_name(index))
            column = pq.read_table(path, columns=[DROP], filesystem=fs).column(DROP).to_pylist()
            return len(column), [json.loads(v) for v in column if v is not None]
        decisions = self.decisions(index)
        return decisions["rows"], [mark for _, mark in decisions["drops"]]

    def batches_with_reasons(self, reasons: frozenset[str]) -> list[int]:
        """Indexes of batches holding records dropped for one of `reasons`."""
        return [i for i in self.indexes() if any(m.get("reason") in reasons for m in self.counts(i)[1])]

    def forget(self, indexes: list[int]) -> None:
        """Drop these batches (and the DONE mark) so the executor redoes those batches."""
        self.files.remove("DONE")
        for index in indexes:
            self.files.remove(self.shard_name(index))

    def stats(self) -> dict:
        """Counts from the batch files themselves, so resumed and reused steps report the truth."""
        out = dropped = 0
        reasons: Counter[str] = Counter()
        for index in self.indexes():
            rows, marks = self.counts(index)
            out += rows
            dropped += len(marks)
            reasons.update(m.get("reason", "?") for m in marks)
        return {"out": out, "kept": out - dropped, "dropped": dropped, "reasons": dict(reasons.most_common())}


def ids_digest(batch: Batch) -> str:
    """A short digest of a batch's ids in order (a replay must give the same records)."""
    import hashlib

    return hashlib.blake2b("\0".join(str(r.get(ID)) for r in batch).encode(), digest_size=12).hexdigest()
