"""Answer extraction and number parsing, unit cases and GSM8K's own gold solutions."""

from __future__ import annotations

import gzip
import json
from fractions import Fraction
from pathlib import Path

import pytest

from synthpipe.verify.answers import ExtractedAnswer, clean_answer, extract_answer, parse_number
from synthpipe.verify.math_check import answers_match

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BUNDLED_TEST = (
    Path(__file__).resolve().parents[2] / "src/synthpipe/resources/benchmarks/gsm8k/test.jsonl.gz"
)


def _gsm8k(split: str) -> list[dict]:
    path = SHARED / "gsm8k" / f"{split}.jsonl"
    if path.exists():
        lines = path.read_text(encoding="utf-8").splitlines()
    elif split == "test" and BUNDLED_TEST.exists():  # the package ships the test split
        lines = gzip.decompress(BUNDLED_TEST.read_bytes()).decode("utf-8").splitlines()
    else:
        pytest.skip(f"GSM8K {split} not found under {SHARED}")
    return [json.loads(line) for line in lines if line.strip()]


def _gold(solution: str) -> str:
    return solution.rsplit("####", 1)[1].strip()


# -- formats ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "answer", "method"),
    [
        ("She makes 9 * 2 = $<<9*2=18>>18.\n#### 18", "18", "gsm8k"),
        ("#### 5\nwait, redo\n#### 1,000", "1000", "gsm8k"),  # last #### line wins
        ("So the total is\n#### $18.00.", "18", "gsm8k"),
        ("#### 12 dollars", "12", "gsm8k"),
        ("#### -3", "-3", "gsm8k"),
        ("#### 18 (she keeps the rest)", "18", "gsm8k"),
        ("Thus \\boxed{\\frac{1}{2}} is the probability.", "\\frac{1}{2}", "boxed"),
        ("first \\boxed{1}, then \\boxed{\\sqrt{x^{2}+1}}", "\\sqrt{x^{2}+1}", "boxed"),
        ("\\fbox{42}", "42", "boxed"),
        ("$\\boxed{18 \\text{ dollars}}$", "18", "boxed"),
        ("\\boxed{1{,}000}", "1000", "boxed"),
        ("The answer is 42.", "42", "answer_phrase"),
        ("Final Answer: The final answer is $5$. I hope it is correct.", "5", "answer_phrase"),
        ("Answer: 7, because 3 + 4 = 7", "7", "answer_phrase"),
        ("So the answer is $18.00 per hour.", "18", "answer_phrase"),
        ("The answer is: **-2.50**", "-2.5", "answer_phrase"),
        ("the answer is (1, 2).", "(1, 2)", "answer_phrase"),
        ("The answer is \\frac{3}{4}. Done.", "\\frac{3}{4}", "answer_phrase"),
        ("The answer is 2 1/2 hours.", "2 1/2", "answer_phrase"),
        ("He paid 3 + 4 = 7 dollars, so 7 - 2 = 5 remain.", "5", "last_number"),
        ("Prices rose by 25%.", "25%", "last_number"),
        ("It is 3/4 of the pie.", "3/4", "last_number"),
        ("The temperature fell to -12 degrees.", "-12", "last_number"),
    ],
)
def test_extract_answer_formats(text: str, answer: str, method: str) -> None:
    assert extract_answer(text) == ExtractedAnswer(answer, method)


def test_gsm8k_marker_beats_boxed_and_phrases() -> None:
    text = "The answer is 3. Also \\boxed{4}\n#### 5"
    assert extract_answer(text) == ExtractedAnswer("5", "gsm8k")
    assert extract_answer("The answer is 3. Also \\boxed{4}") == ExtractedAnswer("4", "boxed")


def test_unbalanced_boxed_falls_back_to_an_earlier_one() -> None:
    assert extract_answer("\\boxed{7} and then \\boxed{8", fallback_last_number=False) == (
        ExtractedAnswer("7", "boxed")
    )


def test_no_answer_and_fallback_switch() -> None:
    assert extract_answer("I do not know how to solve this.") is None
    assert extract_answer("") is None
    assert extract_answer("   \n") is None
    assert extract_answer("We bought 3 apples and ate 2.", fallback_last_number=False) is None
    assert extract_answer("We bought 3 apples and ate 2.") == ExtractedAnswer("2", "last_number")


# -- numbers ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,000", Fraction(1000)),
        ("$18.00", Fraction(18)),
        ("\\$18", Fraction(18)),
        ("3/4", Fraction(3, 4)),
        ("-3/4", Fraction(-3, 4)),
        ("2 1/2", Fraction(5, 2)),
        ("25%", Fraction(25)),  # % is read like a unit; answers_match knows 25% == 0.25
        ("-5", Fraction(-5)),
        ("−5", Fraction(-5)),  # U+2212 minus
        ("-$5.50", Fraction(-11, 2)),
        ("0.125", Fraction(1, 8)),
        (".5", Fraction(1, 2)),
        ("1e3", Fraction(1000)),
        ("18 dollars", Fraction(18)),
        ("12 km/h", Fraction(12)),
        ("5cm", Fraction(5)),
        ("90^\\circ", Fraction(90)),
        ("$7$", Fraction(7)),
    ],
)
def test_parse_number(text: str, value: Fraction) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(
    "text", ["x", "", "2x", "2pi", "3 times 4", "1/0", "\\frac{1}{2}", "5 apples and 3 pears"]
)
def test_parse_number_rejects_non_numbers(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("1,000", "1000"),
        ("$18.00", "18"),
        ("3/4", "3/4"),
        ("25%", "25%"),
        ("-0.50", "-0.5"),
        ("-0", "0"),
        ("$\\frac{1}{2}$.", "\\frac{1}{2}"),
        ("\\boxed{\\boxed{5}}", "5"),
    ],
)
def test_clean_answer_canonical_text(raw: str, clean: str) -> None:
    assert clean_answer(raw) == clean


# -- GSM8K: every gold solution must verify against its own final answer ------------------------
# Misses per split, with why; none so far: every GSM8K gold answer is an integer after
# "####", 14 (test) / 79 (train) with thousands commas ("2,125"), which normalise away.
EXPLAINED_MISSES: dict[str, dict[int, str]] = {"test": {}, "train": {}}


@pytest.mark.parametrize("split", ["test", "train"])
def test_gsm8k_gold_solutions_verify_against_their_answers(split: str) -> None:
    rows = _gsm8k(split)
    misses = []
    for i, row in enumerate(rows):
        found = extract_answer(row["answer"])
        if found is None or not answers_match(_gold(row["answer"]), found.text).equal:
            misses.append(i)
    rate = 1 - len(misses) / len(rows)
    assert set(misses) == set(EXPLAINED_MISSES[split]), f"{split}: rate {rate:.4f}, {misses[:10]}"
    assert rate == 1.0


@pytest.mark.parametrize("split", ["test", "train"])
def test_gsm8k_corrupted_answers_all_fail(split: str) -> None:
    rows = _gsm8k(split)
    wrongly_passed = []
    for i, row in enumerate(rows):
        gold = _gold(row["answer"])
        wrong = parse_number(gold) + 1
        body = row["answer"].rsplit("####", 1)[0]
        found = extract_answer(f"{body}#### {wrong}")
        assert found is not None and found.method == "gsm8k"
        if answers_match(gold, found.text).equal:
            wrongly_passed.append(i)
    assert wrongly_passed == []


def test_gsm8k_without_marker_last_number_mostly_recovers() -> None:
    """With the #### line cut off, the last-number fallback still finds ~97% of answers.

    Measured 0.9719 on test (1282/1319). The 37 misses end on a number that is not the result
    ("... = 15 liters of water out of the 24 liters", "... 9 points in the 40 minutes") or
    write thousands with spaces ("$118 000").
    """
    rows = _gsm8k("test")
    hits = 0
    for row in rows:
        found = extract_answer(row["answer"].rsplit("####", 1)[0])
        hits += found is not None and answers_match(_gold(row["answer"]), found.text).equal
    assert hits / len(rows) > 0.96
