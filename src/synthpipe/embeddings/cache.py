"""Vectors of texts already embedded in this process, shared by every user of an embedder.

A run embeds the same texts in several places (the audit step's sample, then the
experiment's training variants and test set); each text is encoded once per model.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np


class EmbeddingCache:
    """Vectors of texts already embedded in this process, per embedding model."""

    def __init__(self) -> None:
        self._vectors: dict[tuple[str, bytes], np.ndarray] = {}
        self._lock = threading.Lock()

    def encode(self, embedder: Any, texts: Sequence[str]) -> np.ndarray:
        model = str(embedder.model_path)
        keys = [(model, _text_key(t)) for t in texts]
        with self._lock:
            missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._vectors}
        if missing:  # embed outside the lock; only texts not seen before, each once
            vectors = embedder.encode(list(missing.values()))
            with self._lock:
                self._vectors.update(zip(missing, vectors, strict=True))
        with self._lock:
            rows = [self._vectors[k] for k in keys]
        return np.stack(rows) if rows else np.zeros((0, embedder.dim), dtype=np.float32)

    def __len__(self) -> int:
        return len(self._vectors)

    def clear(self) -> None:
        with self._lock:
            self._vectors.clear()


EMBEDDING_CACHE = EmbeddingCache()


def _text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
