"""The environments sessions are built from, by name: the bundled ones (stateless calculator,
units, dates; stateful kv_store, calendar, cart, notes) and any added with
:func:`register_environment` (e.g. the planning domains of ``synthpipe.tools.planning``)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import synthpipe.tools
from synthpipe.errors import UsageError
from synthpipe.tools.environments.calculator import Calculator
from synthpipe.tools.environments.calendar_env import Calendar
from synthpipe.tools.environments.cart import Cart
from synthpipe.tools.environments.dates import Dates
from synthpipe.tools.environments.kv_store import KVStore
from synthpipe.tools.environments.notes import Notes
from synthpipe.tools.environments.units import Units

Factory = Callable[[dict[str, Any] | None], Any]
BUNDLED = (Calculator, Units, Dates, KVStore, Calendar, Cart, Notes)
_ENVIRONMENTS: dict[str, Factory] = {env.name: env for env in BUNDLED}


def register_environment(name: str, factory: Factory) -> None:
    """Make `factory(state | None) -> environment` available to sessions as `name`. It must be
    importable by reference (a module-level class or function): the worker process builds it."""
    if name in _ENVIRONMENTS and _ENVIRONMENTS[name] is not factory:
        raise UsageError(f"environment {name!r} is registered twice")
    _ENVIRONMENTS[name] = factory


def environments() -> list[str]:
    """Names of the registered environments (after loading the tools subpackages)."""
    _load_subpackages()
    return sorted(_ENVIRONMENTS)


def environment_factory(name: str) -> Factory:
    if name not in _ENVIRONMENTS:
        _load_subpackages()  # e.g. the planning domains register themselves on import
    if name not in _ENVIRONMENTS:
        known = ", ".join(sorted(_ENVIRONMENTS))
        raise UsageError(f"unknown tool environment {name!r}; known: {known}")
    return _ENVIRONMENTS[name]


def _load_subpackages() -> None:
    for module in pkgutil.iter_modules(synthpipe.tools.__path__, "synthpipe.tools."):
        if module.ispkg:
            importlib.import_module(module.name)
