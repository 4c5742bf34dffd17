"""Write records to JSONL, JSONL.gz, Parquet, CSV or a HF dataset directory, atomically.

Every write goes to a temporary sibling first and is renamed into place only when complete,
so a crash or an exception never leaves a half-written file where a reader would find it.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from synthpipe.data import json_codec
from synthpipe.data.formats import (
    HF_JSON_COLUMNS_FILE,
    check_format,
    detect_format,
    import_datasets,
)
from synthpipe.data.records import Record
from synthpipe.errors import disk_full

if TYPE_CHECKING:  # Arrow is imported where a table is made or read: JSONL and CSV need none
    import datasets
    import pyarrow as pa

Records = "Iterable[Record] | pa.Table"


# -- atomic replacement -----------------------------------------------------------------
@contextmanager
def atomic_path(path: str | Path, durable: bool = True) -> Iterator[Path]:
    """Yield a temp path next to `path`; move it into place only if the block succeeds.

    The rename alone survives a killed process; `durable` also fsyncs the file and its
    directory, so the file survives a power loss too (a few ms per file).

    The block may create a file or a directory there (HF `save_to_disk`). On an exception the
    temp path is removed and an existing `path` is left untouched; a full disk becomes a
    DiskFullError naming `path` (a write that fails mid-file names no file itself).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        yield tmp
        if tmp.is_dir():
            _replace_dir(tmp, target)
        else:
            if durable:
                _fsync(tmp)  # data on disk before the rename makes it visible
            os.replace(tmp, target)
        if durable:
            _fsync_dir(target.parent)
    except BaseException as exc:
        _remove(tmp)
        if (full := disk_full(exc, target)) is not None and full is not exc:
            raise full from exc
        raise


def _replace_dir(tmp: Path, target: Path) -> None:
    for child in tmp.rglob("*"):
        if child.is_file():
            _fsync(child)
    if not target.exists():
        os.replace(tmp, target)
        return
    # Directories cannot be swapped atomically: move the old one aside, then drop it.
    aside = target.with_name(f".{target.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
    os.replace(target, aside)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(aside, target)
        raise
    _remove(aside)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not supported on every platform / filesystem
        _fsync(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# -- public API -------------------------------------------------------------------------
def write_records(records: Records, path: str | Path, *, format: str | None = None) -> int:
    """Write `records` (dicts or an Arrow table) to `path`; return how many were written.

    The format comes from `format` or the path's suffix. JSONL and CSV stream; Parquet and HF
    hold the records in memory as one Arrow table.
    """
    target = Path(path).expanduser()
    fmt = check_format(format) if format is not None else detect_format(target)
    return _WRITERS[fmt](records, target)


def to_hf_dataset(records: Records) -> datasets.Dataset:
    """Records as an in-memory HF dataset; `_lineage`/`_drop` become JSON strings.

    Goes through :func:`records_to_table`, so columns mixing types (an int here, a string
    there) are stored as JSON text instead of failing; `read_records` decodes both back.
    """
    return import_datasets().Dataset(_as_table(records))


# -- per-format writers -----------------------------------------------------------------
def _write_jsonl(records: Records, target: Path) -> int:
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        return _dump_lines(records, fh)


def _write_jsonl_gz(records: Records, target: Path) -> int:
    # No file name or timestamp in the header: same records, same bytes, same fingerprint.
    with (
        atomic_path(target) as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,  # closes gz, then raw
    ):
        return _dump_lines(records, gz)


def _dump_lines(records: Records, fh: IO[bytes]) -> int:
    """One compact JSON object per line (see `json_codec`: the values of `json.dumps`)."""
    count = 0
    for record in _iter_records(records):
        fh.write(json_codec.dumps(record, _json_default) + b"\n")
        count += 1
    return count


def _write_parquet(records: Records, target: Path) -> int:
    import pyarrow.parquet as pq

    table = _as_table(records)
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp)
    return table.num_rows


def _write_csv(records: Records, target: Path) -> int:
    # The header is the union of all keys, so a one-shot iterable is spooled to disk first.
    if _is_table(records):
        return _csv_to(target, _iter_records(records), list(records.column_names))
    if isinstance(records, Sequence):
        return _csv_to(target, records, _union_keys(records))
    with tempfile.TemporaryFile("w+b") as spool:
        _dump_lines(records, spool)
        spool.seek(0)
        header = _union_keys(json_codec.loads(line) for line in spool)
        spool.seek(0)
        return _csv_to(target, (json_codec.loads(line) for line in spool), header)


def _csv_to(target: Path, records: Iterable[Record], header: list[str]) -> int:
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        count = 0
        for record in records:
            writer.writerow([_csv_cell(record.get(key)) for key in header])
            count += 1
        return count


def _write_hf(records: Records, target: Path) -> int:
    table = _as_table(records)
    ds = import_datasets().Dataset(table)
    json_columns = _json_columns(table)  # the dataset itself drops this metadata
    with atomic_path(target) as tmp, _quiet_datasets():
        ds.save_to_disk(str(tmp))
        (tmp / HF_JSON_COLUMNS_FILE).write_text(json.dumps(json_columns))
    return len(ds)


_WRITERS = {
    "jsonl": _write_jsonl,
    "jsonl.gz": _write_jsonl_gz,
    "parquet": _write_parquet,
    "csv": _write_csv,
    "hf": _write_hf,
}


# -- helpers ----------------------------------------------------------------------------
def _is_table(records: Any) -> bool:
    """An Arrow table? (One can only exist once pyarrow is imported, so this imports nothing.)"""
    pa = sys.modules.get("pyarrow")
    return pa is not None and isinstance(records, pa.Table)


def _as_table(records: Records) -> pa.Table:
    from synthpipe.data.arrow import records_to_table

    return records if _is_table(records) else records_to_table(records)


def _iter_records(records: Records) -> Iterator[Record]:
    if not _is_table(records):
        yield from records
        return
    import pyarrow as pa

    from synthpipe.data.arrow import table_to_records

    for batch in records.to_batches(max_chunksize=1024):  # decode JSON columns per batch
        yield from table_to_records(pa.Table.from_batches([batch], schema=records.schema))


def _union_keys(records: Iterable[Record]) -> list[str]:
    keys: dict[str, None] = {}
    for record in records:
        keys.update(dict.fromkeys(record))
    return list(keys)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    # Numbers, booleans, lists and dicts as JSON: "true", "1.5", '{"step": ...}'.
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _json_columns(table: pa.Table) -> list[str]:
    from synthpipe.data.arrow import JSON_COLUMNS_KEY

    meta = table.schema.metadata or {}
    return json.loads(meta.get(JSON_COLUMNS_KEY, b"[]"))


@contextmanager
def _quiet_datasets() -> Iterator[None]:
    """No "Saving the dataset" progress bar from a library call; restore the user's setting."""
    datasets = import_datasets()
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
