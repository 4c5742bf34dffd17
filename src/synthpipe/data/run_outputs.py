"""A run directory's outputs, ``kept.<fmt>`` and ``dropped.<fmt>``, read the same way whether
each is one file or a sharded directory with a manifest (see :mod:`synthpipe.data.manifest`;
:func:`synthpipe.data.readers.read_records` reads both layouts).

Every reader of a run directory goes through here: the output's path (from ``metrics.json``),
its records streamed, its record count without reading it, and a bounded evenly spaced sample.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from synthpipe.data.manifest import is_sharded, read_manifest
from synthpipe.data.readers import read_records
from synthpipe.data.records import Batch, Record
from synthpipe.data.sampling import StreamSample, tap_sample

OUTPUTS = ("kept", "dropped")


def output_names(run_dir: str | Path) -> dict[str, Any]:
    """The ``output`` block of the run's ``metrics.json`` (``kept``, ``dropped``, ``format``,
    ``layout``), with the defaults of a run that wrote none."""
    path = Path(run_dir) / "metrics.json"
    metrics = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return {"kept": "kept.jsonl", "dropped": "dropped.jsonl", **(metrics.get("output") or {})}


def output_path(run_dir: str | Path, key: str) -> Path:
    """Where the run's `key` output ("kept" or "dropped") is: a file or a sharded directory."""
    if key not in OUTPUTS:
        raise ValueError(f"unknown output {key!r}; one of {OUTPUTS}")
    return Path(run_dir) / output_names(run_dir)[key]


def read_output(run_dir: str | Path, key: str, **options: Any) -> Iterator[Batch]:
    """The run's `key` records in order, streamed in batches (`options` as for read_records)."""
    names = output_names(run_dir)
    return read_records(Path(run_dir) / names[key], format=names.get("format"), id_field="id", **options)


def output_count(path: str | Path) -> int | None:
    """Records in an output, from its manifest when sharded; None for one file (unknown
    without reading it)."""
    return read_manifest(path)["rows"] if is_sharded(path) else None


def sample_output(run_dir: str | Path, key: str, k: int, total: int | None = None) -> list[Record]:
    """At most `k` evenly spaced records of the run's `key` output, streamed in O(k) memory.
    With the count known (`total`, or a manifest's), these are the records a run samples;
    [] when the run wrote no such output."""
    path = output_path(run_dir, key)
    if not path.exists():
        return []
    total = total if total is not None else output_count(path)
    records = (r for batch in read_output(run_dir, key) for r in batch)
    if total is not None:
        picked: list[Record] = []
        collections.deque(tap_sample(records, total, k, picked), maxlen=0)  # one pass, nothing held
        return picked
    sample = StreamSample(k)
    for record in records:
        sample.add(record)
    return sample.result()
