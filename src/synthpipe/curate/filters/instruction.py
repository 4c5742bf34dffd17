"""Instruction-data detectors: the failure categories of generated SFT pairs that rules can see.

The categories are those the AlpacaDataCleaned project lists for the original Stanford Alpaca
data (hallucinations from URL inputs, merged instructions, empty outputs, empty code,
image-generation instructions, N/A outputs, inconsistent input field, wrong answers,
nonsensical instructions, extraneous escape and control characters). Each check below is one
drop reason, with the evidence in the ledger's ``detail`` (the field, then what matched); they
run in this order and the first one found drops the record:

- ``control_chars`` (every field): C0/C1 controls, zero-width and bidi characters, escapes
  written out in prose (:mod:`.control_chars`);
- ``missing_attachment`` (instruction, input): ``<Picture Attached>``-style stand-ins, or
  "the attached image" with an empty input (:mod:`.placeholders`);
- ``placeholder_input`` (input): ``<noinput>``, ``No input``, ``N/A`` (:mod:`.placeholders`);
- ``url_only_input`` (instruction + input): the input is a URL whose content the instruction
  needs (:mod:`.context_checks`);
- ``inconsistent_input`` (instruction + input): the instruction refers to an input that is
  empty (:mod:`.context_checks`); checked only when the record has the input field;
- ``placeholder_output`` (response): ``<nooutput>``, ``<No Output>``, "cannot be fulfilled by a
  GPT model" (:mod:`.placeholders`);
- ``template_leak`` (every field): chat-template tokens, numbered ``Instruction:/Output:``
  blocks, role tags (:mod:`.template_leak`);
- ``merged_instructions`` (instruction): two independent tasks in one instruction
  (:mod:`.template_leak`);
- ``empty_code`` (instruction + response): a code request answered without code, or an empty
  fence (:mod:`.code_checks`).

Blank and "N/A" outputs, refusals, image/audio/video/3D requests and truncation are
``llm_output_filter``'s (``empty_output``, ``refusal``, ``impossible_instruction``,
``truncated``); the data profiles (:mod:`synthpipe.curate.profiles`) run both. Wrong answers
and nonsensical instructions need a model: see ``synthpipe filter --judge``.

:func:`findings` returns every check that fires, not only the first (used to measure each
detector's precision and recall, ``benchmarks/bench_filter_profiles.py``).
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from synthpipe.curate.filters import (
    code_checks,
    code_text,
    context_checks,
    control_chars,
    placeholders,
)
from synthpipe.curate.filters import template_leak as template_module
from synthpipe.curate.filters.code_checks import empty_code
from synthpipe.curate.filters.context_checks import inconsistent_input, url_only_input
from synthpipe.curate.filters.control_chars import control_char_finding
from synthpipe.curate.filters.placeholders import (
    attached_reference,
    missing_attachment,
    placeholder_input,
    placeholder_output,
)
from synthpipe.curate.filters.template_leak import merged_instructions, template_leak
from synthpipe.data.records import Record
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import FilterResult, FilterStep, StepConfig

InstructionCheck = Literal[
    "control_chars", "missing_attachment", "placeholder_input", "url_only_input", "inconsistent_input",
    "placeholder_output", "template_leak", "merged_instructions", "empty_code",
]  # fmt: skip
INSTRUCTION_CHECKS: tuple[InstructionCheck, ...] = (
    "control_chars", "missing_attachment", "placeholder_input", "url_only_input", "inconsistent_input",
    "placeholder_output", "template_leak", "merged_instructions", "empty_code",
)  # fmt: skip


class InstructionFilterConfig(StepConfig):
    instruction_field: str = Field("instruction", description="field holding the instruction")
    input_field: str | None = Field(
        "input", description="optional input field (Alpaca `input`); records without it have no input"
    )
    response_field: str | None = Field(
        "output", description="field holding the response; null runs the instruction-side checks only"
    )
    checks: list[InstructionCheck] = Field(
        default_factory=lambda: list(INSTRUCTION_CHECKS), description="checks to run (all by default)"
    )
    response_is_code: bool = Field(
        False, description="the response is bare code (escapes in it are not checked as prose)"
    )


@dataclass(frozen=True)
class Pair:
    """The texts of one record that the checks read (input None: the record has no input field)."""

    instruction: str
    input: str | None
    response: str | None


def detector_source_hash() -> str:
    """Hash of the detector modules' source, so that a changed rule invalidates checkpoints
    (a step's fingerprint covers only its own module)."""
    digest = hashlib.sha256()
    for module in (code_checks, code_text, context_checks, control_chars, placeholders, template_module):
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:16]


Finding = tuple[str, str]  # (drop reason, detail)


def findings(pair: Pair, checks: tuple[str, ...] | list[str] = INSTRUCTION_CHECKS, response_is_code: bool = False) -> list[Finding]:
    """Every (reason, detail) the `checks` find in `pair`, in check order."""
    found = []
    for check in (c for c in INSTRUCTION_CHECKS if c in checks):
        detail = _CHECKS[check](pair, response_is_code)
        if detail:
            found.append((check, detail))
    return found


def _fields(pair: Pair, names: tuple[str, ...]) -> list[tuple[str, str]]:
    texts = {"instruction": pair.instruction, "input": pair.input, "response": pair.response}
    return [(name, texts[name]) for name in names if texts[name]]


def _first(pair: Pair, names: tuple[str, ...], check: Callable[[str, str], str | None]) -> str | None:
    for name, text in _fields(pair, names):
        detail = check(name, text)
        if detail:
            return f"{name}: {detail}"
    return None


def _control(pair: Pair, code: bool) -> str | None:
    return _first(pair, ("instruction", "input", "response"),
                  lambda name, text: control_char_finding(text, True if name == "response" and code else None))  # fmt: skip


def _attachment(pair: Pair, code: bool) -> str | None:
    found = _first(pair, ("instruction", "input"), lambda name, text: missing_attachment(text))
    if found or (pair.input or "").strip():
        return found
    reference = attached_reference(pair.instruction)
    return f"instruction: {reference}, no input" if reference else None


def _placeholder_input(pair: Pair, code: bool) -> str | None:
    return _first(pair, ("input",), lambda name, text: placeholder_input(text))


def _url_only(pair: Pair, code: bool) -> str | None:
    return url_only_input(pair.instruction, pair.input) if pair.input else None


def _inconsistent(pair: Pair, code: bool) -> str | None:
    return inconsistent_input(pair.instruction, pair.input)


def _placeholder_output(pair: Pair, code: bool) -> str | None:
    return _first(pair, ("response",), lambda name, text: placeholder_output(text))


def _template(pair: Pair, code: bool) -> str | None:
    asked = pair.instruction + "\n" + (pair.input or "")
    return _first(pair, ("instruction", "input", "response"), lambda name, text: template_leak(text, asked))


def _merged(pair: Pair, code: bool) -> str | None:
    return _first(pair, ("instruction",), lambda name, text: merged_instructions(text))


def _empty_code(pair: Pair, code: bool) -> str | None:
    if pair.response is None:
        return None
    detail = empty_code(pair.instruction, pair.response)
    return f"response: {detail}" if detail else None


_CHECKS: dict[str, Callable[[Pair, bool], str | None]] = {
    "control_chars": _control, "missing_attachment": _attachment, "placeholder_input": _placeholder_input,
    "url_only_input": _url_only, "inconsistent_input": _inconsistent, "placeholder_output": _placeholder_output,
    "template_leak": _template, "merged_instructions": _merged, "empty_code": _empty_code,
}  # fmt: skip


@register_step("instruction_filter")
class InstructionFilter(FilterStep):
    """Drops instruction/input/output records with placeholder, leaked, merged or broken content.

    One drop reason per AlpacaDataCleaned issue category that rules can see; the checks, their
    order and their evidence are in the module docstring.

    Input columns: `instruction_field` and `response_field` (str); `input_field` is optional.
    Output columns: none: marks records dropped.
    Drop reasons: ``control_chars``, ``missing_attachment``, ``placeholder_input``,
    ``url_only_input``, ``inconsistent_input``, ``placeholder_output``, ``template_leak``,
    ``merged_instructions``, ``empty_code`` (detail: the field and what matched),
    ``missing_text``, ``not_text``.
    References: Taori et al. (2023), "Stanford Alpaca: An Instruction-following LLaMA model"
    (the data's format); the AlpacaDataCleaned project's list of issue categories
    (github.com/gururise/AlpacaDataCleaned).
    """

    Config = InstructionFilterConfig
    cpu_bound = True
    drop_reasons = (*INSTRUCTION_CHECKS, "missing_text", "not_text")

    def input_columns(self) -> set[str]:
        cfg = self.config
        return {cfg.instruction_field} | ({cfg.response_field} if cfg.response_field else set())

    def output_columns(self) -> set[str]:
        return set()

    def fingerprint_extra(self, env: dict[str, Any]) -> Any:
        return detector_source_hash()

    def keep(self, record: Record) -> FilterResult:
        pair = read_pair(record, self.config.instruction_field, self.config.input_field, self.config.response_field)
        if isinstance(pair, tuple):
            return pair
        found = findings(pair, self.config.checks, self.config.response_is_code)
        return (False, *found[0]) if found else True


def read_pair(record: Record, instruction_field: str, input_field: str | None,
              response_field: str | None) -> Pair | tuple[bool, str, str]:  # fmt: skip
    """The record's texts as a :class:`Pair`, or the drop verdict for a missing or non-text field."""
    texts: dict[str, str | None] = {}
    for role, name, required in (("instruction", instruction_field, True), ("input", input_field, False),
                                 ("response", response_field, True)):  # fmt: skip
        if name is None or (not required and name not in record):
            texts[role] = None
            continue
        if name not in record:
            return False, "missing_text", f"no field {name!r}"
        value = record[name]
        if value is not None and not isinstance(value, str):
            return False, "not_text", f"{name}: {type(value).__name__} value"
        texts[role] = value if value is not None else ("" if role != "instruction" else None)
    if texts["instruction"] is None:
        return False, "missing_text", f"{instruction_field}: null"
    return Pair(texts["instruction"], texts["input"], texts["response"])
