"""planning_problems: seeded, solvable problems whose reference plan is optimal and valid, a
statement that gives the initial state, goal and action syntax, and graded difficulty."""

from __future__ import annotations

import statistics

import pytest
from pydantic import ValidationError

from synthpipe import Pipeline
from synthpipe.errors import UsageError
from synthpipe.procedural.planning_problems import PlanningProblems
from synthpipe.tools.planning import Problem, check_plan_text, get_domain, solve


def records(n: int = 12, seed: int = 0, **config) -> list[dict]:
    return [PlanningProblems(n=n, **config).record(i, seed) for i in range(n)]


@pytest.mark.parametrize("domain", ["blocksworld", "logistics"])
def test_reference_plans_are_valid_optimal_and_in_range(domain: str) -> None:
    size = (1, 2) if domain == "logistics" else (3, 5)
    rows = records(
        domains=[domain], min_size=size[0], max_size=size[1], min_plan_length=4, max_plan_length=12
    )
    for row in rows:
        problem = Problem.from_dict(row["problem"])
        assert problem.domain == domain
        assert check_plan_text(problem, row["reference_plan"]).valid
        assert 4 <= row["optimal_length"] <= 12
        assert (
            row["optimal_length"]
            == len(row["reference_plan"].splitlines())
            == solve(problem).length
        )
        assert size[0] <= row["_lineage"]["size"] <= size[1]


def test_the_statement_gives_state_goal_and_syntax() -> None:
    row = records(1)[0]
    problem = Problem.from_dict(row["problem"])
    domain = get_domain("blocksworld")
    for fact in [*problem.init, *problem.goal]:
        assert domain.describe_fact(fact) in row["question"]
    assert "(unstack x y)" in row["question"] and "one action per line" in row["question"]


def test_same_seed_same_problems_and_records_are_independent() -> None:
    assert records(5, seed=3) == records(5, seed=3)
    assert records(5, seed=3) != records(5, seed=4)
    step = PlanningProblems(n=5)
    assert step.record(4, 3) == records(5, seed=3)[4]  # no need to make 0-3 first


def test_bigger_problems_have_longer_plans() -> None:
    easy = records(10, min_size=2, max_size=3, min_plan_length=1, max_plan_length=30)
    hard = records(10, min_size=6, max_size=6, min_plan_length=1, max_plan_length=30)
    assert statistics.mean(r["optimal_length"] for r in hard) > statistics.mean(
        r["optimal_length"] for r in easy
    )


def test_mixed_domains_and_a_pipeline_run(tmp_path) -> None:
    result = Pipeline(
        "plans",
        {
            "problems": PlanningProblems(
                n=6, domains=["blocksworld", "logistics"], min_size=2, max_size=3
            )
        },
    ).run(tmp_path / "run")
    assert len(result.kept) == 6 and {r["problem"]["domain"] for r in result.kept} == {
        "blocksworld",
        "logistics",
    }
    assert [r["id"] for r in result.kept] == [f"plan-{i:06d}" for i in range(6)]


def test_impossible_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="min_size"):
        PlanningProblems(min_size=5, max_size=3)
    with pytest.raises(ValidationError, match="must differ"):
        PlanningProblems(plan_field="question")
    with pytest.raises(UsageError, match="widen the plan-length range"):
        records(1, min_size=2, max_size=2, min_plan_length=20, max_plan_length=30)
