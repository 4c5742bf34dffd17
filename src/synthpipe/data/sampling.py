"""Deterministic, evenly spaced samples: the same records every time, spread over the data."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def evenly_spaced(n: int, k: int) -> list[int]:
    """min(n, k) evenly spaced indexes into range(n)."""
    k = min(n, k)
    return [i * n // k for i in range(k)] if k > 0 else []


def tap_sample(items: Iterable[Any], total: int, k: int, into: list) -> Iterator[Any]:
    """Yield every item and append the evenly spaced ones to `into`: one pass serves both a
    streaming consumer (e.g. a writer) and a bounded sample (e.g. the report)."""
    wanted = set(evenly_spaced(total, k))
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
