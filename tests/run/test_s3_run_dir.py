"""A run directory on S3 (moto's server on 127.0.0.1): the same outputs and ledger as a local
run, checkpoints that live at the URI (a run killed, or resumed on a machine without its work
directory, redoes only the missing batches), and inspect / report on the URI."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthpipe import Pipeline
from synthpipe.data.storage import Store, work_dir
from synthpipe.errors import UsageError
from synthpipe.run.api import RunResult

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "support"))
sys.path.insert(0, str(TESTS / "pipeline"))  # toy_steps, named by the recipe
from s3_server import s3_server  # noqa: E402  (tests/support)

RECIPE = """\
name: s3run
batch_size: 50
steps:
  source: {{step: read, path: '{data}'}}
  tag: {{step: "toy_steps:SlowTagger", seconds_per_batch: {seconds}}}
  filter: {{step: text_filter, min_words: 2}}
  dedup: {{step: exact_dedup}}
"""


@pytest.fixture(scope="module")
def s3():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def recipe(tmp_path):
    """Writes the recipe (600 records, duplicates, short texts, one malformed line)."""

    def make(seconds: float = 0.0) -> Path:
        data = tmp_path / "in.jsonl"
        lines = [json.dumps({"id": f"r{i:04d}", "n": i, "text": "short" if i % 9 == 0 else
                             f"record {i % 200} says hello world"}) for i in range(600)]  # fmt: skip
        data.write_text("\n".join([*lines[:300], "{not json", *lines[300:]]) + "\n")
        path = tmp_path / f"recipe-{seconds}.yaml"
        path.write_text(RECIPE.format(data=data, seconds=seconds))
        return path

    return make


def ledger(result: RunResult) -> tuple[list, list]:
    kept = sorted((r["id"], r["text"], r["tag"]) for r in result.kept)
    dropped = sorted((r["id"], r["_drop"]["step"], r["_drop"]["reason"], str(r["_drop"]["detail"])) for r in result.dropped)
    return kept, dropped


def cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS / "pipeline"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "synthpipe.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def tag_pids(uri: str) -> dict[int, set[int]]:
    """Batch -> the pids that tagged its records, read from the tag step's shards at `uri`."""
    import pyarrow.parquet as pq

    shards = Store(uri).child("steps/01-tag")
    pids = {}
    for name in sorted(shards.names("part-*.parquet")):
        path, fs = shards.locate(name)
        pids[int(name[5:11])] = set(pq.read_table(path, filesystem=fs, columns=["pid"]).column("pid").to_pylist())
    return pids


def test_s3_run_matches_a_local_run_and_inspect_reads_it(s3, recipe, tmp_path):
    from typer.testing import CliRunner

    from synthpipe.cli import app

    pipeline = Pipeline.from_recipe(recipe())
    local = pipeline.run(tmp_path / "local")
    remote = pipeline.run("s3://runs/match")
    assert ledger(remote) == ledger(local) and remote.metrics["quarantined"] == local.metrics["quarantined"] == 1
    assert [s["dropped"] for s in remote.metrics["steps"]] == [s["dropped"] for s in local.metrics["steps"]]
    assert remote.metrics["run"]["run_dir"] == "s3://runs/match"
    names = Store("s3://runs/match").find()
    assert {"kept.jsonl", "dropped.jsonl", "metrics.json", "run.json", "quarantine.jsonl", "report.html"} <= set(names)
    assert "steps/03-dedup/DONE" in names and ".lock" not in names
    # read back from the URI alone, as another machine would
    shutil.rmtree(work_dir("s3://runs/match"))
    assert ledger(RunResult("s3://runs/match")) == ledger(local)
    shown = CliRunner().invoke(app, ["inspect", "s3://runs/match", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["kept"] == local.metrics["kept"]
    Store("s3://runs/match").remove("report.html")
    again = CliRunner().invoke(app, ["report", "s3://runs/match"])
    assert again.exit_code == 0, again.output
    assert Store("s3://runs/match").exists("report.html")


@pytest.mark.slow
def test_resume_redoes_only_the_missing_batch(s3, recipe, tmp_path):
    path = recipe()
    first = cli("run", str(path), "--out", "s3://runs/resume", "--quiet")
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    before = tag_pids("s3://runs/resume")
    assert len(before) > 10 and all(p == {first.pid} for p in before.values())
    steps = Store("s3://runs/resume").child("steps")  # batch 3 lost by the maps, as a kill leaves it
    for name in ("01-tag/part-000003.parquet", "02-filter/drops-000003.json", "01-tag/DONE", "02-filter/DONE"):
        steps.remove(name)
    shutil.rmtree(work_dir("s3://runs/resume"))  # resumed from the URI alone
    resumed = Pipeline.from_recipe(path).run("s3://runs/resume")
    after = tag_pids("s3://runs/resume")
    assert after == {**before, 3: {os.getpid()}}
    assert ledger(resumed) == ledger(Pipeline.from_recipe(path).run(tmp_path / "local"))


@pytest.mark.slow
def test_killed_run_resumes_from_the_uri(s3, recipe, tmp_path):
    path = recipe(seconds=0.15)
    proc = cli("run", str(path), "--out", "s3://runs/killed", "--quiet")
    deadline = time.time() + 60
    while len(tag_pids("s3://runs/killed")) < 3:
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline, "the run never checkpointed 3 batches"
        time.sleep(0.05)
    assert json.loads(Store("s3://runs/killed").read_text(".lock"))["pid"] == proc.pid  # its lease
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = tag_pids("s3://runs/killed")
    assert 3 <= len(done_before) < 13
    assert json.loads(Store("s3://runs/killed").read_text("run.json"))["status"] == "running"
    with pytest.raises(UsageError, match="is running, not finished"):  # run.json commits the outputs
        RunResult("s3://runs/killed")
    shutil.rmtree(work_dir("s3://runs/killed"), ignore_errors=True)
    resumed = Pipeline.from_recipe(path).run("s3://runs/killed")  # the dead holder's lease is taken over
    after = tag_pids("s3://runs/killed")
    assert all(after[i] == pids for i, pids in done_before.items())  # kept, not redone
    assert ledger(resumed) == ledger(Pipeline.from_recipe(path).run(tmp_path / "local"))


@pytest.mark.slow
def test_fresh_empties_only_a_run(s3, recipe):
    other = Store("s3://runs/not-a-run")
    other.write_text("data.csv", "a,b\n")
    with pytest.raises(UsageError, match="does not look like a synthpipe run"):
        Pipeline.from_recipe(recipe()).run("s3://runs/not-a-run", fresh=True)
    assert other.exists("data.csv")
    result = Pipeline.from_recipe(recipe()).run("s3://runs/fresh")
    Store("s3://runs/fresh").write_text("steps/09-gone/part-000000.parquet", "stale")
    again = Pipeline.from_recipe(recipe()).run("s3://runs/fresh", fresh=True)
    assert again.metrics["kept"] == result.metrics["kept"]
    assert not Store("s3://runs/fresh").exists("steps/09-gone/part-000000.parquet")


def test_export_reads_records_from_the_uri(s3, recipe, tmp_path):
    from typer.testing import CliRunner

    from synthpipe.cli import app

    result = Pipeline.from_recipe(recipe()).run("s3://runs/export")
    out = tmp_path / "sft.jsonl"
    done = CliRunner().invoke(app, ["export", "s3://runs/export/kept.jsonl", "--out", str(out), "--format", "alpaca",
                                    "--instruction-field", "text", "--output-field", "tag"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert len(out.read_text().splitlines()) == result.metrics["kept"]


def test_the_lock_at_the_uri_refuses_a_second_machine_until_it_goes_stale(s3, recipe):
    from synthpipe.pipeline import remote_lock

    lock = Store("s3://runs/locked")
    holder = {"host": "another-machine", "pid": 4242, "token": "theirs", "renewed": time.time()}
    lock.write_text(".lock", json.dumps(holder))
    with pytest.raises(UsageError, match=r"host another-machine, pid 4242\) holds the lock"):
        Pipeline.from_recipe(recipe()).run("s3://runs/locked")
    assert json.loads(lock.read_text(".lock"))["token"] == "theirs" and not lock.exists("run.json")
    lock.write_text(".lock", json.dumps({**holder, "renewed": time.time() - remote_lock.STALE_S - 1}))
    result = Pipeline.from_recipe(recipe()).run("s3://runs/locked")  # a stale lock is taken over
    assert result.metrics["kept"] > 0 and not lock.exists(".lock")  # and released at the end


def test_audit_and_publish_read_a_run_from_the_uri(s3, recipe, tmp_path):
    from typer.testing import CliRunner

    from synthpipe.cli import app

    result = Pipeline.from_recipe(recipe()).run("s3://runs/audit")
    audited = CliRunner().invoke(app, ["audit", "s3://runs/audit", "--out", str(tmp_path / "audit"), "--no-embed", "--json"])
    assert audited.exit_code == 0, audited.output
    assert json.loads(audited.output)["n_records"] == result.metrics["kept"]
    folder = tmp_path / "publish"
    published = CliRunner().invoke(app, ["publish", "s3://runs/audit", "--repo-id", "org/data", "--dry-run",
                                         "--out", str(folder), "--json"])  # fmt: skip
    assert published.exit_code == 0, published.output
    assert json.loads(published.output)["rows"] == result.metrics["kept"]
