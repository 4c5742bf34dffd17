"""LLM-written tool tasks (APIGen): the request/call pairs a model writes are executed; the ones
that run give tasks with their ground truth, the others drop with APIGen's format or
execution check as the reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llm_server import ScriptedOpenAIServer

from synthpipe.generate.apigen import ToolTaskGeneration

QUERIES = {
    "queries": [
        {"query": "What is 12 times 7?", "calls": [{"name": "calculate", "arguments": {"expression": "12*7"}}]},
        {"query": "Put two pens in my cart.", "calls": [{"name": "add_item", "arguments": {"product": "pen", "quantity": 2}}]},
        {"query": "Order a unicorn.", "calls": [{"name": "add_item", "arguments": {"product": "unicorn"}}]},
        {"query": "Add a notebook.", "calls": [{"name": "add_item", "arguments": {"item": "notebook"}}]},
        {"query": "Fly me to the moon.", "calls": [{"name": "book_flight", "arguments": {}}]},
        {"query": "Compute 1+1 and 2+2.", "calls": [
            {"name": "calculate", "arguments": {"expression": "1+1"}},
            {"name": "calculate", "arguments": {"expression": "2+2"}}]},
    ]
}  # fmt: skip


def responder(body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    assert '"name": "calculate"' in prompt and '"name": "add_item"' in prompt  # the sampled tools are shown
    return json.dumps(QUERIES)


@pytest.fixture
def result(run_steps):
    with ScriptedOpenAIServer(responder=responder) as server:
        step = ToolTaskGeneration(queries=6, tools_per_task=10)  # every tool of the two environments
        return run_steps(server, {"tasks": step}, [{"id": "t", "env": ["calculator", "cart"], "task_type": "single"}])


def test_executed_calls_give_ground_truth(result) -> None:
    kept = {r["task"]: r for r in result.kept}
    assert sorted(kept) == ["Put two pens in my cart.", "What is 12 times 7?"]
    math = kept["What is 12 times 7?"]["ground_truth"]
    assert math["calls"] == [{"name": "calculate", "arguments": {"expression": "12*7"}}] and math["answer"] == 84
    assert math["final_state"] is None  # no call changed a state: the answer is the truth
    cart = kept["Put two pens in my cart."]
    assert cart["ground_truth"]["final_state"]["cart"]["cart"] == {"pen": 2}
    assert cart["task_type"] == "single" and cart["env"] == ["calculator", "cart"]
    assert {t["function"]["name"] for t in cart["tools"]} >= {"calculate", "add_item"}


def test_failing_pairs_drop_with_the_check_that_failed(result) -> None:
    drops = {r["task"]: r["_drop"] for r in result.dropped}
    assert drops["Order a unicorn."]["reason"] == "execution"
    assert drops["Order a unicorn."]["detail"]["kind"] == "tool_error"
    assert drops["Add a notebook."]["reason"] == "format"
    assert drops["Add a notebook."]["detail"]["kind"] == "bad_arguments"
    assert drops["Fly me to the moon."]["reason"] == "format"
    assert drops["Fly me to the moon."]["detail"]["kind"] == "unknown_tool"
    assert drops["Compute 1+1 and 2+2."]["reason"] == "format"  # two calls for a single-call task
    assert len(result.kept) + len(result.dropped) == 6


def test_generated_tasks_feed_simulation_and_verification(run_steps) -> None:
    """The tasks this step writes are what `simulate_trajectories` and `verify_trajectory` read:
    an assistant that makes the ground-truth calls and states the result passes."""
    from synthpipe.generate.apigen_mt import STOP_TOKEN, SimulateTrajectories
    from synthpipe.verify.trajectory import VerifyTrajectory

    calls = {q["query"]: q["calls"] for q in QUERIES["queries"]}

    def respond(body: dict[str, Any]) -> Any:
        if "response_format" in body:  # the task writer
            return json.dumps(QUERIES)
        if "tools" not in body:  # the simulated user
            last = body["messages"][-1]["content"]
            return STOP_TOKEN if "conversation so far" in last else next(q for q in calls if q in body["messages"][0]["content"])
        messages = body["messages"]
        if messages[-1]["role"] == "tool":
            return f"Done: {json.loads(messages[-1]['content']).get('result', 'ok')}."
        wanted = calls[messages[1]["content"]]
        return {"content": None, "tool_calls": [
            {"id": f"call_{k}", "type": "function", "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
            for k, c in enumerate(wanted)]}  # fmt: skip

    steps = {
        "tasks": ToolTaskGeneration(queries=6, tools_per_task=10),
        "simulate": SimulateTrajectories(),
        "verify": VerifyTrajectory(),
    }
    with ScriptedOpenAIServer(responder=respond) as server:
        result = run_steps(server, steps, [{"id": "t", "env": ["calculator", "cart"], "task_type": "single"}])
    assert sorted(r["task"] for r in result.kept) == ["Put two pens in my cart.", "What is 12 times 7?"]
    assert all(r["verification"]["passed"] for r in result.kept)
    assert {r["_drop"]["step"] for r in result.dropped} == {"tasks"}  # only the task writer's rejects
