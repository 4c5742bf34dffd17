"""LSH banding over MinHash signatures, buckets, and union-find clusters.

Banding (Leskovec, Rajaraman & Ullman, "Mining of Massive Datasets", ch. 3.4): the first
``bands * rows`` signature positions are cut into ``bands`` bands of ``rows``; each band is
hashed to 64 bits, and documents whose hashes agree in some band share a bucket. Buckets are
found by sorting each band's hashes, ``O(n log n)`` per band, members in document order.

From buckets to clusters (union-find, whose root is always the smallest document index, so
the root is the first document of its cluster in pipeline order):

- without verification (:func:`star_clusters`) every member of a bucket is joined to the
  bucket's first member: ``k - 1`` unions for a bucket of ``k``, never ``k^2`` pairs;
- with verification (:func:`verified_clusters`) a pair is joined only if its exact Jaccard
  reaches the threshold. A bucket of at most ``cap`` members checks all its pairs (single
  linkage over verified pairs); a larger bucket checks each member against its first ``cap``
  members (the representatives) in order and stops at the first it joins: ``O(k)`` checks
  when the bucket is one cluster, ``O(k * cap)`` at worst, so a huge bucket of boilerplate
  stays cheap. Such a member can miss a match with a later, non-representative member; the
  summary counts capped buckets. In both cases a pair whose documents are already in one
  cluster is not checked again, and each distinct pair is checked once over all bands.

Speed without changing a result: :func:`candidate_pairs` lists every small bucket's pairs of
all bands at once with numpy (a plain sort finds the shared band hashes, so only those few
need a stable sort), deduplicated at their first visit; :func:`verified_clusters` then walks
them in the visiting order above, scoring them a block at a time through a vectorised Jaccard
(and a capped bucket's members against its representatives as one matrix), so the Python loop
only does the union-find bookkeeping. Measured on 1M short real-text documents: 10.8 -> 5.3
CPU seconds for the whole decision, with the same clusters, links and counts (the tests hold
the one-pair-at-a-time definition next to it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from synthpipe.curate.minhash.shingles import fmix64, splitmix64


def band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(n_docs, bands)`` uint64 hashes of each band of each signature."""
    n = len(signatures)
    cut = np.ascontiguousarray(signatures[:, : bands * rows]).reshape(n, bands, rows)
    mult = np.array([m | 1 for m in splitmix64(0xBA5D, rows)], dtype=np.uint64)
    out = np.zeros((n, bands), dtype=np.uint64)
    for j in range(rows):
        out += cut[:, :, j].astype(np.uint64) * mult[j]
    return fmix64(out)


def buckets(keys: np.ndarray) -> Iterator[np.ndarray]:
    """The members (ascending document indexes) of every bucket with two or more members."""
    order = np.argsort(keys, kind="stable")  # stable: members stay in document order
    sorted_keys = keys[order]
    cuts = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [len(keys)]])
    for s, e in zip(starts[ends - starts >= 2].tolist(), ends[ends - starts >= 2].tolist(), strict=True):
        yield order[s:e]


class UnionFind:
    """Disjoint sets over ``0..n-1`` (a dict: only documents that meet another are stored);
    the root of a set is always its smallest member."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        if x not in parent:  # most documents: a root (roots are never keys)
            return x
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:  # path compression
            parent[x], x = root, parent.get(x, x)
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def roots(self) -> dict[int, int]:
        """Root of every document whose root is not itself."""
        out = {x: self.find(x) for x in list(self.parent)}
        return {x: r for x, r in out.items() if r != x}


@dataclass
class Clusters:
    """The outcome: roots of non-root documents, and the edge that first joined each document."""

    roots: dict[int, int]
    links: dict[int, tuple[int, float | None]]
    candidate_pairs: int = 0
    verified_pairs: int = 0
    rejected_pairs: int = 0
    skipped_pairs: int = 0  # met in a bucket when already in one cluster: not checked
    capped_buckets: int = 0


def star_clusters(bands: np.ndarray) -> Clusters:
    """Unverified LSH: each bucket member joins the bucket's first member."""
    uf, links = UnionFind(), {}
    seen: set[tuple[int, int]] = set()
    for band in range(bands.shape[1]):
        for members in buckets(bands[:, band]):
            first, *rest = members.tolist()
            for m in rest:
                seen.add((first, m))
                uf.union(first, m)
                links.setdefault(m, (first, None))
    return Clusters(uf.roots(), links, candidate_pairs=len(seen))


@dataclass
class CandidatePairs:
    """The pairs :func:`verified_clusters` visits, in its order: band by band, buckets in hash
    order, a bucket's pairs ``(i, j)`` in member order. ``a``/``b`` hold each distinct pair of
    the buckets of at most ``cap`` members once, at its first visit (``a < b``); ``capped``
    holds the larger buckets as ``(position, members)``: visited just before pair
    ``position``."""

    a: np.ndarray
    b: np.ndarray
    capped: list[tuple[int, np.ndarray]]


def candidate_pairs(bands: np.ndarray, cap: int) -> CandidatePairs:
    """All buckets' pairs at once with numpy (see :class:`CandidatePairs`)."""
    n = len(bands)
    a_parts, b_parts, bucket_parts, rank_parts = [], [], [], []
    capped: list[tuple[int, np.ndarray]] = []  # (bucket key, members)
    for band in range(bands.shape[1]):
        keys = bands[:, band]
        order = _shared(keys)
        keys = keys[order]
        order = order[np.argsort(keys, kind="stable")]  # stable: members stay in document order
        sorted_keys = bands[order, band]
        starts = np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))
        sizes = np.diff(np.append(starts, len(order)))
        for size in (np.flatnonzero(np.bincount(sizes)[2:]) + 2).tolist():
            at = starts[sizes == size]
            members = order[at[:, None] + np.arange(size)]  # one row per bucket of this size
            if size > cap:
                capped += zip((band * n + at).tolist(), members, strict=True)
                continue
            i, j = np.triu_indices(size, k=1)  # (i, j) in visiting order
            a_parts.append(members[:, i].ravel())
            b_parts.append(members[:, j].ravel())
            bucket_parts.append(np.repeat(band * n + at, len(i)))
            rank_parts.append(np.tile(np.arange(len(i)), len(at)))
    if not a_parts:
        empty = np.zeros(0, dtype=np.int64)
        return CandidatePairs(empty, empty, [(0, m) for _, m in sorted(capped, key=lambda c: c[0])])
    a, b, bucket = np.concatenate(a_parts), np.concatenate(b_parts), np.concatenate(bucket_parts)
    visit = np.lexsort((np.concatenate(rank_parts), bucket))
    a, b, bucket = a[visit], b[visit], bucket[visit]
    first = first_occurrences(a * n + b)  # each distinct pair at its first visit, in visiting order
    a, b, bucket = a[first], b[first], bucket[first]
    capped.sort(key=lambda c: c[0])
    return CandidatePairs(a, b, [(int(np.searchsorted(bucket, key)), m) for key, m in capped])


def _shared(keys: np.ndarray) -> np.ndarray:
    """Ascending positions of the keys that occur more than once (found with a fast unstable
    argsort, so that only these few need the stable one)."""
    order = np.argsort(keys)
    ranked = keys[order]
    equal = ranked[1:] == ranked[:-1]
    repeated = np.zeros(len(keys), dtype=bool)
    repeated[1:] |= equal
    repeated[:-1] |= equal
    return np.sort(order[repeated])


def first_occurrences(values: np.ndarray) -> np.ndarray:
    """Ascending positions of the first occurrence of each distinct value (``np.unique`` with
    ``return_index``, which numpy 2.4 runs several times slower than this)."""
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(values)
    ranked = values[order]
    starts = np.flatnonzero(np.concatenate([[True], ranked[1:] != ranked[:-1]]))
    first = np.minimum.reduceat(order, starts)  # the order within a run of equal values is arbitrary
    first.sort()
    return first


def verified_clusters(
    bands: np.ndarray,
    jaccard: Callable[[int, int], float],
    threshold: float,
    cap: int,
    jaccard_many: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    jaccard_grid: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> Clusters:
    """LSH candidates joined only when ``jaccard(a, b) >= threshold`` (see the module doc).

    Vectorised scoring, optional, with the same clusters, links and counts: `jaccard_many`
    (arrays ``a``, ``b`` -> Jaccard of each pair) scores the pairs of small buckets a block
    at a time, skipping those already clustered when their block starts (a few that get
    clustered within the block are scored needlessly); `jaccard_grid` (``reps``, ``members``
    -> matrix ``[member, rep]``) scores a capped bucket's members against its first `cap`.
    """
    pairs = candidate_pairs(bands, cap)
    A, B = pairs.a.tolist(), pairs.b.tolist()
    uf, links = UnionFind(), {}
    out = Clusters({}, links)
    find, union = uf.find, uf.union
    capped_seen: set[tuple[int, int]] = set()  # pairs first decided in a capped bucket
    index_of = _PairIndex(pairs, len(bands)) if pairs.capped else None

    def decide(a: int, b: int, j: float | None) -> bool:
        """A pair met for the first time: True if a and b end up together."""
        out.candidate_pairs += 1
        if find(a) == find(b):
            out.skipped_pairs += 1
            return True
        if j is None:
            j = jaccard(a, b)
        if j < threshold:
            out.rejected_pairs += 1
            return False
        out.verified_pairs += 1
        union(a, b)
        links.setdefault(b, (a, j))
        links.setdefault(a, (b, j))
        return True

    def visit_capped(members: np.ndarray, now: int) -> None:
        """Each member against the first `cap` members in order, up to the first it is with.

        ``decide`` inlined: clusters only change at the union that ends a member's scan, so
        the roots are looked up once per member (and the reps' again after a union). Members
        are taken a chunk at a time (bounded memory in a huge bucket).
        """
        out.capped_buckets += 1
        ms, reps = members.tolist(), members[:cap]
        rep_roots = [find(r) for r in reps.tolist()]
        for lo in range(1, len(ms), _CHUNK):
            chunk = members[lo : lo + _CHUNK]
            before = index_of.before(reps, chunk, now).tolist()  # [member][rep]: an earlier pair
            rows = capped_scores(reps, chunk) if jaccard_many is not None and jaccard_grid is not None else None
            for j, m in enumerate(chunk.tolist(), lo):
                root, done = find(m), before[j - lo]
                row = rows[j - lo] if rows is not None else None
                for r, rep in enumerate(ms[: min(j, cap)]):
                    if done[r] or (rep, m) in capped_seen:  # decided before: only look
                        if rep_roots[r] == root:
                            break
                        continue
                    capped_seen.add((rep, m))
                    out.candidate_pairs += 1
                    if rep_roots[r] == root:
                        out.skipped_pairs += 1
                        break
                    score = row[r] if row is not None else jaccard(rep, m)
                    if score < threshold:
                        out.rejected_pairs += 1
                        continue
                    out.verified_pairs += 1
                    union(rep, m)
                    links.setdefault(m, (rep, score))
                    links.setdefault(rep, (m, score))
                    rep_roots = [find(x) for x in ms[: len(rep_roots)]]
                    break

    def capped_scores(reps: np.ndarray, chunk: np.ndarray) -> list[list[float]]:
        """Each member's Jaccard with the reps, as far as its scan can go: a member at or above
        the threshold with the first rep stops there; the others get the whole row."""
        first = jaccard_many(np.full(len(chunk), reps[0]), chunk).tolist()
        rows: list[list[float]] = [[j] for j in first]
        rest = [i for i, j in enumerate(first) if j < threshold]
        if rest:
            for i, row in zip(rest, jaccard_grid(reps, chunk[rest]).tolist(), strict=True):
                rows[i] = row
        return rows

    events, e = pairs.capped, 0
    scores: list[float | None] = [None] * len(A)
    for lo in range(0, len(A), _BLOCK):
        hi = min(lo + _BLOCK, len(A))
        if jaccard_many is not None:
            todo = [k for k in range(lo, hi) if find(A[k]) != find(B[k])]
            if todo:
                for k, v in zip(todo, jaccard_many(pairs.a[todo], pairs.b[todo]).tolist(), strict=True):
                    scores[k] = v
        for k in range(lo, hi):
            while e < len(events) and events[e][0] <= k:
                visit_capped(events[e][1], k)
                e += 1
            a, b = A[k], B[k]
            if capped_seen and (a, b) in capped_seen:
                continue
            decide(a, b, scores[k])
    for _, members in events[e:]:
        visit_capped(members, len(A))
    out.roots = uf.roots()
    return out


_BLOCK = 4096  # pairs scored per jaccard_many call
_CHUNK = 4096  # members of a capped bucket scored at once


class _PairIndex:
    """Positions of pairs in :class:`CandidatePairs`, by binary search."""

    def __init__(self, pairs: CandidatePairs, n: int) -> None:
        self.n = n
        codes = pairs.a * n + pairs.b
        self.order = np.argsort(codes)
        self.codes = codes[self.order]

    def before(self, reps: np.ndarray, members: np.ndarray, now: int) -> np.ndarray:
        """``[member, rep]``: True where the pair (rep, member) is among the first `now` pairs."""
        codes = reps[None, :] * self.n + members[:, None]
        i = np.minimum(np.searchsorted(self.codes, codes), max(len(self.codes) - 1, 0))
        if not len(self.codes):
            return np.zeros(codes.shape, dtype=bool)
        return (self.codes[i] == codes) & (self.order[i] < now)
