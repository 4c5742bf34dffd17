"""`synthpipe audit DATA --reference REAL --out DIR` writes report.html, metrics.json and card.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TREC = Path(__file__).resolve().parents[2] / "src" / "synthpipe" / "resources" / "data" / "trec"


def test_audit_command_writes_report_metrics_and_card(tmp_path):
    out = tmp_path / "audit"
    cmd = [sys.executable, "-m", "synthpipe.cli", "audit", str(TREC / "seeds.jsonl"), "--reference",
           str(TREC / "test.jsonl"), "--out", str(out), "--no-embed", "--json"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    audit = json.loads(result.stdout)
    assert {row["name"] for row in audit["signatures"]} >= {"mode collapse", "fidelity loss", "contamination"}
    for name in ("report.html", "metrics.json", "card.md"):
        assert (out / name).stat().st_size > 0
    assert "http://" not in (out / "report.html").read_text() and "https://" not in (out / "report.html").read_text()
    missing = subprocess.run([sys.executable, "-m", "synthpipe.cli", "audit", str(tmp_path / "nope.jsonl"), "--out", str(out)],
                             capture_output=True, text=True)  # fmt: skip
    assert missing.returncode == 2
