"""A source read by the workers, shard by shard, and streamed into the map steps after it.

The driver only plans the shards (:meth:`SourceStep.plan_shards`; for JSONL the lines of each
byte piece are counted by tasks) and counts what comes back; no record passes through it.
Each shard is one Ray Data task that reads its batches, checkpoints them as the local
executor does (a replayed source's counts, ids digest and where the batch lies, so a later
step reads batch k alone) and hands each batch on as one row, so the first map stage starts
on the first batches while later shards are still being read.

A whole read quarantines a record whose id repeats an earlier valid record's. A shard sees
only its own records, so each shard also notes a 128-bit digest of every valid id with its
line (``ids-<first batch>.npz``, split into partitions by digest); once the source is read,
one task per partition finds digests seen twice. The batches holding a later occurrence are
read again with those lines named, which quarantines them as a whole read would. Inputs with
unique ids (the usual case) pay the digests and one pass over them, nothing more.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import pickle
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from synthpipe.data.quarantine import Quarantine
from synthpipe.data.records import ID, Batch
from synthpipe.data.shards import Shard
from synthpipe.data.storage import Store
from synthpipe.pipeline.checkpoints import StepCheckpoint, kept, name_missing_ids
from synthpipe.pipeline.distributed import StepSpec
from synthpipe.pipeline.step import StepContext

PARTITIONS = 16  # id-digest partitions: one duplicate-finding task each


@dataclasses.dataclass
class ReadJob:
    """What a shard-reading task needs: the source, its checkpoint, and the segment's maps
    (to tell which of them still miss each batch)."""

    name: str
    step: StepSpec
    ctx: StepContext
    checkpoint: StepCheckpoint
    maps: list[tuple[str, StepCheckpoint]]
    partitions: int
    duplicates: dict[int, str] = dataclasses.field(default_factory=dict)  # line -> id, found earlier

    def forget_ids(self) -> None:
        for name in self.checkpoint.files.names("ids-*.npz"):
            self.checkpoint.files.remove(name)


def read_shards(table: Any, job: ReadJob) -> Iterator[Any]:
    """Ray Data UDF: each input row names a shard; yields one row per batch read."""
    for blob in table.column("shard").to_pylist():
        yield from _read_shard(pickle.loads(blob), job)


def _read_shard(shard: Shard, job: ReadJob) -> Iterator[Any]:
    step = job.step.build()
    with tempfile.TemporaryDirectory(prefix="synthpipe-shard-") as scratch:
        local = Path(scratch) / "quarantine.jsonl"
        yield from _read_into(shard, job, step, local)
        name = f"quarantine-{shard.first:06d}.jsonl"  # beside the checkpoint, wherever that lives
        if local.exists():
            job.checkpoint.files.upload(local, name)
        else:  # read again: its entries are written again
            job.checkpoint.files.remove(name)


def _read_into(shard: Shard, job: ReadJob, step: Any, quarantine_path: Path) -> Iterator[Any]:
    with Quarantine(quarantine_path, strict=job.ctx.strict) as quarantine:
        ctx = dataclasses.replace(job.ctx, quarantine=quarantine)
        duplicates = {**_known_repeats(shard, job.checkpoint), **job.duplicates}
        extra = {"duplicates": duplicates} if duplicates else {}
        ids = _IdLog(job.partitions)
        batches = step.read_shard(shard, ctx, **extra)
        while True:
            started = time.perf_counter()
            found = next(batches, None)
            if found is None:
                break
            records = name_missing_ids(job.name, found.index, found.records)
            _checkpoint(job.checkpoint, found.index, records, found.at)
            if found.lines is not None:
                ids.add(records, found.lines)
            yield _row(job, found.index, records, time.perf_counter() - started)
    if ids.count:
        job.checkpoint.files.write_bytes(f"ids-{shard.first:06d}.npz", ids.to_bytes(), durable=False)


def _known_repeats(shard: Shard, checkpoint: StepCheckpoint) -> dict[int, str]:
    """Lines an earlier run of this step found repeating an earlier shard's id (a rerun's
    first pass must quarantine them again to give the batches it checkpointed)."""
    found: dict[int, str] = {}
    for index in range(shard.first, shard.first + (shard.count or 0)):
        if checkpoint.has(index):
            at = checkpoint.decisions(index).get("at") or {}
            found.update((int(n), i) for n, i in at.get("duplicates", {}).items())
    return found


def _checkpoint(checkpoint: StepCheckpoint, index: int, records: Batch, at: dict) -> None:
    if checkpoint.has(index):  # a resumed run: the batch must be the one read before
        checkpoint.check_replay(index, records)
    else:
        checkpoint.write(index, records, at=at)


def _row(job: ReadJob, index: int, records: Batch, seconds: float) -> Any:
    """The row the map stages take (see ray_executor._run_stage): the batch, from the first
    map step still missing it, with the steps' counts for progress."""
    import pyarrow as pa

    start = 0
    while start < len(job.maps) and job.maps[start][1].has(index):
        start += 1
    stats = {job.name: [len(records), seconds]}
    for name, checkpoint in job.maps[:start]:  # finished before an interruption
        stats[name] = [checkpoint.num_rows(index), 0.0]
    blob = pickle.dumps(kept(records), protocol=pickle.HIGHEST_PROTOCOL) if start == 0 and job.maps else None
    return pa.table({
        "index": pa.array([index], pa.int64()),
        "start": pa.array([start], pa.int64()),
        "blob": pa.array([blob], pa.binary()),
        "stats": pa.array([json.dumps(stats)], pa.string()),
    })  # fmt: skip


class _IdLog:
    """Digests of a shard's valid ids with their lines, split into partitions by digest."""

    def __init__(self, partitions: int):
        self.partitions = partitions
        self.digests: list[bytes] = []
        self.lines: list[int] = []

    @property
    def count(self) -> int:
        return len(self.lines)

    def add(self, records: Batch, lines: list[int]) -> None:
        for record, line in zip(records, lines, strict=True):
            self.digests.append(hashlib.blake2b(str(record[ID]).encode(), digest_size=16).digest())
            self.lines.append(line)

    def to_bytes(self) -> bytes:
        import numpy as np

        pairs = np.frombuffer(b"".join(self.digests), dtype=np.uint64).reshape(-1, 2)
        lines = np.asarray(self.lines, dtype=np.int64)
        part = pairs[:, 0] % np.uint64(self.partitions)
        arrays = {}
        for p in range(self.partitions):
            mine = part == p
            arrays[f"d{p}"], arrays[f"l{p}"] = pairs[mine], lines[mine]
        out = io.BytesIO()
        np.savez(out, **arrays)
        return out.getvalue()


def repeated_lines(files: Store, partition: int) -> list[int]:
    """Lines whose id digest (in `partition`) some earlier line already has: every occurrence
    of an id but its first. `files`: where the shards put their ``ids-*.npz``."""
    import numpy as np

    digests, lines = [], []
    for name in sorted(files.names("ids-*.npz")):
        path, fs = files.locate(name)  # a local file is read lazily, member by member
        with np.load(path if fs is None else io.BytesIO(files.read_bytes(name))) as arrays:
            digests.append(arrays[f"d{partition}"])
            lines.append(arrays[f"l{partition}"])
    if not lines:
        return []
    d, n = np.concatenate(digests), np.concatenate(lines)
    order = np.lexsort((n, d[:, 1], d[:, 0]))
    d, n = d[order], n[order]
    again = np.zeros(len(n), dtype=bool)
    again[1:] = (d[1:] == d[:-1]).all(axis=1)
    return n[again].tolist()
