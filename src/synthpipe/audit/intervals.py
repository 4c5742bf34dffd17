"""Confidence intervals for counts and shares shown in the audit."""

from __future__ import annotations

import math

#: z for a two-sided 95% interval.
Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n`` (95% by default).

    Stays inside [0, 1] and behaves at 0 and n successes, unlike the normal approximation.
    ``(0.0, 1.0)`` when ``n`` is 0. Reference: Wilson 1927, "Probable Inference, the Law of
    Succession, and Statistical Inference" (JASA).
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError("successes must be between 0 and n")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
