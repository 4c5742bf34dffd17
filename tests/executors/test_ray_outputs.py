"""On Ray, kept and dropped are written by the workers as shards plus a manifest: the shards,
concatenated in the manifest's order, are the local executor's kept and dropped files record
for record, in order, and the readers check them against the manifest.

Runs on a local Ray started here with 2 CPUs (shared by the module, shut down at its end).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from synthpipe import Pipeline  # noqa: E402
from synthpipe.curate.exact_dedup import ExactDedup  # noqa: E402
from synthpipe.curate.text_filters import TextFilter  # noqa: E402
from synthpipe.data.manifest import MANIFEST  # noqa: E402
from synthpipe.data.readers import read_all  # noqa: E402
from synthpipe.data.sampling import evenly_spaced  # noqa: E402
from synthpipe.errors import DataError  # noqa: E402
from synthpipe.executors.ray_outputs import write_outputs  # noqa: E402
from synthpipe.pipeline.rundir import RunDir  # noqa: E402
from synthpipe.run.api import RunResult  # noqa: E402

TESTS = Path(__file__).resolve().parents[1]
TOY = TESTS / "pipeline"  # toy_steps: a counting source and a tagger that drops
sys.path.insert(0, str(TOY))
from toy_steps import CountingSource, SlowTagger  # noqa: E402


def toy_pipeline(fmt: str = "jsonl", shard_rows: int | None = None) -> Pipeline:
    """A replayed source, a step storing records, two that mark drops, one storing records
    that drops: every kind of anchor group, each with drops."""
    steps = {
        "source": CountingSource(n=1200),
        "tag": SlowTagger(seconds_per_batch=0.0),
        "filter": TextFilter(min_words=2),
        "dedup": ExactDedup(),
        "tag2": SlowTagger(seconds_per_batch=0.0, drop_multiple_of=3),
    }
    return Pipeline("toy", steps, batch_size=40, output={"format": fmt, "shard_rows": shard_rows})


def concatenated(directory: Path) -> list[dict]:
    """The shards' lines in the manifest's order, parsed."""
    manifest = json.loads((directory / MANIFEST).read_text())
    return [json.loads(line) for s in manifest["shards"] for line in (directory / s["file"]).read_text().splitlines()]


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def without_pid(records: list[dict]) -> list[dict]:
    """Records without the tagger's worker pid, which differs between processes."""
    return [{k: v for k, v in r.items() if k != "pid"} for r in records]


@pytest.mark.parametrize("shard_rows", [None, pytest.param(150, marks=pytest.mark.slow)])
def test_shards_concatenate_to_the_local_files(ray_cluster, tmp_path, shard_rows):
    local = toy_pipeline().run(tmp_path / "local")
    on_ray = toy_pipeline(shard_rows=shard_rows).run(tmp_path / "ray", executor="ray")
    steps = {s["name"]: s["dropped"] for s in local.metrics["steps"]}
    assert all(steps[name] for name in ("filter", "dedup", "tag2"))  # drops in every group
    for key in ("kept", "dropped"):
        directory = tmp_path / "ray" / f"{key}.jsonl"
        manifest = json.loads((directory / MANIFEST).read_text())
        assert manifest["written_by"] == "ray" and manifest["rows"] == local.metrics[key]
        ours, theirs = concatenated(directory), lines(tmp_path / "local" / f"{key}.jsonl")
        assert without_pid(ours) == without_pid(theirs)  # record for record, in order
        if shard_rows:
            assert len(manifest["shards"]) > 2 and all(s["rows"] <= shard_rows for s in manifest["shards"])
    assert without_pid(on_ray.kept) == without_pid(local.kept)
    assert without_pid(on_ray.dropped) == without_pid(local.dropped)
    assert on_ray.metrics["output"]["layout"] == {"kept": "sharded", "dropped": "sharded"}


def test_the_tasks_sample_is_the_local_reports_sample(ray_cluster, tmp_path):
    toy_pipeline().run(tmp_path / "local")
    toy_pipeline().run(tmp_path / "ray", executor="ray")
    plan = toy_pipeline().plan(RunDir(tmp_path / "ray"))
    written = write_outputs(ray, plan, tmp_path / "again", "jsonl", shard_rows=100, sample=37)
    for key in ("kept", "dropped"):
        records, (count, sample) = lines(tmp_path / "local" / f"{key}.jsonl"), written[key]
        assert count == len(records) and len(sample) == 37
        assert without_pid(sample) == without_pid([records[i] for i in evenly_spaced(len(records), 37)])


def test_parquet_shards_give_the_local_records(ray_cluster, tmp_path):
    local = toy_pipeline("parquet").run(tmp_path / "local")
    on_ray = toy_pipeline("parquet", shard_rows=200).run(tmp_path / "ray", executor="ray")
    assert (tmp_path / "ray" / "kept.parquet" / MANIFEST).is_file()
    assert without_pid(on_ray.kept) == without_pid(local.kept)
    assert without_pid(on_ray.dropped) == without_pid(local.dropped)


def test_a_damaged_output_written_on_ray_is_refused_by_name(ray_cluster, tmp_path):
    toy_pipeline(shard_rows=300).run(tmp_path / "run", executor="ray")
    kept = tmp_path / "run" / "kept.jsonl"
    shard = kept / "part-00001.jsonl"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(DataError, match="part-00001.jsonl: the shard's sha256 differs"):
        RunResult(tmp_path / "run").kept  # noqa: B018
    (kept / MANIFEST).unlink()
    with pytest.raises(DataError, match=r"kept.jsonl is a sharded output without manifest.json"):
        read_all(kept)


@pytest.mark.slow
def test_a_rerun_on_local_replaces_the_sharded_outputs_with_files(ray_cluster, tmp_path):
    on_ray = toy_pipeline().run(tmp_path / "run", executor="ray")
    again = toy_pipeline(shard_rows=100_000).run(tmp_path / "run")  # output settings changed: rewritten
    assert (tmp_path / "run" / "kept.jsonl").is_file() and again.kept == on_ray.kept
