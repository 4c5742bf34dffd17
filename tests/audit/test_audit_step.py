"""The `audit` recipe step: records pass through, the run's report, metrics and card include it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthpipe.audit.step import AUDIT_FILE, Audit
from synthpipe.cli import app
from synthpipe.curate.exact_dedup import ExactDedup
from synthpipe.errors import UsageError
from synthpipe.pipeline.sources import FromRecords
from synthpipe.run.api import Pipeline

REAL = [f"Where did the {w} expedition of {y} start its journey ?" for w, y in
        zip(["polar", "desert", "river", "mountain", "jungle", "island"] * 5, range(1900, 1930), strict=True)]  # fmt: skip


def _records(n: int = 40) -> list[dict]:
    texts = [f"What is the name of the {i % 7} largest lake in region {i % 5} ?" for i in range(n)]
    return [{"id": f"r{i}", "text": t, "label": "LOC"} for i, t in enumerate(texts)]


def _reference(tmp_path: Path) -> Path:
    path = tmp_path / "real.jsonl"
    path.write_text("".join(json.dumps({"question": t, "coarse": "LOC"}) + "\n" for t in REAL))
    return path


def _pipeline(tmp_path: Path, **audit) -> Pipeline:
    steps = {"src": FromRecords(records=_records()), "dedup": ExactDedup(),
             "audit": Audit(embed=False, **audit)}  # fmt: skip
    return Pipeline("audited", steps)


def test_audit_step_keeps_every_record_and_fills_report_metrics_and_card(tmp_path: Path) -> None:
    ref = _reference(tmp_path)
    result = _pipeline(tmp_path, reference=str(ref), reference_text_field="question",
                       reference_label_field="coarse").run(tmp_path / "run")  # fmt: skip
    steps = {s["name"]: s for s in result.metrics["steps"]}
    assert steps["audit"]["in"] == steps["audit"]["kept"] == 35  # dedup dropped 5, audit none
    audit = result.metrics["audit"]["audit"]
    assert audit["n_records"] == 35 and audit["reference"]["n_records"] == len(REAL)
    assert {r["name"] for r in audit["signatures"]} >= {"mode collapse", "fidelity loss", "contamination"}
    assert audit["fidelity"]["sample_size"] == 30  # equal sizes: min(35, 30)
    html = (tmp_path / "run" / "report.html").read_text()
    assert html.index('id="audit-lights"') < html.index('id="audit-summary"') < html.index('id="diversity"')
    assert html.index('id="diversity"') < html.index('id="funnel"')  # verdict and evidence, then the run's steps
    card = (tmp_path / "run" / "card.md").read_text()
    assert "mode collapse" in card


def test_audit_result_survives_a_rerun_and_changes_with_the_reference(tmp_path: Path) -> None:
    ref = _reference(tmp_path)
    pipe = _pipeline(tmp_path, reference=str(ref), reference_text_field="question")
    pipe.run(tmp_path / "run")
    stored = next((tmp_path / "run" / "steps").glob(f"*audit/{AUDIT_FILE}"))
    first = json.loads(stored.read_text())
    again = pipe.run(tmp_path / "run")
    assert all(s["reused"] for s in again.metrics["steps"])
    assert again.metrics["audit"]["audit"]["diversity"] == first["diversity"]
    ref.write_text(ref.read_text() + json.dumps({"question": "Who wrote Hamlet ?"}) + "\n")
    changed = pipe.run(tmp_path / "run")
    assert changed.metrics["audit"]["audit"]["reference"]["n_records"] == len(REAL) + 1


def test_missing_reference_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="nope.jsonl"):
        _pipeline(tmp_path, reference=str(tmp_path / "nope.jsonl")).run(tmp_path / "run")


def test_cli_audit_of_a_run_directory_shows_its_funnel(tmp_path: Path) -> None:
    _pipeline(tmp_path).run(tmp_path / "run")
    out = tmp_path / "audit"
    result = CliRunner().invoke(app, ["audit", str(tmp_path / "run"), "--out", str(out), "--no-embed"])
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    assert "Funnel" in html and "duplicate" in html  # dedup's drops come from the ledger
    assert json.loads((out / "metrics.json").read_text())["n_records"] == 35


def test_run_prints_the_audit_signatures_in_the_terminal(tmp_path: Path) -> None:
    """issue 14: the label-drift row (and every other signature) shows after the funnel."""
    data, seeds = tmp_path / "data.jsonl", tmp_path / "seeds.jsonl"
    data.write_text("".join(json.dumps({"text": f"review number {i} of the film", "label": "neg" if i < 88 else "pos"})
                            + "\n" for i in range(100)))  # fmt: skip
    seeds.write_text("".join(json.dumps({"text": "s", "label": lab}) + "\n" for lab in ["neg", "pos"] * 5))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""name: drift
steps:
  src: {{step: read, path: "{data}", label_field: label}}
  audit: {{step: audit, embed: false, seeds: "{seeds}"}}
""")
    result = CliRunner().invoke(app, ["run", str(recipe), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "audit (audit)" in result.output
    line = next(x for x in result.output.splitlines() if "label drift" in x)
    assert "red" in line and "vs seeds" in line
    audit = json.loads((tmp_path / "run" / "metrics.json").read_text())["audit"]["audit"]
    assert audit["inputs"]["seeds"] == str(seeds)
    assert next(r for r in audit["signatures"] if r["name"] == "label drift")["status"] == "red"
