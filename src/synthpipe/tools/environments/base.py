"""The environment protocol: a class whose marked methods are tools and whose state is JSON.

An environment is built from its state (``None``: the default state), its tools are the
methods decorated with :func:`tool` (the tool's name is the method's name, its schema comes
from the signature and docstring, see :func:`synthpipe.tools.registry.schema_from_function`),
and :meth:`Environment.state` returns the state as JSON. A session keeps that state and sends
it with every call, so an environment object lives for one call only: anything it keeps
elsewhere is lost.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from synthpipe.errors import UsageError
from synthpipe.tools.registry import ToolRegistry, schema_from_function

F = TypeVar("F", bound=Callable[..., Any])


class ToolError(Exception):
    """What a tool raises for a request it refuses (unknown item, conflict, ...)."""


def tool(method: F) -> F:
    """Mark an environment method as a tool."""
    method.__synthpipe_tool__ = True  # type: ignore[attr-defined]
    return method


class Environment:
    """Base class: subclasses set `name`, `stateful`, and override `default_state`."""

    name: ClassVar[str] = ""
    stateful: ClassVar[bool] = False

    def __init__(self, state: dict[str, Any] | None = None):
        self.data: dict[str, Any] = copy.deepcopy(self.default_state() if state is None else state)
        self.check_state(self.data)

    def default_state(self) -> dict[str, Any]:
        return {}

    def check_state(self, state: dict[str, Any]) -> None:
        """Raise UsageError for an initial state the tools could not work with."""
        missing = set(self.default_state()) - set(state)
        if missing:
            raise UsageError(f"{self.name} state lacks {', '.join(sorted(missing))}")

    def state(self) -> dict[str, Any]:
        return self.data if self.stateful else {}


def registry_of(factory: Callable[..., Any]) -> ToolRegistry:
    """The tools of an environment factory (a class or a function returning an instance)."""
    instance = factory(None)
    registry = ToolRegistry()
    names = {  # in declaration order, base classes first
        attr: None
        for klass in reversed(type(instance).__mro__)
        for attr, value in vars(klass).items()
        if getattr(value, "__synthpipe_tool__", False)
    }
    for attr in names:
        registry.add_schema(schema_from_function(getattr(instance, attr)))
    if not len(registry):
        raise UsageError(f"environment {factory!r} has no method marked with @tool")
    return registry
