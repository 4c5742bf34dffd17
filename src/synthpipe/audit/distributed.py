"""The distributed form of ``audit`` (see :mod:`synthpipe.pipeline.distributed`).

The local step audits an evenly spaced sample of the records it sees (:class:`StreamSample`);
of the whole input it uses only the count. Here nothing of the input passes the driver:

1. each unit counts its shards' kept records from the checkpoint's batch files (row counts and
   drops; no record is read);
2. the driver works out the positions the local sample holds (:func:`stream_sample_positions`),
   and each unit writes its output shards, records untouched, and returns the sampled rows'
   audit fields (at most ``sample`` small dicts in all). A ``drops`` checkpoint keeps only row
   counts and drops, so a shard without a sampled row is not read at all;
3. the driver audits the sample with the step's own code (:meth:`Audit.write_audit`), and the
   sample's embeddings run on an actor pool, one model per actor (:class:`PoolEmbedder`).

So ``audit.json`` and the output shards are the local step's, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from synthpipe.data.sampling import stream_sample_positions
from synthpipe.errors import StepError
from synthpipe.pipeline.checkpoints import StepCheckpoint
from synthpipe.pipeline.distributed import Actors, Job, StepSpec, Unit


def audit(job: Job) -> None:
    counted = [job.call(_count_unit, 1, job.source, unit)[0] for unit in job.units]
    counts = [n for part in job.get(counted) for n in part]  # kept records of output shard k
    wanted = sampled_rows(counts, job.step.config.sample)
    pending = [
        job.call(_audit_unit, 1, job.spec, job.source, job.out, unit,
                 {k: wanted[k] for k, _ in unit if k in wanted}, [counts[k] for k, _ in unit])[0]
        for unit in job.units
    ]  # fmt: skip
    picked: list[tuple[int, int, dict]] = []
    for rows, sampled in job.finished(pending):
        job.advance(rows)
        picked += sampled
    sample = [fields for _, _, fields in sorted(picked, key=lambda p: p[:2])]  # pipeline order
    with pool_embedder(job) as embedder:
        job.step.write_audit(job.ctx, sample, sum(counts), embedder)


audit.runs_on_empty_input = True  # type: ignore[attr-defined]  # 0 records still get an audit.json


def sampled_rows(counts: Sequence[int], k: int) -> dict[int, list[int]]:
    """``{shard: rows}`` the local step's sample holds, for shards of `counts` records each."""
    starts = np.cumsum([0, *counts])
    positions = np.asarray(stream_sample_positions(int(starts[-1]), k), dtype=np.int64)
    shards = np.searchsorted(starts, positions, side="right") - 1  # empty shards share a start
    wanted: dict[int, list[int]] = {}
    for shard, position in zip(shards.tolist(), positions.tolist(), strict=True):
        wanted.setdefault(shard, []).append(position - int(starts[shard]))
    return wanted


def _count_unit(source: StepCheckpoint, unit: Unit):
    counts = []
    for _, index in unit:
        rows, marks = source.counts(index)
        counts.append(rows - len(marks))
    return (counts,)


def _audit_unit(
    spec: StepSpec, source: StepCheckpoint, out: StepCheckpoint, unit: Unit, wanted: dict[int, list[int]],
    counts: list[int],
):  # fmt: skip
    fields = spec.build().sample_fields()
    rows, picked = {}, []
    for (k, index), n in zip(unit, counts, strict=True):
        want, written = wanted.get(k, []), out.has(k)
        if want or not written and out.storage != "drops":
            batch = source.read(index)
            if len(batch) != n:
                raise StepError(f"audit: input batch {index} holds {len(batch)} records, its batch file "
                                f"says {n}; the input changed while the step ran: rerun it")  # fmt: skip
            picked += [(k, j, fields(batch[j])) for j in want]
            if not written:
                out.write(k, batch)
        elif not written:  # a drops file holds the row count and the drops (none): no read needed
            out.write(k, [{}] * n)
        rows[k] = n
    return ((rows, picked),)


# -- embeddings on an actor pool ---------------------------------------------------------------
class PoolEmbedder:
    """The embedding model of this process, computed on the job's actors: `identity`, `key` and
    `dim` come from the model files here (the model is not loaded); :meth:`encode` cuts the
    texts into the batches the model itself would run (:meth:`Embedder.batches`) and runs each
    batch on an actor, so the vectors are those of a local ``encode``, bit for bit."""

    def __init__(self, job: Job, model: Any):
        self.job, self.model = job, model
        self.pool: Actors | None = None  # started on the first texts no cache holds

    def identity(self) -> dict[str, str]:
        return self.model.identity()

    @property
    def key(self) -> str:
        return self.model.key

    @property
    def dim(self) -> int:
        return self.model.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        batches = self.model.batches(texts)
        if self.pool is None:
            self.pool = self.job.actors(_Encoder, min(self.job.workers, len(batches)))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        done = self.pool.map("encode", [[texts[i] for i in rows] for rows in batches])
        for rows, vectors in zip(batches, done, strict=True):
            out[rows] = vectors
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


class _Encoder:
    """An actor holding the embedding model, loaded once."""

    def __init__(self) -> None:
        from synthpipe.embeddings import get_embedder

        self.model = get_embedder()

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts)


@contextmanager
def pool_embedder(job: Job) -> Iterator[PoolEmbedder | None]:
    """A :class:`PoolEmbedder` when the step embeds and the model's files are here; None
    otherwise (the audit then skips embeddings with the note a local run writes)."""
    if not job.step.config.embed:
        yield None
        return
    try:
        from synthpipe.embeddings import get_embedder

        model = get_embedder()
        model.batches(["probe"])  # the tokenizer loads
    except Exception:  # the audit loads the model itself and notes why it could not
        yield None
        return
    embedder = PoolEmbedder(job, model)
    try:
        yield embedder
    finally:
        embedder.close()
