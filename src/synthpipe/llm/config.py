"""How a recipe describes an LLM endpoint and the run's spending cap."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from synthpipe.llm.local_models import model_requirements

#: optional modules each backend imports (see `synthpipe.importing`); checked when a pipeline is built
BACKEND_REQUIRES: dict[str, tuple[str, ...]] = {
    "openai": (),
    "anthropic": (),
    "transformers": ("torch", "transformers"),
    "vllm": ("vllm",),
}
#: how to get vLLM: the extra alone is not enough
VLLM_HINT = "it needs a GPU and `pip install synthpipe[vllm]`"
#: HTTP backends and an example base_url for each
_HTTP_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com/v1"}


class LLMConfig(BaseModel):
    """One endpoint. The API key is never here: only the name of the variable that holds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: Literal["openai", "anthropic", "transformers", "vllm"] = Field("openai", description="which backend serves it")
    model: str = Field(description="model name (openai/vllm) or local model directory (transformers)")
    base_url: str | None = Field(
        None, description="base URL, e.g. http://localhost:8000/v1 (openai) or https://api.anthropic.com/v1 (anthropic)"
    )
    api_key_env: str | None = Field(None, description="name of the environment variable holding the API key")
    max_concurrency: int = Field(16, ge=1, description="requests in flight at once, shared by every step")
    requests_per_minute: float | None = Field(None, gt=0, description="rate limit shared by every step")
    tokens_per_minute: float | None = Field(None, gt=0, description="token rate limit (prompt + max_tokens)")
    timeout_s: float = Field(60.0, gt=0, description="per-request timeout")
    max_retries: int = Field(5, ge=0, description="retries after the first attempt for retryable errors")
    backoff_base_s: float = Field(0.5, ge=0, description="first backoff; doubles each retry, with jitter")
    backoff_max_s: float = Field(30.0, ge=0, description="longest backoff between attempts")
    truncation_retry_factor: float = Field(
        2.0,
        ge=1,
        description="a reply cut at max_tokens (finish_reason length) is asked again once with max_tokens "
        "times this; cut again, its record drops as `truncated`. 1 = no second try",
    )
    response_format: Literal["auto", "json_schema", "json_object", "none"] = Field(
        "auto", description="how to ask for structured output; auto = json_schema, falling back to prompting"
    )
    tool_calling: Literal["native", "prompt"] = Field(
        "native",
        description="how requests with tools are asked: native = the server's `tools` API (openai; the other "
        "backends have none and always prompt); prompt = the tools described in the system prompt and "
        "<tool_call> tags parsed from the reply (Hermes/Qwen style), for servers without tool calling",
    )
    price_per_1k_input: float = Field(0.0, ge=0, description="cost per 1,000 prompt tokens (for the budget)")
    price_per_1k_output: float = Field(0.0, ge=0, description="cost per 1,000 completion tokens")
    price_per_1k_input_batch: float | None = Field(
        None, ge=0, description="batch mode: cost per 1,000 prompt tokens; unset = the online price (never under-counts)"
    )
    price_per_1k_output_batch: float | None = Field(
        None, ge=0, description="batch mode: cost per 1,000 completion tokens; unset = the online price"
    )
    # batch mode (openai / anthropic): requests go through the provider's batch API
    mode: Literal["online", "batch"] = Field("online", description="online: one request each; batch: the batch API")
    batch_max_lines: int = Field(
        10_000, ge=1, le=50_000, description="a batch is sent once this many requests wait (providers cap 50k / 100k)"
    )
    batch_flush_s: float = Field(2.0, gt=0, description="...or once no new request arrived for this long")
    batch_poll_s: float = Field(10.0, gt=0, description="first wait between status polls; grows 1.5x per poll")
    batch_poll_max_s: float = Field(120.0, gt=0, description="longest wait between status polls")
    batch_retry: Literal["batch", "online"] = Field(
        "batch", description="where failed, expired or canceled batch lines are asked again"
    )
    batch_max_retries: int = Field(2, ge=0, description="retries of a failed batch line; then the record drops (llm_error)")
    anthropic_version: str = Field("2023-06-01", description="anthropic: the anthropic-version header")
    # local backends
    device: str = Field("cpu", description="transformers/vllm: cpu, cuda, cuda:0 ...")
    batch_size: int = Field(8, ge=1, description="transformers/vllm: requests generated together")
    dtype: str = Field("auto", description="transformers: torch dtype (auto, float32, bfloat16 ...)")

    @model_validator(mode="after")
    def _openai_needs_url(self) -> LLMConfig:
        if self.backend in _HTTP_URLS and not self.base_url:
            raise ValueError(f"backend {self.backend!r} needs base_url (e.g. {_HTTP_URLS[self.backend]})")
        if self.mode == "batch" and self.backend not in _HTTP_URLS:
            raise ValueError(f"mode 'batch' needs backend 'openai' or 'anthropic', not {self.backend!r}")
        return self

    def requirements(self) -> tuple[str, ...]:
        """Optional modules this endpoint's backend needs (a GGUF model also needs gguf)."""
        if self.backend == "transformers":
            return model_requirements(self.model)
        return BACKEND_REQUIRES[self.backend]

    def identity(self) -> dict[str, str]:
        """What makes two endpoints answer alike: enters cache keys and step fingerprints."""
        return {"backend": self.backend, "model": self.model}

    def cost(self, prompt_tokens: int, completion_tokens: int, *, batch: bool = False) -> float:
        """What the tokens cost; `batch`: at the batch rate (the online one where none is set)."""
        price_in, price_out = self.price_per_1k_input, self.price_per_1k_output
        if batch:
            price_in = price_in if self.price_per_1k_input_batch is None else self.price_per_1k_input_batch
            price_out = price_out if self.price_per_1k_output_batch is None else self.price_per_1k_output_batch
        return prompt_tokens / 1000 * price_in + completion_tokens / 1000 * price_out


class BudgetConfig(BaseModel):
    """A run's spending cap; cached responses are free and never count."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_requests: int | None = Field(None, ge=0, description="stop after this many paid requests")
    max_tokens: int | None = Field(None, ge=0, description="stop after this many paid tokens (in + out)")
    max_cost: float | None = Field(None, ge=0, description="stop after this cost (see price_per_1k_*)")
