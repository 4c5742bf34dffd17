"""Rejection sampling: ask the generator for k candidates, keep those a verifier accepts.

The STaR / RFT pattern: STaR (Zelikman et al. 2022, "STaR: Bootstrapping Reasoning With
Reasoning") keeps a model's own rationales that reach the right answer; RFT (Yuan et al.
2023, "Scaling Relationship on Learning Mathematical Reasoning with Large Language Models")
samples k reasoning paths per problem and keeps the distinct correct ones. Here the verifier
is any synthpipe verify step (``verify_math``, ``verify_code``, ``verify_tool_calls``,
``verify_reasoning_gym``, or a plug-in), configured inline; it sees the k candidates as k
records and its drops are the rejections, with its reasons.

Input: ``question_field`` plus whatever the verifier reads (gold answer, tests...).
Output: ``candidate_field`` (the kept candidate), ``rejection_sampling``: ``{tried, passed,
pass_rate, reasons}`` (reasons of the rejected candidates); with ``keep: all|distinct`` one
record per kept candidate (ids ``<id>~j``). A problem with no verified candidate is dropped
with reason ``no_verified_candidate`` (detail: the rejection reasons); one whose k requests all
failed is dropped with ``llm_error`` and retried on the next run.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from functools import cached_property
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from synthpipe.data.records import DROP, ID, Record, drop
from synthpipe.errors import UsageError
from synthpipe.generate.task import LLMTask, LLMTaskConfig, ParseError, drop_failed, record_seed
from synthpipe.llm.types import LLMError
from synthpipe.pipeline.registry import get_step_class, register_step
from synthpipe.pipeline.step import MapStep, Step, StepContext

#: Config keys through which known verifiers read the candidate; the step points them at
#: `candidate_field` unless the verifier config sets them.
CANDIDATE_KEYS = ("candidate_field", "code_field", "calls_field")
_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


class RejectionSamplingConfig(LLMTaskConfig):
    k: int = Field(4, ge=1, le=64, description="candidates sampled per record")
    temperature: float = Field(0.8, ge=0, le=2, description="sampling temperature (diverse candidates)")
    max_tokens: int = Field(768, ge=1, description="longest candidate")
    question_field: str = Field("question", description="field with the problem")
    candidate_field: str = Field("candidate", description="field that receives the kept candidate")
    verifier: dict[str, Any] = Field(
        {"step": "verify_math"},
        description="the verify step and its config, e.g. {step: verify_math, gold_field: final_answer}",
    )
    kind: Literal["math", "code", "plan", "text"] = Field(
        "math",
        description="bundled prompt and candidate parsing: math (#### answer), code (```python block), "
        "plan (one action per line, for verify_plan), text (the math prompt, the reply as it is)",
    )
    keep: Literal["first", "distinct", "all"] = Field(
        "first", description="kept candidates per record: the first verified, every distinct one (RFT), or all"
    )

    @field_validator("verifier")
    @classmethod
    def _names_a_step(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value.get("step"), str):
            raise ValueError("verifier needs `step:` naming a verify step, e.g. {step: verify_math}")
        return value


@register_step("rejection_sampling")
class RejectionSampling(LLMTask):
    """Samples k candidates per record and keeps those the configured verifier accepts (STaR / RFT).

    The verifier is any verify step, configured inline; it sees the k candidates as k records
    and its drops are the rejections. With ``keep: all|distinct`` there is one record per kept
    candidate (ids ``<id>~j``).

    Input columns: `question_field` (default ``question``), plus the fields the verifier reads
    (e.g. `gold_field`).
    Output columns: `candidate_field` (default ``candidate``), ``rejection_sampling``
    (``{tried, passed, pass_rate, reasons}``).
    Drop reasons: ``no_verified_candidate`` (detail: the rejection reasons),
    ``missing_input``, ``llm_error`` (all k requests failed; retried on the next run),
    ``truncated`` (all k replies cut at max_tokens).
    References: Zelikman et al. (2022), "STaR: Bootstrapping Reasoning With Reasoning",
    arXiv:2203.14465; Yuan et al. (2023), "Scaling Relationship on Learning Mathematical
    Reasoning with Large Language Models", arXiv:2308.01825 (RFT).
    """

    Config = RejectionSamplingConfig
    verifies = True  # drops are verification failures: the audit reports its pass rate
    config: RejectionSamplingConfig
    template_file: ClassVar[str] = "rejection_sampling_math.jinja2"
    inputs: ClassVar[tuple[str, ...]] = ("question",)
    outputs: ClassVar[tuple[str, ...]] = ("candidate", "rejection_sampling")
    drop_reasons = ("no_verified_candidate", "missing_input", "llm_error", "truncated")

    def __init__(self, config=None, /, **kwargs):
        super().__init__(config, **kwargs)
        self.requests_per_record = float(self.config.k)
        _ = self.verifier  # build it now: a bad verifier config fails at load time

    def template_roles(self) -> dict[str, str]:
        kind = self.config.kind if self.config.kind != "text" else "math"
        return {self.main_role: f"rejection_sampling_{kind}.jinja2"}

    @cached_property
    def verifier(self) -> Step:
        spec = dict(self.config.verifier)
        cls = get_step_class(spec.pop("step"))
        if cls.kind != "map":
            raise UsageError(f"rejection_sampling: verifier {cls.registry_name!r} is a {cls.kind} step; "
                             "it must be a map/filter step such as verify_math")  # fmt: skip
        for key in CANDIDATE_KEYS:
            if key in cls.Config.model_fields and key not in spec:
                spec[key] = self.config.candidate_field
        try:
            return cls(**spec)
        except Exception as exc:  # pydantic: name the nested key
            raise UsageError(f"rejection_sampling.verifier: {exc}") from None

    def fingerprint_extra(self, env: dict[str, Any]) -> Any:
        return {**super().fingerprint_extra(env), "verifier": self.verifier.fingerprint("", 0, env)}

    def input_columns(self) -> set[str]:
        """The question and what the verifier reads besides the candidate (e.g. the gold answer)."""
        verifier = self.verifier.input_columns() or set()
        return {*self.inputs, *(verifier - {self.config.candidate_field})}

    def input_files(self):
        return [*super().input_files(), *self.verifier.input_files()]

    def format_input(self, record: Record):
        return self.render(question=record.get(self.inputs[0]), record=record, config=self.config)

    def parse(self, text: str) -> str:
        if self.config.kind == "code":
            blocks = _FENCE.findall(text)
            if not blocks:
                raise ParseError("no_code", "the reply has no ```python block")
            return blocks[-1].strip("\n")
        return text.strip()

    async def _one(self, record: Record, ctx: StepContext) -> list[Record]:
        if self.drop_if_missing(record, ctx):
            return []
        messages = self.format_input(record)
        seeds = [record_seed(ctx.seed, ctx.name, record.get(ID), j) for j in range(self.config.k)]
        replies = await asyncio.gather(*(self._sample(ctx, messages, s, j) for j, s in enumerate(seeds)))
        candidates = [r for r in replies if isinstance(r, str)]
        errors = [r for r in replies if not isinstance(r, str)]
        if not candidates and errors and all(isinstance(e, LLMError) for e in errors):
            drop_failed(record, ctx.name, errors[0])
            return []
        verdicts = await asyncio.to_thread(self._verify, record, candidates, ctx)
        return self._keep(record, candidates, verdicts, errors, seeds[0], ctx)

    async def _sample(self, ctx: StepContext, messages, seed: int, j: int) -> str | Exception:
        try:
            reply, _ = await self.ask(ctx, messages, seed, sample=j)
            return self.parse(reply)
        except (LLMError, ParseError) as exc:
            return exc

    def _verify(self, record: Record, candidates: list[str], ctx: StepContext) -> list[dict | None]:
        """The verifier's drop per candidate (None = accepted), run on k copies of the record."""
        if not candidates:
            return []
        rows = [{**record, self.config.candidate_field: c, DROP: None} for c in candidates]
        vctx = StepContext(name=ctx.name, seed=ctx.seed, batch_size=len(rows), run_dir=ctx.run_dir)
        if type(self.verifier).process is MapStep.process:  # an async-only verifier
            out = asyncio.run(self.verifier.aprocess(rows, vctx))
        else:
            out = self.verifier.process(rows, vctx)
        return [r.get(DROP) for r in out]

    def _keep(self, record, candidates, verdicts, errors, seed, ctx) -> list[Record]:
        k = self.config.k
        reasons = Counter(v["reason"] for v in verdicts if v)
        reasons.update(getattr(e, "reason", "llm_error") for e in errors)
        passed = [c for c, v in zip(candidates, verdicts, strict=True) if not v]
        stats = {"tried": k, "passed": len(passed), "pass_rate": len(passed) / k, "reasons": dict(reasons)}
        if not passed:
            record["rejection_sampling"] = stats
            drop(record, ctx.name, "no_verified_candidate", ", ".join(f"{r} x{n}" for r, n in reasons.most_common()))
            return []
        kept = self._select(passed)
        fields = [{self.config.candidate_field: c, "rejection_sampling": stats} for c in kept]
        return self.finish(record, fields, ctx, seed)

    def _select(self, passed: list[str]) -> list[str]:
        if self.config.keep == "first":
            return passed[:1]
        if self.config.keep == "all":
            return passed
        seen, out = set(), []
        for c in passed:  # distinct after whitespace normalisation
            key = " ".join(c.split())
            if key not in seen:
                seen.add(key)
                out.append(c)
        return out

