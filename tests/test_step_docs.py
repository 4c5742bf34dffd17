"""Every registered step documents itself in one layout.

    One-line summary.

    Optional longer explanation.

    Input columns: ...
    Output columns: ...
    Drop reasons: ... (or "none")
    References: ... (or "none: a synthpipe technique")

The four sections close the docstring, in this order, each non-empty and without blank lines
between them, and "Drop reasons" names every reason in the step's `drop_reasons`.
"""

from __future__ import annotations

import inspect
import re

import pytest

from synthpipe.pipeline.registry import registered_steps

SECTIONS = ("Input columns", "Output columns", "Drop reasons", "References")
STEPS = registered_steps()


def sections(doc: str) -> tuple[list[str], dict[str, str]]:
    """(the lines before the first section, {section: its text}) of a cleaned docstring."""
    head: list[str] = []
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in doc.splitlines():
        label = next((s for s in SECTIONS if line.startswith(f"{s}:")), None)
        if label is not None:
            assert label not in found, f"section {label!r} appears twice"
            current = found[label] = [line[len(label) + 1 :].strip()]
        elif current is None:
            head.append(line)
        else:
            assert line.strip(), "the sections must come last, without blank lines between them"
            current.append(line.strip())
    return head, {k: " ".join(v).strip() for k, v in found.items()}


@pytest.mark.parametrize("name", sorted(STEPS))
def test_docstring_has_the_four_sections_in_order(name):
    cls = STEPS[name]
    assert "__doc__" in vars(cls) and cls.__doc__, f"{name}: no class docstring of its own"
    doc = inspect.cleandoc(cls.__doc__)
    head, found = sections(doc)
    assert head and head[0].strip(), f"{name}: the docstring must open with a one-line summary"
    assert list(found) == list(SECTIONS), (
        f"{name}: sections {list(found)}, expected {list(SECTIONS)} in order"
    )
    for label, text in found.items():
        assert text, f"{name}: section {label!r} is empty"


@pytest.mark.parametrize("name", sorted(STEPS))
def test_drop_reasons_section_names_every_declared_reason(name):
    cls = STEPS[name]
    _, found = sections(inspect.cleandoc(cls.__doc__ or ""))
    text = found.get("Drop reasons", "")
    documented = set(re.findall(r"``([a-z_]+)``", text))
    missing = [r for r in cls.drop_reasons if r not in documented]
    assert not missing, f"{name}: drop reasons {missing} are not in its 'Drop reasons' section"
    if not cls.drop_reasons:
        assert text.startswith("none"), f"{name}: declares no drop_reasons but documents {text!r}"
    else:
        assert not text.startswith("none"), (
            f"{name}: documents no drops but declares {cls.drop_reasons}"
        )


def test_the_layout_parser_sees_sections_and_their_continuations():
    doc = "Sum.\n\nLonger.\n\nInput columns: a\nOutput columns: b,\n  c\nDrop reasons: none.\nReferences: X (2020)."
    head, found = sections(doc)
    assert head[0] == "Sum."
    assert found == {
        "Input columns": "a",
        "Output columns": "b, c",
        "Drop reasons": "none.",
        "References": "X (2020).",
    }
    with pytest.raises(AssertionError, match="must come last"):
        sections(doc + "\n\nA paragraph after the sections.")
