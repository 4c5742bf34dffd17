"""The shared embedding cache: memory, shipped vectors, the on-disk store, and what it computes."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from synthpipe.embeddings import bundled, store
from synthpipe.embeddings.cache import EmbeddingCache
from synthpipe.embeddings.minilm import length_batches
from synthpipe.embeddings.store import VectorStore, text_key


class FakeEmbedder:
    """Deterministic unit vectors from a text's hash; counts what it is asked to compute."""

    dim = 8

    def __init__(self, key: str = "fake-model") -> None:
        self.key = key
        self.asked: list[list[str]] = []

    def encode(self, texts):
        self.asked.append(list(texts))
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[: self.dim], dtype=np.uint8) for t in texts]
        out = np.asarray(rows, dtype=np.float32) + 1
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "cache_dir", lambda: tmp_path / "embeddings")
    return tmp_path / "embeddings"


def test_each_text_is_computed_once_across_caches_and_processes(cache_dir):
    model = FakeEmbedder()
    first = EmbeddingCache().encode(model, ["a", "b", "a", "c"])
    assert model.asked == [["a", "b", "c"]]  # duplicates within a call: once, in one call
    assert (first[0] == first[2]).all() and first.shape == (4, 8)
    again = EmbeddingCache()  # a new process: nothing in memory, the disk store answers
    assert (again.encode(model, ["c", "a", "d"]) == np.stack([first[3], first[0], model.encode(["d"])[0]])).all()
    assert model.asked[1] == ["d"] and again.computed == 1
    assert len(VectorStore(cache_dir / "fake-model.sqlite", 8)) == 4
    other = FakeEmbedder("other-model")  # another model never sees these vectors
    EmbeddingCache().encode(other, ["a"])
    assert other.asked == [["a"]]


def test_memory_is_bounded_and_empty_input_has_the_model_width(cache_dir):
    model = FakeEmbedder()
    cache = EmbeddingCache(memory_rows=3)
    cache.encode(model, [f"t{i}" for i in range(10)])
    assert len(cache) == 3
    assert cache.encode(model, []).shape == (0, 8)


def test_disk_store_evicts_the_oldest_past_its_size(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHPIPE_EMBEDDING_CACHE_MB", str(5 * (4 * 8 + 64) / 2**20))  # 5 rows of 8 floats
    disk = VectorStore(tmp_path / "m.sqlite", 8)
    keys = [text_key(f"t{i}") for i in range(8)]
    disk.put(keys, np.ones((8, 8), dtype=np.float32))
    assert len(disk) == 5 and set(disk.get(keys)) == set(keys[3:])


def test_an_unusable_cache_dir_only_costs_recomputation(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setattr(store, "cache_dir", lambda: blocker / "embeddings")
    model = FakeEmbedder()
    vectors = EmbeddingCache().encode(model, ["a", "b"])
    assert vectors.shape == (2, 8) and "unusable" in caplog.text
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(b"this is no database" * 100)
    assert VectorStore(damaged, 8).get([text_key("a")]) == {}


def test_shipped_vectors_are_used_before_computing(cache_dir, tmp_path, monkeypatch):
    model = FakeEmbedder("shipped-model")
    texts = ["fixed one", "fixed two"]
    expected = model.encode(texts)
    monkeypatch.setattr(bundled, "packs_root", lambda: tmp_path / "packs")
    bundled.pack_for.cache_clear()
    try:
        bundled.write_pack(tmp_path / "packs" / "shipped-model", [text_key(t) for t in texts], expected, {"check": {}})
        model.asked.clear()
        got = EmbeddingCache().encode(model, ["fixed two", "new", "fixed one"])
        assert model.asked == [["new"]]  # the shipped texts were not computed
        assert np.abs(got[[2, 0]] - expected).max() < 1e-3  # float16 on disk, unit length again
        assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-6)
        assert not (cache_dir / "shipped-model.sqlite").exists() or len(VectorStore(cache_dir / "shipped-model.sqlite", 8)) == 1
    finally:
        bundled.pack_for.cache_clear()


def test_length_batches_sort_the_whole_input_and_keep_every_row():
    lengths = [50, 3, 200, 3, 7, 50, 1, 120]
    batches = length_batches(lengths, max_rows=3, token_budget=256)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(len(lengths)))
    assert [lengths[i] for i in rows] == sorted(lengths)  # one sort across all rows, stable
    assert all(len(b) <= 3 and (len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 256) for b in batches)


# -- with the model -----------------------------------------------------------------------------------


def _model_available() -> bool:
    try:
        from synthpipe.embeddings import default_model_path
        from synthpipe.embeddings.onnx import onnx_available

        default_model_path()
        return onnx_available()
    except Exception:
        return False


needs_model = pytest.mark.skipif(not _model_available(), reason="needs the embed extra (onnxruntime + weights)")


@needs_model
def test_shipped_vectors_equal_a_fresh_float32_computation():
    from synthpipe.curate.decontam import semantic
    from synthpipe.curate.decontam.registry import load_benchmark
    from synthpipe.embeddings import get_embedder

    embedder = get_embedder()
    pack = bundled.pack_for(embedder.key)
    assert pack is not None and len(pack) > 20_000  # benchmark questions and the TREC sets
    texts = [semantic.mask_numbers(r["question"]) for r in load_benchmark("gsm8k")[:20]]
    texts += [json.loads(line)["text"] for line in (bundled.packs_root().parent / "data" / "trec" / "test.jsonl").open()][:20]
    shipped = pack.get([text_key(t) for t in texts])
    assert len(shipped) == len(texts)
    fresh = embedder.encode(texts)
    cosine = np.einsum("ij,ij->i", np.stack([shipped[text_key(t)] for t in texts]), fresh)
    assert cosine.min() >= 0.999  # measured >= 0.999999
    texts, vectors = bundled.reference_vectors(embedder.key)
    assert np.abs(embedder.encode(texts) - vectors).max() < 1e-5


@needs_model
def test_onnx_inference_imports_neither_transformers_nor_torch(tmp_path):
    code = (
        "import sys\n"
        "from synthpipe.embeddings import get_embedder\n"
        "e = get_embedder(backend='onnx'); e.encode(['hello world'])\n"
        "print(e.backend, 'transformers' in sys.modules, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["onnx", "False", "False"]


@needs_model
def test_the_tokenizer_gives_transformers_ids():
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    from synthpipe.embeddings import get_embedder

    embedder = get_embedder()
    embedder._load()
    texts = ["ok", "", "Ünïcödé café naïve — “quotes”", " ".join(["many words here"] * 200), "What is 3+4?"]
    reference = AutoTokenizer.from_pretrained(embedder.model_path, local_files_only=True)
    assert embedder._tokenize(texts) == reference(texts, truncation=True, max_length=256)["input_ids"]


def test_disk_store_is_plain_sqlite(cache_dir):
    EmbeddingCache().encode(FakeEmbedder(), ["x"])
    with sqlite3.connect(cache_dir / "fake-model.sqlite") as conn:
        (key, blob), = conn.execute("SELECT key, vector FROM vectors").fetchall()
    assert key == text_key("x") and len(blob) == 4 * 8


@needs_model
def test_a_first_run_embeds_no_bundled_benchmark_question_nor_trec_text(cache_dir):
    from synthpipe.curate.decontam import semantic
    from synthpipe.curate.decontam.registry import resolve_benchmarks
    from synthpipe.embeddings import get_embedder

    texts = [semantic.mask_numbers(r["question"]) for s in resolve_benchmarks("all") for r in s.load()]
    trec = bundled.packs_root().parent / "data" / "trec"
    texts += [json.loads(line)["text"] for name in ("train", "test", "seeds") for line in (trec / f"{name}.jsonl").open()]
    empty = EmbeddingCache()  # and an empty disk store (cache_dir)
    vectors = empty.encode(get_embedder(), texts)
    assert empty.computed == 0 and vectors.shape == (len(texts), 384)


@needs_model
def test_a_cache_dir_that_cannot_be_written_still_gets_the_onnx_backend(tmp_path, monkeypatch):
    from synthpipe.embeddings import Embedder

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SYNTHPIPE_CACHE_DIR", str(blocker))
    embedder = Embedder(backend="onnx")
    assert embedder.encode(["hello"]).shape == (1, 384) and embedder.backend == "onnx"  # built in memory
