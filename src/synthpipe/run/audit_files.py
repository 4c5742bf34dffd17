"""``synthpipe audit`` on disk: read a data file or a run directory, audit it, write the results.

Writes ``metrics.json`` (the audit with its signature rows), ``report.html`` (the run report
led by the audit's lights) and ``card.md`` (the dataset card) to an output directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synthpipe.audit.dataset import audit_dataset
from synthpipe.audit.signatures import signatures
from synthpipe.data.readers import read_all
from synthpipe.data.run_outputs import output_path
from synthpipe.report.card import dataset_card
from synthpipe.report.run_report import write_run_report


def read_audit_records(path: str | Path, text_field: str, label_field: str) -> list[dict]:
    """Records with the text as ``text`` and the label (when the column exists) as ``label``:
    mapping an absent column is a no-op for the reader. The text also stays under its own
    name, so the audit can tell a response field (``output``) from a prompt."""
    records = read_all(path, fields={"text": text_field, "label": label_field})
    if text_field not in ("text", label_field):
        for record in records:
            record[text_field] = record.get("text")
    return records


def run_dir_outputs(path: Path) -> tuple[Path, Path | None, dict] | None:
    """(kept file, dropped ledger, run metrics) when ``path`` is a synthpipe run directory."""
    metrics_path = path / "metrics.json"
    if not (path.is_dir() and metrics_path.exists() and (path / "run.json").exists()):
        return None
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    kept, dropped = output_path(path, "kept"), output_path(path, "dropped")  # a file or a sharded directory
    return kept, (dropped if dropped.exists() else None), metrics


def run_audit(
    data_path: str | Path,
    out_dir: str | Path,
    reference_path: str | Path | None = None,
    text_field: str = "text",
    label_field: str = "label",
    embed: bool = True,
    *,
    run_metrics: dict | None = None,
    sample: int = 2000,
    seed: int = 0,
    embed_field: str = "auto",
    seeds_path: str | Path | None = None,
) -> dict[str, Any]:
    """Audit ``data_path`` (optionally vs ``reference_path``) and write ``metrics.json``,
    ``report.html`` and ``card.md`` to ``out_dir``. Returns the audit dict.

    ``data_path`` may be a run directory: its kept records are audited, and its metrics and
    dropped ledger give the report its funnel, drop reasons and contamination facts.
    ``embed_field`` says what fidelity embeds (``auto``: the response side of prompt/response
    records); the labels of ``seeds_path`` anchor the label-drift signature."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = run_dir_outputs(Path(data_path))
    dropped: list[dict] = []
    if run is not None:
        kept_path, dropped_path, metrics = run
        run_metrics = run_metrics or metrics
        records = read_audit_records(kept_path, text_field, label_field)
        dropped = read_audit_records(dropped_path, text_field, label_field) if dropped_path else []
    else:
        records = read_audit_records(data_path, text_field, label_field)
    reference = read_audit_records(reference_path, text_field, label_field) if reference_path else None
    seeds = read_audit_records(seeds_path, text_field, label_field) if seeds_path else None
    audit = audit_dataset(records, reference, text_field="text", label_field="label", embed=embed,
                          sample=sample, seed=seed, run_metrics=run_metrics, dropped=dropped,
                          embed_field=embed_field, seeds=seeds)  # fmt: skip
    audit["text_field"], audit["label_field"] = text_field, label_field
    audit["inputs"] = {"data": str(data_path),
                       "reference": None if reference_path is None else str(reference_path),
                       "seeds": None if seeds_path is None else str(seeds_path)}  # fmt: skip
    audit["signatures"] = signatures(audit)
    (out / "metrics.json").write_text(json.dumps(audit, indent=2, default=str) + "\n", encoding="utf-8")
    _write_report(out, audit, Path(data_path).name, run[2] if run else None, records, dropped, seed)
    (out / "card.md").write_text(dataset_card(audit, run_metrics, records=records), encoding="utf-8")
    return audit


def _write_report(out: Path, audit: dict, name: str, run_metrics: dict | None,
                  records: list[dict], dropped: list[dict], seed: int) -> None:  # fmt: skip
    """report.html: the audit's lights and sections first, then the run's funnel and drop
    reasons when the input was a run directory (its own counts), else only the file's record count."""
    if run_metrics is not None:
        report_metrics = {**run_metrics, "run": {**run_metrics.get("run", {}), "name": f"audit of run {name}"}}
    else:
        report_metrics = {"run": {"name": f"audit of {name}", "seed": seed},
                          "steps": [], "kept": len(records), "dropped": 0}  # fmt: skip
    report_metrics["audit"] = {"audit": audit}
    write_run_report(out, report_metrics, kept=records, dropped=dropped)
