"""A step that reads a field no earlier step provides fails when the recipe is loaded."""

from __future__ import annotations

import json
import textwrap

import pytest

from synthpipe.curate.exact_dedup import ExactDedup
from synthpipe.curate.text_filters import TextFilter
from synthpipe.errors import RecipeError
from synthpipe.pipeline.sources import FromRecords
from synthpipe.run.bundled import bundled_recipes
from synthpipe.run.columns import missing_columns
from synthpipe.run.recipe import load_recipe, parse_recipe

INLINE = """\
name: t
steps:
  docs:
    step: records
    records:
      - {question: "What is the capital of France?", answer: Paris}
      - {question: "Who wrote Hamlet?", answer: Shakespeare}
  filter:
    step: text_filter
    text_field: question
  dedup:
    step: exact_dedup
    fields: [question, answer]
"""


def problems(text: str, overrides=()) -> list[str]:
    with pytest.raises(RecipeError) as info:
        parse_recipe(textwrap.dedent(text), "r.yaml", overrides)
    return info.value.problems


def test_a_recipe_whose_fields_exist_loads():
    recipe = parse_recipe(INLINE, "r.yaml")
    assert list(recipe.steps) == ["docs", "filter", "dedup"]


def test_a_filter_on_a_field_nobody_provides_fails_with_file_line_and_suggestion():
    [msg] = problems(INLINE.replace("text_field: question", "text_field: questoin"))
    assert msg.startswith(
        "r.yaml:10: steps.filter.text_field: step 'filter' (text_filter) needs field 'questoin'"
    )
    assert "did you mean 'question'?" in msg
    assert "(available: answer, id, question)" in msg


def test_a_field_in_a_list_points_at_its_item():
    [msg] = problems(INLINE.replace("fields: [question, answer]", "fields: [question, reply]"))
    assert msg.startswith(
        "r.yaml:13: steps.dedup.fields.1: step 'dedup' (exact_dedup) needs field 'reply'"
    )


def test_a_default_field_points_at_the_step_and_names_the_option():
    [msg] = problems(INLINE.replace("    text_field: question\n", ""))
    assert msg.startswith("r.yaml:8: steps.filter: step 'filter' (text_filter) needs field 'text'")
    assert "(`text_field` defaults to 'text')" in msg


def test_a_field_set_by_an_override_names_the_override():
    [msg] = problems(INLINE, ["steps.filter.text_field=body"])
    assert msg.startswith("override `-s steps.filter.text_field=body`: steps.filter.text_field:")


def test_fields_added_by_earlier_steps_count():
    recipe = """\
    name: t
    steps:
      docs:
        step: records
        records: [{text: "Call me at +1 415 555 0132 please"}]
      pii:
        step: pii
        output_field: found
      dedup:
        step: exact_dedup
        fields: [found]
    """
    parse_recipe(textwrap.dedent(recipe), "r.yaml")
    assert (
        "needs field 'found'"
        in problems(recipe.replace("output_field: found", "output_field: pii"))[0]
    )


def test_read_peeks_at_the_file_for_its_columns(tmp_path):
    data = tmp_path / "qa.jsonl"
    data.write_text(
        "".join(json.dumps({"question": f"q{i}?", "answer": str(i)}) + "\n" for i in range(3))
    )
    recipe = f"""\
    name: t
    steps:
      read:
        step: read
        path: {data}
        text_field: question
        fields: {{reply: answer}}
      filter:
        step: text_filter
        text_field: reply
    """
    parse_recipe(textwrap.dedent(recipe), "r.yaml")  # `reply` comes from the `fields` mapping
    [msg] = problems(recipe.replace("text_field: reply", "text_field: answer"))
    assert "needs field 'answer'" in msg  # mapped to `reply`, so no longer there
    assert "(available: id, reply, text)" in msg


def test_a_step_with_unknown_outputs_turns_the_check_off():
    recipe = """\
    name: t
    steps:
      generate:
        step: toy_steps:CountingSource
        n: 20
      tag:
        step: toy_steps:SlowTagger
      filter:
        step: text_filter
        text_field: tag
    """
    parse_recipe(textwrap.dedent(recipe), "r.yaml")  # toy steps declare no columns


def test_a_known_source_then_an_unknown_step_turns_the_check_off():
    recipe = INLINE.replace("  filter:\n", "  tag:\n    step: toy_steps:SlowTagger\n  filter:\n")
    parse_recipe(recipe.replace("text_field: question", "text_field: tag"), "r.yaml")


def test_missing_columns_walks_steps_in_order():
    steps = {
        "docs": FromRecords(records=[{"text": "a b c"}]),
        "filter": TextFilter(text_field="instruction"),
        "dedup": ExactDedup(fields=["text", "label"]),
    }
    found = [(m.step, m.field) for m in missing_columns(steps)]
    assert found == [("filter", "instruction"), ("dedup", "label")]


@pytest.mark.parametrize("name", sorted(bundled_recipes()))
def test_every_bundled_recipe_passes_the_check(name):
    load_recipe(bundled_recipes()[name])
