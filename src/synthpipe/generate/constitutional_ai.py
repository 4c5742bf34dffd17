"""Critique and revise responses against a written constitution (the SL stage of Constitutional AI).

Cite: Yuntao Bai, Saurav Kadavath, Sandipan Kundu, et al. 2022. "Constitutional AI:
Harmlessness from AI Feedback". arXiv:2212.08073.

A constitution is a list of principles, each a pair of requests written by you, as in the
paper's appendix: a *critique request* ("Identify specific ways in which the assistant's last
response is harmful ...") and a *revision request* ("Please rewrite the assistant response to
remove ..."). For each record:

1. If ``response`` is missing and ``generate_response`` is on, the model first answers the
   instruction (the paper starts from a helpful-only model's answer to a red-team prompt).
2. For each of ``rounds`` rounds, ``principles_per_round`` principles are drawn at random
   (without replacement within a round; seeded per record, so reruns draw the same ones). For
   each: the model critiques the current response following the principle's critique request,
   then rewrites it following the revision request with its critique in view. The revision
   becomes the current response, so later principles refine earlier revisions (the paper's
   repeated critique-revision).

Input fields: ``instruction`` (names configurable), optional ``input`` (shown with the
instruction), ``response`` (optional when ``generate_response``).
Output fields: ``response`` (the original; filled in when it was generated),
``revised_response`` (the final revision), ``critiques`` (list of str, one per step),
``revisions`` (list of str, the revision after each step), ``principles_used`` (list of
principle names, one per step). With ``emit_preference``: also ``prompt`` (the instruction,
with the input), ``chosen`` (= revised_response) and ``rejected`` (= the original response),
ready for DPO; a record whose revision equals the original is then dropped with reason
``unchanged``.

Drops: ``missing_input``, ``llm_error`` (retried on the next run), ``empty_response`` (the
generated response is empty), ``empty_critique`` / ``empty_revision`` (the model returned
nothing usable), ``unchanged`` (only with ``emit_preference``).

Constitution file (``constitution``; default: the bundled ``recipes/constitution.example.yaml``):
YAML or JSON, either a list of principles or ``{principles: [...]}``, each
``{name, critique, revision}`` (``name`` optional); or a text file of blocks separated by blank
lines, each block with ``Name:`` (optional), ``Critique:`` and ``Revision:`` lines (a line
without a label continues the previous one).

Deviations from the paper: the paper writes critique and revision as continuations of a
few-shot transcript for a pretrained-style model; here each is one chat request (rendered from
``constitutional_ai_critique.jinja2`` and ``constitutional_ai_revise.jinja2``) that shows the
conversation, the request and (for revisions) the critique, and asks for only the critique or
only the rewritten response. No few-shot examples are included (add them to your own template).
The RL stage (preference model from AI feedback) is out of scope; ``emit_preference`` gives
(revised, original) pairs for DPO instead.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from synthpipe.data.paths import recipes_dir, resolve_data_path
from synthpipe.data.records import ID, Record
from synthpipe.errors import UsageError
from synthpipe.generate.parsing import strip_label, strip_preamble
from synthpipe.generate.task import (
    LLMTask,
    LLMTaskConfig,
    ParseError,
    drop_failed,
    is_blank,
    optional_text,
    record_seed,
)
from synthpipe.llm.types import LLMError, Message
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepContext

EXAMPLE_CONSTITUTION = "constitution.example.yaml"
_REVISION_LABEL = re.compile(r"revision|revised (?:response|answer|version)|rewritten (?:response|answer)")
_PREAMBLE = re.compile(
    r"^\s*(?:sure[,!.]?\s*)?(?:here(?:'s| is) (?:the|a|my) (?:revised|rewritten|improved|updated)"
    r" (?:response|answer|version)[^\n]*:)\s*\n",
    re.IGNORECASE,
)


# -- the constitution ----------------------------------------------------------------------
@dataclass(frozen=True)
class Principle:
    name: str
    critique: str
    revision: str


def default_constitution() -> Path:
    """The bundled example constitution (recipes/constitution.example.yaml)."""
    root = recipes_dir()
    if root is None or not (root / EXAMPLE_CONSTITUTION).is_file():
        raise UsageError(f"the bundled {EXAMPLE_CONSTITUTION} is missing; set `constitution:` to your own file")
    return root / EXAMPLE_CONSTITUTION


def load_constitution(path: Path) -> list[Principle]:
    """Read principles from YAML, JSON or text; raise UsageError naming the file and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read constitution {path}: {exc}") from exc
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml", ".json"):
        items = _structured_items(path, text, suffix)
    else:
        items = _text_items(text)
    principles: list[Principle] = []
    for i, item in enumerate(items):
        where = f"constitution {path}, principle {i + 1}"
        if not isinstance(item, dict):
            raise UsageError(f"{where}: expected a mapping with `critique` and `revision`, got {type(item).__name__}")
        item = {str(k).strip().lower(): v for k, v in item.items()}
        critique = item.get("critique", item.get("critique_request"))
        revision = item.get("revision", item.get("revision_request"))
        for label, value in (("critique", critique), ("revision", revision)):
            if not isinstance(value, str) or not value.strip():
                raise UsageError(f"{where}: needs a non-empty `{label}` request")
        name = str(item.get("name") or f"principle_{i + 1}").strip()
        principles.append(Principle(name, " ".join(critique.split()), " ".join(revision.split())))
    if not principles:
        raise UsageError(f"constitution {path} has no principles")
    names = [p.name for p in principles]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(f"constitution {path}: duplicate principle names {duplicates}")
    return principles


def _structured_items(path: Path, text: str, suffix: str) -> list[Any]:
    import yaml

    try:
        data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot parse constitution {path}: {exc}") from exc
    if isinstance(data, dict) and "principles" in data:
        data = data["principles"]
    if isinstance(data, dict):  # {name: {critique, revision}}
        data = [{"name": k, **v} if isinstance(v, dict) else v for k, v in data.items()]
    if not isinstance(data, list):
        raise UsageError(f"constitution {path} must be a list of principles or {{principles: [...]}}")
    return data


def _text_items(text: str) -> list[dict[str, str]]:
    items = []
    for block in re.split(r"\n\s*\n", text.strip()):
        item: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line.lstrip().startswith("#"):
                continue
            match = re.match(r"^\s*(name|critique(?:\s*request)?|revision(?:\s*request)?)\s*:\s*(.*)$", line, re.I)
            if match:
                key = next(k for k in ("name", "critique", "revision") if match.group(1).lower().startswith(k))
                item[key] = match.group(2).strip()
            elif key is not None:
                item[key] = f"{item[key]} {line.strip()}".strip()
        if item:
            items.append(item)
    return items


# -- reply parsing -------------------------------------------------------------------------
def clean_critique(text: str) -> str:
    """The critique alone, without a "Critique:" label."""
    text = strip_label(text.strip(), "critique")
    if not text:
        raise ParseError("empty_critique", "the critique reply is empty")
    return text


def clean_revision(text: str) -> str:
    """The rewritten response alone: no "Revision:" label or "Here is the revised response:" line."""
    text = strip_label(strip_preamble(text, _PREAMBLE), _REVISION_LABEL)
    if not text:
        raise ParseError("empty_revision", "the revision reply is empty")
    return text


# -- the step --------------------------------------------------------------------------------
class ConstitutionalRevisionConfig(LLMTaskConfig):
    constitution: str | None = Field(
        None,
        description="YAML/JSON/text file of principles (critique + revision requests); "
        "default: the bundled recipes/constitution.example.yaml",
    )
    rounds: int = Field(1, ge=1, le=10, description="critique-revision rounds")
    principles_per_round: int = Field(1, ge=1, description="principles drawn per round (each one critique + revision)")
    instruction_field: str = Field("instruction", description="field holding the user's request")
    input_field: str | None = Field("input", description="optional field with the task's input, shown if non-empty")
    response_field: str = Field("response", description="field holding the response to revise")
    generate_response: bool = Field(True, description="answer the instruction first when the response is missing")
    emit_preference: bool = Field(False, description="add prompt/chosen (revised)/rejected (original) for DPO")
    max_tokens: int = Field(1024, ge=1, description="longest reply")
    revision_template: str | None = Field(None, description="Jinja2 file replacing the bundled revision prompt")
    generate_template: str | None = Field(None, description="Jinja2 file replacing the bundled response prompt")


@register_step("critique_revise")
class ConstitutionalRevision(LLMTask):
    """Critique a response against sampled constitution principles, then revise it (Bai et al. 2022).

    ``template`` replaces the critique prompt; the constitution format and the rounds are in
    the module docstring.

    Input columns: `instruction_field` (default ``instruction``); `response_field` (default
    ``response``) unless `generate_response`; `input_field` is read when present.
    Output columns: `response_field` (the original, filled in when generated),
    ``revised_response``, ``critiques``, ``revisions``, ``principles_used``; with
    `emit_preference` also ``prompt``, ``chosen``, ``rejected``.
    Drop reasons: ``missing_input``, ``llm_error`` (retried on the next run), ``truncated``,
    ``empty_response``, ``empty_critique``, ``empty_revision``, ``unchanged`` (only with
    `emit_preference`).
    References: Bai et al. (2022), "Constitutional AI: Harmlessness from AI Feedback",
    arXiv:2212.08073.
    """

    Config = ConstitutionalRevisionConfig
    config: ConstitutionalRevisionConfig
    main_role: ClassVar[str] = "critique"
    template_file: ClassVar[str] = "constitutional_ai_critique.jinja2"
    template_files: ClassVar[dict[str, str]] = {  # `revision_template` / `generate_template` replace them
        "revision": "constitutional_ai_revise.jinja2",
        "generate": "constitutional_ai_generate.jinja2",
    }
    inputs: ClassVar[tuple[str, ...]] = ("instruction",)
    outputs: ClassVar[tuple[str, ...]] = (
        "response", "revised_response", "critiques", "revisions", "principles_used",
        "prompt", "chosen", "rejected",
    )  # fmt: skip

    drop_reasons = (
        "missing_input", "llm_error", "truncated", "empty_response", "empty_critique", "empty_revision",
        "unchanged",
    )  # fmt: skip

    def __init__(self, config=None, /, **kwargs):
        super().__init__(config, **kwargs)
        _ = self.principles  # a missing or malformed constitution fails when the step is built

    def input_columns(self) -> set[str]:
        cfg = self.config
        return {cfg.instruction_field} | (set() if cfg.generate_response else {cfg.response_field})

    # -- files ------------------------------------------------------------------------------
    def constitution_path(self) -> Path:
        if self.config.constitution is None:
            return default_constitution()
        return resolve_data_path(self.config.constitution)

    @cached_property
    def principles(self) -> list[Principle]:
        return load_constitution(self.constitution_path())

    def input_files(self) -> list[Path]:
        return [*super().input_files(), self.constitution_path()]

    # -- dry-run estimates ------------------------------------------------------------------
    def estimate_requests(self, n_records: int | None) -> int:
        """Upper bound: a generated response, then critique + revision per principle drawn."""
        cfg = self.config
        steps = cfg.rounds * min(cfg.principles_per_round, len(self.principles))
        return (n_records or 0) * (2 * steps + (1 if cfg.generate_response else 0))

    def format_input(self, record: Record) -> list[Message]:
        """The first request of a record (generation, or the first critique), as `--dry-run` renders it."""
        response = record.get(self.config.response_field)
        if is_blank(response):
            return self.generate_messages(record)
        return self.critique_messages(record, str(response).strip(), self.principles[0])

    # -- prompts ----------------------------------------------------------------------------
    def _conversation(self, record: Record) -> dict[str, str]:
        cfg = self.config
        return {
            "instruction": str(record[cfg.instruction_field]).strip(),
            "input": optional_text(record, cfg.input_field),
        }

    def generate_messages(self, record: Record) -> list[Message]:
        return self.render_role("generate", **self._conversation(record))

    def critique_messages(self, record: Record, response: str, principle: Principle) -> list[Message]:
        return self.render(**self._conversation(record), response=response, critique_request=principle.critique)

    def revision_messages(self, record: Record, response: str, principle: Principle, critique: str) -> list[Message]:
        return self.render_role(
            "revision",
            **self._conversation(record),
            response=response,
            critique_request=principle.critique,
            critique=critique,
            revision_request=principle.revision,
        )

    def plan(self, ctx: StepContext, record_id: Any) -> list[Principle]:
        """The principles this record is critiqued against, in order (seeded per record)."""
        rng = random.Random(record_seed(ctx.seed, f"{ctx.name}/principles", record_id))
        k = min(self.config.principles_per_round, len(self.principles))
        return [p for _ in range(self.config.rounds) for p in rng.sample(self.principles, k)]

    # -- the record -------------------------------------------------------------------------
    async def _one(self, record: Record, ctx: StepContext) -> list[Record]:
        cfg, rid = self.config, record.get(ID)
        needed = [cfg.instruction_field] + ([] if cfg.generate_response else [cfg.response_field])
        if self.drop_if_missing(record, ctx, needed, blank=True):
            return []
        seed = record_seed(ctx.seed, ctx.name, rid)
        plan = self.plan(ctx, rid)
        generated = is_blank(record.get(cfg.response_field))
        try:
            if generated:
                reply, _ = await self.ask(ctx, self.generate_messages(record), seed, 0)
                original = reply.strip()
                if not original:
                    raise ParseError("empty_response", "the generated response is empty")
            else:
                original = str(record[cfg.response_field]).strip()
            current, critiques, revisions = original, [], []
            for j, principle in enumerate(plan):
                sample = 2 * j + 1
                reply, _ = await self.ask(
                    ctx, self.critique_messages(record, current, principle),
                    record_seed(ctx.seed, ctx.name, rid, sample), sample,
                )  # fmt: skip
                critique = clean_critique(reply)
                reply, _ = await self.ask(
                    ctx, self.revision_messages(record, current, principle, critique),
                    record_seed(ctx.seed, ctx.name, rid, sample + 1), sample + 1,
                )  # fmt: skip
                current = clean_revision(reply)
                critiques.append(critique)
                revisions.append(current)
        except (LLMError, ParseError) as exc:
            drop_failed(record, ctx.name, exc)
            return []
        fields: dict[str, Any] = {
            cfg.response_field: original,
            "revised_response": current,
            "critiques": critiques,
            "revisions": revisions,
            "principles_used": [p.name for p in plan],
        }
        if cfg.emit_preference:
            conv = self._conversation(record)
            prompt = f"{conv['instruction']}\n\n{conv['input']}" if conv["input"] else conv["instruction"]
            fields.update(prompt=prompt, chosen=current, rejected=original)
        extra = self.finish(record, fields, ctx, seed)
        record["_lineage"][ctx.name]["generated_response"] = generated
        return extra

    def reject(self, record: Record) -> tuple[str, str] | None:
        revised, original = record["revised_response"], record[self.config.response_field]
        if self.config.emit_preference and " ".join(revised.split()) == " ".join(original.split()):
            return "unchanged", "the revision equals the original response"
        return None

