"""A run's kept and dropped outputs written by Ray workers, as sharded outputs.

``kept.<fmt>`` and ``dropped.<fmt>`` become directories of shards plus a manifest (see
:mod:`synthpipe.data.manifest`). The plan is cut as :mod:`synthpipe.run.outputs` cuts it to
rebuild records: an *anchor* step that stores (or replays) its batches, then the steps that
only mark drops on them. Each anchor's batch indexes are cut into runs of consecutive
indexes; one Ray task per run rebuilds those batches from the checkpoints (consecutive
indexes, so a replayed source streams once per task) and writes the run's kept shard and one
dropped shard per step. Only runs with something to write get a task.

The shards concatenate to the local executor's files record for record: kept in batch order;
dropped step by step in plan order, then batch order, as :class:`RecordSpill` orders them.
The driver reads only the checkpoints' counts (to name shards and place the report's sample),
then writes the two manifests. Tasks return their shards' entries and the records at the
sample's positions, so the driver never holds the outputs.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import time
from pathlib import Path
from typing import Any

from synthpipe.data.manifest import prepare_output, shard_name, write_manifest, write_shard
from synthpipe.data.records import DROP, Record
from synthpipe.data.sampling import evenly_spaced, tap
from synthpipe.data.storage import join
from synthpipe.errors import StepError
from synthpipe.executors.ray_jobs import MAX_RETRIES, cluster_cpus, unwrap
from synthpipe.pipeline.checkpoints import StepCheckpoint
from synthpipe.pipeline.plan import PlannedStep, anchor_groups

DEFAULT_SHARD_ROWS = 100_000  # at most this many input records per task (and so per shard)


@dataclasses.dataclass
class _Shard:
    """One output shard to be written: its file, rows and the sample positions in it."""

    rows: int
    file: str = ""  # part-NNNNN.<fmt>, numbered in the output's order
    picks: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Run:
    """One task: rebuild batches `indexes` of an anchor group, write its shards."""

    steps: list[tuple[str, StepCheckpoint]]  # the anchor, then the steps marking drops on it
    indexes: list[int]
    kept: _Shard | None  # None: not the last group, or nothing kept in these batches
    dropped: list[_Shard | None]  # per step of the group; None: it dropped nothing here


def write_outputs(
    ray: Any, plan: list[PlannedStep], root: Path | str, fmt: str, *, shard_rows: int | None = None, sample: int = 20_000
) -> dict[str, tuple[int, list[Record]]]:
    """Write ``kept.<fmt>`` and ``dropped.<fmt>`` under `root` as sharded outputs, from Ray
    tasks; returns ``{"kept": (rows, sample), "dropped": (rows, sample)}``, each sample at most
    `sample` evenly spaced records (the same records a local run's report samples)."""
    runs = _plan_runs(plan, shard_rows, cluster_cpus(ray))
    kept_shards = [r.kept for r in runs if r.kept is not None]
    dropped_shards = _dropped_order(plan, runs)
    for shards in (kept_shards, dropped_shards):
        for k, shard in enumerate(shards):
            shard.file = shard_name(k, fmt)
    kept_total, dropped_total = _place(kept_shards, sample), _place(dropped_shards, sample)
    kept_dir, dropped_dir = prepare_output(join(root, f"kept.{fmt}")), prepare_output(join(root, f"dropped.{fmt}"))
    todo = [r for r in runs if r.kept is not None or any(r.dropped)]
    task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(_write_run)
    try:
        results = ray.get([task.remote(r, str(kept_dir), str(dropped_dir), fmt) for r in todo])
    except Exception as exc:
        raise unwrap(exc) from exc
    written: dict[int, tuple[dict, list[Record]]] = {}  # by id() of the driver's _Shard
    busy = round(sum(seconds for _, _, seconds in results), 3)  # the writing tasks', summed
    for run, (kept, dropped, _) in zip(todo, results, strict=True):
        for shard, got in [(run.kept, kept), *zip(run.dropped, dropped, strict=True)]:
            if shard is not None:
                written[id(shard)] = _checked(shard, got)
    out = {}
    for key, directory, shards, total in [
        ("kept", kept_dir, kept_shards, kept_total),
        ("dropped", dropped_dir, dropped_shards, dropped_total),
    ]:
        write_manifest(directory, fmt, [written[id(s)][0] for s in shards], written_by="ray", task_seconds=busy)
        out[key] = (total, [r for s in shards for r in written[id(s)][1]])
    return out


# -- the driver's plan: runs, shard names, sample positions -----------------------------------
def _plan_runs(plan: list[PlannedStep], shard_rows: int | None, cpus: int) -> list[_Run]:
    """Every group's runs of consecutive batches, with the shards each would write (from the
    checkpoints' counts: rows per batch, drops per batch and step)."""
    groups = anchor_groups(plan)
    runs: list[_Run] = []
    for g, group in enumerate(groups):
        last = g == len(groups) - 1
        counts = {p.name: {i: p.checkpoint.counts(i) for i in group[0].checkpoint.indexes()} for p in group}
        if not last and not any(len(m) for c in counts.values() for _, m in c.values()):
            continue  # nothing dropped in this group and its records are not the output
        rows = {i: n for i, (n, _) in counts[group[0].name].items()}
        target = shard_rows or min(DEFAULT_SHARD_ROWS, max(1, math.ceil(sum(rows.values()) / (2 * cpus))))
        for indexes in _cut(sorted(rows), rows, target):
            run = _Run([(p.name, p.checkpoint) for p in group], indexes, None, [])
            for p in group:
                n = sum(len(counts[p.name][i][1]) for i in indexes)
                run.dropped.append(_Shard(n) if n else None)
            if last:
                final = counts[group[-1].name]
                n = sum(final[i][0] - len(final[i][1]) for i in indexes)
                run.kept = _Shard(n) if n else None
            runs.append(run)
    return runs


def _cut(indexes: list[int], rows: dict[int, int], target: int) -> list[list[int]]:
    """Runs of consecutive indexes holding about `target` rows each."""
    runs: list[list[int]] = []
    held = 0
    for i in indexes:
        if not runs or held >= target or runs[-1][-1] != i - 1:
            runs.append([])
            held = 0
        runs[-1].append(i)
        held += rows[i]
    return runs


def _dropped_order(plan: list[PlannedStep], runs: list[_Run]) -> list[_Shard]:
    """The dropped shards in the ledger's order: step by step in plan order, then batch order."""
    order = []
    for p in plan:
        for run in runs:
            for (name, _), shard in zip(run.steps, run.dropped, strict=True):
                if name == p.name and shard is not None:
                    order.append(shard)
    return order


def _place(shards: list[_Shard], sample: int) -> int:
    """Give each shard the positions (in it) of the evenly spaced sample over all; the total."""
    starts, total = [], 0
    for shard in shards:
        starts.append(total)
        total += shard.rows
    for position in evenly_spaced(total, sample):
        k = bisect.bisect_right(starts, position) - 1
        shards[k].picks.append(position - starts[k])
    return total


def _checked(shard: _Shard, got: tuple[dict, list[Record]]) -> tuple[dict, list[Record]]:
    entry, _ = got
    if entry["rows"] != shard.rows:
        raise StepError(
            f"output shard {shard.file}: {entry['rows']} records written, the checkpoints count "
            f"{shard.rows}; the run directory changed while writing: rerun the same command"
        )
    return got


# -- on a worker -------------------------------------------------------------------------------
def _write_run(run: _Run, kept_dir: str, dropped_dir: str, fmt: str) -> tuple[Any, list, float]:
    """Rebuild the run's batches, write its kept shard and its dropped shards; returns
    ``(kept (entry, picked records) or None, [per step: (entry, picked) or None], seconds)``."""
    started = time.perf_counter()
    dropped: list[list[Record]] = [[] for _ in run.steps]

    def kept() -> Any:
        for index in run.indexes:
            records: list[Record] = []
            for k, (_, checkpoint) in enumerate(run.steps):
                batch = checkpoint.read(index, kept_only=False) if k == 0 else checkpoint.apply(index, records)
                dropped[k].extend(r for r in batch if r.get(DROP) is not None)
                records = [r for r in batch if r.get(DROP) is None]
            for record in records:
                record.setdefault(DROP, None)  # kept records say `_drop: null`, as locally
                yield record

    kept_result = None
    if run.kept is not None:
        picked: list[Record] = []
        entry = write_shard(kept_dir, run.kept.file, tap(kept(), run.kept.picks, picked), fmt)
        kept_result = (entry, picked)
    else:
        for _ in kept():  # the batches' drops only
            pass
    dropped_results = []
    for shard, records in zip(run.dropped, dropped, strict=True):
        if shard is None:
            dropped_results.append(None)
            continue
        entry = write_shard(dropped_dir, shard.file, records, fmt)
        dropped_results.append((entry, [records[j] for j in shard.picks if j < len(records)]))
    return kept_result, dropped_results, time.perf_counter() - started
