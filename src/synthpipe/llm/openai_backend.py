"""Any OpenAI-compatible chat completions server (OpenAI, vLLM serve, llama.cpp, TGI, ...) over aiohttp.

One call is one attempt; every failure is mapped onto RetryableError / FatalError so the
client around the backend can decide whether to retry."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
import time
import urllib.request
from collections.abc import AsyncGenerator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from yarl import URL

from synthpipe.llm.backend import LLMBackend
from synthpipe.llm.config import LLMConfig
from synthpipe.llm.types import (
    ChatRequest,
    ChatResponse,
    ConnectError,
    FatalError,
    RetryableError,
    UnsupportedResponseFormat,
    Usage,
)

_MAX_ERROR_CHARS = 500
_RETRYABLE_STATUS = {408, 409, 429}
# Words servers use when they reject structured output (OpenAI, vLLM, TGI, llama.cpp).
_RESPONSE_FORMAT_WORDS = ("response_format", "json_schema", "guided")
# Idle connections are dropped before the server's keep-alive ends (uvicorn, so vLLM and
# TGI's OpenAI layer: 5 s), so a request rarely lands on a connection the server is closing.
_KEEPALIVE_S = 4.0


class OpenAIBackend(LLMBackend):
    supports_response_format = True
    supports_tools = True

    def __init__(self, config: LLMConfig):
        super().__init__(config)
        if not config.base_url:
            raise ValueError("OpenAIBackend needs config.base_url")
        self.base_url = config.base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        try:  # parsed once, not per request; a bad URL fails at request time, as FatalError
            self._target: URL | str = URL(self.url)
        except (ValueError, TypeError):
            self._target = self.url
        # A ClientSession is bound to the loop it was made in, and the executor may run
        # several loops in turn (one asyncio.run per segment): keep sessions per loop.
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._closers: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
        self._ssl_context: ssl.SSLContext | None = None
        self._proxy: dict[str, Any] = {}  # post() arguments, read from the environment per session

    # -- the one attempt -------------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> ChatResponse:
        api_key = self._api_key()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        session = await self._session()
        error: Exception | None = None
        try:
            async with session.post(
                self._target, json=self._payload(request), headers=headers, allow_redirects=False, **self._proxy
            ) as response:
                body = await response.read()
        except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
            error = self._request_error(exc)
        # Raised outside the except block: aiohttp errors can carry the request, headers and key included.
        if error is not None:
            raise error
        if not 200 <= response.status < 300:
            raise self._status_error(response, body, request, api_key)
        return _parse_completion(body)

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
        if request.tools is not None:
            payload["tools"] = request.tools
            if request.tool_choice is not None:
                payload["tool_choice"] = request.tool_choice
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

    def _request_error(self, exc: aiohttp.ClientError | OSError) -> Exception:
        if isinstance(exc, TimeoutError):  # aiohttp's own timeouts subclass it too
            return RetryableError(f"timeout after {self.config.timeout_s}s ({type(exc).__name__}) from {self.url}")
        if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
            return FatalError(f"cannot call {self.url}: {type(exc).__name__}: {self._scrub(str(exc))}")
        if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS: retried, but an
            # endpoint no request ever reached stops the run (LLMClient)
            return ConnectError(f"cannot connect to {self.url}: {self._scrub(_connect_cause(exc))}")
        # Resets, server disconnects, truncated or undecodable bodies: try again.
        return RetryableError(f"{type(exc).__name__} talking to {self.url}: {self._scrub(str(exc))}")

    def _scrub(self, text: str) -> str:
        """aiohttp's proxy errors name the proxy URL, password included."""
        proxy = self._proxy.get("proxy")
        if proxy is not None:
            for secret in {proxy.raw_password, proxy.password} - {None, ""}:
                text = text.replace(secret, "***")
        return text

    def _status_error(
        self, response: aiohttp.ClientResponse, body: bytes, request: ChatRequest, api_key: str | None
    ) -> Exception:
        status = response.status
        detail = _error_message(body, response.reason)
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

    # -- sessions per event loop -----------------------------------------------------------

    async def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            self._forget_closed_loops()
            session = self._sessions[loop] = self._new_session()
            self._closers[loop] = closer = _close_at_loop_shutdown(session)
            # Run it to its `yield`: the loop now tracks it, and asyncio.run's
            # shutdown_asyncgens() closes the session while the loop can still do I/O.
            await anext(closer)
        return session

    def _new_session(self) -> aiohttp.ClientSession:
        https = self.url.lower().startswith("https:")
        if https and self._ssl_context is None:  # shared: loading CA bundles costs ~20 ms each
            self._ssl_context = _default_ssl_context()
        connector = aiohttp.TCPConnector(
            limit=self.config.max_concurrency,
            keepalive_timeout=_KEEPALIVE_S,
            ssl=self._ssl_context if https else True,
        )
        self._proxy = _env_proxy(self.url)
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
            headers={"User-Agent": "synthpipe"},
        )

    def _forget_closed_loops(self) -> None:
        # Their sessions were closed at loop shutdown (or cannot be closed any more).
        for loop in [lp for lp in self._sessions if lp.is_closed()]:
            self._sessions.pop(loop, None)
            self._closers.pop(loop, None)

    async def aclose(self) -> None:
        """Close this loop's session; those of other, finished loops are dropped."""
        loop = asyncio.get_running_loop()
        session = self._sessions.pop(loop, None)
        closer = self._closers.pop(loop, None)
        if closer is not None:
            await closer.aclose()
        elif session is not None:
            await session.close()
        self._forget_closed_loops()


async def _close_at_loop_shutdown(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await session.close()  # closes every connection's transport


def _default_ssl_context() -> ssl.SSLContext:
    """The system's CAs (or SSL_CERT_FILE / SSL_CERT_DIR when set), plus certifi's bundle
    when importable: what the backend trusted before it moved to aiohttp."""
    context = ssl.create_default_context()
    if not (os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")):
        with contextlib.suppress(ImportError, OSError, ssl.SSLError):
            import certifi

            context.load_verify_locations(certifi.where())
    return context


def _env_proxy(url: str) -> dict[str, Any]:
    """HTTP(S)_PROXY / ALL_PROXY unless NO_PROXY covers the host, as post() arguments: read
    once per session, as the backend did before it moved to aiohttp. Not aiohttp's
    trust_env, which looks them (and a .netrc) up in a thread on every request."""
    proxies = urllib.request.getproxies_environment()
    if not proxies:
        return {}
    try:
        target = URL(url)
        if target.host and urllib.request.proxy_bypass_environment(target.host, proxies):
            return {}
        proxy = proxies.get(target.scheme) or proxies.get("all")
        if not proxy:
            return {}
        proxy_url = URL(proxy if "://" in proxy else f"http://{proxy}")
    except ValueError:  # a bad base_url fails at request time, as FatalError
        return {}
    # Credentials stay in the URL: aiohttp turns them into Proxy-Authorization, on plain
    # requests and CONNECTs alike (its proxy_headers reach only CONNECTs).
    return {"proxy": proxy_url}


def _connect_cause(exc: aiohttp.ClientConnectorError) -> str:
    """Why the connection failed, in the words a user searches for."""
    cause = exc.os_error
    if isinstance(cause, ConnectionRefusedError):
        return f"connection refused by {exc.host}:{exc.port}"
    if isinstance(exc, aiohttp.ClientConnectorDNSError) or isinstance(cause, socket.gaierror):
        return f"DNS lookup of {exc.host!r} failed ({cause.strerror or cause})"
    return f"{type(exc).__name__}: {exc}"


def _parse_completion(raw: bytes) -> ChatResponse:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        text = raw[:200].decode("utf-8", errors="replace")
        raise RetryableError(f"malformed response: not JSON ({exc}): {text!r}") from None
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices:
        raise RetryableError(f"malformed response: no choices in {_snippet(body)}")
    texts: list[str] = []
    finish_reasons: list[str | None] = []
    tool_calls: list[list[dict[str, Any]]] = []
    for choice in sorted(choices, key=_choice_index):
        message = choice.get("message") if isinstance(choice, dict) else None
        # content may be absent when the message calls tools (some servers leave it out)
        if not isinstance(message, dict) or ("content" not in message and not message.get("tool_calls")):
            raise RetryableError(f"malformed response: choice without message.content in {_snippet(body)}")
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise RetryableError(f"malformed response: non-string content in {_snippet(body)}")
        texts.append(content or "")
        finish_reasons.append(choice.get("finish_reason"))
        tool_calls.append(_tool_calls(message.get("tool_calls"), body))
    usage = body.get("usage") or {}
    return ChatResponse(
        texts=texts,
        finish_reasons=finish_reasons,
        usage=Usage(_count(usage, "prompt_tokens"), _count(usage, "completion_tokens")),
        model=body.get("model") or "",
        tool_calls=tool_calls if any(tool_calls) else [],
    )


def _tool_calls(calls: Any, body: Any) -> list[dict[str, Any]]:
    """OpenAI `message.tool_calls`, normalised: `arguments` as JSON text (some servers send an
    object). Names and arguments are not judged here: that is the trajectory verifier's job."""
    if calls is None:
        return []
    if not isinstance(calls, list) or not all(isinstance(c, dict) and isinstance(c.get("function"), dict) for c in calls):
        raise RetryableError(f"malformed response: tool_calls is not a list of function calls in {_snippet(body)}")
    normalised = []
    for k, call in enumerate(calls):
        function = call["function"]
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
        normalised.append({
            "id": str(call.get("id") or f"call_{k}"),
            "type": "function",
            "function": {"name": function.get("name"), "arguments": arguments},
        })  # fmt: skip
    return normalised


def _count(usage: Any, name: str) -> int:
    value = usage.get(name) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and value >= 0 else 0


def _choice_index(choice: Any) -> int:
    index = choice.get("index") if isinstance(choice, dict) else None
    return index if isinstance(index, int) else 0


def _snippet(body: Any) -> str:
    return json.dumps(body, default=str)[:200]


def _error_message(raw: bytes, reason: str | None) -> str:
    """The server's own explanation: OpenAI's {"error": {"message"}}, or FastAPI's
    {"detail"}, or {"message"}, or the raw text."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        body = None
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        message = message or error or body.get("detail") or body.get("message")
    if message is None:
        message = raw.decode("utf-8", errors="replace") or reason or ""
    if not isinstance(message, str):
        message = json.dumps(message, default=str)
    return message[:_MAX_ERROR_CHARS]


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: OpenAI's `retry-after-ms`, else `Retry-After` as seconds or an HTTP date.

    `headers` must look names up case-insensitively (aiohttp's CIMultiDictProxy does)."""
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
