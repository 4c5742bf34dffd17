"""Checkpoints keep what a step decided: drops for filters and dedup, counts for replayable
sources, records only for steps that make or change them; the outputs are the same."""

from __future__ import annotations

import json
import os

import pytest
import toy_steps

import synthpipe.run.api as api
from synthpipe import Pipeline
from synthpipe.curate.exact_dedup import ExactDedup
from synthpipe.curate.text_filters import TextFilter
from synthpipe.data.records import Batch
from synthpipe.errors import StepError
from synthpipe.pipeline.sources import ReadRecords
from synthpipe.pipeline.step import FilterStep, GlobalStep, SourceStep, StepContext


def corpus(path, n=500):
    lines = []
    for i in range(n):
        text = f"line {i % 170} of the corpus" if i % 9 else "tiny"
        lines.append(json.dumps({"id": f"d{i}", "text": text}))
    path.write_text("\n".join(lines) + "\n")
    return path


def pipeline(path, **settings):
    return Pipeline(
        "store",
        {
            "source": ReadRecords(path=str(path)),
            "filter": TextFilter(min_words=2),
            "tag": toy_steps.SlowTagger(),
            "dedup": ExactDedup(),
        },
        batch_size=64,
        **settings,
    )


def outputs(result):
    kept = [r["id"] for r in result.kept]
    dropped = [(r["id"], r["_drop"]["step"], r["_drop"]["reason"]) for r in result.dropped]
    return kept, dropped


def test_only_steps_that_change_records_store_them_and_outputs_are_unchanged(tmp_path, monkeypatch):
    path = corpus(tmp_path / "in.jsonl")
    path.write_text(  # the tagger needs `n`
"".join(json.dumps({**json.loads(line), "n": i}) + "\n" for i, line in enumerate(path.read_text().splitlines()))
    )
    lean = pipeline(path).run(tmp_path / "lean")
    steps = tmp_path / "lean" / "steps"
    assert not list((steps / "00-source").glob("*.parquet")) and list((steps / "00-source").glob("drops-*.json"))
    assert not list((steps / "01-filter").glob("*.parquet"))
    assert list((steps / "02-tag").glob("part-*.parquet"))  # the tagger adds fields
    assert not list((steps / "03-dedup").glob("*.parquet"))

    monkeypatch.setattr(api, "storage_of", lambda step: "records")
    full = pipeline(path).run(tmp_path / "full")
    assert list((tmp_path / "full" / "steps" / "01-filter").glob("part-*.parquet"))
    assert outputs(lean) == outputs(full)
    assert lean.metrics["steps"] == [{**s, "duration_s": lean.metrics["steps"][i]["duration_s"]}
                                     for i, s in enumerate(full.metrics["steps"])]  # fmt: skip
    assert [r for r in lean.kept] == [r for r in full.kept]  # fields and values too


def test_the_ledger_lists_drops_step_by_step(tmp_path):
    path = corpus(tmp_path / "in.jsonl")
    result = Pipeline(
        "ledger", {"source": ReadRecords(path=str(path)), "filter": TextFilter(min_words=2), "dedup": ExactDedup()},
        batch_size=64,
    ).run(tmp_path / "run")
    steps = [r["_drop"]["step"] for r in result.dropped]
    assert steps == sorted(steps, key=["filter", "dedup"].index) and set(steps) == {"filter", "dedup"}


class Reverses(FilterStep):
    def keep(self, record):
        return True

    def process(self, batch: Batch, ctx: StepContext) -> Batch:
        return batch[::-1]


def test_a_marks_only_step_that_reorders_records_fails_loudly(tmp_path):
    pipe = Pipeline("bad", {"source": toy_steps.CountingSource(n=50), "rev": Reverses()}, batch_size=10)
    with pytest.raises(StepError, match="declares marks_only"):
        pipe.run(tmp_path / "run")


class OneBatch(GlobalStep):
    marks_only = True

    def run(self, batches, ctx):
        yield [r for batch in batches() for r in batch]


def test_a_marks_only_global_step_must_give_one_batch_per_input_batch(tmp_path):
    pipe = Pipeline("bad", {"source": toy_steps.CountingSource(n=50), "all": OneBatch()}, batch_size=10)
    with pytest.raises(StepError, match="declares marks_only"):
        pipe.run(tmp_path / "run")


DRIFT = {"offset": 0}


class Drifting(SourceStep):
    """Replayable by its claim, but what it gives depends on state outside its config."""

    replayable = True

    def read(self, ctx):
        yield [{"id": f"x{i + DRIFT['offset']}", "text": f"some words {i}"} for i in range(20)]


def test_a_source_that_changes_on_replay_fails_with_a_way_out(tmp_path):
    def pipe(min_words):
        return Pipeline("drift", {"source": Drifting(), "filter": TextFilter(min_words=min_words)}, batch_size=20)

    pipe(2).run(tmp_path / "run")
    DRIFT["offset"] = 5
    try:
        with pytest.raises(StepError, match="--fresh"):
            pipe(3).run(tmp_path / "run")  # the filter reruns on the replayed source
        assert len(pipe(3).run(tmp_path / "run", fresh=True).kept) == 20
    finally:
        DRIFT["offset"] = 0


def test_checkpoint_files_are_fsynced_only_when_asked(tmp_path, monkeypatch):
    path = corpus(tmp_path / "in.jsonl")
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd) or real(fd))

    def run(name, durable):
        pipe = Pipeline("sync", {"source": ReadRecords(path=str(path)), "filter": TextFilter(min_words=2)},
                        batch_size=64, durable=durable)  # fmt: skip
        calls.clear()
        pipe.run(tmp_path / name)
        return len(calls)

    quick, durable = run("quick", False), run("durable", True)
    batches = 2 * 8  # two steps, 8 batches of 64 from 500 records
    assert durable - quick >= 2 * batches  # file and directory, per batch and step


READS = {"n": 0}


class CountedReads(SourceStep):
    """A replayable source that counts how often it is read from its start."""

    replayable = True

    def read(self, ctx):
        READS["n"] += 1
        for start in range(0, 300, ctx.batch_size):
            yield [{"id": f"c{i}", "text": f"words and more words {i % 120}"} for i in range(start, start + ctx.batch_size)]


def test_a_source_and_its_filters_run_inside_the_next_global_steps_first_pass(tmp_path, monkeypatch):
    def run(name):
        READS["n"] = 0
        pipe = Pipeline("fused", {"source": CountedReads(), "filter": TextFilter(min_words=2), "dedup": ExactDedup()},
                        batch_size=50)  # fmt: skip
        return pipe.run(tmp_path / name), READS["n"]

    fused, reads = run("fused")
    assert reads == 1  # one pass: source, filter and dedup together; the outputs come from the spill
    from synthpipe.executors.segment import SegmentRun

    monkeypatch.setattr(SegmentRun, "fusable", lambda self, cpu_steps_in_threads: False)
    apart, reads_apart = run("apart")
    assert reads_apart == 2
    assert outputs(fused) == outputs(apart) and fused.metrics["kept"] == 120
    assert [s["out"] for s in fused.metrics["steps"]] == [s["out"] for s in apart.metrics["steps"]]


def test_outputs_rebuilt_from_checkpoints_equal_the_ones_set_aside_during_the_run(tmp_path):
    path = corpus(tmp_path / "in.jsonl")
    path.write_text(  # the tagger needs `n`
        "".join(json.dumps({**json.loads(line), "n": i}) + "\n" for i, line in enumerate(path.read_text().splitlines()))
    )
    during = pipeline(path).run(tmp_path / "run")
    kept, dropped = outputs(during)
    assert not (tmp_path / "run" / ".spill").exists()  # set aside, then removed
    # every step reused, another output format: nothing ran, so the outputs are rebuilt
    rebuilt = pipeline(path, output={"format": "parquet"}).run(tmp_path / "run")
    assert all(s["reused"] for s in rebuilt.metrics["steps"])
    assert outputs(rebuilt) == (kept, dropped)
