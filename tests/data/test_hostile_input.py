"""Input the fuzz suite (tests/fuzz) found crashing or fooling the readers and the Arrow
codec of checkpoints, one test each.

Each used to end in a traceback, a silently lost record or a silently changed value; each
is now a quarantined record (or a clean error naming the file), so kept + quarantined still
adds up to the input, and a checkpoint gives back exactly what it was given.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthpipe.data.quarantine import Quarantine
from synthpipe.data.readers import read_all
from synthpipe.errors import DataError

TEXT = {"required": ["text"], "types": {"text": str}}


def _read(path: Path, **kw) -> tuple[list[dict], Quarantine]:
    quarantine = Quarantine()
    return read_all(path, quarantine=quarantine, **kw), quarantine


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"text": "x", "n": ' + "9" * 5000 + "}", "bad JSON: Exceeds the limit (4300 digits)"),
        ('{"text": ' + "[" * 5000 + "]" * 5000 + "}", "bad JSON: nested too deeply"),
        ('{"text": "lone \\udc80"}', "bad JSON: a \\u escape of a lone surrogate"),
        ("\x0c", "bad JSON: Expecting value"),  # white space to Python, not to JSON
        ("\u3000", "bad JSON: Expecting value"),
    ],
    ids=["huge-int", "deep", "surrogate", "form-feed", "ideographic-space"],
)
def test_jsonl_line_json_cannot_hold_is_quarantined(tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(f'{{"text": "ok"}}\n{line}\n \t\n', encoding="utf-8")
    records, quarantine = _read(path, **TEXT)
    assert [r["text"] for r in records] == ["ok"]
    assert [(e["line"], e["reason"][: len(reason)]) for e in quarantine.entries] == [(2, reason)]


def test_surrogate_pair_escape_is_text(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "\\ud83d\\ude00"}\n')
    assert [r["text"] for r in read_all(path, **TEXT)] == ["\U0001f600"]


def test_csv_cell_json_cannot_hold_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    cells = ["[" + "9" * 5000 + "]", "[" * 5000, '["\\ud800"]']
    path.write_text("text,extra\n" + "".join(f"row{i},{c}\n" for i, c in enumerate(cells)))
    records, quarantine = _read(path, **TEXT)
    assert [r["extra"] for r in records] == cells and quarantine.count == 0


def test_empty_gzip_file_is_not_an_empty_input(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(b"")
    records, quarantine = _read(path)
    assert records == [] and quarantine.count == 1
    assert quarantine.entries[0]["reason"].startswith("corrupt gzip data: empty file")
    path.write_bytes(gzip.compress(b""))  # a real, empty gzip stream holds no record
    assert _read(path)[1].count == 0


def _parquet(table: pa.Table, path: Path, row_group_size: int = 1000) -> bytes:
    pq.write_table(table, path, row_group_size=row_group_size, compression="NONE")
    return path.read_bytes()


def test_a_corrupt_parquet_row_group_costs_its_rows_only(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    texts = [f"row {i:04d} " + "x" * 40 for i in range(300)]
    data = bytearray(_parquet(pa.table({"text": texts}), path, row_group_size=100))
    second = data.index(texts[100].encode())
    data[second : second + 200] = b"\xff" * 200  # garbage in the second row group's page
    path.write_bytes(bytes(data))
    records, quarantine = _read(path, **TEXT)
    assert [r["text"] for r in records] == texts[:100] + texts[200:]
    [entry] = quarantine.entries
    assert entry["line"] == 101 and entry["reason"].startswith("corrupt Parquet data: ")
    assert entry["reason"].endswith("; rows 101-200 are unreadable")


def test_parquet_invalid_utf8_string_quarantines_that_row(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    data = _parquet(pa.table({"text": ["good one", "BADBYTES", "good two"]}), path)
    path.write_bytes(data.replace(b"BADBYTES", b"BAD\xff\xfeTES"))
    records, quarantine = _read(path, **TEXT)
    assert [r["text"] for r in records] == ["good one", "good two"]
    assert [(e["line"], e["reason"][:22]) for e in quarantine.entries] == [
        (2, "unreadable Parquet row")
    ]


def test_parquet_json_columns_that_do_not_decode(tmp_path: Path) -> None:
    table = pa.table({"text": ["a", "b"], "meta": ['{"k": 1}', "{not json"]})
    path = tmp_path / "in.parquet"
    meta = {b"synthpipe.json_columns": json.dumps(["meta"]).encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)
    records, quarantine = _read(path, **TEXT)
    assert [r["meta"] for r in records] == [{"k": 1}]
    assert quarantine.entries[0]["reason"].startswith("bad JSON in column 'meta'")
    pq.write_table(table.replace_schema_metadata({b"synthpipe.json_columns": b"\xff{"}), path)
    with pytest.raises(DataError, match=rf"^{path}: not a readable Parquet file"):
        read_all(path)


def test_a_quarantined_line_holding_a_line_separator_counts_once(tmp_path: Path) -> None:
    """U+2028 is a line break to str.splitlines, not to JSONL: the run's quarantine merge
    once split the entry in two and failed on the halves."""
    from synthpipe.pipeline.sources import ReadRecords
    from synthpipe.run.api import Pipeline

    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "kept"}\n{"text": 5, "note": "a\u2028b\x85c"}\n', encoding="utf-8")
    result = Pipeline("t", {"read": ReadRecords(path=str(path))}).run(tmp_path / "out")
    assert (result.metrics["kept"], result.metrics["quarantined"]) == (1, 1)
    [entry] = (tmp_path / "out" / "quarantine.jsonl").read_bytes().splitlines()
    assert "a\u2028b\x85c" in json.loads(entry)["raw"]


def test_deeply_nested_values_round_trip_through_parquet(tmp_path: Path) -> None:
    """JSON parses lists 900 deep; Parquet writes them but cannot read them back: such a
    column is stored as JSON text (checkpoints are Parquet, so this once broke any run)."""
    from synthpipe.data.writers import write_records

    deep_list, deep_dict = 1, 1
    for _ in range(60):
        deep_list = [deep_list]
    for _ in range(120):
        deep_dict = {"a": deep_dict}
    rows = [{"id": "a", "text": "x", "l": deep_list, "d": deep_dict, "flat": [1, 2]}]
    path = tmp_path / "deep.parquet"
    write_records(rows, path)
    [record] = read_all(path)
    assert (record["l"], record["d"], record["flat"]) == (deep_list, deep_dict, [1, 2])
    assert pq.read_schema(path).field("flat").type == pa.list_(pa.int64())  # shallow stays native


def test_a_row_group_that_ends_early_says_so(tmp_path: Path) -> None:
    """A corrupt page header can make pyarrow yield fewer rows than the row group holds,
    without an error: the reader counts them against the metadata and quarantines the gap."""
    path = tmp_path / "in.parquet"
    table = pa.table({"text": [f"row {i}" for i in range(11)], "n": list(range(11))})
    pq.write_table(table, path, row_group_size=3)  # snappy, as by default
    data = bytearray(path.read_bytes())
    data[241] = 6  # found by tests/fuzz: a byte of the second row group's page header
    path.write_bytes(bytes(data))
    second_group = pq.ParquetFile(path).iter_batches(row_groups=[1])
    assert sum(b.num_rows for b in second_group) < 3, "pyarrow's layout changed: find a new byte"
    records, quarantine = _read(path, **TEXT)
    [entry] = quarantine.entries
    assert entry["reason"].startswith("corrupt Parquet data: row group ")
    first, last = map(int, entry["reason"].rsplit("rows ", 1)[1].split()[0].split("-"))
    assert len(records) + (last - first + 1) == 11


@pytest.mark.parametrize(
    "rows",
    [
        [{"meta": {"x": 1}}, {"meta": {"y": 2}}],  # a struct gave each row the other's key
        [{"tools": [{"name": "f", "args": {"a": 1}}, {"name": "g", "args": {}}]}],
        [{"score": 1.5}, {"score": True}],  # True came back 1.0
        [{"meta": {}}, {"meta": None}],  # Parquet cannot write a struct without fields
        [{}, {}],  # rows without a field came back as no rows
    ],
    ids=["struct-keys", "nested-struct-keys", "bool-in-floats", "empty-dict", "empty-rows"],
)
def test_checkpoints_give_back_what_they_were_given(tmp_path: Path, rows: list[dict]) -> None:
    """Found by tests/fuzz: a Parquet checkpoint changed these values, or failed to write."""
    from synthpipe.data.arrow import records_to_table, table_to_records

    path = tmp_path / "part.parquet"
    pq.write_table(records_to_table(rows), path)
    back = [
        {k: v for k, v in r.items() if k != "_drop"} for r in table_to_records(pq.read_table(path))
    ]
    assert json.dumps(back) == json.dumps(rows)  # same keys, same types (True is not 1.0)


def test_a_float_column_with_ints_stays_native(tmp_path: Path) -> None:
    from synthpipe.data.arrow import records_to_table

    table = records_to_table([{"score": 1}, {"score": 0.5}, {"v": [1.5, 2]}])
    assert table.schema.field("score").type == pa.float64()  # 1 comes back 1.0: accepted
    assert table.schema.field("v").type == pa.list_(pa.float64())


def _footer_flip(data: bytes, broken) -> bytes:
    """`data` with one footer byte changed so that `broken(ParquetFile)` holds (searched for,
    so the test does not depend on where pyarrow puts things)."""
    footer = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    for at in range(footer, len(data) - 8):
        for byte in (0x01, 0x08, 0x16, 0x99):
            changed = data[:at] + bytes([byte]) + data[at + 1 :]
            try:
                if broken(pq.ParquetFile(pa.BufferReader(changed))):
                    return changed
            except Exception:  # this flip breaks the footer outright: try another
                continue
    raise AssertionError("no single-byte flip does it")


def test_a_footer_whose_row_counts_disagree_is_refused(tmp_path: Path) -> None:
    """Found by tests/fuzz: the row groups' counts and the file's total disagreed, so rows
    went missing (or were invented) with nothing said."""
    path = tmp_path / "in.parquet"
    data = _parquet(pa.table({"text": [f"row {i}" for i in range(9)]}), path, row_group_size=3)

    def disagree(pf: pq.ParquetFile) -> bool:
        groups = sum(pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups))
        return groups != pf.metadata.num_rows

    path.write_bytes(_footer_flip(data, disagree))
    with pytest.raises(DataError, match=r"row groups hold \d+ rows, its footer says -?\d+"):
        read_all(path)


def test_a_column_name_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    data = _parquet(pa.table({"text": ["a"], "colname": [1]}), path)
    path.write_bytes(data.replace(b"colname", b"co\x99name", 1))
    with pytest.raises(DataError, match=rf"^{path}: not a readable Parquet file"):
        read_all(path)


def test_an_input_drop_field_that_is_no_drop_record_is_quarantined(tmp_path: Path) -> None:
    """Found by tests/fuzz: a `_drop` column of anything but null or a drop record (a CSV
    header named `_drop`, say) ended the run in a TypeError when the step counted reasons."""
    path = tmp_path / "in.jsonl"
    drops = ['"x"', "false", "[]", '{"reason": ["x"]}', '{"reason": "r", "step": 1}', "{}"]
    lines = [f'{{"text": "t{i}", "_drop": {d}}}' for i, d in enumerate(drops)]
    lines += ['{"text": "kept", "_drop": null}', '{"text": "in dropped", "_drop": {"reason": "r"}}']
    path.write_text("\n".join(lines) + "\n")
    records, quarantine = _read(path, **TEXT)
    assert [r["text"] for r in records] == ["kept", "in dropped"]  # a ledger entry stays one
    assert quarantine.count == len(drops)
    assert {e["reason"].split(" must")[0] for e in quarantine.entries} == {"reserved field '_drop'"}


def test_parquet_dates_python_cannot_hold_quarantine_their_row(tmp_path: Path) -> None:
    """Found by tests/fuzz: Arrow dates and timestamps reach far past Python's year 9999;
    one such value ended the read in an OverflowError."""
    path = tmp_path / "in.parquet"
    days = pa.array([1, 3_000_000, 2], pa.date32())
    micros = pa.array([0, 0, 2**62], pa.timestamp("us"))
    pq.write_table(pa.table({"text": ["a", "b", "c"], "day": days, "at": micros}), path)
    records, quarantine = _read(path, **TEXT)
    assert [r["text"] for r in records] == ["a"]
    assert [(e["line"], e["reason"].split(":")[0]) for e in quarantine.entries] == [
        (2, "unreadable Parquet row"),
        (3, "unreadable Parquet row"),
    ]
