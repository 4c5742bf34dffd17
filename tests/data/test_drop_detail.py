"""A drop's detail is structured data in the ledger, in memory and after every storage format."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from synthpipe.data.arrow import records_to_table, table_to_records
from synthpipe.data.formats import output_suffix
from synthpipe.data.readers import read_all
from synthpipe.data.records import DROP, drop
from synthpipe.data.writers import write_records

HITS = [{"benchmark": "gsm8k", "item": 42, "detector": "ngram", "overlap": 0.81}]


def _ledger() -> list[dict]:
    """Details of every JSON kind side by side in one column (Arrow wants one type per column)."""
    details = [HITS, {"of": "r0", "cos": 0.93}, "of slot-000059", 3, None]
    return [drop({"id": f"r{i}", "text": "t"}, "step", "why", d) for i, d in enumerate(details)]


def test_drop_keeps_json_data_as_is_and_stringifies_the_rest() -> None:
    assert drop({}, "s", "r", {"a": [1, 2.5, None, True]})[DROP]["detail"] == {
        "a": [1, 2.5, None, True]
    }
    assert drop({}, "s", "r", ("x", 1))[DROP]["detail"] == ["x", 1]  # as it reads back from JSON
    assert drop({}, "s", "r", ValueError("boom"))[DROP]["detail"] == "boom"
    assert drop({}, "s", "r", Path("a/b"))[DROP]["detail"] == "a/b"
    assert drop({}, "s", "r", math.nan)[DROP]["detail"] == "nan"  # JSON has no NaN
    assert drop({}, "s", "r", {1: "x"})[DROP]["detail"] == "{1: 'x'}"  # keys must be strings
    assert drop({}, "s", "r")[DROP]["detail"] is None


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "parquet", "csv", "hf"])
def test_details_round_trip_as_data(tmp_path: Path, fmt: str) -> None:
    records = _ledger()
    path = tmp_path / f"dropped{output_suffix(fmt)}"
    write_records(records, path, format=fmt)
    back = read_all(path)
    assert [r[DROP]["detail"] for r in back] == [r[DROP]["detail"] for r in records]
    assert back[0][DROP]["detail"][0]["item"] == 42  # a field to read, not text to parse


def test_jsonl_ledger_holds_objects_not_json_text(tmp_path: Path) -> None:
    path = tmp_path / "dropped.jsonl"
    write_records(_ledger(), path)
    first = json.loads(path.read_text().splitlines()[0])
    assert first[DROP]["detail"] == HITS


def test_arrow_table_round_trip() -> None:
    records = _ledger()
    assert table_to_records(records_to_table(records)) == records


def test_a_ledger_with_structured_details_is_read_not_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        json.dumps({"id": "a", "text": "t", DROP: {"step": "s", "reason": "r", "detail": {"k": 1}}})
        + "\n"
        + json.dumps({"id": "b", "text": "t", DROP: {"step": "s", "reason": 5}})
        + "\n"
    )
    from synthpipe.data.quarantine import Quarantine

    quarantine = Quarantine()
    records = read_all(path, quarantine=quarantine)
    assert [r["id"] for r in records] == ["a"] and records[0][DROP]["detail"] == {"k": 1}
    assert quarantine.count == 1  # a reason that is no string is still refused
