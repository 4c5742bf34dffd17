"""Evol-Instruct: rewrite instructions into harder ones (in depth) or new rarer ones (in breadth).

Xu, Sun, Zheng, Geng, Zhao, Feng, Tao and Jiang. 2023. "WizardLM: Empowering Large Language
Models to Follow Complex Instructions". arXiv:2304.12244 (ICLR 2024).

Each record's ``instruction`` is evolved `generations` times (default 1). Each generation picks
one operation with an RNG seeded by (run seed, step, record id, generation):

- in-depth evolving, one shared rewriter prompt (``evol_instruct_depth.jinja2``) with one method
  per operation: ``add_constraints``, ``deepening``, ``concretizing``, ``increase_reasoning``,
  ``complicate_input`` (add a table, code, JSON/XML or formula as input);
- in-breadth evolving, ``breadth`` (``evol_instruct_breadth.jinja2``): mutate into a brand-new,
  rarer instruction of the same domain.

Then the paper's elimination step; an evolution failing it is rejected with a reason:

1. ``no_information_gain``: the LLM judges the evolved instruction equal to the one it came
   from (``evol_instruct_equal.jinja2``, "Equal" / "Not Equal"; `check_equivalence`);
2. ``hard_to_respond``: the response contains "sorry" and is shorter than 80 words;
3. ``stopwords_only_response``: the response has only punctuation and stop words;
4. ``copied_prompt_words``: the evolved instruction copies words of the evolving prompt
   ("#Rewritten Prompt#", "given prompt", "rewritten prompt", "created prompt" ...).
   A reply that merely *starts* with such a label ("#Rewritten Prompt#: ...") has the label
   removed first (`strip_label`); the phrase anywhere else rejects it.

Rules 2 and 3 need the response, which is generated only with `generate_response` (default).
As in the paper, a rejected evolution goes back to the pool: the next generation evolves the
last accepted version again. A record none of whose generations is accepted is dropped with
the last rejection's reason (detail: which operation and why). A request that gives up drops
the record with ``llm_error`` (retried on the next run); an empty rewrite or an unclear
equality judgement is ``parse_error``.

Input: ``instruction``. Output: ``instruction`` (the evolved one), ``original_instruction`` (the
input; kept from an earlier evol step if the record already has one), ``evolution`` (accepted
operation names, appended to an earlier step's list), ``response`` (with `generate_response`).
``_lineage[<step>]`` has the template hash, seed and every generation's operation and outcome.

Deviations from the paper: the paper evolves a whole pool in epochs and refills failures from
the pool; here each record evolves on its own (a map step). Prompts are paraphrased. The
equality check runs before the response is generated, to save a call when it fails.
"""

from __future__ import annotations

import random
import re
from typing import Any, ClassVar, Literal

from pydantic import Field

from synthpipe.data.records import ID, Record, add_lineage, drop
from synthpipe.data.sampling import mix_seed
from synthpipe.generate.parsing import strip_fences
from synthpipe.generate.task import (
    LLMTask,
    MultiTemplateConfig,
    ParseError,
    drop_failed,
    record_seed,
)
from synthpipe.llm.types import LLMError, Message
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepContext

Operation = Literal[
    "add_constraints",
    "deepening",
    "concretizing",
    "increase_reasoning",
    "complicate_input",
    "breadth",
]
DEPTH_OPERATIONS = (
    "add_constraints",
    "deepening",
    "concretizing",
    "increase_reasoning",
    "complicate_input",
)
OPERATIONS = (*DEPTH_OPERATIONS, "breadth")

COPIED_PHRASES = (
    "#the given prompt#", "#given prompt#", "#rewritten prompt#", "#created prompt#",
    "given prompt", "rewritten prompt", "created prompt",
)  # fmt: skip
_LEADING_LABEL = re.compile(
    r"^\s*(?:\*\*)?#?\s*(?:the\s+)?(?:rewritten|created|new)\s+prompt\s*#?\s*(?:\*\*)?\s*:?\s*(?:\*\*)?\s*",
    re.IGNORECASE,
)
STOP_WORDS = frozenset((
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
    "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
    "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for",
    "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself",
    "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just",
    "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once",
    "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she",
    "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them",
    "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which",
    "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself",
    "yourselves", "ok", "okay", "yes",
))  # fmt: skip
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)


class EvolInstructConfig(MultiTemplateConfig):
    """Options of the `evol_instruct` step."""

    operations: list[Operation] = Field(
        list(OPERATIONS),
        min_length=1,
        description="operations to pick from uniformly: add_constraints, deepening, concretizing, "
        "increase_reasoning, complicate_input (in depth) and breadth (in breadth)",
    )
    generations: int = Field(1, ge=1, le=10, description="evolution rounds per record")
    check_equivalence: bool = Field(
        True,
        description="elimination rule 1: ask the LLM whether the evolution brings no information gain",
    )
    generate_response: bool = Field(
        True, description="answer the evolved instruction (needed for elimination rules 2 and 3)"
    )
    strip_label: bool = Field(
        True,
        description="remove a leading '#Rewritten Prompt#:' style label before rule 4 is checked",
    )
    sorry_max_words: int = Field(
        80, ge=1, description="rule 2: a response with 'sorry' shorter than this fails"
    )
    response_temperature: float = Field(
        0.7, ge=0, le=2, description="sampling temperature of responses"
    )
    response_max_tokens: int = Field(1024, ge=1, description="longest response")
    max_tokens: int = Field(1024, ge=1, description="longest evolved instruction")
    seed: int | None = Field(
        None, description="random seed for operation choice; defaults to the run's seed"
    )


class Rejected(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@register_step("evol_instruct")
class EvolInstruct(LLMTask):
    """Evolve instructions in depth or breadth, then eliminate failed evolutions (WizardLM).

    Each generation picks one operation (seeded per record) and applies the paper's
    elimination rules; a record none of whose generations is accepted is dropped with the last
    rejection's reason (see the module docstring).

    Input columns: ``instruction``.
    Output columns: ``instruction`` (the evolved one), ``original_instruction``,
    ``evolution``, ``response`` (with `generate_response`).
    Drop reasons: ``no_information_gain``, ``hard_to_respond``, ``stopwords_only_response``,
    ``copied_prompt_words`` (details: the operation and why), ``missing_input``,
    ``llm_error``, ``truncated``, ``parse_error``.
    References: Xu et al. (2023), "WizardLM: Empowering Large Language Models to Follow Complex
    Instructions", arXiv:2304.12244 (ICLR 2024).
    """

    Config = EvolInstructConfig
    config: EvolInstructConfig
    drop_reasons = (
        "no_information_gain", "hard_to_respond", "stopwords_only_response", "copied_prompt_words",
        "missing_input", "llm_error", "truncated", "parse_error",
    )  # fmt: skip
    inputs: ClassVar[tuple[str, ...]] = ("instruction",)
    outputs: ClassVar[tuple[str, ...]] = (
        "instruction",
        "original_instruction",
        "evolution",
        "response",
    )
    main_role: ClassVar[str] = "depth"
    template_file: ClassVar[str] = "evol_instruct_depth.jinja2"
    template_files: ClassVar[dict[str, str]] = {
        "breadth": "evol_instruct_breadth.jinja2",
        "equal": "evol_instruct_equal.jinja2",
        "response": "evol_instruct_response.jinja2",
    }

    def estimate_requests(self, n_records: int | None) -> int:
        """Upper bound for --dry-run: every generation makes all its calls."""
        cfg = self.config
        per_generation = 1 + int(cfg.check_equivalence) + int(cfg.generate_response)
        return (n_records or 0) * cfg.generations * per_generation

    # -- prompts ----------------------------------------------------------------------------
    def operation(self, ctx_seed: int, record_id: Any, generation: int) -> str:
        seed = self.config.seed if self.config.seed is not None else ctx_seed
        return random.Random(mix_seed(seed, "evol-op", str(record_id), generation)).choice(
            self.config.operations
        )

    def evolve_messages(self, instruction: str, operation: str) -> list[Message]:
        role = "breadth" if operation == "breadth" else "depth"
        return self.render_role(
            role, instruction=instruction, operation=operation, config=self.config
        )

    def format_input(self, record: Record) -> list[Message]:
        """The first generation's evolving prompt (operation drawn with run seed 0)."""
        return self.evolve_messages(record["instruction"], self.operation(0, record.get(ID), 0))

    def format_output(self, reply: Any, record: Record) -> dict[str, Any]:
        return {"instruction": self.clean_evolved(str(reply))}

    # -- parsing and elimination ------------------------------------------------------------
    def clean_evolved(self, reply: str) -> str:
        """The evolved instruction from a reply: fences and a leading label removed.

        Raises ParseError (``parse_error``) if nothing is left, Rejected (``copied_prompt_words``)
        if the evolving prompt's words remain.
        """
        text = strip_fences(reply)
        if self.config.strip_label:
            text = _LEADING_LABEL.sub("", text, count=1).strip()
        if not text:
            raise ParseError("parse_error", f"empty evolved instruction; raw reply: {reply[:500]}")
        lowered = text.lower()
        for phrase in COPIED_PHRASES:
            if phrase in lowered:
                raise Rejected(
                    "copied_prompt_words", f"the evolved instruction contains {phrase!r}"
                )
        return text

    @staticmethod
    def parse_equal(reply: str) -> bool:
        """True if the judge says 'Equal', False for 'Not Equal'; ParseError otherwise."""
        text = reply.strip().lower()
        if re.search(r"\bnot\s+equal\b|\bunequal\b|\bnot the same\b", text):
            return False
        if re.search(r"\bequal\b", text):
            return True
        raise ParseError(
            "parse_error", f"equality judgement is neither 'Equal' nor 'Not Equal': {reply[:300]}"
        )

    def check_response(self, response: str) -> None:
        """Elimination rules 2 and 3; raises Rejected."""
        words = _WORD.findall(response.lower())
        if "sorry" in response.lower() and len(response.split()) < self.config.sorry_max_words:
            raise Rejected(
                "hard_to_respond",
                f"response says 'sorry' in {len(response.split())} words: {response[:300]}",
            )
        if not words or all(w in STOP_WORDS for w in words):
            raise Rejected(
                "stopwords_only_response",
                f"response has only punctuation and stop words: {response[:300]!r}",
            )

    # -- the step ---------------------------------------------------------------------------
    async def _one(self, record: Record, ctx: StepContext) -> list[Record]:
        cfg = self.config
        if self.drop_if_missing(record, ctx):
            return []
        current, response = str(record["instruction"]), None
        accepted: list[str] = []
        history: list[dict[str, Any]] = []
        last: Rejected | ParseError | None = None
        seed0 = record_seed(ctx.seed, ctx.name, record.get(ID))
        for generation in range(cfg.generations):
            op = self.operation(ctx.seed, record.get(ID), generation)
            seed = record_seed(ctx.seed, ctx.name, record.get(ID), generation)
            try:
                current_new, response_new = await self._evolve(ctx, current, op, seed)
            except LLMError as exc:
                drop_failed(record, ctx.name, exc)
                return []
            except (Rejected, ParseError) as exc:
                last = exc
                history.append({"generation": generation, "operation": op, "rejected": exc.reason})
                continue
            current, response = current_new, response_new
            accepted.append(op)
            history.append({"generation": generation, "operation": op, "rejected": None})
        lineage = {**self.lineage(ctx, seed0), "generations": history}
        add_lineage(record, **{ctx.name: lineage})
        if not accepted:
            assert last is not None
            detail = f"{history[-1]['operation']}: {last.detail}"
            drop(record, ctx.name, last.reason, detail[:2000])
            return []
        original = record.get("original_instruction") or record["instruction"]
        previous = record.get("evolution") if isinstance(record.get("evolution"), list) else []
        record.update(
            instruction=current, original_instruction=original, evolution=[*previous, *accepted]
        )
        if cfg.generate_response:
            record["response"] = response
        return []

    async def _evolve(
        self, ctx: StepContext, instruction: str, op: str, seed: int
    ) -> tuple[str, str | None]:
        """One generation: evolve, then the elimination rules. Raises Rejected/ParseError/LLMError."""
        cfg = self.config
        reply, _raw = await self.ask(ctx, self.evolve_messages(instruction, op), seed)
        evolved = self.clean_evolved(reply)
        if evolved.strip().lower() == instruction.strip().lower():
            raise Rejected(
                "no_information_gain", "the evolved instruction is identical to the original"
            )
        if cfg.check_equivalence:
            messages = self.render_role("equal", original=instruction, evolved=evolved, config=cfg)
            verdict, _raw = await self.ask(ctx, messages, seed, temperature=0.0, max_tokens=16)
            if self.parse_equal(verdict):
                raise Rejected(
                    "no_information_gain",
                    "the LLM judged the evolved instruction equal to the original",
                )
        response = None
        if cfg.generate_response:
            messages = self.render_role("response", instruction=evolved, config=cfg)
            response, _raw = await self.ask(
                ctx,
                messages,
                seed,
                temperature=cfg.response_temperature,
                max_tokens=cfg.response_max_tokens,
            )
            response = response.strip()
            self.check_response(response)
        return evolved, response
