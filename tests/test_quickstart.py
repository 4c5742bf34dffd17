"""The quickstart recipe end to end (scaled down in the fast suite, full size marked slow)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run_quickstart(out, *overrides: str) -> dict:
    sets = [arg for o in overrides for arg in ("-s", o)]
    cmd = [sys.executable, "-m", "synthpipe.cli", "run", "quickstart", "--out", str(out), "--json", *sets]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def check_run(out, summary: dict, n: int) -> None:
    steps = {s["name"]: s for s in summary["steps"]}
    assert steps["generate"]["kept"] == n
    assert steps["dedup"]["dropped"] > 0  # the template generator repeats itself sometimes
    kept = [json.loads(line) for line in (out / "kept.jsonl").read_text().splitlines()]
    dropped = (out / "dropped.jsonl").read_text().splitlines()
    assert len(kept) + len(dropped) == n
    assert {r["label"] for r in kept} == {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}
    assert len({r["text"].lower() for r in kept}) == len(kept)
    html = (out / "report.html").read_text()
    assert "dedup" in html and "ABBR" in html
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["kept"] == len(kept)
    # the audit step compares the kept questions with real TREC train and fills the card
    audit = metrics["audit"]["audit"]
    assert [r["name"] for r in audit["signatures"]][:2] == ["mode collapse", "fidelity loss"]
    assert audit["fidelity"]["sample_size"] > 0
    # the kept questions keep the seeds' label mix (issue 14: label drift vs seeds and TREC train)
    drift = next(r for r in audit["signatures"] if r["name"] == "label drift")
    assert drift["status"] != "red" and drift["value"]["tv_vs_seeds"] < 0.2, drift
    assert html.index("Audit summary") < html.index("Funnel")
    assert "fidelity loss" in (out / "card.md").read_text()


def check_experiment(out, variants: int, curve: list[int]) -> None:
    """The loop is closed: every variant scored on real TREC test, shown in the report."""
    result = json.loads((out / "metrics.json").read_text())["experiment"]
    assert set(result["variants"]) == {"seeds-only", "synthetic", "synthetic-unfiltered", "real", "real+synthetic"}
    for name, v in result["variants"].items():
        assert len(v["per_seed"]) == variants, name
        assert v["summary"]["accuracy"]["mean"] > 1 / 6  # every variant beats chance on 6 classes
    assert result["variants"]["real"]["summary"]["accuracy"]["mean"] > 0.6
    diff = result["variants"]["synthetic"]["diff_vs_reference"]
    assert diff["low"] <= diff["diff"] <= diff["high"]
    assert [p["size"] for p in result["learning_curve"]["series"]["synthetic"]] == curve
    html = (out / "report.html").read_text()
    assert "real+synthetic" in html and html.count("<svg") >= 5
    assert json.loads((out / "experiment.json").read_text())["test"]["n"] == result["test"]["n"]
    assert "Does it help?" in (out / "card.md").read_text()


def test_quickstart_scaled_down(tmp_path):
    out = tmp_path / "qs"
    summary = run_quickstart(out, "steps.generate.n=300", "experiment.test_limit=120", "experiment.seeds=2",
                             "experiment.learning_curve=[100]", "experiment.bootstrap=300")  # fmt: skip
    check_run(out, summary, 300)
    check_experiment(out, 2, [100])


@pytest.mark.slow
def test_quickstart_full_size(tmp_path):
    out = tmp_path / "qs"
    check_run(out, run_quickstart(out), 2000)
    check_experiment(out, 3, [100, 250, 500, 1000, 1500])


@pytest.mark.slow
def test_sst2_recipe_experiment(tmp_path):
    """recipes/sst2.yaml: the second classification experiment runs end to end."""
    out = tmp_path / "sst2"
    cmd = [sys.executable, "-m", "synthpipe.cli", "run", "sst2", "--out", str(out), "--json",
           "-s", "experiment.learning_curve=[100]", "-s", "experiment.seeds=2"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    experiment = json.loads((out / "metrics.json").read_text())["experiment"]
    assert experiment["test"]["n"] == 1821
    assert experiment["variants"]["real"]["summary"]["accuracy"]["mean"] > 0.7


def test_sst2_recipe_label_drift_is_red(tmp_path):
    """recipes/sst2.yaml keeps ~585 records whose labels went from 50/50 (seeds) to ~88/12:
    the label-drift signature says so, in metrics.json and in the terminal (issue 14)."""
    out = tmp_path / "sst2"
    cmd = [sys.executable, "-m", "synthpipe.cli", "run", "sst2", "--out", str(out),
           "-s", "experiment=null", "-s", "steps.audit.embed=false"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    audit = json.loads((out / "metrics.json").read_text())["audit"]["audit"]
    row = next(r for r in audit["signatures"] if r["name"] == "label drift")
    assert row["status"] == "red", row
    assert row["value"]["tv_vs_seeds"] > 0.2 and row["value"]["tv_vs_reference"] > 0.2
    assert any("label drift" in line and "red" in line for line in result.stdout.splitlines())
    html = (out / "report.html").read_text()
    assert "label drift <b>red</b>" in html and "seeds (n = " in html  # the light; shares beside the seeds'
