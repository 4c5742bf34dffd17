"""Techniques other than llm_generate see replies cut at max_tokens too: a judge (structured
output), a multi-turn dialogue (a turn's reply) and a source (ZeroGen) drop with ``truncated``,
never keep the cut text, and declare the reason (issue 13, item 1); a list source keeps the
complete items before the cut (issue 16)."""

from __future__ import annotations

import json

import pytest
from llm_server import FaultPlan, ScriptedOpenAIServer

from synthpipe.generate.dialogue import SimulatedDialogue
from synthpipe.generate.llm_judge import DEFAULT_RUBRIC, PointwiseJudge
from synthpipe.generate.zerogen import ZeroGen
from synthpipe.pipeline.registry import get_step_class, registered_steps


def judgement_reply(body: dict) -> str:
    criteria = {k: {"rationale": "fine", "score": 8} for k in DEFAULT_RUBRIC}
    return json.dumps({"criteria": criteria, "overall_rationale": "good", "overall_score": 8})


def test_judge_drops_a_cut_judgement_as_truncated(run_steps):
    records = [{"id": f"r{i}", "instruction": f"task {i}", "response": f"answer {i}"} for i in range(4)]
    plan = FaultPlan(length=1.0, fail_keys={"task 2"})
    with ScriptedOpenAIServer(responder=judgement_reply, faults=plan) as server:
        result = run_steps(server, {"judge": PointwiseJudge()}, records)
    assert {r["id"]: r["_drop"]["reason"] for r in result.dropped} == {"r2": "truncated"}
    assert len(result.kept) == 3


def test_dialogue_drops_a_conversation_with_a_cut_turn(run_steps):
    plan = FaultPlan(length=1.0, fail_keys={"cut me"})
    with ScriptedOpenAIServer(faults=plan) as server:
        result = run_steps(
            server, {"chat": SimulatedDialogue(turns=1)}, [{"id": "a", "instruction": "hello"}, {"id": "b", "instruction": "cut me"}]
        )
    [dropped] = result.dropped
    assert dropped["id"] == "b" and dropped["_drop"]["reason"] == "truncated"
    assert "assistant turn 1" in dropped["_drop"]["detail"]
    assert [r["id"] for r in result.kept] == ["a"]


def _seeds(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps({"text": f"seed {i}", "label": "pos"}) + "\n" for i in range(3)))
    return str(seeds)


def test_a_source_keeps_the_complete_items_of_a_cut_reply_and_drops_the_cut_one(run_steps, tmp_path):
    # cut in half by the server: "1. Is the first one long?\n2. Is the second o"
    reply = "1. Is the first one long?\n2. Is the second one long?\n3. Is the third one long?\n4. Is"

    with ScriptedOpenAIServer(responder=lambda body: [reply], faults=FaultPlan(length=1.0)) as server:
        result = run_steps(server, {"gen": ZeroGen(labels=["pos"], n=2, per_request=2, seeds=_seeds(tmp_path))})
    assert [r["text"] for r in result.kept] == ["Is the first one long?"]
    [cut] = result.dropped
    assert cut["text"].startswith("Is the second") and cut["_drop"]["reason"] == "truncated"
    assert "last item of a reply cut at max_tokens" in cut["_drop"]["detail"]


def test_a_source_drops_a_cut_reply_with_no_complete_item(run_steps, tmp_path):
    with ScriptedOpenAIServer(responder=lambda body: ["1. Is the only one long?"], faults=FaultPlan(length=1.0)) as server:
        result = run_steps(server, {"gen": ZeroGen(labels=["pos"], n=4, per_request=2, seeds=_seeds(tmp_path))})
    assert result.dropped and {r["_drop"]["reason"] for r in result.dropped} == {"truncated"}
    assert not result.kept


@pytest.mark.parametrize("name", sorted(registered_steps()))
def test_every_step_that_can_fail_a_request_declares_truncated(name):
    cls = get_step_class(name)
    if "llm_error" in cls.drop_reasons:
        assert "truncated" in cls.drop_reasons, name
