"""Distributional fidelity of a synthetic set against a reference set.

Pure numpy functions. Every comparison is made at EQUAL sample sizes: :func:`equalize`
subsamples the larger set (seeded), and :func:`fidelity_report` states the size used,
because PRDC, MAUVE, FD and histogram distances all depend on the number of samples.

References:
- Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local
  Nash Equilibrium" (Fréchet Inception Distance).
- Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models"
  (precision / recall / density / coverage; precision and recall after Kynkäänniemi et al. 2019).
- Pillutla et al. 2021, "MAUVE: Measuring the Gap Between Neural Text and Human Text
  using Divergence Frontiers".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

_BLOCK = 1024  # rows per block for pairwise distances
#: MAUVE is reported as the mean over this many seeds, with its spread.
MAUVE_RUNS = 5
_TOKEN = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


# ----------------------------------------------------------------------------- sampling


def equal_indices(n_a: int, n_b: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays selecting min(n_a, n_b) items of each set.

    The smaller set keeps all its items in order; the larger is subsampled without
    replacement (seeded), its kept indices sorted.
    """
    n = min(n_a, n_b)
    rng = np.random.default_rng(seed)

    def pick(m: int) -> np.ndarray:
        return np.arange(m) if m == n else np.sort(rng.choice(m, size=n, replace=False))

    return pick(n_a), pick(n_b)


def _take(items: Any, idx: np.ndarray) -> Any:
    if isinstance(items, np.ndarray):
        return items[idx]
    return [items[i] for i in idx]


def equalize(
    a: Sequence[T] | np.ndarray, b: Sequence[T] | np.ndarray, seed: int = 0
) -> tuple[Any, Any]:
    """Return (a', b') of equal length min(len(a), len(b)).

    The larger set is subsampled without replacement with ``seed``; arrays stay arrays
    (rows are selected), other sequences become lists.
    """
    ia, ib = equal_indices(len(a), len(b), seed)
    return _take(a, ia), _take(b, ib)


# ----------------------------------------------------------------------------- embeddings


def _as_matrix(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise ValueError(f"{name} must be a 2-d array with at least 2 rows, got shape {arr.shape}")
    return arr


def _sqrtm_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric PSD square root via eigendecomposition (negative eigenvalues clipped to 0)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussians fit to two embedding sets (FID; Heusel et al. 2017).

    ``FD = ||mu_x - mu_y||^2 + tr(S_x) + tr(S_y) - 2 tr((S_x S_y)^{1/2})`` with sample means
    and unbiased covariances. The trace term is computed stably as
    ``tr((S_x^{1/2} S_y S_x^{1/2})^{1/2})``, the square root of a symmetric PSD matrix
    (same eigenvalues as ``S_x S_y``), via ``eigh`` with round-off negatives clipped.
    The estimate is biased upward at small n, so compare values at equal sample sizes.
    """
    x = _as_matrix(x, "x")
    y = _as_matrix(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"dimension mismatch: {x.shape[1]} vs {y.shape[1]}")
    mu_x, mu_y = x.mean(0), y.mean(0)
    s_x = np.cov(x, rowvar=False)
    s_y = np.cov(y, rowvar=False)
    root_x = _sqrtm_psd(s_x)
    middle = root_x @ s_y @ root_x
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = mu_x - mu_y
    fd = float(diff @ diff + np.trace(s_x) + np.trace(s_y) - 2.0 * tr_covmean)
    return max(fd, 0.0)


def _block_distances(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    d2 = (a * a).sum(1)[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.clip(d2, 0.0, None))


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row to its k-th nearest other row (self excluded), blockwise."""
    x_sq = (x * x).sum(1)
    radii = np.empty(len(x))
    for start in range(0, len(x), _BLOCK):
        d = _block_distances(x[start : start + _BLOCK], x, x_sq)
        radii[start : start + _BLOCK] = np.partition(d, k, axis=1)[:, k]  # index 0 is self
    return radii


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage (Naeem et al. 2020), Euclidean k-NN balls.

    With ``r_i`` the distance of real sample i to its k-th nearest real neighbour (and
    ``f_j`` likewise within fake), N real and M fake samples:

    - precision = 1/M sum_j 1[exists i: d(real_i, fake_j) <= r_i]
    - recall    = 1/N sum_i 1[exists j: d(real_i, fake_j) <= f_j]
    - density   = 1/(kM) sum_j sum_i 1[d(real_i, fake_j) <= r_i]
    - coverage  = 1/N sum_i 1[min_j d(real_i, fake_j) < r_i]

    Distances are computed in row blocks (peak memory ~ block x max(N, M)). Requires equal
    sample sizes (see :func:`equalize`).
    """
    real = _as_matrix(real, "real")
    fake = _as_matrix(fake, "fake")
    if len(real) != len(fake):
        raise ValueError(
            f"prdc needs equal sample sizes ({len(real)} vs {len(fake)}): use equalize()"
        )
    if not 1 <= k < len(real):
        raise ValueError(f"k must be in [1, {len(real) - 1}], got {k}")
    r_radii = _knn_radii(real, k)
    f_radii = _knn_radii(fake, k)
    fake_sq = (fake * fake).sum(1)
    fake_in_real = np.zeros(len(fake), dtype=bool)
    density_counts = np.zeros(len(fake))
    real_in_fake = np.zeros(len(real), dtype=bool)
    real_covered = np.zeros(len(real), dtype=bool)
    for start in range(0, len(real), _BLOCK):
        stop = start + _BLOCK
        d = _block_distances(real[start:stop], fake, fake_sq)  # (block, M)
        inside_real = d <= r_radii[start:stop, None]
        fake_in_real |= inside_real.any(0)
        density_counts += inside_real.sum(0)
        real_in_fake[start:stop] = (d <= f_radii[None, :]).any(1)
        real_covered[start:stop] = d.min(1) < r_radii[start:stop]
    return {
        "precision": float(fake_in_real.mean()),
        "recall": float(real_in_fake.mean()),
        "density": float(density_counts.sum() / (k * len(fake))),
        "coverage": float(real_covered.mean()),
    }


def kmeans(
    x: np.ndarray, k: int, seed: int = 0, n_init: int = 3, max_iter: int = 100
) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding; returns the cluster label of each row (best of n_init by inertia)."""
    x = np.asarray(x, dtype=np.float64)
    k = min(k, len(x))
    rng = np.random.default_rng(seed)
    x_sq = (x * x).sum(1)
    best_labels, best_inertia = np.zeros(len(x), dtype=int), np.inf
    for _ in range(n_init):
        centers = [x[rng.integers(len(x))]]
        closest = np.clip(x_sq - 2 * x @ centers[0] + centers[0] @ centers[0], 0, None)
        for _ in range(1, k):
            total = closest.sum()
            idx = rng.choice(len(x), p=closest / total) if total > 0 else rng.integers(len(x))
            centers.append(x[idx])
            closest = np.minimum(closest, np.clip(x_sq - 2 * x @ x[idx] + x[idx] @ x[idx], 0, None))
        c = np.array(centers)
        labels = np.full(len(x), -1)
        for _ in range(max_iter):
            d2 = x_sq[:, None] - 2 * x @ c.T + (c * c).sum(1)[None, :]
            new = d2.argmin(1)
            if np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                members = x[labels == j]
                if len(members):
                    c[j] = members.mean(0)
                else:  # re-seed an empty cluster at the worst-fit point
                    c[j] = x[d2[np.arange(len(x)), labels].argmax()]
        inertia = float(
            np.clip(x_sq - 2 * (x * c[labels]).sum(1) + (c[labels] ** 2).sum(1), 0, None).sum()
        )
        if inertia < best_inertia:
            best_labels, best_inertia = labels, inertia
    return best_labels


def _kl(p: np.ndarray, r: np.ndarray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / r[mask])))


def mauve(
    p: np.ndarray,
    q: np.ndarray,
    n_clusters: int | None = None,
    seed: int = 0,
    scaling: float = 5.0,
    n_lambdas: int = 25,
    n_init: int = 3,
) -> float:
    """MAUVE (Pillutla et al. 2021): area under the divergence frontier of P and Q.

    1. Quantize: k-means on the joint embeddings (k = ``n_clusters`` or max(2, n // 10)),
       giving histograms P and Q over the clusters.
    2. For mixture weights lambda in (0, 1), R = lambda P + (1 - lambda) Q; the frontier
       points are (exp(-c KL(Q||R)), exp(-c KL(P||R))) with scaling c = 5, plus the
       extreme points (0, 1) and (1, 0).
    3. MAUVE is the area under that curve (trapezoid rule, points sorted by x), in (0, 1];
       1 when P = Q. Requires equal sample sizes (see :func:`equalize`).
    """
    p = _as_matrix(p, "p")
    q = _as_matrix(q, "q")
    if len(p) != len(q):
        raise ValueError(f"mauve needs equal sample sizes ({len(p)} vs {len(q)}): use equalize()")
    k = n_clusters if n_clusters is not None else max(2, len(p) // 10)
    labels = kmeans(np.concatenate([p, q]), k, seed=seed, n_init=n_init)
    k = int(labels.max()) + 1
    p_hist = np.bincount(labels[: len(p)], minlength=k) / len(p)
    q_hist = np.bincount(labels[len(p) :], minlength=k) / len(q)
    points = [(0.0, 1.0)]
    for lam in np.linspace(1e-6, 1 - 1e-6, n_lambdas):
        r = lam * p_hist + (1 - lam) * q_hist
        points.append((np.exp(-scaling * _kl(q_hist, r)), np.exp(-scaling * _kl(p_hist, r))))
    points.append((1.0, 0.0))
    curve = np.array(points)
    order = np.lexsort((-curve[:, 1], curve[:, 0]))  # by x, ties: higher y first
    xs, ys = curve[order, 0], curve[order, 1]
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2))


def mauve_spread(
    synthetic: np.ndarray, reference: np.ndarray, runs: int = 5, seed: int = 0
) -> dict[str, Any]:
    """MAUVE over ``runs`` seeds: mean, standard deviation, min, max and every value.

    MAUVE's k-means quantisation (and, at unequal sizes, the subsample of the larger set)
    depends on the seed, so one value can look more precise than it is. Run ``i`` uses seed
    ``seed + i`` for both and one k-means start (``n_init=1``): the spread is the quantisation's
    own, and five runs cost about what two best-of-three runs did.
    """
    synthetic, reference = np.asarray(synthetic), np.asarray(reference)
    values = []
    for i in range(runs):
        i_s, i_r = equal_indices(len(synthetic), len(reference), seed + i)
        values.append(mauve(synthetic[i_s], reference[i_r], seed=seed + i, n_init=1))
    arr = np.asarray(values)
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if runs > 1 else 0.0,
        "min": float(arr.min()),
        "max": float(arr.max()),
        "values": [float(v) for v in arr],
        "seeds": [seed + i for i in range(runs)],
    }


# ----------------------------------------------------------------------------- text statistics


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: sup_x |F_a(x) - F_b(x)| over empirical CDFs."""
    xa = np.sort(np.asarray(a, dtype=np.float64))
    xb = np.sort(np.asarray(b, dtype=np.float64))
    if len(xa) == 0 or len(xb) == 0:
        raise ValueError("ks_statistic needs two non-empty samples")
    grid = np.concatenate([xa, xb])
    cdf_a = np.searchsorted(xa, grid, side="right") / len(xa)
    cdf_b = np.searchsorted(xb, grid, side="right") / len(xb)
    return float(np.abs(cdf_a - cdf_b).max())


def total_variation(a: Counter | dict, b: Counter | dict) -> float:
    """Total variation 1/2 sum_x |p(x) - q(x)| between two count tables, normalised to distributions."""
    ta, tb = sum(a.values()), sum(b.values())
    if ta == 0 or tb == 0:
        raise ValueError("total_variation needs two non-empty distributions")
    keys = set(a) | set(b)
    return float(0.5 * sum(abs(a.get(x, 0) / ta - b.get(x, 0) / tb) for x in keys))


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens (words with inner apostrophes, or single punctuation marks)."""
    return _TOKEN.findall(text.lower())


def _word_lengths(texts: Sequence[str]) -> list[int]:
    return [len(t.split()) for t in texts]


def length_distance(a_texts: Sequence[str], b_texts: Sequence[str]) -> dict[str, float]:
    """Distance between the distributions of text length in whitespace-separated words.

    ``ks``: two-sample KS statistic of the lengths; ``tv``: total variation between the
    length histograms (one bin per integer length); plus each set's mean length.
    """
    la, lb = _word_lengths(a_texts), _word_lengths(b_texts)
    return {
        "ks": ks_statistic(la, lb),
        "tv": total_variation(Counter(la), Counter(lb)),
        "mean_a": float(np.mean(la)),
        "mean_b": float(np.mean(lb)),
    }


def vocabulary_distance(a_texts: Sequence[str], b_texts: Sequence[str]) -> float:
    """Total variation between the unigram distributions of lowercase tokens (see :func:`tokenize`)."""
    ca: Counter = Counter()
    cb: Counter = Counter()
    for t in a_texts:
        ca.update(tokenize(t))
    for t in b_texts:
        cb.update(tokenize(t))
    return total_variation(ca, cb)


def label_distribution(
    a_labels: Sequence[Hashable], b_labels: Sequence[Hashable]
) -> dict[str, Any]:
    """Per-label fractions in each set (``a``, ``b``; keys are str(label)) and their total variation ``tv``."""
    ca, cb = Counter(a_labels), Counter(b_labels)
    keys = sorted(set(ca) | set(cb), key=str)
    na, nb = sum(ca.values()), sum(cb.values())
    return {
        "a": {str(x): ca.get(x, 0) / na for x in keys},
        "b": {str(x): cb.get(x, 0) / nb for x in keys},
        "tv": total_variation(ca, cb),
    }


# ----------------------------------------------------------------------------- report


def fidelity_report(
    synthetic_texts: Sequence[str],
    reference_texts: Sequence[str],
    synthetic_emb: np.ndarray | None = None,
    reference_emb: np.ndarray | None = None,
    labels: tuple[Sequence[Hashable], Sequence[Hashable]] | None = None,
    seed: int = 0,
    k: int = 5,
    mauve_runs: int = MAUVE_RUNS,
) -> dict[str, Any]:
    """All fidelity metrics of synthetic vs reference at one equal sample size.

    The larger set is subsampled (seeded) to the smaller one's size; texts, embeddings
    (rows aligned with the texts) and ``labels`` = (synthetic_labels, reference_labels)
    are subsampled with the same indices. Embedding metrics (FD, PRDC with the reference
    as "real", MAUVE) appear only when both embedding sets are given. ``mauve`` is the mean
    over ``mauve_runs`` seeds and ``mauve_spread`` its spread (:func:`mauve_spread`).
    ``sample_size`` and ``subsampled`` say what was compared.
    """
    n_s, n_r = len(synthetic_texts), len(reference_texts)
    if min(n_s, n_r) < 2:
        raise ValueError("fidelity_report needs at least 2 texts in each set")
    if (synthetic_emb is None) != (reference_emb is None):
        raise ValueError("pass both synthetic_emb and reference_emb, or neither")
    if synthetic_emb is not None and (len(synthetic_emb) != n_s or len(reference_emb) != n_r):
        raise ValueError("embedding rows must align with the texts")
    if labels is not None and (len(labels[0]) != n_s or len(labels[1]) != n_r):
        raise ValueError("labels must align with the texts")
    i_s, i_r = equal_indices(n_s, n_r, seed)
    syn, ref = _take(synthetic_texts, i_s), _take(reference_texts, i_r)
    n = len(i_s)
    report: dict[str, Any] = {
        "sample_size": n,
        "subsampled": {
            "synthetic": n_s != n,
            "reference": n_r != n,
            "original_sizes": {"synthetic": n_s, "reference": n_r},
            "seed": seed,
        },
        "length": length_distance(syn, ref),
        "vocabulary_tv": vocabulary_distance(syn, ref),
    }
    if labels is not None:
        report["labels"] = label_distribution(_take(labels[0], i_s), _take(labels[1], i_r))
    if synthetic_emb is not None and reference_emb is not None:
        s_emb = np.asarray(synthetic_emb)[i_s]
        r_emb = np.asarray(reference_emb)[i_r]
        report["frechet_distance"] = frechet_distance(s_emb, r_emb)
        report["prdc"] = prdc(r_emb, s_emb, k=min(k, n - 1))
        spread = mauve_spread(
            np.asarray(synthetic_emb), np.asarray(reference_emb), mauve_runs, seed
        )
        report["mauve"] = spread["mean"]
        report["mauve_spread"] = spread
    return report
