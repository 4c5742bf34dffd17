"""The base of every LLM-driven step: prompt from a template, call the run's LLM, parse the reply.

A technique is four small things (distilabel-style): `inputs`/`outputs` (documented fields),
`format_input(record) -> messages` (usually just the bundled Jinja2 template), and
`format_output(reply, record) -> fields` (raise `ParseError` to drop the record with a
reason). Everything else, shared by all techniques, is here:

- one request per record and sample, with a per-record seed, through the run's shared client
  (cache, limiter, retries, budget);
- structured output when the technique declares `output_schema`;
- failures never lose a record: a request that gives up drops it with reason ``llm_error``
  (retried on the next run), an unparseable reply with ``parse_error`` and the raw text;
- `_lineage` records model, prompt-template hash and seed.

LLM sources (which invent records rather than transform them) use `LLMSource`; both share
`LLMCalls`.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import AsyncIterator
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from synthpipe.data.records import ID, LINEAGE, Batch, Record, add_lineage, drop
from synthpipe.llm.structured import StructuredOutput
from synthpipe.llm.types import ChatRequest, LLMError, Message, SamplingParams
from synthpipe.pipeline.step import MapStep, SourceStep, StepConfig, StepContext

PROMPTS = Path(__file__).parent / "prompts"
SYSTEM_MARK, USER_MARK = "=== system ===", "=== user ==="


class ParseError(Exception):
    """The reply cannot be turned into output fields; the record is dropped with this reason."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


class LLMTaskConfig(StepConfig):
    llm: str = Field("default", description="endpoint name from the recipe's `llms:` section")
    temperature: float = Field(0.7, ge=0, le=2, description="sampling temperature")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling")
    max_tokens: int = Field(512, ge=1, description="longest reply")
    template: str | None = Field(None, description="Jinja2 prompt file replacing the bundled one")
    max_parse_attempts: int = Field(3, ge=1, description="structured output: tries with the error fed back")


class LLMCalls:
    """Prompt rendering and LLM calls shared by map tasks and sources."""

    config: LLMTaskConfig
    template_file: ClassVar[str] = ""  # bundled template under generate/prompts/
    output_schema: ClassVar[type[BaseModel] | dict | None] = None
    uses_llm: ClassVar[bool] = True
    requests_per_record: ClassVar[float] = 1.0  # for --dry-run estimates (first attempts only)
    outputs_per_record: ClassVar[float] = 1.0  # records out per record in, for estimates

    def llm_names(self) -> list[str]:
        """Every endpoint this step calls (steps with judges or several candidates override it)."""
        return [self.config.llm]

    def estimate_requests(self, n_records: int | None) -> int:
        """Requests this step will make for `n_records` inputs (sources: ignore it)."""
        return math.ceil((n_records or 0) * self.requests_per_record)

    # -- prompts --------------------------------------------------------------------------
    @cached_property
    def template_text(self) -> str:
        path = Path(self.config.template) if self.config.template else PROMPTS / self.template_file
        return path.read_text(encoding="utf-8")

    @cached_property
    def template_hash(self) -> str:
        return hashlib.sha256(self.template_text.encode()).hexdigest()[:12]

    def render(self, **variables: Any) -> list[Message]:
        """Render the template; `=== system ===` / `=== user ===` lines split it into messages."""
        return render_messages(self.template_text, **variables)

    def input_files(self) -> list[Path]:
        return [Path(self.config.template)] if self.config.template else [PROMPTS / self.template_file]

    def fingerprint_extra(self, env: dict[str, Any]) -> Any:
        llm = (env.get("llms") or {}).get(self.config.llm)
        return {"llm": llm.identity() if llm is not None else self.config.llm}

    # -- calls ------------------------------------------------------------------------------
    def params(self, seed: int) -> SamplingParams:
        cfg = self.config
        return SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens, seed=seed)

    async def ask(self, ctx: StepContext, messages: list[Message], seed: int, sample: int = 0) -> tuple[Any, str]:
        """Return (reply, raw text): the parsed structure if `output_schema` is set, else the text.

        Raises LLMError when the request gives up, ParseError when the reply stays invalid.
        """
        client = ctx.llm(self.config.llm)
        request = ChatRequest(messages, self.params(seed))
        if self.output_schema is None:
            response = await client.chat(request, sample)
            text = response.texts[0] if response.texts else ""
            return text, text
        output = StructuredOutput(self.output_schema, type(self).__name__)
        value, raw, error = await client.structured(
            request, output, sample_index=sample, max_attempts=self.config.max_parse_attempts
        )
        if error is not None:
            raise ParseError("parse_error", f"{error}; raw reply: {raw[:1000]}")
        return value, raw

    def lineage(self, ctx: StepContext, seed: int) -> dict[str, Any]:
        return {"step": ctx.name, "technique": type(self).__name__, "template": self.template_hash, "seed": seed}


class LLMTask(LLMCalls, MapStep):
    """An LLM map step: one prompt per record (times `samples`), reply parsed into fields."""

    Config: ClassVar[type[StepConfig]] = LLMTaskConfig
    io_bound: ClassVar[bool] = True
    retry_reasons: ClassVar[frozenset[str]] = frozenset({"llm_error"})
    inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()

    def format_input(self, record: Record) -> list[Message]:
        return self.render(**record, config=self.config)

    def format_output(self, reply: Any, record: Record) -> dict[str, Any] | list[dict[str, Any]]:
        raise NotImplementedError

    async def aprocess(self, batch: Batch, ctx: StepContext) -> Batch:
        extra = await asyncio.gather(*(self._one(record, ctx) for record in batch))
        return batch + [r for more in extra for r in more]

    async def _one(self, record: Record, ctx: StepContext) -> list[Record]:
        """Fill `record` in place (or drop it); return extra records if the reply yields several."""
        missing = [f for f in self.inputs if record.get(f) in (None, "")]
        if missing:
            drop(record, ctx.name, "missing_input", f"empty or missing {missing}")
            return []
        seed = record_seed(ctx.seed, ctx.name, record.get(ID))
        try:
            reply, _raw = await self.ask(ctx, self.format_input(record), seed)
            fields = self.format_output(reply, record)
        except LLMError as exc:
            drop(record, ctx.name, "llm_error", str(exc)[:1000])
            return []
        except ParseError as exc:
            drop(record, ctx.name, exc.reason, exc.detail[:2000])
            return []
        return self._merge(record, fields, ctx, seed)

    def _merge(self, record: Record, fields: dict | list[dict], ctx: StepContext, seed: int) -> list[Record]:
        rows = fields if isinstance(fields, list) else [fields]
        if not rows:
            drop(record, ctx.name, "empty_output", "the reply produced no records")
            return []
        base = dict(record)
        record.update(rows[0])
        add_lineage(record, **{ctx.name: self.lineage(ctx, seed)})
        extra = []
        for k, row in enumerate(rows[1:], start=1):
            new = {**base, **row, ID: f"{record[ID]}~{k}", LINEAGE: dict(base.get(LINEAGE) or {})}  # own lineage dict
            extra.append(add_lineage(new, **{ctx.name: self.lineage(ctx, seed)}))
        return extra


class LLMSource(LLMCalls, SourceStep):
    """An LLM source: invents records in async rounds (`aread`)."""

    Config: ClassVar[type[StepConfig]] = LLMTaskConfig

    async def aread(self, ctx: StepContext) -> AsyncIterator[Batch]:  # type: ignore[override]
        raise NotImplementedError
        yield []


def render_messages(template_text: str, **variables: Any) -> list[Message]:
    """Render a Jinja2 prompt (StrictUndefined) into chat messages; see `split_messages`."""
    return split_messages(_compile(template_text).render(**variables))


def load_prompt(name: str) -> str:
    """A bundled prompt template by file name (generate/prompts/<name>)."""
    return (PROMPTS / name).read_text(encoding="utf-8")


@lru_cache(maxsize=256)
def _compile(template_text: str) -> Any:
    from jinja2 import Environment, StrictUndefined

    env = Environment(undefined=StrictUndefined, keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template_text)  # compiled once per template text, not per record


def record_seed(run_seed: int, step: str, record_id: Any, sample: int = 0) -> int:
    """A stable per-record seed: same run seed, step and record -> same request, same cache entry."""
    digest = hashlib.sha256(f"{run_seed}|{step}|{record_id}|{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def split_messages(text: str) -> list[Message]:
    """Split rendered template text on `=== system ===` / `=== user ===` marker lines."""
    if SYSTEM_MARK not in text and USER_MARK not in text:
        return [{"role": "user", "content": text.strip()}]
    messages: list[Message] = []
    role, lines = None, []
    for line in text.splitlines():
        marker = line.strip()
        if marker in (SYSTEM_MARK, USER_MARK):
            if role and "".join(lines).strip():
                messages.append({"role": role, "content": "\n".join(lines).strip()})
            role, lines = ("system" if marker == SYSTEM_MARK else "user"), []
        else:
            lines.append(line)
    if role and "".join(lines).strip():
        messages.append({"role": role, "content": "\n".join(lines).strip()})
    return messages
