"""The MiniLM embedder: shape, order, normalisation, and the ONNX backend equal to torch."""

from __future__ import annotations

import numpy as np
import pytest

from synthpipe.embeddings import Embedder, get_embedder
from synthpipe.errors import UsageError

TEXTS = [
    "ok",
    "How do I reset my password?",
    "A stirring, funny and finally transporting re-imagining of Beauty and the Beast.",
    "",
    " ".join(["a much longer text that will be cut at the model's maximum length"] * 40),  # > 256 tokens
    "What films featured the character Popeye Doyle?",
]


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return get_embedder(backend="torch")


def test_encode_shape_norm_and_input_order(torch_embedder):
    vectors = torch_embedder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([torch_embedder.encode([t]) for t in TEXTS])
    assert np.abs(vectors - one_by_one).max() < 1e-5  # length-sorted batching keeps input order
    assert torch_embedder.encode([]).shape == (0, 384)
    assert torch_embedder.backend == "torch" and torch_embedder.dim == 384


def test_unknown_backend_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown embedding backend"):
        Embedder(backend="tensorflow")  # type: ignore[arg-type]


def test_onnx_backend_equals_torch(torch_embedder):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")  # needed to export the model once
    onnx_embedder = get_embedder(backend="onnx")
    got = onnx_embedder.encode(TEXTS)
    assert onnx_embedder.backend == "onnx"
    assert np.abs(got - torch_embedder.encode(TEXTS)).max() < 1e-4  # ~3e-7 measured
    assert onnx_embedder.identity() == torch_embedder.identity()  # checkpoints stay valid
    auto = Embedder()
    auto.encode(["hello"])
    assert auto.backend == "onnx"  # auto prefers onnxruntime when it is installed


def test_onnx_export_is_cached_by_model_hash(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from synthpipe.embeddings import onnx

    monkeypatch.setenv("SYNTHPIPE_CACHE_DIR", str(tmp_path))
    model_path = Embedder(backend="torch").model_path
    path = onnx.cached_onnx_path(model_path)
    assert path == tmp_path / "onnx" / onnx.model_key(model_path) / "model.onnx" and path.exists()
    stamp = path.stat().st_mtime_ns
    assert onnx.cached_onnx_path(model_path).stat().st_mtime_ns == stamp  # reused, not re-exported
    assert [p.name for p in path.parent.iterdir()] == ["model.onnx"]  # no temp files left behind


@pytest.mark.slow  # exporting through torch takes ~15 s
def test_graph_built_without_torch_equals_the_torch_export(tmp_path, torch_embedder):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from synthpipe.embeddings import onnx

    model_path = torch_embedder.model_path
    built = onnx.build_onnx(model_path, tmp_path / "built.onnx")
    exported = onnx.export_onnx(model_path, tmp_path / "exported.onnx")  # what unsupported models get
    torch_embedder._load()
    inputs = torch_embedder._inputs(torch_embedder._tokenize(TEXTS))
    got, expected = onnx.OnnxEncoder(built).run(inputs), onnx.OnnxEncoder(exported).run(inputs)
    assert np.abs(got - expected).max() < 1e-5  # measured 0.0
    assert np.abs(got - torch_embedder.encode(TEXTS)).max() < 1e-4
