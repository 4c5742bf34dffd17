"""GLAN: prompts per taxonomy level, concept sampling, and a real run against a scripted server."""

from __future__ import annotations

import json
import random
import re

import pytest
from llm_server import ScriptedOpenAIServer, last_user_content

from synthpipe.errors import StepError
from synthpipe.generate.glan import GLAN

SYLLABUS = [
    {
        "title": "Kinematics",
        "description": "Motion in one dimension.",
        "key_concepts": ["velocity", "acceleration", "displacement"],
    },
    {
        "title": "Forces",
        "description": "",
        "key_concepts": ["Newton's laws", "friction", "free-body diagrams"],
    },
    {
        "title": "Energy",
        "description": "Work and energy.",
        "key_concepts": ["kinetic energy", "work", "power"],
    },
]
SUBJECT = {
    "name": "Classical Mechanics",
    "level": "undergraduate",
    "description": "Newtonian mechanics.",
}


# -- prompts ---------------------------------------------------------------------------------------
def test_prompts_at_each_level():
    step = GLAN(n_disciplines=7, subjects_per_discipline=4, sessions_per_subject=5)
    assert "List 7 distinct disciplines" in step.disciplines_messages()[-1]["content"]
    subjects = step.subjects_messages("Physics")
    assert subjects[0] == {"role": "system", "content": "You are an education expert in Physics."}
    assert "list of 4 subjects" in subjects[-1]["content"]
    syllabus = step.syllabus_messages("Physics", SUBJECT)[-1]["content"]
    assert '"Classical Mechanics" (undergraduate level) in Physics' in syllabus
    assert "Course description: Newtonian mechanics." in syllabus and "5 class sessions" in syllabus
    question = step.question_messages("Physics", SUBJECT, SYLLABUS[:2], ["velocity", "friction"])[
        -1
    ]["content"]
    assert "- Kinematics: Motion in one dimension.\n- Forces\n" in question
    assert "combining these key concepts: velocity; friction." in question
    assert '{"question": "..."}' in question


def test_concept_sampling_is_seeded_and_involves_the_session():
    step = GLAN(concepts_per_question=2, cross_session_prob=1.0)
    for seed in range(50):
        sessions, concepts = step.pick_concepts(SYLLABUS, 2, random.Random(seed))
        assert len(sessions) == 2 and sessions[-1] is SYLLABUS[2]
        assert 1 <= len(concepts) <= 2 and set(concepts) & set(SYLLABUS[2]["key_concepts"])
        assert (sessions, concepts) == step.pick_concepts(SYLLABUS, 2, random.Random(seed))
    single = GLAN(concepts_per_question=5, cross_session_prob=0.0)
    sessions, concepts = single.pick_concepts(SYLLABUS, 1, random.Random(0))
    assert (
        sessions == [SYLLABUS[1]] and concepts == SYLLABUS[1]["key_concepts"]
    )  # session order kept


# -- end to end ------------------------------------------------------------------------------------
def responder(body: dict) -> str:
    content = last_user_content(body)
    system = body["messages"][0]["content"]
    fmt = body.get("response_format")
    name = fmt["json_schema"]["name"] if fmt else None
    if name == "DisciplineList":
        return json.dumps(
            {"disciplines": ["Physics", "Broken", "Music Theory", "Extra Discipline"]}
        )
    if name == "SubjectList":
        if "Broken" in system:
            return "I would rather talk about something else."
        if "Physics" in system:
            subjects = [
                SUBJECT,
                {"name": "Optics", "level": "undergraduate", "description": "Light."},
            ]
        else:
            subjects = [
                {"name": "Harmony", "level": "", "description": ""},
                {"name": "Bad Counterpoint"},
            ]
        return (
            "```json\n" + json.dumps({"subjects": [*subjects, {"name": "One Too Many"}]}) + "\n```"
        )
    if name == "Syllabus":
        if '"Bad Counterpoint"' in content:
            return json.dumps({"sessions": []})
        return json.dumps({"sessions": SYLLABUS + [{"title": "Extra", "key_concepts": ["x"]}]})
    if name == "Homework":
        concepts = re.search(r"combining these key concepts: (.*)\.\n", content).group(1)
        return json.dumps(
            {"question": f"Explain how {concepts} relate, with worked example {body['seed']}."}
        )
    assert fmt is None and system.startswith("You are an expert in")
    return "A step-by-step answer."


@pytest.fixture
def run(run_steps):
    def run_glan(server, **kw):
        step = GLAN(**{"n_disciplines": 3, "subjects_per_discipline": 2, "sessions_per_subject": 3, "n": 16,
                       "max_parse_attempts": 1, **kw})  # fmt: skip
        return step, run_steps(server, {"generate": step})

    return run_glan


def test_end_to_end_taxonomy_walk(run):
    with ScriptedOpenAIServer(responder=responder) as server:
        step, result = run(server, generate_answers=True)
    kept = result.kept
    assert [r["id"] for r in kept] == [f"glan-{i:06d}" for i in range(16)]
    assert [r["discipline"] for r in kept] == ["Physics"] * 12 + ["Music Theory"] * 4
    assert {r["subject"] for r in kept} == {"Classical Mechanics", "Optics", "Harmony"}
    for rec in kept:
        assert (
            rec["instruction"].startswith("Explain how ")
            and rec["answer"] == "A step-by-step answer."
        )
        assert rec["session"] in {s["title"] for s in SYLLABUS}  # "Extra" session cut
        assert all(c in rec["instruction"] for c in rec["concepts"])
        lineage = rec["_lineage"]["generate"]
        assert (
            lineage["template"] == step.template_hash and rec["session"] == lineage["sessions"][-1]
        )
    [dropped] = result.dropped
    assert dropped["id"] == "glan-d1-subjects" and dropped["_drop"]["reason"] == "parse_error"
    assert dropped["discipline"] == "Broken"
    # n was reached with Harmony's questions: the second subject's syllabus was never asked for
    assert not any('"Bad Counterpoint"' in last_user_content(b) for b in server.requests)


def test_configured_disciplines_skip_the_first_level(run):
    with ScriptedOpenAIServer(responder=responder) as server:
        _step, result = run(server, disciplines=["Physics"], n=5, questions_per_session=1)
        names = [
            b["response_format"]["json_schema"]["name"]
            for b in server.requests
            if b.get("response_format")
        ]
    assert "DisciplineList" not in names and names.count("Syllabus") == 2
    assert len(result.kept) == 5 and "answer" not in result.kept[0]


def test_unobtainable_discipline_list_fails_the_step(run):
    with (
        ScriptedOpenAIServer(responder=lambda body: "no json") as server,
        pytest.raises(StepError, match="disciplines"),
    ):
        run(server)


def test_bundled_recipe_runs_scaled_down(tmp_path, recipe_pipeline):
    with ScriptedOpenAIServer(responder=responder) as server:
        result = recipe_pipeline("glan.yaml", server, "steps.generate.n=20").run(tmp_path / "run")
    assert len(result.kept) == 20 and {r["discipline"] for r in result.kept} == {
        "Mathematics",
        "Physics",
    }
    assert [r["_drop"]["reason"] for r in result.dropped] == [
        "parse_error"
    ]  # "Bad Counterpoint" syllabus
