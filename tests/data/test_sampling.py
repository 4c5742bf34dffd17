"""Evenly spaced samples of streams of unknown length (used by the audit step)."""

from __future__ import annotations

from synthpipe.data.sampling import StreamSample


def _sample(n: int, k: int) -> list[int]:
    s = StreamSample(k)
    for i in range(n):
        s.add(i)
    assert s.seen == n
    return s.result()


def test_short_streams_are_kept_whole() -> None:
    assert _sample(35, 2000) == list(range(35))


def test_long_streams_give_k_spread_items_in_bounded_memory() -> None:
    s = StreamSample(300)
    for i in range(100_000):
        s.add(i)
        assert len(s.held) <= 600
    picked = s.result()
    assert len(picked) == 300 == len(set(picked)) and picked == sorted(picked)
    assert picked[0] == 0 and picked[-1] > 99_000  # covers the whole stream, not its head
    gaps = {b - a for a, b in zip(picked, picked[1:], strict=False)}
    assert max(gaps) <= 2 * min(gaps)  # near-even spacing
    assert picked == _sample(100_000, 300)  # deterministic
