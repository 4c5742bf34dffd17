"""A finished run's records, rebuilt once from its checkpoints: kept, and the ledger by step.

Steps that only mark drops checkpoint their decisions, not their records (see
:mod:`synthpipe.pipeline.checkpoints`), so a step's records are its *anchor*'s (the nearest
step before it that stores records, or a replayed source) with the marks of the steps in
between applied. One walk per anchor rebuilds every step's batch at once: the last walk streams
the kept records out, and each step's dropped records are set aside in a spill file so that
the ledger lists them step by step without walking the chain again per step.
"""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from synthpipe.data.records import DROP, Record
from synthpipe.pipeline.checkpoints import kept
from synthpipe.pipeline.plan import PlannedStep


class LedgerSpill:
    """Each step's dropped records, pickled batch by batch into a file of its own."""

    def __init__(self, directory: Path, plan: list[PlannedStep]):
        self.dir = directory
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        self.names = [p.name for p in plan]
        self._files: dict[str, BinaryIO] = {}

    def add(self, step: str, records: list[Record]) -> None:
        if records:
            if step not in self._files:
                self._files[step] = (self.dir / f"{self.names.index(step):03d}.pkl").open("wb")
            pickle.dump(records, self._files[step], protocol=pickle.HIGHEST_PROTOCOL)

    def records(self) -> Iterator[Record]:
        """Every spilled record, step by step in plan order."""
        for handle in self._files.values():
            handle.close()
        for path in sorted(self.dir.glob("*.pkl")):
            with path.open("rb") as fh:
                while True:
                    try:
                        yield from pickle.load(fh)
                    except EOFError:
                        break

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        shutil.rmtree(self.dir, ignore_errors=True)


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


def walk(plan: list[PlannedStep], spill: LedgerSpill, dropped: dict[str, int]) -> Iterator[Record]:
    """The kept records of the run, in order; every step's dropped records go to `spill`.
    `dropped[name]`: the step's drop count (groups with none are not walked, but the last)."""
    groups = anchor_groups(plan)
    for group in groups[:-1]:
        if any(dropped.get(p.name) for p in group):
            for _ in _walk_group(group, spill):
                pass
    yield from _walk_group(groups[-1], spill)


def _walk_group(group: list[PlannedStep], spill: LedgerSpill) -> Iterator[Record]:
    anchor, *marked = group
    batches = anchor.checkpoint.iter_batches(kept_only=False)
    for index, batch in zip(anchor.checkpoint.indexes(), batches, strict=True):
        spill.add(anchor.name, _dropped(batch))
        records = kept(batch)
        for p in marked:
            batch = p.checkpoint.apply(index, records)
            spill.add(p.name, _dropped(batch))
            records = kept(batch)
        for record in records:
            record.pop(DROP, None)  # None whether it came from a shard or was never set
            yield record


def _dropped(batch: list[Record]) -> list[Record]:
    return [r for r in batch if r.get(DROP) is not None]
