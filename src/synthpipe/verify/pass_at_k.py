"""Unbiased pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code").

With n samples per problem of which c pass, the probability that at least one of k samples
drawn without replacement passes is ``1 - C(n-c, k) / C(n, k)``. The ratio of binomials is
computed as ``prod(1 - k / i for i in n-c+1 .. n)``, which stays accurate for large n where
the binomials themselves overflow floats.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Estimated pass@k for one problem with `c` correct out of `n` samples."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:  # every k-subset contains a correct sample
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(results: Iterable[tuple[int, int]], k: int) -> float:
    """Mean pass@k over problems given as (n, c) pairs."""
    scores = [pass_at_k(n, c, k) for n, c in results]
    if not scores:
        raise ValueError("no results to average")
    return float(np.mean(scores))
