"""Sentence embeddings for semantic dedup, decontamination and audits (offline MiniLM).

:mod:`.minilm` computes them (ONNX Runtime on a graph built by :mod:`.bert_onnx`, or torch);
:func:`.cache.embed` is how callers get them: each text once per model, from memory, the
vectors shipped for fixed texts (:mod:`.bundled`) or the on-disk store (:mod:`.store`).
"""

from synthpipe.embeddings.minilm import (
    Embedder,
    default_model_path,
    embedder_requirements,
    get_embedder,
)

__all__ = ["Embedder", "default_model_path", "embedder_requirements", "get_embedder"]
