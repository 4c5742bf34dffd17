"""The distributed form of ``minhash_dedup``, with the local step's result record for record.

Written against :mod:`synthpipe.pipeline.distributed` (units, partitions, ``job.call``). Units
compute shingles, signatures and band hashes (the step's own functions); a shuffle by band
hash forms buckets and candidate pairs, grouped by their first document; partitions verify
the pairs (exact Jaccard of the shingle sets, :func:`set_jaccard`); connected components of
the verified pairs come from min-label propagation (a Pregel loop: each round, vertices whose
label fell send it to their neighbours, until no label changes), the label being the
component's first document, i.e. the one the local step keeps. Each component's pairs are
then replayed in the local step's order (band, bucket hash, position) through a union-find
to get the same ``via`` links and counts; the step's :class:`Decision` decides each drop and
writes its detail, as in the local step.

Known difference: in a bucket larger than ``bucket_cap`` the local step stops a member's
checks at the first representative already in its cluster, which depends on the order in
which it merged clusters; here a member joins the first representative it matches. Both
agree unless such a bucket links clusters that nothing else links.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from synthpipe.curate.minhash.lsh import UnionFind, band_hashes
from synthpipe.curate.minhash.signatures import estimate_jaccard, sketch
from synthpipe.curate.minhash.step import CHUNK_CHARS, REASON, Decision, set_jaccard
from synthpipe.data.records import ID
from synthpipe.pipeline.checkpoints import StepCheckpoint
from synthpipe.pipeline.distributed import (
    Handle,
    Job,
    Unit,
    concat_parts,
    partition_of,
    split_by_partition,
)

_PAIR = {
    "a": np.int64,
    "b": np.int64,
    "band": np.int64,
    "h": np.uint64,
    "x": np.int64,
    "y": np.int64,
    "J": np.float64,
}
_BANDS = {"band": np.int64, "h": np.uint64, "doc": np.int64}
_EDGE = {"src": np.int64, "dst": np.int64}
_MSG = {"v": np.int64, "label": np.int64}
_MEMBER = {"v": np.int64, "label": np.int64}


def minhash_dedup(job: Job) -> None:
    step, cfg = job.step, job.step.config
    started = time.perf_counter()
    params = step.lsh_params()
    P, U = job.P, len(job.units)
    settings = {
        "field": cfg.text_field,
        "ngram": cfg.ngram,
        "normalization": cfg.normalization,
        "num_perm": cfg.num_perm,
        "seed": cfg.seed,
        "bands": params.bands,
        "rows": params.rows,
        "verify": cfg.verify,
        "threshold": cfg.threshold,
        "cap": cfg.bucket_cap,
    }
    # 1. signatures and band hashes, per unit; the band hashes shuffled by value
    sketched = [job.call(_mh_sketch, 2 + P, settings, job.source, unit, P) for unit in job.units]
    counts = [r[0] for r in sketched]
    docs = _DocsRef([r[1] for r in sketched], job.put(job.unit_of))
    # 2. buckets -> candidate pairs, grouped by their first document's partition
    bucketed = [
        job.call(_mh_buckets, 1 + P, settings, P, *[s[2 + q] for s in sketched]) for q in range(P)
    ]
    capped_info = [r[0] for r in bucketed]
    capped = job.call(_mh_capped, 1 + P, settings, P, docs, *capped_info)
    # 3. verify each distinct pair once; the verified ones become edges
    verified = [
        job.call(_mh_verify, 2 + P, settings, P, docs, capped[1 + q], *[b[1 + q] for b in bucketed])
        for q in range(P)
    ]
    # 4. connected components: min-label propagation
    states = _components(job, [[v[2 + q] for v in verified] for q in range(P)])
    # 5. labels onto pairs; each component's pairs and members meet in its label's partition
    first = [job.call(_mh_label_a, 1 + P, P, states[q], verified[q][1]) for q in range(P)]
    second = [
        job.call(_mh_label_b, 1 + P, P, states[q], *[f[1 + q] for f in first]) for q in range(P)
    ]
    decided = [
        job.call(_mh_decide, 1 + U, settings, U, docs, *[s[1 + q] for s in second])
        for q in range(P)
    ]
    job.apply([[d[1 + u] for d in decided] for u in range(U)])
    # the local step's summary, from the tasks' counts
    c = _sum_dicts(
        job.get(counts)
        + job.get([v[0] for v in verified])
        + job.get([s[0] for s in second])
        + job.get([d[0] for d in decided])
        + job.get([capped[0]])
    )
    summary_counts = {
        "documents": c["records"],
        "indexed": c["live"],
        "without_text": c["records"] - c["texts"],
        "without_words": c["texts"] - c["live"],
        "candidate_pairs": c["candidates"],
        "verified_pairs": c["verified"] if cfg.verify else None,
        "rejected_pairs": c["rejected"] if cfg.verify else None,
        "skipped_pairs": c["skipped"] if cfg.verify else None,
        "capped_buckets": c["capped"] if cfg.verify else None,
        "clusters": c["clusters"],
    }
    seconds = time.perf_counter() - started
    summary = step.summary(params, summary_counts, c["removed"], job.workers, seconds)
    step.report({**summary, "executor": job.executor, "task_seconds": job.task_seconds()}, job.ctx)


def _sum_dicts(dicts: list) -> Counter:
    total: Counter = Counter()
    for d in dicts:
        if d:
            total.update(d)
    return total


class _DocsRef:
    """Where each document's shingles, signature and id live: one pack per unit (handles,
    fetched by the tasks that need them)."""

    def __init__(self, packs: list[Handle], unit_of: Handle):
        self.packs, self.unit_of = packs, unit_of


class _Docs:
    """Reads documents out of the unit packs (fetched on first use) inside a task."""

    def __init__(self, ref: _DocsRef):
        self.ref = ref
        self.unit_of = ref.unit_of.get()
        self.packs: dict[int, dict] = {}
        self.sets: dict[int, np.ndarray] = {}

    def _where(self, doc: int) -> tuple[dict, int]:
        u = int(self.unit_of[doc >> 32])
        pack = self.packs.get(u)
        if pack is None:
            pack = self.packs[u] = self.ref.packs[u].get()
        return pack, int(np.searchsorted(pack["keys"], doc))

    def id(self, doc: int) -> str:
        pack, i = self._where(doc)
        return pack["ids"][i]

    def shingle_set(self, doc: int) -> np.ndarray:
        found = self.sets.get(doc)
        if found is None:
            pack, i = self._where(doc)
            lo, hi = pack["offsets"][i], pack["offsets"][i + 1]
            found = self.sets[doc] = np.unique(pack["hashes"][lo:hi])
        return found

    def similarity(self, a: int, b: int, exact: bool) -> float:
        """As the local step: exact Jaccard of shingle sets, or the signatures' estimate."""
        if exact:
            return set_jaccard(self.shingle_set(a), self.shingle_set(b))
        (pa, ia), (pb, ib) = self._where(a), self._where(b)
        return float(estimate_jaccard(pa["signatures"][ia], pb["signatures"][ib]))


def _mh_sketch(s: dict, source: StepCheckpoint, unit: Unit, P: int):
    keys, ids, texts, records = [], [], [], 0
    for k, index in unit:
        batch = source.read(index)
        records += len(batch)
        for j, record in enumerate(batch):
            text = record.get(s["field"])
            if isinstance(text, str):  # as the local step: non-strings are kept and never match
                keys.append(k << 32 | j)
                ids.append(str(record.get(ID)))
                texts.append(text)
    hashes, offsets, sigs = [], [np.zeros(1, dtype=np.int64)], []
    start, chars = 0, 0
    for i, text in enumerate(texts):  # chunks bound memory; every value is per document
        chars += len(text)
        if i + 1 - start >= 256 or chars >= CHUNK_CHARS or i + 1 == len(texts):
            h, o, g = sketch(
                texts[start : i + 1], s["ngram"], s["normalization"], s["num_perm"], s["seed"]
            )
            hashes.append(h)
            offsets.append(o[1:].astype(np.int64) + offsets[-1][-1] + 0)
            sigs.append(g)
            start, chars = i + 1, 0
    offsets_all = np.concatenate(offsets)
    hashes_all = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint32)
    signatures = np.concatenate(sigs) if sigs else np.zeros((0, s["num_perm"]), dtype=np.uint32)
    keys_arr = np.array(keys, dtype=np.int64)
    live = np.diff(offsets_all) > 0  # texts without words never match
    bands = band_hashes(signatures[live], s["bands"], s["rows"])
    n_live, B = bands.shape
    table = {
        "band": np.tile(np.arange(B, dtype=np.int64), n_live),
        "h": bands.reshape(-1),
        "doc": np.repeat(keys_arr[live], B),
    }
    pack = {
        "keys": keys_arr,
        "ids": ids,
        "offsets": offsets_all,
        "hashes": hashes_all,
        "signatures": None if s["verify"] else signatures,
    }
    counts = {"records": records, "texts": len(texts), "live": int(live.sum())}
    return (counts, pack, *split_by_partition(table, (table["h"] % np.uint64(P)).astype(np.int64), P))


def _mh_buckets(s: dict, P: int, *parts: dict):
    """Buckets of one partition of band hashes -> candidate pairs (and the capped buckets)."""
    t = concat_parts(parts, _BANDS)
    order = np.lexsort((t["doc"], t["h"], t["band"]))  # band, then hash: the local visiting order
    band, h, doc = t["band"][order], t["h"][order], t["doc"][order]
    n = len(doc)
    if n == 0:
        return ([], *split_by_partition(concat_parts((), _PAIR), np.zeros(0, dtype=np.int64), P))
    new = np.ones(n, dtype=bool)
    new[1:] = (band[1:] != band[:-1]) | (h[1:] != h[:-1])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n)
    out: dict[str, list] = {k: [] for k in _PAIR}
    capped = []
    for lo, hi in zip(
        starts[ends - starts >= 2].tolist(), ends[ends - starts >= 2].tolist(), strict=True
    ):
        members = doc[lo:hi]
        if not s["verify"]:  # star: every member joins the bucket's first
            a, b = np.full(hi - lo - 1, members[0]), members[1:]
        elif hi - lo <= s["cap"]:
            i, j = np.triu_indices(hi - lo, k=1)  # (i, j) in the local loop's order
            a, b = members[i], members[j]
        else:
            capped.append((int(band[lo]), int(h[lo]), members))
            continue
        out["a"].append(a)
        out["b"].append(b)
        out["band"].append(np.full(len(a), band[lo]))
        out["h"].append(np.full(len(a), h[lo], dtype=np.uint64))
        out["x"].append(a)
        out["y"].append(b)
        out["J"].append(np.full(len(a), np.nan))
    pairs = {
        k: (np.concatenate(v).astype(_PAIR[k]) if v else np.zeros(0, dtype=_PAIR[k]))
        for k, v in out.items()
    }
    return (capped, *split_by_partition(pairs, partition_of(pairs["a"], P), P))


def _mh_capped(s: dict, P: int, docs_ref: _DocsRef, *capped_lists: list):
    """Buckets above `bucket_cap`: each member is checked against the first `cap` members in
    order and joins the first it matches (see the module doc for the one difference)."""
    buckets = sorted((b for lst in capped_lists for b in lst), key=lambda b: (b[0], b[1]))
    docs = _Docs(docs_ref) if buckets else None
    out: dict[str, list] = {k: [] for k in _PAIR}
    known: dict[tuple[int, int], float] = {}
    for band, h, members in buckets:
        ms = members.tolist()
        for j, m in enumerate(ms[1:], 1):
            for pos, rep in enumerate(ms[: min(j, s["cap"])]):
                score = known.get((rep, m))
                if score is None:
                    score = known[(rep, m)] = docs.similarity(rep, m, True)
                for key, value in (
                    ("a", rep),
                    ("b", m),
                    ("band", band),
                    ("h", h),
                    ("x", j),
                    ("y", pos),
                    ("J", score),
                ):
                    out[key].append(value)
                if score >= s["threshold"]:
                    break
    pairs = {k: np.array(v, dtype=_PAIR[k]) for k, v in out.items()}
    return ({"capped": len(buckets)}, *split_by_partition(pairs, partition_of(pairs["a"], P), P))


def _mh_verify(s: dict, P: int, docs_ref: _DocsRef, capped: dict, *parts: dict):
    """Distinct pairs of this partition, each at its first occurrence, with its Jaccard."""
    t = concat_parts((*parts, capped), _PAIR)
    order = np.lexsort((t["y"], t["x"], t["h"], t["band"], t["b"], t["a"]))
    t = {k: v[order] for k, v in t.items()}
    first = np.ones(len(t["a"]), dtype=bool)
    first[1:] = (t["a"][1:] != t["a"][:-1]) | (t["b"][1:] != t["b"][:-1])
    # a pair met in a capped bucket carries its Jaccard; take it from any of its occurrences
    scores = {
        (a, b): j
        for a, b, j in zip(t["a"].tolist(), t["b"].tolist(), t["J"].tolist(), strict=True)
        if j == j
    }
    pairs = {k: v[first] for k, v in t.items()}
    if s["verify"]:
        docs = _Docs(docs_ref) if len(pairs["a"]) else None
        pairs["J"] = np.array(
            [
                scores[(a, b)] if (a, b) in scores else docs.similarity(a, b, True)
                for a, b in zip(pairs["a"].tolist(), pairs["b"].tolist(), strict=True)
            ],
            dtype=np.float64,
        )
        linked = pairs["J"] >= s["threshold"]
    else:
        linked = np.ones(len(pairs["a"]), dtype=bool)
    a, b = pairs["a"][linked], pairs["b"][linked]
    edges = {"src": np.concatenate([a, b]), "dst": np.concatenate([b, a])}
    return ({"candidates": len(pairs["a"])}, pairs, *split_by_partition(edges, partition_of(edges["src"], P), P))


def _components(job: Job, edge_parts: list[list]) -> list:
    """Min-label propagation over the edges; returns each partition's final (vertices, labels)."""
    P = job.P
    steps = [job.call(_cc_init, 2 + P, P, *edge_parts[q]) for q in range(P)]
    rounds = 0
    while True:
        rounds += 1
        steps = [
            job.call(_cc_step, 2 + P, P, steps[q][1], *[s[2 + q] for s in steps]) for q in range(P)
        ]
        changed = sum(job.get([s[0] for s in steps]))
        if changed == 0:
            break
    job.ctx.log.info("minhash: connected components after %d label-propagation rounds", rounds)
    return [s[1] for s in steps]


def _cc_init(P: int, *parts: dict):
    e = concat_parts(parts, _EDGE)
    order = np.argsort(e["src"], kind="stable")
    src, dst = e["src"][order], e["dst"][order]
    verts = np.unique(src)
    state = {"src": src, "dst": dst, "verts": verts, "labels": verts.copy()}
    msgs = {"v": dst, "label": src}  # round 0: every vertex offers its own label
    return (len(verts), state, *split_by_partition(msgs, partition_of(msgs["v"], P), P))


def _cc_step(P: int, state: dict, *parts: dict):
    m = concat_parts(parts, _MSG)
    verts, labels = state["verts"], state["labels"].copy()
    if len(m["v"]):
        at = np.searchsorted(verts, m["v"])
        np.minimum.at(labels, at, m["label"])
    changed = labels < state["labels"]
    state = {**state, "labels": labels}
    # vertices whose label fell tell their neighbours
    moved = verts[changed]
    mask = np.isin(state["src"], moved)
    src, dst = state["src"][mask], state["dst"][mask]
    msgs = {"v": dst, "label": labels[np.searchsorted(verts, src)]}
    if len(msgs["v"]):  # one message per target: the smallest label
        order = np.lexsort((msgs["label"], msgs["v"]))
        v, label = msgs["v"][order], msgs["label"][order]
        keep = np.ones(len(v), dtype=bool)
        keep[1:] = v[1:] != v[:-1]
        msgs = {"v": v[keep], "label": label[keep]}
    return (int(changed.sum()), state, *split_by_partition(msgs, partition_of(msgs["v"], P), P))


def _label_of(state: dict, v: np.ndarray) -> np.ndarray:
    """Labels of vertices `v` of this partition; a vertex in no edge is its own label."""
    verts = state["verts"]
    at = np.clip(np.searchsorted(verts, v), 0, max(len(verts) - 1, 0))
    found = (verts[at] == v) if len(verts) else np.zeros(len(v), dtype=bool)
    return np.where(found, state["labels"][at] if len(verts) else v, v)


def _mh_label_a(P: int, state: dict, pairs: dict):
    pairs = {**pairs, "la": _label_of(state, pairs["a"])}
    return (None, *split_by_partition(pairs, partition_of(pairs["b"], P), P))


def _mh_label_b(P: int, state: dict, *parts: dict):
    t = concat_parts(parts, {**_PAIR, "la": np.int64})
    t["lb"] = _label_of(state, t["b"])
    inside = t["la"] == t["lb"]
    within = {k: v[inside] for k, v in t.items()}
    members = {"v": state["verts"], "label": state["labels"]}
    members = {k: v[members["label"] != members["v"]] for k, v in members.items()}
    pair_parts = split_by_partition(within, partition_of(within["la"], P), P)
    member_parts = split_by_partition(members, partition_of(members["label"], P), P)
    out = [{"pairs": p, "members": m} for p, m in zip(pair_parts, member_parts, strict=True)]
    return ({"rejected": int((~inside).sum())}, *out)  # across components: J below the threshold


def _mh_decide(s: dict, U: int, docs_ref: _DocsRef, *parts: dict):
    """Replay each component's pairs in the local order; drop all but its first member."""
    pairs = concat_parts(tuple(p["pairs"] for p in parts), {**_PAIR, "la": np.int64, "lb": np.int64})
    members = concat_parts(tuple(p["members"] for p in parts), _MEMBER)
    order = np.lexsort((pairs["y"], pairs["x"], pairs["h"], pairs["band"], pairs["la"]))
    pairs = {k: v[order].tolist() for k, v in pairs.items()}
    by_label: dict[int, list[int]] = {}
    for i, label in enumerate(pairs["la"]):
        by_label.setdefault(label, []).append(i)
    docs = _Docs(docs_ref) if len(members["v"]) else None

    def similarity(a: int, b: int) -> float:
        return docs.similarity(a, b, s["verify"])

    counts = Counter(verified=0, skipped=0, rejected=0, clusters=0, removed=0)
    out: list[list] = [[] for _ in range(U)]
    comp: dict[int, list[int]] = {}
    for v, label in zip(members["v"].tolist(), members["label"].tolist(), strict=True):
        comp.setdefault(label, []).append(v)
    for root in sorted(comp):
        counts["clusters"] += 1
        uf, links, known = UnionFind(), {}, {}
        for i in by_label.get(root, []):
            a, b, score = pairs["a"][i], pairs["b"][i], pairs["J"][i]
            known[(a, b)] = score
            if s["verify"]:
                if uf.find(a) == uf.find(b):
                    counts["skipped"] += 1
                elif score < s["threshold"]:
                    counts["rejected"] += 1
                else:
                    counts["verified"] += 1
                    uf.union(a, b)
                    links.setdefault(b, (a, score))
                    links.setdefault(a, (b, score))
            else:
                links.setdefault(b, (a, None))
        for doc in sorted(comp[root]):
            score = known.get((root, doc))
            if score is None or score != score:
                score = similarity(root, doc)
            link = links.get(doc, (root, None))
            decision = Decision.of(doc, root, score, link, s["threshold"], similarity)
            k = doc >> 32
            out[int(docs.unit_of[k])].append((k, doc & 0xFFFFFFFF, REASON, decision.detail(docs.id)))
            counts["removed"] += 1
    return (dict(counts), *out)
