"""Plan validation by simulation: apply each action in turn, stop at the first one whose
preconditions do not hold, then check the goal (as VAL does for PlanBench's plans)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from synthpipe.tools.planning.domain import Action, Fact, Problem, State, fact_text
from synthpipe.tools.planning.domains import get_domain
from synthpipe.tools.planning.parsing import PlanParseError, parse_plan

Verdict = Literal["valid", "unparseable_plan", "invalid_action", "goal_not_reached"]


@dataclass
class PlanCheck:
    """The verdict on one plan; `detail` is structured data for a drop's ledger entry."""

    verdict: Verdict
    length: int = 0  # actions in the plan (parsed)
    detail: dict[str, Any] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.verdict == "valid"


def validate_plan(problem: Problem, plan: Sequence[Action]) -> PlanCheck:
    """Simulate `plan` from the initial state; the first inapplicable step or the unmet goal."""
    domain = get_domain(problem.domain)
    state: State = problem.init
    for step, action in enumerate(plan, 1):
        wrong = domain.check_args(problem, action)  # parse_plan checked these; callers may not
        if wrong:
            detail = {"step": step, "action": action.pddl(), "unmet": [], "explanation": wrong}
            return PlanCheck("invalid_action", len(plan), detail, list(plan))
        unmet = domain.unmet(state, action)
        if unmet:
            detail = {"step": step, "action": action.pddl(), "unmet": _texts(unmet),
                      "explanation": _explain(domain, action, unmet)}  # fmt: skip
            return PlanCheck("invalid_action", len(plan), detail, list(plan))
        state = domain.apply(state, action)
    missing = [g for g in problem.goal if g not in state]
    if missing:
        return PlanCheck(
            "goal_not_reached", len(plan), {"unmet_goals": _texts(missing)}, list(plan)
        )
    return PlanCheck("valid", len(plan), {}, list(plan))


def check_plan_text(problem: Problem, text: str) -> PlanCheck:
    """Parse `text` and validate it: one call from model output to verdict."""
    try:
        actions = parse_plan(text, problem)
    except PlanParseError as exc:
        return PlanCheck("unparseable_plan", 0, exc.to_dict())
    return validate_plan(problem, actions)


def _texts(facts: Sequence[Fact]) -> list[str]:
    return [fact_text(f) for f in sorted(facts)]


def _explain(domain, action: Action, unmet: Sequence[Fact]) -> str:
    facts = " and ".join(domain.describe_fact(f) for f in sorted(unmet))
    return f"cannot {domain.describe_action(action)}: it needs that {facts}"
