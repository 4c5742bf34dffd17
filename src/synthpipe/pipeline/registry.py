"""Step registry: recipes name steps by a short name; third parties add their own.

Built-in steps live in the modules listed in `_BUILTIN_MODULES`. Other packages register
steps with the ``synthpipe.steps`` entry-point group (``name = "pkg.module:StepClass"``) or by
calling :func:`register_step` before the recipe is loaded.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TypeVar

from synthpipe.errors import UsageError
from synthpipe.pipeline.step import Step

_BUILTIN_MODULES = (
    "synthpipe.pipeline.sources",
    "synthpipe.procedural.slot_template",
    "synthpipe.procedural.math_word_problems",
    "synthpipe.procedural.reasoning_gym_source",
    "synthpipe.curate.text_filters",
    "synthpipe.curate.exact_dedup",
    "synthpipe.curate.filters.repetition",
    "synthpipe.curate.filters.symbols",
    "synthpipe.curate.filters.llm_output",
    "synthpipe.curate.filters.language_filter",
    "synthpipe.curate.pii",
    "synthpipe.curate.decontam.step",
    "synthpipe.curate.minhash",
    "synthpipe.curate.semantic_dedup",
    "synthpipe.audit.step",
    "synthpipe.verify.math_steps",
    "synthpipe.verify.tool_calls",
    "synthpipe.verify.code_check",
    "synthpipe.generate.text_generation",
    "synthpipe.generate.self_instruct",
    "synthpipe.generate.evol_instruct",
    "synthpipe.generate.persona_hub",
    "synthpipe.generate.glan",
    "synthpipe.generate.zerogen",
    "synthpipe.generate.llm_judge",
    "synthpipe.generate.ultrafeedback",
    "synthpipe.generate.constitutional_ai",
    "synthpipe.generate.rejection_sampling",
    "synthpipe.generate.grounded_qa",
    "synthpipe.generate.humpback",
    "synthpipe.generate.wrap",
    "synthpipe.generate.dialogue",
    "synthpipe.generate.red_team",
)
_REGISTRY: dict[str, type[Step]] = {}
_loaded = False

S = TypeVar("S", bound=type[Step])


def register_step(name: str) -> Callable[[S], S]:
    """Class decorator: make a step available to recipes under `name`."""

    def decorate(cls: S) -> S:
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
            raise UsageError(f"step name {name!r} is already registered by {existing.__module__}")
        cls.registry_name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    for ep in entry_points(group="synthpipe.steps"):
        cls = ep.load()
        if ep.name not in _REGISTRY:
            register_step(ep.name)(cls)


def registered_steps() -> dict[str, type[Step]]:
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def get_step_class(name: str) -> type[Step]:
    """Look up a step by name; an unknown name raises with the closest valid names."""
    steps = registered_steps()
    if name in steps:
        return steps[name]
    if ":" in name:  # "package.module:StepClass" names a step without registering it
        return _import_step(name)
    raise UsageError(f"unknown step {name!r}{suggest(name, steps)}")


def suggest(name: str, options) -> str:
    """'; did you mean X?' for the closest option(s), or the list of valid options if short."""
    scored = sorted(((difflib.SequenceMatcher(None, name, o).ratio(), o) for o in options), reverse=True)
    best = scored[0][0] if scored else 0.0
    close = [o for score, o in scored if score >= max(0.6, best - 0.05)][:3]
    if close:
        return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "; valid: " + ", ".join(sorted(options)) if len(options) <= 12 else ""


def _import_step(spec: str) -> type[Step]:
    module_name, _, attr = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"cannot import step {spec!r}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Step)):
        raise UsageError(f"{spec!r} is not a synthpipe Step subclass")
    return cls
