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
