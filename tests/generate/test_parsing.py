"""The reply parsers shared by the techniques (synthpipe.generate.parsing)."""

from __future__ import annotations

import re

import pytest

from synthpipe.generate.parsing import (
    code_lines,
    coerce_int_score,
    coerce_score,
    collect_items,
    is_refusal,
    normalize_keys,
    parse_numbered_list,
    parse_score,
    parse_yes_no,
    rescale_unit,
    strip_fences,
    strip_label,
    strip_preamble,
    strip_quotes,
    unwrap_fence,
)
from synthpipe.generate.task import ParseError


# -- fences, preambles, labels, quotes ------------------------------------------------------------
def test_fences() -> None:
    assert code_lines("a\n```python\nb\n```\nc") == ["a", "b", "c"]
    assert strip_fences("  ```\nHello.\n```  ") == "Hello."
    assert strip_fences("Intro\n```json\n{}\n```") == "Intro\n{}"  # every fence line goes
    assert unwrap_fence("```markdown\nHello.\n```") == "Hello."
    assert unwrap_fence("  Plain text.  ") == "Plain text."
    assert unwrap_fence("Run:\n```\nls\n```") == "Run:\n```\nls\n```"  # not around the whole reply


def test_strip_preamble() -> None:
    assert strip_preamble("Sure! Here's a paraphrase:\nPlants eat light.") == "Plants eat light."
    assert strip_preamble("Certainly.\nPlants eat light.") == "Plants eat light."
    assert strip_preamble("Below is the text:\n\nIt rains.") == "It rains."
    assert strip_preamble("Sure, here it is:") == ""  # only chatter
    assert strip_preamble("Here is why: plants eat light.") == "Here is why: plants eat light."
    assert strip_preamble("Plants eat light.\nSure:\nx") == "Plants eat light.\nSure:\nx"  # first line only
    own = re.compile(r"^\s*here is the revised response:\s*\n", re.IGNORECASE)
    assert strip_preamble("Here is the revised response:\nHi.", own) == "Hi."
    assert strip_preamble("Sure!\nHi.", own) == "Sure!\nHi."


@pytest.mark.parametrize(
    ("text", "label", "expected"),
    [
        ("Math problem: Solve it.", "Math problem", "Solve it."),
        ("**Math Problem:** Solve it.", "math problem", "Solve it."),
        ("## Persona: a nurse", "Persona", "a nurse"),
        ("__Critique__ ：too long", "critique", "too long"),
        ("No label here.", "Persona", "No label here."),
        ("C++ task: sort it", "C++ task", "sort it"),  # a literal label, not a regex
        ("Persona is: x", "Persona", "Persona is: x"),
        ("Test prompt 3: Why?", re.compile(r"(?:test )?prompt(?: \d+)?"), "Why?"),
        ("User: hi\nAssistant: hello", re.compile(r"user|assistant"), "hi\nAssistant: hello"),  # once
    ],
)
def test_strip_label(text: str, label: str | re.Pattern[str], expected: str) -> None:
    assert strip_label(text, label) == expected


def test_strip_quotes() -> None:
    assert strip_quotes('"How do I boil an egg?"') == "How do I boil an egg?"
    assert strip_quotes("“Say 'hi' to me”") == "Say 'hi' to me"
    assert strip_quotes("\"'nested'\"") == "nested"
    assert strip_quotes('"a" and "b"') == '"a" and "b"'  # not one quotation
    assert strip_quotes("`code`") == "code"
    assert strip_quotes("`code`", [('"', '"')]) == "`code`"
    assert strip_quotes('"') == '"'


# -- lists ----------------------------------------------------------------------------------------
def test_collect_items_continuations() -> None:
    marker = re.compile(r"^\s*\d+\.\s+(.*)$")
    lines = ["1. first", "continues", "", "2. second", "  indented", "", "  after a blank", "chatter"]
    assert collect_items(lines, marker) == [["first", "continues"], ["second", "indented"]]
    assert collect_items(lines, marker, indented=True) == [["first"], ["second", "indented", "after a blank"]]
    assert collect_items(["no list"], marker) == []


def test_parse_numbered_list_good_messy_and_bad() -> None:
    assert parse_numbered_list("Task 9: Write a poem.\nTask 10: Sort numbers.") == [
        "Write a poem.",
        "Sort numbers.",
    ]
    messy = (
        "Here you go!\n```\n1. **Instruction:** Plan a trip to Rome.\n2) Name three rivers\n"
        "   that flow into the sea.\n\n3 - Solve 2+2.\n**4.** \u201cQuote a poet.\u201d\n```\n\nHope this helps!"
    )
    assert parse_numbered_list(messy) == [
        "Plan a trip to Rome.",
        "Name three rivers\nthat flow into the sea.",
        "Solve 2+2.",
        "Quote a poet.",
    ]
    assert parse_numbered_list("- first idea\n- second idea") == ["first idea", "second idea"]
    assert parse_numbered_list("1. a\r\n2. b") == ["a", "b"]
    assert parse_numbered_list("I cannot do that.") == []
    assert parse_numbered_list("") == []


# -- refusals and verdicts ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("I'm sorry, but I can't help with that.", True),
        ("Sorry: no.", True),
        ("I cannot write that.", True),
        ("I won't do it.", True),
        ("I'm unable to comply.", True),
        ("As an AI, I do not have opinions.", True),
        ('"I am sorry."', True),
        ("Sorrel soup is a spring dish.", False),
        ("Explain why I can sleep less in summer.", False),
    ],
)
def test_is_refusal(text: str, refusal: bool) -> None:
    assert is_refusal(text) is refusal


def test_parse_yes_no() -> None:
    assert parse_yes_no("Yes") is True and parse_yes_no(" no, it is not") is False
    assert parse_yes_no("**Yes**.") is True and parse_yes_no("Maybe") is None
    assert parse_yes_no("Nope") is None and parse_yes_no("") is None


# -- scores ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "score", "reason"),
    [
        ("The answer is complete and helpful.\nScore: 4", 4, "The answer is complete and helpful."),
        ("Reasoning: fine.\n\n**Score:** 5", 5, "fine."),
        ("Good, but not from an assistant.\nRating: 3/5", 3, "Good, but not from an assistant."),
        ("Fair.\nRating: 3 out of 5", 3, "Fair."),
        ("I first thought score: 2, but it is complete.\nScore: 4.5", 4.5, "I first thought score: 2, but it is complete."),
        ("Helpful and clear.\n4", 4, "Helpful and clear."),
        ("score:1", 1, ""),
        ("Score: 9\nOn reflection, score: 3", 3, "Score: 9\nOn reflection,"),  # the last one in range
    ],
)
def test_parse_score(reply: str, score: float, reason: str) -> None:
    assert parse_score(reply) == (score, reason)


@pytest.mark.parametrize("reply", ["It is a fine answer.", "Score: 10", "Score: 0", "Score: 03", "6", "4/10", ""])
def test_parse_score_rejects(reply: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_score(reply)
    assert err.value.reason == "parse_error"


def test_parse_score_other_scales() -> None:
    assert parse_score("Solid work.\nScore: 8/10", scale=10) == (8, "Solid work.")
    assert parse_score("Great.\n10", scale=10) == (10, "Great.")
    with pytest.raises(ParseError, match="1-10"):
        parse_score("Score: 11", scale=10)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(8, 8), ("8", 8), ("8/10", 8), ("Rating: 4 out of 5", 4), ("[[3]]", 3), ("7.5", 7.5), (True, True),
     ("no number", "no number")],
)  # fmt: skip
def test_coerce_score(value: object, expected: object) -> None:
    assert coerce_score(value) == expected


def test_coerce_int_score_rounds() -> None:
    assert coerce_int_score("7.6") == 8 and coerce_int_score(4.4) == 4 and coerce_int_score("x") == "x"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.8, 0.8), ("0.8", 0.8), (8, 0.8), ("85%", 0.85), (85, 0.85), (1, 1.0), (-1, 0.0), (250, 1.0), ("high", "high")],
)
def test_rescale_unit(value: object, expected: object) -> None:
    assert rescale_unit(value) == (pytest.approx(expected) if isinstance(expected, float) else expected)


# -- structured replies ---------------------------------------------------------------------------
def test_normalize_keys() -> None:
    data = {"Instruction Following": 1, "instruction-following ": 2, "Other": 3}
    assert normalize_keys({"Instruction Following": 1, "Other": 3}, ["instruction_following"]) == {
        "instruction_following": 1,
        "Other": 3,
    }
    assert normalize_keys(data, ["instruction_following"])["instruction_following"] == 2  # the last wins
    assert normalize_keys([1, 2], ["x"]) == [1, 2]
