"""Hostile YAML in a recipe: recursive aliases, alias bombs and deep nesting are refused with
the file and line, quickly and in little memory (issue 13, item 5)."""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

import pytest

from synthpipe.errors import RecipeError, UsageError
from synthpipe.run.recipe import parse_recipe
from synthpipe.run.yaml_lines import load_with_lines

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from deadline import deadline  # noqa: E402  (tests/support)

STEPS = "steps:\n  g: {step: toy_steps:CountingSource, n: 3}\n"


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """`levels` anchors, each a list of `width` aliases of the one before: width**levels leaves."""
    lines = ["  a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "name: t\ndescription: x\nbomb:\n" + "\n".join(lines) + "\n" + STEPS


def refused(text: str) -> str:
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, "r.yaml")
    [problem] = info.value.problems
    return problem


def test_a_recursive_alias_is_refused_with_its_line():
    problem = refused("name: t\nsteps: &s\n  g: [*s]\n")
    assert problem.startswith("r.yaml:3: ") and "recursive alias *s" in problem
    problem = refused("name: t\nx: &m {a: {b: *m}}\n" + STEPS)
    assert problem.startswith("r.yaml:2: ") and "recursive alias *m" in problem




def test_an_alias_bomb_is_refused_fast_and_small():
    tracemalloc.start()
    try:
        with deadline(2):
            problem = refused(billion_laughs())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000
    assert problem.startswith("r.yaml:9: ") and "alias *a4" in problem and "expanded nodes" in problem


def test_deep_nesting_is_refused_not_a_recursion_error():
    problem = refused("name: t\nx: " + "[" * 5000 + "]" * 5000 + "\n" + STEPS)
    assert problem.startswith("r.yaml:2: ") and "nested more than" in problem


def test_ordinary_aliases_and_merge_keys_still_work():
    text = (
        "name: t\n"
        "common: &f {step: text_filter, min_words: 2}\n"
        "steps:\n"
        "  g: {step: toy_steps:CountingSource, n: 3}\n"
        "  f: *f\n"
        "  f2:\n"
        "    <<: *f\n"
        "    min_words: 4\n"
    )
    data, lines, problems = load_with_lines(text, "r.yaml")
    assert problems == []  # a merged key overridden below is not a duplicate key
    assert data["steps"]["f"] == {"step": "text_filter", "min_words": 2}
    assert data["steps"]["f2"] == {"step": "text_filter", "min_words": 4}
    assert lines[("steps", "f2", "min_words")] == 8


def test_a_wide_alias_fan_out_under_the_cap_loads():
    items = ", ".join(["*a"] * 50)
    data, _, problems = load_with_lines(f"a: &a [1, 2, 3]\nb: [{items}]\n", "r.yaml")
    assert problems == [] and len(data["b"]) == 50


def test_a_bomb_in_an_override_value_is_a_usage_error_not_a_hang():
    levels = ["&a0 [x, x, x, x, x, x, x, x, x]"] + [
        f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)
    ]
    value = "[" + ", ".join(levels) + "]"
    with pytest.raises(UsageError) as info, deadline(2):
        parse_recipe("name: t\n" + STEPS + "  d: {step: exact_dedup}\n", "r.yaml", [f"steps.d.fields={value}"])
    assert "override `-s steps.d.fields=" in str(info.value) and "expanded nodes" in str(info.value)
