"""Before a run: can every step's input columns come from the steps before it?

Each step declares the fields it cannot work without (`Step.input_columns`) and the fields it
adds (`Step.output_columns`, a source: all it yields). Walking the steps in order gives the
fields records may carry at each step: a union, so a field only some records have counts. A
step that needs a field no earlier step provides is a recipe error, reported at the line of
the config key that names the field. A step whose outputs are unknown (None) ends the check:
a false alarm costs more than a missed one, which still fails at the first record.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from synthpipe.data.records import RESERVED
from synthpipe.pipeline.step import Step


@dataclass(frozen=True)
class MissingColumn:
    """Step `step` needs `field`, but the steps before it only provide `available`."""

    step: str
    field: str
    available: frozenset[str]

    def hint(self) -> str:
        """'; did you mean ...?' and the fields that are there (bookkeeping ones left out)."""
        shown = sorted(f for f in self.available if not f.startswith("_"))
        close = difflib.get_close_matches(self.field, shown, n=3, cutoff=0.6)
        guess = "; did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ""
        return f"{guess} (available: {', '.join(shown)})"


def missing_columns(steps: Mapping[str, Step]) -> list[MissingColumn]:
    """Every (step, field) whose field no earlier step provides, in step order."""
    missing = []
    for name, available in columns_before(steps).items():
        if available is None:
            break  # unknown from here on
        needed = _declared(steps[name].input_columns) or set()
        missing += [MissingColumn(name, f, available) for f in sorted(needed - available)]
    return missing


def columns_before(steps: Mapping[str, Step]) -> dict[str, frozenset[str] | None]:
    """Step name -> the fields records may carry when they reach it (None: unknown, because
    a step before it does not say what it outputs)."""
    available: set[str] | None = set(RESERVED)
    before: dict[str, frozenset[str] | None] = {}
    for name, step in steps.items():
        before[name] = None if available is None else frozenset(available)
        added = _declared(step.output_columns) if available is not None else None
        available = None if added is None else available | added
    return before


def field_key(spec: Mapping[str, Any], field: str) -> tuple[Any, ...] | None:
    """The key path inside a step's recipe mapping whose value names `field`
    (``("text_field",)``, ``("fields", 1)``, ``("verifier", "gold_field")``), or None."""
    for key, value in spec.items():
        if key == "step":
            continue
        if value == field:
            return (key,)
        if isinstance(value, list) and field in value:
            return (key, value.index(field))
        if isinstance(value, Mapping) and (inner := field_key(value, field)) is not None:
            return (key, *inner)
    return None


def default_key(step: Step, field: str) -> str | None:
    """The config option whose default value names `field` (when the recipe does not set it)."""
    for key, value in step.config.model_dump().items():
        if value == field or (isinstance(value, list) and field in value):
            return key
    return None


def _declared(hook) -> set[str] | None:
    """A column hook's answer; a hook that fails counts as undeclared (nothing is checked)."""
    try:
        value = hook()
    except Exception:  # the step reports its own problem when the run starts
        return None
    return None if value is None else set(value)
