"""The local executor: batches stream through the steps on one machine.

A plan is cut into segments at every source or global step (a "head"); inside a segment
each batch flows head -> map -> map, with up to `max_inflight` batches in flight. I/O-bound
steps run as coroutines, CPU-bound steps in a process pool (`workers > 1`), others in
threads. Every step checkpoints each batch (see :mod:`synthpipe.pipeline.checkpoints`), so a
rerun continues from the last finished batch of every step. The executor knows step shapes, never step internals; what it
shares with the Ray executor around a segment is in :mod:`synthpipe.executors.segment`.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor

from synthpipe.data.records import Batch
from synthpipe.executors.segment import (
    ContextFactory,
    SegmentRun,
    check_marks_only,
    check_nothing_lost,
    step_errors,
)
from synthpipe.pipeline.checkpoints import kept
from synthpipe.pipeline.plan import PlannedStep, run_segments
from synthpipe.pipeline.progress import NullProgress
from synthpipe.pipeline.step import Step, StepContext


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


class _SegmentRunner(SegmentRun):
    """A segment streamed: head batches feed the map chain, `max_inflight` batches at a time."""

    def __init__(self, segment, previous, make_ctx, progress, pool, max_inflight, busy_s):
        super().__init__(segment, previous, make_ctx, progress, busy_s)
        self.pool = pool
        self.max_inflight = max_inflight

    async def run(self) -> None:
        self.start()
        slots = asyncio.Semaphore(self.max_inflight)
        tasks: list[asyncio.Task] = []
        failed = False
        count = 0

        def finished(task: asyncio.Task) -> None:
            nonlocal failed
            slots.release()
            failed = failed or task.cancelled() or task.exception() is not None

        async for index, batch in self._head_batches():
            await slots.acquire()
            if failed:  # stop producing: finish what is in flight, then raise
                slots.release()
                break
            task = asyncio.create_task(self._chain(index, batch))
            task.add_done_callback(finished)
            tasks.append(task)
            count += 1
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        self.finish(count)

    # -- the head: a source or a global step -----------------------------------------------
    async def _head_batches(self) -> AsyncIterator[tuple[int, Batch]]:
        async for index, batch in self.head_stream():
            yield index, kept(batch)

    # -- a batch through the map steps ----------------------------------------------------
    async def _chain(self, index: int, records: Batch) -> None:
        start = self.resume_maps(index)
        if start == len(self.maps):
            return
        for p in self.maps[:start]:  # done before an interruption: their decisions again
            records = kept(p.checkpoint.apply(index, records))
        for p in self.maps[start:]:
            started = time.perf_counter()
            out = await self._apply(p, records)
            self.clock(p.name, time.perf_counter() - started)
            check_nothing_lost(p.name, index, records, out)
            if p.checkpoint.storage == "drops":
                check_marks_only(p.name, index, records, out)
            await asyncio.to_thread(p.checkpoint.write, index, out)  # off the event loop
            self.progress.advance(p.name, len(records))
            records = kept(out)

    async def _apply(self, p: PlannedStep, records: Batch) -> Batch:
        ctx = self.make_ctx(p)
        ctx.quarantine = None  # the quarantine file belongs to sources
        with step_errors(p.name):
            if p.step.io_bound:
                return await p.step.aprocess(records, ctx)
            if p.step.cpu_bound and self.pool is not None:
                ctx.resources = None  # run-wide services stay in this process
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self.pool, _process, p.step, records, ctx)
            return await asyncio.to_thread(p.step.process, records, ctx)


def _process(step: Step, records: Batch, ctx: StepContext) -> Batch:
    return step.process(records, ctx)
