"""What both executors do around one segment: a head (source or global step), then the map
steps it feeds (see :func:`synthpipe.pipeline.plan.split_segments`).

:class:`SegmentRun` holds the shared setup and bookkeeping, so that a run started on one
executor resumes on the other: progress bars, the head's resume point and its batches (a
source's ``read`` / ``aread`` or a global step's ``run`` over the previous checkpoint, after
the shards already written), the ids given to id-less records, where a batch re-enters the
map steps, the map-step contract (no record lost) and the DONE marks. The local executor
streams batches through it in one process; the Ray executor runs the maps as Ray stages.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from synthpipe.data.records import ID, Batch
from synthpipe.errors import StepError, SynthpipeError
from synthpipe.pipeline.plan import PlannedStep
from synthpipe.pipeline.step import StepContext

ContextFactory = Callable[[PlannedStep], StepContext]


class SegmentRun:
    """One segment of a plan being run; `busy_s` sums the seconds each step spent working."""

    def __init__(
        self,
        segment: list[PlannedStep],
        previous: PlannedStep | None,
        make_ctx: ContextFactory,
        progress: Any,
        busy_s: dict[str, float],
    ):
        self.head: PlannedStep = segment[0]
        self.maps: list[PlannedStep] = segment[1:]
        self.previous = previous
        self.make_ctx = make_ctx
        self.progress = progress
        self.busy_s = busy_s

    @property
    def steps(self) -> tuple[PlannedStep, ...]:
        return (self.head, *self.maps)

    def clock(self, name: str, seconds: float) -> None:
        self.busy_s[name] = self.busy_s.get(name, 0.0) + seconds

    def start(self) -> None:
        """One progress bar per step; a source may know its total."""
        for p in self.steps:
            total = self.head.step.expected_count() if p is self.head and p.step.kind == "source" else None
            self.progress.add_step(p.name, total)

    def finish(self, count: int) -> None:
        """Every step of the segment wrote its `count` shards: mark them done."""
        for p in self.steps:
            p.checkpoint.mark_done(count)
            self.progress.finish_step(p.name)

    # -- the head ---------------------------------------------------------------------------
    def resume_head(self) -> int:
        """Shards 0..done-1 the head wrote before an interruption (counted as progress)."""
        done = self.head.checkpoint.committed_prefix()
        for index in range(done):
            self.progress.advance(self.head.name, self.head.checkpoint.num_rows(index))
        return done

    def head_batches(self, skip: int) -> Iterator[Batch] | AsyncIterator[Batch]:
        """The head's batches after the first `skip`: a source's (an async iterator for async
        sources) or a global step's ``run`` over the previous step's kept records."""
        ctx = self.make_ctx(self.head)
        step = self.head.step
        if step.kind == "source":
            ctx.skip_batches = skip
            if type(step).aread is not None:  # async source: LLM calls share the caller's loop
                return askip(step.aread(ctx), 0 if step.skips_resumed_batches else skip)
            batches = step.read(ctx)
            if step.skips_resumed_batches:
                return batches
        else:
            previous = self.previous.checkpoint
            batches = step.run(lambda: previous.iter_batches(kept_only=True), ctx)
        return skip_batches(batches, skip)

    def write_head(self, index: int, batch: Batch) -> Batch:
        """Checkpoint the head's batch `index`, naming id-less records ``<step>-<batch>-<row>``."""
        for j, record in enumerate(batch):
            if record.get(ID) in (None, ""):
                record[ID] = f"{self.head.name}-{index:06d}-{j:05d}"
        self.head.checkpoint.write(index, batch)
        self.progress.advance(self.head.name, len(batch))
        return batch

    async def drain_head(self) -> int:
        """Run the head to its end, checkpointing every batch; returns the shards it has."""
        index = self.resume_head()
        batches = self.head_batches(index)
        while True:
            started = time.perf_counter()
            batch = await next_batch(batches)
            self.clock(self.head.name, time.perf_counter() - started)
            if batch is None:
                return index
            self.write_head(index, batch)
            index += 1

    # -- the maps ---------------------------------------------------------------------------
    def resume_maps(self, index: int) -> int:
        """The first map step still missing batch `index` (``len(maps)``: none is), after which
        every later one is missing it too; the maps before it count as progress."""
        start = len(self.maps)
        while start > 0 and not self.maps[start - 1].checkpoint.has(index):
            start -= 1
        for p in self.maps[:start]:
            self.progress.advance(p.name, p.checkpoint.num_rows(index))
        return start


async def next_batch(batches: Iterator[Batch] | AsyncIterator[Batch]) -> Batch | None:
    """The next batch, or None at the end; a sync iterator runs in a thread (it may block)."""
    if isinstance(batches, AsyncIterator):
        return await anext(batches, None)
    return await asyncio.to_thread(next, batches, None)


def skip_batches(batches: Iterator[Batch], n: int) -> Iterator[Batch]:
    for i, batch in enumerate(batches):
        if i >= n:
            yield batch


async def askip(batches: AsyncIterator[Batch], n: int) -> AsyncIterator[Batch]:
    i = 0
    async for batch in batches:
        if i >= n:
            yield batch
        i += 1


def check_nothing_lost(name: str, index: int, before: Batch, after: Any) -> None:
    """A map step returns a list holding every record it got (drops are marked, not deleted)."""
    if not isinstance(after, list):
        raise StepError(f"step {name!r} returned {type(after).__name__}, expected a list of records")
    missing = {r.get(ID) for r in before} - {r.get(ID) for r in after}
    if missing:
        example = sorted(map(str, missing))[:3]
        raise StepError(
            f"step {name!r} lost {len(missing)} record(s) in batch {index} (e.g. {example}); "
            "map steps must mark records with _drop instead of deleting them"
        )


@contextlib.contextmanager
def step_errors(name: str) -> Iterator[None]:
    """A step's own exception as a StepError naming the step; synthpipe errors pass as they are
    (they already say what to do: budget reached, bad config, ...)."""
    try:
        yield
    except SynthpipeError:
        raise
    except Exception as exc:
        raise StepError(f"step {name!r} failed: {type(exc).__name__}: {exc}") from exc
