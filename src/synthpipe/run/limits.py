"""Runs so large they are more likely a typo than a plan: ask for confirmation first.

Sources stream, so a huge `n` does not exhaust memory, but `-s steps.generate.n=1000000000`
(three zeros too many) would still spend hours, disk and perhaps money before anyone noticed.
A count above `MAX_RECORDS_UNCONFIRMED` runs only when confirmed (`--yes`, or `yes=True` in
the Python API).
"""

from __future__ import annotations

from collections.abc import Mapping

from synthpipe.errors import UsageError
from synthpipe.pipeline.step import Step

MAX_RECORDS_UNCONFIRMED = 1_000_000


def planned_count(step: Step) -> int | None:
    """The records a step says it will make: a source's `expected_count()`, else its `n`."""
    count = step.expected_count() if step.kind == "source" else None
    if count is None:
        count = getattr(step.config, "n", None)
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def check_run_size(steps: Mapping[str, Step], yes: bool) -> None:
    """Raise UsageError if a step would make more than MAX_RECORDS_UNCONFIRMED records
    and the run is not confirmed."""
    if yes:
        return
    for name, step in steps.items():
        count = planned_count(step)
        if count is not None and count > MAX_RECORDS_UNCONFIRMED:
            raise UsageError(
                f"step {name!r} would make {count:,} records, more than {MAX_RECORDS_UNCONFIRMED:,}. "
                f"If you mean it, rerun with --yes (Python: Pipeline.run(..., yes=True)); otherwise "
                f"lower it, e.g. -s steps.{name}.n=2000"
            )
