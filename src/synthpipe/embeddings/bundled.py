"""Embeddings of fixed texts shipped with synthpipe, so a first run does not compute them.

The fixed texts are the ones every user embeds the same way: the bundled benchmark questions
as ``decontaminate --semantic`` embeds them (numbers masked) and the bundled TREC
train/test/seed questions the quickstart audits and trains on. Their vectors live in
``resources/embeddings/<model key>/``, one directory per embedding model (the key of
:attr:`~synthpipe.embeddings.minilm.Embedder.key`, so another model or ``max_length`` never
sees them):

- ``keys.npy``: (n, 16) uint8, the :func:`~synthpipe.embeddings.store.text_key` of each text;
- ``vectors.npy``: (n, d) float16, read memory-mapped; rows are renormalised to unit length
  in float32 when read (float16 keeps cosine >= 0.99999 to the float32 vectors);
- ``meta.json``: the model's identity, the texts' sources, and a few reference texts with
  their float32 vectors, which check an ONNX graph built on the user's machine.

:class:`~synthpipe.embeddings.cache.EmbeddingCache` reads them before its disk store and before
computing. Regenerate with ``scripts/bundle_embeddings.py`` (it verifies the pack against a
fresh float32 computation and prints its size).
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np


def packs_root() -> Path:
    """``synthpipe/resources/embeddings``: one subdirectory per model key."""
    return Path(str(importlib.resources.files("synthpipe") / "resources" / "embeddings"))


class BundledVectors:
    """One model's shipped vectors, looked up by text key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        keys = np.load(folder / "keys.npy")
        self._rows = {bytes(k): i for i, k in enumerate(keys)}
        self._vectors = np.load(folder / "vectors.npy", mmap_mode="r")

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """Unit-length float32 vectors of those `keys` that are shipped."""
        found = [(k, r) for k in keys if (r := self._rows.get(k)) is not None]
        if not found:
            return {}
        rows = np.asarray([r for _, r in found])
        order = np.argsort(rows)  # memory-mapped reads in file order
        vectors = np.empty((len(rows), self._vectors.shape[1]), dtype=np.float32)
        vectors[order] = self._vectors[rows[order]]
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return {k: v for (k, _), v in zip(found, vectors, strict=True)}


@cache
def pack_for(model_key: str) -> BundledVectors | None:
    """The shipped vectors of the model with `model_key`, or None (loaded once per process)."""
    folder = packs_root() / model_key
    if not (folder / "keys.npy").exists():
        return None
    return BundledVectors(folder)


def reference_vectors(model_key: str) -> tuple[list[str], np.ndarray] | None:
    """(texts, float32 vectors) stored with the pack of `model_key` to check a new graph."""
    meta = packs_root() / model_key / "meta.json"
    if not meta.exists():
        return None
    check = json.loads(meta.read_text()).get("check") or {}
    if not check.get("texts"):
        return None
    return list(check["texts"]), np.asarray(check["vectors"], dtype=np.float32)


def write_pack(
    folder: Path,
    keys: Sequence[bytes],
    vectors: np.ndarray,
    meta: dict,
) -> None:
    """Write a pack: `keys` (16 bytes each) and their `vectors` (stored as float16), and `meta`
    (identity, sources, check texts and vectors)."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "keys.npy", np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 16))
    np.save(folder / "vectors.npy", np.asarray(vectors, dtype=np.float16))
    (folder / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
