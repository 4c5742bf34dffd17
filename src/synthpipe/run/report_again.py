"""The run report of a run directory: written at the end of a run, and written again from a
finished run directory (``synthpipe report RUN_DIR``) without running anything, e.g. after an
upgrade changed the report.

Everything comes from the directory: ``metrics.json`` (with the audit and the experiment),
the kept records and the ledger (an evenly spaced sample of each, as the run keeps), and the
recipe copy for the text and label fields and the models used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import yaml

from synthpipe.data.run_outputs import sample_output
from synthpipe.errors import UsageError
from synthpipe.report.run_report import write_run_report

REPORT_SAMPLE = 20_000  # as a run keeps (run.api): the statistics use this many evenly spaced records


def model_names(llms: Mapping[str, object], metrics: dict) -> list[str]:
    """The models of the recipe's LLMs the run called (all of them when usage was not
    recorded); a local model directory by its name only, never the machine's path."""
    used = (metrics.get("llm") or {}).get("endpoints") or llms
    out = []
    for name in used:
        config = llms.get(name)
        model = getattr(config, "model", None) or (config.get("model") if isinstance(config, dict) else None)
        if model:
            out.append(Path(model).name if str(model).startswith(("/", "~", ".")) else str(model))
    return out


def write_report_for_run(
    root: Path, metrics: dict, kept: list[dict], dropped: list[dict], *,
    text_field: str, label_field: str, models: list[str],
) -> Path:  # fmt: skip
    """``root/report.html`` from a run's metrics and its (sampled) kept and dropped records."""
    notes = []
    if metrics.get("kept", 0) > len(kept) or metrics.get("dropped", 0) > len(dropped):
        notes.append(("Sampling", f"<p>Counts cover every record. Length, label and diversity statistics and "
                      f"samples use an evenly spaced sample of {len(kept):,} of {metrics['kept']:,} kept and "
                      f"{len(dropped):,} of {metrics['dropped']:,} dropped records.</p>"))  # fmt: skip
    return write_run_report(root, metrics, kept, dropped, text_field=text_field, label_field=label_field,
                            models=models, notes=notes)  # fmt: skip


def report_again(run_dir: str | Path) -> Path:
    """Render ``run_dir/report.html`` again from the finished run directory; returns its path."""
    root = Path(run_dir)
    metrics_path = root / "metrics.json"
    if not metrics_path.is_file():
        raise UsageError(f"{root} is not a finished run directory (no metrics.json): run it to the end first")
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{metrics_path}: not valid JSON (line {exc.lineno}): {exc.msg}") from exc
    recipe = _recipe(root)
    out = recipe.get("output") or {}
    kept = sample_output(root, "kept", REPORT_SAMPLE, metrics.get("kept"))  # the records the run sampled
    dropped = sample_output(root, "dropped", REPORT_SAMPLE, metrics.get("dropped"))
    return write_report_for_run(root, metrics, kept, dropped, text_field=out.get("text_field") or "text",
                                label_field=out.get("label_field") or "label",
                                models=model_names(recipe.get("llms") or {}, metrics))  # fmt: skip


def _recipe(root: Path) -> dict:
    path = root / "recipe.yaml"
    if not path.is_file():
        return {}
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML ({exc}); fix or delete it to use the default fields") from exc

