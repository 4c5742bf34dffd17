"""Anthropic's Messages API (`POST /v1/messages`) over aiohttp, with the OpenAI backend's
sessions, proxies and error mapping.

What differs from chat completions: the key goes in `x-api-key` with an `anthropic-version`
header; system messages go in a separate `system` field; `max_tokens` is required; a reply is
a list of content blocks; `stop_reason: max_tokens` is a cut reply (finish reason "length");
usage is `input_tokens` / `output_tokens`. One request is one sample: `n > 1` is refused
(steps ask for several samples with distinct sample indexes instead). Structured output is
prompted (no server-side schema).

Reference: https://docs.anthropic.com/en/api/messages (request and response shapes),
https://docs.anthropic.com/en/api/versioning (the anthropic-version header).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from synthpipe.llm.config import LLMConfig
from synthpipe.llm.openai_backend import OpenAIBackend
from synthpipe.llm.types import ChatRequest, ChatResponse, FatalError, RetryableError, Usage

#: Anthropic stop reasons, as chat-completions finish reasons (what ChatResponse.truncated reads)
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


class AnthropicBackend(OpenAIBackend):
    supports_response_format = False

    def __init__(self, config: LLMConfig):
        super().__init__(config)
        self.url = f"{self.base_url}/messages"
        self._target = self.url

    def headers(self) -> dict[str, str]:
        """The headers every Anthropic call carries (the key read at call time)."""
        headers = {"anthropic-version": self.config.anthropic_version}
        if key := self._api_key():
            headers["x-api-key"] = key
        return headers

    async def chat(self, request: ChatRequest) -> ChatResponse:
        params = message_params(self.config, request)
        headers = self.headers()
        session = await self._session()
        error: Exception | None = None
        try:
            async with session.post(
                self._target, json=params, headers=headers, allow_redirects=False, **self._proxy
            ) as response:
                body = await response.read()
        except (aiohttp.ClientError, OSError) as exc:
            error = self._request_error(exc)
        if error is not None:  # outside the except block: aiohttp errors can carry the headers
            raise error
        if not 200 <= response.status < 300:
            raise self._status_error(response, body, request, headers.get("x-api-key"))
        try:
            message = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RetryableError(f"malformed response from {self.url}: not JSON ({exc})") from None
        return parse_message(message)


def message_params(config: LLMConfig, request: ChatRequest) -> dict[str, Any]:
    """The Messages API body for `request` (also a batch line's `params`)."""
    if request.n != 1:
        raise FatalError(f"backend 'anthropic' answers one sample per request, not n={request.n}")
    system = "\n\n".join(m["content"] for m in request.messages if m.get("role") == "system")
    p = request.params
    params: dict[str, Any] = {
        "model": config.model,
        "max_tokens": p.max_tokens,
        "messages": [m for m in request.messages if m.get("role") != "system"],
        "temperature": min(p.temperature, 1.0),  # Anthropic's range is [0, 1]
    }
    if p.top_p < 1.0:
        params["top_p"] = p.top_p
    if system:
        params["system"] = system
    if p.stop:
        params["stop_sequences"] = list(p.stop)
    return params


def parse_message(message: Any) -> ChatResponse:
    """A Messages API reply as a ChatResponse; a body that is not one is retryable."""
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        raise RetryableError(f"malformed response: no content blocks in {json.dumps(message, default=str)[:200]}")
    text = "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    usage = message.get("usage") or {}
    stop = message.get("stop_reason")
    return ChatResponse(
        texts=[text],
        finish_reasons=[_FINISH.get(stop, stop)],
        usage=Usage(_count(usage, "input_tokens"), _count(usage, "output_tokens")),
        model=message.get("model") or "",
    )


def _count(usage: Any, name: str) -> int:
    value = usage.get(name) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and value >= 0 else 0
