"""One-shot curation commands (`synthpipe dedup|decontaminate|filter|pii IN --out DIR`).

Each builds a small pipeline (read IN -> the curation step(s)) and runs it into DIR, so it
gets everything a recipe run gets: checkpoints and resume, the ledger, metrics and report.
Records keep their field names and ids; the output format follows the input unless given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthpipe.data.formats import detect_format
from synthpipe.pipeline.sources import ReadRecords
from synthpipe.pipeline.step import Step
from synthpipe.run.api import Pipeline, RunResult

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
) -> RunResult:
    fmt = fmt or detect_format(source)
    if fmt not in _OUTPUT_FORMATS:
        fmt = "jsonl"
    reader = ReadRecords(path=str(source), text_field=text_field, keep_field_names=True, require_text=require_text)
    pipeline = Pipeline(name, {"read": reader, **steps}, output={"format": fmt, "text_field": text_field})
    result = pipeline.run(out, fresh=fresh, strict=strict, progress=progress)
    write_summary(result, summary or {})
    return result


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
