"""The one embedding cache every step, run and process goes through.

Each text is embedded once per model (:attr:`Embedder.key`), whoever asks: the decontamination
index and its records, semantic dedup, the audit's samples, the experiment's training variants
and test set. :meth:`EmbeddingCache.encode` looks a text up, by the hash of its UTF-8 bytes, in

1. memory (this process; the most recent :data:`MEMORY_ROWS` vectors),
2. the vectors shipped with synthpipe for fixed texts (:mod:`synthpipe.embeddings.bundled`),
3. the on-disk store shared by runs and processes (:mod:`synthpipe.embeddings.store`),

and computes only what none of them holds, all missing texts in one
:meth:`Embedder.encode` call (sorted by length across the whole call), then stores them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from synthpipe.embeddings import store
from synthpipe.embeddings.bundled import pack_for
from synthpipe.embeddings.store import VectorStore, text_key

MEMORY_ROWS = 100_000  # ~150 MB of 384-d float32 vectors


def model_key(embedder: Any) -> str:
    """The embedder's model id (`key`); an embedder without one is known by its model path."""
    key = getattr(embedder, "key", None)
    if key:
        return key
    import hashlib  # a file name: the model path hashed (a path would escape the cache folder)

    where = str(getattr(embedder, "model_path", type(embedder).__qualname__))
    return "path-" + hashlib.sha256(where.encode()).hexdigest()[:16]


class EmbeddingCache:
    """Vectors of texts, per embedding model: memory, shipped vectors, disk, else computed."""

    def __init__(self, memory_rows: int = MEMORY_ROWS) -> None:
        self.memory_rows = memory_rows
        self._vectors: dict[tuple[str, bytes], np.ndarray] = {}  # insertion order = age
        self._stores: dict[tuple[str, str], VectorStore] = {}
        self._lock = threading.Lock()
        self.computed = 0  # texts embedded by this cache (not found anywhere)

    def encode(self, embedder: Any, texts: Sequence[str]) -> np.ndarray:
        """(n, d) float32 unit vectors of `texts`, in order, each text computed at most once."""
        if not len(texts):
            return np.zeros((0, embedder.dim), dtype=np.float32)
        model = model_key(embedder)
        keys = [text_key(t) for t in texts]
        found = self._from_memory(model, keys)
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        if todo:
            found.update(self._from_disk(embedder, list(todo)))
            todo = {k: t for k, t in todo.items() if k not in found}
        if todo:  # embed outside the lock; each missing text once, all in one sorted call
            vectors = embedder.encode(list(todo.values()))
            fresh = dict(zip(todo, vectors, strict=True))
            self._store(embedder).put(list(fresh), vectors)
            found.update(fresh)
            self.computed += len(fresh)
        self._remember(model, found)
        return np.stack([found[k] for k in keys])

    def _from_memory(self, model: str, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        with self._lock:
            return {k: v for k in keys if (v := self._vectors.get((model, k))) is not None}

    def _from_disk(self, embedder: Any, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        pack = pack_for(model_key(embedder))
        found = pack.get(keys) if pack is not None else {}
        rest = [k for k in keys if k not in found]
        if rest:
            found.update(self._store(embedder).get(rest))
        return found

    def _store(self, embedder: Any) -> VectorStore:
        folder = store.cache_dir()  # looked up on each call: tests point it elsewhere
        with self._lock:
            key = (str(folder), model_key(embedder))
            if key not in self._stores:
                self._stores[key] = VectorStore(folder / f"{model_key(embedder)}.sqlite", embedder.dim)
            return self._stores[key]

    def _remember(self, model: str, found: dict[bytes, np.ndarray]) -> None:
        with self._lock:
            for k, v in found.items():
                self._vectors[(model, k)] = v
            while len(self._vectors) > self.memory_rows:  # forget the oldest
                del self._vectors[next(iter(self._vectors))]

    def __len__(self) -> int:
        return len(self._vectors)

    def clear(self) -> None:
        """Forget the vectors held in memory (the shipped ones and the disk store stay)."""
        with self._lock:
            self._vectors.clear()


EMBEDDING_CACHE = EmbeddingCache()


def embed(embedder: Any, texts: Sequence[str]) -> np.ndarray:
    """The vectors of `texts` through the shared :data:`EMBEDDING_CACHE`."""
    return EMBEDDING_CACHE.encode(embedder, texts)
