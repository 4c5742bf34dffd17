"""Requests of an endpoint in `mode: batch`, gathered into provider batches.

The client hands every request it cannot serve from the cache to `BatchQueue.ask`, keyed by
its response-cache key, which is also the line's custom_id (a sha256 hex digest: 64 characters
of [0-9a-f], inside Anthropic's `^[a-zA-Z0-9_-]{1,64}$`). Requests of every record batch in
flight on the loop join one queue; it is sent as a provider batch once `batch_max_lines` wait
or no request arrived for `batch_flush_s`. A task per batch uploads, creates, polls (from
`batch_poll_s`, growing 1.5x up to `batch_poll_max_s`), downloads the results, writes them to
the response cache in one transaction, and only then marks the batch read in the registry
(see registry.py) and answers the callers. Equal requests share one line.

A request whose custom_id sits in an unread batch of the registry (a run killed mid-batch)
waits on that batch instead of being sent again. A line that failed, expired or was canceled
is asked again, in a later batch or online (`batch_retry`), up to `batch_max_retries` times;
then its caller gets the provider's error (the record drops as `llm_error`).

Like the micro-batcher of the local backends, queues live per event loop (the executor runs
one loop per segment); the attempt counts and the registry are shared.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from synthpipe.llm.batch.registry import BatchRecord, BatchRegistry
from synthpipe.llm.types import (
    BudgetExceeded,
    ChatRequest,
    ChatResponse,
    FatalError,
    LLMError,
    RetryableError,
    UnsupportedResponseFormat,
)

if TYPE_CHECKING:  # providers import aiohttp: only when a batch is sent
    from synthpipe.llm.batch.providers import BatchState, LineError

_IDLE_TICK_S = 0.05  # how often the flusher looks at the queue while it fills


@dataclass
class _Line:
    key: str
    request: ChatRequest
    future: asyncio.Future


@dataclass
class _LoopState:
    queue: list[_Line] = field(default_factory=list)
    waiting: dict[str, _Line] = field(default_factory=dict)  # key -> its line, until answered
    attached: dict[str, list[_Line]] = field(default_factory=dict)  # recorded batch -> lines waiting on it
    arrived: float = 0.0  # monotonic time of the last request queued
    flusher: asyncio.Task | None = None
    tasks: set[asyncio.Task] = field(default_factory=set)


class BatchQueue:
    def __init__(self, client: Any, registry: BatchRegistry | None):  # client: the endpoint's LLMClient
        self.client = client
        self.config = client.config
        self.registry = registry
        self.attempts: Counter[str] = Counter()  # failed submissions per custom_id
        self._provider: Any = None
        self._recorded: dict[str, BatchRecord] | None = None  # custom_id -> open batch of an earlier run
        self._unpaid: set[str] = set()  # lines sent or waiting to be, not answered yet (see _check_budget)
        self._lock = threading.Lock()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()

    @property
    def provider(self) -> Any:
        if self._provider is None:  # lazily: it reads the API key
            from synthpipe.llm.batch.providers import make_provider

            self._provider = make_provider(self.client.backend)
        return self._provider

    # -- the caller's side ------------------------------------------------------------------
    async def ask(self, key: str, request: ChatRequest) -> ChatResponse:
        """The reply to `request` (custom_id `key`) once its batch is read."""
        state = self._state()
        line = state.waiting.get(key)
        if line is None:
            record = self._open_batch(key)
            if record is None:
                self._check_budget(key)
            line = state.waiting[key] = _Line(key, request, asyncio.get_running_loop().create_future())
            if record is not None:
                self._attach(state, record, line)
            else:
                self._enqueue(state, line)
        return await asyncio.shield(line.future)

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        with self._lock:
            return self._loops.setdefault(loop, _LoopState())

    def _open_batch(self, key: str) -> BatchRecord | None:
        with self._lock:
            if self._recorded is None:
                self._recorded = self.registry.open_batches(self.client.name) if self.registry else {}
            return self._recorded.get(key)

    def _check_budget(self, key: str) -> None:
        """A cap already reached stops new lines. With `max_requests`, lines on their way count
        too: a batch is paid in full once sent, so it never holds more than the cap allows.
        (Token and cost caps are known only from the replies: a sent batch may overshoot them.)"""
        budget = self.client.budget
        budget.check()
        cap = budget.config.max_requests
        with self._lock:
            if cap is not None and budget.spent.requests + len(self._unpaid) >= cap:
                raise BudgetExceeded(
                    f"budget reached: max_requests={cap} ({budget.spent.requests} paid, {len(self._unpaid)} in "
                    "provider batches). Raise it (e.g. -s budget.max_requests=...) and rerun to continue; "
                    "finished work is kept and cached responses are free."
                )
            self._unpaid.add(key)

    def _enqueue(self, state: _LoopState, line: _Line) -> None:
        state.queue.append(line)
        state.arrived = time.monotonic()
        if state.flusher is None or state.flusher.done():
            state.flusher = self._spawn(state, self._flush_loop(state))

    def _spawn(self, state: _LoopState, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)
        return task

    # -- sending ----------------------------------------------------------------------------
    async def _flush_loop(self, state: _LoopState) -> None:
        cfg = self.config
        while state.queue:
            idle = time.monotonic() - state.arrived
            if len(state.queue) < cfg.batch_max_lines and idle < cfg.batch_flush_s:
                await asyncio.sleep(min(cfg.batch_flush_s - idle, _IDLE_TICK_S))
                continue
            lines, state.queue[:] = state.queue[: cfg.batch_max_lines], state.queue[cfg.batch_max_lines :]
            self._spawn(state, self._send(state, lines))

    async def _send(self, state: _LoopState, lines: list[_Line]) -> None:
        body, sendable = [], []
        for line in lines:
            try:
                body.append(self.provider.line(line.key, line.request))
                sendable.append(line)
            except LLMError as exc:  # e.g. n > 1 for a provider that answers one sample per request
                self._give_up(state, line, str(exc), exc)
        if not sendable:
            return
        lines, ids = sendable, [line.key for line in sendable]
        try:
            file_id = await self._control(self.provider.upload, body)
            if file_id is not None and self.registry is not None:
                self.registry.uploaded(self.client.name, self.provider.name, file_id, ids)
            batch = await self._create(body, file_id, ids)
        except LLMError as exc:
            for line in lines:
                self._give_up(state, line, f"the batch could not be submitted: {exc}", exc)
            return
        self.client.count_batch(batches_submitted=1, batch_lines=len(lines))
        await self._follow(state, batch.batch_id, {line.key: line for line in lines})

    async def _create(self, body: list[dict], file_id: str | None, ids: list[str]) -> BatchState:
        """Create the batch once: a create whose answer was lost is looked up by its file."""
        last: LLMError | None = None
        for attempt in range(self.config.max_retries + 1):
            try:
                batch = await self.provider.create(body, file_id)
                break
            except RetryableError as exc:
                last = exc
                await asyncio.sleep(self.client._backoff(attempt, exc.retry_after))
                if file_id and (found := await self._control(self.provider.find, file_id)):
                    batch = await self._control(self.provider.poll, found)
                    break
        else:
            raise RetryableError(f"gave up creating the batch after {self.config.max_retries + 1} attempts: {last}")
        if self.registry is not None:
            self.registry.created(self.client.name, self.provider.name, batch.batch_id, ids, file_id, batch.status)
        return batch

    # -- waiting ----------------------------------------------------------------------------
    def _attach(self, state: _LoopState, record: BatchRecord, line: _Line) -> None:
        """Wait on a batch an earlier run sent (started on the first request that needs it)."""
        handle = record.batch_id or f"file:{record.file_id}"
        waiting = state.attached.get(handle)
        if waiting is None:
            waiting = state.attached[handle] = []
            self.client.count_batch(batches_reattached=1)
            self._spawn(state, self._resume(state, record, handle))
        waiting.append(line)

    async def _resume(self, state: _LoopState, record: BatchRecord, handle: str) -> None:
        await asyncio.sleep(0)  # let the other callers of this batch attach first
        try:
            batch_id = record.batch_id
            if batch_id is None:  # killed between upload and create: find it, or create it now
                batch_id = await self._control(self.provider.find, record.file_id)
                if batch_id is None:
                    batch_id = (await self._create([], record.file_id, record.custom_ids)).batch_id
        except LLMError as exc:
            self._lost(state, record, state.attached.pop(handle, []), exc)
            return
        await self._follow(state, batch_id, state.attached, handle, record)

    def _lost(self, state: _LoopState, record: BatchRecord, lines: list[_Line], exc: LLMError) -> None:
        """A batch of an earlier run that cannot be followed. The provider does not know it
        (a 4xx): it is written off and its lines sent again. Unreachable (retries exhausted):
        the lines give up now and the batch stays recorded for the next rerun."""
        self._forget(record)
        if not isinstance(exc, FatalError):
            for line in lines:
                self._give_up(state, line, f"the batch of an earlier run cannot be read (kept for a rerun): {exc}", exc)
            return
        if self.registry is not None:
            self.registry.abandoned(record.batch_id, record.file_id, str(exc))
        for line in lines:
            with self._lock:
                self._unpaid.add(line.key)
            self._enqueue(state, line)

    async def _follow(self, state: _LoopState, batch_id: str, lines: Any, handle: str | None = None,
                      record: BatchRecord | None = None) -> None:  # fmt: skip
        """Poll `batch_id` to its end, then deliver its results (lines: key -> line, or the
        attached lists under `handle` for a recorded batch)."""
        self.client.count_batch(batches_running=1)
        try:
            final = await self._poll(batch_id)
            results = await self._control(self.provider.results, final)
        except LLMError as exc:
            waiting = _lines_of(lines, handle)
            if record is not None:
                self._lost(state, record, waiting, exc)
                return
            for line in waiting:
                self._give_up(state, line, f"batch {batch_id} could not be read (it is kept for a rerun): {exc}", exc)
            return
        finally:
            self.client.count_batch(batches_running=-1)
        self._deliver(state, final, results, _lines_of(lines, handle))
        if record is not None:
            self._forget(record)

    async def _poll(self, batch_id: str) -> BatchState:
        delay, seen = self.config.batch_poll_s, 0
        while True:
            state = await self._control(self.provider.poll, batch_id)
            if (done := _processed(state.counts)) > seen:  # progress inside a batch that takes hours
                self.client.count_batch(batch_lines_processed=done - seen)
                seen = done
            if state.ended:
                if self.registry is not None:
                    self.registry.ended(batch_id, state.status, state.counts)
                return state
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.config.batch_poll_max_s)

    # -- results ----------------------------------------------------------------------------
    def _deliver(self, state: _LoopState, final: BatchState, results: dict, lines: list[_Line]) -> None:
        """Cache every reply (paid ones nobody waits for too), mark the batch read, answer."""
        replies = [(cid, r) for cid, r in results.items() if isinstance(r, ChatResponse)]
        cache = self.client.cache
        if cache is not None and replies:
            cache.put_many(replies, model=self.config.model)
        for _cid, reply in replies:
            self.client.charge(reply, batch=True)
        if self.registry is not None:
            self.registry.read(final.batch_id)
        self.client.count_batch(batches_completed=1, batch_lines_done=len(replies))
        from synthpipe.llm.batch.providers import missing_line

        for line in lines:
            result = results.get(line.key) or missing_line(final)
            if isinstance(result, ChatResponse):
                self._resolve(state, line, result)
            else:
                self._line_failed(state, line, result)

    def _line_failed(self, state: _LoopState, line: _Line, error: LineError) -> None:
        self.attempts[line.key] += 1
        tries = self.attempts[line.key]
        if error.retryable and tries <= self.config.batch_max_retries:
            self.client.count_batch(batch_lines_retried=1)
            if self.config.batch_retry == "online":
                self._spawn(state, self._online(state, line))
            else:
                self._enqueue(state, line)
            return
        self.client.count_batch(batch_lines_failed=1)
        self.client.count_failure()
        kind = UnsupportedResponseFormat if error.bad_format else RetryableError if error.retryable else FatalError
        self._reject(state, line, kind(f"batch line failed ({tries} submission(s)): {error.message}"))

    async def _online(self, state: _LoopState, line: _Line) -> None:
        try:
            response = await self.client._call_with_retries(line.request)
        except (LLMError, BudgetExceeded) as exc:
            self._reject(state, line, exc)
            return
        if self.client.cache is not None:
            self.client.cache.put_buffered(line.key, response, model=self.config.model)
        self._resolve(state, line, response)

    def _give_up(self, state: _LoopState, line: _Line, message: str, exc: LLMError) -> None:
        self.client.count_batch(batch_lines_failed=1)
        self.client.count_failure()
        self._reject(state, line, type(exc)(message) if isinstance(exc, RetryableError | FatalError) else exc)

    def _resolve(self, state: _LoopState, line: _Line, response: ChatResponse) -> None:
        state.waiting.pop(line.key, None)
        with self._lock:
            self._unpaid.discard(line.key)
        if not line.future.done():
            line.future.set_result(response)

    def _reject(self, state: _LoopState, line: _Line, exc: BaseException) -> None:
        state.waiting.pop(line.key, None)
        with self._lock:
            self._unpaid.discard(line.key)
        if not line.future.done():
            line.future.set_exception(exc)

    def _forget(self, record: BatchRecord) -> None:
        with self._lock:
            if self._recorded:
                for cid in record.custom_ids:
                    if self._recorded.get(cid) is record:
                        del self._recorded[cid]

    async def _control(self, fn: Any, *args: Any) -> Any:
        """A control call (upload, poll, results...) with the endpoint's retries and backoff."""
        for attempt in range(self.config.max_retries + 1):
            try:
                return await fn(*args)
            except RetryableError as exc:
                if attempt == self.config.max_retries:
                    raise
                self.client.count_retry()
                await asyncio.sleep(self.client._backoff(attempt, exc.retry_after))
        raise AssertionError("unreachable")


def _processed(counts: dict[str, Any]) -> int:
    """Lines a provider reports as processed: OpenAI's completed + failed, Anthropic's
    succeeded + errored + canceled + expired."""
    names = ("completed", "failed", "succeeded", "errored", "canceled", "expired")
    return sum(v for k, v in counts.items() if k in names and isinstance(v, int))


def _lines_of(lines: Any, handle: str | None) -> list[_Line]:
    if handle is None:
        return list(lines.values())
    return lines.pop(handle, [])


def inflight_for_batches(configs: dict[str, Any], batch_size: int, max_inflight: int) -> int:
    """Record batches a run keeps in flight when an endpoint is in batch mode: enough to fill
    one provider batch (`batch_max_lines` requests), since the record batches in flight all
    wait on the same provider batch and only then move on together. Never fewer than
    `max_inflight`; online endpoints leave it as it is."""
    lines = [c.batch_max_lines for c in configs.values() if getattr(c, "mode", "online") == "batch"]
    if not lines:
        return max_inflight
    return max(max_inflight, -(-max(lines) // batch_size))
