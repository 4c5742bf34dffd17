"""Bad input records are quarantined with file and line (or fail fast in strict mode)."""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path

import pytest

from synthpipe.data.quarantine import Quarantine
from synthpipe.data.readers import read_all
from synthpipe.data.writers import write_records
from synthpipe.errors import DataError

BAD_JSONL = b"\n".join(
    [
        b'{"id": "g1", "question": "good one"}',  # 1
        b'{"id": "b1", "question": "unterminated',  # 2 bad JSON
        b"",  # 3 blank: skipped silently
        b"[1, 2]",  # 4 not an object
        b'{"id": "b2", "question": "caf\xe9"}',  # 5 latin-1 byte: invalid UTF-8
        b'{"id": "b3", "other": "no question"}',  # 6 missing field
        b'{"id": "b4", "question": 5}',  # 7 wrong type
        b'{"id": "g1", "question": "same id again"}',  # 8 duplicate id
        b'{"id": "g2", "question": "good two \xe2\x9c\x93"}',  # 9
    ]
)
EXPECTED = [
    (2, "bad JSON: Unterminated string starting at (column 26)"),
    (4, "not a JSON object: got an array"),
    (
        5,
        "invalid UTF-8: 'utf-8' codec can't decode byte 0xe9 in position 29: invalid continuation byte",
    ),
    (6, "missing field 'question' (mapped to 'text')"),
    (7, "wrong type for field 'text': expected str, got int"),
    (8, "duplicate id: 'g1'"),
]
READ = {"fields": {"text": "question"}, "required": ["text"], "types": {"text": str}}


def _read(path: Path, **kw) -> tuple[list[dict], Quarantine]:
    quarantine = Quarantine(path.parent / "quarantine.jsonl")
    with quarantine:
        records = read_all(path, quarantine=quarantine, **{**READ, **kw})
    return records, quarantine


@pytest.mark.parametrize("name", ["in.jsonl", "in.jsonl.gz"])
def test_each_kind_of_bad_jsonl_record(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(gzip.compress(BAD_JSONL) if name.endswith(".gz") else BAD_JSONL)
    records, quarantine = _read(path)
    assert [(r["id"], r["text"]) for r in records] == [("g1", "good one"), ("g2", "good two ✓")]
    assert [r["_lineage"]["line"] for r in records] == [1, 9]
    assert [(e["line"], e["reason"]) for e in quarantine.entries] == EXPECTED
    assert {e["file"] for e in quarantine.entries} == {str(path)}
    assert quarantine.count == 6
    assert quarantine.reasons["bad JSON"] == 1 and quarantine.reasons["invalid UTF-8"] == 1
    on_disk = [
        json.loads(line) for line in (tmp_path / "quarantine.jsonl").read_text().splitlines()
    ]
    assert on_disk == quarantine.entries
    assert on_disk[1]["raw"] == "[1, 2]"
    assert on_disk[3]["raw"] == '{"id": "b3", "other": "no question"}'


def test_unmapped_missing_field_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": null}\n{"text": "ok"}\n')
    records, quarantine = _read(path, fields=None)
    assert len(records) == 1
    assert quarantine.entries[0]["reason"] == "missing field 'text'"


def test_csv_bad_rows_report_physical_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(
        b"id,question,label\n"  # 1 header
        b'g1,"spans\ntwo lines",A\n'  # 2-3
        b"b1,ragged\n"  # 4 wrong number of columns
        b"b2,caf\xe9,B\n"  # 5 invalid UTF-8
        b"\n"  # 6 blank
        b"b3,,C\n"  # 7 empty cell: missing
        b"g1,dup,D\n"  # 8 duplicate id
        b'g2,"{""a"": 1}",E\n'  # 9 JSON-looking text stays text (typed str)
    )
    records, quarantine = _read(path)
    assert [(r["id"], r["text"], r["_lineage"]["line"]) for r in records] == [
        ("g1", "spans\ntwo lines", 2),
        ("g2", '{"a": 1}', 9),
    ]
    assert [(e["line"], e["reason"].split(":")[0]) for e in quarantine.entries] == [
        (4, "wrong number of columns"),
        (5, "invalid UTF-8"),
        (7, "missing field 'question' (mapped to 'text')"),
        (8, "duplicate id"),
    ]
    assert quarantine.entries[0]["reason"] == "wrong number of columns: expected 3, got 2"
    assert quarantine.entries[0]["raw"] == "b1,ragged"


@pytest.mark.parametrize("fmt", ["parquet", "hf"])
def test_row_formats_report_row_numbers(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / ("in.parquet" if fmt == "parquet" else "ds")
    rows = [
        {"id": "a", "question": "ok"},
        {"id": "b", "question": None},
        {"id": "a", "question": "x"},
    ]
    write_records(rows, path, format=fmt)
    records, quarantine = _read(path)
    assert [r["id"] for r in records] == ["a"]
    assert [(e["line"], e["reason"]) for e in quarantine.entries] == [
        (2, "missing field 'question' (mapped to 'text')"),
        (3, "duplicate id: 'a'"),
    ]


def test_truncated_gzip_keeps_what_was_readable(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(b'{"text": "r%d"}\n' % i for i in range(2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    records, quarantine = _read(path, fields=None)
    assert 0 < len(records) < 2000
    assert quarantine.count == 1 and quarantine.entries[0]["reason"].startswith("corrupt gzip data")


@pytest.mark.parametrize("via", ["flag", "quarantine"])
def test_strict_mode_raises_with_file_and_line(tmp_path: Path, via: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(BAD_JSONL)
    kw = {"strict": True} if via == "flag" else {"quarantine": Quarantine(strict=True)}
    with pytest.raises(DataError) as err:
        read_all(path, **READ, **kw)
    message = str(err.value)
    assert f"{path}:2: bad JSON" in message and "--strict" in message


def test_default_quarantine_is_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(BAD_JSONL)
    assert len(read_all(path, **READ)) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["in.jsonl"]


def test_quarantine_object(tmp_path: Path) -> None:
    path = tmp_path / "q" / "quarantine.jsonl"
    with Quarantine(path, keep_in_memory=2) as quarantine:
        assert not path.exists()  # opened lazily
        for line in range(1, 4):
            quarantine.add("f.jsonl", line, "bad JSON: oops", raw="x" * 5000)
        quarantine.add("f.jsonl", None, "not a JSON object")
    assert quarantine.count == 4 and len(quarantine.entries) == 2
    assert quarantine.reasons == {"bad JSON": 3, "not a JSON object": 1}
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 4 and len(lines[0]["raw"]) == 2000
    assert lines[0] == {"file": "f.jsonl", "line": 1, "reason": "bad JSON: oops", "raw": "x" * 2000}
    with Quarantine(path) as again:  # append, never truncate
        again.add("g.csv", 2, "wrong number of columns: expected 2, got 3")
    assert len(path.read_text().splitlines()) == 5
    copy = pickle.loads(pickle.dumps(quarantine))
    assert copy.count == 4


def test_strict_quarantine_add_raises() -> None:
    with pytest.raises(DataError, match=r"^f\.jsonl:3: bad JSON: x \(fix the record"):
        Quarantine(strict=True).add("f.jsonl", 3, "bad JSON: x")
