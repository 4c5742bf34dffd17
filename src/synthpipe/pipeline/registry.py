"""Step registry: recipes name steps by a short name; third parties add their own.

Every step, built-in or not, arrives through the ``synthpipe.steps`` entry-point group, so
this kernel module names no step package. An entry's value is either

- a step class, ``name = "pkg.module:StepClass"``, registered under the entry's name; or
- a package, ``anything = "pkg.steps"``, whose modules are all imported so that the classes
  they decorate with :func:`register_step` register themselves. synthpipe's own step
  packages (generate, procedural, verify, curate, audit, pipeline.sources) are declared
  this way in its ``pyproject.toml``, so a new technique file in one of them needs no list.

:func:`register_step` can also be called directly before a recipe is loaded.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import types
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TypeVar

from synthpipe.errors import UsageError
from synthpipe.importing import load_object
from synthpipe.pipeline.step import Step

ENTRY_POINT_GROUP = "synthpipe.steps"
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
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()  # a module (a package to scan) or a step class
        except (ImportError, AttributeError) as exc:
            raise UsageError(f"cannot load step entry point {ep.name} = {ep.value!r}: {exc}") from exc
        if isinstance(target, types.ModuleType):
            _import_package(target)
        elif ep.name not in _REGISTRY:
            register_step(ep.name)(_as_step(target, ep.value))
    if not _REGISTRY:
        raise UsageError(
            "no steps are registered: synthpipe's entry points are missing, so it is not "
            "installed; install it (pip install -e . in a source checkout)"
        )


def _import_package(package: types.ModuleType) -> None:
    """Import every module of `package` (and its subpackages): their steps register."""
    for info in pkgutil.walk_packages(getattr(package, "__path__", []), prefix=package.__name__ + "."):
        importlib.import_module(info.name)


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
    return _as_step(load_object(spec, what="step"), spec)


def _as_step(obj: object, spec: str) -> type[Step]:
    if not (isinstance(obj, type) and issubclass(obj, Step)):
        raise UsageError(f"{spec!r} is not a synthpipe Step subclass")
    return obj
