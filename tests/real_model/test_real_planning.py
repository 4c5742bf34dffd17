"""Planning on the real SmolLM2-135M: rejection sampling with `verify_plan` over three easy
Blocksworld problems. The model is tiny, so the test asserts the bookkeeping (every sampled plan
checked, every rejection with a validator reason), not a pass rate; the rate is printed."""

from __future__ import annotations

import pytest

from real_model import assert_ledger
from synthpipe.generate.rejection_sampling import RejectionSampling
from synthpipe.procedural.planning_problems import PlanningProblems
from synthpipe.verify.plan_check import VerifyPlan

# slow: it documents what the small model does (figures in the README); the default run keeps the
# real-model tests that assert behaviour every backend change must keep
pytestmark = [pytest.mark.real_model, pytest.mark.slow]

K = 2
PLAN_REASONS = {*VerifyPlan.drop_reasons, "truncated"}


def test_sampled_plans_are_all_verified_and_rejections_say_why(runner) -> None:
    source = PlanningProblems(n=3, min_size=2, max_size=2, min_plan_length=1, max_plan_length=2)
    steps = {
        "problems": source,
        "plan": RejectionSampling(
            k=K, kind="plan", max_tokens=48, temperature=0.7, verifier={"step": "verify_plan"}
        ),
    }
    outcome = runner.run(steps, out="plans")
    result = outcome.result
    assert_ledger(result, RejectionSampling.drop_reasons)
    assert len(outcome.exchanges) == 3 * K
    passed = 0
    for record in [*result.kept, *result.dropped]:
        if (record.get("_drop") or {}).get("reason") == "truncated":
            continue  # every reply cut at max_tokens: nothing to verify
        stats = record["rejection_sampling"]
        assert stats["tried"] == K and set(stats["reasons"]) <= PLAN_REASONS
        passed += stats["passed"]
    for record in result.kept:  # a kept plan really is valid
        assert record["candidate"].strip()
    print(f"SmolLM2-135M planning pass rate: {passed}/{3 * K} sampled plans valid")
