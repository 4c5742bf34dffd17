"""`output: {shard_rows: N}`: a local run writes kept and dropped as shards plus a manifest once
they hold more than N records, with the records of the single files; every command that reads
a run directory (inspect, export, audit, report, publish, experiment) reads that layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from synthpipe.cli import app
from synthpipe.data.manifest import MANIFEST
from synthpipe.data.readers import read_all
from synthpipe.run.api import Pipeline, RunResult

RECIPE = """name: sharded
seed: 0
batch_size: 64
steps:
  generate: {step: slot_template, seeds: "bundled:trec/seeds.jsonl", n: 300}
  filter: {step: text_filter, min_words: 3}
  dedup: {step: exact_dedup, fields: [text]}
  audit: {step: audit, embed: false, sample: 200}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sharded")
    recipe = root / "recipe.yaml"
    recipe.write_text(RECIPE)
    Pipeline.from_recipe(recipe).run(root / "plain")
    Pipeline.from_recipe(recipe, ["output.shard_rows=8"]).run(root / "sharded")
    return {"plain": root / "plain", "sharded": root / "sharded"}


def test_shard_rows_writes_shards_with_the_records_of_the_single_files(runs):
    plain, sharded = RunResult(runs["plain"]), RunResult(runs["sharded"])
    for key in ("kept", "dropped"):
        directory = runs["sharded"] / f"{key}.jsonl"
        manifest = json.loads((directory / MANIFEST).read_text())
        assert directory.is_dir() and len(manifest["shards"]) > 1
        assert all(s["rows"] <= 8 for s in manifest["shards"]) and manifest["rows"] == sharded.metrics[key]
    assert sharded.kept == plain.kept and sharded.dropped == plain.dropped  # record for record, in order
    assert sharded.metrics["output"]["layout"] == {"kept": "sharded", "dropped": "sharded"}
    assert plain.metrics["output"]["layout"] == {"kept": "file", "dropped": "file"}
    assert (runs["plain"] / "kept.jsonl").is_file()


def test_an_output_at_most_shard_rows_stays_one_file(tmp_path, runs):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    result = Pipeline.from_recipe(recipe, ["output.shard_rows=100000"]).run(tmp_path / "run")
    assert (tmp_path / "run" / "kept.jsonl").is_file()
    assert result.kept == RunResult(runs["plain"]).kept
    # changing shard_rows rewrites the outputs (the steps are reused): now shards
    again = Pipeline.from_recipe(recipe, ["output.shard_rows=50"]).run(tmp_path / "run")
    assert (tmp_path / "run" / "kept.jsonl" / MANIFEST).is_file() and again.kept == result.kept


def test_commands_read_a_sharded_run_directory(runs, tmp_path):
    run = runs["sharded"]
    cli = CliRunner()

    shown = cli.invoke(app, ["inspect", str(run)])
    assert shown.exit_code == 0, shown.output
    assert "dedup" in shown.output and "duplicate" in shown.output

    exported = cli.invoke(app, ["export", str(run / "kept.jsonl"), "--out", str(tmp_path / "chat.jsonl"),
                                "--format", "openai", "--instruction-field", "text", "--output-field", "label"])  # fmt: skip
    assert exported.exit_code == 0, exported.output
    assert len((tmp_path / "chat.jsonl").read_text().splitlines()) == RunResult(run).metrics["kept"]

    audited = cli.invoke(app, ["audit", str(run), "--out", str(tmp_path / "audit"), "--no-embed", "--json"])
    assert audited.exit_code == 0, audited.output
    assert json.loads((tmp_path / "audit" / "metrics.json").read_text())["n_records"] == RunResult(run).metrics["kept"]

    (run / "report.html").unlink()
    assert cli.invoke(app, ["report", str(run)]).exit_code == 0 and (run / "report.html").is_file()

    published = cli.invoke(app, ["publish", str(run), "--repo-id", "org/sharded", "--dry-run",
                                 "--out", str(tmp_path / "hub"), "--json"])  # fmt: skip
    assert published.exit_code == 0, published.output
    assert json.loads(published.output)["rows"] == RunResult(run).metrics["kept"]


def test_experiment_reads_a_sharded_run(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["sharded"], run)
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump({"test": "bundled:trec/test.jsonl", "real_train": "bundled:trec/train.jsonl",
                                      "variants": ["synthetic"], "seeds": 1, "test_limit": 40, "bootstrap": 50}))  # fmt: skip
    result = CliRunner().invoke(app, ["experiment", str(run), "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["variants"]["synthetic"]["n_train"] == RunResult(run).metrics["kept"]


def test_an_unfinished_sharded_output_is_refused_with_its_path(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["sharded"], run)
    (run / "kept.jsonl" / MANIFEST).unlink()
    result = CliRunner().invoke(app, ["inspect", str(run)])
    assert result.exit_code != 0
    message = str(result.exception) + result.output
    assert "kept.jsonl is a sharded output without manifest.json" in message and "rerun" in message
    with pytest.raises(Exception, match="did not finish"):
        read_all(run / "kept.jsonl")
