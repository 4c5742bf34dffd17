"""The nouns of LLM access: requests, responses, usage, and the errors backends raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from synthpipe.errors import SynthpipeError, UsageError

# {"role": "system" | "user" | "assistant" | "tool", "content": "..."}; an assistant message may
# carry "tool_calls" (content None), a tool message "tool_call_id" (OpenAI chat format)
Message = dict[str, Any]
# {"id", "type": "function", "function": {"name", "arguments": JSON text}} (OpenAI tool_calls)
ToolCall = dict[str, Any]


class SamplingParams(BaseModel):
    """Sampling parameters; part of the cache key, so equal params mean equal requests."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    temperature: float = Field(0.7, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(512, ge=1)
    stop: tuple[str, ...] | None = None
    seed: int | None = Field(None, description="per-request seed sent to servers that honour it")


@dataclass
class ChatRequest:
    messages: list[Message]
    params: SamplingParams = field(default_factory=SamplingParams)
    n: int = 1  # samples in one request
    response_format: dict[str, Any] | None = None  # OpenAI-style {"type": "json_schema", ...}
    tools: list[dict[str, Any]] | None = None  # OpenAI `tools` (function schemas) the model may call
    tool_choice: str | dict[str, Any] | None = None  # "auto" | "none" | "required" | {"type": "function", ...}


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)


@dataclass
class ChatResponse:
    texts: list[str]  # one per sample
    finish_reasons: list[str | None] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    cached: bool = False  # served from the response cache (cost nothing)
    tool_calls: list[list[ToolCall]] = field(default_factory=list)  # per sample; [] = no sample called a tool

    def calls(self, sample: int = 0) -> list[ToolCall]:
        """The tool calls of one sample ([] when it answered in text)."""
        return self.tool_calls[sample] if sample < len(self.tool_calls) else []

    def message(self, sample: int = 0) -> Message:
        """One sample as an OpenAI assistant message: content None and `tool_calls` when it called tools."""
        text = self.texts[sample] if sample < len(self.texts) else ""
        calls = self.calls(sample)
        if not calls:
            return {"role": "assistant", "content": text}
        return {"role": "assistant", "content": text or None, "tool_calls": calls}

    @property
    def truncated(self) -> bool:
        """A sample stopped at its token limit (finish_reason "length", as OpenAI, vLLM, TGI,
        llama.cpp and the local backends say it). An unknown reason (None, or a cache entry
        written before finish reasons were stored) counts as not truncated, and so does
        "tool_calls" (the model stopped to call a tool)."""
        return "length" in self.finish_reasons

    def to_json(self) -> dict[str, Any]:
        return {
            "texts": self.texts,
            "finish_reasons": self.finish_reasons,
            "usage": {"prompt_tokens": self.usage.prompt_tokens, "completion_tokens": self.usage.completion_tokens},
            "model": self.model,
            # only when some sample called a tool: entries without calls keep their old shape
            **({"tool_calls": self.tool_calls} if any(self.tool_calls) else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], cached: bool = False) -> ChatResponse:
        return cls(
            texts=list(data["texts"]),
            # entries cached before finish reasons were stored have none: unknown, not truncated
            finish_reasons=list(data.get("finish_reasons") or []),
            usage=Usage(**data.get("usage", {})),
            model=data.get("model", ""),
            cached=cached,
            tool_calls=[list(calls) for calls in data.get("tool_calls") or []],
        )


class LLMError(Exception):
    """One failed attempt. `retryable` says whether trying again can help."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after  # seconds, from the server's Retry-After header


class RetryableError(LLMError):
    """429, 5xx, connection resets, timeouts, a truncated or non-JSON body."""

    retryable = True


class ConnectError(RetryableError):
    """No connection could be made (refused, DNS failure, TLS handshake): the server saw nothing."""


class TruncatedReply(LLMError):
    """The reply stopped at its token limit, also when asked again with a larger budget.
    Steps drop the record with reason ``truncated`` (kept, it would be a cut answer)."""

    reason = "truncated"

    def __init__(
        self, message: str, *, tokens: int | None = None, limit: int | None = None, text: str | None = None, **kwargs: Any
    ):
        super().__init__(message, **kwargs)
        self.tokens = tokens  # completion tokens of the last reply
        self.limit = limit  # the max_tokens it stopped at
        self.text = text  # the cut reply: a list step may keep its complete items


class FatalError(LLMError):
    """400/401/403/404 and the like: retrying the same request cannot succeed."""


class BudgetExceeded(SynthpipeError):
    """The run's request/token/cost cap is reached; the run stops and can be resumed."""

    exit_code = 3


class EndpointUnreachable(UsageError):
    """Every request to an endpoint failed to connect before any reached it: the run stops
    (a wrong base_url or a server that is not running would drop every record)."""


class UnsupportedResponseFormat(FatalError):
    """The server rejected `response_format`; the client falls back to prompt + parse + validate."""
