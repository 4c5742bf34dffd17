"""The audit's distributed form writes the local step's audit.json and output shards, without
the driver reading the input: the units count and sample, the driver audits the sample."""

from __future__ import annotations

import json
import logging
from importlib.resources import files
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from synthpipe.audit.distributed import sampled_rows
from synthpipe.audit.step import AUDIT_FILE, Audit
from synthpipe.data.records import drop
from synthpipe.data.sampling import StreamSample, stream_sample_positions
from synthpipe.pipeline.checkpoints import StepCheckpoint
from synthpipe.pipeline.distributed import run_serially
from synthpipe.pipeline.step import StepContext

TREC = Path(str(files("synthpipe") / "resources" / "data" / "trec" / "train.jsonl"))


def corpus(n: int = 420) -> list[dict]:
    """TREC questions with labels and a language, some dropped by an earlier step (a global
    step never sees those)."""
    with TREC.open(encoding="utf-8") as fh:
        records = [json.loads(line) for _, line in zip(range(n), fh, strict=False)]
    for i, record in enumerate(records):
        record["lang"] = "de" if i % 7 == 0 else "en"
    for record in records[::23]:
        drop(record, "filter", "too_short")
    return records


def input_checkpoint(tmp: Path, batch_size: int = 30) -> StepCheckpoint:
    source = StepCheckpoint(tmp / "steps" / "00-source", "input")
    source.prepare()
    records = corpus()
    for k, start in enumerate(range(0, len(records), batch_size)):
        source.write(k, records[start : start + batch_size])
    source.write(len(source.indexes()), [])  # an empty batch: its output shard is empty too
    return source


def checkpoint(run: Path, source: StepCheckpoint, storage: str) -> StepCheckpoint:
    out = StepCheckpoint(run / "steps" / "01-audit", "audit", storage=storage, upstream=source)
    out.prepare()
    return out


def run_locally(
    step: Audit, source: StepCheckpoint, run: Path, storage: str = "records"
) -> StepCheckpoint:
    out = checkpoint(run, source, storage)
    ctx = StepContext(name="audit", run_dir=run, step_dir=out.dir, seed=3)
    for k, batch in enumerate(step.run(lambda: source.iter_batches(kept_only=True), ctx)):
        out.write(k, batch)
    return out


def run_distributed(
    step: Audit, source: StepCheckpoint, run: Path, workers: int, storage: str = "records"
):
    out = checkpoint(run, source, storage)
    ctx = StepContext(name="audit", run_dir=run, step_dir=out.dir, seed=3)
    assert run_serially(step, source, out, ctx, workers=workers) == len(source.indexes())
    return out


def audit_text(out: StepCheckpoint) -> str:
    return (out.dir / AUDIT_FILE).read_text(encoding="utf-8")


def shard_files(out: StepCheckpoint) -> dict[int, object]:
    if out.storage == "records":
        return {k: pq.read_table(out.shard_path(k)) for k in out.indexes()}
    return {k: out.decisions(k) for k in out.indexes()}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> StepCheckpoint:
    return input_checkpoint(tmp_path_factory.mktemp("input"))


CONFIGS = {
    "plain": {"embed": False, "sample": 40},
    "labels_reference_seeds_languages": {
        "embed": False,
        "sample": 37,
        "reference": "bundled:trec/test.jsonl",
        "seeds": "bundled:trec/seeds.jsonl",
        "language_field": "lang",
    },
    "sample_above_the_input": {"embed": False, "sample": 5000, "label_field": "label_fine"},
}


def test_the_sample_positions_are_those_stream_sample_keeps():
    for k in (2, 3, 5, 40):
        for n in range(0, 400, 7):
            stream = StreamSample(k)
            for i in range(n):
                stream.add(i)
            assert stream_sample_positions(n, k) == stream.result()
    assert sampled_rows([3, 0, 4], 100) == {0: [0, 1, 2], 2: [0, 1, 2, 3]}


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_the_distributed_form_writes_the_local_audit_and_shards(source, tmp_path, config, workers):
    local = run_locally(Audit(CONFIGS[config]), source, tmp_path / "local")
    serial = run_distributed(Audit(CONFIGS[config]), source, tmp_path / "serial", workers)
    assert audit_text(serial) == audit_text(local)
    ours, theirs = shard_files(serial), shard_files(local)
    assert ours.keys() == theirs.keys() and all(ours[k].equals(theirs[k]) for k in ours)
    audit = json.loads(audit_text(serial))
    assert audit["n_records"] == sum(len(b) for b in source.iter_batches()) == audit["sample"]["of"]
    if "reference" in CONFIGS[config]:
        assert audit["fidelity"] is not None and audit["languages"] and audit["label_drift"]


def test_a_drops_checkpoint_reads_only_the_shards_holding_sampled_rows(
    source, tmp_path, monkeypatch
):
    config = {"embed": False, "sample": 4}
    local = run_locally(Audit(config), source, tmp_path / "local", storage="drops")
    read: list[int] = []
    original = StepCheckpoint.read

    def counting(self, index, kept_only=True):
        read.append(index)
        return original(self, index, kept_only)

    counts = [len(b) for b in source.iter_batches()]
    monkeypatch.setattr(StepCheckpoint, "read", counting)
    serial = run_distributed(Audit(config), source, tmp_path / "serial", workers=2, storage="drops")
    assert audit_text(serial) == audit_text(local)
    assert shard_files(serial) == shard_files(local)
    assert sorted(read) == sorted(sampled_rows(counts, 4)) and len(read) == 4 < len(counts)


def test_a_rerun_keeps_written_shards_and_still_samples_them(source, tmp_path):
    config = CONFIGS["plain"]
    local = run_locally(Audit(config), source, tmp_path / "local")
    serial = run_distributed(Audit(config), source, tmp_path / "serial", workers=2)
    (serial.dir / AUDIT_FILE).unlink()
    serial.forget(serial.indexes()[::2])  # half the shards lost, as after a killed driver
    run_distributed(Audit(config), source, tmp_path / "serial", workers=2)
    assert audit_text(serial) == audit_text(local)


def fresh_vectors(monkeypatch, folder: Path) -> None:
    """No vectors from earlier runs: an empty store, nothing in memory (the ONNX graph, cached
    beside the store, stays)."""
    from synthpipe.embeddings import store
    from synthpipe.embeddings.cache import EMBEDDING_CACHE

    monkeypatch.setattr(store, "cache_dir", lambda: folder)
    EMBEDDING_CACHE.clear()


def _embedder_available() -> bool:
    try:
        from synthpipe.embeddings import get_embedder

        get_embedder().batches(["probe"])
        return True
    except Exception:
        return False


@pytest.mark.skipif(not _embedder_available(), reason="the embedding model is not installed")
def test_embeddings_on_the_actor_pool_are_the_local_ones(tmp_path, monkeypatch):
    from synthpipe.audit import distributed

    # texts of our own: the bundled data sets' vectors ship with synthpipe and are never computed
    records = [{**r, "text": r["text"].lower() + " , then ?"} for r in corpus(200)]
    source = StepCheckpoint(tmp_path / "input", "input")
    source.prepare()
    for k in range(0, 200, 30):
        source.write(k // 30, records[k : k + 30])
    reference = tmp_path / "reference.jsonl"
    reference.write_text(
        "".join(json.dumps({"text": r["text"] + " !"}) + "\n" for r in records[::3])
    )
    config = {"sample": 150, "reference": str(reference)}
    audits = []
    encoded: list[int] = []
    original = distributed._Encoder.encode
    monkeypatch.setattr(
        distributed._Encoder, "encode", lambda self, t: encoded.append(len(t)) or original(self, t)
    )
    for name, run in (
        ("local", run_locally),
        ("serial", lambda s, src, r: run_distributed(s, src, r, 2)),
    ):
        fresh_vectors(monkeypatch, tmp_path / f"cache-{name}")
        audits.append(audit_text(run(Audit(config), source, tmp_path / name)))
    assert audits[0] == audits[1]
    audit = json.loads(audits[1])
    assert audit["embeddings"]["used"] and "vendi" in audit["diversity"] and audit["embedding_map"]
    # the sample and the reference, batch by batch (at most 64 texts a batch)
    assert (
        sum(encoded) == audit["sample"]["size"] + audit["reference"]["sample"] and len(encoded) >= 4
    )


# -- on Ray ----------------------------------------------------------------------------------
def audit_pipeline(reference: Path, embed: bool):
    from synthpipe import Pipeline
    from synthpipe.curate.text_filters import TextFilter
    from synthpipe.pipeline.sources import FromRecords

    records = [{**r, "text": r["text"].lower() + " , then ?"} for r in corpus(600)]
    for r in records[::11]:
        r["text"] = "two words"  # the filter drops these: the audit never sees them
    audit = Audit(sample=80, embed=embed, reference=str(reference), seeds="bundled:trec/seeds.jsonl",
                  language_field="lang")  # fmt: skip
    steps = {
        "source": FromRecords(records=records),
        "filter": TextFilter(min_words=4),
        "audit": audit,
    }
    return Pipeline("audited", steps, batch_size=50)


@pytest.mark.parametrize("embed", [False, pytest.param(True, marks=[pytest.mark.slow, pytest.mark.skipif(
    not _embedder_available(), reason="the embedding model is not installed")])])  # fmt: skip
def test_on_ray_the_audit_is_the_local_one(ray_cluster, tmp_path, monkeypatch, caplog, embed):
    reference = tmp_path / "reference.jsonl"
    reference.write_text(
        "".join(json.dumps({"text": f"what is item {i} of the list ?"}) + "\n" for i in range(90))
    )
    audits = {}
    for executor in ("local", "ray"):
        fresh_vectors(monkeypatch, tmp_path / f"cache-{executor}")
        with caplog.at_level(logging.INFO, logger="synthpipe.ray"):
            result = audit_pipeline(reference, embed).run(tmp_path / executor, executor=executor)
        [path] = (tmp_path / executor / "steps").glob("*-audit/audit.json")
        audits[executor] = (path.read_text(encoding="utf-8"), sorted(r["id"] for r in result.kept))
    assert "no distributed form" not in caplog.text  # the audit ran as Ray tasks
    assert audits["ray"] == audits["local"]
    audit = json.loads(audits["ray"][0])
    assert audit["n_records"] == len(audits["ray"][1]) and audit["embeddings"]["used"] == embed
