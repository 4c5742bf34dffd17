"""Fuzz the recipe loader with random YAML, random recipe-shaped mappings and mutated recipes.

The invariant: loading gives a valid recipe or a UsageError (RecipeError) whose every problem
names the recipe file, with the line when it is about a position in it (a YAML syntax error,
an alias, a duplicate key); never a traceback, and never a hang on aliases.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from synthpipe.errors import RecipeError, UsageError
from synthpipe.pipeline.registry import registered_steps
from synthpipe.run.recipe import Recipe, load_recipe, parse_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
BUNDLED = {p.name: p.read_text(encoding="utf-8") for p in sorted(RECIPES.glob("*.yaml"))}
SOURCE = "fuzz.yaml"
# Problems about a place in the file: these must carry its line.
POSITIONAL = ("YAML syntax error", "duplicate key", "alias", "anchor")


def check_recipe(text: str, source: str = SOURCE) -> Recipe | None:
    """Parse `text`: a Recipe, or None after checking the error names `source` (and a line)."""
    try:
        return parse_recipe(text, source)
    except RecipeError as exc:
        check_problems(exc, source)
    except UsageError as exc:
        assert source in str(exc), str(exc)
    return None


def check_problems(exc: RecipeError, source: str) -> None:
    assert exc.problems, str(exc)
    for problem in exc.problems:
        assert problem.startswith(source), problem
        if any(word in problem for word in POSITIONAL):
            assert re.match(rf"{re.escape(source)}:\d+: ", problem), problem


# -- random text ------------------------------------------------------------------------
YAML_TEXT = st.text(
    alphabet=st.sampled_from(list(":-{}[],&*!|>'\"#?%@`<=. \n\t\r\\")) | st.characters(),
    max_size=120,
)


def test_random_text(fuzz) -> None:
    @fuzz(150)
    @given(text=YAML_TEXT)
    def check(text: str) -> None:
        check_recipe(text)

    check()


def test_random_bytes_in_a_recipe_file(fuzz) -> None:
    @fuzz(40)
    @given(
        data=st.binary(max_size=80) | YAML_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass"))
    )
    def check(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / SOURCE
            path.write_bytes(data)
            try:
                load_recipe(path)
            except RecipeError as exc:
                check_problems(exc, str(path))
            except UsageError as exc:
                assert str(path) in str(exc), str(exc)

    check()


def test_control_character_error_names_the_line() -> None:
    """Found by the fuzzer: yaml's reader errors gave a character position, not a line."""
    with pytest.raises(RecipeError) as err:
        parse_recipe("name: x\nseed: 1\x1f\n", SOURCE)
    assert err.value.problems[0].startswith(f"{SOURCE}:2: "), err.value.problems


def test_recipe_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    """Found by the fuzzer: a recipe file that is not UTF-8 was an internal error."""
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(UsageError, match=re.escape(str(path))):
        load_recipe(path)


# -- random recipe-shaped mappings ------------------------------------------------------
KEYS = st.sampled_from(["name", "steps", "seed", "batch_size", "output", "llms", "budget", "experiment", "workers", "step", "n", "path", "text_field", "llm", "format", "fields", "<<"])  # fmt: skip
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS | st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip
STEP_NAMES = st.sampled_from(sorted(registered_steps())) | st.text(max_size=8)


@st.composite
def recipe_mapping(draw: st.DrawFn) -> dict:
    steps = draw(
        st.dictionaries(
            st.text(max_size=8) | st.integers(),
            st.fixed_dictionaries({"step": STEP_NAMES}, optional={"n": VALUES, "path": VALUES})
            | st.dictionaries(KEYS, VALUES, max_size=3)
            | VALUES,
            max_size=3,
        )
    )
    top = draw(st.dictionaries(KEYS | st.text(max_size=5), VALUES, max_size=4))
    name = draw(st.sampled_from(["fuzz", "a b", "", "ok-name"]) | VALUES)
    return {"name": name, **top, "steps": steps} if draw(st.booleans()) else {**top, "steps": steps}


def test_random_recipe_mappings(fuzz) -> None:
    @fuzz(150)
    @given(data=recipe_mapping(), flow=st.booleans(), unicode=st.booleans())
    def check(data: dict, flow: bool, unicode: bool) -> None:
        text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=unicode, sort_keys=False)
        check_recipe(text)

    check()


@pytest.mark.parametrize("llms", ["5", "true", "[false]"])
def test_llms_that_is_not_a_mapping_is_a_recipe_error(llms: str) -> None:
    """Found by the long profile: `_check_llm_reference` iterates `llms:` whatever it is."""
    text = f"name: x\nllms: {llms}\nsteps:\n  a: {{step: backtranslate}}\n"
    with pytest.raises(RecipeError, match=rf"{SOURCE}:2: llms"):
        parse_recipe(text, SOURCE)


@pytest.mark.parametrize("step", [".:x", "..a:b"])
def test_step_named_like_a_relative_import_is_a_recipe_error(step: str) -> None:
    """Found by the long profile: `step: ".:x"` reaches importlib as a relative import and
    fails with a TypeError (under pytest, `/:0` fails with a ValueError the same way)."""
    with pytest.raises(RecipeError, match=rf"{SOURCE}:3: steps\.a\.step"):
        parse_recipe(f'name: x\nsteps:\n  a: {{step: "{step}"}}\n', SOURCE)


# -- mutations of the bundled recipes ---------------------------------------------------
@st.composite
def mutated_recipe(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(BUNDLED)))
    lines = BUNDLED[name].split("\n")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "edit", "indent", "dedent", "value", "anchor"]))  # fmt: skip
        lines = _mutate(draw, lines, i, how)
    return name, "\n".join(lines)


def _mutate(draw: st.DrawFn, lines: list[str], i: int, how: str) -> list[str]:
    line = lines[i]
    if how == "delete":
        return lines[:i] + lines[i + 1 :]
    if how == "duplicate":
        return lines[: i + 1] + [line] + lines[i + 1 :]
    if how == "swap":
        j = draw(st.integers(0, len(lines) - 1))
        lines = list(lines)
        lines[i], lines[j] = lines[j], lines[i]
        return lines
    if how == "insert":
        return lines[:i] + [draw(YAML_TEXT.map(lambda t: t.replace("\n", " ")))] + lines[i:]
    if how == "edit" and line:
        at = draw(st.integers(0, len(line)))
        return [*lines[:i], line[:at] + draw(st.characters()) + line[at + 1 :], *lines[i + 1 :]]
    if how == "indent":
        return [*lines[:i], "  " + line, *lines[i + 1 :]]
    if how == "dedent":
        return [*lines[:i], line.removeprefix("  "), *lines[i + 1 :]]
    if how == "value" and ":" in line:
        key = line.split(":", 1)[0]
        value = draw(st.sampled_from(["", "-1", "0", "1e9", "null", "true", "[]", "{}", "[a, b]", "'x'", "~"]) | st.text(max_size=8))  # fmt: skip
        return [*lines[:i], f"{key}: {value}", *lines[i + 1 :]]
    if how == "anchor" and ":" in line:  # a small alias of an earlier value
        key, value = line.split(":", 1)
        if value.strip() and not value.strip().startswith(("&", "*", "|", ">")):
            j = draw(st.integers(i, len(lines) - 1))
            k = lines[j].split(":", 1)[0] if ":" in lines[j] else lines[j]
            anchored = [*lines[:i], f"{key}: &a{i}{value}", *lines[i + 1 :]]
            if j > i:
                anchored[j] = f"{k}: *a{i}"
            return anchored
    return lines


def test_mutated_bundled_recipes(fuzz) -> None:
    @fuzz(150)
    @given(made=mutated_recipe())
    def check(made: tuple[str, str]) -> None:
        name, text = made
        check_recipe(text, source=name)

    check()


# -- aliases ----------------------------------------------------------------------------
QUICKSTART = BUNDLED["quickstart.yaml"]


def test_small_aliases_and_merge_keys_load() -> None:
    text = "defaults: &filter_defaults {min_words: 3, max_words: 40}\n" + QUICKSTART.replace(
        "    min_words: 3\n    max_words: 40\n", "    <<: *filter_defaults\n"
    )
    # `defaults` is not a recipe key: the alias itself is fine, the unknown key is named
    with pytest.raises(RecipeError, match=r"quickstart\.yaml:1: defaults: unknown key"):
        parse_recipe(text, "quickstart.yaml")
    anchored = QUICKSTART.replace("  dedup:\n    step: exact_dedup\n    fields: [text]", "  dedup:\n    step: exact_dedup\n    fields: &f [text]")  # fmt: skip
    anchored = anchored.replace("    text_fields: [text]", "    text_fields: *f")
    assert parse_recipe(anchored, "quickstart.yaml").steps["decontaminate"]["text_fields"] == [
        "text"
    ]


@st.composite
def alias_document(draw: st.DrawFn) -> str:
    """A small alias chain: `levels` anchors, each a list of `width` aliases of the one before
    (width**levels nodes when expanded, up to 4**4 here), sometimes closing into a loop."""
    levels, width = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    lines = ["a0: &a0 [x]"]
    for n in range(1, levels + 1):
        lines.append(f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * width)}]")
    if draw(st.booleans()):
        lines.append("loop: &loop [*loop]")
    lines.append(f"steps: {{gen: {{step: slot_template, n: *a{levels}}}}}")
    return "name: aliases\n" + "\n".join(lines) + "\n"


def test_alias_documents(fuzz) -> None:
    @fuzz(30)
    @given(text=alias_document())
    def check(text: str) -> None:
        check_recipe(text)

    check()


@pytest.mark.timeout(30)
def test_alias_bomb_is_refused_with_a_line() -> None:
    """9 levels of 9 aliases: refused quickly, naming a line, instead of expanding 9**9 nodes."""
    lines = ['a0: &a0 ["lol"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
    text = "name: bomb\n" + "\n".join(lines) + "\nsteps: {gen: {step: slot_template, n: *a9}}\n"
    with pytest.raises(RecipeError) as err:
        parse_recipe(text, SOURCE)
    check_problems(err.value, SOURCE)
    assert re.search(rf"{SOURCE}:\d+: .*alias", str(err.value)), str(err.value)
