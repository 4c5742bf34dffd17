"""LSH banding over MinHash signatures, candidate pairs, and union-find clusters.

Banding (Leskovec, Rajaraman & Ullman, "Mining of Massive Datasets", ch. 3.4): the first
``bands * rows`` signature positions are cut into ``bands`` bands of ``rows``; each band is
hashed to 64 bits, and documents whose hashes agree in some band share a bucket. Buckets are
found by sorting each band's hashes (no dict of lists), so the work is ``O(n log n)`` per band.

Pairs from a bucket of ``k`` documents (members in document order):

- without verification, every member is paired with the bucket's first member only
  (``k - 1`` pairs): union-find makes the bucket one cluster either way, without ``k^2`` pairs;
- with verification, a member must be checked against the members it may duplicate, so a
  bucket emits all pairs when ``k <= cap``; a larger bucket pairs each member with the first
  ``cap`` members only (its representatives) - ``O(k * cap)`` pairs. A member of a huge bucket
  that resembles only later, non-representative members is then missed; such buckets are
  nearly always boilerplate whose first members already match everyone, and the summary
  counts how many buckets were capped.
"""

from __future__ import annotations

import numpy as np

from synthpipe.curate.minhash.shingles import fmix64, splitmix64


def band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(n_docs, bands)`` uint64 hashes of each band of each signature."""
    n = len(signatures)
    cut = np.ascontiguousarray(signatures[:, : bands * rows]).reshape(n, bands, rows).astype(np.uint64)
    mult = np.array([m | 1 for m in splitmix64(0xBA5D, rows)], dtype=np.uint64)
    out = np.zeros((n, bands), dtype=np.uint64)
    for j in range(rows):
        out += cut[:, :, j] * mult[j]
    return fmix64(out)


def bucket_pairs(keys: np.ndarray, cap: int | None) -> tuple[np.ndarray, int]:
    """Pairs ``(i, j)``, ``i < j``, of documents sharing a key in one band; and capped buckets.

    ``cap=None`` pairs each member with the bucket's first member only (star); an int pairs
    all members of buckets up to `cap` and each member with the first `cap` otherwise.
    """
    order = np.argsort(keys, kind="stable")  # stable: members stay in document order
    sorted_keys = keys[order]
    change = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    starts = np.concatenate([[0], change])
    sizes = np.diff(np.concatenate([starts, [len(keys)]]))
    multi = sizes >= 2
    starts, sizes = starts[multi], sizes[multi]
    if not len(starts):
        return np.zeros((0, 2), dtype=np.int64), 0
    if cap is None:  # star: member -> first member
        first = np.repeat(order[starts], sizes - 1)
        rest = np.concatenate([order[s + 1 : s + k] for s, k in zip(starts, sizes, strict=True)])
        return np.stack([first, rest], axis=1), 0
    pairs = [np.stack([order[starts[sizes == 2]], order[starts[sizes == 2] + 1]], axis=1)]
    capped = 0
    for s, k in zip(starts[sizes > 2], sizes[sizes > 2], strict=True):
        members = order[s : s + k]
        reps = min(int(k), cap)
        capped += int(k) > cap
        i, j = np.triu_indices(int(k), 1)
        keep = i < reps
        pairs.append(np.stack([members[i[keep]], members[j[keep]]], axis=1))
    return np.concatenate(pairs), capped


def candidate_pairs(bands: np.ndarray, cap: int | None) -> tuple[np.ndarray, int]:
    """Distinct candidate pairs over all bands, sorted, as ``(m, 2)`` int64; and capped buckets."""
    n = len(bands)
    found, capped = [], 0
    for band in range(bands.shape[1]):
        pairs, c = bucket_pairs(bands[:, band], cap)
        found.append(pairs)
        capped += c
    if not found or not sum(len(p) for p in found):
        return np.zeros((0, 2), dtype=np.int64), capped
    allp = np.concatenate(found)
    lo, hi = np.minimum(allp[:, 0], allp[:, 1]), np.maximum(allp[:, 0], allp[:, 1])
    codes = np.unique(lo.astype(np.int64) * n + hi)
    return np.stack([codes // n, codes % n], axis=1), capped


class UnionFind:
    """Disjoint sets over ``0..n-1`` whose root is always the smallest member."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return int(root)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = (ra, rb) if ra < rb else (rb, ra)
            self.parent[hi] = lo

    def roots(self) -> np.ndarray:
        """The root (smallest member) of every element's set."""
        return np.array([self.find(i) for i in range(len(self.parent))], dtype=np.int64)


def cluster_roots(n: int, pairs: np.ndarray) -> np.ndarray:
    """For each document, the first (smallest-index) document of its cluster."""
    uf = UnionFind(n)
    for a, b in pairs.tolist():
        uf.union(a, b)
    roots = np.arange(n, dtype=np.int64)
    touched = np.unique(pairs) if len(pairs) else np.zeros(0, dtype=np.int64)
    for x in touched.tolist():
        roots[x] = uf.find(x)
    return roots
