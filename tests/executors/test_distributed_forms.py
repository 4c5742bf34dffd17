"""One implementation: each global step's distributed form, run through the serial job (no
Ray), writes the same shards, drops and details as the step's own ``run`` on the same input."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dedup_corpus import dedup_corpus  # beside this file

from synthpipe.curate.decontam.step import Decontaminate
from synthpipe.curate.exact_dedup import ExactDedup
from synthpipe.curate.minhash import MinHashDedup
from synthpipe.curate.minhash.distributed import minhash_dedup
from synthpipe.data.records import drop
from synthpipe.pipeline.checkpoints import StepCheckpoint
from synthpipe.pipeline.distributed import (
    SerialJob,
    concat_parts,
    partition_of,
    run_serially,
    split_by_partition,
)
from synthpipe.pipeline.step import GlobalStep, StepContext


def corpus() -> list[dict]:
    """The shared dedup corpus, plus records an earlier step dropped (they never reach a
    global step)."""
    records = dedup_corpus(300)
    for record in records[::37]:
        drop(record, "filter", "too_short")
    return records


def input_checkpoint(tmp: Path, batch_size: int = 40) -> StepCheckpoint:
    source = StepCheckpoint(tmp / "steps" / "00-source", "input")
    source.prepare()
    records = corpus()
    for k, start in enumerate(range(0, len(records), batch_size)):
        source.write(k, records[start : start + batch_size])
    return source


def run_locally(step: GlobalStep, source: StepCheckpoint, run: Path, name: str) -> StepCheckpoint:
    """The step's own `run`, its batches checkpointed as the local executor does."""
    out = StepCheckpoint(run / "steps" / f"01-{name}", "local")
    out.prepare()
    ctx = StepContext(name=name, run_dir=run, step_dir=out.dir)
    for k, batch in enumerate(step.run(lambda: source.iter_batches(kept_only=True), ctx)):
        out.write(k, batch)
    return out


def run_distributed(step: GlobalStep, source: StepCheckpoint, run: Path, name: str, workers: int) -> StepCheckpoint:
    out = StepCheckpoint(run / "steps" / f"01-{name}", "serial")
    out.prepare()
    ctx = StepContext(name=name, run_dir=run, step_dir=out.dir)
    assert run_serially(step, source, out, ctx, workers=workers) == len(source.indexes())
    return out


def shards(checkpoint: StepCheckpoint) -> dict[int, object]:
    return {k: pq.read_table(checkpoint.shard_path(k)) for k in checkpoint.indexes()}


def drops(checkpoint: StepCheckpoint) -> list[tuple]:
    return sorted(
        (r["id"], r["_drop"]["reason"], r["_drop"]["detail"])
        for batch in checkpoint.iter_dropped()
        for r in batch
    )


STEPS = {
    "exact": lambda: ExactDedup(),
    "near": lambda: MinHashDedup(bucket_cap=8),
    "decontam": lambda: Decontaminate(benchmarks=["gsm8k", "trec"]),
    "decontam_flag": lambda: Decontaminate(benchmarks=["gsm8k", "trec"], action="flag"),
}
REASONS = {"exact": {"duplicate"}, "near": {"near_duplicate"}, "decontam": {"contaminated"}, "decontam_flag": set()}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> StepCheckpoint:
    return input_checkpoint(tmp_path_factory.mktemp("input"))


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("name", list(STEPS))
def test_the_distributed_form_writes_the_local_steps_shards(source, tmp_path, name, workers):
    local = run_locally(STEPS[name](), source, tmp_path / "local", name)
    serial = run_distributed(STEPS[name](), source, tmp_path / "serial", name, workers)
    ours, theirs = shards(serial), shards(local)
    assert ours.keys() == theirs.keys() and all(ours[k].equals(theirs[k]) for k in ours)
    found = drops(serial)
    assert found == drops(local) and {d[1] for d in found} == REASONS[name]
    if name == "decontam_flag":
        flagged = [r for b in serial.iter_batches() for r in b if r.get("contamination")]
        assert len(flagged) >= 6


def test_the_minhash_summary_is_the_local_one(source, tmp_path):
    local_step, serial_step = MinHashDedup(bucket_cap=8), MinHashDedup(bucket_cap=8)
    run_locally(local_step, source, tmp_path / "local", "near")
    run_distributed(serial_step, source, tmp_path / "serial", "near", workers=2)
    timing = {"seconds_to_decide", "workers_used", "executor", "task_seconds", "task_output"}
    ours, theirs = serial_step.last_summary, local_step.last_summary
    assert {k: v for k, v in ours.items() if k not in timing} == {k: v for k, v in theirs.items() if k not in timing}
    assert ours["executor"] == "serial" and ours["workers_used"] == 2 and "mh_sketch" in ours["task_seconds"]
    assert ours["capped_buckets"] > 0 and ours["without_text"] == 2 and ours["without_words"] == 1
    assert any("; via " in d[2] for d in drops(StepCheckpoint(tmp_path / "serial" / "steps" / "01-near", "x")))
    written = json.loads((tmp_path / "serial" / "minhash_summary.json").read_text())
    assert written == ours


def test_the_decontaminate_summary_is_the_local_one(source, tmp_path):
    local_step = Decontaminate(benchmarks=["gsm8k", "trec"])
    serial_step = Decontaminate(benchmarks=["gsm8k", "trec"])
    run_locally(local_step, source, tmp_path / "local", "decontam")
    run_distributed(serial_step, source, tmp_path / "serial", "decontam", workers=3)
    assert serial_step.last_summary == local_step.last_summary
    assert local_step.last_summary["contaminated"] > 0 and local_step.last_summary["by_detector"]["ngram"] > 0
    written = json.loads((tmp_path / "serial" / "decontaminate_summary.json").read_text())
    assert written == serial_step.last_summary


def test_a_resumed_job_keeps_the_shards_written_before(source, tmp_path):
    out = run_distributed(ExactDedup(), source, tmp_path, "exact", workers=2)
    stamps = {k: out.shard_path(k).stat().st_mtime_ns for k in out.indexes()}
    out.forget([3, 4])
    assert run_serially(ExactDedup(), source, out, StepContext(name="exact"), workers=2) == len(stamps)
    assert set(out.indexes()) == set(stamps)
    assert all(out.shard_path(k).stat().st_mtime_ns == t for k, t in stamps.items() if k not in (3, 4))


def test_configs_without_a_distributed_form_say_so():
    assert ExactDedup().distributed_form() is not None
    assert MinHashDedup().distributed_form() is minhash_dedup
    assert MinHashDedup(save_signatures=True).distributed_form() is None
    assert Decontaminate(semantic=True).distributed_form() is None
    assert GlobalStep().distributed_form() is None
    with pytest.raises(ValueError, match="no distributed form"):
        run_serially(MinHashDedup(save_signatures=True), None, None, StepContext(name="x"))  # type: ignore[arg-type]


def test_the_layout_cuts_shards_into_units_and_partitions(source):
    job = SerialJob(ExactDedup(), source, source, StepContext(name="x"), workers=3)
    assert job.n == len(source.indexes()) and len(job.units) == 6 and job.P == 3
    assert [k for unit in job.units for k, _ in unit] == list(range(job.n))
    assert all(job.units[job.unit_of[k]][0][0] <= k for k in range(job.n))


def test_shuffle_helpers_round_trip():
    keys = (3 << 32 | 7) + __import__("numpy").arange(1000, dtype="int64")
    part = partition_of(keys, 4)
    assert set(part.tolist()) == {0, 1, 2, 3}
    tables = split_by_partition({"k": keys}, part, 4)
    assert all((partition_of(t["k"], 4) == q).all() for q, t in enumerate(tables))
    back = concat_parts(tables, {"k": "int64"})
    assert sorted(back["k"].tolist()) == keys.tolist()
    assert len(concat_parts((), {"k": "int64"})["k"]) == 0
