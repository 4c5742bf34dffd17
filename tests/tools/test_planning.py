"""Planning domains (tools/planning): the validator reports the first failing step and the
unmet precondition, the solver's plans are valid and optimal, and the parser reads PDDL and
plain-text plans and says why it cannot read the rest."""

from __future__ import annotations

import random
from collections import deque

import pytest

from synthpipe.tools.planning import (
    Action,
    Problem,
    ProblemError,
    check_plan_text,
    get_domain,
    parse_plan,
    solve,
    validate_plan,
)
from synthpipe.tools.planning.parsing import PlanParseError


def tower_problem() -> Problem:
    """c on b on a; goal: a on b on c (the optimal plan has 6 actions)."""
    init = frozenset(
        {("handempty",), ("clear", "c"), ("on", "c", "b"), ("on", "b", "a"), ("ontable", "a")}
    )
    goal = frozenset({("on", "a", "b"), ("on", "b", "c")})
    return Problem("blocksworld", {"block": ("a", "b", "c")}, init, goal)


REVERSE = "(unstack c b)\n(put-down c)\n(unstack b a)\n(stack b c)\n(pick-up a)\n(stack a b)"


def logistics_problem() -> Problem:
    return Problem.from_dict(
        {
            "domain": "logistics",
            "objects": {
                "package": ["p1"],
                "truck": ["t1", "t2"],
                "airplane": ["a1"],
                "location": ["l1-1", "l1-2", "l2-1", "l2-2"],
                "city": ["c1", "c2"],
            },
            "init": [
                ["in-city", "l1-1", "c1"],
                ["in-city", "l1-2", "c1"],
                ["in-city", "l2-1", "c2"],
                ["in-city", "l2-2", "c2"],
                ["airport", "l1-1"],
                ["airport", "l2-1"],
                ["at", "t1", "l1-2"],
                ["at", "t2", "l2-1"],
                ["at", "a1", "l1-1"],
                ["at", "p1", "l1-2"],
            ],
            "goal": [["at", "p1", "l2-2"]],
        }
    )


def bfs_length(problem: Problem) -> int | None:
    """Optimal plan length by breadth-first search (the reference the A* solver must match)."""
    domain, seen = get_domain(problem.domain), {problem.init}
    queue = deque([(problem.init, 0)])
    while queue:
        state, depth = queue.popleft()
        if problem.goal <= state:
            return depth
        for action in domain.successors(problem, state):
            nxt = domain.apply(state, action)
            if nxt not in seen:
                seen.add(nxt)
                queue.append((nxt, depth + 1))
    return None


# -- validator -------------------------------------------------------------------------------
def test_a_correct_plan_is_valid_and_reaches_the_goal() -> None:
    check = check_plan_text(tower_problem(), REVERSE)
    assert check.valid and check.length == 6 and check.detail == {}


def test_the_first_inapplicable_step_is_reported_with_its_unmet_precondition() -> None:
    # step 2 stacks c on a, but b is still on a (a is not clear)
    check = check_plan_text(tower_problem(), "(unstack c b)\n(stack c a)\n(pick-up b)")
    assert check.verdict == "invalid_action"
    assert check.detail["step"] == 2 and check.detail["action"] == "(stack c a)"
    assert check.detail["unmet"] == ["(clear a)"]
    assert "the a block is clear" in check.detail["explanation"]


def test_picking_up_with_a_full_hand_is_invalid() -> None:
    check = check_plan_text(tower_problem(), "(unstack c b)\n(unstack b a)")
    assert check.detail["step"] == 2 and check.detail["unmet"] == ["(handempty)"]


def test_a_plan_that_stops_short_names_the_unmet_goal_facts() -> None:
    check = check_plan_text(
        tower_problem(), "(unstack c b)\n(put-down c)\n(unstack b a)\n(stack b c)"
    )
    assert check.verdict == "goal_not_reached"
    assert check.detail == {"unmet_goals": ["(on a b)"]}


def test_logistics_trucks_stay_in_their_city_and_planes_fly_between_airports() -> None:
    problem = logistics_problem()
    drive_away = check_plan_text(problem, "(drive-truck t1 l1-2 l2-2 c1)")
    assert drive_away.verdict == "invalid_action" and drive_away.detail["unmet"] == [
        "(in-city l2-2 c1)"
    ]
    fly_inland = check_plan_text(problem, "(fly-airplane a1 l1-1 l2-2)")
    assert fly_inland.detail["unmet"] == ["(airport l2-2)"]
    plan = solve(problem).plan
    assert plan is not None and validate_plan(problem, plan).valid
    assert len(plan) == 9  # truck to the airport (3), plane (3), truck to l2-2 (3)


# -- solver ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("domain", "sizes"), [("blocksworld", (2, 3, 4, 5)), ("logistics", (1, 2))]
)
def test_solver_plans_are_valid_and_as_short_as_breadth_first_search(domain: str, sizes) -> None:
    rng = random.Random(7)
    for size in sizes:
        for _ in range(4):
            problem = get_domain(domain).random_problem(rng, size)
            solution = solve(problem)
            assert solution.plan is not None
            assert validate_plan(problem, solution.plan).valid
            assert solution.length == bfs_length(problem)


def test_the_solver_gives_up_at_its_state_cap() -> None:
    problem = get_domain("logistics").random_problem(random.Random(3), 4)
    capped = solve(problem, max_states=10)
    assert capped.plan is None and capped.capped


def test_reverse_tower_is_solved_in_six() -> None:
    assert solve(tower_problem()).length == 6


# -- parsing ---------------------------------------------------------------------------------
def test_plain_text_numbered_and_pddl_plans_parse_alike() -> None:
    problem = tower_problem()
    expected = parse_plan(REVERSE, problem)
    plain = "\n".join(
        f"{i}. {get_domain('blocksworld').describe_action(a)}" for i, a in enumerate(expected, 1)
    )
    assert parse_plan(plain, problem) == expected
    marked = f"Here is my plan.\n[PLAN]\n{REVERSE.upper()}\n[PLAN END]\nDone!"
    assert parse_plan(marked, problem) == expected
    assert parse_plan("Then, pick up the a block.", problem) == [Action("pick-up", ("a",))]
    markdown = "**1.** (unstack c b)\n2) Put down: (put-down c)\n```\nStep 3: unstack b from a"
    assert parse_plan(markdown, problem) == expected[:3]
    assert parse_plan("- (pickup a) (stack a b)", problem) == [
        Action("pick-up", ("a",)),
        Action("stack", ("a", "b")),
    ]


def test_logistics_plain_text_infers_the_vehicle_kind_and_city() -> None:
    problem = logistics_problem()
    actions = parse_plan("1. load p1 into t1 at l1-2\n2. drive t1 from l1-2 to l1-1", problem)
    assert actions == [
        Action("load-truck", ("p1", "t1", "l1-2")),
        Action("drive-truck", ("t1", "l1-2", "l1-1", "c1")),
    ]


@pytest.mark.parametrize(
    ("text", "line", "error"),
    [
        ("", 0, "the plan is empty"),
        ("I am not sure how to do this.", 0, "no blocksworld action found"),
        ("(pick-up z)", 1, "unknown object 'z'"),
        ("(stack a)", 1, "stack takes 2 argument(s)"),
        ("(unstack c b)\nnow move b over there\n(put-down c)", 2, "not an action"),
    ],
)
def test_unreadable_plans_say_where_and_why(text: str, line: int, error: str) -> None:
    with pytest.raises(PlanParseError) as info:
        parse_plan(text, tower_problem())
    assert info.value.line == line and error in info.value.message
    assert check_plan_text(tower_problem(), text).verdict == "unparseable_plan"


def test_problems_round_trip_through_json_and_bad_ones_say_why() -> None:
    problem = tower_problem()
    again = Problem.from_dict(problem.to_dict())
    assert again.to_dict() == problem.to_dict() and again.init == problem.init
    with pytest.raises(ProblemError, match="lacks goal"):
        Problem.from_dict({"domain": "blocksworld", "objects": {}, "init": []})
    with pytest.raises(ProblemError, match="unknown planning domain"):
        check_plan_text(Problem("chess", {}, frozenset(), frozenset()), "(move a)")


# -- as tool environments --------------------------------------------------------------------
def test_domains_are_stateful_tool_environments() -> None:
    from synthpipe.tools.session import ToolSession

    problem = tower_problem().to_dict()
    with ToolSession("blocksworld", initial_state={"blocksworld": {"problem": problem}}) as session:
        names = {s["function"]["name"] for s in session.schemas()}
        assert names == {"observe", "pick_up", "put_down", "stack", "unstack"}
        refused = session.call("pick_up", {"block": "a"})
        assert refused.kind == "tool_error" and "the a block is clear" in refused.error
        for line in REVERSE.splitlines():
            verb, *args = line.strip("()").split()
            keys = {"unstack": ("block", "source"), "stack": ("block", "target")}.get(
                verb, ("block",)
            )
            result = session.call(verb.replace("-", "_"), dict(zip(keys, args, strict=True)))
            assert result.ok, result
        assert '"goal_reached": true' in result.content
        state = session.state()["blocksworld"]
        assert state["actions"] == REVERSE.splitlines()  # the refused call changed nothing
    with ToolSession("logistics") as session:
        wrong_city = session.call("drive", {"truck": "t1", "origin": "l1-2", "destination": "l2-2"})
        assert wrong_city.kind == "tool_error" and "in the city c1" in wrong_city.error


def test_validating_malformed_actions_directly_names_the_step() -> None:
    check = validate_plan(tower_problem(), [Action("unstack", ("c", "b")), Action("stack", ("c",))])
    assert check.verdict == "invalid_action" and check.detail["step"] == 2
    assert "stack takes 2 argument(s)" in check.detail["explanation"]
