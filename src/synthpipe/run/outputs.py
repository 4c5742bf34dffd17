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

from collections.abc import Iterator

from synthpipe.data.records import DROP, Record
from synthpipe.pipeline.plan import PlannedStep
from synthpipe.pipeline.spill import KEPT, RecordSpill


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


def anchor_groups(plan: list[PlannedStep]) -> list[list[PlannedStep]]:
    """The plan cut before every step whose checkpoint is not a ``drops`` one: each group's
    batches are its first step's, marked by the others."""
    groups: list[list[PlannedStep]] = []
    for p in plan:
        if p.checkpoint.storage != "drops" or not groups:
            groups.append([p])
        else:
            groups[-1].append(p)
    return groups


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
