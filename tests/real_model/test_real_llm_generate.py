"""`llm_generate` on the real SmolLM2-135M through the run API: text replies, token counts that
add up, nothing lost, and a rerun on the response cache that costs no generation."""

from __future__ import annotations

import pytest

from real_model import assert_ledger, assert_rerun_is_free, assert_usage_adds_up
from synthpipe.generate.text_generation import TextGeneration

pytestmark = pytest.mark.real_model

QUESTIONS = [
    {"id": "q1", "question": "What is the capital of France?"},
    {"id": "q2", "question": "Name a fruit that is red."},
    {"id": "q3", "question": "What colour is the sky on a clear day?"},
    {"id": "q4", "question": "How many legs does a spider have?"},
]


def steps() -> dict:
    return {
        "answer": TextGeneration(
            prompt="Answer in one short sentence: {{ question }}", output_field="answer", max_tokens=32
        )
    }


@pytest.fixture(scope="module")
def runs(runner):
    first = runner.run(steps(), QUESTIONS, out="first")
    again = runner.run(steps(), QUESTIONS, out="again")
    return first, again


def test_replies_are_text_and_nothing_is_lost(runs) -> None:
    first, _again = runs
    result = first.result
    assert_ledger(result, TextGeneration.drop_reasons)
    assert sorted(r["id"] for r in [*result.kept, *result.dropped]) == ["q1", "q2", "q3", "q4"]
    assert result.kept, "no reply of four was usable text"
    for record in result.kept:
        assert isinstance(record["answer"], str) and record["answer"] == record["answer"].strip() != ""
    for record in result.dropped:  # a reply cut at max_tokens=32 (or empty) drops, saying so
        drop = record["_drop"]
        assert drop["reason"] in ("truncated", "empty_output"), drop
        if drop["reason"] == "truncated":
            assert "max_tokens=32" in drop["detail"]


def test_one_request_per_record_in_one_generate_and_usage_adds_up(runs, smollm) -> None:
    first, _again = runs
    assert len(first.exchanges) == 4 and first.generate_calls == 1  # one batch, one generate
    assert_usage_adds_up(first, smollm)


def test_a_rerun_on_the_cache_is_free_and_identical(runs) -> None:
    first, again = runs
    assert_rerun_is_free(first, again, "answer")
