"""`synthpipe verify math|code IN --out DIR`: kept, dropped with reasons, summary.json."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from synthpipe.cli import app

MATH = [
    {"id": "right", "question": "2+3?", "candidate": "2 + 3 = 5.\n#### 5", "final_answer": "5"},
    {"id": "boxed", "question": "half of 1?", "candidate": "It is \\boxed{\\frac{1}{2}}", "final_answer": "0.5"},
    {"id": "wrong", "question": "4*4?", "candidate": "4 * 4 = 15\n#### 15", "final_answer": "16"},
    {"id": "silent", "question": "7-2?", "candidate": "I am not sure.", "final_answer": "5"},
    {"id": "nogold", "question": "1+1?", "candidate": "#### 2"},
]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_verify_math_keeps_right_answers_and_explains_the_rest(tmp_path: Path) -> None:
    src = _write(tmp_path / "math.jsonl", MATH)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["verify", "math", str(src), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in _lines(out / "kept.jsonl")] == ["right", "boxed"]
    reasons = {r["id"]: r["_drop"]["reason"] for r in _lines(out / "dropped.jsonl")}
    assert reasons == {"wrong": "wrong_answer", "silent": "no_answer", "nogold": "missing_field"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verified"]["passed"] == 2 and summary["verified"]["pass_rate"] == 0.4
    assert summary["verified"]["failures"] == {"wrong_answer": 1, "no_answer": 1, "missing_field": 1}


def test_verify_math_on_gsm8k_layout(tmp_path: Path) -> None:
    rows = [{"question": "q", "answer": "3 * 4 = <<3*4=12>>12\n#### 12"}]
    src = _write(tmp_path / "gsm.jsonl", rows)
    args = ["verify", "math", str(src), "--out", str(tmp_path / "o"), "--candidate-field", "answer",
            "--gold-field", "answer", "--gold-is-solution", "-q"]  # fmt: skip
    assert CliRunner().invoke(app, args).exit_code == 0
    assert len(_lines(tmp_path / "o" / "kept.jsonl")) == 1


def test_verify_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["verify", "math", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0


def test_verify_math_checks_records_without_a_problem_field(tmp_path: Path) -> None:
    src = _write(tmp_path / "bare.jsonl", [{"id": "a", "candidate": "#### 3", "final_answer": "3"}])
    out = tmp_path / "out"
    assert CliRunner().invoke(app, ["verify", "math", str(src), "--out", str(out), "-q"]).exit_code == 0
    assert [r["id"] for r in _lines(out / "kept.jsonl")] == ["a"]
