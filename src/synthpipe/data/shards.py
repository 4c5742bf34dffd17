"""Cut a source into shards that workers read in parallel, with the batches a serial read gives.

A source's batch ``k`` holds the valid records of its lines (or table rows) ``k*size+1 ..
(k+1)*size`` (see :func:`synthpipe.data.readers.read_records`), so where a batch starts depends
on line numbers only. A shard is a run of whole batches; to read one, a worker needs the line
number and byte offset of some line at or before the shard's first batch.

For JSONL that costs one cheap pass: the file is cut into byte pieces at line starts, each
piece's newlines are counted (in parallel: :func:`count_lines` is what the executor runs on its
workers), and the counts' running sum gives each piece its first line. A shard is then the
batches that start in one piece; its last batch may run on into the next piece, which the
reader follows. Tables (Parquet) know their row counts from the footer, so they need no pass.
Compressed and row-oriented formats (gzip, CSV, HF datasets) cannot be cut: they are one shard.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# A piece costs one small counting task. Keep pieces small enough that even a small file gives
# every worker a shard: the map steps after a source run in its shards' tasks (Ray Data fuses
# them), so one shard would run them on one worker.
MIN_PIECE_BYTES = 64 << 10
_CHUNK = 16 << 20


@dataclass(frozen=True)
class Shard:
    """Batches ``first .. first+count-1`` of a source: lines (rows) ``lo+1 .. hi``.

    `seek` and `seek_line` place the reader: the byte offset of line ``seek_line+1``, at or
    before line ``lo+1`` (JSONL; 0 for tables). ``count=None``: the whole source, read as one.
    """

    first: int
    count: int | None
    lo: int = 0
    hi: int | None = None
    seek: int = 0
    seek_line: int = 0


WHOLE = Shard(0, None)


@dataclass
class ShardBatch:
    """Batch `index` of a shard. `at` places it for a direct read (JSON: it is kept in the
    checkpoint); `lines` are its records' input lines, when the source has lines."""

    index: int
    records: list[dict[str, Any]]
    at: dict[str, Any] = field(default_factory=dict)
    lines: list[int] | None = None


def byte_pieces(path: Path, want: int, min_bytes: int | None = None) -> list[tuple[int, int]]:
    """`path` cut into at most `want` byte ranges ``[start, end)``, each starting at a line start
    and, but for the last, at least `min_bytes` long (default :data:`MIN_PIECE_BYTES`)."""
    size = os.path.getsize(path)
    n = max(1, min(want, size // max(1, min_bytes or MIN_PIECE_BYTES)))
    starts = [0]
    with open(path, "rb") as fh:
        for j in range(1, n):
            fh.seek(j * size // n - 1)
            fh.readline()  # to the end of the line holding the nominal boundary
            if (at := fh.tell()) > starts[-1] and at < size:
                starts.append(at)
    return [(s, e) for s, e in zip(starts, [*starts[1:], size], strict=True)]


def count_lines(path: str, start: int, end: int) -> int:
    """Lines starting in bytes ``[start, end)`` of `path` (a piece from :func:`byte_pieces`):
    its newlines, plus a last line with none at the end of the file."""
    count, last = 0, b"\n"
    with open(path, "rb") as fh:
        fh.seek(start)
        left = end - start
        while left > 0:
            chunk = fh.read(min(_CHUNK, left))
            if not chunk:
                break
            count += chunk.count(b"\n")
            last, left = chunk[-1:], left - len(chunk)
    return count + (last != b"\n")


def line_shards(pieces: list[tuple[int, int]], counts: list[int], batch_size: int) -> list[Shard]:
    """One shard per piece holding the start of a batch: the batches that start in it."""
    shards, before = [], 0
    total = sum(counts)
    for (start, _), lines in zip(pieces, counts, strict=True):
        first = -(-before // batch_size)  # the first batch starting at or after line before+1
        end = -(-(before + lines) // batch_size)
        if end > first:
            hi = min(total, end * batch_size)
            shards.append(Shard(first, end - first, first * batch_size, hi, start, before))
        before += lines
    return shards


def row_shards(rows: int, batch_size: int, want: int) -> list[Shard]:
    """`rows` table rows (or generated records) cut into at most `want` runs of whole batches."""
    batches = -(-rows // batch_size)
    per = max(1, -(-batches // max(1, want)))
    return [
        Shard(b, min(per, batches - b), b * batch_size, min(rows, (b + per) * batch_size))
        for b in range(0, batches, per)
    ]
