"""Global steps on Ray: distributed versions that give the local step's output, record for record.

The input is the previous step's checkpoint; output shard ``k`` holds the kept records of
input shard ``k`` (as the local global steps yield one batch per input batch), some marked
dropped. Work is cut into *units* (runs of consecutive shards, a few per CPU) and
*partitions* (one per CPU) for the shuffles, all with Ray tasks (``num_returns`` fan-out;
retried on worker loss). A record is known by its position ``(k, j)``: shard, row among that
shard's kept records, packed as ``k << 32 | j`` so that integer order is pipeline order.

- ``exact_dedup``: a hash shuffle. Units emit ``(digest, k, j, id)`` by digest; each
  partition sorts its rows and keeps the smallest ``(k, j)`` of every digest, the first
  occurrence in pipeline order, exactly the local rule; units then mark their duplicates.
- ``minhash_dedup``: signatures, a band shuffle, verification and connected components by
  min-label propagation, in :mod:`synthpipe.executors.ray_minhash`.
- ``decontaminate`` (n-gram detector): the benchmark index is built once on the driver,
  shipped once (``ray.put``) and units run the step's own per-record detection.
- Any other global step (and these with options that have no distributed form:
  ``decontaminate`` with ``semantic``, ``minhash_dedup`` with ``save_signatures``) runs its
  ``run()`` on the driver over the checkpointed input, as the local executor does.

Known difference: in a MinHash bucket larger than ``bucket_cap`` the local step stops a
member's checks at the first representative already in its cluster, which depends on the
order in which it merged clusters; here a member joins the first representative it matches.
Both agree unless such a bucket links clusters that nothing else links.
"""

from __future__ import annotations

import logging
import struct
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from synthpipe.data.records import ID, drop
from synthpipe.executors.local import _rows
from synthpipe.executors.ray_executor import (
    MAX_RETRIES,
    _StepSpec,
    cluster_cpus,
    import_ray,
    unwrap,
)
from synthpipe.pipeline.checkpoints import StepCheckpoint
from synthpipe.pipeline.plan import PlannedStep
from synthpipe.pipeline.step import StepContext

log = logging.getLogger("synthpipe.ray")

Drops = list[tuple[int, int, str, str]]  # (output shard, row, reason, detail)


def run_global(head: PlannedStep, previous: PlannedStep, ctx: StepContext, progress) -> int:
    """Run the global step `head` over `previous`'s checkpoint; returns the batches written."""
    from synthpipe.curate.decontam.step import Decontaminate
    from synthpipe.curate.exact_dedup import ExactDedup
    from synthpipe.curate.minhash.step import MinHashDedup

    step = head.step
    impl: Callable | None = None
    if isinstance(step, ExactDedup):
        impl = _exact_dedup
    elif isinstance(step, MinHashDedup) and not step.config.save_signatures:
        from synthpipe.executors.ray_minhash import minhash_dedup

        impl = minhash_dedup
    elif isinstance(step, Decontaminate) and not step.config.semantic:
        impl = _decontaminate
    if impl is None:
        log.info(
            "step %r (%s) has no distributed form: running it on the Ray driver",
            head.name,
            type(step).__name__,
        )
        return _on_driver(head, previous, ctx, progress)
    job = _Job(head, previous.checkpoint, ctx, progress)
    if job.n == 0:
        return 0
    try:
        impl(job)
    except Exception as exc:
        raise unwrap(exc) from exc
    return job.n


def _on_driver(head: PlannedStep, previous: PlannedStep, ctx: StepContext, progress) -> int:
    """As the local executor: `run()` over the checkpointed input, after the shards done."""
    done = head.checkpoint.committed_prefix()
    for index in range(done):
        progress.advance(head.name, _rows(head.checkpoint, index))
    source = previous.checkpoint
    index = 0
    for batch in head.step.run(lambda: source.iter_batches(kept_only=True), ctx):
        if index >= done:
            for j, record in enumerate(batch):
                if record.get(ID) in (None, ""):
                    record[ID] = f"{head.name}-{index:06d}-{j:05d}"
            head.checkpoint.write(index, batch)
            progress.advance(head.name, len(batch))
        index += 1
    return index


# -- shared machinery -------------------------------------------------------------------------
class _Job:
    """One distributed global step: its shards cut into units, and the partition count."""

    def __init__(self, head: PlannedStep, source: StepCheckpoint, ctx: StepContext, progress):
        self.ray = import_ray()
        self.head, self.source, self.progress = head, source, progress
        self.name = head.name
        self.ctx = StepContext(**{**ctx.__dict__, "quarantine": None, "resources": None})
        self.inputs = source.indexes()  # output shard k comes from input shard inputs[k]
        self.n = len(self.inputs)
        cpus = cluster_cpus(self.ray)
        n_units = min(self.n, 2 * cpus)
        bounds = np.linspace(0, self.n, n_units + 1).round().astype(int).tolist() if self.n else [0]
        self.units = [
            [(k, self.inputs[k]) for k in range(lo, hi)]
            for lo, hi in zip(bounds, bounds[1:], strict=False)
        ]
        self.unit_of = np.zeros(self.n, dtype=np.int64)
        for u, unit in enumerate(self.units):
            for k, _ in unit:
                self.unit_of[k] = u
        self.P = max(1, cpus)  # shuffle partitions
        self.spec = _StepSpec.of(head.step)
        self.timings: dict[str, list] = {}

    def call(self, fn: Callable, returns: int, *args: Any) -> list:
        """Submit `fn` as a Ray task with `returns` outputs (>= 2: the first is always info)."""
        task = _remote(self.ray, _timed).options(num_returns=returns + 1, max_retries=MAX_RETRIES)
        seconds, *refs = task.remote(fn, *args)
        self.timings.setdefault(fn.__name__.lstrip("_"), []).append(seconds)
        return refs

    def task_seconds(self) -> dict[str, float]:
        """Seconds the tasks of each stage ran, summed (the work, without scheduling)."""
        return {k: round(sum(self.ray.get(v)), 3) for k, v in self.timings.items()}

    def apply(self, drop_parts: list[list]) -> None:
        """Write every output shard: `drop_parts[u]` lists refs of the drops of unit u."""
        pending = {}
        for u, unit in enumerate(self.units):
            refs = self.call(
                _apply_unit, 2, self.name, self.source, self.head.checkpoint, unit, *drop_parts[u]
            )
            pending[refs[0]] = u
        while pending:
            ready, _ = self.ray.wait(list(pending), num_returns=1)
            for ref in ready:
                del pending[ref]
                for rows in self.ray.get(ref).values():
                    self.progress.advance(self.name, rows)


_REMOTES: dict[Any, Any] = {}


def _timed(fn: Callable, *args: Any) -> tuple:
    started = time.perf_counter()
    out = fn(*args)
    return (time.perf_counter() - started, *out)


def _remote(ray, fn: Callable):
    if fn not in _REMOTES:
        _REMOTES[fn] = ray.remote(fn)
    return _REMOTES[fn]


def _apply_unit(
    name: str, source: StepCheckpoint, out: StepCheckpoint, unit: list, *drop_parts: Drops
):
    marks: dict[int, dict[int, tuple[str, str]]] = {}
    for part in drop_parts:
        for k, j, reason, detail in part:
            marks.setdefault(k, {})[j] = (reason, detail)
    rows = {}
    for k, index in unit:
        if out.has(k):  # written before an interruption: the result is the same
            rows[k] = _rows(out, k)
            continue
        batch = source.read(index)
        for j, (reason, detail) in marks.get(k, {}).items():
            drop(batch[j], name, reason, detail)
        out.write(k, batch)
        rows[k] = len(batch)
    return rows, None


def _part(keys: np.ndarray, P: int) -> np.ndarray:
    """Partition of each uint64 / int64 key (mixed, so shard-ordered keys spread evenly)."""
    mixed = np.asarray(keys).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return ((mixed >> np.uint64(40)) % np.uint64(P)).astype(np.int64)


def _split(arrays: dict[str, np.ndarray], part: np.ndarray, P: int) -> list[dict[str, np.ndarray]]:
    order = np.argsort(part, kind="stable")
    cuts = np.searchsorted(part[order], np.arange(P + 1))
    return [{k: v[order[cuts[q] : cuts[q + 1]]] for k, v in arrays.items()} for q in range(P)]


def _concat(
    parts: tuple[dict[str, np.ndarray], ...], like: dict[str, Any]
) -> dict[str, np.ndarray]:
    return {
        k: np.concatenate([p[k] for p in parts] or [np.zeros(0, dtype=dt)])
        for k, dt in like.items()
    }


# -- exact dedup ------------------------------------------------------------------------------
def _exact_dedup(job: _Job) -> None:
    P = job.P
    keyed = [job.call(_exact_keys, 1 + P, job.spec, job.source, unit, P)[1:] for unit in job.units]
    unit_of = job.ray.put(job.unit_of)
    reduced = [
        job.call(_exact_first, 1 + len(job.units), unit_of, len(job.units), *[k[q] for k in keyed])[
            1:
        ]
        for q in range(P)
    ]
    job.apply([[r[u] for r in reduced] for u in range(len(job.units))])


def _exact_keys(spec: _StepSpec, source: StepCheckpoint, unit: list, P: int):
    step = spec.build()
    parts: list[list] = [[] for _ in range(P)]
    for k, index in unit:
        for j, record in enumerate(source.read(index)):
            key = step._key(record)
            if key is None:  # records missing a key field are kept untouched
                continue
            hi, lo = struct.unpack("<QQ", key)
            parts[lo % P].append((hi, lo, k, j, str(record.get(ID))))
    return (None, *parts)


def _exact_first(unit_of: np.ndarray, n_units: int, *parts: list):
    rows = sorted(row for part in parts for row in part)  # by digest, then (k, j): pipeline order
    out: list[Drops] = [[] for _ in range(n_units)]
    previous, first_id = None, None
    for hi, lo, k, j, rid in rows:
        if (hi, lo) == previous:
            out[unit_of[k]].append((k, j, "duplicate", f"of {first_id}"))
        else:
            previous, first_id = (hi, lo), rid
    return (None, *out)


# -- decontamination ----------------------------------------------------------------------------
_PROBE = "synthpipe: is str hash() salted as on the driver?"


def _decontaminate(job: _Job) -> None:
    from synthpipe.curate.decontam import ngram

    cfg = job.head.step.config
    started = time.perf_counter()
    index = ngram.get_index(
        job.head.step.benchmark_sets(),
        n=cfg.ngram,
        min_span=cfg.min_span_tokens,
        mask_numbers=cfg.ngram_mask_numbers,
    )
    shared = [job.ray.put(index), hash(_PROBE)]  # built once, shipped once (boxed: fetched on use)
    log.info(
        "decontaminate: benchmark index built in %.1fs, shared with %d tasks",
        time.perf_counter() - started,
        len(job.units),
    )
    pending = {
        job.call(
            _decontam_unit, 2, job.spec, job.ctx, job.source, job.head.checkpoint, unit, shared
        )[0]: u
        for u, unit in enumerate(job.units)
    }
    tally: Counter[str] = Counter()
    while pending:
        ready, _ = job.ray.wait(list(pending), num_returns=1)
        for ref in ready:
            del pending[ref]
            rows, counts = job.ray.get(ref)
            tally.update(counts)
            for n in rows.values():
                job.progress.advance(job.name, n)
    if tally:
        job.ctx.log.info("contaminated records per benchmark: %s", dict(sorted(tally.items())))


def _decontam_unit(
    spec: _StepSpec,
    ctx: StepContext,
    source: StepCheckpoint,
    out: StepCheckpoint,
    unit: list,
    shared: list,
):
    import ray

    from synthpipe.curate.decontam import ngram
    from synthpipe.curate.decontam.step import record_texts

    step = spec.build()
    cfg = step.config
    if hash(_PROBE) == shared[1]:
        index = ray.get(shared[0])
    else:  # the index's short-text tier keys on str hash(), salted per process: rebuild it here
        index = ngram.get_index(
            step.benchmark_sets(),
            n=cfg.ngram,
            min_span=cfg.min_span_tokens,
            mask_numbers=cfg.ngram_mask_numbers,
        )
    rows, tally = {}, Counter()
    for k, shard in unit:
        if out.has(k):
            rows[k] = _rows(out, k)
            continue
        batch = source.read(shard)
        texts = [record_texts(r, step.config.text_fields) for r in batch]
        for record, hits in zip(batch, step._detect(texts, index, None, None), strict=True):
            step._apply(record, hits, ctx)
            tally.update({h["benchmark"] for h in hits})
        out.write(k, batch)
        rows[k] = len(batch)
    return (rows, dict(tally)), None
