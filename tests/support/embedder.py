"""Skip marker for tests that need the offline MiniLM embedder (the `embed` extra)."""

from __future__ import annotations

import pytest


def embedder_available() -> bool:
    try:
        from synthpipe.embeddings import default_model_path

        default_model_path()
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except Exception:
        return False
    return True


needs_embedder = pytest.mark.skipif(not embedder_available(), reason="needs synthpipe[embed]")
