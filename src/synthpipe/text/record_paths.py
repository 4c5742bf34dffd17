"""Dotted paths into records: ``instruction``, ``instances.0.output``, ``messages.1.content``.

Steps that work field by field on nested instruction data (the Self-Instruct seeds keep their
input and output under ``instances``; chats under ``messages``) name fields by such paths: a
dot descends into a dict key, or into a list index when the part is a number.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()


def get_path(record: dict[str, Any], path: str) -> Any:
    """The value at `path`, or None if any part is missing."""
    value: Any = record
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
        if value is _MISSING:
            return None
    return value


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at `path`; every part but the last must exist (KeyError otherwise)."""
    *parents, last = path.split(".")
    target: Any = record
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


def root(path: str) -> str:
    """The top-level field a path starts in (what a recipe's column check sees)."""
    return path.split(".", 1)[0]
