"""WRAP (rephrasing in styles): templates, parsing, config, and a real run."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pydantic
import pytest
from llm_server import FaultPlan, ScriptedOpenAIServer, last_user_content

from synthpipe.generate.task import PROMPTS, ParseError, record_seed
from synthpipe.generate.wrap import STYLES, WRAP, clean_rephrasing
from synthpipe.pipeline.registry import get_step_class

TEXT = "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar and oxygen."
CUES = {
    "easy": "toddler",
    "medium": "Wikipedia",
    "hard": "erudite scholar",
    "qa": '"Question:" followed by "Answer:"',
}


@pytest.mark.parametrize("style", STYLES)
def test_each_style_has_its_template(style: str) -> None:
    messages = WRAP().format_input({"id": "a", "text": TEXT}, style)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert TEXT in messages[1]["content"] and CUES[style] in messages[1]["content"]
    others = [CUES[s] for s in STYLES if s != style]
    assert not any(cue in messages[1]["content"] for cue in others)


def test_templates_enter_the_fingerprint(tmp_path: Path) -> None:
    step = WRAP(styles=["easy", "qa"])
    assert step.input_files() == [PROMPTS / "wrap_easy.jinja2", PROMPTS / "wrap_qa.jinja2"]
    custom = tmp_path / "pirate.jinja2"
    custom.write_text("Rewrite like a pirate ({{ style }}):\n{{ text }}", encoding="utf-8")
    pirate = WRAP(styles=["easy", "pirate"], templates={"pirate": str(custom)})
    assert pirate.format_input({"text": "hi"}, "pirate") == [{"role": "user", "content": "Rewrite like a pirate (pirate):\nhi"}]
    assert pirate.style_hash("pirate") == hashlib.sha256(custom.read_bytes()).hexdigest()[:12]
    one = WRAP(styles=["easy", "hard"], template=str(custom))  # `template` replaces every style's
    assert one.input_files() == [custom, custom] and one.style_hash("hard") == pirate.style_hash("pirate")
    assert step.fingerprint() != WRAP(styles=["easy", "hard"]).fingerprint()


@pytest.mark.parametrize(
    ("reply", "style", "expected"),
    [
        ("Plants use sun to make food.", "easy", "Plants use sun to make food."),
        ("Sure! Here's a paraphrase:\nPlants use sun to make food.", "easy", "Plants use sun to make food."),
        ("```\nPlants use sun.\n```", "medium", "Plants use sun."),
        ("Question: What is it?\nAnswer: A process.", "qa", "Question: What is it?\nAnswer: A process."),
        ("**Question:** What?\n**Answer:** That.", "qa", "**Question:** What?\n**Answer:** That."),
        ("Sure!\nPlants use sun.", "easy", "Plants use sun."),
        ("Here is a plant. It eats light.\nIt grows.", "easy", "Here is a plant. It eats light.\nIt grows."),
        ("Here is why: plants eat light.", "easy", "Here is why: plants eat light."),
    ],
)
def test_clean_rephrasing(reply: str, style: str, expected: str) -> None:
    assert clean_rephrasing(reply, style) == expected


@pytest.mark.parametrize(("reply", "style"), [("   ", "easy"), ("Sure, here it is:\n", "hard"), ("Plants eat light.", "qa")])
def test_clean_rephrasing_rejects(reply: str, style: str) -> None:
    with pytest.raises(ParseError) as err:
        clean_rephrasing(reply, style)
    assert err.value.reason == "parse_error"


def test_config() -> None:
    assert get_step_class("wrap") is WRAP
    assert WRAP().config.styles == list(STYLES)
    with pytest.raises(pydantic.ValidationError, match="unknown style"):
        WRAP(styles=["pirate"])
    with pytest.raises(pydantic.ValidationError, match="repeat"):
        WRAP(styles=["easy", "easy"])
    with pytest.raises(pydantic.ValidationError):
        WRAP(styles=[])


# -- end to end ----------------------------------------------------------------------------
def responder(body: dict) -> str:
    user = last_user_content(body)
    if "Converts nothing" in user and "Question:" in user:
        return "I cannot do that."  # a qa reply without tags
    if "toddler" in user:
        return "Sure! Here is the paraphrase:\nPlants eat light and make air."
    if "Wikipedia" in user:
        return "Photosynthesis is the process by which plants convert light into chemical energy."
    if "erudite" in user:
        return "Phototrophic organisms transmute insolation into saccharides."
    return "Question: What does photosynthesis make?\nAnswer: Sugar and oxygen."


def test_end_to_end(run_steps) -> None:
    records = [
        {"id": "p", "text": TEXT},
        {"id": "x", "text": "Converts nothing at all."},
        {"id": "e", "text": ""},
    ]
    doomed = FaultPlan(server_error=1.0, always=True, fail_keys={"nothing at all"})
    with ScriptedOpenAIServer(responder=responder, faults=doomed) as server:
        result = run_steps(server, {"wrap": WRAP(styles=["easy", "hard", "qa"])}, records)
    kept = {r["id"]: r for r in result.kept}
    assert set(kept) == {"p", "p~hard", "p~qa"}
    assert kept["p"]["style"] == "easy" and kept["p"]["rephrased"] == "Plants eat light and make air."
    assert kept["p~hard"]["rephrased"].startswith("Phototrophic") and kept["p~qa"]["rephrased"].startswith("Question:")
    assert all(r["original"] == TEXT and r["text"] == TEXT for r in kept.values())
    step = WRAP()
    for rid, style in (("p", "easy"), ("p~hard", "hard"), ("p~qa", "qa")):
        lineage = kept[rid]["_lineage"]["wrap"]
        assert lineage["style"] == style and lineage["template"] == step.style_hash(style)
        assert lineage["seed"] == record_seed(0, f"wrap:{style}", "p")
    drops = {r["id"]: r["_drop"] for r in result.dropped}
    assert drops["e"]["reason"] == "missing_input"
    # every style of "x" fails on its own: the server fails them all
    assert {drops[i]["reason"] for i in ("x", "x~hard", "x~qa")} == {"llm_error"}
    assert "style qa" in drops["x~qa"]["detail"]
    assert len(result.kept) + len(result.dropped) == 7


def test_bundled_recipe_runs(tmp_path: Path, recipe_pipeline) -> None:
    def plausible(body: dict) -> str:
        return responder(body).replace("Photosynthesis", f"Text {body['seed']}")

    with ScriptedOpenAIServer(responder=plausible) as server:
        result = recipe_pipeline("wrap.yaml", server, "steps.documents.limit=3").run(tmp_path / "run")
    too_long = sum(r["_drop"]["step"] == "length" for r in result.dropped)
    rephrased = result.kept + [r for r in result.dropped if r["_drop"]["step"] != "length"]
    assert len(rephrased) == 4 * (3 - too_long)  # four styles per passage
    assert {r["_drop"]["reason"] for r in result.dropped if r["_drop"]["step"] == "dedup"} <= {"duplicate"}
    assert {r["style"] for r in rephrased} == set(STYLES)
