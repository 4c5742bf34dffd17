"""Recipe errors name the file, line and key path, and suggest the closest valid name."""

from __future__ import annotations

import textwrap

import pytest

from synthpipe.errors import RecipeError, UsageError
from synthpipe.run.recipe import parse_recipe

GOOD = """\
name: t
seed: 3
steps:
  generate:
    step: toy_steps:CountingSource
    n: 50
  filter:
    step: text_filter
    min_words: 2
  dedup:
    step: exact_dedup
"""


def problems(text: str, overrides=()) -> list[str]:
    with pytest.raises(RecipeError) as info:
        parse_recipe(textwrap.dedent(text), "r.yaml", overrides)
    return info.value.problems


def test_good_recipe_validates_and_builds_steps():
    recipe = parse_recipe(GOOD, "r.yaml")
    steps = recipe.build_steps()
    assert list(steps) == ["generate", "filter", "dedup"]
    assert steps["filter"].config.min_words == 2
    assert recipe.seed == 3


def test_unknown_key_names_line_and_suggests():
    [msg] = problems(GOOD.replace("min_words: 2", "min_word: 2"))
    assert msg.startswith("r.yaml:9: steps.filter.min_word: unknown key")
    assert "did you mean 'min_words'" in msg


def test_wrong_type_names_line_and_value():
    [msg] = problems(GOOD.replace("n: 50", "n: fifty"))
    assert msg.startswith("r.yaml:6: steps.generate.n:")
    assert "integer" in msg and "'fifty'" in msg


def test_unknown_step_name_suggests_closest():
    [msg] = problems(GOOD.replace("step: text_filter", "step: text_filtr"))
    assert msg.startswith("r.yaml:8: steps.filter.step:")
    assert "did you mean 'text_filter'" in msg


def test_unknown_top_level_key_and_several_problems_at_once():
    found = problems("nmae: t\n" + GOOD.replace("n: 50", "n: x"))
    assert any(p.startswith("r.yaml:1: nmae: unknown key") and "'name'" in p for p in found)
    assert any(p.startswith("r.yaml:7: steps.generate.n") for p in found)


def test_missing_step_key_and_bad_shape():
    found = problems(GOOD.replace("    step: exact_dedup\n", "    fields: [text]\n"))
    assert any("steps.dedup: missing `step:`" in p for p in found)
    found = problems("name: t\nsteps:\n  f: {step: text_filter}\n")
    assert any("first step must be a source" in p for p in found)


def test_yaml_syntax_error_and_duplicate_keys_have_lines():
    [msg] = problems("name: t\nsteps:\n  a: {step: [\n")
    assert msg.startswith("r.yaml:") and "YAML syntax error" in msg
    [msg] = problems(GOOD + "  dedup:\n    step: exact_dedup\n")
    assert msg.startswith("r.yaml:12: steps.dedup: duplicate key")


def test_overrides_apply_and_errors_name_the_override():
    recipe = parse_recipe(GOOD, "r.yaml", ["steps.generate.n=7", "seed=9"])
    assert recipe.steps["generate"]["n"] == 7 and recipe.seed == 9
    [msg] = problems(GOOD, ["steps.filter.min_wrds=1"])
    assert "override `-s steps.filter.min_wrds=1`" in msg and "min_words" in msg
    with pytest.raises(UsageError, match="key.path=value"):
        parse_recipe(GOOD, "r.yaml", ["steps.generate.n"])


def test_bundled_quickstart_recipe_is_valid():
    from synthpipe.run.bundled import bundled_recipes
    from synthpipe.run.recipe import load_recipe

    recipe = load_recipe(bundled_recipes()["quickstart"])
    assert list(recipe.steps)[0] == "generate"
