"""Seeded sampling shared by the generators: stable RNG seeds and records per label."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from typing import Any


def mix_seed(*parts: Any) -> int:
    """A stable 64-bit RNG seed from `parts` (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big")


def label_counts(
    labels: list[str], seed_counts: Counter[str], n: int, mode: str, rng: random.Random
) -> dict[str, int]:
    """Records per label summing to n: the same for every label (``balanced``) or in the
    seeds' proportions (``seed_proportional``; all labels alike if no seed has one), by
    largest remainder with a seeded tie-break."""
    weights = {label: 1 if mode == "balanced" else max(seed_counts[label], 0) for label in labels}
    if sum(weights.values()) == 0:
        weights = dict.fromkeys(labels, 1)
    total = sum(weights.values())
    quotas = {label: n * w / total for label, w in weights.items()}
    counts = {label: int(q) for label, q in quotas.items()}
    tie = {label: rng.random() for label in labels}
    by_remainder = sorted(labels, key=lambda lab: (counts[lab] - quotas[lab], tie[lab]))
    for label in by_remainder[: n - sum(counts.values())]:
        counts[label] += 1
    return counts
