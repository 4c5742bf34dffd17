"""LLM-as-a-judge: rubric scores for one response, and position-debiased pairwise verdicts.

Cite: Lianmin Zheng, Wei-Lin Chiang, Ying Sheng, et al. 2023. "Judging LLM-as-a-Judge with
MT-Bench and Chatbot Arena". NeurIPS 2023 Datasets and Benchmarks. arXiv:2306.05685.

Two steps, both following the paper's two grading modes:

``judge_score`` (:class:`PointwiseJudge`, "single-answer grading")
    Input fields: ``instruction`` and ``response`` (names configurable), optionally ``input``
    (the task's input, shown after the instruction) and a ``reference`` answer
    (reference-guided grading, which the paper recommends for math and reasoning).
    The judge rates the response on each rubric criterion (default: helpfulness, correctness,
    harmlessness, clarity) from 1 to ``scale`` (default 10), writing a short rationale before
    each score, then gives an overall score. The reply is structured output (a JSON object
    validated by a pydantic model built from the rubric).
    Output fields: ``judge_scores`` ({criterion: int}), ``judge_score`` (float: the judge's
    overall score, or the mean of the criteria with ``overall: mean``), ``judge_rationale``
    (str: one line per criterion plus the overall rationale). With ``min_score`` set, records
    scoring below it are dropped with reason ``low_judge_score`` (their scores are kept on the
    dropped record).

``judge_pairwise`` (:class:`PairwiseJudge`, "pairwise comparison")
    Input fields: ``instruction``, ``response_a``, ``response_b`` (names configurable),
    optionally ``input`` and ``reference``.
    The judge is asked twice, with the responses in both orders (A, B) and (B, A), as two
    requests with different sample indexes; the paper's "swap positions" remedy for position
    bias. A verdict counts only if both orders agree; otherwise the result is a tie
    (``inconsistent: tie``, the paper's convention) or the record is dropped with reason
    ``inconsistent_judgement`` (``inconsistent: drop``).
    Output fields: ``winner`` ("a" | "b" | "tie"), ``judge_consistent`` (bool),
    ``judge_verdicts`` ([verdict in order (A, B), verdict in order (B, A)], both mapped back to
    "a" | "b" | "tie"), ``judge_rationales`` ([rationale (A, B), rationale (B, A)]).
    :func:`win_rate` summarises a set of judged records (ties count as half a win).

Deviations from the paper: verdicts and scores are JSON (structured output) instead of the
``[[A]]`` / ``[[rating]]`` text markers, so no regex scraping; the pointwise judge scores
several rubric criteria instead of one overall rating (the overall score is still there).
Judges sample at temperature 0 by default, as in the paper.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    create_model,
    field_validator,
    model_validator,
)

from synthpipe.data.records import DROP, ID, Record
from synthpipe.generate.parsing import coerce_int_score, coerce_score, normalize_keys
from synthpipe.generate.task import (
    LLMTask,
    LLMTaskConfig,
    ParseError,
    drop_failed,
    optional_text,
    record_seed,
)
from synthpipe.llm.types import LLMError, Message
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepContext

DEFAULT_RUBRIC: dict[str, str] = {
    "helpfulness": "Does the response address the user's request and actually help them, "
    "following every explicit instruction (format, length, audience)?",
    "correctness": "Is the content factually accurate and the reasoning sound, with no errors, "
    "made-up facts or wrong code?",
    "harmlessness": "Is the response free of harmful, unethical, biased or dangerous content, "
    "while not refusing a harmless request?",
    "clarity": "Is the response well organised, concise and easy to understand?",
}
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class _CriteriaBase(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        return normalize_keys(data, cls.model_fields)


class _JudgementBase(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: Any) -> Any:
        """Accept criteria at the top level (no "criteria" wrapper) and "overall": {...}."""
        if not isinstance(data, dict):
            return data
        data = normalize_keys(data, ("criteria", "overall_rationale", "overall_score", "overall"))
        if isinstance(data.get("criteria"), list):  # [{"criterion": "clarity", "score": 8, ...}]
            by_name = {}
            for item in data["criteria"]:
                if isinstance(item, dict):
                    name = item.get("criterion", item.get("name"))
                    by_name[str(name)] = {k: v for k, v in item.items() if k not in ("criterion", "name")}
            data = {**data, "criteria": by_name}
        if "criteria" not in data:
            criteria_fields = cls.model_fields["criteria"].annotation.model_fields  # type: ignore[union-attr]
            flat = normalize_keys(data, criteria_fields)
            data = {**data, "criteria": {k: v for k, v in flat.items() if k in criteria_fields}}
        overall = data.pop("overall", None)
        if isinstance(overall, dict):
            data.setdefault("overall_score", overall.get("score"))
            data.setdefault("overall_rationale", overall.get("rationale", ""))
        elif overall is not None:
            data.setdefault("overall_score", overall)
        return data


@lru_cache(maxsize=64)
def judgement_model(criteria: tuple[str, ...], scale: int) -> type[BaseModel]:
    """The structured-output schema of a pointwise judgement for this rubric and scale."""
    # the constraint before the validator, or the JSON schema shows "ge"/"le" instead of min/max
    score = Annotated[int, Field(ge=1, le=scale), BeforeValidator(coerce_int_score)]
    overall = Annotated[float, Field(ge=1, le=scale), BeforeValidator(coerce_score)]
    criterion = create_model(
        "CriterionScore",
        rationale=(str, Field(description="one or two sentences justifying the score")),
        score=(score, Field(description=f"integer from 1 (very poor) to {scale} (excellent)")),
    )
    block = create_model("Criteria", __base__=_CriteriaBase, **{c: (criterion, ...) for c in criteria})
    return create_model(
        "Judgement",
        __base__=_JudgementBase,
        criteria=(block, ...),
        overall_rationale=(str, Field("", description="why the overall score")),
        overall_score=(overall, Field(description=f"overall quality from 1 to {scale}")),
    )


# -- pointwise -------------------------------------------------------------------------------
class PointwiseJudgeConfig(LLMTaskConfig):
    rubric: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_RUBRIC),
        description="criterion -> what the judge checks; names are lower-case identifiers",
    )
    scale: int = Field(10, ge=2, le=100, description="scores run from 1 to this")
    overall: Literal["judge", "mean"] = Field(
        "judge", description="judge_score: the judge's own overall score, or the mean of the criteria"
    )
    min_score: float | None = Field(
        None, description="drop records whose judge_score is below this (reason low_judge_score)"
    )
    instruction_field: str = Field("instruction", description="field holding the user's request")
    input_field: str | None = Field("input", description="optional field with the task's input, shown if non-empty")
    response_field: str = Field("response", description="field holding the response to grade")
    reference_field: str | None = Field(
        None, description="optional field with a reference answer (reference-guided grading)"
    )
    temperature: float = Field(0.0, ge=0, le=2, description="sampling temperature (judges: 0)")
    max_tokens: int = Field(1024, ge=1, description="longest reply")

    @field_validator("rubric")
    @classmethod
    def _rubric(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("the rubric needs at least one criterion")
        for name, description in value.items():
            if not _NAME.match(name) or name in ("criteria", "overall", "overall_score", "overall_rationale"):
                raise ValueError(f"criterion name {name!r} must be a lower-case identifier like 'helpfulness'")
            if not str(description).strip():
                raise ValueError(f"criterion {name!r} needs a description")
        return value


@register_step("judge_score")
class PointwiseJudge(LLMTask):
    """Score each (instruction, response) on a rubric with an LLM judge (MT-Bench single grading).

    The judge rates each rubric criterion from 1 to `scale` with a rationale, then gives an
    overall score, as structured output.

    Input columns: `instruction_field` (default ``instruction``), `response_field` (default
    ``response``); `input_field` and `reference_field` are read when present.
    Output columns: ``judge_scores``, ``judge_score``, ``judge_rationale``.
    Drop reasons: ``low_judge_score`` (only with `min_score`), ``missing_input``,
    ``llm_error``, ``truncated``, ``parse_error``.
    References: Zheng et al. (2023), "Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena",
    NeurIPS 2023 Datasets and Benchmarks, arXiv:2306.05685.
    """

    Config = PointwiseJudgeConfig
    config: PointwiseJudgeConfig
    template_file: ClassVar[str] = "llm_judge_pointwise.jinja2"
    inputs: ClassVar[tuple[str, ...]] = ("instruction", "response")
    outputs: ClassVar[tuple[str, ...]] = ("judge_scores", "judge_score", "judge_rationale")
    drop_reasons = ("low_judge_score", "missing_input", "llm_error", "truncated", "parse_error")

    def __init__(self, config=None, /, **kwargs):
        super().__init__(config, **kwargs)
        cfg = self.config
        self.output_schema = judgement_model(tuple(cfg.rubric), cfg.scale)  # type: ignore[misc]

    def format_input(self, record: Record) -> list[Message]:
        cfg = self.config
        return self.render(
            instruction=str(record[cfg.instruction_field]).strip(),
            input=optional_text(record, cfg.input_field),
            response=str(record[cfg.response_field]).strip(),
            reference=optional_text(record, cfg.reference_field),
            rubric=[{"name": k, "description": v} for k, v in cfg.rubric.items()],
            scale=cfg.scale,
        )

    def format_output(self, reply: Any, record: Record) -> dict[str, Any]:
        cfg = self.config
        if not isinstance(reply, dict) or not isinstance(reply.get("criteria"), dict):
            raise ParseError("parse_error", f"unexpected judgement: {str(reply)[:500]}")
        criteria = reply["criteria"]
        scores = {name: int(criteria[name]["score"]) for name in cfg.rubric}
        if cfg.overall == "mean":
            overall = sum(scores.values()) / len(scores)
        else:
            overall = float(reply["overall_score"])
        lines = [f"{name} ({scores[name]}): {str(criteria[name]['rationale']).strip()}" for name in cfg.rubric]
        if str(reply.get("overall_rationale") or "").strip():
            lines.append(f"overall ({overall:g}): {reply['overall_rationale'].strip()}")
        return {"judge_scores": scores, "judge_score": round(overall, 4), "judge_rationale": "\n".join(lines)}

    def reject(self, record: Record) -> tuple[str, str] | None:
        threshold = self.config.min_score
        if threshold is not None and record["judge_score"] < threshold:
            return "low_judge_score", f"{record['judge_score']:g} < {threshold:g}"
        return None


# -- pairwise --------------------------------------------------------------------------------
def _norm_verdict(value: Any) -> Any:
    """"A", "[[A]]", "Assistant A", "response_b", "C", "tie", "draw", "equal" -> A | B | tie."""
    if not isinstance(value, str):
        return value
    text = re.sub(r"[\[\]\"'*.()]", " ", value).strip().lower()
    text = re.sub(r"^(assistant|response|answer|output)[\s_-]*", "", text).strip()
    if text in ("a", "1", "first"):
        return "A"
    if text in ("b", "2", "second"):
        return "B"
    if text in ("c", "tie", "draw", "equal", "both", "neither", "none", "same"):
        return "tie"
    return value


class PairwiseVerdict(BaseModel):
    rationale: str = Field(description="compare the two responses before deciding")
    verdict: Annotated[Literal["A", "B", "tie"], BeforeValidator(_norm_verdict)] = Field(
        description='"A" if response A is better, "B" if response B is better, "tie" if equal'
    )

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        data = normalize_keys(data, ("rationale", "verdict"))
        if isinstance(data, dict) and "verdict" not in data:
            for alias in ("winner", "final_verdict", "better", "choice"):
                if alias in data:
                    data = {**data, "verdict": data[alias]}
                    break
        if isinstance(data, dict) and "rationale" not in data:
            for alias in ("explanation", "reasoning", "reason"):
                if alias in data:
                    data = {**data, "rationale": data[alias]}
                    break
        return data


class PairwiseJudgeConfig(LLMTaskConfig):
    instruction_field: str = Field("instruction", description="field holding the user's request")
    input_field: str | None = Field("input", description="optional field with the task's input, shown if non-empty")
    response_a_field: str = Field("response_a", description="field holding the first response")
    response_b_field: str = Field("response_b", description="field holding the second response")
    reference_field: str | None = Field(
        None, description="optional field with a reference answer (reference-guided comparison)"
    )
    inconsistent: Literal["tie", "drop"] = Field(
        "tie", description="verdicts that change when the order is swapped: count as a tie, or drop the record"
    )
    temperature: float = Field(0.0, ge=0, le=2, description="sampling temperature (judges: 0)")
    max_tokens: int = Field(1024, ge=1, description="longest reply")


@register_step("judge_pairwise")
class PairwiseJudge(LLMTask):
    """Which of two responses is better, asked in both orders to cancel position bias.

    A verdict counts only if both orders agree; otherwise it is a tie (``inconsistent: tie``)
    or the record is dropped (``inconsistent: drop``).

    Input columns: `instruction_field` (default ``instruction``), `response_a_field`,
    `response_b_field`; `input_field` and `reference_field` are read when present.
    Output columns: ``winner``, ``judge_consistent``, ``judge_verdicts``, ``judge_rationales``.
    Drop reasons: ``inconsistent_judgement`` (only with ``inconsistent: drop``),
    ``missing_input``, ``llm_error``, ``truncated``, ``parse_error``.
    References: Zheng et al. (2023), "Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena",
    NeurIPS 2023 Datasets and Benchmarks, arXiv:2306.05685.
    """

    Config = PairwiseJudgeConfig
    config: PairwiseJudgeConfig
    template_file: ClassVar[str] = "llm_judge_pairwise.jinja2"
    output_schema: ClassVar[type[BaseModel]] = PairwiseVerdict
    inputs: ClassVar[tuple[str, ...]] = ("instruction", "response_a", "response_b")
    requests_per_record: ClassVar[float] = 2.0  # both orders
    outputs: ClassVar[tuple[str, ...]] = ("winner", "judge_consistent", "judge_verdicts", "judge_rationales")
    drop_reasons = ("inconsistent_judgement", "missing_input", "llm_error", "truncated", "parse_error")

    def format_input(self, record: Record, swapped: bool = False) -> list[Message]:
        cfg = self.config
        a, b = str(record[cfg.response_a_field]).strip(), str(record[cfg.response_b_field]).strip()
        first, second = (b, a) if swapped else (a, b)
        return self.render(
            instruction=str(record[cfg.instruction_field]).strip(),
            input=optional_text(record, cfg.input_field),
            reference=optional_text(record, cfg.reference_field),
            response_a=first,
            response_b=second,
        )

    @staticmethod
    def map_verdict(verdict: str, swapped: bool) -> str:
        """The judge's positional verdict as the record's side: A/B in the shown order -> a/b."""
        if verdict == "tie":
            return "tie"
        first = verdict == "A"
        return ("b" if first else "a") if swapped else ("a" if first else "b")

    def format_output(self, reply: Any, record: Record) -> dict[str, Any]:
        """`reply` is the pair of parsed verdicts [(A, B) order, (B, A) order]."""
        (first, second) = reply
        verdicts = [self.map_verdict(first["verdict"], False), self.map_verdict(second["verdict"], True)]
        consistent = verdicts[0] == verdicts[1]
        return {
            "winner": verdicts[0] if consistent else "tie",
            "judge_consistent": consistent,
            "judge_verdicts": verdicts,
            "judge_rationales": [str(first["rationale"]).strip(), str(second["rationale"]).strip()],
        }

    async def _one(self, record: Record, ctx: StepContext) -> list[Record]:
        if self.drop_if_missing(record, ctx, blank=True):
            return []
        seed = record_seed(ctx.seed, ctx.name, record.get(ID))
        try:
            replies = await asyncio.gather(
                *(
                    self.ask(ctx, self.format_input(record, swapped), record_seed(ctx.seed, ctx.name, record.get(ID), k), k)
                    for k, swapped in enumerate((False, True))
                )
            )
            fields = self.format_output([value for value, _raw in replies], record)
        except (LLMError, ParseError) as exc:
            drop_failed(record, ctx.name, exc)
            return []
        return self.finish(record, fields, ctx, seed)

    def reject(self, record: Record) -> tuple[str, str] | None:
        if not record["judge_consistent"] and self.config.inconsistent == "drop":
            return "inconsistent_judgement", f"verdicts by order: {record['judge_verdicts']}"
        return None


def win_rate(records: Iterable[Record], side: Literal["a", "b"] = "a") -> dict[str, Any]:
    """Wins, losses and ties of `side` over judged records; ties count as half a win.

    Records that were dropped or carry no ``winner`` are counted as ``skipped``.
    """
    wins = losses = ties = consistent = skipped = 0
    for record in records:
        winner = record.get("winner")
        if record.get(DROP) is not None or winner not in ("a", "b", "tie"):
            skipped += 1
            continue
        consistent += bool(record.get("judge_consistent", True))
        if winner == "tie":
            ties += 1
        elif winner == side:
            wins += 1
        else:
            losses += 1
    n = wins + losses + ties
    return {
        "side": side,
        "n": n,
        "wins": wins,
        "losses": losses,
        "ties": ties,
        "win_rate": round((wins + 0.5 * ties) / n, 4) if n else None,
        "consistency": round(consistent / n, 4) if n else None,
        "skipped": skipped,
    }

