"""Tool-use trajectories (APIGen-MT style) on the scripted server: a scripted assistant that
calls the real cart tools (well, wrongly, unknown tools, bad arguments, forever, malformed) and a
scripted user; each trajectory records what happened, and the tool_use recipe keeps only the
good one, dropping the others with the verifier's reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llm_server import ScriptedOpenAIServer

from synthpipe.generate.apigen_mt import STOP_TOKEN, SimulateTrajectories
from synthpipe.tools.session import ToolSession
from synthpipe.verify.trajectory import VerifyTrajectory


def call(name: str, arguments: dict[str, Any] | str, call_id: str = "call_1") -> dict[str, Any]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"content": None, "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}]}


# task -> (the assistant's reply before any tool result, its reply once a tool answered)
SCRIPT: dict[str, tuple[Any, Any]] = {
    "Put 2 pens in my cart.": (call("add_item", {"product": "pen", "quantity": 2}), "Done: 2 pens are in your cart."),
    "Put 3 mugs in my cart.": (call("add_item", {"product": "mug", "quantity": 1}), "Done: the mugs are in your cart."),
    "Buy me a stapler.": (call("purchase", {"product": "stapler"}), "Bought."),
    "Add a notebook to my cart.": (call("add_item", {"item": "notebook"}), "Added."),
    "Keep an eye on my cart.": (call("view_cart", {}), call("view_cart", {})),  # never stops calling
    "Add a backpack to my cart.": (call("add_item", '{"product": "backp'), "Sure."),  # arguments cut mid-JSON
}
EXPECTED_CALLS = {
    "Put 2 pens in my cart.": [("add_item", {"product": "pen", "quantity": 2})],
    "Put 3 mugs in my cart.": [("add_item", {"product": "mug", "quantity": 3})],
    "Buy me a stapler.": [("add_item", {"product": "stapler"}), ("checkout", {})],
    "Add a notebook to my cart.": [("add_item", {"product": "notebook"})],
    "Keep an eye on my cart.": [("view_cart", {})],
    "Add a backpack to my cart.": [("add_item", {"product": "backpack"})],
}
IDS = ["good", "wrong_state", "unknown_tool", "bad_arguments", "loop", "malformed"]
MAX_TURNS = 4


def ground_truth(calls: list[tuple[str, dict]]) -> dict[str, Any]:
    with ToolSession("cart") as session:
        for name, arguments in calls:
            assert session.call(name, arguments).ok
        return {"calls": [{"name": n, "arguments": a} for n, a in calls], "final_state": session.state(), "answer": None}


def tasks() -> list[dict[str, Any]]:
    return [
        {"id": i, "task": task, "task_type": "stateful", "env": ["cart"], "initial_state": None,
         "ground_truth": ground_truth(EXPECTED_CALLS[task])}
        for i, task in zip(IDS, SCRIPT, strict=True)
    ]  # fmt: skip


def task_of(body: dict[str, Any]) -> str:
    text = json.dumps(body["messages"])
    return next(task for task in SCRIPT if task in text or task.lower()[:-1] in text)


def responder(body: dict[str, Any]) -> Any:
    task = task_of(body)
    if "tools" not in body:  # the simulated user: states the task, then stops once answered
        if "conversation so far" in body["messages"][-1]["content"]:
            return STOP_TOKEN
        return f"Hi! {task[0].lower()}{task[1:]}"
    if task == "Explode.":
        raise RuntimeError("the model server broke")
    answered = body["messages"][-1]["role"] == "tool"
    return SCRIPT[task][1 if answered else 0]


@pytest.fixture(scope="module")
def server():
    with ScriptedOpenAIServer(responder=responder) as server:
        yield server


@pytest.fixture
def simulated(server, run_steps):
    result = run_steps(server, {"simulate": SimulateTrajectories(max_turns=MAX_TURNS)}, tasks())
    return {r["id"]: r for r in result.kept}, result


def facts(record: dict[str, Any]) -> dict[str, Any]:
    return record["_lineage"]["simulate"]["simulation"]


def test_a_good_trajectory_reaches_the_task_state(simulated) -> None:
    records, _ = simulated
    good = records["good"]
    roles = [m["role"] for m in good["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    assert good["messages"][1]["content"] == "Hi! put 2 pens in my cart."  # the user's words, not the task's
    assistant = good["messages"][2]
    assert assistant["content"] is None and assistant["tool_calls"][0]["function"]["name"] == "add_item"
    assert good["messages"][3]["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert json.loads(good["messages"][3]["content"])  # the tool's real JSON result
    assert [t["function"]["name"] for t in good["tools"]] == [t["function"]["name"] for t in ToolSession("cart").schemas()]
    sim = facts(good)
    assert sim["ended_by"] == "user" and not sim["max_turns_reached"]
    assert sim["turns"] == 2 and sim["calls"] == 1 and sim["tool_errors"] == [] and sim["malformed"] == []
    assert sim["final_state"] == good["ground_truth"]["final_state"]


def test_each_failure_is_recorded_for_the_verifier(simulated) -> None:
    records, result = simulated
    assert not result.dropped  # failing trajectories are kept: the verifier drops them
    assert facts(records["wrong_state"])["final_state"] != records["wrong_state"]["ground_truth"]["final_state"]
    assert [e["kind"] for e in facts(records["unknown_tool"])["tool_errors"]] == ["unknown_tool"]
    assert [e["kind"] for e in facts(records["bad_arguments"])["tool_errors"]] == ["bad_arguments"]
    loop = facts(records["loop"])
    assert loop["max_turns_reached"] and loop["ended_by"] == "max_turns"
    assert loop["turns"] == loop["calls"] == MAX_TURNS + 1  # one turn past the limit shows it was passed
    assert [e["kind"] for e in facts(records["malformed"])["tool_errors"]] == ["bad_arguments"]


def test_each_trajectory_starts_from_a_fresh_state(simulated) -> None:
    records, _ = simulated
    # two trajectories added to the same default cart: neither sees the other's items
    assert list(facts(records["good"])["final_state"]["cart"]["cart"]) == ["pen"]
    assert list(facts(records["wrong_state"])["final_state"]["cart"]["cart"]) == ["mug"]


def test_the_verifier_keeps_the_good_trajectory_and_drops_each_bad_one_with_its_reason(server, run_steps) -> None:
    steps = {"simulate": SimulateTrajectories(max_turns=MAX_TURNS), "verify": VerifyTrajectory(max_turns=MAX_TURNS)}
    result = run_steps(server, steps, tasks(), out="verified")
    assert [r["id"] for r in result.kept] == ["good"]
    assert result.kept[0]["verification"]["passed"]
    drops = {r["id"]: r["_drop"] for r in result.dropped}
    assert {k: d["reason"] for k, d in drops.items()} == {
        "wrong_state": "wrong_final_state",
        "unknown_tool": "unknown_tool",
        "bad_arguments": "bad_arguments",
        "loop": "turn_limit",
        "malformed": "malformed_trajectory",
    }
    assert all(d["step"] == "verify" and d["detail"]["turn"] for d in drops.values())
    assert drops["unknown_tool"]["detail"]["tool"] == "purchase"
    assert "arguments" in drops["malformed"]["detail"]["problem"]


def test_a_failed_request_drops_the_record_as_llm_error(server, run_steps) -> None:
    SCRIPT["Explode."] = ("", "")
    try:
        record = {"id": "x", "task": "Explode.", "env": "calculator"}
        result = run_steps(server, {"simulate": SimulateTrajectories()}, [record], out="explode")
    finally:
        del SCRIPT["Explode."]
    assert not result.kept and result.dropped[0]["_drop"]["reason"] == "llm_error"
    assert "assistant turn 1" in result.dropped[0]["_drop"]["detail"]


def test_an_unknown_environment_drops_the_record(server, run_steps) -> None:
    record = {"id": "y", "task": "Put 2 pens in my cart.", "env": ["no_such_env"]}
    result = run_steps(server, {"simulate": SimulateTrajectories()}, [record], out="badenv")
    assert result.dropped[0]["_drop"]["reason"] == "bad_environment"
    assert "no_such_env" in result.dropped[0]["_drop"]["detail"]


# -- the bundled recipe, end to end --------------------------------------------------------------
RECIPE_TASKS = 10
# record index -> how the scripted assistant fails it (task types cycle single, multiple,
# parallel, none, stateful); the others it solves with the ground-truth calls
SABOTAGE = {1: "unknown_tool", 2: "bad_arguments", 4: "turn_limit", 5: "malformed_trajectory", 6: "wrong_answer"}


def oracle(records: dict[str, dict[str, Any]]) -> Any:
    """A scripted assistant that makes each task's ground-truth calls, then states the answer
    (or fails the task as SABOTAGE says), and a user who states the task, then stops."""

    def respond(body: dict[str, Any]) -> Any:
        if "tools" not in body:
            prompt = body["messages"][-1]["content"]
            if "conversation so far" in prompt:
                return STOP_TOKEN
            return next(task for task in records if task in body["messages"][0]["content"])
        task = next(m["content"] for m in body["messages"] if m["role"] == "user")
        record = records[task]
        index, truth = int(record["id"].split("-")[1]), record["ground_truth"]
        sabotage = SABOTAGE.get(index)
        answered = body["messages"][-1]["role"] == "tool"
        if sabotage == "turn_limit":
            return call(truth["calls"][0]["name"], truth["calls"][0]["arguments"], f"call_{len(body['messages'])}")
        if answered or not truth["calls"] or sabotage == "wrong_answer":
            return "Sorry, I cannot help with that." if sabotage == "wrong_answer" else f"Done. The answer is {say(truth['answer'])}."
        calls = [dict(c) for c in truth["calls"]]
        if sabotage == "unknown_tool":
            calls[0] = {"name": "no_such_tool", "arguments": {}}
        if sabotage == "bad_arguments":
            calls[0] = {"name": calls[0]["name"], "arguments": {"bogus": 1}}
        texts = [json.dumps(c["arguments"]) for c in calls]
        if sabotage == "malformed_trajectory":
            texts[0] = texts[0][:-3]
        return {
            "content": None,
            "tool_calls": [
                {"id": f"call_{k}", "type": "function", "function": {"name": c["name"], "arguments": t}}
                for k, (c, t) in enumerate(zip(calls, texts, strict=True))
            ],
        }

    return respond


def say(answer: Any) -> str:
    if isinstance(answer, list):
        return ", ".join(map(str, answer))
    return "" if answer is None else str(answer)


def test_the_tool_use_recipe_keeps_solved_tasks_and_drops_each_failure_with_its_reason(recipe_pipeline, tmp_path) -> None:
    from synthpipe.procedural.tool_tasks import ToolTasks

    source = ToolTasks(n=RECIPE_TASKS, task_types=["single", "multiple", "parallel", "none", "stateful"], max_calls=4)
    records = {r["task"]: r for r in (source.record(i, 0) for i in range(RECIPE_TASKS))}
    with ScriptedOpenAIServer(responder=oracle(records)) as server:
        pipeline = recipe_pipeline(
            "tool_use.yaml", server, f"steps.tasks.n={RECIPE_TASKS}",
            "steps.trajectories.max_turns=3", "steps.verify.max_turns=3",
        )  # fmt: skip
        result = pipeline.run(tmp_path / "run")
    reasons = {int(r["id"].split("-")[1]): r["_drop"]["reason"] for r in result.dropped}
    assert {i: reasons.get(i) for i in SABOTAGE} == SABOTAGE
    assert all(r == "duplicate" or i in SABOTAGE for i, r in reasons.items()), reasons
    assert len(result.kept) + len(result.dropped) == RECIPE_TASKS
    for record in result.kept:
        assert record["verification"]["passed"] and record["messages"][-1]["role"] == "assistant"
        assert record["tools"] and record["messages"][1] == {"role": "user", "content": record["task"]}
    summary = json.loads((tmp_path / "run" / "trajectory_summary.json").read_text())
    assert summary


def test_a_model_without_tool_calling_acts_through_tags_in_the_prompt(run_steps, scripted_llm) -> None:
    """`tool_calling: prompt`: the tools are in the system prompt, the model's <tool_call> tags
    become real calls, their results go back as <tool_response> turns, and the trajectory is
    stored in the OpenAI format like any other (and verifies)."""

    def respond(body: dict[str, Any]) -> str:
        system, last = body["messages"][0]["content"], body["messages"][-1]["content"]
        if "<tools>" not in system:  # the simulated user
            return STOP_TOKEN if "conversation so far" in last else "What is 2 + 3?"
        if last.startswith("<tool_response>"):
            return "2 + 3 is 5."
        return 'I will compute it.\n<tool_call>\n{"name": "calculate", "arguments": {"expression": "2+3"}}\n</tool_call>'

    record = {"id": "p", "task": "Ask what 2 + 3 is.", "task_type": "single", "env": ["calculator"], "initial_state": None,
              "ground_truth": {"calls": [{"name": "calculate", "arguments": {"expression": "2+3"}}], "final_state": None, "answer": 5}}  # fmt: skip
    with ScriptedOpenAIServer(responder=respond) as server:
        steps = {"simulate": SimulateTrajectories(), "verify": VerifyTrajectory()}
        result = run_steps(server, steps, [record], llms={"default": scripted_llm(server, tool_calling="prompt")})
        sent = server.requests
    assert all("tools" not in body for body in sent)
    [kept] = result.kept
    assert [m["role"] for m in kept["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assistant = kept["messages"][2]
    assert assistant["content"] == "I will compute it."
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"expression": "2+3"}
    assert json.loads(kept["messages"][3]["content"])["result"] == 5 and kept["verification"]["passed"]
