"""The distributed form of ``minhash_dedup``, with the local step's result record for record.

Written against :mod:`synthpipe.pipeline.distributed` (units, groups, partitions,
``job.call``). Units compute shingles, signatures and band hashes (the step's own functions)
and keep their documents' shingles in one pack per unit; a shuffle by band hash forms
buckets and candidate pairs, grouped by their first document; partitions verify the pairs
(exact Jaccard of the shingle sets, :func:`set_jaccard`); connected components of the
verified pairs come from min-label propagation (a Pregel loop: each round, vertices whose
label fell send it to their neighbours, until no label changes), the label being the
component's first document, i.e. the one the local step keeps. Each component's pairs are
then replayed in the local step's order (band, bucket hash, position) through a union-find
to get the same ``via`` links and counts; the step's :class:`Decision` decides each drop and
writes its detail, as in the local step.

Documents are fetched by a join, never by pack: a partition that needs documents (the
members of its over-cap buckets, the two sides of its pairs, the kept/linked members of its
clusters) sends their keys to the group of units owning them; that group's ``serve`` task
reads its own packs and returns only those documents' ids and shingle sets (or signatures
without verification), to the partition that asked. Every shuffle, joins included, has at
most groups x partitions pieces; the driver only sees handles and small counts.

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
    route,
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
_PLAN = {"doc": np.int64, "root": np.int64, "score": np.float64, "partner": np.int64, "link": np.float64}


def minhash_dedup(job: Job) -> None:
    step, cfg = job.step, job.step.config
    started = time.perf_counter()
    params = step.lsh_params()
    P, G = job.P, len(job.groups)
    s = {
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
    owner = job.put(job.group_of)  # output shard -> the group of units holding its pack
    # 1. signatures and band hashes, per unit; the band hashes shuffled by value
    heads, band_parts = job.shuffle_units(_mh_sketch, 2, _BANDS, s, job.source, P)
    packs = [h[1] for h in heads]
    # 2. buckets -> candidate pairs, by their first document's partition; over-cap buckets
    #    stay and are checked with their members' shingles, fetched by a join
    bucketed = [job.call(_mh_buckets, 2 + P + G, s, P, G, owner, *band_parts[q]) for q in range(P)]
    infos = job.get([b[0] for b in bucketed])
    pair_parts = [[b[2 + q] for b in bucketed] for q in range(P)]
    if sum(i["capped"] for i in infos):
        shipped = _serve(job, s, packs, [b[2 + P :] for b in bucketed], _mh_serve_capped)
        capped = [job.call(_mh_capped, 1 + P, s, P, bucketed[q][1], *shipped[q]) for q in range(P)]
        pair_parts = [pair_parts[q] + [c[1 + q] for c in capped] for q in range(P)]
    # 3. each distinct pair once, verified with both documents' shingles, fetched by a join
    distinct = [job.call(_mh_pairs, 2 + G, s, G, owner, *pair_parts[q]) for q in range(P)]
    shipped = [[] for _ in range(P)]
    if cfg.verify:
        shipped = _serve(job, s, packs, [d[2:] for d in distinct], _mh_serve_pairs)
    verified = [job.call(_mh_verify, 2 + P, s, P, distinct[q][1], *shipped[q]) for q in range(P)]
    # 4. connected components: min-label propagation
    states = _components(job, [[v[2 + q] for v in verified] for q in range(P)])
    # 5. labels onto pairs; each component's pairs and members meet in its label's partition
    first = [job.call(_mh_label_a, 1 + P, P, states[q], verified[q][1]) for q in range(P)]
    second = [job.call(_mh_label_b, 1 + P, P, states[q], *[f[1 + q] for f in first]) for q in range(P)]
    planned = [job.call(_mh_plan, 2 + G, s, G, owner, *[x[1 + q] for x in second]) for q in range(P)]
    shipped = _serve(job, s, packs, [p[2:] for p in planned], _mh_serve_decide)
    decided = [job.call(_mh_decide, 1 + G, s, G, owner, planned[q][1], *shipped[q]) for q in range(P)]
    job.apply_groups([[d[1 + g] for d in decided] for g in range(G)])
    # the local step's summary, from the tasks' counts
    c = _sum_dicts(
        job.get([h[0] for h in heads])
        + job.get([d[0] for d in distinct])
        + job.get([x[0] for x in second])
        + job.get([p[0] for p in planned])
        + job.get([d[0] for d in decided])
        + infos
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
    extra = {"executor": job.executor, "task_seconds": job.task_seconds(), "task_output": job.task_output()}
    step.report({**summary, **extra}, job.ctx)


def _sum_dicts(dicts: list) -> Counter:
    total: Counter = Counter()
    for d in dicts:
        if d:
            total.update(d)
    return total


# -- the join: documents asked for by key, served by the group of units that owns them ----------
def _serve(job: Job, s: dict, packs: list[Handle], asked: list[list[Handle]], fn) -> list[list[Handle]]:
    """`asked[q][g]`: the documents partition q needs from group g; `fn` one of the ``_mh_serve_*``
    tasks (their names tell the stages apart in ``task_seconds``). Returns, for each q, the
    handles of the documents it is sent (one table per group)."""
    P = job.P
    served = [
        job.call(fn, 1 + P, s, P, len(group), *[packs[u] for u in group], *[a[g] for a in asked])
        for g, group in enumerate(job.groups)
    ]
    return [[x[1 + q] for x in served] for q in range(P)]


def _ask(docs: np.ndarray, owner: np.ndarray, G: int) -> list[np.ndarray]:
    """The distinct documents `docs`, cut by the group that owns each."""
    docs = np.unique(np.asarray(docs, dtype=np.int64))
    part = owner[docs >> 32] if len(docs) else np.zeros(0, dtype=np.int64)
    return [t["doc"] for t in split_by_partition({"doc": docs}, part, G)]


def _mh_serve(s: dict, P: int, n_packs: int, *args):
    """One group's documents asked for by each partition: ids, shingle sets (unique, sorted)
    or, without verification, signatures."""
    packs, asked = args[:n_packs], args[n_packs:]
    keys = np.concatenate([p["keys"] for p in packs]) if packs else np.zeros(0, dtype=np.int64)
    which = np.repeat(np.arange(len(packs)), [len(p["keys"]) for p in packs])
    firsts = np.cumsum([0] + [len(p["keys"]) for p in packs])
    out = []
    for docs in asked:  # sorted, so each pack's documents are a run
        at = np.searchsorted(keys, docs)
        tables = [_served(s, packs[p], at[which[at] == p] - firsts[p]) for p in range(len(packs))]
        sizes = np.concatenate([t[1] for t in tables]) if tables else np.zeros(0, dtype=np.int64)
        out.append(
            {
                "doc": np.asarray(docs, dtype=np.int64),
                "id": np.array([i for t in tables for i in t[0]], dtype=object),
                "offsets": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                "hashes": np.concatenate([t[2] for t in tables] or [np.zeros(0, dtype=np.uint32)]),
                "sig": np.concatenate([t[3] for t in tables] or [np.zeros((0, 0), dtype=np.uint32)]),
            }
        )
    return (None, *out)


def _served(s: dict, pack: dict, rows: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Rows `rows` of one pack: ids, shingle set sizes, the sets end to end (each unique and
    sorted), signatures (without verification; else none)."""
    io = pack["id_offsets"]
    ids = [pack["ids"][io[r] : io[r + 1]].tobytes().decode() for r in rows.tolist()]
    if not s["verify"]:
        return ids, np.zeros(len(rows), dtype=np.int64), np.zeros(0, np.uint32), pack["signatures"][rows]
    lo, n = pack["offsets"][rows], pack["offsets"][rows + 1] - pack["offsets"][rows]
    seg = np.repeat(np.arange(len(rows), dtype=np.uint64), n)
    h = pack["hashes"][np.repeat(lo - np.cumsum(n) + n, n) + np.arange(int(n.sum()))]
    both = np.sort(seg << np.uint64(32) | h.astype(np.uint64))  # 32-bit hashes: one sort
    both = both[np.append(True, both[1:] != both[:-1])] if len(both) else both
    sizes = np.bincount((both >> np.uint64(32)).astype(np.int64), minlength=len(rows))
    none = np.zeros((len(rows), 0), dtype=np.uint32)
    return ids, sizes, (both & np.uint64(0xFFFFFFFF)).astype(h.dtype), none


def _mh_serve_capped(s: dict, P: int, n_packs: int, *args):
    return _mh_serve(s, P, n_packs, *args)


def _mh_serve_pairs(s: dict, P: int, n_packs: int, *args):
    return _mh_serve(s, P, n_packs, *args)


def _mh_serve_decide(s: dict, P: int, n_packs: int, *args):
    return _mh_serve(s, P, n_packs, *args)


class _Docs:
    """The documents a task was sent (:func:`_mh_serve` tables), by key."""

    def __init__(self, tables: tuple[dict, ...]):
        self.tables = tables
        self.where = {d: (t, i) for t, table in enumerate(tables) for i, d in enumerate(table["doc"].tolist())}

    def _at(self, doc: int) -> tuple[dict, int]:
        t, i = self.where[doc]
        return self.tables[t], i

    def id(self, doc: int) -> str:
        table, i = self._at(doc)
        return table["id"][i]

    def shingle_set(self, doc: int) -> np.ndarray:
        table, i = self._at(doc)
        return table["hashes"][table["offsets"][i] : table["offsets"][i + 1]]

    def similarity(self, a: int, b: int, exact: bool) -> float:
        """As the local step: exact Jaccard of shingle sets, or the signatures' estimate."""
        if exact:
            return set_jaccard(self.shingle_set(a), self.shingle_set(b))
        (ta, ia), (tb, ib) = self._at(a), self._at(b)
        return float(estimate_jaccard(ta["sig"][ia], tb["sig"][ib]))


# -- the stages --------------------------------------------------------------------------------
def _mh_sketch(s: dict, source: StepCheckpoint, P: int, unit: Unit, fanout: int):
    keys, ids, texts, records = [], [], [], 0
    for k, index in unit:
        batch = source.read(index)
        records += len(batch)
        for j, record in enumerate(batch):
            text = record.get(s["field"])
            if isinstance(text, str):  # as the local step: non-strings are kept and never match
                keys.append(k << 32 | j)
                ids.append(str(record.get(ID)).encode())
                texts.append(text)
    hashes, offsets, sigs = [], [np.zeros(1, dtype=np.int64)], []
    start, chars = 0, 0
    for i, text in enumerate(texts):  # chunks bound memory; every value is per document
        chars += len(text)
        if i + 1 - start >= 256 or chars >= CHUNK_CHARS or i + 1 == len(texts):
            h, o, g = sketch(texts[start : i + 1], s["ngram"], s["normalization"], s["num_perm"], s["seed"])
            hashes.append(h)
            offsets.append(o[1:].astype(np.int64) + offsets[-1][-1])
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
    pack = {  # stays in the store; served by document (_mh_serve)
        "keys": keys_arr,
        "ids": np.frombuffer(b"".join(ids), dtype=np.uint8),  # numpy, not str objects: a task
        "id_offsets": np.cumsum([0] + [len(i) for i in ids], dtype=np.int64),  # reads it without a copy
        "offsets": offsets_all,
        "hashes": hashes_all,
        "signatures": None if s["verify"] else signatures,
    }
    counts = {"records": records, "texts": len(texts), "live": int(live.sum())}
    return (counts, pack, *route(table, (table["h"] % np.uint64(P)).astype(np.int64), fanout))


def _mh_buckets(s: dict, P: int, G: int, owner: np.ndarray, *parts: dict):
    """Buckets of one partition of band hashes -> candidate pairs; the over-cap buckets stay
    here, and their members are asked for (one request per owning group)."""
    t = concat_parts(parts, _BANDS)
    order = np.lexsort((t["doc"], t["h"], t["band"]))  # band, then hash: the local visiting order
    band, h, doc = t["band"][order], t["h"][order], t["doc"][order]
    n = len(doc)
    new = np.ones(n, dtype=bool)
    new[1:] = (band[1:] != band[:-1]) | (h[1:] != h[:-1])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n).astype(np.int64) if n else starts
    out: dict[str, list] = {k: [] for k in _PAIR}
    capped = []
    big = ends - starts >= 2
    for lo, hi in zip(starts[big].tolist(), ends[big].tolist(), strict=True):
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
    pairs = {k: (np.concatenate(v).astype(_PAIR[k]) if v else np.zeros(0, dtype=_PAIR[k])) for k, v in out.items()}
    wanted = np.concatenate([m for _, _, m in capped]) if capped else np.zeros(0, dtype=np.int64)
    info = {"capped": len(capped)}
    return (info, capped, *split_by_partition(pairs, partition_of(pairs["a"], P), P), *_ask(wanted, owner, G))


def _mh_capped(s: dict, P: int, buckets: list, *shipped: dict):
    """Buckets above `bucket_cap`: each member is checked against the first `cap` members in
    order and joins the first it matches (see the module doc for the one difference)."""
    docs = _Docs(shipped)
    out: dict[str, list] = {k: [] for k in _PAIR}
    known: dict[tuple[int, int], float] = {}
    for band, h, members in sorted(buckets, key=lambda b: (b[0], b[1])):
        ms = members.tolist()
        for j, m in enumerate(ms[1:], 1):
            for pos, rep in enumerate(ms[: min(j, s["cap"])]):
                score = known.get((rep, m))
                if score is None:
                    score = known[(rep, m)] = docs.similarity(rep, m, True)
                for key, value in (("a", rep), ("b", m), ("band", band), ("h", h), ("x", j), ("y", pos), ("J", score)):
                    out[key].append(value)
                if score >= s["threshold"]:
                    break
    pairs = {k: np.array(v, dtype=_PAIR[k]) for k, v in out.items()}
    return (None, *split_by_partition(pairs, partition_of(pairs["a"], P), P))


def _mh_pairs(s: dict, G: int, owner: np.ndarray, *parts: dict):
    """Distinct pairs of this partition, each at its first occurrence; a pair met in an
    over-cap bucket carries its Jaccard. Asks for the documents of the pairs still to verify."""
    t = concat_parts(parts, _PAIR)
    order = np.lexsort((t["y"], t["x"], t["h"], t["band"], t["b"], t["a"]))
    t = {k: v[order] for k, v in t.items()}
    first = np.ones(len(t["a"]), dtype=bool)
    first[1:] = (t["a"][1:] != t["a"][:-1]) | (t["b"][1:] != t["b"][:-1])
    starts = np.flatnonzero(first)
    pairs = {k: v[first] for k, v in t.items()}
    if len(starts):  # the score of any occurrence (all of a pair's scores are equal)
        pairs["J"] = np.fmax.reduceat(t["J"], starts)
    open_ = np.isnan(pairs["J"])
    wanted = np.concatenate([pairs["a"][open_], pairs["b"][open_]]) if s["verify"] else np.zeros(0, np.int64)
    return ({"candidates": len(pairs["a"])}, pairs, *_ask(wanted, owner, G))


def _mh_verify(s: dict, P: int, pairs: dict, *shipped: dict):
    """This partition's pairs with their Jaccard; the linked ones become edges."""
    if s["verify"]:
        docs = _Docs(shipped)
        pairs["J"] = np.array(
            [
                j if j == j else docs.similarity(a, b, True)
                for a, b, j in zip(pairs["a"].tolist(), pairs["b"].tolist(), pairs["J"].tolist(), strict=True)
            ],
            dtype=np.float64,
        )
        linked = pairs["J"] >= s["threshold"]
    else:
        linked = np.ones(len(pairs["a"]), dtype=bool)
    a, b = pairs["a"][linked], pairs["b"][linked]
    edges = {"src": np.concatenate([a, b]), "dst": np.concatenate([b, a])}
    return (None, pairs, *split_by_partition(edges, partition_of(edges["src"], P), P))
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



def _mh_plan(s: dict, G: int, owner: np.ndarray, *parts: dict):
    """Replay each component's pairs in the local order (union-find): its members, their
    known Jaccard to the kept one and first verified link; asks for the documents whose ids
    or shingles the decisions need."""
    pairs = concat_parts(tuple(p["pairs"] for p in parts), {**_PAIR, "la": np.int64, "lb": np.int64})
    members = concat_parts(tuple(p["members"] for p in parts), _MEMBER)
    order = np.lexsort((pairs["y"], pairs["x"], pairs["h"], pairs["band"], pairs["la"]))
    pairs = {k: v[order].tolist() for k, v in pairs.items()}
    by_label: dict[int, list[int]] = {}
    for i, label in enumerate(pairs["la"]):
        by_label.setdefault(label, []).append(i)
    counts = Counter(verified=0, skipped=0, rejected=0, clusters=0)
    plan: dict[str, list] = {k: [] for k in _PLAN}
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
            partner, link = links.get(doc, (root, None))
            for key, value in (("doc", doc), ("root", root), ("score", known.get((root, doc), np.nan)),
                               ("partner", partner), ("link", np.nan if link is None else link)):  # fmt: skip
                plan[key].append(value)
    plan_t = {k: np.array(v, dtype=_PLAN[k]) for k, v in plan.items()}
    # the kept document (id, shingles), members without a known Jaccard, and link partners
    need = np.concatenate([plan_t["root"], plan_t["doc"][np.isnan(plan_t["score"])], plan_t["partner"]])
    return (dict(counts), plan_t, *_ask(need, owner, G))


def _mh_decide(s: dict, G: int, owner: np.ndarray, plan: dict, *shipped: dict):
    """Drop every planned member as the step's :class:`Decision` says, one list per group."""
    docs = _Docs(shipped)

    def similarity(a: int, b: int) -> float:
        return docs.similarity(a, b, s["verify"])

    out: list[list] = [[] for _ in range(G)]
    rows = zip(*(plan[k].tolist() for k in ("doc", "root", "score", "partner", "link")), strict=True)
    for doc, root, score, partner, link in rows:
        if score != score:
            score = similarity(root, doc)
        decision = Decision.of(doc, root, score, (partner, None if link != link else link), s["threshold"], similarity)
        k = doc >> 32
        out[int(owner[k])].append((k, doc & 0xFFFFFFFF, REASON, decision.detail(docs.id)))
    return ({"removed": len(plan["doc"])}, *out)
