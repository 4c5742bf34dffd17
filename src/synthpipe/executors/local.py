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
    step_errors,
)
from synthpipe.pipeline.plan import PlannedStep, run_segments, split_segments
from synthpipe.pipeline.progress import NullProgress
from synthpipe.pipeline.spill import RecordSpill
from synthpipe.pipeline.step import Step, StepContext


class LocalExecutor:
    def __init__(self, workers: int = 1, max_inflight: int = 4):
        self.workers = workers
        self.max_inflight = max_inflight
        self.busy_s: dict[str, float] = {}  # time each step spent working (batches overlap)

    def execute(
        self, plan: list[PlannedStep], make_ctx: ContextFactory, progress=None, spill: RecordSpill | None = None
    ) -> None:
        """Run `plan`; with `spill`, every finished batch's outputs are set aside there."""
        progress = progress or NullProgress()
        pool = self._pool(plan)
        after = _next_segments(plan)
        fused: dict[str, SegmentRun] = {}  # a global step's name -> the segment fused into its first pass

        def run_segment(segment: list[PlannedStep], previous: PlannedStep | None) -> None:
            runner = _SegmentRunner(segment, previous, make_ctx, progress, pool, self.max_inflight, self.busy_s)
            runner.spill, runner.last_step = spill, plan[-1]
            nxt = after.get(segment[0].name)
            if _feeds_a_global_step(nxt) and runner.fusable(cpu_steps_in_threads=pool is None):
                runner.start()  # its progress bars come before the next segment's
                fused[nxt[0].name] = runner
                return
            runner.feeder = fused.pop(segment[0].name, None)
            feeder = runner.feeder
            asyncio.run(runner.run())
            if feeder is not None and not all(p.checkpoint.done for p in feeder.steps):
                for _ in feeder.first_pass():  # the global step never read its input
                    pass

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
            yield index, self.spilled(self.head, index, batch)

    # -- a batch through the map steps ----------------------------------------------------
    async def _chain(self, index: int, records: Batch) -> None:
        start = self.resume_maps(index)
        if start == len(self.maps) and self.spill is None:
            return
        for p in self.maps[:start]:  # done before an interruption: their decisions again
            records = self.spilled(p, index, p.checkpoint.apply(index, records))
        for p in self.maps[start:]:
            started = time.perf_counter()
            out = await self._apply(p, records)
            self.clock(p.name, time.perf_counter() - started)
            records = await asyncio.to_thread(self.record_map, p, index, records, out)  # writes off the loop

    async def _apply(self, p: PlannedStep, records: Batch) -> Batch:
        ctx = self.map_context(p)
        with step_errors(p.name):
            if p.step.io_bound:
                return await p.step.aprocess(records, ctx)
            if p.step.cpu_bound and self.pool is not None:
                ctx.resources = None  # run-wide services stay in this process
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self.pool, _process, p.step, records, ctx)
            return await asyncio.to_thread(p.step.process, records, ctx)


def _feeds_a_global_step(nxt: list[PlannedStep] | None) -> bool:
    return bool(nxt) and nxt[0].step.kind == "global" and not all(p.checkpoint.done for p in nxt)


def _next_segments(plan: list[PlannedStep]) -> dict[str, list[PlannedStep]]:
    """For each segment's first step, the segment after it."""
    segments = split_segments(plan)
    return {a[0].name: b for a, b in zip(segments, segments[1:], strict=False)}


def _process(step: Step, records: Batch, ctx: StepContext) -> Batch:
    return step.process(records, ctx)
