"""verify_trajectory keeps a trajectory only when its task succeeded, and drops every other
one with the check that failed, the turn and the reason (the issue's Done-when cases)."""

from __future__ import annotations

import copy
import json
import time

import pytest

from synthpipe.pipeline.step import StepContext
from synthpipe.tools.environments.base import Environment, tool
from synthpipe.tools.reference import reference_trajectory
from synthpipe.tools.session import ToolSession, register_environment
from synthpipe.verify.trajectory import SUMMARY_FILE, VerifyTrajectory
from synthpipe.verify.trajectory_checks import answer_matches, check_trajectory


class Sleepy(Environment):
    """A tool that hangs: the replay must time out, not hang the run."""

    name = "sleepy"

    @tool
    def nap(self, seconds: float) -> str:
        """Sleep."""
        time.sleep(seconds)
        return "rested"


register_environment("sleepy", Sleepy)


def assistant_calls(*calls: tuple[str, str, dict]) -> dict:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        for cid, name, args in calls
    ]}  # fmt: skip


def tool_message(call_id: str, content: object) -> dict:
    return {"role": "tool", "tool_call_id": call_id, "content": json.dumps(content)}


@pytest.fixture
def cart_task() -> dict:
    """The brief's cart task; its final state comes from executing the calls, not by hand."""
    task = {
        "id": "cart-1", "task_type": "stateful", "env": ["cart"], "initial_state": None,
        "task": "Add 2 notebooks and a pen to my cart, then remove the pen and check out.",
        "ground_truth": {"calls": [
            {"name": "add_item", "arguments": {"product": "notebook", "quantity": 2}},
            {"name": "add_item", "arguments": {"product": "pen", "quantity": 1}},
            {"name": "remove_item", "arguments": {"product": "pen"}},
            {"name": "checkout", "arguments": {}},
        ], "final_state": None, "answer": None},
    }  # fmt: skip
    with ToolSession("cart") as session:
        for call in task["ground_truth"]["calls"]:
            assert session.call(call["name"], call["arguments"]).ok
        task["ground_truth"]["final_state"] = session.state()
    return task


@pytest.fixture
def good(cart_task) -> dict:
    return reference_trajectory(cart_task)


def verdict(record: dict, **options):
    return check_trajectory(record, **options)


def test_a_correct_trajectory_is_kept(good):
    result = verdict(good)
    assert result.passed and result.reason is None
    assert result.to_dict() == {
        "passed": True, "turns": 5, "calls": 4,
        "checks": {"format": "passed", "turn_limit": "passed", "execution": "passed",
                   "outcome": "passed"},
    }  # fmt: skip


def test_wrong_final_state_is_dropped(good):
    bad = copy.deepcopy(good)
    # the assistant forgot to remove the pen: the outputs are real, the order is not
    messages = bad["messages"]
    del messages[5:7]
    order = {"order_id": "order-1", "items": [
        {"product": "notebook", "quantity": 2, "unit_price": 3.5, "subtotal": 7.0},
        {"product": "pen", "quantity": 1, "unit_price": 1.25, "subtotal": 1.25}], "total": 8.25}  # fmt: skip
    messages[6] = tool_message("call_4", order)
    result = verdict(bad)
    assert result.reason == "wrong_final_state"
    assert result.detail["check"] == "outcome" and result.detail["turn"] == 4
    assert result.detail["path"] == "cart.catalogue.pen.stock"


def test_an_unknown_tool_is_dropped(good):
    bad = copy.deepcopy(good)
    bad["messages"][3]["tool_calls"][0]["function"]["name"] = "add_items"
    result = verdict(bad)
    assert result.reason == "unknown_tool"
    assert result.detail == {"check": "format", "turn": 2, "call": "call_2", "tool": "add_items",
                             "message": "unknown tool 'add_items'; did you mean 'add_item'?"}  # fmt: skip


def test_bad_arguments_are_dropped(good):
    bad = copy.deepcopy(good)
    bad["messages"][1]["tool_calls"][0]["function"]["arguments"] = json.dumps(
        {"product": "notebook", "quantity": "two"}
    )
    result = verdict(bad)
    assert (result.reason, result.detail["turn"]) == ("bad_arguments", 1)
    assert (
        result.detail["message"] == "add_item: arguments.quantity: 'two' is not of type 'integer'"
    )


def test_looping_past_the_turn_limit_is_dropped(cart_task):
    messages = [{"role": "user", "content": cart_task["task"]}]
    for i in range(12):  # the assistant keeps looking at the catalogue
        messages.append(assistant_calls((f"c{i}", "list_products", {})))
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "content": "{}"})
    messages.append({"role": "assistant", "content": "I could not do it."})
    result = verdict({**cart_task, "messages": messages}, max_turns=10)
    assert result.reason == "turn_limit"
    assert result.detail == {"check": "turn_limit", "turn": 11, "turns": 13, "max_turns": 10}


def test_a_crashing_tool_is_dropped(good):
    bad = copy.deepcopy(good)
    # remove a product that is not in the cart: the tool raises when the call is replayed
    bad["messages"][5]["tool_calls"][0]["function"]["arguments"] = json.dumps({"product": "mug"})
    result = verdict(bad)
    assert result.reason == "tool_error"
    assert result.detail == {"check": "execution", "turn": 3, "call": "call_3",
                             "tool": "remove_item", "kind": "tool_error",
                             "message": "'mug' is not in the cart"}  # fmt: skip


def test_a_hanging_tool_is_dropped_as_a_tool_error():
    record = {
        "task_type": "single", "env": ["sleepy"], "ground_truth": {"answer": "rested"},
        "messages": [{"role": "user", "content": "Take a nap."},
                     assistant_calls(("n1", "nap", {"seconds": 60})),
                     {"role": "tool", "tool_call_id": "n1", "content": '"rested"'},
                     {"role": "assistant", "content": "rested"}],
    }  # fmt: skip
    start = time.monotonic()
    result = verdict(record, timeout_s=0.5)
    assert (result.reason, result.detail["kind"]) == ("tool_error", "timeout")
    assert time.monotonic() - start < 10


def test_invented_tool_output_is_dropped(good):
    bad = copy.deepcopy(good)
    bad["messages"][-2]["content"] = json.dumps({"order_id": "order-1", "items": [], "total": 0})
    result = verdict(bad)
    assert (result.reason, result.detail["check"], result.detail["turn"]) == (
        "invented_tool_output", "execution", 4)  # fmt: skip
    assert result.detail["got"] == '{"order_id": "order-1", "items": [], "total": 0}'


def test_a_wrong_answer_is_dropped():
    record = {
        "task_type": "single", "env": ["calculator"],
        "ground_truth": {"calls": [{"name": "calculate", "arguments": {"expression": "12 * 34"}}],
                         "final_state": None, "answer": 408},
        "messages": [{"role": "user", "content": "What is 12 * 34?"},
                     assistant_calls(("a", "calculate", {"expression": "12 * 34"})),
                     tool_message("a", {"expression": "12 * 34", "result": 408}),
                     {"role": "assistant", "content": "It is 418."}],
    }  # fmt: skip
    result = verdict(record)
    assert result.reason == "wrong_answer"
    assert result.detail == {"check": "outcome", "turn": 2, "expected": 408, "got": "It is 418."}
    record["messages"][-1]["content"] = "12 × 34 = 408."
    assert verdict(record).passed


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda m: m.insert(0, {"role": "assistant", "content": "hi"}), "before any user message"),
        (lambda m: m[2].update(tool_call_id="nope"), "answers no open tool call"),
        (lambda m: m.pop(2), "have no tool message"),
        (lambda m: m[1]["tool_calls"][0]["function"].update(arguments="{quantity: 2"), "arguments: invalid JSON"),
        (lambda m: m.pop(), "does not end with the assistant's answer"),
        (lambda m: m[0].update(role="human"), "role 'human'"),
        (lambda m: m[-1].update(content='<tool_call>{"name": "checkout", "arguments": {</tool_call>'),
         "<tool_call> tag that is not a valid call"),  # prompt mode: a call nobody could parse
    ],
)  # fmt: skip
def test_malformed_trajectories_are_dropped(good, mutate, problem):
    bad = copy.deepcopy(good)
    mutate(bad["messages"])
    result = verdict(bad)
    assert result.reason == "malformed_trajectory" and result.detail["check"] == "format"
    assert problem in result.detail["problem"]


def test_answer_matching():
    assert answer_matches(1024, "That comes to 1,024.")
    assert answer_matches(8.04672, "about 8.05 km")
    assert answer_matches(341.3333333, "341.33")
    assert not answer_matches(341.3333333, "342")
    assert answer_matches("Tuesday", "It falls on a tuesday!")
    assert answer_matches("2024-02-29", "That is February 29, 2024.")
    assert answer_matches([21330, "Sunday"], "21330, and it is a Sunday")
    assert not answer_matches([21330, "Sunday"], "21330, and it is a Monday")


def test_the_step_drops_with_ledger_details_and_writes_pass_rates(good, tmp_path):
    bad = copy.deepcopy(good)
    bad["messages"][3]["tool_calls"][0]["function"]["name"] = "add_items"
    batch = [good, bad, {**copy.deepcopy(good), "task_type": "single"}]
    again = copy.deepcopy(batch)
    ctx = StepContext(name="verify", run_dir=tmp_path, step_dir=tmp_path / "steps" / "verify")
    out = VerifyTrajectory().process(batch, ctx)
    assert out[0]["verification"]["passed"] is True
    assert out[1]["_drop"] == {"step": "verify", "reason": "unknown_tool", "detail": {
        "check": "format", "turn": 2, "call": "call_2", "tool": "add_items",
        "message": "unknown tool 'add_items'; did you mean 'add_item'?"}}  # fmt: skip
    summary = json.loads((tmp_path / SUMMARY_FILE).read_text())
    assert (summary["trajectories"], summary["passed"]) == (3, 2)
    assert summary["by_task_type"]["stateful"] == {
        "trajectories": 2, "passed": 1, "pass_rate": 0.5, "failed": {"unknown_tool": 1}}  # fmt: skip
    assert summary["by_check"]["format"] == {"checked": 3, "passed": 2, "pass_rate": 0.6667}
    assert summary["by_check"]["outcome"] == {"checked": 2, "passed": 2, "pass_rate": 1.0}
    VerifyTrajectory().process(again, ctx)  # the same batch run again is not counted twice
    assert json.loads((tmp_path / SUMMARY_FILE).read_text())["trajectories"] == 3


def test_a_recipe_run_reports_pass_rates_in_its_metrics(good, tmp_path):
    from synthpipe.run.api import Pipeline

    bad = copy.deepcopy(good)
    bad["id"] = "cart-2"
    bad["messages"][-2]["content"] = json.dumps({"order_id": "order-9"})
    data = tmp_path / "trajectories.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in (good, bad)))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "name: trajectories\nsteps:\n"
        f"  read: {{step: read, path: {data}, text_field: task, keep_field_names: true}}\n"
        "  verify: {step: verify_trajectory, max_turns: 6}\n"
    )
    metrics = Pipeline.from_recipe(recipe).run(tmp_path / "run").metrics
    assert (metrics["kept"], metrics["dropped"]) == (1, 1)
    assert metrics["trajectories"]["by_task_type"]["stateful"]["failed"] == {
        "invented_tool_output": 1
    }
    assert (tmp_path / "run" / SUMMARY_FILE).exists()
    report = (tmp_path / "run" / "report.html").read_text()
    section = report[report.index('<section id="trajectories"'):]
    section = section[: section.index("</section>")]
    assert "1 of 2 trajectories passed every check (50.0%)" in section
    assert "invented_tool_output (1)" in section


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"env": "cart", "messages": "hello"},
        {"env": ["cart"], "messages": [42]},
        {"env": ["no_such_env"], "messages": [{"role": "user", "content": "x"}]},
        {"env": ["cart"], "initial_state": [1], "messages": [{"role": "user", "content": "x"}]},
        {"env": ["cart"], "ground_truth": "yes", "messages": [{"role": "user", "content": "x"}]},
        {"env": ["cart"], "messages": [{"role": "user", "content": "x"},
                                       {"role": "assistant", "tool_calls": [{"id": "a"}]}]},
    ],
)  # fmt: skip
def test_garbage_records_are_malformed_not_crashes(record):
    result = verdict(record)
    assert (result.passed, result.reason) == (False, "malformed_trajectory")
