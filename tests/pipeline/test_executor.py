"""The local executor: ledger completeness, shapes, process pool, fingerprints."""

from __future__ import annotations

import pytest
import toy_steps

from synthpipe import Pipeline
from synthpipe.curate.exact_dedup import ExactDedup
from synthpipe.curate.text_filters import TextFilter
from synthpipe.errors import StepError


def make(n=300, min_words=2, seconds=0.0, workers=1, batch_size=32):
    return Pipeline(
        "toy",
        {
            "source": toy_steps.CountingSource(n=n),
            "tag": toy_steps.SlowTagger(seconds_per_batch=seconds),
            "filter": TextFilter(min_words=min_words),
            "dedup": ExactDedup(),
        },
        batch_size=batch_size,
        workers=workers,
    )


def test_every_record_is_kept_or_in_the_ledger_with_a_reason(tmp_path):
    result = make().run(tmp_path / "run")
    kept_ids = [r["id"] for r in result.kept]
    dropped = result.dropped
    dropped_ids = [r["id"] for r in dropped]
    assert len(kept_ids) + len(dropped_ids) == 300
    assert set(kept_ids) | set(dropped_ids) == {f"r{i:05d}" for i in range(300)}
    assert not set(kept_ids) & set(dropped_ids)
    reasons = {(r["_drop"]["step"], r["_drop"]["reason"]) for r in dropped}
    assert reasons == {("tag", "multiple"), ("filter", "too_short"), ("dedup", "duplicate")}
    steps = {s["name"]: s for s in result.metrics["steps"]}
    assert steps["source"]["out"] == 300
    assert steps["filter"]["in"] == steps["tag"]["kept"]
    assert steps["dedup"]["kept"] == result.metrics["kept"] == len(kept_ids)
    assert (tmp_path / "run" / "report.html").exists()


def test_results_do_not_depend_on_batching_or_workers(tmp_path):
    a = make(batch_size=32).run(tmp_path / "a")
    b = make(batch_size=7, workers=2).run(tmp_path / "b")
    assert [r["id"] for r in a.kept] == [r["id"] for r in b.kept]
    assert sorted(r["id"] for r in a.dropped) == sorted(r["id"] for r in b.dropped)


def test_cpu_bound_steps_run_in_worker_processes(tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(toy_steps.SlowTagger, "cpu_bound", True)
    result = make(workers=2).run(tmp_path / "run")
    assert {r["pid"] for r in result.kept} - {os.getpid()}


def test_a_map_step_that_deletes_records_fails_loudly(tmp_path):
    pipe = Pipeline("bad", {"source": toy_steps.CountingSource(n=10), "lose": toy_steps.LosesRecords()})
    with pytest.raises(StepError, match="lost 1 record"):
        pipe.run(tmp_path / "run")


def test_changing_a_config_recomputes_that_step_and_later_ones_only(tmp_path):
    out = tmp_path / "run"
    first = make(min_words=2).run(out)
    shards = {p: p.stat().st_mtime_ns for p in (out / "steps").rglob("part-*.parquet")}
    second = make(min_words=6).run(out)
    reused = {s["name"]: s["reused"] for s in second.metrics["steps"]}
    assert reused == {"source": True, "tag": True, "filter": False, "dedup": False}
    for path, mtime in shards.items():
        step = path.parent.name
        if step.endswith(("source", "tag")):
            assert path.stat().st_mtime_ns == mtime, f"{path} was rewritten"
    assert second.metrics["kept"] < first.metrics["kept"]
    third = make(min_words=6).run(out)
    assert all(s["reused"] for s in third.metrics["steps"])
    assert third.metrics["kept"] == second.metrics["kept"]


def test_fresh_starts_over(tmp_path):
    out = tmp_path / "run"
    make().run(out)
    again = make().run(out, fresh=True)
    assert not any(s["reused"] for s in again.metrics["steps"])


def test_the_same_pipeline_from_a_recipe(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: toy\nbatch_size: 32\nsteps:\n"
        "  source: {step: 'toy_steps:CountingSource', n: 300}\n"
        "  tag: {step: 'toy_steps:SlowTagger'}\n"
        "  filter: {step: text_filter, min_words: 2}\n"
        "  dedup: {step: exact_dedup}\n"
    )
    from_recipe = Pipeline.from_recipe(recipe).run(tmp_path / "a")
    from_python = make().run(tmp_path / "b")
    assert [r["id"] for r in from_recipe.kept] == [r["id"] for r in from_python.kept]
    # the resolved recipe in the run dir reruns the same pipeline
    rerun = Pipeline.from_recipe(tmp_path / "b" / "recipe.yaml").run(tmp_path / "b")
    assert all(s["reused"] for s in rerun.metrics["steps"])
    assert from_python.kept_table().num_rows == len(from_python.kept)
    assert from_python.ledger_table().num_rows == len(from_python.dropped)


def test_in_memory_dataset_source_and_parquet_output(tmp_path):
    from datasets import Dataset

    from synthpipe.pipeline.sources import FromRecords

    dataset = Dataset.from_list([{"text": f"an example sentence number {i % 5}", "label": i % 2} for i in range(20)])
    pipe = Pipeline(
        "mem",
        {"records": FromRecords.from_dataset(dataset), "dedup": ExactDedup()},
        output={"format": "parquet"},
    )
    result = pipe.run(tmp_path / "run")
    assert (tmp_path / "run" / "kept.parquet").exists() and (tmp_path / "run" / "dropped.parquet").exists()
    assert [r["id"] for r in result.kept] == [f"records-{i:06d}" for i in range(5)]
    assert {r["_drop"]["reason"] for r in result.dropped} == {"duplicate"}
    assert len(result.kept) + len(result.dropped) == 20
