"""Humpback (instruction back-translation): prompts, parsing, and a real run."""

from __future__ import annotations

import re
from pathlib import Path

import pydantic
import pytest
from llm_server import FaultPlan, ScriptedOpenAIServer, last_user_content

from synthpipe.generate.humpback import InstructionBacktranslation, SelfCurate, clean_instruction
from synthpipe.generate.task import ParseError
from synthpipe.pipeline.registry import get_step_class

TEXT = "To boil an egg, place it in boiling water for 7 minutes, then cool it in cold water."


def test_backtranslate_prompt() -> None:
    messages = InstructionBacktranslation().format_input({"id": "a", "text": TEXT})
    assert [m["role"] for m in messages] == ["system", "user"]
    assert TEXT in messages[1]["content"] and "instruction" in messages[1]["content"]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("How do I boil an egg?", "How do I boil an egg?"),
        ("  Instruction: How do I boil an egg?\n", "How do I boil an egg?"),
        ('**Instruction:** "How do I boil an egg?"', "How do I boil an egg?"),
        ("Sure! Here is the instruction:\nHow do I boil an egg?", "How do I boil an egg?"),
        ("```\nHow do I boil an egg?\n```", "How do I boil an egg?"),
        ("User: How do I boil an egg?\n\nResponse: To boil an egg...", "How do I boil an egg?"),
        ("Explain it.\nKeep it short.", "Explain it.\nKeep it short."),
        ("“Say 'hi' to me”", "Say 'hi' to me"),
    ],
)
def test_clean_instruction(reply: str, expected: str) -> None:
    assert clean_instruction(reply) == expected


def test_backtranslate_output() -> None:
    step = InstructionBacktranslation(max_instruction_words=6)
    assert step.format_output("How do I boil an egg?", {"text": TEXT}) == {
        "instruction": "How do I boil an egg?",
        "output": TEXT,
    }
    with pytest.raises(ParseError, match="parse_error"):
        step.format_output("  ```\n```  ", {"text": TEXT})
    with pytest.raises(ParseError, match="7 words"):
        step.format_output("one two three four five six seven", {"text": TEXT})


def test_curate_prompt_has_the_rubric() -> None:
    step = SelfCurate()
    user = step.format_input({"instruction": "How do I boil an egg?", "output": TEXT})[-1]["content"]
    assert "How do I boil an egg?" in user and TEXT in user
    assert "5-point scale" in user and 'Score: <rating>' in user
    for point in ("1:", "2:", "3:", "4:", "5:"):
        assert f"\n{point}" in user


def test_curate_output_is_the_score_and_its_reasoning() -> None:
    assert SelfCurate().format_output("Helpful.\nScore: 4", {}) == {"quality_score": 4, "quality_reason": "Helpful."}
    with pytest.raises(ParseError):
        SelfCurate().format_output("Score: 6", {})


def test_config_and_registry() -> None:
    assert get_step_class("backtranslate") is InstructionBacktranslation
    assert get_step_class("self_curate") is SelfCurate
    assert SelfCurate().config.threshold == 4 and SelfCurate().config.temperature == 0
    with pytest.raises(pydantic.ValidationError):
        SelfCurate(threshold=6)


# -- end to end ----------------------------------------------------------------------------
DOCS = {
    "egg": TEXT,
    "tea": "Warm the pot, add one spoon of tea per cup, pour boiling water and steep for four minutes.",
    "ad": "Click here to buy the best shoes!!! Free shipping on all orders today only.",
    "riddle": "Nobody knows.",
    "broken": "This text makes the backtranslator fail.",
}


def responder(body: dict) -> str:
    user = last_user_content(body)
    if "Here is a response" in user:
        if "Click here" in user:
            return "Write an ad for shoes."
        if "Nobody knows" in user:
            return "Instruction:   "  # nothing after the label
        return "Instruction: " + ("How do I boil an egg?" if "egg" in user else "How should I make tea?")
    instruction = re.search(r'Instruction:\n"""\n(.*?)\n"""', user, re.DOTALL).group(1)
    if "ad" in instruction:
        return "It reads like promotional text, not an assistant's answer.\nScore: 1"
    if "tea" in instruction:
        return "Complete but could be more detailed.\nScore: 4"
    return "Very clear and complete.\nScore: 5"


def test_end_to_end(run_steps) -> None:
    records = [{"id": k, "text": v} for k, v in DOCS.items()]
    doomed = FaultPlan(server_error=1.0, always=True, fail_keys={"backtranslator fail"})
    with ScriptedOpenAIServer(responder=responder, faults=doomed) as server:
        steps = {"augment": InstructionBacktranslation(), "curate": SelfCurate(threshold=4)}
        result = run_steps(server, steps, records)
    kept = {r["id"]: r for r in result.kept}
    assert set(kept) == {"egg", "tea"}
    assert kept["egg"]["instruction"] == "How do I boil an egg?" and kept["egg"]["output"] == TEXT
    assert kept["egg"]["quality_score"] == 5 and kept["tea"]["quality_score"] == 4
    assert kept["tea"]["quality_reason"] == "Complete but could be more detailed."
    assert kept["egg"]["_lineage"]["augment"]["template"] == InstructionBacktranslation().template_hash
    assert kept["egg"]["_lineage"]["curate"]["template"] == SelfCurate().template_hash
    drops = {r["id"]: r["_drop"] for r in result.dropped}
    assert drops["ad"]["reason"] == "low_quality" and drops["ad"]["detail"] == "score 1 < 4"
    assert drops["ad"]["step"] == "curate"
    assert (drops["riddle"]["step"], drops["riddle"]["reason"]) == ("augment", "parse_error")
    assert (drops["broken"]["step"], drops["broken"]["reason"]) == ("augment", "llm_error")


def test_bundled_recipe_runs(tmp_path: Path, recipe_pipeline) -> None:
    def plausible(body: dict) -> str:
        user = last_user_content(body)
        if "Here is a response" in user:
            return f"Question {body['seed']}: can you explain this?"
        return "Complete and helpful.\nScore: 4" if body["seed"] % 2 else "Reads like a forum post.\nScore: 2"

    with ScriptedOpenAIServer(responder=plausible) as server:
        result = recipe_pipeline("humpback.yaml", server, "steps.documents.limit=6").run(tmp_path / "run")
    assert len(result.kept) + len(result.dropped) == 6
    assert all(r["quality_score"] == 4 and r["output"] == r["text"] and r["source_prompt"] for r in result.kept)
    assert {r["_drop"]["reason"] for r in result.dropped} <= {"low_quality"}
