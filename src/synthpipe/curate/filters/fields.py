"""Reading the text fields a filter checks, with the same drop reasons in every filter.

A filter's ``text_field`` is one field name or a list of them; each listed field must hold a
string. A missing (or null) field drops the record with ``missing_text``, a non-string with
``not_text``, as :class:`synthpipe.curate.text_filters.TextFilter` does.
"""

from __future__ import annotations

from collections.abc import Callable

from synthpipe.data.records import Record
from synthpipe.pipeline.step import FilterResult

TextFields = str | list[str]


def field_names(spec: TextFields) -> list[str]:
    """The field names in a ``text_field`` setting."""
    return [spec] if isinstance(spec, str) else list(spec)


def read_text(record: Record, name: str) -> str | tuple[bool, str, str]:
    """The string in `record[name]`, or the drop verdict if there is none."""
    value = record.get(name)
    if value is None:
        return False, "missing_text", f"no field {name!r}"
    if not isinstance(value, str):
        return False, "not_text", f"{name}: {type(value).__name__} value"
    return value


def check_fields(record: Record, spec: TextFields, check: Callable[[str], FilterResult]) -> FilterResult:
    """Apply `check` to each text field; the first failure is returned, its detail prefixed
    with the field name."""
    for name in field_names(spec):
        text = read_text(record, name)
        if isinstance(text, tuple):
            return text
        verdict = check(text)
        if verdict is True or (isinstance(verdict, tuple) and verdict[0]):
            continue
        if verdict is False:
            return False, "filtered", name
        detail = verdict[2] if len(verdict) > 2 else None
        return False, verdict[1], name if detail is None else f"{name}: {detail}"
    return True
