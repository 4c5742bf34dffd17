"""Label drift: the kept labels against the seeds and the reference (issue 14)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from synthpipe.audit.dataset import audit_dataset
from synthpipe.audit.labels import compare_labels, label_drift
from synthpipe.audit.signatures import LABEL_DRIFT_THRESHOLDS, signatures
from synthpipe.report.audit_section import audit_sections
from synthpipe.report.card import dataset_card


def _row(audit: dict) -> dict:
    return next(r for r in signatures(audit) if r["name"] == "label drift")


def test_compare_labels_hand():
    c = compare_labels(["neg"] * 88 + ["pos"] * 12, ["neg", "pos"] * 10)
    assert c["tv"] == pytest.approx(0.38)
    s = c["largest_shift"]
    assert s["label"] == "neg" and s["kept"] == pytest.approx(0.88) and s["anchor"] == 0.5
    assert s["kept_ci"][0] < 0.88 < s["kept_ci"][1]
    assert compare_labels([], ["a"]) is None
    assert label_drift([None, None], ["a"]) is None
    assert label_drift(["a"]) is None  # nothing to compare with


def test_sst2_style_drift_is_red():
    """585 kept records at 88/12 from seeds at 50/50 and a reference at 48/52."""
    kept = [{"text": f"t{i}", "label": "negative" if i < 516 else "positive"} for i in range(585)]
    seeds = [{"label": lab} for lab in ["negative", "positive"] * 10]
    ref = [{"text": f"r{i}", "label": "negative" if i < 48 else "positive"} for i in range(100)]
    audit = audit_dataset(kept, ref, embed=False, seeds=seeds)
    row = _row(audit)
    assert row["status"] == "red"
    assert row["value"]["tv_vs_seeds"] == pytest.approx(0.382, abs=1e-3)
    assert "`negative` 88%" in row["explanation"] and "vs 50%" in row["explanation"]
    html = "".join(body for _, body in audit_sections(audit))
    assert "label-drift" in html and "total variation vs seeds" in html
    card = dataset_card(audit)
    assert "seeds fraction" in card and "Total variation of the kept labels" in card


def test_drift_green_amber_and_the_closer_anchor():
    balanced = ["a", "b"] * 50
    assert _row({"label_drift": label_drift(balanced, ["a", "b"] * 5)})["status"] == "green"
    skew = ["a"] * 65 + ["b"] * 35
    assert _row({"label_drift": label_drift(skew, ["a", "b"] * 5)})["status"] == "amber"
    # rebalanced on purpose towards the seeds, far from a 90/10 reference: not drift
    d = label_drift(balanced, ["a", "b"] * 5, ["a"] * 90 + ["b"] * 10)
    assert d["reference"]["tv"] == pytest.approx(0.4)
    assert _row({"label_drift": d})["status"] == "green"


def test_few_records_at_most_amber_and_na():
    few = ["a"] * (LABEL_DRIFT_THRESHOLDS["min_records"] - 1)
    row = _row({"label_drift": label_drift(few, ["a", "b"])})
    assert row["status"] == "amber" and "too few" in row["explanation"]
    assert _row({"label_drift": None})["status"] == "n/a"
    assert (
        _row(audit_dataset([{"text": "x y z", "label": "a"}] * 5, embed=False))["status"] == "n/a"
    )


def test_audit_cli_prints_label_drift(tmp_path):
    data, seeds = tmp_path / "data.jsonl", tmp_path / "seeds.jsonl"
    data.write_text("".join(json.dumps({"text": f"text number {i}", "label": "x" if i < 90 else "y"}) + "\n"
                            for i in range(100)))  # fmt: skip
    seeds.write_text(
        "".join(json.dumps({"text": "s", "label": lab}) + "\n" for lab in ["x", "y"] * 5)
    )
    cmd = [sys.executable, "-m", "synthpipe.cli", "audit", str(data), "--seeds", str(seeds), "--out",
           str(tmp_path / "out"), "--no-embed"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if "label drift" in x)
    assert line.strip().startswith("red") and "TV 0.40" in line
