"""A pipeline's plan: its steps with their fingerprints and checkpoints, cut into segments."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from synthpipe.data.records import Batch
from synthpipe.pipeline.checkpoints import StepCheckpoint, name_missing_ids
from synthpipe.pipeline.step import Step, StepContext


@dataclass
class PlannedStep:
    name: str
    step: Step
    fingerprint: str
    checkpoint: StepCheckpoint


def storage_of(step: Step) -> str:
    """What a step's checkpoint stores (see checkpoints.py): a replayable source counts only,
    a step that only marks drops its drops, any other step its records."""
    if step.kind == "source":
        return "replay" if step.replayable and type(step).aread is None else "records"
    return "drops" if step.only_marks_drops() else "records"


@dataclass
class SourceReplay:
    """A replayable source's batches again from its start, ids named as when first read.
    Picklable (a step and a plain context), so Ray workers replay it too."""

    step: Step
    ctx: StepContext

    def __call__(self) -> Iterator[Batch]:
        for index, batch in enumerate(self.step.read(self.ctx)):
            yield name_missing_ids(self.ctx.name, index, batch)

    def batch(self, index: int, at: dict[str, Any]) -> Batch | None:
        """Batch `index` alone, where a sharded read found it (None: the source cannot)."""
        batch = self.step.read_batch(index, at, self.ctx)
        return None if batch is None else name_missing_ids(self.ctx.name, index, batch)


def split_segments(plan: list[PlannedStep]) -> list[list[PlannedStep]]:
    """A segment is a head (source or global step) followed by the map steps it feeds."""
    segments: list[list[PlannedStep]] = []
    for p in plan:
        if p.step.kind in ("source", "global") or not segments:
            segments.append([p])
        else:
            segments[-1].append(p)
    return segments


def anchor_groups(plan: list[PlannedStep]) -> list[list[PlannedStep]]:
    """The plan cut before every step whose checkpoint is not a ``drops`` one: each group's
    batches are its first step's, marked by the others (how outputs are rebuilt)."""
    groups: list[list[PlannedStep]] = []
    for p in plan:
        if p.checkpoint.storage != "drops" or not groups:
            groups.append([p])
        else:
            groups[-1].append(p)
    return groups


def run_segments(
    plan: list[PlannedStep],
    progress: Any,
    run_segment: Callable[[list[PlannedStep], PlannedStep | None], None],
) -> None:
    """Every executor's outer loop: segments in order, finished ones reported as reused,
    the others handed to `run_segment(segment, previous step)`."""
    previous: PlannedStep | None = None
    for segment in split_segments(plan):
        if all(p.checkpoint.done for p in segment):
            for p in segment:
                progress.add_step(p.name, None, note="reused")
                progress.finish_step(p.name, note="reused")
        else:
            run_segment(segment, previous)
        previous = segment[-1]


def reopen_failed(plan: list[PlannedStep]) -> list[str]:
    """Make a rerun retry records a step dropped for a retryable reason (e.g. ``llm_error``).

    The batches holding such drops are removed from that step and the map steps after it in
    its segment; every later segment starts over (its input changes). Returns what reopened.
    """
    reopened: list[str] = []
    dirty = False
    for segment in split_segments(plan):
        if dirty:
            for p in segment:
                _wipe(p.checkpoint)
            continue
        for i, p in enumerate(segment):
            reasons = p.step.retry_reasons if p.step.kind == "map" else frozenset()
            batches = p.checkpoint.batches_with_reasons(reasons) if reasons and p.checkpoint.dir.exists() else []
            if not batches:
                continue
            for later in segment[i:]:
                later.checkpoint.forget(batches)
            reopened.append(f"{p.name}: {len(batches)} batch(es)")
            dirty = True
            break
    return reopened


def _wipe(checkpoint: StepCheckpoint) -> None:
    checkpoint.wipe()
    checkpoint.prepare()
