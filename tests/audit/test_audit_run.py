"""Audit runner: TREC vs TREC (healthy), a collapsed set (red), report and card contents."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from synthpipe.audit.dataset import audit_dataset
from synthpipe.audit.signatures import signatures
from synthpipe.report.audit_section import audit_sections
from synthpipe.report.card import dataset_card
from synthpipe.run.audit_files import run_audit

TREC = Path(__file__).resolve().parents[3] / "shared" / "data" / "trec"  # ../shared beside the clone (as in CI)


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
    assert "length in words: synthetic vs reference" in html  # both sets on shared bins
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I)
    assert not re.search(r"<script[^>]*\ssrc=", html)  # inline scripts only

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


def test_bias_row_flags_gender_skew_vs_balanced_reference():
    women = ["She is a nurse and she works nights.", "The young woman said her mother was a teacher.",
             "She told her daughter about the job.", "Her sister is a doctor; she loves it."]  # fmt: skip
    men = ["He is a nurse and he works nights.", "The elderly man said his father was a teacher.",
           "He told his son about the job.", "His brother is a doctor; he loves it."]  # fmt: skip
    records = [{"text": f"{women[i % 4]} Item {i}."} for i in range(80)]
    reference = [{"text": f"{(women + men)[i % 8]} Item {i}."} for i in range(80)]
    audit = audit_dataset(records, reference, embed=False)
    bias = audit["bias"]
    assert bias["n_texts"] == 80 and bias["reference"]["n_texts"] == 80
    assert bias["demographic_representation"]["counts"]["male"] == 0
    row = next(r for r in signatures(audit) if r["name"] == "bias amplification")
    assert row["status"] in ("red", "amber")
    assert row["value"]["gender_tvd_vs_reference"] == pytest.approx(0.5, abs=0.05)
    assert row["value"]["female_share"] == 1.0

    sections = dict(audit_sections(audit))
    html = sections["Bias and representation"]
    assert "<svg" in html and "bias-gender" in html and "HELM" in html and "bias-axis" in html
    card = dataset_card(audit)
    assert "### Bias and representation" in card and "100% female" in card

    # synthetic set alone: HELM demographic representation 0.5 -> still flagged
    alone = audit_dataset(records, embed=False)
    assert _status(alone, "bias amplification") == "red"
    # balanced synthetic set vs balanced reference -> green
    balanced = audit_dataset(reference, reference, embed=False)
    assert _status(balanced, "bias amplification") == "green"


def test_bias_row_na_without_gendered_words_and_escapes():
    records = [{"text": f"<i>what</i> is the capital of country {i}?"} for i in range(30)]
    audit = audit_dataset(records, embed=False)
    assert _status(audit, "bias amplification") == "n/a"
    assert _status(audit, "factuality signals") == "n/a"
    html = dict(audit_sections(audit))["Bias and representation"]
    assert "<i>" not in html


def test_factuality_row_from_grounding_score():
    good = [{"text": f"q{i}", "grounding_score": 0.8 + (i % 5) * 0.04} for i in range(50)]
    audit = audit_dataset(good, embed=False)
    f = audit["factuality"]
    assert f["n"] == 50 and f["share_below"] == 0.0
    assert f["mean"] == pytest.approx(0.88)
    row = next(r for r in signatures(audit) if r["name"] == "factuality signals")
    assert row["status"] == "green" and set(row["value"]) == {"mean", "p10", "share_below"}

    weak = good[:30] + [{"text": f"w{i}", "grounding_score": 0.3} for i in range(20)]
    audit = audit_dataset(weak, embed=False)
    assert audit["factuality"]["share_below"] == pytest.approx(0.4)
    assert audit["factuality"]["p10"] == pytest.approx(0.3)
    assert _status(audit, "factuality signals") == "amber"
    json.dumps(audit, default=str)  # metrics.json stays serialisable


def test_factuality_row_uses_verifier_pass_rates_and_flags_kept_failures() -> None:
    from synthpipe.audit.run_facts import verification_facts as _verification
    from synthpipe.audit.signatures import signatures

    metrics = {"steps": [{"name": "check", "step": "verify_math", "verifies": True, "in": 200, "kept": 150, "dropped": 50,
                          "reasons": {"wrong_answer": 50}}]}  # fmt: skip
    passed = [{"verification": {"passed": True}}] * 10
    v = _verification(metrics, passed)
    assert v["steps"]["check"]["pass_rate"] == 0.75 and v["records_failed"] == 0
    row = signatures({"verification": v})[-1]
    assert row["status"] == "green" and "150 of 200 (75.0%)" in row["explanation"]
    flagged = passed + [{"verification": {"passed": False}}]
    row = signatures({"verification": _verification(None, flagged)})[-1]
    assert row["status"] == "red" and "1 of 11" in row["explanation"]
    assert _verification({"steps": [{"name": "f", "step": "text_filter", "in": 5, "kept": 5}]}, []) is None
