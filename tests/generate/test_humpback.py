"""Humpback (instruction back-translation): prompts, parsing, and a real run."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pydantic
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from llm_server import FaultPlan, ScriptedOpenAIServer, last_user_content  # noqa: E402

from synthpipe import Pipeline  # noqa: E402
from synthpipe.data.read_step import FromRecords  # noqa: E402
from synthpipe.generate.humpback import (  # noqa: E402
    InstructionBacktranslation,
    SelfCurate,
    clean_instruction,
    parse_score,
)
from synthpipe.generate.task import ParseError  # noqa: E402
from synthpipe.llm.config import LLMConfig  # noqa: E402
from synthpipe.pipeline.registry import get_step_class  # noqa: E402

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


@pytest.mark.parametrize(
    ("reply", "score", "reason"),
    [
        ("The answer is complete and helpful.\nScore: 4", 4, "The answer is complete and helpful."),
        ("Reasoning: fine.\n\n**Score:** 5", 5, "fine."),
        ("Good, but not from an assistant.\nRating: 3/5", 3, "Good, but not from an assistant."),
        ("I first thought score: 2, but it is complete.\nScore: 4.5", 4.5, "I first thought score: 2, but it is complete."),
        ("Helpful and clear.\n4", 4, "Helpful and clear."),
        ("score:1", 1, ""),
    ],
)
def test_parse_score(reply: str, score: float, reason: str) -> None:
    assert parse_score(reply) == (score, reason)


@pytest.mark.parametrize("reply", ["It is a fine answer.", "Score: 10", "Score: 0", ""])
def test_parse_score_rejects(reply: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_score(reply)
    assert err.value.reason == "parse_error"


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


def test_end_to_end(tmp_path: Path) -> None:
    records = [{"id": k, "text": v} for k, v in DOCS.items()]
    doomed = FaultPlan(server_error=1.0, always=True, fail_keys={"backtranslator fail"})
    with ScriptedOpenAIServer(responder=responder, faults=doomed) as server:
        llm = LLMConfig(backend="openai", base_url=server.base_url, model="test-model", max_retries=0)
        steps = {
            "docs": FromRecords(records=records),
            "augment": InstructionBacktranslation(),
            "curate": SelfCurate(threshold=4),
        }
        pipeline = Pipeline("hb", steps, llms={"default": llm}, llm_cache=str(tmp_path / "cache.sqlite"))
        result = pipeline.run(tmp_path / "run")
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


def test_bundled_recipe_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from synthpipe.pipeline.recipe import load_recipe

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")

    def plausible(body: dict) -> str:
        user = last_user_content(body)
        if "Here is a response" in user:
            return f"Question {body['seed']}: can you explain this?"
        return "Complete and helpful.\nScore: 4" if body["seed"] % 2 else "Reads like a forum post.\nScore: 2"

    with ScriptedOpenAIServer(responder=plausible) as server:
        overrides = [f"llms.default.base_url={server.base_url}", "steps.documents.limit=6", f"llm_cache={tmp_path / 'c.sqlite'}"]
        result = Pipeline.from_model(load_recipe("recipes/humpback.yaml", overrides)).run(tmp_path / "run")
    assert len(result.kept) + len(result.dropped) == 6
    assert all(r["quality_score"] == 4 and r["output"] == r["text"] and r["source_prompt"] for r in result.kept)
    assert {r["_drop"]["reason"] for r in result.dropped} <= {"low_quality"}
