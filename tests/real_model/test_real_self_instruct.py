"""`self_instruct` on the real SmolLM2-135M: one round of new tasks through the paper's filters
and instances for the kept ones; every candidate is kept or dropped with a reason, token counts
add up, and a rerun on the response cache is free and identical."""

from __future__ import annotations

import pytest

from real_model import assert_ledger, assert_rerun_is_free, assert_usage_adds_up
from synthpipe.generate.self_instruct import SelfInstruct

pytestmark = pytest.mark.real_model


def steps() -> dict:
    return {
        "tasks": SelfInstruct(
            n=2, max_rounds=1, requests_per_round=2, num_demos=2, num_machine_demos=0, num_new=2,
            max_tokens=64, classification="heuristic", instance_examples=1,
            instance_max_tokens=48, max_parse_attempts=2,
        )  # fmt: skip
    }


@pytest.fixture(scope="module")
def runs(runner):
    first = runner.run(steps(), out="first")
    again = runner.run(steps(), out="again")
    return first, again


def test_every_candidate_is_kept_or_dropped_with_a_reason(runs) -> None:
    first, _again = runs
    result = first.result
    assert_ledger(result, SelfInstruct.drop_reasons)
    records = [*result.kept, *result.dropped]
    ids = sorted(r["id"] for r in records)
    assert ids == [f"self_instruct-{i:06d}" for i in range(len(ids))]  # numbered without gaps
    assert {r["_lineage"]["tasks"]["request"] for r in records} == {0, 1}
    assert len(result.kept) <= 2
    for record in result.kept:
        assert len(record["instruction"].split()) >= 3
        assert isinstance(record["output"], str) and record["output"].strip()
        assert record["is_classification"] in (True, False)


def test_usage_adds_up_and_a_rerun_is_free(runs, smollm) -> None:
    first, again = runs
    assert_usage_adds_up(first, smollm)
    assert_rerun_is_free(first, again, "instruction", "input", "output")
