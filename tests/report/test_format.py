"""The one value formatter shared by the HTML report and the dataset card."""

from __future__ import annotations

from synthpipe.report.format import format_value, markdown_cell


def test_format_value():
    assert format_value(None) == "–"
    assert format_value(True) == "yes" and format_value(False) == "no"
    assert format_value(0.12345) == "0.123"
    assert format_value(12345.6) == "12,346"
    assert format_value(1234567) == "1,234,567"
    assert format_value({"a": 0.5, "b": None}) == "a 0.500, b –"
    assert format_value({}) == "–"
    assert format_value("a|b") == "a|b"


def test_markdown_cell_keeps_the_table_intact():
    assert markdown_cell("a|b\nc") == "a\\|b c"
    assert markdown_cell({"x|y": "1\n2"}) == "x\\|y 1 2"
    assert markdown_cell(3) == "3"
