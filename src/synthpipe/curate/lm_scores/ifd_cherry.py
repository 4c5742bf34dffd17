"""``ifd``: Instruction-Following Difficulty (Li et al., "From Quantity to Quality", Cherry LLM).

IFD(Q, A) = s(A | Q) / s(A), where s is the mean token cross-entropy of the response A under a
causal LM: s(A | Q), the *conditioned answer score*, reads the instruction Q first; s(A), the
*direct answer score*, reads the response without it. A low IFD means the instruction makes
the response much easier to predict (the pair is easy for the model); the paper trains on the
records with the highest IFD. IFD > 1 means the instruction does not help at all, which the
paper takes as a sign the pair is misaligned and leaves out before ranking: `max_ifd: 1`
does that here; the default keeps every record and only writes the score.

Prompt format (`prompt_format`). The paper scores with the prompt format its model was
trained on (Alpaca's, or WizardLM's "### Response:" form), and its code scores the direct
answer after the bare response marker, ``<s>### Response:`` + A. Here:

- ``chat`` (default): the conditioned context is the model's own chat template with the
  instruction as the user turn and the generation prompt (for SmolLM2-Instruct: its default
  system prompt, the user turn, ``<|im_start|>assistant\\n``); the direct context is the start
  token plus the template's assistant header alone. That is the native format of an instruct
  model like the default SmolLM2-135M-Instruct, the analogue of the paper's choice. A
  tokenizer without a chat template gets ``user: ...`` / ``assistant:`` lines (as in the
  transformers backend) and ``assistant:`` as the marker;
- ``alpaca``: the paper's Alpaca prompt (with the ``### Input:`` variant when `input_field`
  holds text) and ``### Response:`` as the marker, as in the paper's code; for base models;
- ``plain``: the instruction and a newline; the direct context is the start token alone.

Both scores cover exactly the same response tokens: the response is tokenized once, on its
own, and appended to either context (the paper's code tokenizes the joined text instead, so
a token can straddle the boundary). A record longer than `max_length` tokens keeps the start
of its response (at least half the room) and the end of its prompt, in both scores.

The instruction is `instruction_field`, or `instruction_template` rendered from the record's
fields with Python's ``str.format`` (``"Write a question whose answer is a {label}"`` for
classification data, where the record holds a text and its label), which replaces
`instruction_field` when set; `input_field`, when set and non-empty, is added after it.
"""

from __future__ import annotations

import math
import string
from typing import Any, Literal

from pydantic import Field, field_validator

from synthpipe.curate.filters.fields import read_text
from synthpipe.curate.lm_scores.losses import Pair, ScoringModel, fit
from synthpipe.curate.lm_scores.step_base import (
    LMScoreConfig,
    LMScoreStep,
    check_range,
    note_truncated,
    out_of_range,
)
from synthpipe.data.records import Batch, Record, drop, is_dropped
from synthpipe.llm.transformers_backend import render_prompt
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepConfig, StepContext

# The Alpaca prompts, as in the paper's code (cherry_seletion/data_analysis.py)
ALPACA_PROMPT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)
ALPACA_INPUT_PROMPT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
ALPACA_MARKER = "### Response:"
PromptFormat = Literal["chat", "alpaca", "plain"]


class IFDConfig(LMScoreConfig):
    instruction_field: str = Field("instruction", description="field holding the instruction")
    instruction_template: str | None = Field(
        None,
        description="replaces instruction_field: the instruction rendered from the record's "
        "fields with str.format, e.g. 'Write a question whose answer is a {label}'",
    )
    input_field: str | None = Field(
        None, description="optional field with the task's input, added after the instruction"
    )
    response_field: str = Field("response", description="field holding the response")
    prompt_format: PromptFormat = Field(
        "chat", description="chat (the model's template), alpaca (the paper's), plain"
    )
    output_field: str = Field("ifd", description="field the IFD score is written to")
    conditioned_loss_field: str | None = Field(
        None, description="also write s(A|Q), the response's loss after the instruction"
    )
    direct_loss_field: str | None = Field(
        None, description="also write s(A), the response's loss without it"
    )
    max_ifd: float | None = Field(
        None, gt=0, description="drop records above this (the paper: 1, reason high_ifd)"
    )
    min_ifd: float | None = Field(
        None, ge=0, description="drop records below this (reason low_ifd)"
    )

    @field_validator("instruction_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                names = template_fields(value)
            except ValueError as exc:
                raise ValueError(
                    f"instruction_template {value!r} is not a str.format template: {exc}"
                ) from None
            if not names:
                raise ValueError(
                    "instruction_template names no field: use {field} for a record's field"
                )
        return value


@register_step("ifd")
class InstructionFollowingDifficulty(LMScoreStep):
    """Writes each pair's Instruction-Following Difficulty: the response's loss with / without its instruction.

    IFD = s(A|Q) / s(A), mean token cross-entropies of the response under a local causal LM
    (default the ``smollm2-135m`` preset). See the module docstring for the prompt formats
    (default: the model's chat template) and truncation.

    Input columns: `response_field` (default ``response``) and `instruction_field` (default
    ``instruction``) or the fields `instruction_template` names; `input_field` when set.
    Output columns: `output_field` (float, default ``ifd``); `conditioned_loss_field` and
    `direct_loss_field` when set (float, nats).
    Drop reasons: ``high_ifd`` (above `max_ifd`), ``low_ifd`` (below `min_ifd`; details: the
    value and the bound), ``missing_text``, ``not_text`` (instruction, input or response),
    ``empty_text`` (blank instruction or response).
    References: Li et al. (2024), "From Quantity to Quality: Boosting LLM Performance with
    Self-Guided Data Selection for Instruction Tuning", NAACL 2024, arXiv:2308.12032
    (github.com/tianyi-lab/Cherry_LLM).
    """

    Config = IFDConfig
    config: IFDConfig
    drop_reasons = ("high_ifd", "low_ifd", "missing_text", "not_text", "empty_text")

    def __init__(self, config: StepConfig | dict[str, Any] | None = None, /, **kwargs: Any):
        super().__init__(config, **kwargs)
        cfg = self.config
        check_range(cfg.min_ifd, cfg.max_ifd, "ifd")

    def input_columns(self) -> set[str]:
        cfg = self.config
        asked = (
            template_fields(cfg.instruction_template)
            if cfg.instruction_template
            else {cfg.instruction_field}
        )
        return {*asked, cfg.response_field}

    def output_columns(self) -> set[str]:
        cfg = self.config
        return {
            f for f in (cfg.output_field, cfg.conditioned_loss_field, cfg.direct_loss_field) if f
        }

    def process(self, batch: Batch, ctx: StepContext) -> Batch:
        texts = [
            (record, pair) for record in batch if (pair := self._texts(record, ctx)) is not None
        ]
        if not texts:
            return batch
        model = self.scorer()
        prompts = PromptBuilder(model, self.config.prompt_format, self.start_ids(model))
        limit = self.max_tokens(model)
        scored, conditioned, direct, cut = [], [], [], 0
        for record, (question, extra, answer) in texts:
            pairs = prompts.pairs(question, extra, answer, limit)
            if pairs is None:
                drop(record, ctx.name, "empty_text", "no response token to score")
                continue
            scored.append(record)
            conditioned.append(pairs[0])
            direct.append(pairs[1])
            cut += pairs[2]
        note_truncated(ctx, cut, len(scored), limit, "the start of the response")
        size = self.config.batch_size  # two runs: conditioned passes share their prompt's prefix
        pairs = zip(model.losses(conditioned, size), model.losses(direct, size), strict=True)
        for record, (with_instruction, alone) in zip(scored, pairs, strict=True):
            self._write(record, with_instruction, alone, ctx)
        return batch

    def _texts(self, record: Record, ctx: StepContext) -> tuple[str, str, str] | None:
        """(instruction, input, response), or None (the record is dropped, or was already)."""
        if is_dropped(record):
            return None
        cfg = self.config
        question = self._instruction(record)
        answer = read_text(record, cfg.response_field)
        extra = (
            read_text(record, cfg.input_field)
            if cfg.input_field and record.get(cfg.input_field) is not None
            else ""
        )
        for value in (question, extra, answer):
            if isinstance(value, tuple):
                drop(record, ctx.name, value[1], value[2])
                return None
        assert isinstance(question, str) and isinstance(answer, str) and isinstance(extra, str)
        for name, value in (("instruction", question), ("response", answer)):
            if not value.strip():
                drop(record, ctx.name, "empty_text", f"blank {name}")
                return None
        return question, extra, answer

    def _instruction(self, record: Record) -> str | tuple[bool, str, str]:
        cfg = self.config
        if cfg.instruction_template is None:
            return read_text(record, cfg.instruction_field)
        values = {}
        for name in template_fields(cfg.instruction_template):
            if record.get(name) is None:
                return False, "missing_text", f"no field {name!r} for instruction_template"
            values[name] = record[name]
        try:
            return cfg.instruction_template.format_map(values)
        except (
            AttributeError,
            IndexError,
            KeyError,
            TypeError,
            ValueError,
        ) as exc:  # "{a.b}", "{a[0]}"
            return False, "not_text", f"instruction_template: {type(exc).__name__}: {exc}"

    def _write(self, record: Record, conditioned: float, direct: float, ctx: StepContext) -> None:
        cfg = self.config
        value = conditioned / direct if direct > 0 else math.inf
        record[cfg.output_field] = value
        if cfg.conditioned_loss_field:
            record[cfg.conditioned_loss_field] = conditioned
        if cfg.direct_loss_field:
            record[cfg.direct_loss_field] = direct
        verdict = out_of_range(value, cfg.min_ifd, cfg.max_ifd, "ifd")
        if verdict is not None:
            drop(record, ctx.name, *verdict)


class PromptBuilder:
    """Token contexts of the conditioned and the direct answer score in one prompt format."""

    def __init__(self, model: ScoringModel, prompt_format: PromptFormat, start: list[int]):
        self.model, self.format, self.start = model, prompt_format, start
        self.templated = prompt_format == "chat" and bool(
            getattr(model.tokenizer, "chat_template", None)
        )
        self.direct = start + model.encode(self._marker())

    def pairs(
        self, question: str, extra: str, answer: str, limit: int
    ) -> tuple[Pair, Pair, bool] | None:
        """((conditioned context, target), (direct context, target), cut), or None: nothing to score."""
        conditioned, target = self._prompt(question, extra), self.model.encode(answer)
        direct = self.direct
        if not direct:  # no start token, no marker: the first response token is context in both
            conditioned, direct, target = conditioned + target[:1], target[:1], target[1:]
        if not target:
            return None
        conditioned, target, cut = fit(conditioned, target, limit)
        return (conditioned, target), (direct, target), cut

    def _prompt(self, question: str, extra: str) -> list[int]:
        """The conditioned answer score's context: the instruction (and input) in the format."""
        if self.format == "alpaca":
            prompt = ALPACA_INPUT_PROMPT if extra.strip() else ALPACA_PROMPT
            return self.start + self.model.encode(prompt.format(instruction=question, input=extra))
        content = f"{question}\n\n{extra}" if extra.strip() else question
        if self.templated:  # the template writes its own special tokens
            return self.model.encode(self._chat(content, generation=True))
        if self.format == "chat":
            messages = [{"role": "user", "content": content}]
            return self.start + self.model.encode(render_prompt(messages, self.model.tokenizer))  # type: ignore[list-item]
        return self.start + self.model.encode(content + "\n")

    def _marker(self) -> str:
        """The response marker alone: the direct answer score's context after the start token."""
        if self.format == "alpaca":
            return ALPACA_MARKER
        if self.format == "plain":
            return ""
        if not self.templated:
            return "assistant:"
        with_prompt, without = self._chat("x", generation=True), self._chat("x", generation=False)
        return with_prompt[len(without) :] if with_prompt.startswith(without) else ""

    def _chat(self, question: str, generation: bool) -> str:
        messages = [{"role": "user", "content": question}]
        return self.model.tokenizer.apply_chat_template(
            messages, add_generation_prompt=generation, tokenize=False
        )


def template_fields(template: str) -> set[str]:
    """The record fields a str.format template names ("{label}" -> {"label"})."""
    names = set()
    for _, name, _, _ in string.Formatter().parse(template):
        if name is not None:
            if not name or name.isdigit():
                raise ValueError("positional fields ({} or {0}) cannot name a record field")
            names.add(name.split(".", 1)[0].split("[", 1)[0])
    return names
