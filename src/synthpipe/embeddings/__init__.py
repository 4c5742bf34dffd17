"""Sentence embeddings for semantic dedup, decontamination and audits (offline MiniLM)."""

from synthpipe.embeddings.minilm import (
    Embedder,
    default_model_path,
    embedder_requirements,
    get_embedder,
)

__all__ = ["Embedder", "default_model_path", "embedder_requirements", "get_embedder"]
