"""A finished run's records: kept, and the ledger step by step, from the spill or rebuilt.

The executor sets each finished batch's outputs aside in a :class:`RecordSpill` as the run
goes (see :mod:`synthpipe.pipeline.spill`). When it holds every batch of every step, the
outputs stream from it. Otherwise (steps reused from an earlier run, the Ray executor) the
records are rebuilt from the checkpoints: steps that only mark drops store no records, so a
step's batch is its *anchor*'s (the nearest step before it that stores records, or a replayed
source) with the marks of the steps in between applied; one walk per anchor rebuilds every
step's batch at once and sets the dropped records aside in a fresh spill.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthpipe.data.manifest import SHARDED_FORMATS, remove_output, write_sharded
from synthpipe.data.records import DROP, Record
from synthpipe.data.sampling import tap_sample
from synthpipe.data.writers import write_records
from synthpipe.pipeline.plan import PlannedStep, anchor_groups
from synthpipe.pipeline.spill import KEPT, RecordSpill

REPORT_SAMPLE = 20_000  # the report's statistics use at most this many evenly spaced records


@dataclass
class Written:
    """One output as written: its record count, layout and the report's sample of it."""

    count: int
    sharded: bool
    sample: list[Record] = field(default_factory=list)


def write_outputs(
    plan: list[PlannedStep],
    spill: RecordSpill,
    root: Path,
    fmt: str,
    kept: int,
    dropped: dict[str, int],
    shard_rows: int | None = None,
    executor: Any = None,
    shared_root: str | None = None,
) -> dict[str, Written]:
    """Write ``kept.<fmt>`` and ``dropped.<fmt>`` under `root`; `kept` and `dropped` (per step
    name) are the counts of the checkpoints.

    An executor with ``write_outputs`` (Ray) writes them itself as sharded outputs, from its
    workers. Otherwise they are written here, streamed from the spill or rebuilt: one file
    each, or shards of `shard_rows` records once an output holds more than that.
    `shared_root`: where the executor's workers write instead of `root` (a run directory's
    object-store URI: workers on other nodes cannot reach the local `root`)."""
    if (remote := getattr(executor, "write_outputs", None)) is not None:
        try:
            done = remote(plan, shared_root or root, fmt, shard_rows=shard_rows, sample=REPORT_SAMPLE)
        finally:
            executor.close()  # the executor's own Ray, if it started one, is done
        if done is not None:
            return {key: Written(count, True, sample) for key, (count, sample) in done.items()}
    records = kept_records(plan, spill, dropped)
    written = {"kept": _write(records, root / f"kept.{fmt}", fmt, kept, shard_rows)}  # fills the spill's drops
    written["dropped"] = _write(spill.dropped(), root / f"dropped.{fmt}", fmt, sum(dropped.values()), shard_rows)
    return written


def _write(records: Iterable[Record], path: Path, fmt: str, total: int, shard_rows: int | None) -> Written:
    written = Written(0, bool(shard_rows and total > shard_rows and fmt in SHARDED_FORMATS))
    records = tap_sample(records, total, REPORT_SAMPLE, written.sample)
    if written.sharded:
        written.count = write_sharded(records, path, fmt, shard_rows, written_by="local")["rows"]
    else:
        if path.is_dir() and fmt != "hf":
            remove_output(path)  # an earlier run's shards
        written.count = write_records(records, path, format=fmt)
    return written


def kept_records(plan: list[PlannedStep], spill: RecordSpill, dropped: dict[str, int]) -> Iterator[Record]:
    """The run's kept records in order, from `spill` if it holds every batch, else rebuilt (the
    dropped records then go into `spill` as they are met). `dropped[name]`: a step's drop count."""
    if covers(spill, plan):
        records = spill.records(KEPT)
    else:
        spill.reset()
        records = walk(plan, spill, dropped)
    for record in records:
        record.setdefault(DROP, None)  # kept records say `_drop: null`, however they were rebuilt
        yield record


def covers(spill: RecordSpill, plan: list[PlannedStep]) -> bool:
    """True when `spill` holds every checkpointed batch of every step, and the kept ones."""
    have = {p.name: len(p.checkpoint.indexes()) for p in plan}
    return all(spill.batches(name) == n for name, n in have.items()) and spill.batches(KEPT) == have[plan[-1].name]


def walk(plan: list[PlannedStep], spill: RecordSpill, dropped: dict[str, int]) -> Iterator[Record]:
    """The kept records rebuilt from the checkpoints; every step's dropped records go to
    `spill`. Groups without drops are not walked, but the last (it gives the kept records)."""
    groups = anchor_groups(plan)
    for group in groups[:-1]:
        if any(dropped.get(p.name) for p in group):
            for _ in _walk_group(group, spill):
                pass
    yield from _walk_group(groups[-1], spill)


def _walk_group(group: list[PlannedStep], spill: RecordSpill) -> Iterator[Record]:
    anchor, *marked = group
    batches = anchor.checkpoint.iter_batches(kept_only=False)
    for index, batch in zip(anchor.checkpoint.indexes(), batches, strict=True):
        records = spill.set_aside(anchor.name, index, batch)
        for p in marked:
            records = spill.set_aside(p.name, index, p.checkpoint.apply(index, records))
        yield from records
