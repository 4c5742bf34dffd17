"""Plan verification: parse a candidate plan, simulate it on its problem, check the goal.

The validator (`synthpipe.tools.planning.check_plan_text`) plays the role VAL plays in PlanBench
(Valmeekam et al. 2023): it applies each action in turn, stops at the first whose preconditions
fail, and checks the goal facts at the end. As a `rejection_sampling` verifier it reads the
candidate through `candidate_field`, so the k sampled plans of a problem are checked each.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from synthpipe.data.records import Batch, Record, drop, is_dropped
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import MapStep, StepConfig, StepContext
from synthpipe.tools.planning import Problem, ProblemError, check_plan_text, get_domain


class VerifyPlanConfig(StepConfig):
    candidate_field: str = Field("candidate", description="field with the plan text to check")
    problem_field: str = Field(
        "problem", description="field with the structured problem {domain, objects, init, goal}"
    )
    optimal_length_field: str = Field(
        "optimal_length",
        description="field with the optimal plan length, for the optimality ratio (optional in records)",
    )
    result_field: str = Field(
        "verification", description="field that receives {passed, length, optimal_length, ...}"
    )
    max_length_ratio: float | None = Field(
        None,
        ge=1,
        description="drop valid plans longer than this many times the optimal length (plan_too_long)",
    )


@register_step("verify_plan")
class VerifyPlan(MapStep):
    """Keeps records whose plan is valid for its problem and reaches the goal.

    The plan text may be PDDL-style lines (``(unstack b a)``) or plain English (``unstack the b
    block from on top of the a block``), numbered or bulleted; it is simulated step by step
    from the initial state. Records that arrive already dropped are left as they are.

    Input columns: `candidate_field` (default ``candidate``: the plan text), `problem_field`
    (default ``problem``, as written by ``planning_problems``); `optimal_length_field` (default
    ``optimal_length``) is read when present.
    Output columns: `result_field` (default ``verification``) = ``{"passed", "verdict",
    "length", "optimal_length", "optimality_ratio", "plan"}`` (``plan``: the parsed actions in
    PDDL form).
    Drop reasons: ``missing_field`` (no plan text or no problem), ``invalid_problem`` (a
    problem that cannot be read, or of an unknown domain),
    ``unparseable_plan`` (detail: line, text, error), ``invalid_action`` (detail: step,
    action, unmet preconditions), ``goal_not_reached`` (detail: unmet goal facts),
    ``plan_too_long`` (``max_length_ratio`` set and exceeded).
    References: Valmeekam et al. (2023), "PlanBench: An Extensible Benchmark for Evaluating
    Large Language Models on Planning and Reasoning about Change", arXiv:2206.10498.
    """

    Config = VerifyPlanConfig
    config: VerifyPlanConfig
    verifies = True  # drops are verification failures: the audit reports its pass rate
    cpu_bound = True
    drop_reasons = (
        "missing_field", "invalid_problem", "unparseable_plan", "invalid_action",
        "goal_not_reached", "plan_too_long",
    )  # fmt: skip

    def input_columns(self) -> set[str]:
        return {self.config.candidate_field, self.config.problem_field}

    def output_columns(self) -> set[str]:
        return {self.config.result_field}

    def process(self, batch: Batch, ctx: StepContext) -> Batch:
        for record in batch:
            if not is_dropped(record):
                self._check(record, ctx)
        return batch

    def _check(self, record: Record, ctx: StepContext) -> None:
        cfg = self.config
        text, problem = record.get(cfg.candidate_field), record.get(cfg.problem_field)
        if not isinstance(text, str) or problem is None:
            field = cfg.candidate_field if not isinstance(text, str) else cfg.problem_field
            self._fail(record, ctx, "missing_field", {"field": field, "error": "no value"})
            return
        try:
            problem = Problem.from_dict(problem)
            get_domain(problem.domain)
        except ProblemError as exc:
            self._fail(record, ctx, "invalid_problem", {"field": cfg.problem_field, "error": str(exc)})
            return
        check = check_plan_text(problem, text)
        optimal = record.get(cfg.optimal_length_field)
        optimal = optimal if isinstance(optimal, int) and not isinstance(optimal, bool) else None
        ratio = round(check.length / optimal, 4) if check.valid and optimal else None
        record[cfg.result_field] = {
            "passed": check.valid, "verdict": check.verdict, "length": check.length,
            "optimal_length": optimal, "optimality_ratio": ratio,
            "plan": [a.pddl() for a in check.actions],
        }  # fmt: skip
        limit = cfg.max_length_ratio
        if not check.valid:
            drop(record, ctx.name, check.verdict, check.detail)
        elif ratio is not None and limit is not None and ratio > limit:
            record[cfg.result_field]["passed"] = False
            detail = {"length": check.length, "optimal_length": optimal, "max_length_ratio": limit}
            drop(record, ctx.name, "plan_too_long", detail)

    def _fail(self, record: Record, ctx: StepContext, reason: str, detail: dict[str, Any]) -> None:
        record[self.config.result_field] = {"passed": False, "verdict": reason, "length": 0,
                                            "optimal_length": None, "optimality_ratio": None, "plan": []}  # fmt: skip
        drop(record, ctx.name, reason, detail)
