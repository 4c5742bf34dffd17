"""The Ray executor: the local executor's plan, checkpoints and results, on a Ray cluster.

The plan is cut into the same segments (a source or global step, then the map steps it
feeds) and every step writes the same shards (``part-<batch>.parquet``, see
:mod:`synthpipe.pipeline.checkpoints`), so a run started on one executor resumes on the other.

- A replayable source (files, inline records, seeded generators) is read by the workers in
  shards, each batch streamed on into the map stages (:mod:`synthpipe.executors.ray_sources`);
  other sources (LLM sources need the driver's LLM pool) run on the driver. Each batch becomes
  one shard either way, ids assigned as the local executor assigns them.
- Map steps run as Ray Data ``map_batches`` over the head's shard indexes, one row per
  batch: a task reads its input shard, runs the maps of its stage in memory and writes one
  shard per step. Consecutive maps of one kind share a stage: Ray tasks for CPU work, an
  actor pool (``concurrency=max_inflight``) for I/O- and LLM-bound steps, whose LLM calls go
  through one pool actor (:mod:`synthpipe.executors.ray_llm`) so the rate limiter, budget and response
  cache are shared by every worker. Records travel between stages pickled, as in memory.
- Global steps run as their distributed form where the step has one (its
  ``distributed_form()``, written against :mod:`synthpipe.pipeline.distributed` and run as
  Ray tasks by :class:`synthpipe.executors.ray_jobs.RayJob`), else on the driver over the
  checkpointed input, as the local executor runs them. This executor knows no step.

What it shares with the local executor around a segment (resume points, ids, progress, DONE
marks) is in :mod:`synthpipe.executors.segment`.

Workers read and write the run directory, so on a multi-node cluster it must be on a
filesystem every node mounts at the same path. Ray is imported only when this executor runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import pickle
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from synthpipe.data.records import DROP, Batch
from synthpipe.data.storage import Store
from synthpipe.errors import StepError, UsageError
from synthpipe.executors.ray_jobs import RayJob, import_ray, unwrap
from synthpipe.executors.ray_llm import LLMBridge
from synthpipe.executors.ray_sources import PARTITIONS, ReadJob, read_shards, repeated_lines
from synthpipe.executors.segment import (
    ContextFactory,
    SegmentRun,
    check_marks_only,
    check_nothing_lost,
    step_errors,
)
from synthpipe.pipeline.checkpoints import StepCheckpoint, kept
from synthpipe.pipeline.distributed import StepSpec
from synthpipe.pipeline.plan import PlannedStep, run_segments
from synthpipe.pipeline.progress import NullProgress
from synthpipe.pipeline.step import Step, StepContext

log = logging.getLogger("synthpipe.ray")


class RayExecutor:
    """Runs a plan on Ray: a cluster at `address` ("ray://host:10001", "host:6379", "auto"),
    the Ray this process already joined, or else a local Ray started (and stopped) here."""

    def __init__(self, address: str | None = None, max_inflight: int = 4):
        self.address = address
        self.max_inflight = max_inflight
        self.busy_s: dict[str, float] = {}  # time each step spent working, summed over workers
        self._started_here = False  # a local Ray this executor started: kept up until close()

    def execute(self, plan: list[PlannedStep], make_ctx: ContextFactory, progress=None, spill=None) -> None:
        """Run `plan` on Ray. `spill` is not used: the outputs are rebuilt from the checkpoints.
        A local Ray started here stays up for `write_outputs` until `close()` (or a failure)."""
        ray = import_ray()
        progress = progress or NullProgress()
        self._started_here = connect(ray, self.address) or self._started_here
        bridge, finished = LLMBridge(ray), False
        try:
            check_shared_run_dir(ray, plan[0].checkpoint)
            with _ray_data_settings():
                run_segments(plan, progress, lambda segment, previous: _Segment(
                    segment, previous, make_ctx, progress, self, bridge).run())  # fmt: skip
            finished = True
        finally:
            bridge.close()
            if not finished:
                self.close()

    def write_outputs(self, plan: list[PlannedStep], root: Path, fmt: str, **options: Any) -> dict | None:
        """Write the run's kept and dropped outputs as shards from Ray tasks (see
        :mod:`synthpipe.executors.ray_outputs`); None for a format that cannot be sharded."""
        from synthpipe.data.manifest import SHARDED_FORMATS
        from synthpipe.executors.ray_outputs import write_outputs

        if fmt not in SHARDED_FORMATS:
            return None
        ray = import_ray()
        self._started_here = connect(ray, self.address) or self._started_here
        return write_outputs(ray, plan, root, fmt, **options)

    def close(self) -> None:
        """Stop the local Ray this executor started, if any (idempotent)."""
        if self._started_here:
            self._started_here = False
            import_ray().shutdown()


def connect(ray, address: str | None) -> bool:
    """Join Ray (see RayExecutor); True if this call started a local Ray."""
    if ray.is_initialized():
        return False
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address, logging_level=logging.WARNING)
        return False
    # a local Ray: workers get the driver's import path, so steps from the recipe's modules load
    paths = [p for p in sys.path if p and Path(p).is_dir()]
    ray.init(
        include_dashboard=False,
        logging_level=logging.WARNING,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}},
    )
    return True


def check_shared_run_dir(ray, checkpoint: StepCheckpoint) -> None:
    """Workers write shards into the run directory: every node must see it at the same path,
    or, for a run directory on an object store, reach its URI (checked by reading a checkpoint's
    FINGERPRINT object on every node)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    files = checkpoint.files
    probe = files if files.remote else str(checkpoint.dir / "FINGERPRINT")

    nodes = [
        n["NodeID"] for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU")
    ]
    task = ray.remote(num_cpus=0)(_exists)
    seen = ray.get(
        [
            task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote(
                probe
            )
            for n in nodes
        ]
    )
    if not all(seen) and files.remote:
        raise UsageError(
            f"the run directory {files.url.rpartition('/steps/')[0]} is not reachable from every Ray node: "
            "give every node the storage's credentials and endpoint (AWS_* variables, AWS_ENDPOINT_URL) "
            "and synthpipe's s3 extra"
        )
    if not all(seen):
        raise UsageError(
            f"the run directory {checkpoint.dir.parent.parent} is not visible on every Ray node; "
            "with the ray executor it must be on a filesystem all nodes mount at the same path "
            "(e.g. NFS): --out /shared/..."
        )


def _exists(probe: str | Store) -> bool:
    if isinstance(probe, Store):
        try:
            return probe.exists("FINGERPRINT")
        except Exception:  # no credentials, no s3fs, no route: reported as not reachable
            return False
    return Path(probe).exists()


@contextlib.contextmanager
def _ray_data_settings() -> Iterator[None]:
    """No progress bars of Ray Data's own (ours are per step), and a step's exception reaches
    the driver as itself (e.g. BudgetExceeded, which the pipeline handles); restored after."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    wanted = {
        "enable_progress_bars": False,
        "print_on_execution_start": False,
        "raise_original_map_exception": True,
    }
    saved = {k: getattr(ctx, k) for k in wanted}
    for k, v in wanted.items():
        setattr(ctx, k, v)
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(ctx, k, v)


# -- one segment: a head, then its map steps ----------------------------------------------
class _Segment(SegmentRun):
    def __init__(self, segment, previous, make_ctx, progress, executor: RayExecutor, bridge):
        super().__init__(segment, previous, make_ctx, progress, executor.busy_s)
        self.max_inflight = executor.max_inflight
        self.bridge = bridge

    def run(self) -> None:
        self.start()
        if self.head.step.kind == "source" and self.head.checkpoint.storage == "replay":
            indexes = self._read_on_workers()  # the maps stream behind the shards
        else:
            indexes = self._head()
            if self.maps:
                self._run_maps(indexes)
        for p in self.steps:
            have = set(p.checkpoint.indexes())  # one listing, not a lookup per batch (object stores)
            missing = [i for i in indexes if i not in have]
            if missing:  # e.g. a worker wrote to a disk the driver does not see
                raise StepError(
                    f"step {p.name!r}: shards {missing[:5]} were not written; "
                    "see the Ray worker logs"
                )
        self.finish(len(indexes))

    # -- the head: distributed, or on the driver -------------------------------------------
    def _head(self) -> list[int]:
        """Run the head unless done; returns its shard indexes. A global step with a distributed
        form runs as Ray tasks; sources (cheap next to maps; LLM sources use the driver's LLM
        pool) and other global steps run on the driver, as the local executor runs them."""
        head = self.head
        if head.checkpoint.done:  # only the maps after it are unfinished
            return head.checkpoint.indexes()
        form = head.step.distributed_form() if head.step.kind == "global" else None
        if form is not None:
            started = time.perf_counter()
            ctx = self.make_ctx(head)
            job = RayJob(head.step, self.previous.checkpoint, head.checkpoint, ctx, self.progress)
            count = job.run(form)
            self.clock(head.name, time.perf_counter() - started)
            return list(range(count))
        if head.step.kind == "global":
            log.info("step %r (%s) has no distributed form: running it on the Ray driver",
                     head.name, type(head.step).__name__)  # fmt: skip
        return list(range(asyncio.run(self.drain_head())))

    # -- a replayable source, read by the workers ------------------------------------------
    def _read_on_workers(self) -> list[int]:
        """Read the source in shards on the workers, each batch streamed on into the maps;
        then quarantine ids that repeat across shards (see :mod:`~synthpipe.executors.ray_sources`)."""
        ray = import_ray()
        ctx = dataclasses.replace(self.make_ctx(self.head), quarantine=None, resources=None)
        want = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
        shards = self.head.step.plan_shards(ctx, want, _measure)
        job = ReadJob(
            self.head.name, StepSpec.of(self.head.step), ctx, self.head.checkpoint,
            [(p.name, p.checkpoint) for p in self.maps], min(PARTITIONS, len(shards)),
        )  # fmt: skip
        job.forget_ids()
        indexes = self._stream(shards, job)
        if len(shards) > 1:
            self._quarantine_repeats(shards, job)
        job.forget_ids()
        if indexes != list(range(len(indexes))):
            raise StepError(f"step {self.head.name!r}: its shards gave batches {indexes[:5]}..., not 0..n-1")
        return indexes

    def _stream(self, shards: list, job: ReadJob) -> list[int]:
        import ray.data

        if not shards:  # an empty input: no batch (the run then says it kept nothing)
            return []
        rows = [{"shard": pickle.dumps(s, protocol=pickle.HIGHEST_PROTOCOL)} for s in shards]
        ds = ray.data.from_items(rows, override_num_blocks=len(rows))
        ds = ds.map_batches(read_shards, fn_args=(job,), batch_size=1, batch_format="pyarrow", num_cpus=1)
        for stage in _stages(self.maps):
            ds = self._stage(ds, self._job(stage))
        seen: set[int] = set()
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                seen.update(batch.column("index").to_pylist())
                for stats in batch.column("stats").to_pylist():
                    self._account(stats)
        except Exception as exc:
            raise unwrap(exc) from exc
        return sorted(seen)

    def _quarantine_repeats(self, shards: list, job: ReadJob) -> None:
        """Batches holding an id first seen in an earlier shard are forgotten and read again
        with those lines named, so they are quarantined as a whole read quarantines them."""
        ray = import_ray()
        task = ray.remote(num_cpus=1)(repeated_lines)
        files = job.checkpoint.files
        lines = sorted(x for part in ray.get([task.remote(files, p) for p in range(job.partitions)]) for x in part)
        if not lines:
            return
        size = max(1, job.ctx.batch_size)
        batches = sorted({(line - 1) // size for line in lines})
        for p in self.steps:
            p.checkpoint.forget(batches)
        again = [s for s in shards if any(s.first <= b < s.first + s.count for b in batches)]
        log.info("step %r: %d ids repeat one of an earlier shard: reading %d batch(es) again",
                 self.head.name, len(lines), len(batches))  # fmt: skip
        self._stream(again, dataclasses.replace(job, duplicates=dict.fromkeys(lines, "")))

    # -- the maps, as Ray Data stages ------------------------------------------------------
    def _run_maps(self, indexes: list[int]) -> None:
        rows = []
        for index in indexes:
            start = self.resume_maps(index)
            if start < len(self.maps):
                rows.append({"index": index, "start": start, "blob": None, "stats": "{}"})
        if not rows:
            return
        self._attach_inputs(rows)
        import ray.data

        ds = ray.data.from_items(rows, override_num_blocks=len(rows))
        jobs = [self._job(stage) for stage in _stages(self.maps)]
        for job in jobs:
            ds = self._stage(ds, job)
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                for stats in batch.column("stats").to_pylist():
                    self._account(stats)
        except Exception as exc:
            raise unwrap(exc) from exc

    def _attach_inputs(self, rows: list[dict]) -> None:
        """Rows whose input is not stored as records (a replayed source, drops marked on it)
        get it from the driver, rebuilt in one pass over the head: a task reading batch k on
        its own would replay the source up to k."""
        chain = [self.head.checkpoint] + [p.checkpoint for p in self.maps]
        wanted = {row["index"]: row for row in rows if chain[row["start"]].storage != "records"}
        if not wanted or _reads_alone(self.head.checkpoint):
            return
        for index, batch in enumerate(self.head.checkpoint.iter_batches(kept_only=True)):
            row = wanted.get(index)
            if row is not None:
                for checkpoint in chain[1 : row["start"] + 1]:
                    batch = kept(checkpoint.apply(index, batch))
                row["blob"] = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)

    def _job(self, stage: tuple[int, int]) -> _StageJob:
        lo, hi = stage
        steps = []
        for p in self.maps[lo:hi]:
            ctx = dataclasses.replace(self.make_ctx(p), quarantine=None, resources=None)
            steps.append(_MapSpec(p.name, StepSpec.of(p.step), ctx, p.checkpoint))
        before = [self.head.checkpoint] + [p.checkpoint for p in self.maps[: len(self.maps) - 1]]
        return _StageJob(lo, hi, len(self.maps), steps, before)

    def _stage(self, ds, job: _StageJob):
        # Ray Data retries a task whose worker dies and restarts a dead actor (its defaults:
        # max_retries=-1, max_restarts=-1); a step's own exception is not retried.
        import ray.data

        gpus = max(float(getattr(self.maps[i].step, "num_gpus", 0) or 0) for i in range(job.lo, job.hi))
        if not _wants_actor(self.maps[job.lo].step):
            return ds.map_batches(
                _run_tasks, fn_args=(job,), batch_size=1, batch_format="pyarrow", num_cpus=1,
                num_gpus=gpus,
            )  # fmt: skip
        pool = self.make_ctx(self.maps[job.lo]).resources
        proxy = self.bridge.proxy(pool) if pool is not None else None
        return ds.map_batches(
            _StageActor,
            fn_constructor_args=(job, proxy),
            batch_size=1,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=max(1, self.max_inflight)),
            num_cpus=0.01,
            num_gpus=gpus,
        )

    def _account(self, stats_json: str) -> None:
        import json

        for name, (n, seconds) in json.loads(stats_json).items():
            self.progress.advance(name, n)
            self.clock(name, seconds)


def _reads_alone(checkpoint: StepCheckpoint) -> bool:
    """True when the records under `checkpoint` (marks on marks on a replayed source) can be
    had batch by batch on the workers: the source reads a batch alone (a sharded read)."""
    while checkpoint.storage == "drops" and checkpoint.upstream is not None:
        checkpoint = checkpoint.upstream
    direct = getattr(checkpoint.replay, "batch", None)
    if checkpoint.storage != "replay" or direct is None or not checkpoint.has(0):
        return False
    return direct(0, checkpoint.decisions(0).get("at", {})) is not None


def _measure(fn, args: list[tuple]) -> list:
    """`fn(*a)` for each `a`, as Ray tasks (a source's shard planning: e.g. lines per piece)."""
    ray = import_ray()
    task = ray.remote(num_cpus=1)(fn)
    return ray.get([task.remote(*a) for a in args])


def _wants_actor(step: Step) -> bool:
    """I/O- and LLM-bound steps (and steps asking for it) run in an actor pool."""
    return bool(
        step.io_bound or getattr(step, "uses_llm", False) or getattr(step, "ray_actor", False)
    )


def _stages(maps: list[PlannedStep]) -> list[tuple[int, int]]:
    """Runs of consecutive maps that run the same way (tasks or actors): [lo, hi) each."""
    stages: list[tuple[int, int]] = []
    for k, p in enumerate(maps):
        if stages and _wants_actor(maps[stages[-1][0]].step) == _wants_actor(p.step):
            stages[-1] = (stages[-1][0], k + 1)
        else:
            stages.append((k, k + 1))
    return stages


# -- what workers get ---------------------------------------------------------------------
@dataclasses.dataclass
class _MapSpec:
    name: str
    step: StepSpec
    ctx: StepContext
    checkpoint: StepCheckpoint


@dataclasses.dataclass
class _StageJob:
    lo: int  # maps[lo:hi] run in this stage
    hi: int
    n_maps: int
    steps: list[_MapSpec]
    inputs: list[StepCheckpoint]  # inputs[k]: the checkpoint map k reads (head, then maps)


def _run_tasks(table, job: _StageJob):
    return _run_stage(table, job, None)


class _StageActor:
    """An actor of the pool running I/O- or LLM-bound maps; `proxy` reaches the LLM pool actor."""

    def __init__(self, job: _StageJob, proxy: Any):
        self.job, self.proxy = job, proxy

    def __call__(self, table):
        return _run_stage(table, self.job, self.proxy)


def _run_stage(table, job: _StageJob, resources: Any):
    import json

    import pyarrow as pa

    out = {"index": [], "start": [], "blob": [], "stats": []}
    for row in table.to_pylist():
        index, start, blob = row["index"], row["start"], row["blob"]
        stats = json.loads(row["stats"])
        if start < job.hi:
            k0 = max(job.lo, start)
            records = pickle.loads(blob) if blob is not None else job.inputs[k0].read(index)
            for k in range(k0, job.hi):
                spec = job.steps[k - job.lo]
                started = time.perf_counter()
                result = _apply(spec, records, resources)
                check_nothing_lost(spec.name, index, records, result)
                if spec.checkpoint.storage == "drops":
                    check_marks_only(spec.name, index, records, result)
                spec.checkpoint.write(index, result)
                stats[spec.name] = [len(records), time.perf_counter() - started]
                records = [r for r in result if r.get(DROP) is None]
            blob = (
                pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
                if job.hi < job.n_maps
                else None
            )
        out["index"].append(index)
        out["start"].append(start)
        out["blob"].append(blob)
        out["stats"].append(json.dumps(stats))
    return pa.table(
        {
            "index": pa.array(out["index"], pa.int64()),
            "start": pa.array(out["start"], pa.int64()),
            "blob": pa.array(out["blob"], pa.binary()),
            "stats": pa.array(out["stats"], pa.string()),
        }
    )


def _apply(spec: _MapSpec, records: Batch, resources: Any) -> Any:
    step = spec.step.build()
    ctx = dataclasses.replace(spec.ctx, resources=resources)
    with step_errors(spec.name):
        if step.io_bound:
            return asyncio.run(step.aprocess(records, ctx))
        return step.process(records, ctx)
