"""Tool-use trajectories with the real SmolLM2-135M (transformers backend, tools described in
the prompt, <tool_call> tags parsed from its replies): three tasks through simulation and the
trajectory verifier. The model is far too small to use tools well; the test checks that every
trajectory is accounted for with a reason, that what the model wrote went through the tool
protocol (parsed calls were executed, the rest is text), and that a rerun costs nothing."""

from __future__ import annotations

import json

import pytest

from real_model import assert_ledger
from synthpipe.generate.apigen_mt import SimulateTrajectories
from synthpipe.verify.trajectory import VerifyTrajectory

# slow: it documents what the small model does (figures in the README); the default run keeps the
# real-model tests that assert behaviour every backend change must keep
pytestmark = [pytest.mark.real_model, pytest.mark.slow]

RECIPE = """
name: real-tool-use
seed: 0
batch_size: 8
llms:
  default: {backend: transformers, model: smollm2-135m, tool_calling: prompt, batch_size: 8, truncation_retry_factor: 1.0}
steps:
  tasks: {step: tool_tasks, n: 3, task_types: [single, none, stateful], max_calls: 2, distractors: 0}
  trajectories:
    step: simulate_trajectories
    first_message: task        # the task text opens the conversation: no user-model turn
    end_on_answer: true        # the first reply without a call ends it
    max_turns: 2
    temperature: 0
    max_tokens: 64
  verify: {step: verify_trajectory, max_turns: 2}
"""
REASONS = (*SimulateTrajectories.drop_reasons, *VerifyTrajectory.drop_reasons)


@pytest.fixture(scope="module")
def runs(runner):
    first = runner.run_recipe(RECIPE, out="first")
    again = runner.run_recipe(RECIPE, out="again")
    return first, again


def test_every_trajectory_is_verified_or_dropped_with_a_reason(runs) -> None:
    first, _ = runs
    result = first.result
    assert_ledger(result, REASONS)
    assert len(result.kept) + len(result.dropped) == 3
    verified = [*result.kept, *(r for r in result.dropped if r["_drop"]["step"] == "verify")]
    if verified:  # replies cut at max_tokens drop before the verifier
        summary = json.loads((result.run_dir / "trajectory_summary.json").read_text())
        assert summary["trajectories"] == len(verified) and summary["passed"] == len(result.kept)
    for record in result.kept:
        assert record["verification"]["passed"] and record["messages"][-1]["role"] == "assistant"


def test_the_tools_reached_the_model_in_its_prompt_and_calls_came_back_parsed(runs) -> None:
    first, _ = runs
    assert first.exchanges
    for request, response in first.exchanges:
        assert request.tools is None  # prompt mode: the tools are in the system prompt instead
        assert "<tools>" in request.messages[0]["content"] and "<tool_call>" in request.messages[0]["content"]
        for sample in range(len(response.texts)):
            for call in response.calls(sample):
                assert isinstance(call["function"]["name"], str)
                json.loads(call["function"]["arguments"])  # parsed tags carry JSON arguments


def test_a_rerun_on_the_cache_generates_nothing(runs) -> None:
    first, again = runs
    assert again.generate_calls == 0 and not again.exchanges
    ids = lambda r: sorted((x["id"], (x.get("_drop") or {}).get("reason")) for x in [*r.kept, *r.dropped])  # noqa: E731
    assert ids(again.result) == ids(first.result)
