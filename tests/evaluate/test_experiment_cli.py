"""`synthpipe experiment RUN_DIR`: reruns the experiment of a finished run with overrides."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from synthpipe.cli import app
from synthpipe.data.paths import resolve_data_path


def _fake_run(tmp_path: Path) -> Path:
    real = [json.loads(x) for x in resolve_data_path("bundled:trec/train.jsonl").read_text().splitlines()]
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"kept": 150, "dropped": 0, "steps": []}))
    (run / "kept.jsonl").write_text("".join(json.dumps(r) + "\n" for r in real[:150]))
    experiment = {"test": "bundled:trec/test.jsonl", "real_train": "bundled:trec/train.jsonl",
                  "variants": ["synthetic", "real"], "seeds": 1, "test_limit": 60, "bootstrap": 200}  # fmt: skip
    (run / "recipe.yaml").write_text(yaml.safe_dump({"name": "x", "steps": {}, "experiment": experiment}))
    return run


def test_experiment_command_uses_the_runs_recipe_and_overrides(tmp_path: Path) -> None:
    run = _fake_run(tmp_path)
    result = CliRunner().invoke(app, ["experiment", str(run), "-s", "seeds=2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["seeds"] == [0, 1] and set(data["variants"]) == {"synthetic", "real"}
    assert data["test"]["n"] == 60
    assert (run / "experiment.json").exists() and (run / "experiment" / "report.html").exists()
    # the run's own report now leads with the verdict, and its metrics hold the experiment
    report = (run / "report.html").read_text()
    assert 'id="verdict"' in report[: report.index("</header>")]
    assert json.loads((run / "metrics.json").read_text())["experiment"]["seeds"] == [0, 1]


def test_experiment_command_errors_name_the_problem(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["experiment", str(tmp_path)])
    assert result.exit_code != 0 and "not a finished run directory" in str(result.exception or result.output)
    run = _fake_run(tmp_path)
    bad = CliRunner().invoke(app, ["experiment", str(run), "-s", "seeds=0"])
    assert bad.exit_code != 0 and "seeds" in str(bad.exception or bad.output)


def test_a_recipe_with_a_bad_experiment_fails_before_running_any_step(tmp_path: Path) -> None:
    import pytest

    from synthpipe.errors import UsageError
    from synthpipe.pipeline.sources import FromRecords
    from synthpipe.run.api import Pipeline

    pipe = Pipeline("x", {"src": FromRecords(records=[{"text": "a b c", "label": "A"}])},
                    experiment={"test": str(tmp_path / "missing.jsonl")})  # fmt: skip
    with pytest.raises(UsageError, match=r"experiment.test: no such file"):
        pipe.run(tmp_path / "run")
    assert not list((tmp_path / "run" / "steps").glob("*/part-*.parquet"))
