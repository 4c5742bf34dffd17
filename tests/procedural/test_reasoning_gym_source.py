"""reasoning-gym as a source and a verifier: records, determinism, scoring, the filter's drops."""

from __future__ import annotations

import json
import sys

import pytest

from synthpipe.errors import DataError, UsageError
from synthpipe.pipeline.step import StepContext

pytest.importorskip("reasoning_gym")

from synthpipe.procedural.reasoning_gym_source import (  # noqa: E402
    ReasoningGym,
    VerifyReasoningGym,
    score_reasoning_gym,
)


def read(step: ReasoningGym, seed: int = 7, batch_size: int = 4, skip: int = 0) -> list[dict]:
    ctx = StepContext("rg", seed=seed, batch_size=batch_size, skip_batches=skip)
    return [r for batch in step.read(ctx) for r in batch]


@pytest.mark.parametrize(
    ("dataset", "params"),
    [("chain_sum", {"min_terms": 2, "max_terms": 3}), ("leg_counting", {"max_animals": 4})],
)
def test_records_carry_question_gold_answer_and_how_to_rebuild_the_entry(dataset, params):
    step = ReasoningGym(dataset=dataset, n=10, params=params)
    assert step.expected_count() == 10
    records = read(step)
    assert [r["id"] for r in records] == [f"rg-{dataset}-{i:06d}" for i in range(10)]
    for i, r in enumerate(records):
        assert r["question"] and isinstance(r["final_answer"], str)
        info = r["reasoning_gym"]
        assert {k: info[k] for k in ("dataset", "index", "size", "seed", "params")} == {
            "dataset": dataset, "index": i, "size": 10, "seed": 7, "params": params,
        }  # fmt: skip
        assert info["metadata"]["source_dataset"] == dataset
        json.dumps(r)  # JSON-safe throughout (reasoning-gym metadata holds tuples)
        assert score_reasoning_gym(r, r["final_answer"]) == 1.0
        assert score_reasoning_gym(r, str(int(r["final_answer"]) + 1)) < 1.0


def test_same_seed_same_records_other_seed_other_records():
    step = ReasoningGym(dataset="basic_arithmetic", n=12)
    assert read(step, seed=1) == read(step, seed=1)
    assert [r["question"] for r in read(step, seed=1)] != [
        r["question"] for r in read(step, seed=2)
    ]


def test_resume_skips_batches():
    step = ReasoningGym(dataset="chain_sum", n=11)
    assert read(step, batch_size=4, skip=2) == read(step, batch_size=4)[8:]


def test_filter_scores_and_drops_wrong_and_missing_candidates():
    records = read(ReasoningGym(dataset="chain_sum", n=3))
    records[0]["candidate"] = records[0]["final_answer"]
    records[1]["candidate"] = "not a number"
    records.append({"id": "other", "candidate": "3"})  # not from the reasoning_gym source
    out = VerifyReasoningGym().process(records, StepContext("verify"))
    assert out[0]["rg_score"] == 1.0 and out[0].get("_drop") is None
    assert out[1]["rg_score"] < 1.0 and out[1]["_drop"]["reason"] == "wrong_answer"
    assert out[2]["_drop"]["reason"] == "missing_candidate" and "rg_score" not in out[2]
    assert out[3]["_drop"]["reason"] == "not_reasoning_gym"


def test_min_score_and_field_names_are_configurable():
    record = read(ReasoningGym(dataset="chain_sum", n=1))[0]
    record["guess"] = "nope"
    step = VerifyReasoningGym(candidate_field="guess", min_score=0.0, score_field="s")
    out = step.process([record], StepContext("verify"))
    assert out[0]["s"] == 0.0 and out[0].get("_drop") is None


def test_config_errors_suggest_names():
    with pytest.raises(
        UsageError, match=r"unknown dataset 'chain_summ'\. Did you mean 'chain_sum'"
    ):
        ReasoningGym(dataset="chain_summ")
    with pytest.raises(UsageError, match=r"'min_term' \(did you mean 'min_terms'\?\).*max_terms"):
        ReasoningGym(dataset="chain_sum", params={"min_term": 2})
    with pytest.raises(UsageError, match="seed and size are set by the step"):
        ReasoningGym(dataset="chain_sum", params={"seed": 1})
    with pytest.raises(UsageError, match="max_terms must be >= min_terms"):
        ReasoningGym(dataset="chain_sum", params={"min_terms": 5, "max_terms": 2})
    with pytest.raises(DataError, match="reasoning_gym"):
        score_reasoning_gym({"id": "x"}, "1")


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "reasoning_gym", None)  # import now raises ImportError
    with pytest.raises(UsageError, match=r"pip install 'synthpipe\[verify\]'"):
        ReasoningGym(dataset="chain_sum")
