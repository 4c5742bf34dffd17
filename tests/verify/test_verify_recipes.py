"""recipes/math.yaml and recipes/code.yaml run offline end to end (scaled down)."""

from __future__ import annotations

import json
from pathlib import Path

from synthpipe.pipeline.api import Pipeline

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_math_recipe_generates_verified_decontaminated_audited_problems(tmp_path: Path) -> None:
    pipe = Pipeline.from_recipe(RECIPES / "math.yaml", ["steps.generate.n=200", "steps.audit.embed=false"])
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
