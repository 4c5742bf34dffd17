"""Choosing LSH bands x rows for a Jaccard threshold (Leskovec, Rajaraman & Ullman, "Mining of
Massive Datasets", ch. 3.4).

With ``b`` bands of ``r`` signature rows, two documents of Jaccard ``s`` share at least one
band with probability ``P(s) = 1 - (1 - s^r)^b`` (the S-curve). For a target threshold ``t``
the false-positive mass is ``FP = integral_0^t P(s) ds`` and the false-negative mass is
``FN = integral_t^1 (1 - P(s)) ds``; we pick ``(b, r)`` with ``b * r <= num_perm`` minimising
``w_fp * FP + w_fn * FN`` (datasketch's ``_optimal_param`` criterion, weights 0.5/0.5 by
default), first minimum in (b, r) lexicographic order on ties.

The integrands are polynomials of degree ``b * r <= num_perm``, so Gauss-Legendre quadrature
with ``num_perm // 2 + 1`` nodes is exact (up to rounding); all candidates are evaluated at
once with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LshParams:
    """Bands, rows per band, and the FP / FN probability masses of that choice."""

    bands: int
    rows: int
    threshold: float
    fp_probability: float
    fn_probability: float

    @property
    def used_perm(self) -> int:
        return self.bands * self.rows

    def collision_probability(self, s: float) -> float:
        """Probability that two documents of Jaccard `s` become an LSH candidate pair."""
        return 1.0 - (1.0 - s**self.rows) ** self.bands


def _integrals(
    threshold: float, bands: np.ndarray, rows: np.ndarray, nodes: int
) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(nodes)
    lo = threshold * (x + 1) / 2  # nodes mapped to [0, t]
    hi = threshold + (1 - threshold) * (x + 1) / 2  # and to [t, 1]
    fp, fn = np.empty(len(bands)), np.empty(len(bands))
    for start in range(0, len(bands), 1024):  # bounded memory for large num_perm
        b = bands[start : start + 1024, None].astype(float)
        r = rows[start : start + 1024, None].astype(float)
        fp[start : start + len(b)] = (1 - (1 - lo[None, :] ** r) ** b) @ w * (threshold / 2)
        fn[start : start + len(b)] = ((1 - hi[None, :] ** r) ** b) @ w * ((1 - threshold) / 2)
    return fp, fn


def band_probabilities(threshold: float, bands: int, rows: int) -> tuple[float, float]:
    """``(FP, FN)`` probability masses of a given banding at `threshold`."""
    fp, fn = _integrals(threshold, np.array([bands]), np.array([rows]), bands * rows // 2 + 1)
    return float(fp[0]), float(fn[0])


def optimal_params(
    threshold: float = 0.8, num_perm: int = 128, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> LshParams:
    """The ``(bands, rows)`` minimising ``fp_weight * FP + fn_weight * FN`` for `threshold`.

    Defaults: threshold 0.8 and 128 permutations give 9 bands x 13 rows, as datasketch does.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be in (0, 1)")
    if num_perm < 1:
        raise ValueError("num_perm must be >= 1")
    pairs = [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]
    bands = np.array([p[0] for p in pairs])
    rows = np.array([p[1] for p in pairs])
    fp, fn = _integrals(threshold, bands, rows, num_perm // 2 + 1)
    best = int(np.argmin(fp_weight * fp + fn_weight * fn))
    return LshParams(int(bands[best]), int(rows[best]), threshold, float(fp[best]), float(fn[best]))


def fixed_params(threshold: float, bands: int, rows: int, num_perm: int) -> LshParams:
    """A user-chosen banding, with its FP / FN masses at `threshold` for the summary."""
    if bands < 1 or rows < 1 or bands * rows > num_perm:
        raise ValueError(f"bands x rows = {bands} x {rows} must be >= 1 and fit in num_perm={num_perm}")
    fp, fn = band_probabilities(threshold, bands, rows)
    return LshParams(bands, rows, threshold, fp, fn)
