"""The distributed form of ``exact_dedup``: a hash shuffle (see :mod:`synthpipe.pipeline.distributed`).

Units emit ``(digest, k, j, id)`` for every record, by the step's own :meth:`ExactDedup.key`,
to the partition owning the digest; each partition sorts its rows and keeps the smallest
``(k, j)`` of every digest, the first occurrence in pipeline order, exactly the local rule;
the others are marked as the local step marks them (:data:`REASON`, :func:`duplicate_detail`).
"""

from __future__ import annotations

import struct

import numpy as np

from synthpipe.curate.exact_dedup import REASON, duplicate_detail
from synthpipe.data.records import ID
from synthpipe.pipeline.checkpoints import StepCheckpoint
from synthpipe.pipeline.distributed import Drops, Job, StepSpec, Unit


def exact_dedup(job: Job) -> None:
    P, U = job.P, len(job.units)
    keyed = [job.call(_exact_keys, 1 + P, job.spec, job.source, unit, P)[1:] for unit in job.units]
    unit_of = job.put(job.unit_of)
    reduced = [job.call(_exact_first, 1 + U, unit_of, U, *[k[q] for k in keyed])[1:] for q in range(P)]
    job.apply([[r[u] for r in reduced] for u in range(U)])


def _exact_keys(spec: StepSpec, source: StepCheckpoint, unit: Unit, P: int):
    step = spec.build()
    parts: list[list] = [[] for _ in range(P)]
    for k, index in unit:
        for j, record in enumerate(source.read(index)):
            key = step.key(record)
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
            out[unit_of[k]].append((k, j, REASON, duplicate_detail(first_id)))
        else:
            previous, first_id = (hi, lo), rid
    return (None, *out)
