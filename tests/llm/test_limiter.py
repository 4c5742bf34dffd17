"""The endpoint limiter: concurrency cap, rate buckets, shared 429 pause, many event loops.

Timing bounds are loose on purpose (CI machines stall); they check the order of magnitude.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from synthpipe.llm.limiter import Limiter, limiter_for


async def _hammer(limiter: Limiter, n: int, hold: float = 0.0, tokens: int = 0) -> list[float]:
    """Run n tasks through the limiter; return each one's admission time."""
    admitted: list[float] = []
    peak = 0

    async def one() -> None:
        nonlocal peak
        async with limiter.slot(tokens):
            admitted.append(time.monotonic())
            peak = max(peak, limiter.in_flight)
            assert limiter.in_flight <= limiter.max_concurrency
            await asyncio.sleep(hold)

    await asyncio.gather(*(one() for _ in range(n)))
    assert limiter.in_flight == 0
    return admitted


def test_concurrency_never_exceeds_the_cap() -> None:
    limiter = Limiter(max_concurrency=7)
    admitted = asyncio.run(_hammer(limiter, 200, hold=0.002))
    assert len(admitted) == 200
    assert limiter.max_in_flight_seen == 7  # reached, never passed


def test_a_cancelled_waiter_gives_its_place_back() -> None:
    async def main() -> None:
        limiter = Limiter(max_concurrency=1)
        async with limiter.slot():
            waiter = asyncio.create_task(_hammer(limiter, 1))
            await asyncio.sleep(0.01)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        assert limiter.in_flight == 0
        await asyncio.wait_for(_hammer(limiter, 3), 1)  # nothing left stuck in the queue

    asyncio.run(main())


def test_request_rate_allows_burst_then_steady_rate() -> None:
    limiter = Limiter(max_concurrency=1000, requests_per_minute=1200, burst_seconds=1)
    assert limiter.request_burst == 20  # 20/s, one second's worth
    start = time.monotonic()
    asyncio.run(_hammer(limiter, 40))
    elapsed = time.monotonic() - start
    assert elapsed >= (40 - 20) / 20 - 0.1  # the 20 beyond the burst take ~1 s
    assert elapsed < 3


def test_request_rate_counts_over_one_second() -> None:
    limiter = Limiter(max_concurrency=1000, requests_per_minute=600, burst_seconds=0.5)
    burst = limiter.request_burst  # 5 at 10/s

    async def main() -> int:
        tasks = [asyncio.create_task(_hammer(limiter, 1)) for _ in range(100)]
        await asyncio.sleep(1.0)
        done = sum(t.done() for t in tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return done

    done = asyncio.run(main())
    assert burst + 5 <= done <= burst + 10 + 3  # ~10 refills in 1 s on top of the burst


def test_default_burst_is_ten_seconds() -> None:
    assert Limiter(4, requests_per_minute=600).request_burst == 100
    assert Limiter(4, requests_per_minute=1).request_burst == 1  # at least one request
    assert Limiter(4, tokens_per_minute=6000).token_burst == 1000


def test_token_rate_limits_and_oversized_requests_pass() -> None:
    limiter = Limiter(max_concurrency=100, tokens_per_minute=60_000, burst_seconds=0.1)
    assert limiter.token_burst == 100  # 1,000 tokens/s
    start = time.monotonic()
    asyncio.run(_hammer(limiter, 4, tokens=250))  # each bigger than the whole bucket
    elapsed = time.monotonic() - start
    # 1st waits for a full bucket (it starts full), then each repays 250 - 100 = 150 of debt
    # plus refills to full: ~0.25 s apiece after the first.
    assert 0.6 <= elapsed < 2.5


def test_penalize_pauses_everyone() -> None:
    limiter = Limiter(max_concurrency=10)

    async def main() -> list[float]:
        limiter.penalize(0.3)
        return await _hammer(limiter, 20)

    start = time.monotonic()
    admitted = asyncio.run(main())
    assert min(admitted) - start >= 0.29
    assert max(admitted) - start < 1.5


def test_penalize_during_traffic_holds_the_queue() -> None:
    limiter = Limiter(max_concurrency=2)

    async def main() -> list[float]:
        async def trip() -> None:
            await asyncio.sleep(0.05)
            limiter.penalize(0.3)

        admitted, _ = await asyncio.gather(_hammer(limiter, 30, hold=0.01), trip())
        return admitted

    start = time.monotonic()
    admitted = asyncio.run(main())
    gaps = [b - a for a, b in zip(admitted, admitted[1:], strict=False)]
    assert max(gaps) >= 0.25  # a visible pause in admissions
    assert time.monotonic() - start < 2


def test_one_loop_wakes_its_waiters_without_the_cross_thread_path() -> None:
    """On one loop a release wakes the next waiter directly; `call_soon_threadsafe` (a
    self-pipe write per wake-up) is only for waiters of another loop."""
    limiter = Limiter(max_concurrency=3)
    crossings = 0

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        threadsafe = loop.call_soon_threadsafe

        def counted(*args, **kwargs):
            nonlocal crossings
            crossings += 1
            return threadsafe(*args, **kwargs)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
        return await _hammer(limiter, 100, hold=0.001)

    assert len(asyncio.run(main())) == 100
    assert limiter.max_in_flight_seen == 3 and crossings == 0


def test_works_across_successive_event_loops() -> None:
    limiter = Limiter(max_concurrency=3, requests_per_minute=6000)
    for _ in range(3):  # like the executor's asyncio.run per pipeline segment
        asyncio.run(_hammer(limiter, 50, hold=0.001))
    assert limiter.max_in_flight_seen == 3 and limiter.in_flight == 0


def test_works_from_two_threads_each_with_its_own_loop() -> None:
    limiter = Limiter(max_concurrency=4)
    errors: list[BaseException] = []
    peak = 0
    peak_lock = threading.Lock()

    async def track() -> None:
        nonlocal peak
        async with limiter.slot():
            with peak_lock:
                peak = max(peak, limiter.in_flight)
            await asyncio.sleep(0.002)

    async def many() -> None:
        await asyncio.wait_for(asyncio.gather(*(track() for _ in range(100))), 10)

    def run() -> None:
        try:
            asyncio.run(many())
        except BaseException as exc:  # surfaced to the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert peak <= 4 and limiter.max_in_flight_seen == 4 and limiter.in_flight == 0


def test_threads_share_the_rate() -> None:
    limiter = Limiter(max_concurrency=100, requests_per_minute=3000, burst_seconds=0.2)
    # 50/s, burst 10: two threads x 20 requests -> (40 - 10) / 50 = 0.6 s at least
    start = time.monotonic()
    threads = [threading.Thread(target=asyncio.run, args=(_hammer(limiter, 20),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    assert 0.5 <= elapsed < 3


def test_limiter_for_shares_by_key() -> None:
    a = limiter_for("test-limiter-a", 4, requests_per_minute=60)
    assert limiter_for("test-limiter-a", 99) is a
    assert a.max_concurrency == 4  # first caller's limits win
    assert limiter_for("test-limiter-b", 4) is not a


def test_rejects_zero_concurrency() -> None:
    with pytest.raises(ValueError):
        Limiter(0)
