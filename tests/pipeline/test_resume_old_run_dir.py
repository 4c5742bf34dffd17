"""A run directory written before the layout rebuild (synthpipe 0.1.0) resumes after it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from synthpipe.run.api import Pipeline

OLD_RUN = Path(__file__).parent / "data" / "run_dir_0_1_0"


def test_an_interrupted_0_1_0_run_dir_resumes_to_the_same_records(tmp_path):
    out = tmp_path / "run"
    shutil.copytree(OLD_RUN, out, ignore=shutil.ignore_patterns("kept_ids.txt", "dropped.jsonl", "README.md"))
    result = Pipeline.from_recipe(out / "recipe.yaml").run(out=out)

    assert [r["id"] for r in result.kept] == (OLD_RUN / "kept_ids.txt").read_text().split()
    expected = sorted(json.loads(line) for line in (OLD_RUN / "dropped.jsonl").read_text().splitlines())
    dropped = sorted(
        [r["id"], r["_drop"]["step"], r["_drop"]["reason"], r["_drop"]["detail"]] for r in result.dropped
    )
    assert dropped == expected
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
