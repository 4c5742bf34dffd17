"""`synthpipe filter --judge-model`: the optional LLM judge after the rules, against the scripted
OpenAI-compatible server (tests/support/llm_server.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from synthpipe.run.filter_plan import JUDGE_RUBRIC

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from llm_server import ScriptedOpenAIServer  # noqa: E402

ROWS = [
    {"id": "right", "instruction": "Convert 25 m to km.", "input": "", "output": "25 m is 0.025 km."},
    {"id": "wrong", "instruction": "Convert 25 m to km.", "input": "", "output": "25km"},
    {"id": "nonsense", "instruction": "Increase the font size to 12 points.", "input": "", "output": "The font size has been increased."},
    {"id": "placeholder", "instruction": "Name a river.", "input": "<noinput>", "output": "The Nile."},
]  # fmt: skip


def responder(body: dict) -> str:
    """Low scores for the wrong conversion and the impossible font change, high otherwise."""
    prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")
    response = re.search(r"\[Response\]\n(.*?)\n\[End of response\]", prompt, re.S).group(1)
    low = response.strip() == "25km" or "font size" in response
    score = 2 if low else 9
    criteria = {name: {"rationale": "wrong" if low else "fine", "score": score} for name in JUDGE_RUBRIC}
    return json.dumps({"criteria": criteria, "overall_rationale": "checked", "overall_score": score})


def test_judge_drops_what_rules_cannot_see(tmp_path: Path):
    data = tmp_path / "alpaca.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    with ScriptedOpenAIServer(responder=responder) as server:
        args = ["filter", str(data), "--out", str(tmp_path / "out"), "--judge-model", "test-model",
                "--judge-base-url", server.base_url, "--judge-min-score", "5", "--json"]  # fmt: skip
        env = {**os.environ, "SYNTHPIPE_CACHE_DIR": str(tmp_path / "cache")}  # no replies from earlier runs
        result = subprocess.run([sys.executable, "-m", "synthpipe.cli", *args], capture_output=True, text=True, env=env)
        judged = len(server.requests)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["profile"]["judge"]["criteria"] == list(JUDGE_RUBRIC)
    dropped = {json.loads(line)["id"]: json.loads(line) for line in (tmp_path / "out" / "dropped.jsonl").read_text().splitlines()}
    assert dropped["placeholder"]["_drop"]["reason"] == "placeholder_input"  # the rules run first
    for name in ("wrong", "nonsense"):
        assert dropped[name]["_drop"]["step"] == "judge" and dropped[name]["_drop"]["reason"] == "low_judge_score"
        assert dropped[name]["judge_rationale"]  # the evidence stays on the record
    kept = [json.loads(line)["id"] for line in (tmp_path / "out" / "kept.jsonl").read_text().splitlines()]
    assert kept == ["right"] and judged == 3  # the record the rules dropped was never sent


def test_judge_needs_pairs(tmp_path: Path):
    data = tmp_path / "texts.jsonl"
    data.write_text(json.dumps({"text": "a fine film", "label": 1}) + "\n")
    args = ["filter", str(data), "--out", str(tmp_path / "out"), "--judge-model", "m", "--judge-base-url", "http://127.0.0.1:9"]
    result = subprocess.run([sys.executable, "-m", "synthpipe.cli", *args], capture_output=True, text=True)
    assert result.returncode == 2 and "--judge needs instruction/response pairs" in result.stderr
