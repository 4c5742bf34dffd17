"""``question_filter``: raw LLM output that is not a question: chat boilerplate, answers, statements.

A small model asked for questions writes, besides questions, the assistant's side of a chat
("Sure! Here are five questions:", "I'm ready to help.", "As an AI ..."), the prompt back
("Write 5 new questions about sports."), and answers or statements ("The median is a measure
of central tendency.", "What is a sabayon? It is a dessert."). Two checks, in this order, the
first that fires names the drop reason:

- ``chat_boilerplate``: the text talks about the task or to the user instead of being an
  example: an opener such as "Sure", "Certainly", "Here are", "I'm ready to help", "Let me
  know", "I hope", "As an AI", "I am SmolLM"; the request echoed ("Write 5 new questions ...");
  a header line ending in ":"; or a mention of the prompt's own words ("questions of the same
  kind", "the examples above", "class \\"LOC\\""). The detail quotes what matched.
- ``not_a_question``: the text does not read as a question. It passes when its last sentence
  ends in "?" (TREC's "... ?" included), or it starts with an imperative that TREC counts as a
  question ("Name the ...", "List ...", "Tell me ...", ``imperatives``) and ends without "?".
  The detail says what it is instead: ``answer after the question`` (a "?" followed by more
  text), ``statement`` (ends in "." or "!"), or ``no question mark`` (an unfinished or
  unpunctuated line).

Refusals and empty texts are ``llm_output_filter``'s (the ``text`` quality profile runs it);
copies of the seed examples are ``seed_copy_filter``'s; a question of the wrong class is
``label_consistency``'s.

Examples (SmolLM2-135M-Instruct, asked for TREC questions): kept "What does S.S.E. stand for
in S.S. Eliot's name?", "Name a famous painter from Spain."; dropped "Here are five questions:"
(chat_boilerplate), "What a delightful mix of genres: a film and a television show."
(not_a_question, statement), "What is a sabayon? The rules for eating at a sabayon are ..."
(not_a_question, answer after the question), "7. What is" (not_a_question, no question mark).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from synthpipe.curate.filters.fields import read_text
from synthpipe.data.records import Record
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import FilterResult, FilterStep, StepConfig

Check = Literal["chat_boilerplate", "not_a_question"]
_OPENERS = (
    r"sure\b", r"certainly\b", r"of course\b", r"absolutely\b", r"okay\b", r"great\b",
    r"here(?:'s| is| are)\b", r"below (?:is|are)\b", r"these are\b", r"this is (?:a|an|the) (?:list|set)\b",
    r"i(?:'m| am) (?:ready|here|happy|glad|sorry|an ai|a (?:helpful )?(?:ai|assistant|language model)|smollm)\b",
    r"i (?:hope|can|will|would|have|cannot|can't)\b", r"let me\b", r"let's\b", r"feel free\b",
    r"please\b", r"note:", r"as an ai\b", r"you(?:'re| are) (?:right|welcome)\b", r"thank you\b",
    r"what can i (?:help|assist|do)\b", r"how can i (?:help|assist)\b",
    r"(?:write|generate|create|give me) (?:\d+|one|two|three|four|five|some|more|a few)? ?(?:new |more )?questions?\b",
)  # fmt: skip
_OPENER = re.compile(r"^\W*(" + "|".join(_OPENERS) + ")", re.IGNORECASE)
_PROMPT_WORDS = re.compile(
    r"\b(?:questions? (?:of|like) the same kind|of the same kind|the (?:examples?|questions?) above"
    r"|(?:these|the) (?:five|5|\d+) (?:new )?questions|class \"?[A-Z]{2,5}\"?"
    r"|(?:new|more) questions (?:about|on|like)|one question per line|as an ai\b|language model)",
    re.IGNORECASE,
)
_HEADER = re.compile(r":\s*$")
_ASK = re.compile(r"\?[\s\"'”’)]*$")
_QUESTION_THEN_TEXT = re.compile(r"\?[\s\"'”’)]*\S")
_STATEMENT_END = re.compile(r"[.!][\s\"'”’)]*$")


def boilerplate(text: str) -> str | None:
    """What makes `text` chat or prompt talk rather than an example, or None."""
    stripped = text.strip()
    if m := _OPENER.match(stripped):
        return f"opens with {m.group(1)!r}"
    if m := _PROMPT_WORDS.search(stripped):
        return f"mentions {m.group(0)!r}"
    if _HEADER.search(stripped):
        return "a header line ending in ':'"
    return None


def not_question(text: str, imperatives: tuple[str, ...] = ()) -> str | None:
    """Why `text` is not a question ("statement", ...), or None when it is one."""
    stripped = text.strip()
    if _ASK.search(stripped):
        return None
    first = stripped.split(maxsplit=1)[0].lower() if stripped else ""
    if first.strip(",:") in imperatives:
        return None
    if _QUESTION_THEN_TEXT.search(stripped):
        return "answer after the question"
    if _STATEMENT_END.search(stripped):
        return "statement"
    return "no question mark"


class QuestionFilterConfig(StepConfig):
    text_field: str = Field("text", description="field holding the generated question")
    checks: list[Check] = Field(
        default_factory=lambda: ["chat_boilerplate", "not_a_question"],
        description="checks to run: chat_boilerplate, not_a_question",
    )
    imperatives: list[str] = Field(
        default_factory=lambda: ["name", "list", "tell", "give", "identify"],
        description="first words of imperatives that count as questions (TREC: 'Name a ...')",
    )
    extra_boilerplate: list[str] = Field(
        default_factory=list, description="more chat openers (regular expressions, case-insensitive)"
    )


@register_step("question_filter")
class QuestionFilter(FilterStep):
    """Drops generated questions that are chat boilerplate, answers or statements.

    The checks and their details are in the module docstring.

    Input columns: `text_field` (str).
    Output columns: none: marks records dropped.
    Drop reasons: ``chat_boilerplate`` (detail: what matched), ``not_a_question`` (detail:
    ``answer after the question``, ``statement`` or ``no question mark``), ``missing_text``,
    ``not_text``.
    References: Wang et al. (2023), "Self-Instruct: Aligning Language Models with
    Self-Generated Instructions", ACL 2023, arXiv:2212.10560 (heuristic filters on raw model
    output before the data is used); Li and Roth (2002), "Learning Question Classifiers",
    COLING 2002 (TREC questions, imperatives such as "Name a ..." included).
    """

    Config = QuestionFilterConfig
    config: QuestionFilterConfig
    cpu_bound = True
    drop_reasons = ("chat_boilerplate", "not_a_question", "missing_text", "not_text")

    def __init__(self, config: StepConfig | dict[str, Any] | None = None, /, **kwargs: Any):
        super().__init__(config, **kwargs)
        self._imperatives = tuple(w.lower() for w in self.config.imperatives)
        self._extra = [re.compile(p, re.IGNORECASE) for p in self.config.extra_boilerplate]

    def input_columns(self) -> set[str]:
        return {self.config.text_field}

    def output_columns(self) -> set[str]:
        return set()

    def keep(self, record: Record) -> FilterResult:
        text = read_text(record, self.config.text_field)
        if isinstance(text, tuple):  # missing or not text: the drop verdict
            return text
        checks = self.config.checks
        if "chat_boilerplate" in checks and (why := self._boilerplate(text)):
            return False, "chat_boilerplate", why
        if "not_a_question" in checks and (why := not_question(text, self._imperatives)):
            return False, "not_a_question", why
        return True

    def _boilerplate(self, text: str) -> str | None:
        for pattern in self._extra:
            if m := pattern.search(text):
                return f"matches {m.group(0)!r}"
        return boilerplate(text)
