"""The record model: a plain dict row with three reserved fields.

- ``id``: stable identifier, unique within a run.
- ``_lineage``: dict saying which steps, seed, template or model made the record.
- ``_drop``: ``None`` while the record is kept, else ``{"step", "reason", "detail"}``.
"""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]
Batch = list[Record]

ID = "id"
LINEAGE = "_lineage"
DROP = "_drop"
RESERVED = (ID, LINEAGE, DROP)


def drop(record: Record, step: str, reason: str, detail: Any = None) -> Record:
    """Mark `record` as dropped by `step` (filters mark, they never delete)."""
    record[DROP] = {"step": step, "reason": reason, "detail": None if detail is None else str(detail)}
    return record


def is_dropped(record: Record) -> bool:
    return record.get(DROP) is not None


def add_lineage(record: Record, **facts: Any) -> Record:
    """Merge `facts` into the record's lineage dict, creating it if needed."""
    lineage = record.get(LINEAGE) or {}
    lineage.update(facts)
    record[LINEAGE] = lineage
    return record
