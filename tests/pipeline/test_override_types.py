"""`-s key.path=value` reads the value as the type the schema expects there: a string field
takes the text as written, other fields read YAML, and a value that does not fit is a usage
error naming the override (issue 13, item 4)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from synthpipe.errors import RecipeError, UsageError
from synthpipe.run.recipe import parse_recipe

RECIPE = """\
name: t
llms:
  default: {backend: openai, model: m, base_url: "http://localhost:1/v1"}
steps:
  generate:
    step: records
    records: [{text: hello there friend, label: a}]
  gen:
    step: llm_generate
    prompt: "Answer: {{ text }}"
  filter:
    step: text_filter
    min_words: 2
  dedup:
    step: exact_dedup
    fields: [text]
"""


def parse(*overrides: str):
    return parse_recipe(RECIPE, "r.yaml", list(overrides))


def test_a_string_field_takes_the_text_as_written():
    recipe = parse("steps.gen.prompt=Other prompt: {{ text }}")
    assert recipe.steps["gen"]["prompt"] == "Other prompt: {{ text }}"
    for text in ("yes", "123", "[not a list", "a # not a comment", '"quoted"', "null"):
        assert parse(f"steps.gen.prompt={text} {{{{ text }}}}").steps["gen"]["prompt"] == f"{text} {{{{ text }}}}"
    assert parse("steps.gen.system=yes").steps["gen"]["system"] == "yes"  # str | None: text


def test_typed_fields_read_yaml():
    recipe = parse("steps.filter.min_words=3", "steps.dedup.fields=[text, label]", "seed=9",
                   "use_cache=false", "steps.gen.system=null", "llms.default.max_retries=2")  # fmt: skip
    assert recipe.steps["filter"]["min_words"] == 3 and recipe.seed == 9 and recipe.use_cache is False
    assert recipe.steps["dedup"]["fields"] == ["text", "label"]
    assert recipe.steps["gen"]["system"] is None
    assert recipe.llms["default"].max_retries == 2


def test_broken_yaml_for_a_typed_field_is_a_usage_error_naming_the_override():
    with pytest.raises(UsageError) as info:
        parse("steps.filter.min_words=[1,2")
    message = str(info.value)
    assert message.startswith("override `-s steps.filter.min_words=[1,2`:") and "integer" in message


def test_a_value_of_the_wrong_type_names_the_override():
    with pytest.raises(RecipeError) as info:
        parse("steps.filter.min_words=abc")
    [problem] = info.value.problems
    assert problem.startswith("override `-s steps.filter.min_words=abc`: steps.filter.min_words:")
    assert "integer" in problem


def test_a_typo_in_the_step_name_suggests_the_closest_step():
    with pytest.raises(UsageError) as info:
        parse("steps.filtr.min_words=3")
    assert "no step 'filtr'" in str(info.value) and "did you mean 'filter'?" in str(info.value)
    # a new step is still possible: it starts with its `step:`
    recipe = parse("steps.extra.step=exact_dedup")
    assert recipe.steps["extra"] == {"step": "exact_dedup"}


def test_an_unknown_key_still_gets_its_did_you_mean():
    with pytest.raises(RecipeError) as info:
        parse("steps.filter.min_wrds=[1,2")  # unknown: read as text, not a YAML crash
    [problem] = info.value.problems
    assert "override `-s steps.filter.min_wrds=[1,2`" in problem and "min_words" in problem


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("steps.generate.prompt=Other prompt: {{ text }}", "unknown key"),
        ("steps.filter.min_words=[1,2", "steps.filter.min_words=[1,2"),
        ("steps.filtr.min_words=3", "did you mean 'filter'"),
    ],
)
def test_the_cli_exits_2_without_a_traceback(override: str, expected: str, tmp_path):
    cmd = [sys.executable, "-m", "synthpipe.cli", "run", "quickstart", "--dry-run", "-s", override]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and "internal error" not in result.stderr


def test_a_section_an_override_made_up_is_blamed_on_the_override_not_line_1():
    with pytest.raises(RecipeError) as info:
        parse("experimnt.seeds=3")
    [problem] = info.value.problems
    assert problem.startswith("override `-s experimnt.seeds=3`: experimnt: unknown key")
    assert "did you mean 'experiment'?" in problem
