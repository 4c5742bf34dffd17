"""Any OpenAI-compatible chat completions server (OpenAI, vLLM serve, llama.cpp, TGI, ...) over httpx.

One call is one attempt; every failure is mapped onto RetryableError / FatalError so the
client around the backend can decide whether to retry."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from collections.abc import AsyncGenerator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from synthpipe.llm.backend import LLMBackend
from synthpipe.llm.config import LLMConfig
from synthpipe.llm.types import (
    ChatRequest,
    ChatResponse,
    FatalError,
    RetryableError,
    UnsupportedResponseFormat,
    Usage,
)

_MAX_ERROR_CHARS = 500
_CONNECTIONS_PER_SHARD = 8  # see _ClientPool
_RETRYABLE_STATUS = {408, 409, 429}
# Words servers use when they reject structured output (OpenAI, vLLM, TGI, llama.cpp).
_RESPONSE_FORMAT_WORDS = ("response_format", "json_schema", "guided")


class OpenAIBackend(LLMBackend):
    supports_response_format = True

    def __init__(self, config: LLMConfig):
        super().__init__(config)
        if not config.base_url:
            raise ValueError("OpenAIBackend needs config.base_url")
        self.base_url = config.base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        # An httpx.AsyncClient is bound to the loop it first ran in, and the executor may run
        # several loops in turn (one asyncio.run per segment): keep clients per loop.
        self._pools: dict[asyncio.AbstractEventLoop, _ClientPool] = {}
        self._closers: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
        self._ssl_context: ssl.SSLContext | None = None

    # -- the one attempt -------------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> ChatResponse:
        api_key = self._api_key()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        pool = await self._pool()
        shard = pool.acquire()
        error: Exception | None = None
        try:
            response = await pool.clients[shard].post(self.url, json=self._payload(request), headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = self._request_error(exc)
        finally:
            pool.release(shard)
        # Raised outside the except block: httpx errors carry the request, headers and key included.
        if error is not None:
            raise error
        if not response.is_success:
            raise self._status_error(response, request, api_key)
        return _parse_completion(response)

    def _payload(self, request: ChatRequest) -> dict[str, Any]:
        p = request.params
        payload: dict[str, Any] = {
            "model": self.config.model,
            "messages": request.messages,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
            "n": request.n,
        }
        if p.stop:
            payload["stop"] = list(p.stop)
        if p.seed is not None:
            payload["seed"] = p.seed
        if request.response_format is not None:
            payload["response_format"] = request.response_format
        return payload

    def _api_key(self) -> str | None:
        """Read at request time, so a key exported after startup (or rotated) is used."""
        name = self.config.api_key_env
        if not name:
            return None
        key = os.environ.get(name)
        if not key:
            raise FatalError(
                f"environment variable {name} is not set (it should hold the API key for {self.base_url})"
            )
        return key

    def _request_error(self, exc: httpx.HTTPError | httpx.InvalidURL) -> Exception:
        if isinstance(exc, httpx.TimeoutException):
            return RetryableError(f"timeout after {self.config.timeout_s}s ({type(exc).__name__}) from {self.url}")
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return FatalError(f"cannot call {self.url}: {exc}")
        # Connect errors, resets, RemoteProtocolError, a body that does not decode: try again.
        return RetryableError(f"{type(exc).__name__} talking to {self.url}: {exc}")

    def _status_error(self, response: httpx.Response, request: ChatRequest, api_key: str | None) -> Exception:
        status = response.status_code
        detail = _error_message(response)
        if api_key:  # some servers echo what they were sent
            detail = detail.replace(api_key, "***")
        message = f"HTTP {status} from {self.url}: {detail}"
        if status in _RETRYABLE_STATUS or status >= 500:
            return RetryableError(message, status=status, retry_after=parse_retry_after(response.headers))
        lowered = detail.lower()
        if (
            status in (400, 422)  # 422: FastAPI-style validation (TGI and friends)
            and request.response_format is not None
            and any(word in lowered for word in _RESPONSE_FORMAT_WORDS)
        ):
            return UnsupportedResponseFormat(message, status=status)
        return FatalError(message, status=status)

    # -- clients per event loop ------------------------------------------------------------

    async def _pool(self) -> _ClientPool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None or pool.closed:
            self._forget_closed_loops()
            pool = self._pools[loop] = self._new_pool()
            self._closers[loop] = closer = _close_at_loop_shutdown(pool)
            # Run it to its `yield`: the loop now tracks it, and asyncio.run's
            # shutdown_asyncgens() closes the clients while the loop can still do I/O.
            await anext(closer)
        return pool

    def _new_pool(self) -> _ClientPool:
        if self._ssl_context is None:  # shared: loading the CA bundle costs ~20 ms per client
            self._ssl_context = httpx.create_ssl_context()
        total = self.config.max_concurrency
        shards = -(-total // _CONNECTIONS_PER_SHARD)
        sizes = [total // shards + (i < total % shards) for i in range(shards)]
        return _ClientPool([self._new_client(size) for size in sizes])

    def _new_client(self, connections: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            http1=True,
            http2=False,
            verify=self._ssl_context,
            timeout=self.config.timeout_s,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            headers={"User-Agent": "synthpipe"},
        )

    def _forget_closed_loops(self) -> None:
        # Their clients were closed at loop shutdown (or cannot be closed any more).
        for loop in [lp for lp in self._pools if lp.is_closed()]:
            self._pools.pop(loop, None)
            self._closers.pop(loop, None)

    async def aclose(self) -> None:
        """Close this loop's clients; those of other, finished loops are dropped."""
        loop = asyncio.get_running_loop()
        pool = self._pools.pop(loop, None)
        closer = self._closers.pop(loop, None)
        if closer is not None:
            await closer.aclose()
        elif pool is not None:
            await pool.aclose()
        self._forget_closed_loops()


class _ClientPool:
    """One loop's httpx clients, each holding a few of its `max_concurrency` connections.

    httpcore's pool scans every connection it holds (a syscall each, to spot server-closed
    ones) several times per request: one pool of 256 connections burns ~20 ms of CPU per
    request, shards of 8 about 0.5 ms."""

    def __init__(self, clients: list[httpx.AsyncClient]):
        self.clients = clients
        self.in_flight = [0] * len(clients)
        self.closed = False

    def acquire(self) -> int:
        # Least loaded; ties go to the first, so light traffic reuses a few warm connections.
        shard = min(range(len(self.clients)), key=self.in_flight.__getitem__)
        self.in_flight[shard] += 1
        return shard

    def release(self, shard: int) -> None:
        self.in_flight[shard] -= 1

    async def aclose(self) -> None:
        self.closed = True
        for client in self.clients:
            await client.aclose()


async def _close_at_loop_shutdown(pool: _ClientPool) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await pool.aclose()


def _parse_completion(response: httpx.Response) -> ChatResponse:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise RetryableError(f"malformed response: not JSON ({exc}): {response.text[:200]!r}") from None
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices:
        raise RetryableError(f"malformed response: no choices in {_snippet(body)}")
    texts: list[str] = []
    finish_reasons: list[str | None] = []
    for choice in sorted(choices, key=_choice_index):
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict) or "content" not in message:
            raise RetryableError(f"malformed response: choice without message.content in {_snippet(body)}")
        content = message["content"]
        if content is not None and not isinstance(content, str):
            raise RetryableError(f"malformed response: non-string content in {_snippet(body)}")
        texts.append(content or "")
        finish_reasons.append(choice.get("finish_reason"))
    usage = body.get("usage") or {}
    return ChatResponse(
        texts=texts,
        finish_reasons=finish_reasons,
        usage=Usage(_count(usage, "prompt_tokens"), _count(usage, "completion_tokens")),
        model=body.get("model") or "",
    )


def _count(usage: Any, name: str) -> int:
    value = usage.get(name) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and value >= 0 else 0


def _choice_index(choice: Any) -> int:
    index = choice.get("index") if isinstance(choice, dict) else None
    return index if isinstance(index, int) else 0


def _snippet(body: Any) -> str:
    return json.dumps(body, default=str)[:200]


def _error_message(response: httpx.Response) -> str:
    """The server's own explanation: OpenAI's {"error": {"message"}}, or FastAPI's
    {"detail"}, or {"message"}, or the raw text."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        message = message or error or body.get("detail") or body.get("message")
    if message is None:
        message = response.text or response.reason_phrase
    if not isinstance(message, str):
        message = json.dumps(message, default=str)
    return message[:_MAX_ERROR_CHARS]


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait: OpenAI's `retry-after-ms`, else `Retry-After` as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
