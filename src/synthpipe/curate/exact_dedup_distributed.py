"""The distributed form of ``exact_dedup``: a hash shuffle (see :mod:`synthpipe.pipeline.distributed`).

Units emit ``(digest, k, j, id)`` for every record, by the step's own :meth:`ExactDedup.key`,
to the partition owning the digest (:meth:`Job.shuffle_units`: at most groups x partitions
pieces); each partition sorts its rows and keeps the smallest ``(k, j)`` of every digest, the
first occurrence in pipeline order, exactly the local rule; the others are marked as the local
step marks them (:data:`REASON`, :func:`duplicate_detail`), in one list per group of units.
The driver only sees handles and per-shard row counts.
"""

from __future__ import annotations

import numpy as np

from synthpipe.curate.exact_dedup import REASON, duplicate_detail
from synthpipe.data.records import ID
from synthpipe.pipeline.checkpoints import StepCheckpoint
from synthpipe.pipeline.distributed import Drops, Job, StepSpec, Unit, concat_parts, route

_KEYS = {"hi": np.uint64, "lo": np.uint64, "k": np.int64, "j": np.int64, "id": object}


def exact_dedup(job: Job) -> None:
    P, G = job.P, len(job.groups)
    _, parts = job.shuffle_units(_exact_keys, 1, _KEYS, job.spec, job.source, P)
    group_of = job.put(job.group_of)
    reduced = [job.call(_exact_first, 1 + G, group_of, G, *parts[q])[1:] for q in range(P)]
    job.apply_groups([[r[g] for r in reduced] for g in range(G)])


def _exact_keys(spec: StepSpec, source: StepCheckpoint, P: int, unit: Unit, fanout: int):
    step = spec.build()
    digests, ks, js, ids = [], [], [], []
    for k, index in unit:
        for j, record in enumerate(source.read(index)):
            key = step.key(record)
            if key is None:  # records missing a key field are kept untouched
                continue
            digests.append(key)
            ks.append(k)
            js.append(j)
            ids.append(str(record.get(ID)))
    words = np.frombuffer(b"".join(digests), dtype="<u8").reshape(-1, 2)
    table = {
        "hi": words[:, 0].astype(np.uint64),
        "lo": words[:, 1].astype(np.uint64),
        "k": np.array(ks, dtype=np.int64),
        "j": np.array(js, dtype=np.int64),
        "id": np.array(ids, dtype=object),
    }
    return (None, *route(table, (table["lo"] % np.uint64(P)).astype(np.int64), fanout))


def _exact_first(group_of: np.ndarray, n_groups: int, *parts: dict):
    t = concat_parts(parts, _KEYS)
    order = np.lexsort((t["j"], t["k"], t["lo"], t["hi"]))  # by digest, then (k, j): pipeline order
    hi, lo, k, j, ids = (t[c][order] for c in ("hi", "lo", "k", "j", "id"))
    first = np.ones(len(hi), dtype=bool)
    first[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
    first_at = np.maximum.accumulate(np.where(first, np.arange(len(hi)), 0))
    out: list[Drops] = [[] for _ in range(n_groups)]
    for i in np.flatnonzero(~first).tolist():
        out[group_of[k[i]]].append((int(k[i]), int(j[i]), REASON, duplicate_detail(ids[first_at[i]])))
    return (None, *out)
