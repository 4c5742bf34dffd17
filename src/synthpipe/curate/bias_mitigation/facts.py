"""What a mitigation step did, for the report: ``mitigation.json`` in the step's checkpoint
directory (so a resumed or reused step still has it), gathered by the run into
``metrics["bias_mitigation"]``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from synthpipe.data.records import Batch, Record
from synthpipe.pipeline.step import StepContext

FACTS_FILE = "mitigation.json"


def write_facts(ctx: StepContext, facts: dict[str, Any]) -> None:
    """``facts``: step, axis, unit, target, before, after (shares per group), added, removed."""
    if ctx.step_dir is not None:
        (Path(ctx.step_dir) / FACTS_FILE).write_text(json.dumps(facts) + "\n", encoding="utf-8")


def mitigation_facts(step_dirs: list[tuple[str, Path]]) -> dict[str, dict[str, Any]]:
    """``{step name: facts}`` for every mitigation step of a run, in plan order."""
    out = {}
    for name, directory in step_dirs:
        path = Path(directory) / FACTS_FILE
        if path.exists():
            out[name] = json.loads(path.read_text(encoding="utf-8"))
    return out


def rebatched(groups: Iterable[list[Record]], size: int) -> Iterator[Batch]:
    """Batches of `size` from per-record output lists (a record may become 0, 1 or 2)."""
    out: Batch = []
    for records in groups:
        out += records
        if len(out) >= size:
            yield out[:size]
            out = out[size:]
    if out:
        yield out
