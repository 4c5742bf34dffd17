"""One limiter per endpoint, shared by every step of a run: concurrency, request rate,
token rate, and a shared pause after a 429.

Why no asyncio.Semaphore: the executor calls asyncio.run once per pipeline segment and
may drive several loops from several threads, and asyncio primitives are bound to one
loop. So the state lives behind a threading.Lock, and waiters park on a future of *their
own* loop, woken with call_soon_threadsafe. Waiters queue FIFO; only the head may be
admitted. When the head is blocked by time (rate buckets, penalty) it alone sleeps for
the computed delay and then re-dispatches; when blocked by concurrency, the next release
dispatches. So nobody polls, and a wake-up is one call per admitted request.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

_MIN_SLEEP = 0.001  # floor on timed waits, so float rounding cannot spin


class _Bucket:
    """Token bucket refilled continuously; `take` may go negative (debt) so a request
    bigger than the capacity is let through once the bucket is full, then paid back."""

    def __init__(self, per_minute: float, burst_seconds: float, now: float):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.level = self.capacity  # start full: the first burst goes at once
        self._stamp = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` (capped at capacity) is available; 0 if it is now."""
        need = min(amount, self.capacity)
        return max(0.0, (need - self.level) / self.rate)

    def take(self, amount: float) -> None:
        self.level -= amount


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    tokens: int
    future: asyncio.Future | None = None
    admitted: bool = False
    timed: bool = False  # sleeping on its own timer (so it needs no nudge)


class Limiter:
    def __init__(
        self,
        max_concurrency: int,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        burst_seconds: float = 10.0,
    ):
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        now = time.monotonic()
        self.max_concurrency = max_concurrency
        self._requests = (
            _Bucket(requests_per_minute, burst_seconds, now) if requests_per_minute else None
        )
        self._tokens = _Bucket(tokens_per_minute, burst_seconds, now) if tokens_per_minute else None
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self._queue: deque[_Waiter] = deque()
        self.in_flight = 0
        self.max_in_flight_seen = 0

    @property
    def request_burst(self) -> float | None:
        return self._requests.capacity if self._requests else None

    @property
    def token_burst(self) -> float | None:
        return self._tokens.capacity if self._tokens else None

    @asynccontextmanager
    async def slot(self, tokens: int = 0) -> AsyncIterator[None]:
        """Hold one concurrency slot; `tokens` (prompt + max_tokens) are spent on entry."""
        await self._acquire(tokens)
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1
                self._dispatch(None)

    def penalize(self, seconds: float) -> None:
        """Pause admissions for everyone until now + seconds (e.g. a 429's Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)
            # A timed head wakes early and re-reads the pause; untimed ones need no nudge.

    # ---- internals (all `_`-methods below expect self._lock held unless noted) --------

    async def _acquire(self, tokens: int) -> None:
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop, tokens)
        with self._lock:
            if not self._queue and self._delay(tokens) == 0.0 and self._has_slot():
                self._admit(waiter)
                return
            self._queue.append(waiter)
        try:
            await self._park(waiter)
        except BaseException:  # cancelled (e.g. asyncio.run tearing down): leave cleanly
            with self._lock:
                if waiter.admitted:
                    self.in_flight -= 1
                elif waiter in self._queue:
                    self._queue.remove(waiter)
                self._dispatch(None)
            raise

    async def _park(self, waiter: _Waiter) -> None:
        """Lock NOT held. Sleep until admitted; the head also wakes when time unblocks it."""
        while True:
            with self._lock:
                delay = self._dispatch(waiter)
                if waiter.admitted:
                    return
                is_head = self._queue[0] is waiter
                timeout = max(delay, _MIN_SLEEP) if is_head and delay is not None else None
                waiter.timed = timeout is not None
                waiter.future = waiter.loop.create_future()
            await asyncio.wait([waiter.future], timeout=timeout)

    def _dispatch(self, caller: _Waiter | None) -> float | None:
        """Admit queue heads while possible. Returns the head's time-wait in seconds, or
        None if the head waits for a slot (or the queue is empty)."""
        while self._queue:
            head = self._queue[0]
            if head.loop.is_closed():  # its loop died without cancelling it: drop it
                self._queue.popleft()
                continue
            if not self._has_slot():
                return None
            delay = self._delay(head.tokens)
            if delay > 0.0:
                if head is not caller and not head.timed:
                    self._wake(head)  # new head blocked by time: let it set its own timer
                return delay
            self._queue.popleft()
            self._admit(head)
            if head is not caller:
                self._wake(head)
        return None

    def _has_slot(self) -> bool:
        return self.in_flight < self.max_concurrency

    def _delay(self, tokens: int) -> float:
        now = time.monotonic()
        delay = max(0.0, self._paused_until - now)
        if self._requests:
            self._requests.refill(now)
            delay = max(delay, self._requests.wait_for(1))
        if self._tokens and tokens:
            self._tokens.refill(now)
            delay = max(delay, self._tokens.wait_for(tokens))
        return delay

    def _admit(self, waiter: _Waiter) -> None:
        waiter.admitted = True
        self.in_flight += 1
        self.max_in_flight_seen = max(self.max_in_flight_seen, self.in_flight)
        if self._requests:
            self._requests.take(1)
        if self._tokens and waiter.tokens:
            self._tokens.take(waiter.tokens)

    @staticmethod
    def _wake(waiter: _Waiter) -> None:
        fut = waiter.future
        if fut is None:
            return  # not parked yet; it dispatches before it first sleeps
        with suppress(RuntimeError):  # loop closed in between; _dispatch drops such waiters
            waiter.loop.call_soon_threadsafe(_resolve, fut)


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


_registry: dict[str, Limiter] = {}
_registry_lock = threading.Lock()


def limiter_for(
    key: str,
    max_concurrency: int,
    requests_per_minute: float | None = None,
    tokens_per_minute: float | None = None,
) -> Limiter:
    """The process-wide limiter for an endpoint key; the first caller's limits win."""
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = Limiter(max_concurrency, requests_per_minute, tokens_per_minute)
            _registry[key] = limiter
        return limiter
