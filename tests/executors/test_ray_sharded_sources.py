"""Sources read by the Ray workers in shards give the local executor's ledger and quarantine;
the driver reads no record, and the maps start before the source has been read to its end.

Runs on a local Ray started here with 2 CPUs (shared by the module, shut down at its end).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from synthpipe import Pipeline  # noqa: E402
from synthpipe.audit.step import Audit  # noqa: E402
from synthpipe.curate.exact_dedup import ExactDedup  # noqa: E402
from synthpipe.curate.text_filters import TextFilter  # noqa: E402
from synthpipe.data import shards  # noqa: E402
from synthpipe.data.writers import write_records  # noqa: E402
from synthpipe.pipeline.sources import ReadRecords  # noqa: E402

TOY = Path(__file__).resolve().parents[1] / "pipeline"
sys.path.insert(0, str(TOY))
from toy_steps import PidTagger, SlowTagger  # noqa: E402


@pytest.fixture
def small_pieces(monkeypatch):
    monkeypatch.setattr(shards, "MIN_PIECE_BYTES", 2000)  # a small file cut into many shards


def messy_jsonl(path: Path, n: int = 900) -> Path:
    """Blank lines, bad JSON, records without text, and ids that repeat across the file."""
    lines = []
    for i in range(n):
        if i % 37 == 3:
            lines.append("")
        elif i % 41 == 5:
            lines.append("{broken")
        elif i % 43 == 7:
            lines.append(json.dumps({"id": f"x{i}"}))
        elif i % 97 == 11:
            lines.append(json.dumps({"id": f"r{i // 5}", "text": "an id used earlier in the file", "n": i}))
        else:
            words = " ".join(f"w{(i * 7 + k) % 50}" for k in range(i % 6))  # some too short, some repeat
            lines.append(json.dumps({"id": f"r{i}", "text": f"record {words}" if i % 4 else "short", "n": i}))
    path.write_text("\n".join(lines) + "\n")
    return path


def pipeline(path: Path, batch_size: int = 16) -> Pipeline:
    steps = {
        "read": ReadRecords(path=str(path)),
        "tag": PidTagger(),
        "filter": TextFilter(min_words=3),
        "dedup": ExactDedup(),
    }
    return Pipeline("sharded", steps, batch_size=batch_size)


def ledger(result) -> tuple[list, list]:
    kept = [r["id"] for r in result.kept]
    dropped = [(r["id"], r["_drop"]["step"], r["_drop"]["reason"], r["_drop"]["detail"]) for r in result.dropped]
    return sorted(kept), sorted(dropped)


def quarantine(run: Path) -> list[tuple]:
    path = run / "quarantine.jsonl"
    return [(e["line"], e["reason"]) for e in map(json.loads, path.read_text().splitlines())] if path.exists() else []


def test_a_jsonl_read_in_shards_gives_the_local_ledger_and_quarantine(ray_cluster, small_pieces, tmp_path):
    src = messy_jsonl(tmp_path / "in.jsonl")
    local = pipeline(src).run(tmp_path / "local")
    on_ray = pipeline(src).run(tmp_path / "ray", executor="ray")
    assert ledger(on_ray) == ledger(local)
    assert quarantine(tmp_path / "ray") == quarantine(tmp_path / "local")
    reasons = {r.split(":")[0] for _, r in quarantine(tmp_path / "local")}
    assert reasons == {"bad JSON", "missing field 'text'", "duplicate id"}
    counts = [[s[k] for k in ("name", "in", "kept", "dropped", "reasons")] for s in on_ray.metrics["steps"]]
    assert counts == [[s[k] for k in ("name", "in", "kept", "dropped", "reasons")] for s in local.metrics["steps"]]


def test_the_driver_reads_no_record(ray_cluster, small_pieces, tmp_path):
    src = messy_jsonl(tmp_path / "in.jsonl", n=400)
    on_ray = pipeline(src).run(tmp_path / "ray", executor="ray")
    pids = {r["pid"] for r in on_ray.kept}
    assert os.getpid() not in pids and pids  # the tagger ran on the workers, fed by them


def test_parquet_and_whole_file_formats_read_on_the_workers(ray_cluster, small_pieces, tmp_path):
    records = [{"id": f"p{i}", "text": f"text number {i % 300} of the table"} for i in range(700)]
    for name in ("in.parquet", "in.csv", "in.jsonl.gz"):
        write_records(records, tmp_path / name)
        local = pipeline(tmp_path / name, batch_size=32).run(tmp_path / f"local-{name}")
        on_ray = pipeline(tmp_path / name, batch_size=32).run(tmp_path / f"ray-{name}", executor="ray")
        assert ledger(on_ray) == ledger(local), name
        assert len(on_ray.kept) == 300


def test_maps_start_before_the_source_is_read_to_its_end(ray_cluster, small_pieces, tmp_path):
    src = messy_jsonl(tmp_path / "in.jsonl", n=2400)
    steps = {
        "read": ReadRecords(path=str(src)),
        "slow": SlowTagger(seconds_per_batch=0.05, drop_multiple_of=1000),
    }
    run = tmp_path / "ray"
    Pipeline("stream", steps, batch_size=40).run(run, executor="ray")
    read = sorted(p.stat().st_mtime for p in (run / "steps" / "00-read").glob("drops-*.json"))
    tagged = sorted(p.stat().st_mtime for p in (run / "steps" / "01-slow").glob("part-*.parquet"))
    assert len(read) == len(tagged) == 60
    assert tagged[0] < read[-1]  # the first batch was tagged while later shards were being read


def test_a_rerun_reads_checkpointed_batches_alone(ray_cluster, small_pieces, tmp_path):
    src = messy_jsonl(tmp_path / "in.jsonl")
    reference = pipeline(src).run(tmp_path / "ref")
    run = tmp_path / "run"
    pipeline(src).run(run, executor="ray")
    at = json.loads((run / "steps" / "00-read" / "drops-000010.json").read_text())["at"]
    assert at["line"] == 160 and at["byte"] > 0  # where batch 10 starts, to read it alone
    for step in ("02-filter", "03-dedup"):  # as if interrupted after the tagger
        for path in (run / "steps" / step).iterdir():
            path.unlink()
    assert ledger(pipeline(src).run(run, executor="ray")) == ledger(reference)
    assert ledger(pipeline(src).run(run)) == ledger(reference)  # and the local executor agrees


def test_an_empty_file_reads_as_no_batch(ray_cluster, tmp_path):
    src = tmp_path / "empty.jsonl"
    src.write_text("")
    steps = {"read": ReadRecords(path=str(src)), "filter": TextFilter(min_words=3), "audit": Audit(embed=False)}
    local = Pipeline("empty", steps, batch_size=16).run(tmp_path / "local")
    on_ray = Pipeline("empty", steps, batch_size=16).run(tmp_path / "ray", executor="ray")
    assert on_ray.metrics["kept"] == local.metrics["kept"] == 0
    audits = [json.loads(next((tmp_path / run / "steps").glob("*-audit/audit.json")).read_text()) for run in ("local", "ray")]
    assert audits[0] == audits[1] and audits[0]["n_records"] == 0  # an audit of nothing, said so
