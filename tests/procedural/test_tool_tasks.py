"""Procedural tool-use tasks: every type is made, the ground truth is what executing the calls
gives, and the same seed gives the same tasks."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import ValidationError

from synthpipe.pipeline.step import StepContext
from synthpipe.procedural.tool_task_templates import TEMPLATES
from synthpipe.procedural.tool_tasks import ToolTasks
from synthpipe.tools.reference import reference_trajectory
from synthpipe.tools.session import ToolSession
from synthpipe.verify.trajectory_checks import check_trajectory

FIELDS = {"id", "task", "task_type", "env", "initial_state", "tools", "ground_truth", "n_calls",
          "_lineage"}  # fmt: skip


@pytest.fixture(scope="module")
def tasks() -> list[dict]:
    step = ToolTasks(n=250)
    return [
        r for batch in step.read(StepContext(name="tasks", seed=7, batch_size=64)) for r in batch
    ]


def test_every_task_type_and_template_is_made(tasks):
    assert len(tasks) == 250 and all(set(r) == FIELDS for r in tasks)
    assert Counter(r["task_type"] for r in tasks) == dict.fromkeys(TEMPLATES, 50)
    made = {r["_lineage"]["template"] for r in tasks}
    assert made == {t.__name__ for templates in TEMPLATES.values() for t in templates}


def test_calls_match_the_task_type(tasks):
    for record in tasks:
        truth, kind = record["ground_truth"], record["task_type"]
        assert record["n_calls"] == len(truth["calls"])
        assert (len(truth["calls"]) == 0) == (kind == "none")
        if kind == "single":
            assert len(truth["calls"]) == 1 and truth["answer"] is not None
        if kind == "parallel":
            assert len(truth["calls"]) >= 2 and len(truth["answer"]) == len(truth["calls"])
        if kind == "stateful":
            assert truth["final_state"] is not None
        names = {tool["function"]["name"] for tool in record["tools"]}
        assert {call["name"] for call in truth["calls"]} <= names


def test_ground_truth_is_reproduced_by_executing_the_calls(tasks):
    for record in tasks[:100]:
        truth = record["ground_truth"]
        with ToolSession(record["env"], initial_state=record["initial_state"]) as session:
            results = [session.call(c["name"], c["arguments"]) for c in truth["calls"]]
            assert all(r.ok for r in results), record["task"]
            if truth["final_state"] is not None:
                assert session.state() == truth["final_state"]
        assert check_trajectory(reference_trajectory(record)).passed, record["task"]


def test_a_stateful_cart_task_reads_naturally_and_ends_in_the_executed_state(tasks):
    cart = next(r for r in tasks if r["_lineage"]["template"] == "stateful_cart_checkout")
    assert "to my cart, then remove " in cart["task"] and "check out" in cart["task"]
    state = cart["ground_truth"]["final_state"]["cart"]
    assert state["cart"] == {} and len(state["orders"]) == 1
    assert cart["ground_truth"]["answer"] == state["orders"][0]["total"]


def test_same_seed_same_tasks_and_records_are_independent():
    step = ToolTasks(n=20)
    assert step.record(5, 1) == step.record(5, 1)
    assert step.record(5, 1)["task"] != step.record(5, 2)["task"]


def test_call_count_bounds_grade_the_tasks():
    step = ToolTasks(n=40, task_types=["stateful", "parallel"], min_calls=3, max_calls=4)
    records = [step.record(i, 0) for i in range(40)]
    assert all(3 <= r["n_calls"] <= 4 for r in records)


def test_bad_configs_are_refused():
    with pytest.raises(ValidationError, match="unknown task_types"):
        ToolTasks(task_types=["single", "telepathy"])
    with pytest.raises(ValidationError, match="min_calls 5 > max_calls 2"):
        ToolTasks(min_calls=5, max_calls=2)
