"""Steps that declare the names they render a template with (`template_variables`, checked
against user templates when a recipe loads) declare them truly: the bundled templates use
only those names, and the render calls give exactly those (issue 13, item 8)."""

from __future__ import annotations

import random

import pytest

from synthpipe.generate.glan import GLAN
from synthpipe.generate.persona_hub import PersonaFromText, PersonaHub
from synthpipe.generate.self_instruct import SelfInstruct
from synthpipe.generate.task import load_prompt
from synthpipe.generate.zerogen import ZeroGen
from synthpipe.pipeline.registry import registered_steps
from synthpipe.run.templates import RECORD_FIELDS, undefined_names

DECLARING = sorted(n for n, c in registered_steps().items() if getattr(c, "template_variables", None))


def test_the_source_steps_declare_their_names():
    assert {"glan", "self_instruct", "zerogen", "persona_generate", "text_to_persona"} <= set(DECLARING)


@pytest.mark.parametrize("name", DECLARING)
def test_bundled_templates_use_only_declared_names(name: str):
    cls = registered_steps()[name]
    roles = {cls.main_role: cls.template_file, **cls.template_files}
    assert set(cls.template_variables) == set(roles)
    for role, file in roles.items():
        declared = set(cls.template_variables[role]) - {RECORD_FIELDS}
        assert set(undefined_names(load_prompt(file))) <= declared, (name, role)


def spy(step) -> dict[str, set[str]]:
    """Record the names each role is rendered with (instead of rendering)."""
    seen: dict[str, set[str]] = {}

    def render_role(role, **variables):
        seen[role] = set(variables)
        return []

    step.render_role = render_role
    return seen


def declared(step, role: str) -> set[str]:
    return set(step.template_variables[role])


def test_zerogen_renders_the_declared_names():
    step = ZeroGen(n=6)
    seen = spy(step)
    step.messages(step.plan(0, "g")[0])
    assert seen == {"main": declared(step, "main")}


def test_glan_renders_the_declared_names():
    step = GLAN()
    seen = spy(step)
    subject = {"name": "Algebra", "level": "intro", "description": "d"}
    sessions = [{"title": "t", "key_concepts": ["a", "b"]}]
    step.disciplines_messages()
    step.subjects_messages("Mathematics")
    step.syllabus_messages("Mathematics", subject)
    step.question_messages("Mathematics", subject, sessions, ["a"])
    for role in ("disciplines", "subjects", "syllabus", "question"):
        assert seen[role] == declared(step, role), role


def test_self_instruct_renders_the_declared_names():
    step = SelfInstruct()
    seen = spy(step)
    step.generation_messages(["a task"])
    step.classify_messages("Classify this.")
    step.instance_messages("Write a poem.", False, random.Random(0))
    for role in ("generate", "classify", "instance"):
        assert seen[role] == declared(step, role), role


def test_persona_steps_render_the_declared_names():
    step = PersonaHub()
    seen = spy(step)
    step.format_input({"id": "r1", "persona": "a chemist", "topic": "salt"})
    assert seen["main"] == declared(step, "main") - {RECORD_FIELDS} | {"id", "topic"}
    step = PersonaFromText()
    seen = spy(step)
    step.format_input({"id": "r1", "text": "Salt dissolves in water."})
    assert seen["main"] == declared(step, "main")
