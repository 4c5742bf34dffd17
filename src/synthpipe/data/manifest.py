"""Sharded outputs: a directory of ``part-NNNNN.<fmt>`` files plus ``manifest.json``.

A run's ``kept.<fmt>`` (or ``dropped.<fmt>``) is either one file or a directory::

    kept.jsonl/
        part-00000.jsonl    records, in order; each shard written atomically (temp + rename)
        part-00001.jsonl
        manifest.json       {"format", "rows", "shards": [{"file", "rows", "sha256"}], ...}

The records are the shards' records concatenated in the manifest's order. The manifest is
written last (atomically): it is the commit marker, so a directory without one is an output
whose writing did not finish, and readers refuse it. Readers check each shard's sha256 and
row count against the manifest before trusting it.

All file I/O of this layout is in the small functions :func:`remove_output`, :func:`prepare_output`,
:func:`write_shard`, :func:`write_manifest`, :func:`read_manifest` and :func:`open_shard`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from synthpipe.data.records import Record
from synthpipe.data.storage import Store, is_remote
from synthpipe.data.writers import atomic_path, write_records
from synthpipe.errors import DataError

MANIFEST = "manifest.json"
LAYOUT_VERSION = 1
#: formats whose output can be sharded (an HF dataset is a directory of its own)
SHARDED_FORMATS = ("jsonl", "jsonl.gz", "parquet", "csv")
_SUFFIX = {"jsonl": ".jsonl", "jsonl.gz": ".jsonl.gz", "parquet": ".parquet", "csv": ".csv"}


def shard_name(ordinal: int, fmt: str) -> str:
    """The file name of shard `ordinal`: ``part-00000.jsonl``."""
    return f"part-{ordinal:05d}{_SUFFIX[fmt]}"


def is_sharded(path: str | Path) -> bool:
    """True when `path` is a sharded output, finished or not: a directory holding a manifest,
    or named like a file (``kept.jsonl/``)."""
    p = Path(path)
    if not p.is_dir():
        return False
    return (p / MANIFEST).exists() or p.name.lower().endswith(tuple(_SUFFIX.values()))


# -- the I/O functions ------------------------------------------------------------------------
def remove_output(path: str | Path) -> None:
    """Remove an output (file or sharded directory), its manifest first, so a reader never
    trusts a half-removed one."""
    if is_remote(path):  # an object-store prefix (run directory on s3://...)
        store = Store(str(path))
        store.remove(MANIFEST)
        store.clear()
        store.remove("")  # a one-file output is the object at the path itself
        return
    p = Path(path)
    if p.is_dir() and not p.is_symlink():
        (p / MANIFEST).unlink(missing_ok=True)
        shutil.rmtree(p)
    elif p.exists() or p.is_symlink():
        p.unlink()


def prepare_output(path: str | Path) -> Path | str:
    """Make `path` an empty directory for shards, replacing a previous output there (an
    object-store prefix needs no directory: returned as is)."""
    remove_output(path)
    if is_remote(path):
        return path
    p = Path(path)
    p.mkdir(parents=True)
    return p


def write_shard(directory: str | Path, file: str, records: Iterable[Record], fmt: str) -> dict[str, Any]:
    """Write one shard atomically; returns its manifest entry ``{file, rows, sha256}``."""
    if is_remote(directory):  # written and hashed here, then uploaded as one object
        with Store(str(directory)).writing(file) as tmp:
            rows = write_records(records, tmp, format=fmt)
            digest = _sha256(tmp)
        return {"file": file, "rows": rows, "sha256": digest}
    path = Path(directory) / file
    rows = write_records(records, path, format=fmt)
    return {"file": file, "rows": rows, "sha256": _sha256(path)}


def write_manifest(directory: str | Path, fmt: str, shards: list[dict], **facts: Any) -> dict[str, Any]:
    """Commit a sharded output: write its manifest (atomically, after every shard)."""
    manifest = {
        "layout": LAYOUT_VERSION,
        "format": fmt,
        "rows": sum(s["rows"] for s in shards),
        "shards": shards,
        **facts,
    }
    if is_remote(directory):  # one PUT: the manifest object appears whole, after every shard
        Store(str(directory)).write_text(MANIFEST, json.dumps(manifest, indent=1) + "\n")
        return manifest
    with atomic_path(Path(directory) / MANIFEST) as tmp:
        Path(tmp).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a sharded output, or a DataError saying the output is unfinished."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise DataError(
            f"{directory} is a sharded output without {MANIFEST}: its writing did not finish "
            "(the run stopped while writing it); rerun the same command to write it again"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["shards"], manifest["format"]  # noqa: B018 -- the keys readers need
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not a valid manifest ({exc}); rerun the run to write it again") from None
    return manifest


def open_shard(directory: str | Path, entry: dict[str, Any]) -> Path:
    """The path of a shard listed in the manifest, checked: it exists and has its sha256."""
    path = Path(directory) / entry["file"]
    if not path.is_file():
        raise DataError(f"{path}: a shard listed in {MANIFEST} is missing; rerun the run to write the output again")
    if _sha256(path) != entry["sha256"]:
        raise DataError(
            f"{path}: the shard's sha256 differs from {MANIFEST} (it was changed or corrupted); "
            "rerun the run to write the output again"
        )
    return path


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# -- composed from the functions above --------------------------------------------------------
def shard_rows_mismatch(directory: str | Path, entry: dict[str, Any], rows: int) -> DataError:
    """The error for a shard that held another number of rows than its manifest says."""
    return DataError(
        f"{Path(directory) / entry['file']}: {rows} rows, but {MANIFEST} says {entry['rows']}; "
        "rerun the run to write the output again"
    )


def write_sharded(
    records: Iterable[Record], directory: str | Path, fmt: str, shard_rows: int, **facts: Any
) -> dict[str, Any]:
    """Write `records` as shards of `shard_rows` records each, then the manifest; returns it."""
    directory = prepare_output(directory)
    shards = [
        write_shard(directory, shard_name(k, fmt), chunk, fmt) for k, chunk in enumerate(_chunks(records, shard_rows))
    ]
    return write_manifest(directory, fmt, shards, **facts)


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
