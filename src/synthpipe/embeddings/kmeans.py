"""Spherical k-means on unit embeddings, and the blocked similarity helpers it stands on.

Written with numpy rather than scikit-learn: Lloyd's algorithm on cosine similarity over
blocks of rows keeps memory bounded on memory-mapped embedding matrices, needs no extra
dependency, and is shared by semantic dedup (cells) and the audit (cluster count).
"""

from __future__ import annotations

import numpy as np

ASSIGN_BLOCK = 8192  # rows per block when assigning points to centroids


def spherical_kmeans(
    x: np.ndarray, k: int, *, iterations: int = 10, sample: int | None = None, rng: np.random.Generator
) -> np.ndarray:
    """(k, d) unit centroids from Lloyd's algorithm with cosine similarity on a sample of `x`.

    Sample size: `sample`, default ``max(10_000, 40 k)`` (capped at N). Empty clusters are
    re-seeded with the sample points least similar to their centroid.
    """
    n = len(x)
    size = min(n, sample or max(10_000, 40 * k))
    picked = np.sort(rng.choice(n, size, replace=False)) if size < n else np.arange(n)
    points = np.asarray(x[picked], dtype=np.float32)
    centroids = points[rng.choice(size, min(k, size), replace=False)].copy()
    for _ in range(iterations):
        labels, sims = top_centroids(points, centroids, 1)
        labels, sims = labels[:, 0], sims[:, 0]
        counts = np.bincount(labels, minlength=len(centroids))
        sums = _cluster_sums(points, labels, counts)
        empty = np.flatnonzero(counts == 0)
        if len(empty):
            sums[empty] = points[np.argsort(sims, kind="stable")[: len(empty)]]
        centroids = normalize_rows(sums)
    return centroids


def normalize_rows(a: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return (a / np.maximum(norms, 1e-12)).astype(np.float32)


def _cluster_sums(points: np.ndarray, labels: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-cluster sums of `points` (sort + reduceat: np.add.at is ~50x slower)."""
    sums = np.zeros((len(counts), points.shape[1]), dtype=np.float32)
    order = np.argsort(labels, kind="stable")
    present = np.flatnonzero(counts)
    starts = np.concatenate([[0], np.cumsum(counts[present])[:-1]])
    sums[present] = np.add.reduceat(points[order], starts, axis=0)
    return sums


def blocked_matmul(x: np.ndarray, other: np.ndarray) -> np.ndarray:
    out = np.empty((len(x), len(other)), dtype=np.float32)
    for start in range(0, len(x), ASSIGN_BLOCK):
        out[start : start + ASSIGN_BLOCK] = np.asarray(x[start : start + ASSIGN_BLOCK], dtype=np.float32) @ other.T
    return out


def top_centroids(x: np.ndarray, centroids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `x`: the `n` most similar centroids (best first) and their similarities."""
    labels = np.empty((len(x), n), dtype=np.int64)
    sims = np.empty((len(x), n), dtype=np.float32)
    for start in range(0, len(x), ASSIGN_BLOCK):
        block = np.asarray(x[start : start + ASSIGN_BLOCK], dtype=np.float32) @ centroids.T
        rows = np.arange(len(block))
        for rank in range(n):  # n is small: repeated argmax beats argpartition + sort
            best = np.argmax(block, axis=1)  # first maximum: ties go to the lower centroid
            labels[start : start + len(block), rank] = best
            sims[start : start + len(block), rank] = block[rows, best]
            block[rows, best] = -np.inf
    return labels, sims
