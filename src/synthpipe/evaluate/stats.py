"""Summary statistics and bootstrap intervals for comparing models on one test set.

- :func:`mean_std`: mean and sample standard deviation (ddof=1) over seeds.
- :func:`bootstrap_mean_ci`: percentile bootstrap interval of a mean (Efron & Tibshirani 1993,
  "An Introduction to the Bootstrap", ch. 13).
- :func:`paired_bootstrap_diff`: the paired bootstrap test for "is system A better than system
  B on this test set?" (Koehn 2004, "Statistical Significance Tests for Machine Translation
  Evaluation"; Berg-Kirkpatrick et al. 2012, "An Empirical Investigation of Statistical
  Significance in NLP"). Test items are resampled with replacement and the SAME resample is
  applied to both systems' per-item scores, so item difficulty cancels out of the difference.

The intervals measure test-set sampling noise only (which items happened to be in the test
set); training noise across seeds is what :func:`mean_std` reports.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_CHUNK = 256  # bootstrap replicates drawn at once: bounds memory at 256 x n indexes


def _vector(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return arr


def mean_std(values: Sequence[float] | np.ndarray) -> dict[str, float | int | None]:
    """``{mean, std, n}``; std is the sample standard deviation (ddof=1), None for one value."""
    arr = _vector(values, "values")
    std = float(np.std(arr, ddof=1)) if arr.size > 1 else None
    return {"mean": float(arr.mean()), "std": std, "n": int(arr.size)}


def _check(n_boot: int, ci: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be between 0 and 1, got {ci}")


def _resampled_means(columns: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, k) means of the k columns of `columns` (n items x k) over item resamples."""
    rng = np.random.default_rng(seed)
    n = columns.shape[0]
    out = np.empty((n_boot, columns.shape[1]))
    for start in range(0, n_boot, _CHUNK):
        stop = min(start + _CHUNK, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = columns[idx].mean(axis=1)
    return out


def _interval(draws: np.ndarray, ci: float) -> tuple[float, float]:
    alpha = (1 - ci) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray, n_boot: int = 2000, seed: int = 0, ci: float = 0.95
) -> dict[str, float]:
    """``{mean, low, high, ci}``: the percentile bootstrap interval of the mean of `values`."""
    _check(n_boot, ci)
    arr = _vector(values, "values")
    draws = _resampled_means(arr[:, None], n_boot, seed)[:, 0]
    low, high = _interval(draws, ci)
    return {"mean": float(arr.mean()), "low": low, "high": high, "ci": ci}


def paired_bootstrap_diff(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    n_boot: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
) -> dict[str, float]:
    """Mean of `a` minus mean of `b` over the same test items, with a paired bootstrap.

    `a` and `b` are per-item scores (e.g. 0/1 correctness, or correctness averaged over
    seeds) in the same item order. Returns ``{diff, low, high, p_value_two_sided, ci, n}``:
    the percentile interval of the resampled differences, and the two-sided p-value
    ``2 * min(P(d* <= 0), P(d* >= 0))`` with the usual +1 correction (never exactly 0). The
    interval excludes 0 exactly when that p-value is below ``1 - ci`` (up to quantile
    interpolation). Identical inputs give diff 0, interval [0, 0] and p = 1.
    """
    _check(n_boot, ci)
    va, vb = _vector(a, "a"), _vector(b, "b")
    if va.shape != vb.shape:
        raise ValueError(f"a and b must score the same items: {va.size} vs {vb.size} values")
    draws = _resampled_means((va - vb)[:, None], n_boot, seed)[:, 0]
    low, high = _interval(draws, ci)
    below = (np.count_nonzero(draws <= 0) + 1) / (n_boot + 1)
    above = (np.count_nonzero(draws >= 0) + 1) / (n_boot + 1)
    return {
        "diff": float(va.mean() - vb.mean()),
        "low": low,
        "high": high,
        "p_value_two_sided": float(min(1.0, 2 * min(below, above))),
        "ci": ci,
        "n": int(va.size),
    }


__all__ = ["bootstrap_mean_ci", "mean_std", "paired_bootstrap_diff"]
