"""The LLM client: cache -> budget -> limiter -> retries -> backend, with usage accounting.

Every step of a run talks to an endpoint through one client, so the limiter, the budget and
the counters are shared. A response is cached before it is parsed: the cache key is the
request (backend, model, messages, sampling parameters, sample index), never the parser.

Replies are written to the cache in batches (`ResponseCache.put_buffered`): steps flush the
run's pool at the end of each batch, so a batch costs one SQLite transaction, not one per reply.

An endpoint in `mode: batch` sends what the cache cannot answer through the provider's batch
API (llm/batch/): the cache key is the line's custom_id, and replies land in the same cache.

Two failures stop being quiet here: a reply cut at max_tokens (cached or not) is asked again
once with a larger budget, then raised as `TruncatedReply`; and an endpoint that no request
has ever reached, whose requests all fail to connect, stops the run (`EndpointUnreachable`).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from synthpipe.errors import UsageError
from synthpipe.llm.backend import LLMBackend
from synthpipe.llm.batch.queue import BatchQueue
from synthpipe.llm.batch.registry import BatchRegistry
from synthpipe.llm.budget import Budget
from synthpipe.llm.cache import ResponseCache
from synthpipe.llm.config import LLMConfig
from synthpipe.llm.limiter import limiter_for
from synthpipe.llm.structured import StructuredOutput
from synthpipe.llm.tool_prompt import parse_prompted, prompted_request
from synthpipe.llm.types import (
    ChatRequest,
    ChatResponse,
    ConnectError,
    EndpointUnreachable,
    FatalError,
    LLMError,
    RetryableError,
    TruncatedReply,
    UnsupportedResponseFormat,
)


@dataclass
class UsageStats:
    """Counters of one endpoint for progress bars and metrics.json."""

    requests: int = 0  # paid requests that succeeded
    cached: int = 0  # served from the cache
    retries: int = 0  # failed attempts that were retried
    failures: int = 0  # requests that gave up (their records are dropped)
    truncated: int = 0  # replies cut at max_tokens, paid or cached (each is asked again once, larger)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    # batch mode (llm/batch/): provider batches and their lines
    batches_submitted: int = 0
    batches_running: int = 0  # being polled now
    batches_completed: int = 0  # ended and read
    batches_reattached: int = 0  # sent by an earlier, interrupted run and waited on here
    batch_lines: int = 0  # lines sent (a retried line counts again)
    batch_lines_processed: int = 0  # lines the provider reports processed (polled while batches run)
    batch_lines_done: int = 0  # replies read from batches
    batch_lines_retried: int = 0
    batch_lines_failed: int = 0  # given up: their records drop as llm_error
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> dict:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        served = self.requests + self.cached
        return {
            "requests": self.requests,
            "cached": self.cached,
            "cache_hit_rate": round(self.cached / served, 4) if served else None,
            "retries": self.retries,
            "failures": self.failures,
            "truncated": self.truncated,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": round(self.cost, 6),
            "requests_per_s": round(self.requests / elapsed, 2),
            "tokens_per_s": round((self.prompt_tokens + self.completion_tokens) / elapsed, 1),
            **({"batch": self.batch_summary()} if self.batches_submitted or self.batches_reattached else {}),
        }

    def batch_summary(self) -> dict:
        return {name: getattr(self, name) for name in _BATCH_COUNTERS}


_BATCH_COUNTERS = (
    "batches_submitted", "batches_running", "batches_completed", "batches_reattached",
    "batch_lines", "batch_lines_processed", "batch_lines_done", "batch_lines_retried", "batch_lines_failed",
)  # fmt: skip


class LLMClient:
    def __init__(
        self,
        name: str,
        config: LLMConfig,
        *,
        cache: ResponseCache | None = None,
        budget: Budget | None = None,
        backend: LLMBackend | None = None,
        on_update: Callable[[str, UsageStats], None] | None = None,
        batch_registry: BatchRegistry | None = None,
    ):
        self.name = name
        self.config = config
        self.cache = cache
        self.budget = budget or Budget()
        self.backend = backend or make_backend(config)
        self.limiter = limiter_for(
            f"{config.backend}|{config.base_url}|{config.model}",
            config.max_concurrency,
            config.requests_per_minute,
            config.tokens_per_minute,
        )
        self.stats = UsageStats()
        self.on_update = on_update
        self._identity = config.identity()  # part of every cache key; the config is frozen
        self._lock = threading.Lock()
        self._reached = False  # some attempt got past connecting: the endpoint exists
        self._calls = 0  # requests between their first attempt and their answer or giving up
        # None = not yet known; False after the server rejected response_format once, or from
        # the start for a backend that cannot constrain decoding (the schema goes into the prompt)
        asks = config.response_format in ("auto", "json_schema") and self.backend.supports_response_format
        self.response_format_ok: bool | None = None if asks else False
        self.batch_queue = BatchQueue(self, batch_registry) if config.mode == "batch" else None

    # -- plain chat ---------------------------------------------------------------------
    @property
    def native_tools(self) -> bool:
        """Requests with `tools` go to the server's tools API (else: described in the prompt)."""
        return self.backend.supports_tools and self.config.tool_calling == "native"

    async def chat(self, request: ChatRequest, sample_index: int = 0) -> ChatResponse:
        """One response, from the cache or the backend (retrying what can be retried).

        A reply cut at max_tokens is asked again once with max_tokens times
        `truncation_retry_factor`; cut again (or refused), it raises `TruncatedReply`.

        A request with `tools` to an endpoint without native tool calling is asked with the
        tools in the prompt and its <tool_call> tags parsed into `tool_calls` (tool_prompt.py)."""
        if request.tools is not None and not self.native_tools:
            return parse_prompted(await self._chat(prompted_request(request), sample_index))
        return await self._chat(request, sample_index)

    async def _chat(self, request: ChatRequest, sample_index: int) -> ChatResponse:
        response = await self._cached_chat(request, sample_index)
        if not response.truncated:
            return response
        self._count(truncated=1)
        limit = request.params.max_tokens
        larger = math.ceil(limit * self.config.truncation_retry_factor)
        if larger <= limit:
            raise _truncated(response, limit)
        try:
            again = await self._cached_chat(_with_max_tokens(request, larger), sample_index)
        except UnsupportedResponseFormat:
            raise
        except FatalError as exc:  # e.g. a 400 for a budget beyond the model's context
            raise _truncated(response, limit, f"asking again with max_tokens={larger} failed: {exc}") from None
        if not again.truncated:
            return again
        self._count(truncated=1)
        raise _truncated(again, larger, f"asked again after stopping at max_tokens={limit}")

    async def _cached_chat(self, request: ChatRequest, sample_index: int) -> ChatResponse:
        batch = self.batch_queue is not None
        key = ResponseCache.key(self._identity, request, sample_index) if self.cache or batch else None
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            self._count(cached=1)
            return hit
        if self.batch_queue is not None:  # the queue caches what its batches return
            return await self.batch_queue.ask(key, request)
        response = await self._call_with_retries(request)
        if key is not None:
            self.cache.put_buffered(key, response, model=self.config.model)
        return response

    async def _call_with_retries(self, request: ChatRequest) -> ChatResponse:
        with self._lock:
            self._calls += 1
        try:
            return await self._attempts(request)
        finally:
            with self._lock:
                self._calls -= 1

    async def _attempts(self, request: ChatRequest) -> ChatResponse:
        last: LLMError | None = None
        for attempt in range(self.config.max_retries + 1):
            try:
                async with self.limiter.slot(tokens=_estimate_tokens(request)):
                    self.budget.check()  # inside the slot: overshoot stays below the concurrency
                    response = await self.backend.chat(request)
            except RetryableError as exc:
                if not isinstance(exc, ConnectError):
                    self._reached = True
                last = exc
                if attempt == self.config.max_retries:
                    break
                self._count(retries=1)
                if exc.retry_after:
                    self.limiter.penalize(exc.retry_after)
                await asyncio.sleep(self._backoff(attempt, exc.retry_after))
                continue
            except FatalError as exc:
                self._reached = True
                self._count(failures=1)
                if exc.status in _CONFIG_ERRORS:  # every request would fail the same way: stop the run
                    raise UsageError(f"LLM endpoint {self.name!r} ({self.config.model}): {exc}{_hint(self.config)}") from None
                raise
            self._reached = True
            self.charge(response)
            return response
        self._count(failures=1)
        self._check_reachable(last)
        raise RetryableError(f"gave up after {self.config.max_retries + 1} attempts: {last}")

    def _check_reachable(self, last: LLMError | None) -> None:
        """Stop the run when this endpoint never answered and the request giving up now was
        the last one out: every request so far failed to connect (refused, DNS). While
        others are still trying, one of them may yet get through."""
        with self._lock:
            alone = self._calls == 1
        if isinstance(last, ConnectError) and not self._reached and alone:
            raise EndpointUnreachable(
                f"LLM endpoint {self.name!r} ({self.config.model}) at {self.config.base_url} cannot be reached: "
                f"{last}; every request failed to connect ({self.config.max_retries + 1} attempts each): "
                "start the server or fix base_url, then run again"
            )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        exp = min(self.config.backoff_max_s, self.config.backoff_base_s * 2**attempt)
        jittered = random.uniform(exp / 2, exp)  # full jitter halves synchronized retries
        return max(jittered, retry_after or 0.0)

    # -- structured output ---------------------------------------------------------------
    async def structured(
        self, request: ChatRequest, output: StructuredOutput, *, sample_index: int = 0, max_attempts: int = 3
    ) -> tuple[object | None, str, str | None]:
        """Return (value, raw_text, error). Invalid replies are retried with the error fed back."""
        messages = list(request.messages)
        raw, error = "", None
        for _attempt in range(max_attempts):
            attempt_request = self._structured_request(request, messages, output)
            try:
                response = await self.chat(attempt_request, sample_index)
            except UnsupportedResponseFormat:
                self.response_format_ok = False
                continue
            raw = response.texts[0] if response.texts else ""
            value, error = output.parse(raw)
            if error is None:
                return value, raw, None
            messages = [
                *attempt_request.messages,  # as sent: with the schema when it went in the prompt
                {"role": "assistant", "content": raw},
                {"role": "user", "content": f"That reply was invalid: {error}\n{output.instructions()}"},
            ]
        return None, raw, error or "the server rejected the structured-output request"

    def _structured_request(self, request: ChatRequest, messages: list, output: StructuredOutput) -> ChatRequest:
        if self.response_format_ok is not False:
            return ChatRequest(messages, request.params, request.n, output.response_format())
        # prompt-only: the schema goes into the last user message (a repair turn has it already)
        *head, last = messages
        if output.instructions() in last["content"]:
            return ChatRequest(messages, request.params, request.n, None)
        prompted = {**last, "content": f"{last['content']}\n\n{output.instructions()}"}
        return ChatRequest([*head, prompted], request.params, request.n, None)

    # -- accounting -----------------------------------------------------------------------
    def charge(self, response: ChatResponse, *, batch: bool = False) -> None:
        """Count a paid reply; `batch`: at the batch rate."""
        usage = response.usage
        cost = self.config.cost(usage.prompt_tokens, usage.completion_tokens, batch=batch)
        self.budget.charge(usage.total, cost)
        self._count(requests=1, prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens, cost=cost)

    def _count(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)
        if self.on_update is not None:
            self.on_update(self.name, self.stats)

    def count_batch(self, **deltas: int) -> None:
        self._count(**deltas)

    def count_failure(self) -> None:
        self._count(failures=1)

    def count_retry(self) -> None:
        self._count(retries=1)

    async def aclose(self) -> None:
        await self.backend.aclose()


_CONFIG_ERRORS = (401, 403, 404)


def _hint(config: LLMConfig) -> str:
    if config.api_key_env:
        return f" (check the API key in ${config.api_key_env}, the model name and base_url)"
    return " (check the model name and base_url; set api_key_env if the server needs a key)"


def _with_max_tokens(request: ChatRequest, max_tokens: int) -> ChatRequest:
    params = request.params.model_copy(update={"max_tokens": max_tokens})
    return replace(request, params=params)


def _truncated(response: ChatResponse, limit: int, note: str = "") -> TruncatedReply:
    """The error for a reply that stopped at `limit` tokens; the drop detail names both."""
    tokens = response.usage.completion_tokens or None  # 0: the server did not say
    used = f"{tokens} completion tokens" if tokens else "its completion"
    message = f"the reply stopped at its token limit: {used} of max_tokens={limit}"
    text = response.texts[0] if len(response.texts) == 1 else None
    return TruncatedReply(f"{message} ({note})" if note else message, tokens=tokens, limit=limit, text=text)


def _estimate_tokens(request: ChatRequest) -> int:
    """Prompt (about 4 characters a token; tool schemas count too) plus the most the reply may use."""
    chars = sum(len(m.get("content") or "") for m in request.messages)
    if request.tools:
        chars += len(json.dumps(request.tools))
    return chars // 4 + request.params.max_tokens * request.n


def make_backend(config: LLMConfig) -> LLMBackend:
    """Build the backend a config names; heavy ones are imported only when asked for."""
    if config.backend == "openai":
        from synthpipe.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(config)
    if config.backend == "anthropic":
        from synthpipe.llm.anthropic_backend import AnthropicBackend

        return AnthropicBackend(config)
    if config.backend == "transformers":
        from synthpipe.llm.transformers_backend import TransformersBackend

        return TransformersBackend(config)
    from synthpipe.llm.vllm_backend import VLLMBackend

    return VLLMBackend(config)
