"""Simulated multi-turn dialogue (UltraChat-style): prompts, turn parsing, and real runs."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
from llm_server import FaultPlan, ScriptedOpenAIServer

from synthpipe.errors import UsageError
from synthpipe.generate.dialogue import (
    DialogueConfig,
    SimulatedDialogue,
    clean_turn,
    clean_user_turn,
)
from synthpipe.generate.task import PROMPTS, ParseError
from synthpipe.llm.config import LLMConfig
from synthpipe.pipeline.registry import get_step_class

HISTORY = [
    {"role": "user", "content": "How do I start running?"},
    {"role": "assistant", "content": "Begin with run-walk intervals three times a week."},
]


def test_assistant_prompt_is_system_plus_history() -> None:
    step = SimulatedDialogue()
    messages = step.assistant_messages({"id": "a", "instruction": "How do I start running?"}, HISTORY)
    assert messages[0]["role"] == "system" and "assistant" in messages[0]["content"]
    assert messages[1:] == HISTORY
    assert step.format_input({"id": "a", "instruction": "Hi there"})[1:] == [{"role": "user", "content": "Hi there"}]


def test_user_prompt_shows_transcript_persona_and_marker() -> None:
    step = SimulatedDialogue(end_marker="<<DONE>>")
    record = {"id": "a", "instruction": "How do I start running?", "persona": "a 60-year-old beginner with bad knees"}
    system, user = step.user_messages(record, HISTORY)
    assert system["role"] == "system" and "a 60-year-old beginner with bad knees" in system["content"]
    assert "<<DONE>>" in system["content"] and "<<DONE>>" in user["content"]
    assert "USER: How do I start running?" in user["content"]
    assert "ASSISTANT: Begin with run-walk intervals" in user["content"]
    plain = SimulatedDialogue().user_messages({"id": "a", "instruction": "x"}, HISTORY)[0]["content"]
    assert "Stay in character" not in plain
    default = SimulatedDialogue(default_persona="a student").user_messages({"instruction": "x"}, HISTORY)
    assert "a student" in default[0]["content"]


@pytest.mark.parametrize(
    ("reply", "message", "done"),
    [
        ("What about shoes?", "What about shoes?", False),
        ("USER: What about shoes?", "What about shoes?", False),
        ("**User:** What about shoes?", "What about shoes?", False),
        ('"What about shoes?"', "What about shoes?", False),
        ("What about shoes?\nASSISTANT: Good shoes matter.", "What about shoes?", False),
        ("[END]", "", True),
        ("Thanks, that's all! [end]", "", True),
        ("   ", "", True),
    ],
)
def test_clean_user_turn(reply: str, message: str, done: bool) -> None:
    assert clean_user_turn(reply) == (message, done)


def test_assistant_turn_parsing() -> None:
    step = SimulatedDialogue()
    assert step.format_output("Assistant: Sure, here.", {}) == {"content": "Sure, here."}
    assert clean_turn("```\nprint(1)\n```") == "print(1)"
    with pytest.raises(ParseError) as err:
        step.format_output("  \n ", {})
    assert err.value.reason == "parse_error"


def test_config_fingerprint_and_registry() -> None:
    assert get_step_class("dialogue") is SimulatedDialogue
    step = SimulatedDialogue()
    assert step.input_files() == [PROMPTS / "dialogue_assistant.jinja2", PROMPTS / "dialogue_user.jinja2"]
    llms = {"default": LLMConfig(backend="openai", base_url="http://x/v1", model="a"),
            "sim": LLMConfig(backend="openai", base_url="http://x/v1", model="b")}  # fmt: skip
    assert step.fingerprint(env={"llms": llms}) != SimulatedDialogue(user_llm="sim").fingerprint(env={"llms": llms})
    with pytest.raises(pydantic.ValidationError):
        DialogueConfig(turns=0)
    with pytest.raises(UsageError, match="user_llm 'nope'"):
        SimulatedDialogue(user_llm="nope").fingerprint(env={"llms": llms})


# -- end to end ----------------------------------------------------------------------------
def responder(body: dict) -> str:
    messages = body["messages"]
    if "role-playing a human user" in messages[0]["content"]:
        transcript = messages[-1]["content"]
        if "Satisfied" in transcript and transcript.count("ASSISTANT:") >= 1:
            return "[END]"
        if "Quiet" in transcript:
            return ""  # nothing to say: ends the dialogue
        return f"USER: Follow-up number {transcript.count('ASSISTANT:')}?"
    turn = sum(m["role"] == "assistant" for m in messages)
    first = messages[1]["content"]
    if "Mute" in first and turn == 1:
        return "   "  # an empty assistant turn
    return f"Assistant reply {turn + 1} to: {messages[-1]['content']}"


@pytest.fixture
def run(run_steps, scripted_llm):
    def run_dialogue(records: list[dict], faults=None, **config):
        with ScriptedOpenAIServer(responder=responder, faults=faults) as server:
            llms = {"default": scripted_llm(server), "sim": scripted_llm(server, "sim-model")}
            return run_steps(server, {"chat": SimulatedDialogue(**config)}, records, llms=llms), list(server.requests)

    return run_dialogue


def test_end_to_end(run) -> None:
    records = [
        {"id": "long", "instruction": "How do I start running?", "persona": "a beginner"},
        {"id": "short", "instruction": "Satisfied quickly: what is 2+2?"},
        {"id": "quiet", "instruction": "Quiet user: name a colour."},
        {"id": "mute", "instruction": "Mute assistant: say hi."},
        {"id": "none", "instruction": "  "},
    ]
    result, requests = run(records, turns=3, user_llm="sim")
    kept = {r["id"]: r for r in result.kept}
    assert set(kept) == {"long", "short", "quiet"}
    long = kept["long"]
    assert [m["role"] for m in long["messages"]] == ["user", "assistant"] * 3
    assert long["messages"][0]["content"] == "How do I start running?"
    assert long["messages"][2]["content"] == "Follow-up number 1?"
    assert long["messages"][5]["content"] == "Assistant reply 3 to: Follow-up number 2?"
    assert long["num_turns"] == 3 and long["ended_by_user"] is False
    assert all(m["content"].strip() for m in long["messages"])
    assert kept["short"]["num_turns"] == 1 and kept["short"]["ended_by_user"] is True
    assert len(kept["short"]["messages"]) == 2
    assert kept["quiet"]["num_turns"] == 1 and kept["quiet"]["ended_by_user"] is True
    assert long["_lineage"]["chat"]["template"] == SimulatedDialogue().template_hash
    drops = {r["id"]: r["_drop"] for r in result.dropped}
    assert drops["mute"]["reason"] == "parse_error" and "assistant turn 2" in drops["mute"]["detail"]
    assert drops["none"]["reason"] == "missing_input"
    # the simulated user uses its own endpoint, with its own sampling
    user_requests = [r for r in requests if "role-playing" in r["messages"][0]["content"]]
    assert user_requests and all(r["model"] == "sim-model" and r["temperature"] == 0.8 for r in user_requests)
    assert all(r["model"] == "test-model" for r in requests if r not in user_requests)
    # each turn has its own seed
    seeds = [r["seed"] for r in requests if r["messages"][-1]["content"].startswith("How do I start running")]
    assert len(seeds) == 1
    long_seeds = {r["seed"] for r in requests if "How do I start running" in str(r["messages"])}
    assert len(long_seeds) == 5  # 3 assistant turns + 2 user turns
    assert set(long["_lineage"]["chat"]["turn_seeds"]) == long_seeds
    assert long["_lineage"]["chat"]["seed"] == long["_lineage"]["chat"]["turn_seeds"][0]
    assert len(kept["short"]["_lineage"]["chat"]["turn_seeds"]) == 2  # assistant, then [END]


def test_a_failing_turn_drops_with_llm_error_and_a_rerun_replays_from_cache(run) -> None:
    records = [{"id": "a", "instruction": "Tell me about tides."}, {"id": "b", "instruction": "Tell me about bees."}]
    doomed = FaultPlan(server_error=1.0, always=True, fail_keys={"Follow-up number 1?"})
    first, first_requests = run(records, faults=doomed, turns=3)
    drops = {r["id"]: r["_drop"] for r in first.dropped}
    assert set(drops) == {"a", "b"} and {d["reason"] for d in drops.values()} == {"llm_error"}
    assert all("assistant turn 2" in d["detail"] for d in drops.values())
    second, second_requests = run(records, turns=3)  # the server is healthy now
    assert {r["id"] for r in second.kept} == {"a", "b"}
    assert all(r["num_turns"] == 3 for r in second.kept)
    # turns 1 (assistant + user) came from the cache: only the failed turn onwards was asked
    assert len(second_requests) == 2 * 3


def test_bundled_recipe_runs(tmp_path: Path, recipe_pipeline) -> None:
    with ScriptedOpenAIServer(responder=responder) as server:
        result = recipe_pipeline("dialogue.yaml", server, "steps.openers.limit=4").run(tmp_path / "run")
    assert len(result.kept) == 4 and not result.dropped
    for r in result.kept:
        assert r["messages"][0] == {"role": "user", "content": r["text"].strip()} and r["num_turns"] == 3
