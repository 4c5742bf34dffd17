"""`judge_score` on the real SmolLM2-135M as the judge: every record is scored within the scale
or dropped with its reason (a judgement that never parses drops as parse_error with the raw
reply), token counts add up, and a rerun on the response cache is free."""

from __future__ import annotations

import pytest

from real_model import assert_ledger, assert_rerun_is_free, assert_usage_adds_up
from synthpipe.generate.llm_judge import PointwiseJudge

pytestmark = pytest.mark.real_model

PAIRS = [
    {"id": "p1", "instruction": "What is the capital of France?", "response": "Paris."},
    {"id": "p2", "instruction": "What is the capital of France?", "response": "Bananas are yellow."},
    {"id": "p3", "instruction": "Name a primary colour.", "response": ""},  # nothing to judge
]


def steps() -> dict:
    return {
        "judge": PointwiseJudge(
            rubric={"correctness": "Does the response answer the request correctly?"},
            scale=5, max_tokens=48, max_parse_attempts=2,
        )  # fmt: skip
    }


@pytest.fixture(scope="module")
def runs(runner):
    first = runner.run(steps(), PAIRS, out="first")
    again = runner.run(steps(), PAIRS, out="again")
    return first, again


def test_every_record_is_scored_in_range_or_dropped_with_a_reason(runs) -> None:
    first, _again = runs
    result = first.result
    assert_ledger(result, PointwiseJudge.drop_reasons)
    assert sorted(r["id"] for r in [*result.kept, *result.dropped]) == ["p1", "p2", "p3"]
    dropped = {r["id"]: r["_drop"] for r in result.dropped}
    assert dropped["p3"]["reason"] == "missing_input"  # never sent to the judge
    for record in result.kept:
        assert set(record["judge_scores"]) == {"correctness"}
        assert 1 <= record["judge_scores"]["correctness"] <= 5 and 1 <= record["judge_score"] <= 5
        assert record["judge_rationale"].startswith("correctness (")
    for rid, drop in dropped.items():
        if rid != "p3":  # a judgement with no parseable score, or one cut at max_tokens
            assert drop["reason"] in ("parse_error", "truncated"), drop
            if drop["reason"] == "parse_error":
                assert "raw reply:" in drop["detail"]


def test_usage_adds_up_and_a_rerun_is_free(runs, smollm) -> None:
    first, again = runs
    assert 2 <= len(first.exchanges) <= 4  # p1 and p2, each repaired at most once
    assert_usage_adds_up(first, smollm)
    assert_rerun_is_free(first, again, "judge_score", "judge_scores")
