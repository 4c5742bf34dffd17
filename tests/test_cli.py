"""The CLI: exit codes (0 ok, 1 failure, 2 usage error), listing commands, inspect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOY = Path(__file__).parent / "pipeline"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(TOY)}
    return subprocess.run(
        [sys.executable, "-m", "synthpipe.cli", *args], capture_output=True, text=True, env=env, cwd=cwd
    )


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    path = tmp_path / "seeds.jsonl"
    rows = [{"q": f"question number {i} about things", "y": "A" if i % 2 else "B"} for i in range(12)]
    lines = [json.dumps(r) for r in rows]
    lines.insert(3, "{not json")
    path.write_text("\n".join(lines) + "\n")
    return path


def reader_recipe(tmp_path: Path, seeds: Path) -> Path:
    recipe = tmp_path / "read.yaml"
    recipe.write_text(
        f"name: readit\nsteps:\n  read: {{step: read, path: '{seeds}', text_field: q, label_field: y}}\n"
        "  filter: {step: text_filter}\n  dedup: {step: exact_dedup}\n"
    )
    return recipe


def test_version_and_help():
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("synthpipe ")
    assert cli("--help").returncode == 0


def test_run_ok_quarantines_bad_records_and_reports_json(tmp_path, seeds):
    result = cli("run", str(reader_recipe(tmp_path, seeds)), "--out", str(tmp_path / "run"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["kept"] == 12 and summary["quarantined"] == 1
    [bad] = [json.loads(line) for line in (tmp_path / "run" / "quarantine.jsonl").read_text().splitlines()]
    assert bad["file"].endswith("seeds.jsonl") and bad["line"] == 4 and "JSON" in bad["reason"]


def test_strict_mode_fails_with_file_and_line(tmp_path, seeds):
    result = cli("run", str(reader_recipe(tmp_path, seeds)), "--out", str(tmp_path / "run"), "--strict", "-q")
    assert result.returncode == 1
    assert "seeds.jsonl:4" in result.stderr and "Traceback" not in result.stderr


def test_usage_errors_exit_2_without_traceback(tmp_path, seeds):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps:\n  read: {step: raed, path: x}\n")
    result = cli("run", str(bad))
    assert result.returncode == 2
    assert "bad.yaml:3" in result.stderr and "did you mean 'read'" in result.stderr
    assert "Traceback" not in result.stderr
    assert cli("run", str(tmp_path / "missing.yaml")).returncode == 2
    assert cli("run", "--no-such-flag", "x").returncode == 2
    assert cli("frobnicate").returncode == 2
    recipe = reader_recipe(tmp_path, seeds)
    assert cli("run", str(recipe), "-s", "steps.filter.min_wrds=2").returncode == 2
    assert cli("inspect", str(tmp_path / "nope")).returncode == 2


def test_steps_recipes_and_inspect(tmp_path, seeds):
    listing = cli("steps")
    assert listing.returncode == 0
    for name in ("read", "slot_template", "text_filter", "exact_dedup"):
        assert name in listing.stdout
    assert "min_words" in cli("steps", "text_filter").stdout
    assert "quickstart" in cli("recipes").stdout
    out = tmp_path / "run"
    assert cli("run", str(reader_recipe(tmp_path, seeds)), "--out", str(out), "-q").returncode == 0
    shown = cli("inspect", str(out))
    assert shown.returncode == 0
    assert "filter" in shown.stdout and "dedup" in shown.stdout and "question number" in shown.stdout
    funnel = json.loads(cli("inspect", str(out), "--json").stdout)
    assert [s["name"] for s in funnel["steps"]] == ["read", "filter", "dedup"]


def test_convert_maps_fields_and_quarantines(tmp_path, seeds):
    target = tmp_path / "out.parquet"
    result = cli("convert", str(seeds), str(target), "--text-field", "q", "--label-field", "y")
    assert result.returncode == 0, result.stderr
    assert "wrote 12 records" in result.stdout and "quarantined 1" in result.stdout
    from synthpipe.data.readers import read_all

    rows = read_all(target)
    assert len(rows) == 12 and rows[0]["text"].startswith("question number") and rows[0]["label"] in "AB"
    assert cli("convert", str(seeds), str(tmp_path / "x.csv"), "--text-field", "q", "--strict").returncode == 1
