"""Instruction back-translation (Humpback): label unlabelled text with the instruction it
answers, then keep only the pairs the model itself rates highly.

Xian Li, Ping Yu, Chunting Zhou, Timo Schick, Omer Levy, Luke Zettlemoyer, Jason Weston,
Mike Lewis. 2024. "Self-Alignment with Instruction Backtranslation". ICLR 2024.
arXiv:2308.06259.

Two steps, one per stage of the paper:

``backtranslate`` (`InstructionBacktranslation`), *self-augmentation*
    Input: ``text`` (an unlabelled document or answer, e.g. a human-written reply). Output:
    ``instruction`` (the predicted user instruction) and ``output`` (the text itself). A reply
    that is empty after cleaning, or longer than `max_instruction_words`, drops the record with
    ``parse_error``.

``self_curate`` (`SelfCurate`), *self-curation*
    Input: ``instruction``, ``output``. Output: ``quality_score`` (1-5, the paper's scale),
    ``quality_reason`` (the rater's reasoning). The prompt paraphrases the paper's rubric
    (1 = incomplete / off-topic / web excerpt ... 5 = perfect AI-assistant answer) and asks for
    a reasoning followed by ``Score: <rating>``, as in the paper. Pairs scoring below
    `threshold` (default 4, the paper's A_4 set; 5 gives A_5) are dropped with ``low_quality``
    and the score in the detail; a reply with no score drops with ``parse_error``.

Deviations from the paper: the backward model M_yx is not fine-tuned on seed (output,
instruction) pairs; an instruction-tuned model is prompted zero-shot to predict the
instruction. Curation is done once with the same prompted model (the paper iterates: curate,
fine-tune, curate again with the better model). The paper's segment filtering of web text
(ClueWeb headers, length and deduplication heuristics) is left to other curate steps.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from synthpipe.data.records import Record
from synthpipe.generate.parsing import (
    parse_score,
    strip_label,
    strip_preamble,
    strip_quotes,
    unwrap_fence,
)
from synthpipe.generate.task import LLMTask, LLMTaskConfig, ParseError
from synthpipe.llm.types import Message
from synthpipe.pipeline.registry import register_step

_LABEL = re.compile(
    r"(?:predicted |reconstructed |user(?:'s)? )?(?:instruction|question|prompt|request|user|query)(?: \d+)?"
)
_PREAMBLE = re.compile(
    r"^\s*(?:sure|certainly|of course|okay|ok|here(?:'s| is)|the (?:user'?s? )?(?:instruction|request) (?:was|is)|"
    r"a (?:likely|possible|plausible) instruction)[^\n]*?[:：]\s*\n",
    re.IGNORECASE,
)
_TRAILER = re.compile(r"\n\s*(?:\*\*|__)?(?:response|answer|output|assistant)\s*(?:\*\*|__)?\s*[:：].*$", re.IGNORECASE | re.DOTALL)


# -- self-augmentation -------------------------------------------------------------------
class BacktranslateConfig(LLMTaskConfig):
    max_instruction_words: int = Field(
        300, ge=1, description="drop predicted instructions longer than this (a sign the model answered instead)"
    )
    max_tokens: int = Field(256, ge=1, description="longest reply")


@register_step("backtranslate")
class InstructionBacktranslation(LLMTask):
    """Predict the instruction an unlabelled text answers (Humpback self-augmentation).

    An instruction-tuned model is prompted zero-shot (the paper fine-tunes a backward model;
    see the module docstring).

    Input columns: ``text`` (an unlabelled document or answer).
    Output columns: ``instruction`` (the predicted instruction), ``output`` (the text itself).
    Drop reasons: ``parse_error`` (an empty instruction, or one longer than
    `max_instruction_words`), ``missing_input``, ``llm_error``, ``truncated``.
    References: Li et al. (2024), "Self-Alignment with Instruction Backtranslation", ICLR 2024,
    arXiv:2308.06259.
    """

    Config = BacktranslateConfig
    config: BacktranslateConfig
    template_file = "humpback_backtranslate.jinja2"
    inputs = ("text",)
    outputs = ("instruction", "output")
    drop_reasons = ("parse_error", "missing_input", "llm_error", "truncated")

    def format_input(self, record: Record) -> list[Message]:
        return self.render(text=str(record["text"]), config=self.config)

    def format_output(self, reply: Any, record: Record) -> dict[str, Any]:
        instruction = clean_instruction(str(reply))
        if not instruction:
            raise ParseError("parse_error", f"no instruction in the reply: {reply!r}"[:1000])
        words = len(instruction.split())
        if words > self.config.max_instruction_words:
            raise ParseError(
                "parse_error", f"instruction of {words} words > {self.config.max_instruction_words}: {instruction[:300]!r}"
            )
        return {"instruction": instruction, "output": str(record["text"])}


def clean_instruction(reply: str) -> str:
    """The instruction in a reply: no code fence, preamble, label, trailing response, or quotes."""
    text = strip_preamble(unwrap_fence(reply), _PREAMBLE)
    text = strip_label(text, _LABEL)
    return strip_quotes(_TRAILER.sub("", text).strip())


# -- self-curation -----------------------------------------------------------------------
class SelfCurateConfig(LLMTaskConfig):
    threshold: float = Field(4, ge=1, le=5, description="keep pairs scoring at least this (paper: 4 or 5)")
    instruction_field: str = Field("instruction", description="field holding the instruction")
    output_field: str = Field("output", description="field holding the answer to rate")
    temperature: float = Field(0.0, ge=0, le=2, description="sampling temperature (0: a deterministic rater)")
    max_tokens: int = Field(384, ge=1, description="longest reply (reasoning + score line)")


@register_step("self_curate")
class SelfCurate(LLMTask):
    """Rate (instruction, output) pairs on the paper's 5-point scale; keep >= threshold.

    The rater gives its reasoning, then ``Score: <rating>``, as in the paper.

    Input columns: `instruction_field` (default ``instruction``), `output_field` (default
    ``output``).
    Output columns: ``quality_score`` (1-5), ``quality_reason``.
    Drop reasons: ``low_quality`` (detail: the score), ``parse_error`` (no score in the
    reply), ``missing_input``, ``llm_error``, ``truncated``.
    References: Li et al. (2024), "Self-Alignment with Instruction Backtranslation", ICLR 2024,
    arXiv:2308.06259.
    """

    Config = SelfCurateConfig
    config: SelfCurateConfig
    template_file = "humpback_curate.jinja2"
    inputs = ("instruction", "output")
    outputs = ("quality_score", "quality_reason")
    drop_reasons = ("low_quality", "parse_error", "missing_input", "llm_error", "truncated")

    def format_input(self, record: Record) -> list[Message]:
        return self.render(
            instruction=str(record[self.config.instruction_field]),
            output=str(record[self.config.output_field]),
            config=self.config,
        )

    def format_output(self, reply: Any, record: Record) -> dict[str, Any]:
        score, reason = parse_score(str(reply), scale=5)
        return {"quality_score": score, "quality_reason": reason}

    def reject(self, record: Record) -> tuple[str, str] | None:
        score = record.get("quality_score")
        if score is not None and score < self.config.threshold:
            return "low_quality", f"score {score} < {self.config.threshold:g}"
        return None

