"""Fuzz the readers (JSONL, JSONL.gz, CSV, Parquet) with hostile input.

The invariant, for every input: reading either stops with a SynthpipeError whose message
names the file, or accounts for every input record, each one yielded or quarantined (a
corrupt Parquet row group is one entry naming its rows; a corrupt gzip stream, one entry for
the rest of the file). Strict mode yields the same records when nothing was quarantined, and
otherwise raises a DataError naming ``file:line``. What a reader yields survives a Parquet
checkpoint unchanged. A few examples run the whole `synthpipe filter` / `synthpipe run`
process: a documented exit code, no traceback, and kept + dropped + quarantined = input.
"""

from __future__ import annotations

import csv
import datetime
import gzip
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st

from synthpipe.data.arrow import records_to_table, table_to_records
from synthpipe.data.quarantine import Quarantine
from synthpipe.data.readers import read_all
from synthpipe.errors import DataError, SynthpipeError

BOM = b"\xef\xbb\xbf"
NAMES = st.sampled_from(["text", "id", "label", "_lineage", "_drop", "", "question"]) | st.text(
    max_size=6
)
# Text Hypothesis draws from all of Unicode; these are the characters most likely to break
# something: NUL, BOM, line and paragraph separators, form feed, surrogate escapes.
TRICKY = st.sampled_from(["\x00", "\ufeff", "\u2028", "\x85", "\x0c", "\r", "\t", "\\ud800", "é"])
TEXT = st.text(max_size=20) | st.lists(TRICKY | st.text(max_size=3), max_size=6).map("".join)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats()
    | TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
    max_leaves=8,
)


def nested(depth: int, leaf: object, as_dict: bool) -> object:
    for _ in range(depth):
        leaf = {"a": leaf} if as_dict else [leaf]
    return leaf


# Nesting JSON parses but Parquet (every checkpoint) may not read back.
DEEP = st.builds(nested, st.integers(20, 150), SCALARS, st.booleans())
RECORDS = (
    st.dictionaries(NAMES, JSON, max_size=5)
    | st.fixed_dictionaries({"text": TEXT})
    | st.fixed_dictionaries({"text": TEXT, "deep": DEEP})
)
# What `read` asks of its input in a recipe (a string `text`), or nothing at all.
SCHEMAS = st.sampled_from(
    [
        {"required": ["text"], "types": {"text": str}},
        {},
        {"fields": {"text": "question"}, "required": ["text"], "types": {"text": str}},
    ]
)


# -- the invariant ----------------------------------------------------------------------
def check_read(path: Path, expected: int, schema: dict, *, lossy: str | None = None) -> None:
    """Reading `path` yields or quarantines each of its `expected` records, or fails cleanly.

    `lossy` is the reason prefix of an entry that may stand for many unreadable rows: a
    Parquet one names them ("rows 4-6 are unreadable"); a gzip one, "the rest of the file".
    """
    quarantine = Quarantine()
    try:
        records = read_all(path, quarantine=quarantine, batch_size=7, **schema)
    except SynthpipeError as exc:
        assert str(path) in str(exc), f"error does not name the file: {exc}"
        return
    entries = quarantine.entries
    assert {e["file"] for e in entries} <= {str(path)}
    assert all(isinstance(e["line"], int) and e["line"] >= 1 for e in entries), entries
    assert len({r["id"] for r in records}) == len(records), "duplicate ids were yielded"
    accounted = len(records) + quarantine.count
    rest_lost = False
    for entry in entries:
        if lossy and entry["reason"].startswith(lossy):
            rows = re.search(r"rows (\d+)-(\d+) are unreadable", entry["reason"])
            rest_lost = rest_lost or rows is None
            accounted += int(rows[2]) - int(rows[1]) if rows else 0  # the entry counted one
    if rest_lost:
        assert accounted <= expected + 1, (expected, len(records), entries)
    else:
        assert accounted == expected, (expected, len(records), entries)
    check_strict(path, schema, records, quarantine.count)


def check_strict(path: Path, schema: dict, lenient: list[dict], quarantined: int) -> None:
    try:
        strict = read_all(path, strict=True, batch_size=7, **schema)
    except DataError as exc:
        assert quarantined, f"strict mode failed on input lenient mode fully read: {exc}"
        assert re.match(rf"^{re.escape(str(path))}:\d+: ", str(exc)), str(exc)
        return
    assert not quarantined, "strict mode read input that lenient mode quarantined"
    assert [r["id"] for r in strict] == [r["id"] for r in lenient]


def in_tmp(name: str, data: bytes, check: Callable[[Path], None]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        check(path)


# -- JSONL ------------------------------------------------------------------------------
def jsonl_records(data: bytes) -> int:
    """Records in JSONL bytes: lines that are not blank (JSON white space only)."""
    data = data.removeprefix(BOM)
    return sum(1 for line in data.split(b"\n") if line.strip(b" \t\r"))


@st.composite
def jsonl_line(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["record", "record", "value", "text", "bytes", "special"]))
    if kind == "record":
        text = json.dumps(draw(RECORDS), ensure_ascii=draw(st.booleans()))
    elif kind == "value":
        text = json.dumps(draw(JSON))
    elif kind == "text":
        text = draw(TEXT)
    elif kind == "bytes":
        return draw(st.binary(max_size=30))
    else:
        text = draw(
            st.sampled_from(
                [
                    '{"text": "big", "n": ' + "9" * 5000 + "}",
                    '{"text": ' + "[" * 3000 + '"x"' + "]" * 3000 + "}",
                    '{"text": "lone \\udc80 surrogate"}',
                    '{"text": "pair \\ud83d\\ude00 ok"}',
                    '{"text": NaN, "id": Infinity}',
                    '{"text": "dup", "text": 1}',
                    " \t ",
                    "\x0c",
                    "\u3000",
                ]
            )
        )
    return text.encode("utf-8", "surrogatepass")


JSONL = st.tuples(
    st.booleans(),  # starts with a BOM
    st.lists(jsonl_line(), max_size=12),
    st.sampled_from([b"\n", b"\r\n"]),
    st.booleans(),  # ends with a newline
).map(lambda t: (BOM if t[0] else b"") + t[2].join(t[1]) + (t[2] if t[3] else b""))


def test_jsonl_every_line_is_read_or_quarantined(fuzz) -> None:
    @fuzz(200)
    @given(data=JSONL, schema=SCHEMAS)
    def check(data: bytes, schema: dict) -> None:
        in_tmp("in.jsonl", data, lambda p: check_read(p, jsonl_records(data), schema))

    check()


def test_random_bytes_as_jsonl(fuzz) -> None:
    @fuzz(60)
    @given(data=st.binary(max_size=300), schema=SCHEMAS)
    def check(data: bytes, schema: dict) -> None:
        in_tmp("in.jsonl", data, lambda p: check_read(p, jsonl_records(data), schema))

    check()


def test_gzip_jsonl_whole_or_truncated(fuzz) -> None:
    @fuzz(80)
    @given(data=JSONL, schema=SCHEMAS, cut=st.none() | st.floats(0, 1))
    def check(data: bytes, schema: dict, cut: float | None) -> None:
        packed = gzip.compress(data, mtime=0)
        if cut is not None:
            packed = packed[: int(len(packed) * cut)]
        expected = jsonl_records(data)
        in_tmp(
            "in.jsonl.gz",
            packed,
            lambda p: check_read(p, expected, schema, lossy="corrupt gzip data"),
        )

    check()


def test_random_bytes_as_gzip(fuzz) -> None:
    @fuzz(40)
    @given(data=st.binary(max_size=200))
    def check(data: bytes) -> None:
        # not gzip at all: one entry for the unreadable file, no record
        in_tmp("in.jsonl.gz", data, lambda p: check_read(p, 0, {}, lossy="corrupt gzip data"))

    check()


# -- CSV --------------------------------------------------------------------------------
CELLS = (
    TEXT
    | st.builds(json.dumps, JSON)
    | st.sampled_from(["", "[" * 2000, "[" + "9" * 5000 + "]", '["\\ud800"]', '{"a": 1}', "\xff"])
)


@st.composite
def csv_file(draw: st.DrawFn) -> tuple[bytes, int]:
    """CSV bytes made by csv.writer (a BOM, ragged rows, invalid UTF-8 cells) and its row count."""
    header = draw(st.lists(NAMES, min_size=1, max_size=4))
    rows = draw(
        st.lists(
            st.lists(CELLS, min_size=len(header), max_size=len(header))
            | st.lists(CELLS, min_size=1, max_size=5),  # ragged
            max_size=10,
        )
    )
    out = io.StringIO()
    # Python 3.11's writer quotes "\r" only if it is in the line terminator: a lone "\r"
    # cell written unquoted before "\n" would read back as a blank line
    end, quoting = draw(st.sampled_from([("\r\n", csv.QUOTE_MINIMAL), ("\n", csv.QUOTE_ALL)]))
    csv.writer(out, lineterminator=end, quoting=quoting).writerows([header, *rows])
    # "\xff" stands for a byte that is not UTF-8; a header with it is a clean error
    data = out.getvalue().encode("utf-8").replace("\xff".encode(), b"\xff")
    return (BOM if draw(st.booleans()) else b"") + data, len(rows)


def test_csv_every_row_is_read_or_quarantined(fuzz) -> None:
    @fuzz(200)
    @given(made=csv_file(), schema=SCHEMAS)
    def check(made: tuple[bytes, int], schema: dict) -> None:
        data, rows = made
        in_tmp("in.csv", data, lambda p: check_read(p, rows, schema))

    check()


def test_random_bytes_as_csv(fuzz) -> None:
    @fuzz(60)
    @given(data=st.binary(max_size=300) | TEXT.map(str.encode), schema=SCHEMAS)
    def check(data: bytes, schema: dict) -> None:
        # no independent row count for arbitrary bytes: at most one record per physical line
        lines = data.count(b"\n") + 1
        in_tmp("in.csv", data, lambda p: check_read_at_most(p, lines, schema))

    check()


def check_read_at_most(path: Path, lines: int, schema: dict) -> None:
    quarantine = Quarantine()
    try:
        records = read_all(path, quarantine=quarantine, **schema)
    except SynthpipeError as exc:
        assert str(path) in str(exc), str(exc)
        return
    assert len(records) + quarantine.count <= lines
    check_strict(path, schema, records, quarantine.count)


# -- Parquet ----------------------------------------------------------------------------
COLUMNS = [
    (pa.string(), TEXT),
    (pa.large_string(), TEXT),
    (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    (pa.uint64(), st.integers(0, 2**64 - 1)),
    (pa.float64(), st.floats()),
    (pa.bool_(), st.booleans()),
    (pa.binary(), st.binary(max_size=10)),
    (pa.list_(pa.int32()), st.lists(st.integers(-(2**31), 2**31 - 1), max_size=3)),
    (pa.struct([("a", pa.string()), ("b", pa.int8())]), st.fixed_dictionaries({"a": TEXT, "b": st.integers(-128, 127)})),
    (pa.map_(pa.string(), pa.int64()), st.lists(st.tuples(TEXT, st.integers(-5, 5)), max_size=2)),
    (pa.timestamp("us", tz="UTC"), st.datetimes(timezones=st.just(datetime.UTC))),
    (pa.date32(), st.dates()),
    (pa.decimal128(12, 3), st.decimals(min_value=-(10**8), max_value=10**8, places=3)),
    (pa.null(), st.none()),
    (pa.dictionary(pa.int32(), pa.string()), TEXT),
]  # fmt: skip


@st.composite
def parquet_table(draw: st.DrawFn) -> pa.Table:
    rows = draw(st.integers(0, 12))
    names = draw(st.lists(NAMES, min_size=1, max_size=4))
    arrays = []
    for _ in names:
        arrow_type, values = draw(st.sampled_from(COLUMNS))
        column = draw(st.lists(st.none() | values, min_size=rows, max_size=rows))
        arrays.append(pa.array(column, type=arrow_type))
    table = pa.Table.from_arrays(arrays, names=names)
    metadata = draw(
        st.none()
        | st.lists(NAMES, max_size=3).map(lambda n: json.dumps(n).encode())  # "JSON columns"
        | st.binary(max_size=10)
    )
    if metadata is not None:
        table = table.replace_schema_metadata({b"synthpipe.json_columns": metadata})
    return table


def parquet_bytes(table: pa.Table, row_group_size: int) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=row_group_size)
    return out.getvalue()


def test_parquet_every_row_is_read_or_quarantined(fuzz) -> None:
    @fuzz(100)
    @given(table=parquet_table(), schema=SCHEMAS, group=st.integers(1, 5))
    def check(table: pa.Table, schema: dict, group: int) -> None:
        data = parquet_bytes(table, group)
        in_tmp("in.parquet", data, lambda p: check_read(p, table.num_rows, schema))

    check()


def test_corrupt_parquet(fuzz) -> None:
    @fuzz(60)
    @given(
        table=parquet_table(),
        flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=4),
    )  # fmt: skip
    def check(table: pa.Table, flips: list[tuple[float, int]]) -> None:
        data = bytearray(parquet_bytes(table, 3))
        for where, byte in flips:
            data[int(where * len(data))] = byte

        def read(path: Path) -> None:
            try:  # a flip in the footer may change the row count it promises
                expected = pq.read_metadata(path).num_rows
            except (pa.ArrowException, OSError, ValueError):
                expected = table.num_rows  # unreadable: reading must fail cleanly anyway
            check_read(path, expected, {}, lossy="corrupt Parquet data")

        in_tmp("in.parquet", bytes(data), read)

    check()


# -- checkpoints ------------------------------------------------------------------------
def canonical(value: object) -> str:
    """`value` as sorted JSON, ints as floats (a column mixing both comes back all floats)."""

    def floats(v: object) -> object:
        if isinstance(v, dict):
            return {k: floats(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [floats(x) for x in v]
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v

    return json.dumps(floats(value), sort_keys=True)


def test_records_survive_a_checkpoint(fuzz) -> None:
    """What a reader yields comes back unchanged from a Parquet checkpoint (and kept.parquet)."""

    @fuzz(150)
    @given(records=st.lists(RECORDS, max_size=6))
    def check(records: list[dict]) -> None:
        out = io.BytesIO()
        pq.write_table(records_to_table(records), out)
        back = table_to_records(pq.read_table(io.BytesIO(out.getvalue())))
        assert len(back) == len(records)
        for original, restored in zip(records, back, strict=True):
            restored = {k: v for k, v in restored.items() if k in original or v is not None}
            assert canonical(restored) == canonical(original)

    check()


# -- the whole process ------------------------------------------------------------------
EXIT_CODES = {0, 1, 2, 3, 4}  # the documented ones (README, "Exit codes"); 4: kept nothing


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("SYNTHPIPE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-c", "from synthpipe.cli import main; main()", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def check_run_dir(proc: subprocess.CompletedProcess, out: Path, expected: int) -> None:
    """A clean exit code, no traceback, and on success every record kept, dropped or quarantined."""
    assert proc.returncode in EXIT_CODES, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    if proc.returncode != 0:
        return
    metrics = json.loads((out / "metrics.json").read_text())
    counts = (metrics["kept"], metrics["dropped"], metrics["quarantined"])
    assert sum(counts) == expected, (counts, expected)
    assert count_lines(out / "kept.jsonl") == counts[0]
    assert count_lines(out / "dropped.jsonl") == counts[1]
    assert count_lines(out / "quarantine.jsonl") == counts[2]


def count_lines(path: Path) -> int:
    """Lines of a JSONL file (split on "\\n" only: a record may hold U+2028 or U+0085)."""
    return path.read_bytes().count(b"\n") if path.exists() else 0


FILTER_INPUTS = st.one_of(
    JSONL.map(lambda data: ("in.jsonl", data, jsonl_records(data))),
    csv_file().map(lambda made: ("in.csv", *made)),
    parquet_table().map(lambda table: ("in.parquet", parquet_bytes(table, 2), table.num_rows)),
)


def test_filter_command_accounts_for_every_record(fuzz) -> None:
    @fuzz(6, shrink=False)
    @given(made=FILTER_INPUTS)
    def check(made: tuple[str, bytes, int]) -> None:
        name, data, expected = made
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / name).write_bytes(data)
            proc = run_cli("filter", name, "--out", "out", "--format", "jsonl", "-q", cwd=Path(tmp))
            check_run_dir(proc, Path(tmp) / "out", expected)

    check()


RECIPE = """\
name: fuzz
output: {format: jsonl}
steps:
  read: {step: read, path: %s}
  filter: {step: text_filter, min_words: 2}
  dedup: {step: exact_dedup}
"""


def test_run_recipe_accounts_for_every_record(fuzz) -> None:
    @fuzz(2, shrink=False)
    @given(table=parquet_table())
    def check(table: pa.Table) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "in.parquet").write_bytes(parquet_bytes(table, 2))
            (Path(tmp) / "recipe.yaml").write_text(RECIPE % "in.parquet")
            proc = run_cli("run", "recipe.yaml", "--out", "out", "-q", cwd=Path(tmp))
            check_run_dir(proc, Path(tmp) / "out", table.num_rows)

    check()
