"""recipes/math_rft.yaml end to end against the scripted server (20 GSM8K train problems)."""

from __future__ import annotations

import gzip
import json

from llm_server import ScriptedOpenAIServer, last_user_content

from synthpipe.data.paths import resolve_data_path

GOLD = {}
with gzip.open(resolve_data_path("bundled:gsm8k/train.jsonl.gz"), "rt") as fh:
    for line, _ in zip(fh, range(20), strict=False):
        row = json.loads(line)
        GOLD[row["question"]] = row["final_answer"]


def responder(body: dict) -> list[str]:
    """Two styles of right answer for seeds = 0, 1 mod 3, a wrong one for 2 mod 3."""
    gold = GOLD[last_user_content(body)]
    style = body["seed"] % 3
    if style == 2:
        return ["I think it is 123456789.\n#### 123456789"]
    return [f"Working it out{'.' if style else ' carefully.'}\n#### {gold}"]


def test_math_rft_recipe_keeps_distinct_verified_solutions(recipe_pipeline, tmp_path) -> None:
    with ScriptedOpenAIServer(responder=responder) as server:
        pipe = recipe_pipeline("math_rft.yaml", server, "steps.questions.limit=20", "steps.audit.embed=false")
        result = pipe.run(tmp_path / "run")
        assert len(server.requests) == 80  # k = 4 per problem
    steps = {s["name"]: s for s in result.metrics["steps"]}
    assert steps["solve"]["in"] == 20
    for r in result.kept:
        assert r["candidate"].endswith(f"#### {r['final_answer']}")
        assert r["rejection_sampling"]["tried"] == 4
    # distinct: at most the two right styles per problem survive dedup within the problem
    per_problem = {}
    for r in result.kept:
        per_problem.setdefault(r["id"].split("~")[0], []).append(r["candidate"])
    assert all(1 <= len(v) <= 2 for v in per_problem.values())
    audit = result.metrics["audit"]["audit"]
    factuality = next(row for row in audit["signatures"] if row["name"] == "factuality signals")
    solved = steps["solve"]["in"] - steps["solve"]["dropped"]
    assert factuality["status"] == "green"
    assert f"solve passed {solved} of 20" in factuality["explanation"]  # problems, not candidates
