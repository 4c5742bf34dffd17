"""The LLM client: cache -> budget -> limiter -> retries -> backend, with usage accounting.

Every step of a run talks to an endpoint through one client, so the limiter, the budget and
the counters are shared. A response is cached before it is parsed: the cache key is the
request (backend, model, messages, sampling parameters, sample index), never the parser.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from synthpipe.errors import UsageError
from synthpipe.llm.backend import LLMBackend
from synthpipe.llm.budget import Budget
from synthpipe.llm.cache import ResponseCache
from synthpipe.llm.config import LLMConfig
from synthpipe.llm.limiter import limiter_for
from synthpipe.llm.structured import StructuredOutput
from synthpipe.llm.types import (
    ChatRequest,
    ChatResponse,
    FatalError,
    LLMError,
    RetryableError,
    UnsupportedResponseFormat,
)


@dataclass
class UsageStats:
    """Counters of one endpoint for progress bars and metrics.json."""

    requests: int = 0  # paid requests that succeeded
    cached: int = 0  # served from the cache
    retries: int = 0  # failed attempts that were retried
    failures: int = 0  # requests that gave up (their records are dropped)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
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
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": round(self.cost, 6),
            "requests_per_s": round(self.requests / elapsed, 2),
            "tokens_per_s": round((self.prompt_tokens + self.completion_tokens) / elapsed, 1),
        }


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
        self._lock = threading.Lock()
        # None = not yet known; False after the server rejected response_format once
        self.response_format_ok: bool | None = None if config.response_format in ("auto", "json_schema") else False

    # -- plain chat ---------------------------------------------------------------------
    async def chat(self, request: ChatRequest, sample_index: int = 0) -> ChatResponse:
        """One response, from the cache or the backend (retrying what can be retried)."""
        key = ResponseCache.key(self.config.identity(), request, sample_index) if self.cache else None
        if key is not None and (hit := self.cache.get(key)) is not None:
            self._count(cached=1)
            return hit
        response = await self._call_with_retries(request)
        if key is not None:
            self.cache.put(key, response, model=self.config.model)
        return response

    async def _call_with_retries(self, request: ChatRequest) -> ChatResponse:
        last: LLMError | None = None
        for attempt in range(self.config.max_retries + 1):
            try:
                async with self.limiter.slot(tokens=_estimate_tokens(request)):
                    self.budget.check()  # inside the slot: overshoot stays below the concurrency
                    response = await self.backend.chat(request)
            except RetryableError as exc:
                last = exc
                if attempt == self.config.max_retries:
                    break
                self._count(retries=1)
                if exc.retry_after:
                    self.limiter.penalize(exc.retry_after)
                await asyncio.sleep(self._backoff(attempt, exc.retry_after))
                continue
            except FatalError as exc:
                self._count(failures=1)
                if exc.status in _CONFIG_ERRORS:  # every request would fail the same way: stop the run
                    raise UsageError(f"LLM endpoint {self.name!r} ({self.config.model}): {exc}{_hint(self.config)}") from None
                raise
            self._charge(response)
            return response
        self._count(failures=1)
        raise RetryableError(f"gave up after {self.config.max_retries + 1} attempts: {last}")

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
                *messages,
                {"role": "assistant", "content": raw},
                {"role": "user", "content": f"That reply was invalid: {error}\n{output.instructions()}"},
            ]
        return None, raw, error or "the server rejected the structured-output request"

    def _structured_request(self, request: ChatRequest, messages: list, output: StructuredOutput) -> ChatRequest:
        if self.response_format_ok is not False:
            return ChatRequest(messages, request.params, request.n, output.response_format())
        # prompt-only: the schema goes into the last user message
        *head, last = messages
        prompted = {**last, "content": f"{last['content']}\n\n{output.instructions()}"}
        return ChatRequest([*head, prompted], request.params, request.n, None)

    # -- accounting -----------------------------------------------------------------------
    def _charge(self, response: ChatResponse) -> None:
        usage = response.usage
        cost = self.config.cost(usage.prompt_tokens, usage.completion_tokens)
        self.budget.charge(usage.total, cost)
        self._count(requests=1, prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens, cost=cost)

    def _count(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)
        if self.on_update is not None:
            self.on_update(self.name, self.stats)

    async def aclose(self) -> None:
        await self.backend.aclose()


_CONFIG_ERRORS = (401, 403, 404)


def _hint(config: LLMConfig) -> str:
    if config.api_key_env:
        return f" (check the API key in ${config.api_key_env}, the model name and base_url)"
    return " (check the model name and base_url; set api_key_env if the server needs a key)"


def _estimate_tokens(request: ChatRequest) -> int:
    """Prompt (about 4 characters a token) plus the most the reply may use."""
    chars = sum(len(m.get("content") or "") for m in request.messages)
    return chars // 4 + request.params.max_tokens * request.n


def make_backend(config: LLMConfig) -> LLMBackend:
    """Build the backend a config names; heavy ones are imported only when asked for."""
    if config.backend == "openai":
        from synthpipe.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(config)
    if config.backend == "transformers":
        from synthpipe.llm.transformers_backend import TransformersBackend

        return TransformersBackend(config)
    from synthpipe.llm.vllm_backend import VLLMBackend

    return VLLMBackend(config)
