"""seed_copy_filter on questions SmolLM2-135M-Instruct wrote from the bundled TREC seeds: copies
and rewordings of a seed drop with the seed named; new questions in a seed's frame stay."""

from __future__ import annotations

import json

import pytest

from synthpipe.curate.seed_copies import SeedCopyFilter, content_words
from synthpipe.errors import UsageError


@pytest.fixture(scope="module")
def step() -> SeedCopyFilter:
    return SeedCopyFilter()  # the bundled TREC seeds


@pytest.mark.parametrize(
    ("text", "seed_id"),
    [
        ("What does SHIELD stand for?", "trec-train-2500"),  # verbatim but for the spacing
        ("What is the food of the Greek gods called?", "trec-train-2813"),  # "was" -> "is"
        ("What is the difference between a median and a median?", "trec-train-922"),
        ("How many people own pets in Chile?", "trec-train-4427"),  # a word added
        ("Who is Samuel F. Pickering ?", "trec-train-3667"),
        ("What is the name of the 187s Irish terrorist group in Pennsylvania mining areas?", "trec-train-609"),
        ("What four horsemen of the apocalypse?", "trec-train-5015"),  # "Name the Four Horsemen ..."
    ],
)
def test_copies_and_near_copies_drop_naming_the_seed(step, text, seed_id):
    verdict = step.keep({"text": text})
    assert verdict[:2] == (False, "copies_seed")
    assert verdict[2].startswith(f"of {seed_id} ")
    assert "ROUGE-L" in verdict[2] and "content" in verdict[2]


@pytest.mark.parametrize(
    "text",
    [
        "What does LOL stand for?",  # the frame of "What does NASA stand for ?", a new abbreviation
        "Can you tell me what the acronym SCHMAL stands for?",
        "What is the longest river in Africa?",  # shares "What is the longest" with a seed
        "What's the origin of the violin?",
        "How many people live in Japan?",  # "... live in Chile ?" with another country
    ],
)
def test_new_questions_in_a_seed_frame_stay(step, text):
    assert step.keep({"text": text}) is True


def test_content_words_leave_out_question_and_function_words():
    assert content_words("What is the food of the Greek gods called ?") == {"food", "greek", "gods", "called"}


def test_own_seed_file_and_bad_inputs(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"id": "s1", "question": "Which planet is the largest ?"}) + "\n")
    step = SeedCopyFilter(seeds=str(seeds), seed_text_field="question")
    assert step.keep({"text": "Which planet is largest?"})[2].startswith("of s1 ")
    assert step.keep({"other": "x"})[:2] == (False, "missing_text")
    assert step.keep({"text": None})[:2] == (False, "missing_text")  # as every text filter
    assert step.keep({"text": 3})[:2] == (False, "not_text")
    with pytest.raises(UsageError, match="seed_text_field"):
        SeedCopyFilter(seeds=str(seeds)).keep({"text": "Which planet?"})
    with pytest.raises(UsageError, match="no such seed file"):
        SeedCopyFilter(seeds=str(tmp_path / "none.jsonl")).keep({"text": "Which planet?"})
