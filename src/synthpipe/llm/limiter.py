"""One limiter per endpoint, shared by every step of a run: concurrency, request rate,
token rate, and a shared pause after a 429.

Why no asyncio.Semaphore: the executor calls asyncio.run once per pipeline segment, a
verifier may run its own loop in a worker thread, and a Ray pool actor serves many callers;
asyncio primitives are bound to one loop. So the endpoint's counters live behind a
threading.Lock (uncontended, ~0.1 us) and waiters park on a future of *their own* loop.

Cheap on one loop, safe across loops: a waiter is woken with a plain `set_result` when the
releasing task runs on the waiter's loop (the usual case), and through
`call_soon_threadsafe` (a self-pipe write) only when it belongs to another loop. Waiters
queue FIFO; only the head may be admitted. When the head is blocked by time (rate buckets,
penalty) it alone sleeps for the computed delay and then re-dispatches; when blocked by
concurrency, the next release dispatches. So nobody polls, and a wake-up is one call per
admitted request.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from contextlib import suppress

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


class _Waiter:
    __slots__ = ("loop", "tokens", "future", "admitted", "timed")

    def __init__(self, loop: asyncio.AbstractEventLoop, tokens: int):
        self.loop = loop
        self.tokens = tokens
        self.future: asyncio.Future | None = None
        self.admitted = False
        self.timed = False  # sleeping on its own timer (so it needs no nudge)


class _Slot:
    """`async with limiter.slot(tokens)`: a plain async context manager (no generator)."""

    __slots__ = ("_limiter", "_tokens")

    def __init__(self, limiter: Limiter, tokens: int):
        self._limiter, self._tokens = limiter, tokens

    async def __aenter__(self) -> None:
        await self._limiter._acquire(self._tokens)

    async def __aexit__(self, *exc: object) -> None:
        self._limiter._release()


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

    def slot(self, tokens: int = 0) -> _Slot:
        """Hold one concurrency slot (`async with`); `tokens` (prompt + max_tokens) are spent on entry."""
        return _Slot(self, tokens)

    def _release(self) -> None:
        with self._lock:
            self.in_flight -= 1
            if self._queue:
                self._dispatch(None)

    def penalize(self, seconds: float) -> None:
        """Pause admissions for everyone until now + seconds (e.g. a 429's Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)
            # A timed head wakes early and re-reads the pause; untimed ones need no nudge.

    # ---- internals (all `_`-methods below expect self._lock held unless noted) --------

    async def _acquire(self, tokens: int) -> None:
        with self._lock:
            if not self._queue and self._has_slot() and self._delay(tokens) == 0.0:
                self._take(tokens)
                return
            waiter = _Waiter(asyncio.get_running_loop(), tokens)
            self._queue.append(waiter)
            if len(self._queue) > 1 and not self._queue[0].loop.is_closed():
                # behind a live head: its admission comes first, so sleep until woken
                waiter.future = waiter.loop.create_future()
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
        """Lock NOT held. Sleep until admitted; the head also wakes when time unblocks it.
        A waiter that comes with a future (queued behind others) sleeps on it first."""
        timeout = None
        while True:
            future = waiter.future
            if future is None:
                with self._lock:
                    delay = self._dispatch(waiter)
                    if waiter.admitted:
                        return
                    is_head = self._queue[0] is waiter
                    timeout = max(delay, _MIN_SLEEP) if is_head and delay is not None else None
                    waiter.timed = timeout is not None
                    future = waiter.future = waiter.loop.create_future()
            if timeout is None:
                await future
            else:
                timer = waiter.loop.call_later(timeout, _resolve, future)
                try:
                    await future
                finally:
                    timer.cancel()
            if waiter.admitted:  # set under the lock by whoever woke us: no need to retake it
                return
            waiter.future = None  # woken without admission (now the head, or a timer): re-plan

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
            head.admitted = True
            self._take(head.tokens)
            if head is not caller:
                self._wake(head)
        return None

    def _has_slot(self) -> bool:
        return self.in_flight < self.max_concurrency

    def _delay(self, tokens: int) -> float:
        if not (self._paused_until or self._requests or self._tokens):
            return 0.0  # concurrency only: no clock to read
        now = time.monotonic()
        delay = max(0.0, self._paused_until - now)
        if self._requests:
            self._requests.refill(now)
            delay = max(delay, self._requests.wait_for(1))
        if self._tokens and tokens:
            self._tokens.refill(now)
            delay = max(delay, self._tokens.wait_for(tokens))
        return delay

    def _take(self, tokens: int) -> None:
        """Count one admission: a slot, a request from the rate bucket, its tokens."""
        self.in_flight += 1
        if self.in_flight > self.max_in_flight_seen:
            self.max_in_flight_seen = self.in_flight
        if self._requests:
            self._requests.take(1)
        if self._tokens and tokens:
            self._tokens.take(tokens)

    @staticmethod
    def _wake(waiter: _Waiter) -> None:
        future = waiter.future
        if future is None:
            return  # not parked yet; it dispatches before it first sleeps
        if asyncio._get_running_loop() is waiter.loop:  # our own loop: no self-pipe write
            _resolve(future)
            return
        with suppress(RuntimeError):  # loop closed in between; _dispatch drops such waiters
            waiter.loop.call_soon_threadsafe(_resolve, future)


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
