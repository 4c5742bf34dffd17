"""Read records from files or HF datasets: map fields, validate, quarantine bad input.

Every format is turned into a stream of raw rows (line number, parsed dict or parse error);
one shared pass then renames fields, validates them, assigns ids and lineage, and batches.
Files are streamed, so memory does not grow with file size (only the set of ids seen does).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import os
import re
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from synthpipe.data import distilabel, json_codec, manifest
from synthpipe.data.formats import (
    HF_JSON_COLUMNS_FILE,
    check_format,
    detect_format,
    import_datasets,
    strip_suffix,
)
from synthpipe.data.quarantine import Quarantine, strict_error
from synthpipe.data.records import DROP, ID, LINEAGE, Batch, Record
from synthpipe.data.shards import WHOLE, Shard, ShardBatch
from synthpipe.errors import DataError, UsageError

if TYPE_CHECKING:  # imported where Parquet is read: JSONL and CSV readers need no Arrow
    import pyarrow as pa
    import pyarrow.parquet as pq

SHARDABLE = ("jsonl", "parquet")  # formats a worker can start reading in the middle of
_BOM = b"\xef\xbb\xbf"
_JSON_BLANK = " \t\r"  # whitespace to JSON; a line of other white space is a bad record
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # JSON text that may decode to one
_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_RESERVED = (LINEAGE, DROP)  # stored as JSON text in CSV cells and HF datasets
TypeSpec = type | tuple[type, ...]


@dataclass
class _Row:
    """One input record before mapping and validation; `record` is None if it did not parse."""

    line: int
    record: Record | None
    raw: str | None = None
    error: str | None = None
    last: int | None = None  # an unreadable stretch's last line; a blank line: 0 (no record)


@dataclass
class _Source:
    label: str  # where, in errors and the quarantine file
    name: str  # `_lineage.source`
    stem: str  # prefix of generated ids
    rows: Callable[[], Iterator[_Row]]  # opens the input only when iterated
    by_line: bool = False  # batches are runs of lines (shardable formats), else of valid records


def read_records(
    source: str | os.PathLike[str] | Any,
    *,
    format: str | None = None,
    fields: Mapping[str, str] | None = None,
    required: Sequence[str] = (),
    types: Mapping[str, TypeSpec] | None = None,
    quarantine: Quarantine | None = None,
    strict: bool = False,
    batch_size: int = 1024,
    limit: int | None = None,
    id_field: str | None = "id",
    subset: str | None = None,
) -> Iterator[Batch]:
    """Yield batches of valid records from a file, a HF dataset directory or a `datasets.Dataset`.

    `fields` maps canonical names to the names in the source (``{"text": "question"}``).
    Records that fail to parse, miss a `required` field, have a value of the wrong `types`,
    carry a `_drop` that is no drop record, or repeat an id go to `quarantine` (or raise
    DataError naming ``file:line`` when strict); so does each unreadable stretch of a corrupt
    gzip stream or Parquet row group, as one entry.
    Each record gets ``id`` (from `id_field`, else ``<stem>-<line>``) and ``_lineage``.
    ``format="distilabel"`` (found by itself for a Distiset folder) reads a dataset distilabel
    made, its columns renamed to synthpipe's (:mod:`synthpipe.data.distilabel`); `subset`
    picks one of a Distiset's subsets.
    Missing files and unknown formats raise UsageError here, before iteration starts.
    """
    schema, src, reject = _opened(source, format, fields, required, types, quarantine, strict, batch_size, subset)
    batches = _batched(_positions(src, _clean(src, schema, reject, id_field)), batch_size, limit)
    return (batch for _, batch, _ in batches)


def _opened(
    source: Any,
    format: str | None,
    fields: Mapping[str, str] | None,
    required: Sequence[str],
    types: Mapping[str, TypeSpec] | None,
    quarantine: Quarantine | None,
    strict: bool,
    batch_size: int,
    subset: str | None,
    shard: Shard = WHOLE,
    offsets: dict[int, int] | None = None,
) -> tuple[_Schema, _Source, _Reject]:
    """What every read starts from: the field mapping, the rows of `source` (or of a `shard`
    of it), and where rejected records go."""
    if batch_size < 1:
        raise UsageError(f"batch_size must be at least 1, got {batch_size}")
    schema = _Schema(dict(fields or {}), tuple(required), dict(types or {}))
    src = _open_source(source, format, batch_size, schema, subset, shard, offsets)
    reject = _Reject(src.label, quarantine if quarantine is not None else Quarantine(strict=strict), strict)
    return schema, src, reject


def read_shard(
    path: str | os.PathLike[str],
    shard: Shard,
    *,
    format: str | None = None,
    fields: Mapping[str, str] | None = None,
    required: Sequence[str] = (),
    types: Mapping[str, TypeSpec] | None = None,
    quarantine: Quarantine | None = None,
    strict: bool = False,
    batch_size: int = 1024,
    id_field: str | None = "id",
    subset: str | None = None,
    duplicates: Mapping[int, str] | None = None,
) -> Iterator[ShardBatch]:
    """The batches of `shard` (see :mod:`synthpipe.data.shards`), as :func:`read_records` gives
    them when it reads the whole file. Ids repeated within the shard are quarantined as in a
    whole read; ids repeating one of an earlier shard are not seen here: `duplicates` (line ->
    id) names them, found by comparing every shard's ids afterwards."""
    offsets: dict[int, int] = {}
    schema, src, reject = _opened(path, format, fields, required, types, quarantine, strict, batch_size, subset,
                                  shard, offsets)  # fmt: skip
    repeated: dict[int, str] = dict(duplicates or {})  # grows with the repeats found here
    rows = _clean(src, schema, reject, id_field, repeated)
    first = shard.first if shard.count is not None else 0
    for index, batch, lines in _batched(_positions(src, rows), batch_size, None, first):
        lo = index * batch_size
        at: dict[str, Any] = {"line": lo}
        if lo in offsets:
            at["byte"] = offsets[lo]
        if mine := {str(n): i for n, i in repeated.items() if lo < n <= lo + batch_size}:
            at["duplicates"] = mine  # a direct read of this batch cannot see the first ones
        yield ShardBatch(index, batch, at, lines)


def read_batch(path: str | os.PathLike[str], index: int, at: Mapping[str, Any], batch_size: int, **options: Any) -> ShardBatch:
    """Batch `index` alone, placed by the `at` :func:`read_shard` gave for it."""
    line = at["line"]
    shard = Shard(index, 1, line, line + batch_size, at.get("byte", 0), line if "byte" in at else 0)
    duplicates = {int(n): i for n, i in at.get("duplicates", {}).items()}
    found = next(read_shard(path, shard, batch_size=batch_size, duplicates=duplicates, **options), None)
    return found if found is not None else ShardBatch(index, [], dict(at), [])


def read_all(source: str | os.PathLike[str] | Any, **kwargs: Any) -> list[Record]:
    """All valid records from `source` as one list (same options as :func:`read_records`)."""
    return [record for batch in read_records(source, **kwargs) for record in batch]


def peek_columns(
    source: str | os.PathLike[str],
    *,
    format: str | None = None,
    fields: Mapping[str, str] | None = None,
    rows: int = 1000,
) -> set[str] | None:
    """The field names of the first `rows` records of a file, as :func:`read_records` would
    name them with this `fields` mapping (``id`` and ``_lineage`` included); cheap, for checks
    made before a run. None for HF dataset directories (opening one imports `datasets`)."""
    path = Path(source).expanduser()
    if _is_distilabel(path, format) or manifest.is_sharded(path):
        return None
    fmt = check_format(format) if format is not None else detect_format(path)
    if fmt == "hf":
        return None
    schema = _Schema(dict(fields or {}), (), {})
    rows_iter = _open_source(path, fmt, 1024, schema).rows()
    columns = {ID, LINEAGE}
    with contextlib.closing(rows_iter):
        for n, row in enumerate(rows_iter, 1):
            if row.record is not None:
                columns.update(schema.apply(row.record))
            if n >= rows:
                break
    return columns


# -- mapping and validation -------------------------------------------------------------
@dataclass
class _Schema:
    fields: dict[str, str]  # canonical -> source name
    required: tuple[str, ...]
    types: dict[str, TypeSpec]
    renames: dict[str, list[str]] = field(init=False)  # source -> canonical names

    def __post_init__(self) -> None:
        self.renames = {}
        for canonical, source in self.fields.items():
            self.renames.setdefault(source, []).append(canonical)

    def canonical(self, name: str) -> str:
        return self.renames.get(name, [name])[0]

    def apply(self, record: Record) -> Record:
        """Rename mapped columns in place of the originals; a column the mapping shadows goes."""
        if not self.fields:  # nothing to rename: the freshly parsed record is ours to keep
            return record
        out: Record = {}
        for key, value in record.items():
            if key in self.renames:
                for canonical in self.renames[key]:
                    out[canonical] = value
            elif key not in self.fields:
                out[key] = value
        return out

    def problem(self, record: Record) -> str | None:
        for name in self.required:
            if record.get(name) is None:
                source = self.fields.get(name, name)
                mapped = f" (mapped to {name!r})" if source != name else ""
                return f"missing field {source!r}{mapped}"
        for name, expected in self.types.items():
            value = record.get(name)
            if value is not None and not isinstance(value, expected):
                return f"wrong type for field {name!r}: expected {_type_names(expected)}, got {type(value).__name__}"
        return None

    def text_columns(self) -> set[str]:
        """Source columns that must stay strings (CSV does not JSON-decode them)."""
        return {self.fields.get(n, n) for n, t in self.types.items() if t is str or t == (str,)}


def _type_names(expected: TypeSpec) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(t.__name__ for t in types)


@dataclass
class _Reject:
    file: str
    quarantine: Quarantine
    strict: bool

    def __call__(self, line: int, reason: str, raw: str | None) -> None:
        if self.strict:  # even if the quarantine we were handed is lenient
            raise strict_error(self.file, line, reason)
        self.quarantine.add(self.file, line, reason, raw)


def _clean(
    src: _Source,
    schema: _Schema,
    reject: _Reject,
    id_field: str | None,
    duplicates: dict[int, str] | None = None,
) -> Iterator[tuple[int, Record | None]]:
    """(line, record) for each valid record; (last line, None) for a line that gave none."""
    id_key = schema.canonical(id_field) if id_field else None
    seen: set[str] = set()
    for row in src.rows():
        if row.record is None:
            if row.last != 0:  # not a blank line
                reject(row.line, row.error or "unreadable record", row.raw)
            yield (row.last or row.line), None
            continue
        record = schema.apply(row.record)
        problem = schema.problem(record) or _reserved_problem(record)
        if problem is None:
            record[ID] = _record_id(record, id_key, src.stem, row.line)
            if record[ID] in seen or duplicates and row.line in duplicates:
                problem = f"duplicate id: {record[ID]!r}"
                seen.add(record[ID])  # named as a repeat of an earlier shard's: later ones repeat it too
                if duplicates is not None:
                    duplicates[row.line] = record[ID]
        if problem is not None:
            reject(row.line, problem, row.raw if row.raw is not None else _dump(row.record))
            yield row.line, None
            continue
        seen.add(record[ID])
        if not isinstance(record.get(LINEAGE), dict):
            record[LINEAGE] = {"source": src.name, "line": row.line}
        yield row.line, record


def _reserved_problem(record: Record) -> str | None:
    """An input `_drop` is null or a ledger entry (the record comes in dropped, as in a
    dropped.jsonl); anything else would fail the first step that reads its reason."""
    drop = record.get(DROP)
    if drop is None:
        return None
    if (
        isinstance(drop, dict)
        and isinstance(drop.get("reason"), str)
        and isinstance(drop.get("step"), str | None)
    ):
        return None  # the detail is any JSON value: text, or structured data
    return (
        f"reserved field {DROP!r} must be null or a drop record "
        '{"step", "reason", "detail"} with a string step and reason'
    )


def _record_id(record: Record, id_key: str | None, stem: str, line: int) -> str:
    value = record.get(id_key) if id_key else None
    return f"{stem}-{line:06d}" if value is None or value == "" else str(value)


def _positions(src: _Source, rows: Iterator[tuple[int, Record | None]]) -> Iterator[tuple[int, Record | None]]:
    """Where each row falls for batching: its line in a shardable format, else the count of
    valid records so far (batches of exactly `batch_size` records, as formats that are never
    cut into shards always had)."""
    if src.by_line:
        return rows
    return ((n, record) for n, (_, record) in enumerate(((ln, r) for ln, r in rows if r is not None), 1))


def _batched(
    rows: Iterator[tuple[int, Record | None]], batch_size: int, limit: int | None, first: int = 0
) -> Iterator[tuple[int, Batch, list[int]]]:
    """(index, records, their lines): batch k holds the valid records of lines k*size+1 ..
    (k+1)*size, so a batch's place follows from line numbers alone and a shard of the file
    gives the batches a whole read gives (a stretch of lines without valid records is an
    empty batch). Reading from batch `first` on; stops after `limit` valid records."""
    with contextlib.closing(rows):  # stopping at `limit` closes the file now, not at GC
        if limit is not None and limit <= 0:
            return
        index, batch, lines, seen, kept = first, [], [], False, 0
        for line, record in rows:
            while (line - 1) // batch_size > index:
                yield index, batch, lines
                index, batch, lines, seen = index + 1, [], [], False
            seen = True
            if record is not None:
                batch.append(record)
                lines.append(line)
                kept += 1
                if kept == limit:
                    break
        if seen:
            yield index, batch, lines


def _dump(record: Record) -> str:
    return json.dumps(record, ensure_ascii=False, default=str)


# -- sources ----------------------------------------------------------------------------
def _open_source(
    source: Any,
    fmt: str | None,
    batch_size: int,
    schema: _Schema,
    subset: str | None = None,
    shard: Shard = WHOLE,
    offsets: dict[int, int] | None = None,
) -> _Source:
    """`source` as rows; a `shard` of a JSONL or Parquet file reads its lines (rows) only,
    noting in `offsets` the byte offset of each batch's first line (JSONL)."""
    if shard.count is not None:
        return _shard_source(Path(source), fmt, batch_size, shard, offsets)
    if not isinstance(source, str | os.PathLike):
        return _dataset_source(source, batch_size)
    path = Path(source).expanduser()
    if not path.exists():
        raise UsageError(f"no such file: {path}")
    if manifest.is_sharded(path):  # a run's sharded output: its shards, in the manifest's order
        return _sharded_source(path, batch_size, schema)
    if _is_distilabel(path, fmt):
        return _distilabel_source(path, batch_size, subset)
    fmt = check_format(fmt) if fmt is not None else detect_format(path)
    _check_kind(path, fmt)
    readers: dict[str, Callable[[], Iterator[_Row]]] = {
        "jsonl": lambda: _jsonl_rows(path, gz=False),
        "jsonl.gz": lambda: _jsonl_rows(path, gz=True),
        "csv": lambda: _csv_rows(path, schema.text_columns()),
        "parquet": lambda: _parquet_rows(path, batch_size),
        "hf": lambda: _hf_dir_rows(path, batch_size),
    }
    return _Source(str(path), path.name, strip_suffix(path.name), readers[fmt], fmt in SHARDABLE)


def _shard_source(
    path: Path, fmt: str | None, batch_size: int, shard: Shard, offsets: dict[int, int] | None
) -> _Source:
    fmt = check_format(fmt) if fmt is not None else detect_format(path)
    if fmt == "jsonl":
        rows = lambda: _jsonl_window(path, shard, batch_size, offsets if offsets is not None else {})  # noqa: E731
    elif fmt == "parquet":
        rows = lambda: _parquet_rows(path, batch_size, shard.lo, shard.hi)  # noqa: E731
    else:
        raise UsageError(f"{path}: a {fmt} file cannot be read in shards; read it whole")
    return _Source(str(path), path.name, strip_suffix(path.name), rows, by_line=True)


def _is_distilabel(path: Path, fmt: str | None) -> bool:
    return fmt == "distilabel" or (fmt is None and distilabel.is_distiset(path))


def _distilabel_source(path: Path, batch_size: int, subset: str | None) -> _Source:
    storage = distilabel.locate(path, subset)
    readers: dict[str, Callable[[Path], Iterator[_Row]]] = {
        "jsonl": lambda p: _jsonl_rows(p, gz=False),
        "jsonl.gz": lambda p: _jsonl_rows(p, gz=True),
        "parquet": lambda p: _parquet_rows(p, batch_size),
        "hf": lambda p: _hf_dir_rows(p, batch_size),
    }

    def rows() -> Iterator[_Row]:
        offset = 0  # shards number their rows on from the previous one
        for file in storage.paths:
            last = 0
            for row in readers[storage.format](file):
                last, line = row.line, offset + row.line
                if row.record is not None:
                    where = file.relative_to(path).as_posix() if file != path else file.name
                    facts = {"source": where, "line": line, "subset": storage.config}
                    row = _Row(line, distilabel.to_record(row.record, facts), row.raw)
                else:  # a blank line (last 0) stays one
                    row = _Row(line, None, row.raw, row.error, row.last and offset + row.last)
                yield row
            offset += last

    return _Source(str(path), path.name, storage.config, rows)


def _sharded_source(path: Path, batch_size: int, schema: _Schema) -> _Source:
    """A sharded output (see :mod:`synthpipe.data.manifest`): each shard checked against the
    manifest, then its rows; lines number on from the previous shard's."""
    listing = manifest.read_manifest(path)
    readers: dict[str, Callable[[Path], Iterator[_Row]]] = {
        "jsonl": lambda p: _jsonl_rows(p, gz=False),
        "jsonl.gz": lambda p: _jsonl_rows(p, gz=True),
        "csv": lambda p: _csv_rows(p, schema.text_columns()),
        "parquet": lambda p: _parquet_rows(p, batch_size),
    }

    header = 1 if listing["format"] == "csv" else 0  # every CSV shard repeats the header line

    def rows() -> Iterator[_Row]:
        offset = 0
        for entry in listing["shards"]:
            count = last = 0
            shift = offset - (header if offset else 0)
            for row in readers[listing["format"]](manifest.open_shard(path, entry)):
                count, last = count + (row.last != 0), row.line  # a blank line (last 0) is no row
                yield _Row(shift + row.line, row.record, row.raw, row.error, row.last and shift + row.last)
            if count != entry["rows"]:
                raise manifest.shard_rows_mismatch(path, entry, count)
            offset = shift + last

    return _Source(str(path), path.name, strip_suffix(path.name), rows)


def _check_kind(path: Path, fmt: str) -> None:
    if fmt == "hf" and not path.is_dir():
        raise UsageError(f"{path} is a file; format 'hf' reads a directory made by save_to_disk")
    if fmt != "hf" and path.is_dir():
        raise UsageError(f"{path} is a directory; format {fmt!r} reads a file")
    if fmt == "hf" and (path / "dataset_dict.json").is_file():
        splits = json.loads((path / "dataset_dict.json").read_text()).get("splits", [])
        example = path / splits[0] if splits else path / "train"
        raise UsageError(
            f"{path} holds several splits ({', '.join(splits)}); point at one of them, e.g. {example}"
        )


def _dataset_source(ds: Any, batch_size: int) -> _Source:
    if type(ds).__module__.split(".")[0] != "datasets":
        raise UsageError(
            f"cannot read records from a {type(ds).__name__}: pass a file path, "
            "a HF dataset directory, or a datasets.Dataset"
        )
    datasets = import_datasets()
    if isinstance(ds, datasets.DatasetDict | datasets.IterableDatasetDict):
        raise UsageError(
            f"got a DatasetDict with splits {list(ds)}; pass one split, e.g. ds[{next(iter(ds))!r}]"
        )
    return _Source(
        "dataset", "dataset", "dataset", lambda: _dataset_rows(ds, batch_size, _JSON_RESERVED)
    )


def _jsonl_rows(path: Path, gz: bool) -> Iterator[_Row]:
    opener: Callable[..., IO[bytes]] = gzip.open if gz else open  # type: ignore[assignment]
    line = 0
    with opener(path, "rb") as fh:
        try:
            if gz and path.stat().st_size == 0:  # gzip reads it as no data; it is no stream
                raise gzip.BadGzipFile("empty file, not even a gzip header")
            for line, data in enumerate(fh, 1):  # bytes: one bad line must not sink the file
                yield _json_row(line, data)
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:  # truncated or corrupt .gz
            yield _Row(
                line + 1, None, None, f"corrupt gzip data: {e}; the rest of the file is unreadable"
            )


def _jsonl_window(path: Path, shard: Shard, batch_size: int, offsets: dict[int, int]) -> Iterator[_Row]:
    """Lines ``shard.lo+1 .. shard.hi`` of a JSONL file, from the byte offset `shard.seek`
    (line ``seek_line+1``); notes where each batch's first line starts."""
    with open(path, "rb") as fh:
        fh.seek(shard.seek)
        at, line = shard.seek, shard.seek_line
        for data in fh:
            line += 1
            if shard.hi is not None and line > shard.hi:
                return
            if line > shard.lo:
                if (line - 1) % batch_size == 0:
                    offsets[line - 1] = at
                yield _json_row(line, data)
            at += len(data)


def _json_row(line: int, data: bytes) -> _Row:
    if line == 1 and data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        text = data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as e:
        raw = data.decode("utf-8", "replace").rstrip("\r\n")
        return _Row(line, None, raw, f"invalid UTF-8: {e}")
    if not text.strip(_JSON_BLANK):
        return _Row(line, None, last=0)  # blank lines are layout, not records
    try:
        value = _parse_json(text)
    except ValueError as e:
        return _Row(line, None, text, f"bad JSON: {e}")
    if not isinstance(value, dict):
        return _Row(line, None, text, f"not a JSON object: got {_json_kind(value)}")
    return _Row(line, value, text)


def _parse_json(text: str) -> Any:
    """`json.loads` for untrusted text: every failure is a ValueError saying what is wrong.

    Beyond syntax errors that covers what `json.loads` accepts or raises on but no record can
    hold: integers past Python's digit limit, nesting past the recursion limit, and escapes
    of lone UTF-16 surrogates (not text: no UTF-8 writer or Arrow column can store them).
    """
    try:
        value = json_codec.loads(text)  # json's values and errors, mostly at orjson's speed
    except json.JSONDecodeError as e:
        raise ValueError(f"{e.msg} (column {e.colno})") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError as e:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise ValueError(str(e).split(";")[0]) from None
    if _SURROGATE_ESCAPE.search(text) and _has_surrogate(value):
        raise ValueError("a \\u escape of a lone surrogate (U+D800-U+DFFF) is not valid text")
    return value


def _has_surrogate(value: Any) -> bool:
    stack = [value]  # iterative: the value may be nested as deep as json allows
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


class _LineFeed:
    """Feeds decoded physical lines to csv.reader and remembers those of the current row."""

    def __init__(self, fh: IO[bytes]):
        self._fh = fh
        self.count = 0  # physical lines read so far
        self._lines: list[str] = []
        self._error: str | None = None

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        data = next(self._fh)
        self.count += 1
        if self.count == 1 and data.startswith(_BOM):
            data = data[len(_BOM) :]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            self._error = self._error or f"invalid UTF-8: {e} (line {self.count})"
            text = data.decode("utf-8", "replace")  # the row is rejected; keep parsing after it
        self._lines.append(text)
        return text

    def take(self, start: int) -> tuple[str, str | None]:
        """The current row's raw text and decoding error; starts the next row."""
        raw, error = "".join(self._lines).rstrip("\r\n"), self._error
        self._lines, self._error = [], None
        if error is not None and error.endswith(f"(line {start})"):
            error = error[: -len(f" (line {start})")]  # only worth saying for later lines
        return raw, error


def _csv_rows(path: Path, text_columns: set[str]) -> Iterator[_Row]:
    with open(path, "rb") as fh:
        feed = _LineFeed(fh)
        reader = csv.reader(feed)
        header: list[str] | None = None
        while True:
            start = feed.count + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                yield _Row(start, None, feed.take(start)[0], f"bad CSV: {e}")
                continue
            raw, error = feed.take(start)
            if not cells and error is None:
                continue  # blank line
            if header is None:
                if error is not None:
                    raise DataError(f"{path}:{start}: CSV header has {error}")
                header = cells
                continue
            yield _csv_row(start, cells, header, raw, error, text_columns)


def _csv_row(
    line: int,
    cells: list[str],
    header: list[str],
    raw: str,
    error: str | None,
    text_columns: set[str],
) -> _Row:
    if error is not None:
        return _Row(line, None, raw, error)
    if len(cells) != len(header):
        return _Row(
            line, None, raw, f"wrong number of columns: expected {len(header)}, got {len(cells)}"
        )
    record = {
        name: _csv_value(name, cell, text_columns) for name, cell in zip(header, cells, strict=True)
    }
    return _Row(line, record, raw)


def _csv_value(name: str, cell: str, text_columns: set[str]) -> Any:
    """Empty cells are None; JSON objects/arrays (as our writer encodes them) are decoded."""
    if cell == "":
        return None
    if name in _JSON_RESERVED or (name not in text_columns and cell[0] in "{["):
        try:
            value = _parse_json(cell)
        except ValueError:
            return cell
        if name in _JSON_RESERVED or isinstance(value, dict | list):
            return value
    return cell


def _parquet_rows(path: Path, batch_size: int, lo: int = 0, hi: int | None = None) -> Iterator[_Row]:
    """Rows ``lo+1 .. hi`` (all by default) of a Parquet file; row groups outside are not read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from synthpipe.data.arrow import json_columns

    try:
        pf = pq.ParquetFile(path)
        encoded = json_columns(pf.schema_arrow.metadata)  # the columns our writer JSON-encoded
        _check_metadata(pf)
    except (pa.ArrowException, OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable Parquet file ({e})") from None
    top = pf.metadata.num_rows if hi is None else min(hi, pf.metadata.num_rows)
    with pf:
        row = 0
        for group in range(pf.num_row_groups):  # a corrupt row group costs its rows only
            start, end = row, row + pf.metadata.row_group(group).num_rows
            if end <= lo or start >= top:
                row = end
                continue
            try:
                for batch in pf.iter_batches(batch_size=batch_size, row_groups=[group]):
                    a, b = max(0, lo - row), min(batch.num_rows, top - row)
                    for i, (record, error) in enumerate(_batch_records(batch.slice(a, max(0, b - a)), encoded)):
                        yield _Row(row + a + i + 1, record, None, error)
                    row += batch.num_rows
            except (pa.ArrowException, OSError, ValueError) as e:  # a corrupt page
                yield _unreadable_rows(f"{e}", row, end, lo, top)
                row = end
            if row < end:  # a corrupt page header can make the reader stop early, silently
                cause = f"row group {group} ended after {row - start} of its {end - start} rows"
                yield _unreadable_rows(cause, row, end, lo, top)
                row = end


def _unreadable_rows(cause: str, row: int, end: int, lo: int, top: int) -> _Row:
    """Rows ``row+1 .. end`` could not be read: one quarantine entry (within ``lo+1 .. top``)."""
    first, last = max(row, lo), min(end, top)
    return _Row(first + 1, None, None, _unreadable(cause, first, last), last=last)


def _check_metadata(pf: pq.ParquetFile) -> None:
    """Refuse a footer that cannot say which rows the file holds, before reading any. The
    column names are decoded now too: pyarrow decodes them lazily, so a name that is not
    UTF-8 would fail the read halfway through."""
    meta = pf.metadata
    in_groups = sum(meta.row_group(g).num_rows for g in range(meta.num_row_groups))
    if in_groups != meta.num_rows:
        raise ValueError(f"its row groups hold {in_groups} rows, its footer says {meta.num_rows}")
    _decoded = [meta.schema.column(i).path for i in range(len(meta.schema))]  # raises if not UTF-8


def _unreadable(cause: str, row: int, end: int) -> str:
    return f"corrupt Parquet data: {cause}; rows {row + 1}-{end} are unreadable"


def _batch_records(
    batch: pa.RecordBatch, encoded: set[str]
) -> Iterator[tuple[Record | None, str | None]]:
    """Each row as a record, or None and why it could not be read; one bad row sinks no other."""
    import pyarrow as pa

    # Arrow values Python cannot hold
    unconvertible = (pa.ArrowException, ValueError, OverflowError)
    try:
        rows: list[Record] | None = batch.to_pylist()
    except unconvertible:  # e.g. invalid UTF-8, a date past Python's year 9999
        rows = None  # convert row by row to find the bad ones
    for i in range(batch.num_rows):
        if rows is not None:
            yield _decode_columns(rows[i], encoded)
            continue
        try:
            row = batch.slice(i, 1).to_pylist()[0]
        except unconvertible as e:
            yield None, f"unreadable Parquet row: {e}"
            continue
        yield _decode_columns(row, encoded)


def _decode_columns(record: Record, encoded: set[str]) -> tuple[Record | None, str | None]:
    for name in encoded:
        value = record.get(name)
        if isinstance(value, str):
            try:
                record[name] = _parse_json(value)
            except ValueError as e:
                return None, f"bad JSON in column {name!r}: {e}"
    return record, None


def _hf_dir_rows(path: Path, batch_size: int) -> Iterator[_Row]:
    ds = import_datasets().load_from_disk(str(path))
    listed = path / HF_JSON_COLUMNS_FILE
    json_columns = json.loads(listed.read_text()) if listed.is_file() else _JSON_RESERVED
    yield from _dataset_rows(ds, batch_size, tuple(json_columns))


def _dataset_rows(ds: Any, batch_size: int, json_columns: Sequence[str]) -> Iterator[_Row]:
    row = 0
    for batch in ds.with_format(None).iter(batch_size=batch_size):
        names = list(batch)
        for values in zip(*batch.values(), strict=True):
            row += 1
            yield _Row(row, _decode_json(dict(zip(names, values, strict=True)), json_columns))


def _decode_json(record: Record, columns: Sequence[str]) -> Record:
    """Undo the writer's JSON encoding; a user's own plain-string column is left alone."""
    for name in columns:
        value = record.get(name)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                record[name] = _parse_json(value)
    return record
