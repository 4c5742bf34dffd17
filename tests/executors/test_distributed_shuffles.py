"""Capped shuffles and the MinHash document join: the distributed forms give the local step's
shards and drops with many units and few partitions, no shuffle has more pieces than the cap,
and verification is sent only the candidate documents' shingle sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_distributed_forms import (  # beside this file
    STEPS,
    drops,
    input_checkpoint,
    run_locally,
    shards,
)

from synthpipe.curate.exact_dedup import ExactDedup
from synthpipe.curate.minhash import MinHashDedup
from synthpipe.pipeline.checkpoints import StepCheckpoint
from synthpipe.pipeline.distributed import MAX_SHUFFLE_OBJECTS, Job, Ready, SerialJob
from synthpipe.pipeline.step import StepContext


class Recording(SerialJob):
    """A serial job that keeps what each kind of task was given."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.given: dict[str, list[tuple]] = {}
        self.rounds: list[tuple[str, list[tuple]]] = []  # runs of calls of one kind: a stage
        self.waited = False

    def submit(self, fn, returns, *args):
        if args and callable(args[0]):  # Job.call: timed(fn, *args)
            kind = args[0].__name__.lstrip("_")
            self.given.setdefault(kind, []).append(args[1:])
            if not self.rounds or self.rounds[-1][0] != kind or self.waited:
                self.rounds.append((kind, []))
            self.rounds[-1][1].append(args[1:])
            self.waited = False
        return super().submit(fn, returns, *args)

    def get(self, handles):
        self.waited = True  # the driver waited: what follows is another round (label propagation)
        return super().get(handles)


def run(step, source: StepCheckpoint, run_dir: Path, name: str, workers: int, max_objects: int) -> Recording:
    out = StepCheckpoint(run_dir / "steps" / f"01-{name}", "serial")
    out.prepare()
    ctx = StepContext(name=name, run_dir=run_dir, step_dir=out.dir)
    job = Recording(step, source, out, ctx, None, workers, max_objects)
    assert job.run(step.distributed_form()) == len(source.indexes())
    return job


@pytest.fixture(scope="module")
def many_shards(tmp_path_factory) -> StepCheckpoint:
    return input_checkpoint(tmp_path_factory.mktemp("input"), batch_size=10)  # 40 shards


LAYOUTS = {  # workers, max_objects -> (units, groups, partitions)
    "tiny cap": (8, 6, (16, 3, 2)),
    "one piece": (4, 1, (8, 1, 1)),
    "no cap": (5, MAX_SHUFFLE_OBJECTS, (10, 10, 5)),
    "empty partitions": (64, MAX_SHUFFLE_OBJECTS, (40, 40, 64)),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", list(STEPS))
def test_capped_shuffles_give_the_local_steps_shards(many_shards, tmp_path, name, layout):
    workers, max_objects, (units, groups, partitions) = LAYOUTS[layout]
    local = run_locally(STEPS[name](), many_shards, tmp_path / "local", name)
    job = run(STEPS[name](), many_shards, tmp_path / "serial", name, workers, max_objects)
    assert (len(job.units), len(job.groups), job.P) == (units, groups, partitions)
    serial = StepCheckpoint(tmp_path / "serial" / "steps" / f"01-{name}", "x")
    ours, theirs = shards(serial), shards(local)
    assert ours.keys() == theirs.keys() and all(ours[k].equals(theirs[k]) for k in ours)
    assert drops(serial) == drops(local)


@pytest.mark.slow
def test_the_minhash_summary_counts_do_not_depend_on_the_layout(many_shards, tmp_path):
    summaries = []
    for i, (workers, max_objects, _) in enumerate(LAYOUTS.values()):
        step = MinHashDedup(bucket_cap=8)
        run(step, many_shards, tmp_path / str(i), "near", workers, max_objects)
        summaries.append({k: v for k, v in step.last_summary.items() if k not in TIMING})
    assert all(s == summaries[0] for s in summaries) and summaries[0]["removed"] > 0


TIMING = {"seconds_to_decide", "workers_used", "executor", "task_seconds", "task_output"}


@pytest.mark.parametrize("step", [lambda: MinHashDedup(bucket_cap=8), ExactDedup], ids=["minhash", "exact"])
def test_no_task_kind_takes_more_shuffle_pieces_than_the_cap(many_shards, tmp_path, step):
    max_objects = 16
    job = run(step(), many_shards, tmp_path, "x", workers=8, max_objects=max_objects)
    assert len(job.units) == 16 and job.P == 4 and len(job.groups) == 4
    for kind, calls in job.rounds:
        pieces = {id(a) for args in calls for a in args if isinstance(a, Ready)}
        # besides a shuffle's pieces: a task's own state or a value put once, a unit's own result
        assert len(pieces) <= max_objects + len(calls) + len(job.units), kind


def test_the_layout_stays_under_the_cap_at_a_hundred_nodes_of_32_cores():
    class Shards:
        def indexes(self):
            return list(range(50_000))

    job = Job(ExactDedup(), Shards(), Shards(), StepContext(name="x"), workers=100 * 32)  # type: ignore[arg-type]
    assert len(job.units) == 6400  # map work still uses every core
    assert len(job.groups) * job.P <= MAX_SHUFFLE_OBJECTS and job.P * job.P <= MAX_SHUFFLE_OBJECTS
    assert sorted(u for g in job.groups for u in g) == list(range(len(job.units)))
    assert (np.diff(job.group_of) >= 0).all()  # groups are runs of consecutive shards


def candidate_documents(job: Recording) -> set[int]:
    """Documents sharing a band hash with another, from the band tables the buckets got."""
    docs: set[int] = set()
    for args in job.given["mh_buckets"]:
        tables = [a.get() for a in args[4:]]
        band = np.concatenate([t["band"] for t in tables])
        h = np.concatenate([t["h"] for t in tables])
        doc = np.concatenate([t["doc"] for t in tables])
        keys = band.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ h
        _, inverse, sizes = np.unique(keys, return_inverse=True, return_counts=True)
        docs |= set(doc[sizes[inverse] >= 2].tolist())
    return docs


@pytest.mark.parametrize("workers", [1, 3])
def test_verification_is_sent_only_the_candidate_documents_shingles(many_shards, tmp_path, workers):
    job = run(MinHashDedup(bucket_cap=1000), many_shards, tmp_path, "near", workers, MAX_SHUFFLE_OBJECTS)
    sent = []
    for _settings, _partitions, pairs, *shipped in job.given["mh_verify"]:
        pairs, tables = pairs.get(), [t.get() for t in shipped]
        docs = np.concatenate([t["doc"] for t in tables]).tolist()
        assert sorted(docs) == sorted(set(pairs["a"].tolist()) | set(pairs["b"].tolist()))  # each once
        sizes = [len(t["hashes"]) for t in tables]
        assert sum(sizes) == sum(t["offsets"][-1] for t in tables)  # shingle sets, nothing else
        sent += docs
    candidates = candidate_documents(job)
    indexed = job.step.last_summary["indexed"]
    assert set(sent) == candidates and len(candidates) < indexed / 2
    if workers == 1:
        assert len(sent) == len(candidates)  # one verifier: each candidate's set travels once
    shipped = job.step.last_summary["task_output"]["mh_serve_pairs"]  # what the summary reports
    assert shipped["rows"] == len(sent) and shipped["tasks"] == len(job.groups) and shipped["bytes"] > 0


def test_the_cap_can_be_set_for_ray_runs(monkeypatch):
    from synthpipe.errors import UsageError
    from synthpipe.executors.ray_jobs import shuffle_objects

    monkeypatch.delenv("SYNTHPIPE_RAY_SHUFFLE_OBJECTS", raising=False)
    assert shuffle_objects() == MAX_SHUFFLE_OBJECTS
    monkeypatch.setenv("SYNTHPIPE_RAY_SHUFFLE_OBJECTS", "40000")
    assert shuffle_objects() == 40_000
    monkeypatch.setenv("SYNTHPIPE_RAY_SHUFFLE_OBJECTS", "lots")
    with pytest.raises(UsageError, match="SYNTHPIPE_RAY_SHUFFLE_OBJECTS='lots'"):
        shuffle_objects()


def test_task_output_counts_table_rows_and_bytes():
    from synthpipe.pipeline.distributed import table_size

    table = {"doc": np.arange(5, dtype=np.int64), "h": np.zeros(5, dtype=np.uint32)}
    assert table_size(({"records": 9}, table, [table, table])) == (15, 3 * 60)
    assert table_size(({0: 40, 1: 38}, None)) == (78, 0)  # rows written per output shard
    assert table_size([(0, 1, "duplicate", "of a"), (0, 2, "duplicate", "of a")]) == (2, 0)
