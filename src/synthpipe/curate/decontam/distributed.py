"""The distributed form of ``decontaminate`` (n-gram detector), see :mod:`synthpipe.pipeline.distributed`.

The benchmark index is loaded (or built) once on the driver and shared once (``job.put``); its
hashes are the same in every process. Each unit runs the step's own check
(:meth:`Decontaminate.mark_batch`) over its shards, so hits, drops and details are the local
step's, and the units' counts add up to the local step's summary (:meth:`Decontaminate.report`).
"""

from __future__ import annotations

import time
from collections import Counter

from synthpipe.data.records import Batch
from synthpipe.pipeline.checkpoints import StepCheckpoint
from synthpipe.pipeline.distributed import Handle, Job, StepSpec, Unit, write_unit
from synthpipe.pipeline.step import StepContext


def decontaminate(job: Job) -> None:
    started = time.perf_counter()
    shared = (job.put(job.step.ngram_index()),)  # nested: fetched on use
    job.ctx.log.info(
        "decontaminate: benchmark index built in %.1fs, shared with %d tasks",
        time.perf_counter() - started,
        len(job.units),
    )
    pending = [
        job.call(_decontam_unit, 2, job.spec, job.ctx, job.source, job.out, unit, shared)[0]
        for unit in job.units
    ]
    tally: Counter[str] = Counter()
    for rows, counts in job.finished(pending):
        tally.update(counts)
        job.advance(rows)
    job.step.report(tally, job.ctx)


def _decontam_unit(
    spec: StepSpec,
    ctx: StepContext,
    source: StepCheckpoint,
    out: StepCheckpoint,
    unit: Unit,
    shared: tuple[Handle],
):
    step = spec.build()
    index = shared[0].get()
    tally: Counter[str] = Counter()

    def mark(k: int, batch: Batch) -> None:
        tally.update(step.mark_batch(batch, index, None, None, ctx))

    rows = write_unit(source, out, unit, mark)
    return (rows, dict(tally)), None
