"""One way to show a metric value as text, shared by the HTML report and the markdown card."""

from __future__ import annotations

from typing import Any


def format_value(value: Any) -> str:
    """A metric value as short text: ``–`` for None, yes/no, 3 decimals (whole numbers with
    thousands separators from 1,000 on), ints with separators, a dict as ``key value, ...``.

    The result is plain text: escape it for HTML, or use :func:`markdown_cell` in a table."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {format_value(v)}" for k, v in value.items()) or "–"
    return str(value)


def markdown_cell(value: Any) -> str:
    """:func:`format_value` made safe for one markdown table cell (or list item): pipes
    escaped, newlines flattened."""
    return format_value(value).replace("|", "\\|").replace("\n", " ")
