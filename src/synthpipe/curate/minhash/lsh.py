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


def verified_clusters(
    bands: np.ndarray, jaccard: Callable[[int, int], float], threshold: float, cap: int
) -> Clusters:
    """LSH candidates joined only when ``jaccard(a, b) >= threshold`` (see the module doc)."""
    uf, links = UnionFind(), {}
    out = Clusters({}, links)
    decided: set[tuple[int, int]] = set()

    def consider(a: int, b: int) -> bool:
        """Check the pair (a < b) unless already decided; True if a and b end up together."""
        if (a, b) in decided:
            return uf.find(a) == uf.find(b)
        decided.add((a, b))
        out.candidate_pairs += 1
        if uf.find(a) == uf.find(b):
            out.skipped_pairs += 1
            return True
        j = jaccard(a, b)
        if j < threshold:
            out.rejected_pairs += 1
            return False
        out.verified_pairs += 1
        uf.union(a, b)
        links.setdefault(b, (a, j))
        links.setdefault(a, (b, j))
        return True

    for band in range(bands.shape[1]):
        for members in buckets(bands[:, band]):
            ms = members.tolist()
            if len(ms) <= cap:
                for i, a in enumerate(ms):
                    for b in ms[i + 1 :]:
                        consider(a, b)
                continue
            out.capped_buckets += 1
            for j, m in enumerate(ms[1:], 1):
                for rep in ms[: min(j, cap)]:
                    if consider(rep, m):
                        break
    out.roots = uf.roots()
    return out
