"""The base of every LLM-driven step: prompt from a template, call the run's LLM, parse the reply.

A technique is four small things (distilabel-style): `inputs`/`outputs` (documented fields),
`format_input(record) -> messages` (usually just the bundled Jinja2 template), and
`format_output(reply, record) -> fields` (raise `ParseError` to drop the record with a
reason; `reject(record)` may drop it after its fields are merged). Everything else, shared by
all techniques, is here:

- one request per record and sample, with a per-record seed, through the run's shared client
  (cache, limiter, retries, budget);
- structured output when the technique declares `output_schema`;
- failures never lose a record: a request that gives up drops it with reason ``llm_error``
  (retried on the next run), an unparseable reply with ``parse_error`` and the raw text, a
  reply cut at max_tokens also when asked again with a larger budget with ``truncated``
  (detail: tokens and limit; the client's `truncation_retry_factor`);
- `_lineage` records model, prompt-template hash and seed;
- several prompt templates by role (`template_files`, `render_role`), several output schemas,
  endpoints and sampling overrides per call (`ask(..., schema=, llm=, temperature=...)`).

Reply parsers shared by the techniques (lists, fences, scores, verdicts) are in `parsing`.

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

from synthpipe.data.records import ID, LINEAGE, Batch, Record, add_lineage, drop, is_dropped
from synthpipe.errors import UsageError
from synthpipe.llm.structured import StructuredOutput
from synthpipe.llm.types import ChatRequest, LLMError, Message, SamplingParams, TruncatedReply
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


class MultiTemplateConfig(LLMTaskConfig):
    """Options of a step with several prompt templates (see `LLMCalls.template_files`)."""

    templates: dict[str, str] = Field(
        {},
        description="replace bundled prompt files by role, e.g. {instance: my_instance.jinja2} "
        "(`template` replaces the main role's file)",
    )


class LLMCalls:
    """Prompt rendering and LLM calls shared by map tasks and sources.

    Templates, by role: `template_file` is the main role's (`main_role`) bundled template,
    `template_files` maps further roles to theirs. The config replaces a role's file with
    `templates[role]` (where the config has `templates`), a field `<role>_template` (e.g.
    `user_template`), or, for the main role, `template`. `template_hash` covers every role's
    template and `input_files()` lists them all, so editing any prompt invalidates checkpoints.

    Endpoints: `llm_names()` lists every endpoint the step calls (override it for judges,
    simulated users or several candidate endpoints); `fingerprint_extra` records the identity of
    each, and `ask(..., llm=name)` calls one of them.
    """

    config: LLMTaskConfig
    template_file: ClassVar[str] = ""  # bundled template of the main role, under generate/prompts/
    template_files: ClassVar[dict[str, str]] = {}  # further roles: role -> bundled template
    main_role: ClassVar[str] = "main"
    output_schema: ClassVar[type[BaseModel] | dict | None] = None
    uses_llm: ClassVar[bool] = True
    requests_per_record: ClassVar[float] = 1.0  # for --dry-run estimates (first attempts only)
    outputs_per_record: ClassVar[float] = 1.0  # records out per record in, for estimates

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.check_template_roles()

    def llm_names(self) -> list[str]:
        """Every endpoint this step calls (steps with judges or several candidates extend it)."""
        return [self.config.llm]

    def estimate_requests(self, n_records: int | None) -> int:
        """Requests this step will make for `n_records` inputs (sources: ignore it)."""
        return math.ceil((n_records or 0) * self.requests_per_record)

    # -- prompts --------------------------------------------------------------------------
    def template_roles(self) -> dict[str, str]:
        """Role -> bundled template file, the main role first."""
        return {self.main_role: self.template_file, **self.template_files}

    def check_template_roles(self) -> None:
        """Raise UsageError if the config's `templates` names a role the step does not have."""
        roles = self.template_roles()
        unknown = sorted(set(getattr(self.config, "templates", None) or {}) - set(roles))
        if unknown:
            raise UsageError(
                f"{type(self).__name__}: unknown template role(s) {unknown}; roles are {sorted(roles)}"
            )

    def template_path(self, role: str) -> Path:
        """The template file of `role`: the config's replacement, else the bundled file."""
        cfg = self.config
        override = (getattr(cfg, "templates", None) or {}).get(role) or getattr(cfg, f"{role}_template", None)
        if not override and role == self.main_role:
            override = cfg.template
        return Path(override) if override else PROMPTS / self.template_roles()[role]

    @cached_property
    def template_texts(self) -> dict[str, str]:
        """Role -> template text, read once per step instance."""
        return {role: self.template_path(role).read_text(encoding="utf-8") for role in self.template_roles()}

    @property
    def template_text(self) -> str:
        """The main role's template text."""
        return self.template_texts[self.main_role]

    @cached_property
    def template_hash(self) -> str:
        """One hash over every template of the step (it enters `_lineage`)."""
        texts = self.template_texts
        if len(texts) == 1:
            return text_hash(next(iter(texts.values())))
        return text_hash("".join(f"{role}\0{texts[role]}\0" for role in sorted(texts)))

    def render_role(self, role: str, **variables: Any) -> list[Message]:
        """Render the template of `role` into messages (see `render_messages`)."""
        return render_messages(self.template_texts[role], **variables)

    def render(self, **variables: Any) -> list[Message]:
        """Render the main template; `=== system ===` / `=== user ===` lines split it into messages."""
        return self.render_role(self.main_role, **variables)

    def input_files(self) -> list[Path]:
        return [self.template_path(role) for role in self.template_roles()]

    def fingerprint_extra(self, env: dict[str, Any]) -> Any:
        """The identity (backend, model...) of every endpoint in `llm_names()`.

        Raises UsageError if `env` defines endpoints but not one this step uses.
        """
        llms = env.get("llms") or {}
        names = list(dict.fromkeys(self.llm_names()))
        for name in names:
            if llms and name not in llms:  # fail at plan time, not mid-run
                raise UsageError(
                    f"{type(self).__name__}: {self._llm_field(name)} {name!r} is not defined "
                    f"(llms: {', '.join(llms)})"
                )
        return {"llms": {name: endpoint_identity(env, name) for name in names}}

    def _llm_field(self, name: str) -> str:
        """The config field naming endpoint `name`, for error messages."""
        for field, value in self.config:
            if (field == "llm" or field.endswith(("_llm", "_llms"))) and (
                value == name or (isinstance(value, list) and name in value)
            ):
                return field
        return "llm"

    # -- calls ------------------------------------------------------------------------------
    def params(self, seed: int) -> SamplingParams:
        cfg = self.config
        return SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens, seed=seed)

    async def ask(
        self,
        ctx: StepContext,
        messages: list[Message],
        seed: int,
        sample: int = 0,
        *,
        schema: type[BaseModel] | dict | type[str] | None = None,
        llm: str | None = None,
        **sampling_overrides: Any,
    ) -> tuple[Any, str]:
        """Return (reply, raw text): the parsed structure for a structured reply, else the text.

        `schema`: a pydantic model or JSON schema for a structured reply, `str` for plain text;
        default: the step's `output_schema`. `llm`: the endpoint (default `config.llm`).
        `sampling_overrides` replace the config's sampling parameters for this call
        (``temperature``, ``top_p``, ``max_tokens``, ``stop``).

        Raises LLMError when the request gives up (TruncatedReply when the reply stays cut at
        its token limit), ParseError when the reply stays invalid.
        """
        params = self.params(seed)
        if sampling_overrides:
            params = SamplingParams.model_validate({**params.model_dump(), **sampling_overrides})
        request = ChatRequest(messages, params)
        client = ctx.llm(llm or self.config.llm)
        if schema is None:
            schema, name = self.output_schema, type(self).__name__
        else:
            name = getattr(schema, "__name__", type(self).__name__)
        if schema is None or schema is str:
            response = await client.chat(request, sample)
            text = response.texts[0] if response.texts else ""
            return text, text
        output = StructuredOutput(schema, name)  # type: ignore[arg-type]
        value, raw, error = await client.structured(
            request, output, sample_index=sample, max_attempts=self.config.max_parse_attempts
        )
        if error is not None:
            raise ParseError("parse_error", f"{error}; raw reply: {raw[:1000]}")
        return value, raw

    def lineage(self, ctx: StepContext, seed: int) -> dict[str, Any]:
        return {"step": ctx.name, "technique": type(self).__name__, "template": self.template_hash, "seed": seed}


class LLMTask(LLMCalls, MapStep):
    """An LLM map step: one prompt per record (times `samples`), reply parsed into fields.

    `inputs` are the fields a record needs; where the config has an option `<input>_field`
    (e.g. `instruction_field`), that option names the field the input is read from instead.
    """

    Config: ClassVar[type[StepConfig]] = LLMTaskConfig
    io_bound: ClassVar[bool] = True
    retry_reasons: ClassVar[frozenset[str]] = frozenset({"llm_error"})
    inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.inputs = tuple(getattr(self.config, f"{name}_field", None) or name for name in type(self).inputs)  # type: ignore[misc]

    def input_columns(self) -> set[str]:
        """`inputs` under their configured names: a record without one drops with missing_input."""
        return set(self.inputs)

    def output_columns(self) -> set[str]:
        """`outputs`, also under the name a `<output>_field` option gives (either counts)."""
        renamed = (getattr(self.config, f"{name}_field", None) or name for name in self.outputs)
        return {*self.outputs, *renamed}

    def format_input(self, record: Record) -> list[Message]:
        return self.render(**record, config=self.config)

    def format_output(self, reply: Any, record: Record) -> dict[str, Any] | list[dict[str, Any]]:
        raise NotImplementedError

    async def aprocess(self, batch: Batch, ctx: StepContext) -> Batch:
        # return_exceptions: when one record stops the run (budget reached), requests already
        # sent for the others still finish and land in the cache instead of being paid twice
        results = await asyncio.gather(*(self._one(record, ctx) for record in batch), return_exceptions=True)
        flush_replies(ctx)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return batch + [r for more in results for r in more]

    def reject(self, record: Record) -> tuple[str, str] | None:
        """A filter on a record's merged output fields: (reason, detail) drops it, None keeps it."""
        return None

    def drop_if_missing(
        self, record: Record, ctx: StepContext, fields: tuple[str, ...] | list[str] | None = None, *, blank: bool = False
    ) -> bool:
        """Drop `record` with ``missing_input`` if a field of `fields` (default `inputs`) is None
        or "" (with `blank`, also a string of only whitespace); True if it was dropped."""
        empty = is_blank if blank else _is_empty
        missing = [f for f in (self.inputs if fields is None else fields) if empty(record.get(f))]
        if missing:
            drop(record, ctx.name, "missing_input", f"empty or missing {missing}")
        return bool(missing)

    def first_request(self, record: Record, ctx: StepContext) -> ChatRequest:
        """The first request made for `record` (prompt + per-record seed); --dry-run counts it too."""
        return ChatRequest(self.format_input(record), self.params(record_seed(ctx.seed, ctx.name, record.get(ID))))

    async def _one(self, record: Record, ctx: StepContext) -> list[Record]:
        """Fill `record` in place (or drop it); return extra records if the reply yields several."""
        if self.drop_if_missing(record, ctx):
            return []
        request = self.first_request(record, ctx)
        seed = request.params.seed
        try:
            reply, _raw = await self.ask(ctx, request.messages, seed)
            fields = self.format_output(reply, record)
        except (LLMError, ParseError) as exc:
            drop_failed(record, ctx.name, exc)
            return []
        return self.finish(record, fields, ctx, seed)

    def finish(self, record: Record, fields: dict | list[dict], ctx: StepContext, seed: int) -> list[Record]:
        """Merge the output fields into `record` (a list: extra records), then apply `reject`."""
        extra = self._merge(record, fields, ctx, seed)
        for row in (record, *extra):
            if not is_dropped(row) and (problem := self.reject(row)) is not None:
                drop(row, ctx.name, *problem)
        return extra

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


def flush_replies(ctx: StepContext) -> None:
    """Write the replies buffered for the response cache in one transaction: a step calls it
    at the end of each batch (the cache also flushes on its own, by count and time)."""
    flush = getattr(ctx.resources, "flush", None)  # absent on Ray proxies: the pool actor flushes
    if flush is not None:
        flush()


def render_messages(template_text: str, **variables: Any) -> list[Message]:
    """Render a Jinja2 prompt (StrictUndefined) into chat messages; see `split_messages`."""
    return split_messages(_compile(template_text).render(**variables))


def text_hash(text: str) -> str:
    """The short content hash recorded for prompt templates."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def endpoint_identity(env: dict[str, Any], name: str) -> Any:
    """What fingerprints record for endpoint `name`: its identity, or the name if undefined."""
    llm = (env.get("llms") or {}).get(name)
    return llm.identity() if llm is not None else name


def failure(exc: LLMError | ParseError) -> tuple[str, str]:
    """(drop reason, detail) for a request that gave up (``llm_error``), a reply cut at its
    token limit (``truncated``) or an unusable reply."""
    if isinstance(exc, ParseError):
        return exc.reason, exc.detail[:2000]
    if isinstance(exc, TruncatedReply):
        return TruncatedReply.reason, str(exc)[:1000]
    return "llm_error", str(exc)[:1000]


def drop_failed(record: Record, step: str, exc: LLMError | ParseError) -> Record:
    """Drop `record` for a failed request or reply (see `failure`)."""
    return drop(record, step, *failure(exc))


def judged(reason: str, problems: list[str], explanation: Any = None) -> tuple[str, str] | None:
    """A `reject` result: (reason, the problems and the judge's explanation), or None if no problem."""
    if not problems:
        return None
    return reason, "; ".join(problems) + (f" ({explanation})" if explanation else "")


def optional_text(record: Record, field: str | None) -> str:
    """The stripped text of an optional field (e.g. a task's `input`); "" if unset or absent."""
    value = record.get(field) if field else None
    return "" if value is None else str(value).strip()


def is_blank(value: Any) -> bool:
    """None, or a string of only whitespace."""
    return value is None or (isinstance(value, str) and not value.strip())


def _is_empty(value: Any) -> bool:
    return value is None or value == ""


def load_prompt(name: str) -> str:
    """A bundled prompt template by file name (generate/prompts/<name>)."""
    return (PROMPTS / name).read_text(encoding="utf-8")


@lru_cache(maxsize=256)
def _compile(template_text: str) -> Any:
    from jinja2 import Environment, StrictUndefined

    env = Environment(undefined=StrictUndefined, keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(template_text)  # compiled once per template text, not per record
    # Jinja merges its globals (a ChainMap) into every render's context; iterating a ChainMap
    # is 2/3 of a small render. This private environment's globals never change: flatten once.
    template.globals = dict(template.globals)
    return template


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


class SimulatedUserTask(LLMTask):
    """An LLM task whose conversations add a simulated user on its own endpoint: the config's
    `user_llm`, by default the same endpoint as `llm` (dialogue, tool-use trajectories)."""

    @property
    def user_llm(self) -> str:
        return self.config.user_llm or self.config.llm

    def llm_names(self) -> list[str]:
        return list(dict.fromkeys([self.config.llm, self.user_llm]))
