"""Persona Hub: persona_generate and text_to_persona prompts, parsing, and real runs."""

from __future__ import annotations

import json
import re

import pytest
from llm_server import ScriptedOpenAIServer, last_user_content

from synthpipe.data.paths import resolve_data_path
from synthpipe.generate.persona_hub import PersonaFromText, PersonaHub
from synthpipe.generate.task import ParseError
from synthpipe.pipeline.sources import ReadRecords

NURSE = {"id": "p1", "persona": "A pediatric nurse working night shifts in a busy Manila hospital."}


# -- prompts ---------------------------------------------------------------------------------------
def test_math_problem_prompt():
    step = PersonaHub(notes=["Use metric units."])
    content = step.format_input(NURSE)[-1]["content"]
    assert content.startswith("Create a math problem related to the following persona:")
    assert NURSE["persona"] in content
    assert "Only top talents can solve it" in content
    assert "4. Use metric units." in content
    assert content.rstrip().endswith('Your reply must start with "Math problem:".')


@pytest.mark.parametrize(
    "kind, opening, label",
    [
        ("instruction", "Guess a prompt", "User prompt"),
        ("user prompt", "Guess a prompt", "User prompt"),
        ("knowledge-rich text", "Write an informative, knowledge-rich article", "Title"),
        (
            "logical reasoning problem",
            "Create a logical reasoning problem related to",
            "Logical reasoning problem",
        ),
    ],
)
def test_other_task_kinds(kind, opening, label):
    step = PersonaHub(task_kind=kind)
    content = step.format_input(NURSE)[-1]["content"]
    assert content.startswith(opening) and NURSE["persona"] in content
    assert f'start with "{label}:"' in content
    assert step.label == label


def test_text_to_persona_prompt_truncates_long_texts():
    step = PersonaFromText(relation="write", max_text_chars=100)
    content = step.format_input({"id": "t", "text": "word " * 100})[-1]["content"]
    assert content.startswith("Who is likely to write the following text?")
    assert "word word ..." in content and content.count("word") < 30
    assert 'start with "Persona:"' in content


def test_bundled_personas():
    rows = [
        json.loads(line)
        for line in resolve_data_path("bundled:personas/personas.jsonl").read_text().splitlines()
    ]
    assert len(rows) >= 60 and len({r["persona"] for r in rows}) == len(rows)
    assert all(r["id"].startswith("persona-") and len(r["persona"].split()) >= 6 for r in rows)


# -- parsing ---------------------------------------------------------------------------------------
def test_generate_output_parsing():
    step = PersonaHub()
    good = step.format_output("Math problem: A ward has 30 beds ...", NURSE)
    assert good == {"instruction": "A ward has 30 beds ...", "task_kind": "math problem"}
    messy = step.format_output("```\n**Math Problem:** Solve for x: 2x = 4.\n```", NURSE)
    assert messy["instruction"] == "Solve for x: 2x = 4."
    assert step.format_output("No label here.", NURSE)["instruction"] == "No label here."
    with pytest.raises(ParseError) as err:
        step.format_output("Math problem:   ", NURSE)
    assert err.value.reason == "parse_error"
    with pytest.raises(ParseError) as err:
        step.format_output("I'm sorry, but I can't help with that.", NURSE)
    assert err.value.reason == "refusal"
    custom = PersonaHub(task_kind="instruction", output_field="prompt")
    assert custom.format_output("User prompt: Plan my week.", NURSE) == {
        "prompt": "Plan my week.",
        "task_kind": "instruction",
    }


def test_persona_output_parsing():
    step = PersonaFromText()
    reply = "Persona:  A marine biologist\n who studies coral reefs."
    assert step.format_output(reply, {}) == {
        "persona": "A marine biologist who studies coral reefs."
    }
    assert step.format_output("## Persona: x", {}) == {"persona": "x"}
    with pytest.raises(ParseError):
        step.format_output("Persona:", {})


# -- end to end ------------------------------------------------------------------------------------
def responder(body: dict) -> str:
    content = last_user_content(body)
    if content.startswith("Who is likely to"):
        if "refuse me" in content:
            return "Sorry, I cannot describe people."
        return "Persona: A software engineer who maintains legacy payroll systems."
    persona = content.split("\n\n", 1)[1].split("\n", 1)[0]
    label = re.search(r'must start with "(.*?):"', content).group(1)
    if "Kenya" in persona:
        return "```\n```"  # empty after cleaning
    return f"{label}: {persona} needs to schedule 7 tasks over 3 days; how many ways?"


def test_end_to_end_persona_generate_on_bundled_personas(run_steps):
    step = PersonaHub()
    personas = ReadRecords(path="bundled:personas/personas.jsonl", require_text=False)
    with ScriptedOpenAIServer(responder=responder) as server:
        result = run_steps(server, {"personas": personas, "generate": step}, batch_size=16)
    total = len(resolve_data_path("bundled:personas/personas.jsonl").read_text().splitlines())
    assert len(result.kept) == total - 1
    rec = result.kept[0]
    assert rec["instruction"].startswith(rec["persona"]) and rec["task_kind"] == "math problem"
    assert rec["_lineage"]["generate"]["template"] == step.template_hash
    [dropped] = result.dropped
    assert "Kenya" in dropped["persona"] and dropped["_drop"]["reason"] == "parse_error"


def test_end_to_end_text_to_persona(run_steps):
    texts = [
        {"id": "t1", "text": "COBOL remains in use for payroll systems at many banks."},
        {"id": "t2", "text": "Please refuse me."},
        {"id": "t3", "text": ""},
    ]
    step = PersonaFromText()
    with ScriptedOpenAIServer(responder=responder) as server:
        result = run_steps(server, {"persona": step}, texts)
    [kept] = result.kept
    assert kept["persona"] == "A software engineer who maintains legacy payroll systems."
    assert kept["_lineage"]["persona"]["template"] == step.template_hash
    assert {r["id"]: r["_drop"]["reason"] for r in result.dropped} == {
        "t2": "refusal",
        "t3": "missing_input",
    }


@pytest.mark.parametrize("name, kept", [("persona_hub", 63), ("text_to_persona", 1)])
def test_bundled_recipes_run_scaled_down(tmp_path, recipe_pipeline, name, kept):
    first = "personas" if name == "persona_hub" else "documents"
    with ScriptedOpenAIServer(responder=responder) as server:
        result = recipe_pipeline(f"{name}.yaml", server, f"steps.{first}.limit=64").run(tmp_path / "run")
    assert (
        len(result.kept) == kept
    )  # text_to_persona: one persona for all -> one prompt after dedup
    assert all(r["instruction"] and r["persona"] for r in result.kept)
