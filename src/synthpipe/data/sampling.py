"""Deterministic sampling: evenly spaced samples (the same records every time, spread over the
data) and the seeded helpers the generators share (stable RNG seeds, records per label)."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any


def evenly_spaced(n: int, k: int) -> list[int]:
    """min(n, k) evenly spaced indexes into range(n)."""
    k = min(n, k)
    return [i * n // k for i in range(k)] if k > 0 else []


def tap_sample(items: Iterable[Any], total: int, k: int, into: list) -> Iterator[Any]:
    """Yield every item and append the evenly spaced ones to `into`: one pass serves both a
    streaming consumer (e.g. a writer) and a bounded sample (e.g. the report)."""
    return tap(items, evenly_spaced(total, k), into)


def tap(items: Iterable[Any], positions: Iterable[int], into: list) -> Iterator[Any]:
    """Yield every item and append those at `positions` to `into`."""
    wanted = set(positions)
    for i, item in enumerate(items):
        if i in wanted:
            into.append(item)
        yield item


class StreamSample:
    """An evenly spaced sample of at most `k` items from a stream of unknown length, in one
    pass and O(k) memory: keep every `stride`-th item, and when more than 2k are held, drop
    every other one and double the stride. `result()` spreads `k` picks over what is held."""

    def __init__(self, k: int):
        self.k, self.stride, self.seen, self.held = k, 1, 0, []

    def add(self, item: Any) -> None:
        if self.seen % self.stride == 0:
            self.held.append(item)
            if len(self.held) > 2 * self.k:
                self.held, self.stride = self.held[::2], self.stride * 2
        self.seen += 1

    def result(self) -> list[Any]:
        return [self.held[i] for i in evenly_spaced(len(self.held), self.k)]


def stream_sample_positions(n: int, k: int) -> list[int]:
    """The positions :class:`StreamSample` (k) keeps of a stream of `n` items, known without
    the stream: it holds every `stride`-th item, stride the least power of two with
    ``n <= 2k * stride``, and spreads `k` picks over those."""
    stride = 1
    while n > 2 * k * stride:
        stride *= 2
    return [stride * i for i in evenly_spaced(-(-n // stride), k)]


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
