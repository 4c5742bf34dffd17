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
from synthpipe.pipeline.checkpoints import ids_digest, kept, name_missing_ids
from synthpipe.pipeline.plan import PlannedStep
from synthpipe.pipeline.spill import KEPT, RecordSpill
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
        self.input_ids: dict[int, str] = {}  # a marks-only global head's input batches (ids digest)
        self.feeder: SegmentRun | None = None  # the previous segment, when fused into this one
        self.spill: RecordSpill | None = None  # where finished batches' outputs go (see spill.py)
        self.last_step: PlannedStep | None = None  # the plan's last step: its kept records are the output

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
        """Batches 0..done-1 the head wrote before an interruption (counted as progress)."""
        done = self.head.checkpoint.committed_prefix()
        for index in range(done):
            self.progress.advance(self.head.name, self.head.checkpoint.num_rows(index))
        return done

    @property
    def head_restarts(self) -> bool:
        """A replayable source or a global step gives its batches again from the first on
        resume (cheaper than storing them); any other source continues after its last batch."""
        return self.head.step.kind == "global" or self.head.checkpoint.storage == "replay"

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
            batches = step.run(self._global_input(), ctx)
        return skip_batches(batches, skip)

    def _global_input(self) -> Callable[[], Iterator[Batch]]:
        """The previous step's kept batches, once per pass of the global step: the first pass
        runs the segment before it when that one was fused into it (see :meth:`fusable`). For a
        step that only marks drops, each batch's ids are noted to check its output against."""
        previous = self.previous.checkpoint
        note_ids = self.head.checkpoint.storage == "drops"

        def batches() -> Iterator[Batch]:
            feeder, self.feeder = self.feeder, None
            source = feeder.first_pass() if feeder is not None else previous.iter_batches(kept_only=True)
            for index, batch in enumerate(source):
                if note_ids:
                    self.input_ids[index] = ids_digest(batch)
                yield batch

        return batches

    async def head_stream(self) -> AsyncIterator[tuple[int, Batch]]:
        """Every batch of the head in order (kept and dropped records), checkpointing the ones
        not checkpointed yet; a finished head's batches come from its checkpoint."""
        head = self.head
        if head.checkpoint.done:  # only the maps after it are unfinished
            batches: Iterator[Batch] | AsyncIterator[Batch] = head.checkpoint.iter_batches(kept_only=False)
            done = None
        else:
            done = self.resume_head()
            if self.head_restarts:
                batches = self.head_batches(0)
            else:  # the checkpointed batches, then the source from where it stopped
                stored = (head.checkpoint.read(i, kept_only=False) for i in range(done))
                batches = _chain(stored, self.head_batches(done))
        index = 0
        while True:
            started = time.perf_counter()
            batch = await next_batch(batches)
            self.clock(head.name, time.perf_counter() - started)
            if batch is None:
                return
            if done is not None:
                batch = self._checkpoint_head(index, batch, done)
            yield index, batch
            index += 1

    def _checkpoint_head(self, index: int, batch: Batch, done: int) -> Batch:
        """Name id-less records ``<step>-<batch>-<row>`` and checkpoint batch `index` unless it
        is among the first `done` (checked against them when replayed)."""
        checkpoint = self.head.checkpoint
        if self.head.step.kind == "source":
            name_missing_ids(self.head.name, index, batch)
        if index < done:
            if checkpoint.storage == "replay":
                checkpoint.check_replay(index, batch)
            return batch
        if checkpoint.storage == "drops" and ids_digest(batch) != self.input_ids.get(index):
            raise StepError(
                f"step {self.head.name!r} ({type(self.head.step).__name__}) declares marks_only, but its "
                f"output batch {index} is not its input batch {index} with drops marked"
            )
        checkpoint.write(index, batch)
        self.progress.advance(self.head.name, len(batch))
        return batch

    async def drain_head(self) -> int:
        """Run the head to its end, checkpointing every batch; returns the batches it has."""
        count = 0
        async for index, _ in self.head_stream():
            count = index + 1
        return count

    # -- fusing a segment into the global step after it ----------------------------------------
    def fusable(self, cpu_steps_in_threads: bool) -> bool:
        """True when this segment can run as the first input pass of the global step after it
        (one pass over the data instead of two): a sync source and plain map steps (no LLM or
        I/O-bound step, which want batches in flight; CPU-bound ones only without a process
        pool), with nothing checkpointed yet (a resumed segment runs on its own)."""
        if self.head.step.kind != "source" or type(self.head.step).aread is not None:
            return False
        for p in self.maps:
            if p.step.io_bound or getattr(p.step, "uses_llm", False) or (p.step.cpu_bound and not cpu_steps_in_threads):
                return False
        return not any(p.checkpoint.indexes() for p in self.steps)

    def first_pass(self) -> Iterator[Batch]:
        """Run the whole segment here, batch after batch, checkpointing as it goes; yields the
        kept records of its last step (the next global step's input)."""
        batches = self.head_batches(0)
        index = 0
        while True:
            started = time.perf_counter()
            batch = next(batches, None)  # a sync source (see fusable)
            self.clock(self.head.name, time.perf_counter() - started)
            if batch is None:
                break
            records = self.spilled(self.head, index, self._checkpoint_head(index, batch, 0))
            for p in self.maps:
                started = time.perf_counter()
                with step_errors(p.name):
                    out = p.step.process(records, self.map_context(p))
                self.clock(p.name, time.perf_counter() - started)
                records = self.record_map(p, index, records, out)
            yield records
            index += 1
        self.finish(index)

    # -- the maps ---------------------------------------------------------------------------
    def map_context(self, p: PlannedStep) -> StepContext:
        ctx = self.make_ctx(p)
        ctx.quarantine = None  # the quarantine file belongs to sources
        return ctx

    def record_map(self, p: PlannedStep, index: int, records: Batch, out: Any) -> Batch:
        """Check map step `p`'s output `out` for batch `index`, checkpoint and count it; returns
        its kept records."""
        check_nothing_lost(p.name, index, records, out)
        if p.checkpoint.storage == "drops":
            check_marks_only(p.name, index, records, out)
        p.checkpoint.write(index, out)
        self.progress.advance(p.name, len(records))
        return self.spilled(p, index, out)

    def spilled(self, p: PlannedStep, index: int, out: Batch) -> Batch:
        """Hand step `p`'s dropped records of batch `index` (and, for the plan's last step, its
        kept ones) to the spill; returns the kept records."""
        if self.spill is None:
            return kept(out)
        records = self.spill.set_aside(p.name, index, out)
        if p is self.last_step:
            self.spill.add(KEPT, index, records)
        return records

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


def _chain(first: Iterator[Batch], then: Iterator[Batch] | AsyncIterator[Batch]) -> AsyncIterator[Batch]:
    """`first`'s batches, then `then`'s (which may be async)."""

    async def batches() -> AsyncIterator[Batch]:
        for batch in first:
            yield batch
        while (batch := await next_batch(then)) is not None:
            yield batch

    return batches()


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


def check_marks_only(name: str, index: int, before: Batch, after: Batch) -> None:
    """A step that declares `marks_only` returns the records it got, in the same order."""
    if len(after) != len(before) or any(a.get(ID) != b.get(ID) for a, b in zip(after, before, strict=True)):
        raise StepError(
            f"step {name!r} declares marks_only, but its batch {index} came back with other records "
            "or in another order; set marks_only = False on a step that adds, removes or reorders records"
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
