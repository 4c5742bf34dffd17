"""recipes/math.yaml and recipes/code.yaml run offline end to end (scaled down)."""

from __future__ import annotations

import json
from pathlib import Path

from synthpipe.run.api import Pipeline

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_math_recipe_generates_verified_decontaminated_audited_problems(tmp_path: Path) -> None:
    # experiment=null: its LoRA fine-tuning is a benchmark (benchmarks/bench_math_sft.py)
    overrides = ["steps.generate.n=200", "steps.audit.embed=false", "experiment=null"]
    pipe = Pipeline.from_recipe(RECIPES / "math.yaml", overrides)
    result = pipe.run(tmp_path / "run")
    steps = {s["name"]: s for s in result.metrics["steps"]}
    assert steps["generate"]["kept"] == 200
    assert steps["verify"]["dropped"] == 0  # procedural solutions are correct by construction
    kept = result.kept
    assert all(r["verification"]["passed"] for r in kept)
    assert all(r["answer"].rstrip().endswith(f"#### {r['final_answer']}") for r in kept)
    audit = result.metrics["audit"]["audit"]
    rows = {r["name"]: r for r in audit["signatures"]}
    assert rows["factuality signals"]["status"] == "green"
    assert rows["contamination"]["status"] in ("green", "amber")
    assert audit["reference"]["n_records"] == 7473  # bundled GSM8K train
    card = (tmp_path / "run" / "card.md").read_text()
    assert "math_word_problems" in card
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["kept"] == len(kept)


def test_code_recipe_runs_programs_in_the_sandbox_and_decontaminates(tmp_path: Path) -> None:
    pipe = Pipeline.from_recipe(RECIPES / "code.yaml", ["steps.problems.limit=40", "steps.audit.embed=false"])
    result = pipe.run(tmp_path / "run")
    steps = {s["name"]: s for s in result.metrics["steps"]}
    assert steps["verify"]["in"] == 40 and steps["verify"]["dropped"] == 0  # MBPP's own code passes
    kept = result.kept
    assert kept and all(r["verification"]["passed"] for r in kept)
    assert {t["status"] for r in kept for t in r["verification"]["tests"]} == {"pass"}
    for r in result.dropped:  # MBPP train repeats some test-split tasks: those leave as contaminated
        assert r["_drop"]["reason"] in ("duplicate", "contaminated")


def test_verify_code_cli_reports_failing_programs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from synthpipe.cli import app

    rows = [
        {"id": "ok", "code": "def add(a, b):\n    return a + b", "tests": ["assert add(1, 2) == 3"]},
        {"id": "bad", "code": "def add(a, b):\n    return a - b", "tests": ["assert add(1, 2) == 3"]},
        {"id": "loop", "code": "def add(a, b):\n    while True: pass", "tests": ["assert add(1, 2) == 3"]},
    ]
    src = tmp_path / "code.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    args = ["verify", "code", str(src), "--out", str(out), "--timeout", "2", "-q"]
    assert CliRunner().invoke(app, args).exit_code == 0
    kept = [json.loads(x)["id"] for x in (out / "kept.jsonl").read_text().splitlines()]
    dropped = {json.loads(x)["id"]: json.loads(x)["_drop"]["reason"] for x in (out / "dropped.jsonl").read_text().splitlines()}
    assert kept == ["ok"] and dropped == {"bad": "failed_test", "loop": "timeout"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verified"]["failures"] == {"failed_test": 1, "timeout": 1}
