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
    assert html.index("Audit summary") < html.index("Funnel")
    assert "fidelity loss" in (out / "card.md").read_text()


def test_quickstart_scaled_down(tmp_path):
    out = tmp_path / "qs"
    summary = run_quickstart(out, "steps.generate.n=300")
    check_run(out, summary, 300)


@pytest.mark.slow
def test_quickstart_full_size(tmp_path):
    out = tmp_path / "qs"
    check_run(out, run_quickstart(out), 2000)
