"""Per-step checkpoints: one Parquet shard per batch, written atomically.

Layout of a step's directory::

    steps/02-filter/
        FINGERPRINT        config + code + input hash; a mismatch wipes the directory
        part-000000.parquet  every record the step emitted for batch 0 (kept and dropped)
        DONE               present once the step finished every batch

A shard appears only complete (temp file + rename), so after a SIGKILL a batch is either
fully checkpointed or not at all: rerunning redoes exactly the missing batches.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from synthpipe.data.arrow import records_to_table, table_to_records
from synthpipe.data.records import DROP, Batch
from synthpipe.data.writers import atomic_path

_SHARD = "part-{:06d}.parquet"


class StepCheckpoint:
    def __init__(self, directory: Path, fingerprint: str):
        self.dir = directory
        self.fingerprint = fingerprint

    # -- lifecycle ----------------------------------------------------------------------
    def prepare(self) -> bool:
        """Make the directory valid for this fingerprint; return True if work was reused."""
        stamp = self.dir / "FINGERPRINT"
        if self.dir.exists() and (not stamp.exists() or stamp.read_text() != self.fingerprint):
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        if not stamp.exists():
            stamp.write_text(self.fingerprint)
        return any(self.dir.glob("part-*.parquet"))

    @property
    def done(self) -> bool:
        return (self.dir / "DONE").exists()

    def mark_done(self, num_batches: int) -> None:
        with atomic_path(self.dir / "DONE") as tmp:
            Path(tmp).write_text(json.dumps({"batches": num_batches}))

    # -- shards -------------------------------------------------------------------------
    def shard_path(self, index: int) -> Path:
        return self.dir / _SHARD.format(index)

    def has(self, index: int) -> bool:
        return self.shard_path(index).exists()

    def write(self, index: int, batch: Batch) -> None:
        table = records_to_table(batch)
        with atomic_path(self.shard_path(index)) as tmp:
            pq.write_table(table, tmp)

    def read(self, index: int, kept_only: bool = True) -> Batch:
        records = table_to_records(pq.read_table(self.shard_path(index)))
        return [r for r in records if r.get(DROP) is None] if kept_only else records

    def num_rows(self, index: int) -> int:
        """Records in shard `index` (kept and dropped), from the Parquet footer."""
        return pq.ParquetFile(self.shard_path(index)).metadata.num_rows

    def indexes(self) -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in self.dir.glob("part-*.parquet"))

    def committed_prefix(self) -> int:
        """Number of consecutive shards 0..k-1 present (sources write in order)."""
        have = set(self.indexes())
        k = 0
        while k in have:
            k += 1
        return k

    def iter_batches(self, kept_only: bool = True) -> Iterator[Batch]:
        for index in self.indexes():
            yield self.read(index, kept_only)

    def iter_dropped(self) -> Iterator[Batch]:
        for batch in self.iter_batches(kept_only=False):
            yield [r for r in batch if r.get(DROP) is not None]

    def batches_with_reasons(self, reasons: frozenset[str]) -> list[int]:
        """Indexes of shards holding records dropped for one of `reasons`."""
        found = []
        for index in self.indexes():
            column = pq.read_table(self.shard_path(index), columns=[DROP]).column(DROP).to_pylist()
            if any(v is not None and json.loads(v).get("reason") in reasons for v in column):
                found.append(index)
        return found

    def forget(self, indexes: list[int]) -> None:
        """Drop these shards (and the DONE mark) so the executor redoes those batches."""
        (self.dir / "DONE").unlink(missing_ok=True)
        for index in indexes:
            self.shard_path(index).unlink(missing_ok=True)

    def stats(self) -> dict:
        """Counts from the shards themselves, so resumed and reused steps report the truth."""
        out = dropped = 0
        reasons: Counter[str] = Counter()
        for path in sorted(self.dir.glob("part-*.parquet")):
            column = pq.read_table(path, columns=[DROP]).column(DROP).to_pylist()
            out += len(column)
            for value in column:
                if value is not None:
                    dropped += 1
                    reasons[json.loads(value).get("reason", "?")] += 1
        return {"out": out, "kept": out - dropped, "dropped": dropped, "reasons": dict(reasons.most_common())}
