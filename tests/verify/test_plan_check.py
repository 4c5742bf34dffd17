"""verify_plan: keeps valid plans with their length against the optimal one, drops the rest
with the reason and where it failed; as rejection_sampling's verifier in recipes/planning.yaml
(on the scripted server) it keeps the valid plans of each problem and ledgers the others."""

from __future__ import annotations

import sys
from pathlib import Path

from synthpipe import Pipeline
from synthpipe.pipeline.step import StepContext
from synthpipe.procedural.planning_problems import PlanningProblems
from synthpipe.verify.plan_check import VerifyPlan

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from llm_server import ScriptedOpenAIServer, last_user_content  # noqa: E402

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "planning.yaml"
PROBLEM = PlanningProblems(n=1, min_plan_length=4).record(0, seed=0)


def verify(candidate, **config) -> dict:
    row = {**PROBLEM, "candidate": candidate}
    return VerifyPlan(**config).process([row], StepContext(name="verify"))[0]


def test_a_valid_plan_is_kept_with_its_verification_facts() -> None:
    row = verify(PROBLEM["reference_plan"])
    assert "_drop" not in row or row["_drop"] is None
    facts = row["verification"]
    optimal = PROBLEM["optimal_length"]
    assert facts["passed"] and facts["length"] == facts["optimal_length"] == optimal
    assert facts["optimality_ratio"] == 1.0 and len(facts["plan"]) == optimal


def test_each_failure_is_dropped_with_its_reason_and_detail() -> None:
    first = PROBLEM["reference_plan"].splitlines()[0]
    skipped = verify("\n".join(PROBLEM["reference_plan"].splitlines()[1:]))["_drop"]
    assert skipped["reason"] == "invalid_action" and skipped["detail"]["step"] == 1
    assert skipped["detail"]["unmet"]  # the unmet precondition(s), e.g. ["(handempty)"]
    short = verify(first)["_drop"]
    assert short["reason"] == "goal_not_reached" and short["detail"]["unmet_goals"]
    garbage = verify("The answer is 42.")["_drop"]
    assert (
        garbage["reason"] == "unparseable_plan"
        and "no blocksworld action" in garbage["detail"]["error"]
    )
    missing = VerifyPlan().process([{"candidate": "(pick-up a)"}], StepContext(name="v"))[0][
        "_drop"
    ]
    assert missing["reason"] == "missing_field" and missing["detail"]["field"] == "problem"
    row = {**PROBLEM, "problem": {**PROBLEM["problem"], "domain": "chess"}, "candidate": "(a)"}
    unknown = VerifyPlan().process([row], StepContext(name="v"))[0]["_drop"]
    assert unknown["reason"] == "invalid_problem"
    assert "unknown planning domain" in unknown["detail"]["error"]


def test_longer_than_allowed_valid_plans_can_be_dropped() -> None:
    plan = PROBLEM["reference_plan"].splitlines()
    verb, *args = plan[0].strip("()").split()
    undo = {"pick-up": "put-down", "unstack": "stack"}[verb]  # do the first step, undo it, redo it
    longer = "\n".join([plan[0], f"({undo} {' '.join(args)})", *plan])
    assert verify(longer)["verification"]["optimality_ratio"] > 1
    row = verify(longer, max_length_ratio=1.0)
    assert (
        row["_drop"]["reason"] == "plan_too_long"
        and row["_drop"]["detail"]["max_length_ratio"] == 1.0
    )


# -- the recipe, end to end on the scripted server ----------------------------------------------
def responder_for(problems: dict[str, dict]):
    """Problem i (by its statement) gets: i % 4 == 0 the optimal plan in plain English for every
    sample, 1 the optimal PDDL plan on even seeds and a plan missing its last action on odd ones,
    2 a plan whose first step is impossible, 3 garbage."""

    def respond(body: dict) -> list[str]:
        row = problems[last_user_content(body)]
        kind, plan = int(row["id"][-6:]) % 4, row["reference_plan"].splitlines()
        if kind == 0:
            from synthpipe.tools.planning import Problem, get_domain, parse_plan

            problem = Problem.from_dict(row["problem"])
            domain = get_domain(problem.domain)
            steps = parse_plan(row["reference_plan"], problem)
            return [
                "My plan:\n"
                + "\n".join(f"{i}. {domain.describe_action(a)}" for i, a in enumerate(steps, 1))
            ]
        if kind == 1:
            return ["\n".join(plan if body["seed"] % 2 == 0 else plan[:-1])]
        if kind == 2:
            return ["\n".join(plan[1:] + plan[:1])]
        return ["I cannot help with moving blocks, sorry! #### 7"]

    return respond


def test_planning_recipe_keeps_valid_plans_and_ledgers_the_rest(tmp_path) -> None:
    n = 12
    source = PlanningProblems(
        n=n, domains=["blocksworld", "logistics"], min_size=2, max_size=3, max_plan_length=14
    )
    rows = [source.record(i, 0) for i in range(n)]
    problems = {row["question"]: row for row in rows}
    with ScriptedOpenAIServer(responder=responder_for(problems)) as server:
        pipe = Pipeline.from_recipe(RECIPE, [
            f"llms.default.base_url={server.base_url}", "llms.default.api_key_env=null",
            f"llm_cache={tmp_path / 'cache.sqlite'}", f"steps.problems.n={n}",
            "steps.problems.min_size=2", "steps.problems.max_size=3", "steps.audit.embed=false",
        ])  # fmt: skip
        result = pipe.run(tmp_path / "run")
        assert len(server.requests) == 4 * n
    # equal statements (small problems can repeat) get the script of the last row that has it
    kind = {
        f"plan-{i:06d}": int(problems[row["question"]]["id"][-6:]) % 4 for i, row in enumerate(rows)
    }
    kept = {r["id"].split("~")[0]: r for r in result.kept}
    # keep: distinct, and the valid replies of a problem are all the same plan
    assert len(result.kept) == len(kept)
    assert sorted(kept) == sorted(pid for pid, k in kind.items() if k in (0, 1))
    for pid, row in kept.items():
        stats = row["rejection_sampling"]
        assert stats["tried"] == 4 and row["candidate"]
        if kind[pid] == 0:  # plain-English plans verify
            assert stats["passed"] == 4 and row["candidate"].startswith("My plan:\n1. ")
        else:  # a plan missing its last action: goal_not_reached
            assert 1 <= stats["passed"] < 4 or stats["reasons"] == {}
            assert set(stats["reasons"]) <= {"goal_not_reached"}
    dropped = {r["id"]: r["_drop"] for r in result.dropped}
    assert sorted(dropped) == sorted(pid for pid, k in kind.items() if k in (2, 3))
    for pid, drop in dropped.items():
        assert drop["reason"] == "no_verified_candidate"
        assert drop["detail"] == ("invalid_action x4" if kind[pid] == 2 else "unparseable_plan x4")
