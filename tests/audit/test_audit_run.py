"""Audit runner: TREC vs TREC (healthy), a collapsed set (red), report and card contents."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from synthpipe.audit.card import dataset_card
from synthpipe.audit.run import audit_dataset, audit_sections, run_audit, signatures

TREC = Path("/work/shared/data/trec")


def _trec(name: str, n: int) -> list[dict]:
    path = TREC / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    step = max(1, len(rows) // n)
    return rows[::step][:n]


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _status(audit: dict, name: str) -> str:
    return next(r["status"] for r in signatures(audit) if r["name"] == name)


def test_run_audit_trec_vs_trec(tmp_path):
    data = _write_csv(tmp_path / "train.csv", _trec("train.csv", 500))
    ref = _write_csv(tmp_path / "test.csv", _trec("test.csv", 500))
    out = tmp_path / "audit"
    audit = run_audit(data, out, reference_path=ref, label_field="label_coarse", embed=False)

    for name in ("metrics.json", "report.html", "card.md"):
        assert (out / name).is_file()
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["n_records"] == 500
    assert saved["fidelity"]["sample_size"] == 500
    assert "equal sample sizes" in saved["fidelity"]["note"]
    assert saved["labels"]["n_labels"] == 6
    assert "labels" in saved["fidelity"]  # label TV computed on the mapped labels
    assert saved["embeddings"]["used"] is False

    rows = {r["name"]: r for r in audit["signatures"]}
    assert rows["mode collapse"]["status"] == "green"
    # TREC test questions are shorter than train ones (7.5 vs 10.5 words): length KS 0.35
    assert rows["fidelity loss"]["status"] == "amber"
    assert "length_ks" in rows["fidelity loss"]["explanation"]
    assert rows["contamination"]["status"] == "n/a"

    html = (out / "report.html").read_text()
    assert 'class="audit-summary"' in html and "mode collapse" in html
    assert "Length in words: reference" in html
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I)
    assert "<script" not in html

    card = (out / "card.md").read_text()
    assert "## Audit" in card and "## Known limitations" in card
    assert f"{audit['diversity']['distinct_2']:.3f}" in card
    assert f"{audit['fidelity']['length']['ks']:.3f}" in card
    assert "No run metrics were given" in card


def test_collapsed_set_is_red():
    base = [
        "the movie was great and i loved it",
        "what a terrible waste of two hours",
        "an honest film about a small town",
        "the acting felt flat and lifeless",
        "a charming story with a big heart",
        "i would not recommend this to anyone",
        "the soundtrack alone is worth the ticket",
        "too long by at least half an hour",
        "smart funny and surprisingly moving",
        "the plot makes no sense at all",
    ]
    records = [{"text": base[i % 10], "label": i % 2} for i in range(500)]
    audit = audit_dataset(records, embed=False)
    assert audit["diversity"]["mode_collapse"]["flag"]
    assert _status(audit, "mode collapse") == "red"
    assert _status(audit, "fidelity loss") == "n/a"
    summary = audit_sections(audit)[0][1]
    assert "#D55E00" in summary and ">red<" in summary


def test_html_escapes_and_contamination_from_run_metrics():
    records = [{"text": f"<b>q{i}</b> & <script>x</script> {i} words here", "label": "<x>"}
               for i in range(60)]  # fmt: skip
    metrics = {
        "run": {"name": "demo"},
        "kept": 60,
        "dropped": 3,
        "steps": [
            {"name": "gen", "step": "zerogen", "in": 0, "out": 63, "dropped": 0, "reasons": {}},
            {"name": "decon", "step": "decontaminate", "in": 63, "kept": 60, "dropped": 3,
             "reasons": {"contaminated": 3}},
        ],
    }  # fmt: skip
    records[0]["_lineage"] = {"gen": {"technique": "ZeroGen", "template": "abc123", "seed": 1}}
    audit = audit_dataset(records, embed=False, run_metrics=metrics)
    row = next(r for r in signatures(audit) if r["name"] == "contamination")
    assert row["status"] == "amber" and row["value"]["dropped"] == 3
    html = "".join(body for _, body in audit_sections(audit))
    assert "<script>" not in html
    card = dataset_card(audit, metrics, records=records)
    assert "decontaminate" in card and "contaminated (3)" in card
    assert "`abc123`" in card and "`ZeroGen`" in card


def test_small_embedded_audit():
    try:
        from synthpipe.embeddings import get_embedder

        get_embedder().encode(["probe"])
    except Exception as exc:
        pytest.skip(f"MiniLM embedder not available: {exc}")
    rows = _trec("train.csv", 200)
    ref = _trec("test.csv", 200)
    records = [{"text": r["text"], "label": r["label_coarse"]} for r in rows]
    reference = [{"text": r["text"], "label": r["label_coarse"]} for r in ref]
    audit = audit_dataset(records, reference, embed=True)
    assert audit["embeddings"]["used"]
    assert "vendi_per_text" in audit["diversity"]
    assert {"precision", "recall"} <= set(audit["fidelity"]["prdc"])
    assert "mauve" in audit["fidelity"]
    assert _status(audit, "mode collapse") == "green"
    assert _status(audit, "fidelity loss") in ("green", "amber")
