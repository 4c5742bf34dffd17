"""The Ray executor with its run directory on S3 (moto's server on 127.0.0.1): workers read
and write the checkpoints at the URI, and the run's ledger is the local executor's.

Runs on a local Ray started here with 2 CPUs, after the S3 server, so the workers inherit its
endpoint and credentials from the environment."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray")

from synthpipe import Pipeline  # noqa: E402
from synthpipe.data.storage import Store, work_dir  # noqa: E402
from synthpipe.run.api import RunResult  # noqa: E402

TESTS = Path(__file__).resolve().parents[1]
TOY = TESTS / "pipeline"
sys.path.insert(0, str(TESTS / "support"))
sys.path.insert(0, str(TOY))
from s3_server import s3_server  # noqa: E402  (tests/support)

RECIPE = """\
name: rays3
batch_size: 50
steps:
  source: {{step: read, path: '{data}'}}
  tag: {{step: "toy_steps:SlowTagger"}}
  filter: {{step: text_filter, min_words: 2}}
  dedup: {{step: exact_dedup}}
"""


@pytest.fixture(scope="module")
def s3_endpoint():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with s3_server() as endpoint:  # skips when moto or s3fs is missing
        yield endpoint


@pytest.fixture(scope="module")
def s3_ray(s3_endpoint, ray_cluster):  # the server first: Ray's workers inherit its AWS_* variables
    return s3_endpoint


def ledger(result: RunResult) -> tuple[list, list]:
    kept = sorted((r["id"], r["text"], r["tag"]) for r in result.kept)
    dropped = sorted((r["id"], r["_drop"]["step"], r["_drop"]["reason"], str(r["_drop"]["detail"])) for r in result.dropped)
    return kept, dropped


def test_ray_run_on_s3_writes_the_local_ledger(s3_ray, tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"id": f"r{i:04d}", "n": i, "text": "short" if i % 9 == 0 else
                                        f"record {i % 200} says hello world"}) + "\n" for i in range(600)))  # fmt: skip
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.format(data=data))
    local = Pipeline.from_recipe(recipe).run(tmp_path / "local")
    remote = Pipeline.from_recipe(recipe).run("s3://runs/ray", executor="ray")
    tag = Store("s3://runs/ray").child("steps/01-tag")
    assert tag.exists("DONE") and len(tag.names("part-*.parquet")) == 12  # written by the workers
    path, fs = tag.locate("part-000000.parquet")
    assert set(pq.read_table(path, filesystem=fs).column("pid").to_pylist()) != {os.getpid()}
    assert ledger(remote) == ledger(local)
    outputs = Store("s3://runs/ray")  # sharded by the workers straight to the URI, manifest last
    assert outputs.exists("kept.jsonl/manifest.json") and outputs.child("kept.jsonl").names("part-*")
    assert not (work_dir("s3://runs/ray") / "kept.jsonl").exists()
    assert [s["dropped"] for s in remote.metrics["steps"]] == [s["dropped"] for s in local.metrics["steps"]]
    shutil.rmtree(work_dir("s3://runs/ray"))  # the URI alone gives the same ledger
    assert ledger(RunResult("s3://runs/ray")) == ledger(local)
