"""The record model: a plain dict row with three reserved fields.

- ``id``: stable identifier, unique within a run.
- ``_lineage``: dict saying which steps, seed, template or model made the record.
- ``_drop``: ``None`` while the record is kept, else ``{"step", "reason", "detail"}``; the
  detail is structured data (a string, number, list or dict of JSON values), never JSON text.
"""

from __future__ import annotations

import math
from typing import Any

Record = dict[str, Any]
Batch = list[Record]

ID = "id"
LINEAGE = "_lineage"
DROP = "_drop"
RESERVED = (ID, LINEAGE, DROP)


def drop(record: Record, step: str, reason: str, detail: Any = None) -> Record:
    """Mark `record` as dropped by `step` (filters mark, they never delete).

    `detail` is kept as given when it is JSON data (str, int, float, bool, or lists and
    dicts of those), so readers of the ledger get fields, not text to parse; anything else
    (an exception, a path) is stored as its ``str``.
    """
    record[DROP] = {"step": step, "reason": reason, "detail": drop_detail(detail)}
    return record


def drop_detail(detail: Any) -> Any:
    """`detail` as the ledger stores it: JSON data as is (tuples as lists), else its ``str``."""
    try:
        return _json_data(detail)
    except (TypeError, RecursionError):
        return str(detail)


def _json_data(value: Any) -> Any:
    kind = type(value)
    if value is None or kind in (str, int, bool) or (kind is float and math.isfinite(value)):
        return value
    if kind is dict and all(type(k) is str for k in value):
        return {k: _json_data(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_json_data(v) for v in value]
    raise TypeError(kind.__name__)  # NaN, numpy values, objects: not JSON data


def is_dropped(record: Record) -> bool:
    return record.get(DROP) is not None


def add_lineage(record: Record, **facts: Any) -> Record:
    """Merge `facts` into the record's lineage dict, creating it if needed."""
    lineage = record.get(LINEAGE) or {}
    lineage.update(facts)
    record[LINEAGE] = lineage
    return record
