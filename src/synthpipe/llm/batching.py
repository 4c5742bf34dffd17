"""Plumbing shared by the in-process backends (transformers, vllm): micro-batching of
concurrent requests, and resolving a local model directory.

Concurrent `submit()` calls queue up; a drain task takes up to `max_batch` items that share
a key (e.g. identical sampling params), waiting at most `max_wait_s` for more to arrive, runs
them as one batch and resolves each caller's future. Batches of one loop run one at a time,
so requests arriving during a generate pile up into the next batch.

The executor may call `asyncio.run` several times in one process, even from threads, so
no asyncio object outlives its loop: the queue lives per running loop, and the drain task
exists only while requests wait.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from synthpipe.errors import UsageError

T = TypeVar("T")
R = TypeVar("R")

# Runs one batch; returns one result per item, in order. A result that is an exception
# fails only its own item (e.g. one prompt too long for the model).
BatchFn = Callable[[list[T]], Awaitable[list[R | BaseException]]]


@dataclass
class _Pending(Generic[T]):
    item: T
    key: Hashable
    future: asyncio.Future


@dataclass
class _LoopQueue:
    pending: list[_Pending] = field(default_factory=list)
    drainer: asyncio.Task | None = None


class MicroBatcher(Generic[T, R]):
    def __init__(
        self,
        run_batch: BatchFn,
        *,
        key: Callable[[T], Hashable],
        max_batch: int,
        max_wait_s: float = 0.01,
    ):
        self.run_batch = run_batch
        self.key = key
        self.max_batch = max(1, max_batch)
        self.max_wait_s = max_wait_s
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopQueue] = (
            weakref.WeakKeyDictionary()
        )
        self._queues_lock = threading.Lock()  # loops in different threads may submit at once

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        queue = self._queue(loop)
        pending = _Pending(item, self.key(item), loop.create_future())
        queue.pending.append(pending)
        if queue.drainer is None or queue.drainer.done():
            queue.drainer = loop.create_task(self._drain(queue))
        return await pending.future

    def _queue(self, loop: asyncio.AbstractEventLoop) -> _LoopQueue:
        with self._queues_lock:
            return self._queues.setdefault(loop, _LoopQueue())

    async def _drain(self, queue: _LoopQueue) -> None:
        try:
            while queue.pending:
                if len(queue.pending) < self.max_batch:
                    await asyncio.sleep(self.max_wait_s)  # let concurrent callers join
                batch = self._take(queue)
                if batch:
                    await self._run(batch)
        except asyncio.CancelledError:  # the loop is shutting down: nobody will generate
            for p in queue.pending:
                p.future.cancel()
            queue.pending.clear()
            raise

    def _take(self, queue: _LoopQueue) -> list[_Pending]:
        """The oldest live request and up to max_batch - 1 later ones with its key."""
        live = [p for p in queue.pending if not p.future.done()]  # drop cancelled callers
        if not live:
            queue.pending.clear()
            return []
        key = live[0].key
        batch = [p for p in live if p.key == key][: self.max_batch]
        taken = {id(p) for p in batch}
        queue.pending[:] = [p for p in live if id(p) not in taken]
        return batch

    async def _run(self, batch: list[_Pending]) -> None:
        try:
            results = await self.run_batch([p.item for p in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch of {len(batch)} gave {len(results)} results")
        except asyncio.CancelledError:
            for p in batch:
                p.future.cancel()
            raise
        except Exception as exc:  # the whole batch failed: every caller sees why
            results = [exc] * len(batch)
        for p, result in zip(batch, results, strict=True):
            _resolve(p.future, result)


def _resolve(future: asyncio.Future, result: Any) -> None:
    if future.done():  # the caller gave up (timeout, cancel) while we generated
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def local_model_dir(model: str) -> Path:
    """The model directory a local backend loads; synthpipe never downloads weights."""
    path = Path(model).expanduser()
    if not path.is_dir():
        raise UsageError(
            f"model directory {model!r} not found: synthpipe never downloads models; "
            "pass a local directory holding the model (config.json, weights, tokenizer)"
        )
    return path
