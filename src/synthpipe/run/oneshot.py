"""One-shot curation commands (`synthpipe dedup|decontaminate|filter|pii IN --out DIR`).

Each builds a small pipeline (read IN -> the curation step(s)) and runs it into DIR, so it
gets everything a recipe run gets: checkpoints and resume, the ledger, metrics and report.
Records keep their field names and ids; the output format follows the input unless given.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from synthpipe.data.formats import detect_format
from synthpipe.data.readers import peek_columns, read_records
from synthpipe.data.records import RESERVED, Record
from synthpipe.errors import UsageError
from synthpipe.pipeline.sources import ReadRecords
from synthpipe.pipeline.step import Step
from synthpipe.run.api import Pipeline, RunResult
from synthpipe.run.columns import MissingColumn, missing_columns

_OUTPUT_FORMATS = ("jsonl", "jsonl.gz", "parquet", "csv", "hf")


def run_curation(
    name: str,
    source: Path,
    out: Path,
    steps: dict[str, Step],
    *,
    text_field: str = "text",
    fmt: str | None = None,
    strict: bool = False,
    fresh: bool = False,
    progress: Any = None,
    summary: dict | None = None,
    require_text: bool = True,
    llms: dict | None = None,
) -> RunResult:
    fmt = fmt or detect_format(source)
    if fmt not in _OUTPUT_FORMATS:
        fmt = "jsonl"
    reader = ReadRecords(path=str(source), text_field=text_field, keep_field_names=True, require_text=require_text)
    check_fields({"read": reader, **steps})
    settings = {"llms": llms} if llms else {}  # endpoints of LLM steps (filter --judge)
    pipeline = Pipeline(name, {"read": reader, **steps}, output={"format": fmt, "text_field": text_field}, **settings)
    result = pipeline.run(out, fresh=fresh, strict=strict, progress=progress)
    write_summary(result, summary or {})
    return result


def check_fields(steps: Mapping[str, Step]) -> None:
    """Refuse a field that no input record has (a usage error naming it and the fields there
    are), before any work: a field only some records lack stays a per-record quarantine or drop.

    The first records decide most cases cheaply; when they lack a field, every record is
    looked at before calling it missing, so a field that starts late is no false alarm."""
    reader = steps["read"]
    if not _gaps(steps, reader.output_columns()):
        return
    columns = _every_column(reader)
    if columns is None or columns <= set(RESERVED):  # unreadable, or no record parsed: the run says why
        return
    by_field: dict[str, list[MissingColumn]] = {}
    for gap in _gaps(steps, columns):
        by_field.setdefault(gap.field, []).append(gap)
    if by_field:
        raise UsageError("\n".join(_describe(gaps, reader.config.path) for gaps in by_field.values()))


def _gaps(steps: Mapping[str, Step], columns: set[str] | None) -> list[MissingColumn]:
    """The fields missing when the read step yields records with `columns` (None: unknown).
    The read step needs its text field itself, unless it reads records without one."""
    if columns is None:
        return []
    reader, available = steps["read"], frozenset(columns)
    field = reader.text_name()
    own = [MissingColumn("read", field, available)] if reader.config.require_text and field not in available else []
    return own + missing_columns({**steps, "read": _Columns(columns)})


def _every_column(reader: ReadRecords) -> set[str] | None:
    try:
        return peek_columns(reader.path(), format=reader.config.format, fields=reader.field_map(), rows=sys.maxsize)
    except Exception:  # unreadable: the run reports it with file:line
        return None


class _Columns:
    """Stands in for the read step in the column check: the columns of every record."""

    def __init__(self, columns: set[str]):
        self.columns = columns

    def input_columns(self) -> None:
        return None

    def output_columns(self) -> set[str]:
        return self.columns


def _describe(gaps: list[MissingColumn], path: str) -> str:
    """One field no record has: which steps need it, the closest names and the fields there are."""
    steps = ", ".join(g.step for g in gaps)
    return f"no record of {path} has field {gaps[0].field!r}, needed by {steps}{gaps[0].hint()}"


def output_records(result: RunResult) -> Iterator[Record]:
    """Every kept, then every dropped record of a finished run, streamed from its outputs."""
    output = result.metrics["output"]
    for key in ("kept", "dropped"):
        for batch in read_records(result.run_dir / output[key], format=output.get("format"), id_field="id"):
            yield from batch


def write_summary(result: RunResult, extra: dict) -> Path:
    """summary.json: counts in/kept/dropped, reasons per step, plus the command's own figures."""
    from synthpipe.pipeline.rundir import RunDir

    m = result.metrics
    data = {
        "input_records": m["steps"][0]["out"],
        "kept": m["kept"],
        "dropped": m["dropped"],
        "quarantined": m["quarantined"],
        "steps": [{k: s[k] for k in ("name", "step", "in", "kept", "dropped", "reasons")} for s in m["steps"]],
        "outputs": m["output"],
        **extra,
    }
    path = result.run_dir / "summary.json"
    RunDir(result.run_dir).write_json(path, data)
    return path
