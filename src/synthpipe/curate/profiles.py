"""Data profiles: which quality filters suit which kind of data, with which settings.

Rules tuned for one kind of text drop good records of another: Gopher's web-page rules
(:mod:`synthpipe.curate.filters.symbols`) drop 84% of GSM8K's worked answers (``####`` and
``<<48/2=24>>`` are "symbols") and 16% of MBPP's programs, and a three-word minimum drops
correct short answers ("Telegram", "1", "Negative."). A profile names the filters for one kind
of data and the fields they read:

=============  ==================================  =========================================
profile        data                                fields (defaults)
=============  ==================================  =========================================
instruction    SFT pairs (Alpaca, Self-Instruct)   instruction, input (optional), output
chat           conversations                       messages (``role``/``content`` or ShareGPT)
math           word problems with worked answers   question, answer
code           programming tasks with programs     text, code
text           short texts and labels (TREC, SST)  text
web            web pages, long documents           text
=============  ==================================  =========================================

Response-side rules never use the web minimums (word counts, letter fractions, mean word
length, ``#`` per word): a response may be one word, a number, a program or a hashtag tweet.
``web`` is Gopher's rules as ``synthpipe filter`` ran them before profiles. The stages of each
profile and their settings are :data:`PROFILES`; the keep rate of every profile on every clean
real set is in ``benchmarks/README.md`` (``benchmarks/bench_filter_profiles.py``).

:func:`detect_profile` picks a profile from the fields records have (``synthpipe filter``
without ``--profile``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from synthpipe.errors import UsageError

ProfileName = Literal["instruction", "chat", "math", "code", "text", "web"]
Role = Literal["instruction", "input", "response", "messages", "text"]


@dataclass(frozen=True)
class Stage:
    """One filter of a profile: a registered step, its settings, and which roles fill its
    field options (``{"text_field": ("instruction", "response")}``)."""

    name: str
    step: str
    config: Mapping[str, Any] = field(default_factory=dict)
    fields: Mapping[str, Role | tuple[Role, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    """A named set of stages and the default field of each role it reads."""

    name: ProfileName
    description: str
    fields: Mapping[Role, str]
    stages: tuple[Stage, ...]
    required: tuple[Role, ...]


# Symbol rules that hold for short texts: ellipses per word (Gopher's threshold). The word-shape
# rules (letters per word, mean word length, '#' per word) are for web pages; a one-line text
# that ends in "..." has all its lines ending in an ellipsis. Pair profiles run no symbol rule:
# a reply may be a bullet list, a program, a formula or a fill-in template ("1- ... is ...").
_SYMBOL_ANY_TEXT = {"max_hash_ratio": None, "min_alpha_words": None, "min_mean_word_length": None,
                    "max_mean_word_length": None, "max_bullet_lines": None, "max_ellipsis_lines": None}  # fmt: skip
# Gopher's n-gram shares drop lists and surveys ("What is your favorite...?" x 8) and 7% of
# OpenAssistant's replies; choruses repeat lines. A response that loops has most of its
# characters in repeated 10-grams (0.95 for a sentence said 5 times; at most 0.75 in real
# replies) or half of its lines repeated.
_REPETITION_RESPONSE = {
    "ignore_code": True, "dup_line_frac": 0.5, "dup_para_frac": 0.5, "dup_line_char_frac": 0.5,
    "dup_para_char_frac": 0.5, "top_ngram_char_frac": {}, "dup_ngram_char_frac": {10: 0.8},
}  # fmt: skip
_PAIR_FIELDS = {"instruction_field": "instruction", "input_field": "input", "response_field": "response"}


def _pair_stages(instruction_checks: tuple[str, ...] | None, llm_checks: tuple[str, ...],
                 response_is_code: bool = False, repetition: bool = True) -> tuple[Stage, ...]:  # fmt: skip
    """The stages of the profiles whose records are (instruction, input, response) pairs."""
    detectors = {} if instruction_checks is None else {"checks": list(instruction_checks)}
    stages = [
        Stage("instruction", "instruction_filter", {**detectors, "response_is_code": response_is_code}, _PAIR_FIELDS),
        Stage("llm_output", "llm_output_filter", {"checks": list(llm_checks), "strict_truncation": False, "disclaimers": False},
              {"instruction_field": "instruction", "response_field": "response"}),
    ]  # fmt: skip
    if repetition:
        stages.append(Stage("repetition", "repetition_filter", _REPETITION_RESPONSE, {"text_field": "response"}))
    return tuple(stages)


_ALL_LLM = ("impossible_instruction", "empty_output", "refusal", "echoes_instruction", "truncated")
PROFILES: dict[str, Profile] = {
    "instruction": Profile(
        "instruction", "SFT pairs: instruction, optional input, output",
        {"instruction": "instruction", "input": "input", "response": "output"},
        _pair_stages(None, _ALL_LLM), ("instruction", "response"),
    ),
    "chat": Profile(
        "chat", "conversations: each assistant turn is checked against the user turn before it",
        {"messages": "messages"}, _pair_stages(None, _ALL_LLM), ("messages",),
    ),
    "math": Profile(
        "math", "word problems with worked answers (GSM8K, MATH): no symbol rules on the working",
        {"instruction": "question", "response": "answer"},
        (
            *_pair_stages(("control_chars", "missing_attachment", "placeholder_output", "template_leak"),
                          ("empty_output", "refusal", "echoes_instruction", "truncated"), repetition=False),
            # duplicate lines and paragraphs only: worked answers repeat their n-grams by nature
            Stage("repetition", "repetition_filter", {"top_ngram_char_frac": {}, "dup_ngram_char_frac": {}},
                  {"text_field": "response"}),
        ),
        ("instruction", "response"),
    ),  # fmt: skip
    "code": Profile(
        "code", "programming tasks with programs: the program is code, not prose",
        {"instruction": "text", "response": "code"},
        _pair_stages(("control_chars", "missing_attachment", "placeholder_output", "template_leak", "empty_code"),
                     ("empty_output", "refusal", "echoes_instruction", "truncated"),
                     response_is_code=True, repetition=False),
        ("instruction", "response"),
    ),  # fmt: skip
    "text": Profile(
        "text", "short texts and labels (classification data, tweets): one word is a text",
        {"text": "text"},
        (
            Stage("text", "text_filter", {"min_words": 1, "min_alpha_fraction": 0.0}, {"text_field": "text"}),
            Stage("repetition", "repetition_filter", {}, {"text_field": "text"}),
            Stage("symbol", "symbol_filter", _SYMBOL_ANY_TEXT, {"text_field": "text"}),
            Stage("llm_output", "llm_output_filter", {"instruction_field": None, "checks": ["empty_output", "refusal"]},
                  {"response_field": "text"}),
        ),
        ("text",),
    ),  # fmt: skip
    "web": Profile(
        "web", "web pages and long documents: Gopher's rules (Rae et al. 2021)",
        {"text": "text"},
        (
            Stage("text", "text_filter", {}, {"text_field": "text"}),
            Stage("repetition", "repetition_filter", {}, {"text_field": "text"}),
            Stage("symbol", "symbol_filter", {}, {"text_field": "text"}),
            Stage("llm_output", "llm_output_filter", {"instruction_field": None}, {"response_field": "text"}),
        ),
        ("text",),
    ),
}


def get_profile(name: str) -> Profile:
    """The profile called `name`; a UsageError lists the known ones."""
    if name not in PROFILES:
        raise UsageError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
    return PROFILES[name]


# -- detection ------------------------------------------------------------------------------
INSTRUCTION_NAMES = ("instruction", "prompt", "question", "query", "problem", "input_text", "user")
RESPONSE_NAMES = ("output", "response", "answer", "completion", "solution", "generation", "target", "assistant")
INPUT_NAMES = ("input", "context")
MESSAGES_NAMES = ("messages", "conversations", "conversation", "turns", "dialogue")
TEXT_NAMES = ("text", "sentence", "content", "document", "body")
CODE_NAMES = ("code", "program", "canonical_solution")
_MATH_ANSWER = re.compile(r"####\s*-?[\d.,/]+|\\boxed\{|the answer is\b", re.IGNORECASE)


@dataclass(frozen=True)
class Detected:
    """A profile chosen from the records' fields, the field of each role, and why."""

    profile: ProfileName
    fields: dict[str, str]
    reason: str


def detect_profile(records: Iterable[Mapping[str, Any]]) -> Detected | None:
    """The profile whose fields the sample `records` have, or None if nothing fits.

    Rules, in order: a list of messages -> ``chat``; a code field -> ``code`` (the task is the
    first instruction or text field); an instruction and a response field -> ``math`` when
    answers end in ``#### n``, ``\\boxed{}`` or "the answer is", else ``instruction`` (an
    ``input`` field joins it); a text field alone -> ``text``. Field names are matched in
    lower case, in the order of the ``*_NAMES`` tuples.
    """
    sample = [r for r in records if isinstance(r, Mapping)]
    names = _present(sample)
    pick = lambda options: next((names[o] for o in options if o in names), None)  # noqa: E731
    messages = next((names[o] for o in MESSAGES_NAMES if o in names and _is_list(sample, names[o])), None)
    if messages:
        return Detected("chat", {"messages": messages}, f"list field {messages!r}")
    code = pick(CODE_NAMES)
    task = pick((*INSTRUCTION_NAMES, *TEXT_NAMES))
    if code and task:
        return Detected("code", {"instruction": task, "response": code}, f"fields {task!r} and {code!r}")
    instruction, response = pick(INSTRUCTION_NAMES), pick(RESPONSE_NAMES)
    if instruction and response and instruction != response:
        fields = {"instruction": instruction, "response": response}
        if (input_field := pick(INPUT_NAMES)) and input_field not in fields.values():
            fields["input"] = input_field
        answers = [r.get(response) for r in sample if isinstance(r.get(response), str)]
        math = answers and sum(bool(_MATH_ANSWER.search(a)) for a in answers) >= 0.5 * len(answers)
        return Detected("math" if math else "instruction", fields,
                        f"fields {instruction!r} and {response!r}" + ("; answers end in a final answer" if math else ""))  # fmt: skip
    text = pick(TEXT_NAMES) or instruction or response
    if text:
        return Detected("text", {"text": text}, f"text field {text!r}")
    return None


def _present(sample: list[Mapping[str, Any]]) -> dict[str, str]:
    """lower-case name -> field name, for fields holding a value in at least one record."""
    found: dict[str, str] = {}
    for record in sample:
        for key, value in record.items():
            if not key.startswith("_") and value is not None:
                found.setdefault(key.lower(), key)
    return found


def _is_list(sample: list[Mapping[str, Any]], name: str) -> bool:
    return any(isinstance(r.get(name), list) for r in sample)


def profile_fields(profile: Profile, given: Mapping[str, str | None]) -> dict[str, str]:
    """The field of each role the profile reads: `given` where set, else the profile default."""
    return {role: given.get(role) or default for role, default in profile.fields.items()}
