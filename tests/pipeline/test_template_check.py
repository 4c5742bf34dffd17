"""Prompt templates are checked when the recipe loads: a variable the step does not give the
template is an error with the file and line of the template, not a failure at the first
request (issue 13, item 8)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from synthpipe.errors import RecipeError
from synthpipe.run.recipe import parse_recipe

HEAD = """\
name: t
llms:
  default: {backend: openai, model: m, base_url: "http://localhost:1/v1"}
steps:
  source:
    step: records
    records: [{question: "What is 2+2?", answer: "4"}]
"""


def problems(steps: str, overrides=()) -> list[str]:
    with pytest.raises(RecipeError) as info:
        parse_recipe(HEAD + textwrap.indent(textwrap.dedent(steps), "  "), "r.yaml", overrides)
    return info.value.problems


def loads(steps: str) -> None:
    parse_recipe(HEAD + textwrap.indent(textwrap.dedent(steps), "  "), "r.yaml")


def test_an_inline_prompt_with_a_typo_fails_at_its_recipe_line_with_a_suggestion():
    [msg] = problems("""\
      gen:
        step: llm_generate
        prompt: "Q: {{ questoin }}"
    """)
    assert msg.startswith("r.yaml:10: steps.gen.prompt: the template uses {{ questoin }}")
    assert "did you mean 'question'?" in msg and "available: answer, config" in msg


def test_a_template_file_with_a_typo_fails_at_the_file_and_line(tmp_path: Path):
    template = tmp_path / "p.jinja2"
    template.write_text("Question: {{ question }}\n\nGold answer: {{ answr }}\n")
    [msg] = problems(f"""\
      gen:
        step: llm_generate
        template: {template}
    """)
    assert msg.startswith(f"{template}:3 (set at r.yaml:10: steps.gen.template): the template uses {{{{ answr }}}}")
    assert "did you mean 'answer'?" in msg


def test_a_template_syntax_error_names_the_line(tmp_path: Path):
    template = tmp_path / "p.jinja2"
    template.write_text("Q: {{ question }}\n{% if answer %}\nno end\n")
    [msg] = problems(f"""\
      gen:
        step: llm_generate
        template: {template}
    """)
    assert msg.startswith(f"{template}:") and "template syntax error" in msg


def test_a_prompt_set_by_an_override_names_the_override():
    [msg] = problems("""\
      gen:
        step: llm_generate
        prompt: "Q: {{ question }}"
    """, ["steps.gen.prompt=Other prompt: {{ text }}"])
    assert msg.startswith("override `-s steps.gen.prompt=Other prompt: {{ text }}`: steps.gen.prompt:")
    assert "{{ text }}" in msg


def test_names_the_template_defines_or_guards_and_fields_of_earlier_steps_are_fine():
    loads("""\
      gen:
        step: llm_generate
        output_field: draft
        system: "You answer {{ config.llm }} questions."
        prompt: |
          {% set intro = "Q:" %}{{ intro }} {{ question }}
          {% for c in range(3) %}{{ loop.index }}{{ c }}{% endfor %}
          {% if hint is defined %}{{ hint }}{% endif %}{{ extra | default("") }}
          {% macro show(x) %}{{ x }}{% endmacro %}{{ show(answer) }}
      critique:
        step: llm_generate
        prompt: "Improve: {{ draft }} for {{ question }}"
    """)


def test_a_step_that_gives_its_own_names_is_checked_against_them(tmp_path: Path):
    template = tmp_path / "zg.jinja2"
    template.write_text("Write {{ k }} {{ text_kind }} for {{ label }}:\n{{ exmples }}\n")
    recipe = f"""\
    name: t
    llms:
      default: {{backend: openai, model: m, base_url: "http://localhost:1/v1"}}
    steps:
      gen:
        step: zerogen
        template: {template}
    """
    with pytest.raises(RecipeError) as info:
        parse_recipe(textwrap.dedent(recipe), "r.yaml")
    [msg] = info.value.problems
    assert msg.startswith(f"{template}:2 (set at r.yaml:7: steps.gen.template)") and "{{ exmples }}" in msg
    assert "(it gives: attributes, config, description, examples, k, label" in msg


def test_a_step_that_renders_records_and_its_own_names(tmp_path: Path):
    template = tmp_path / "pg.jinja2"
    template.write_text("{{ persona }} / {{ task_kind }} / {{ label }} / {{ question }} / {{ personna }}\n")
    [msg] = problems(f"""\
      gen:
        step: persona_generate
        persona_field: question
        template: {template}
    """)
    assert msg.startswith(f"{template}:1 ") and "{{ personna }}" in msg and "did you mean 'persona'?" in msg


def test_unknown_fields_turn_the_check_off(tmp_path: Path):
    recipe = """\
    name: t
    llms:
      default: {backend: openai, model: m, base_url: "http://localhost:1/v1"}
    steps:
      source: {step: toy_steps:CountingSource, n: 3}
      gen: {step: llm_generate, prompt: "{{ anything }}"}
    """
    parse_recipe(textwrap.dedent(recipe), "r.yaml")  # toy steps declare no columns


def test_bundled_templates_are_trusted_and_other_steps_are_not_checked():
    loads("""\
      judge:
        step: judge_score
        instruction_field: question
        response_field: answer
    """)
