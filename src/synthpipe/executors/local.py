"""The local executor: batches stream through the steps on one machine.

A plan is cut into segments at every source or global step (a "head"); inside a segment
each batch flows head -> map -> map, with up to `max_inflight` batches in flight. I/O-bound
steps run as coroutines, CPU-bound steps in a process pool (`workers > 1`), others in
threads. Every step checkpoints each batch as one shard, so a rerun continues from the last
finished batch of every step. The executor knows step shapes, never step internals.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

from synthpipe.data.records import DROP, ID, Batch
from synthpipe.errors import StepError, SynthpipeError
from synthpipe.pipeline.checkpoints import StepCheckpoint
from synthpipe.pipeline.plan import PlannedStep, run_segments
from synthpipe.pipeline.progress import NullProgress
from synthpipe.pipeline.step import Step, StepContext

_END = object()


ContextFactory = Callable[[PlannedStep], StepContext]


class LocalExecutor:
    def __init__(self, workers: int = 1, max_inflight: int = 4):
        self.workers = workers
        self.max_inflight = max_inflight
        self.busy_s: dict[str, float] = {}  # time each step spent working (batches overlap)

    def execute(self, plan: list[PlannedStep], make_ctx: ContextFactory, progress=None) -> None:
        progress = progress or NullProgress()
        pool = self._pool(plan)
        def run_segment(segment: list[PlannedStep], previous: PlannedStep | None) -> None:
            runner = _SegmentRunner(segment, previous, make_ctx, progress, pool, self.max_inflight, self.busy_s)
            asyncio.run(runner.run())

        try:
            run_segments(plan, progress, run_segment)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)

    def _pool(self, plan: list[PlannedStep]) -> Executor | None:
        if self.workers <= 1 or not any(p.step.cpu_bound and p.step.kind == "map" for p in plan):
            return None
        # forkserver: forking a process that runs threads can deadlock
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("forkserver"))


class _SegmentRunner:
    def __init__(self, segment, previous, make_ctx, progress, pool, max_inflight, busy_s):
        self.head: PlannedStep = segment[0]
        self.maps: list[PlannedStep] = segment[1:]
        self.previous: PlannedStep | None = previous
        self.make_ctx = make_ctx
        self.progress = progress
        self.pool = pool
        self.max_inflight = max_inflight
        self.busy_s = busy_s

    def _clock(self, name: str, started: float) -> None:
        self.busy_s[name] = self.busy_s.get(name, 0.0) + time.perf_counter() - started

    async def run(self) -> None:
        for p in (self.head, *self.maps):
            total = self.head.step.expected_count() if p is self.head and p.step.kind == "source" else None
            self.progress.add_step(p.name, total)
        slots = asyncio.Semaphore(self.max_inflight)
        tasks: list[asyncio.Task] = []
        failed = False
        count = 0

        def finished(task: asyncio.Task) -> None:
            nonlocal failed
            slots.release()
            failed = failed or task.cancelled() or task.exception() is not None

        async for index, load in self._head_batches():
            await slots.acquire()
            if failed:  # stop producing: finish what is in flight, then raise
                slots.release()
                break
            task = asyncio.create_task(self._chain(index, load))
            task.add_done_callback(finished)
            tasks.append(task)
            count += 1
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        for p in (self.head, *self.maps):
            p.checkpoint.mark_done(count)
            self.progress.finish_step(p.name)

    # -- the head: a source or a global step -----------------------------------------------
    async def _head_batches(self):
        head = self.head
        if head.checkpoint.done:  # only the maps after it are unfinished
            for index in head.checkpoint.indexes():
                yield index, _loader(head.checkpoint, index)
            return
        done = head.checkpoint.committed_prefix()
        for index in range(done):
            self.progress.advance(head.name, _rows(head.checkpoint, index))
            yield index, _loader(head.checkpoint, index)
        produced = self._produce(done)
        index = done
        while True:
            started = time.perf_counter()
            batch = await _next_batch(produced)
            self._clock(head.name, started)
            if batch is _END:
                break
            batch = self._with_ids(batch, index)
            head.checkpoint.write(index, batch)
            self.progress.advance(head.name, len(batch))
            kept = [r for r in batch if r.get(DROP) is None]
            yield index, _ready(kept)
            index += 1

    def _produce(self, skip: int) -> Iterator[Batch] | AsyncIterator[Batch]:
        ctx = self.make_ctx(self.head)
        step = self.head.step
        if step.kind == "source":
            ctx.skip_batches = skip
            if type(step).aread is not None:  # async source: LLM calls share this loop
                return _askip(step.aread(ctx), 0 if step.skips_resumed_batches else skip)
            batches = step.read(ctx)
            if step.skips_resumed_batches:
                return batches
        else:
            previous = self.previous.checkpoint
            batches = step.run(lambda: previous.iter_batches(kept_only=True), ctx)
        return _skip(batches, skip)

    def _with_ids(self, batch: Batch, index: int) -> Batch:
        for j, record in enumerate(batch):
            if record.get(ID) in (None, ""):
                record[ID] = f"{self.head.name}-{index:06d}-{j:05d}"
        return batch

    # -- a batch through the map steps ----------------------------------------------------
    async def _chain(self, index: int, load: Callable[[], Batch]) -> None:
        start = len(self.maps)
        while start > 0 and not self.maps[start - 1].checkpoint.has(index):
            start -= 1
        if start == len(self.maps) and self.maps:
            for p in self.maps:
                self.progress.advance(p.name, _rows(p.checkpoint, index))
            return
        records = self.maps[start - 1].checkpoint.read(index) if start else load()
        for p in self.maps[:start]:
            self.progress.advance(p.name, _rows(p.checkpoint, index))
        for p in self.maps[start:]:
            started = time.perf_counter()
            out = await self._apply(p, records)
            self._clock(p.name, started)
            _check_nothing_lost(p.name, index, records, out)
            p.checkpoint.write(index, out)
            self.progress.advance(p.name, len(records))
            records = [r for r in out if r.get(DROP) is None]

    async def _apply(self, p: PlannedStep, records: Batch) -> Batch:
        ctx = self.make_ctx(p)
        ctx.quarantine = None  # the quarantine file belongs to sources
        try:
            if p.step.io_bound:
                return await p.step.aprocess(records, ctx)
            if p.step.cpu_bound and self.pool is not None:
                ctx.resources = None  # run-wide services stay in this process
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self.pool, _process, p.step, records, ctx)
            return await asyncio.to_thread(p.step.process, records, ctx)
        except SynthpipeError:  # already says what to do (budget reached, bad config, ...)
            raise
        except Exception as exc:
            raise StepError(f"step {p.name!r} failed: {type(exc).__name__}: {exc}") from exc


def _process(step: Step, records: Batch, ctx: StepContext) -> Batch:
    return step.process(records, ctx)


def _check_nothing_lost(name: str, index: int, before: Batch, after: Any) -> None:
    if not isinstance(after, list):
        raise StepError(f"step {name!r} returned {type(after).__name__}, expected a list of records")
    missing = {r.get(ID) for r in before} - {r.get(ID) for r in after}
    if missing:
        example = sorted(map(str, missing))[:3]
        raise StepError(
            f"step {name!r} lost {len(missing)} record(s) in batch {index} (e.g. {example}); "
            "map steps must mark records with _drop instead of deleting them"
        )


async def _next_batch(produced: Iterator[Batch] | AsyncIterator[Batch]):
    if isinstance(produced, AsyncIterator):
        return await anext(produced, _END)
    return await asyncio.to_thread(next, produced, _END)  # sync sources may block: keep the loop free


async def _askip(batches: AsyncIterator[Batch], n: int) -> AsyncIterator[Batch]:
    i = 0
    async for batch in batches:
        if i >= n:
            yield batch
        i += 1


def _skip(batches: Iterator[Batch], n: int) -> Iterator[Batch]:
    for i, batch in enumerate(batches):
        if i >= n:
            yield batch


def _loader(checkpoint: StepCheckpoint, index: int) -> Callable[[], Batch]:
    return lambda: checkpoint.read(index)


def _ready(batch: Batch) -> Callable[[], Batch]:
    return lambda: batch


def _rows(checkpoint: StepCheckpoint, index: int) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(checkpoint.shard_path(index)).metadata.num_rows
