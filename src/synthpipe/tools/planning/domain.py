"""What a planning domain is: facts, actions, problems, and the interface every domain implements.

A state is a frozen set of ground facts, each a tuple such as ``("on", "b", "a")`` or
``("handempty",)``. Actions are STRIPS-style, as in the PDDL domains of PlanBench (Valmeekam
et al. 2023): a list of positive preconditions, an add list and a delete list. A domain also
knows how to say its facts and actions in English (for prompts) and how to read an action
written in plain text (for parsing model output).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

Fact = tuple[str, ...]
State = frozenset[Fact]


def fact_text(fact: Fact) -> str:
    """PDDL form of a fact: ``(on b a)``."""
    return f"({' '.join(fact)})"


@dataclass(frozen=True)
class Action:
    """A ground action: its name and arguments, e.g. ``Action("unstack", ("b", "a"))``."""

    name: str
    args: tuple[str, ...]

    def pddl(self) -> str:
        return f"({' '.join((self.name, *self.args))})"


class ProblemError(ValueError):
    """A structured problem that cannot be read (unknown domain, malformed facts)."""


@dataclass(frozen=True, eq=False)
class Problem:
    """One planning problem: typed objects, the initial state and the goal facts."""

    domain: str
    objects: Mapping[str, tuple[str, ...]]  # type -> object names
    init: State
    goal: frozenset[Fact]

    @cached_property
    def types(self) -> dict[str, str]:
        """Object name -> its type."""
        return {name: kind for kind, names in self.objects.items() for name in names}

    def to_dict(self) -> dict[str, Any]:
        """JSON data (sorted, so equal problems serialise equally)."""
        return {
            "domain": self.domain,
            "objects": {kind: list(names) for kind, names in self.objects.items()},
            "init": [list(f) for f in sorted(self.init)],
            "goal": [list(f) for f in sorted(self.goal)],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Problem:
        """The inverse of `to_dict`; ProblemError says what is malformed."""
        if not isinstance(data, Mapping):
            raise ProblemError(f"a problem is an object, got {type(data).__name__}")
        missing = [k for k in ("domain", "objects", "init", "goal") if k not in data]
        if missing:
            raise ProblemError(f"problem lacks {', '.join(missing)}")
        objects = data["objects"]
        if not isinstance(objects, Mapping) or not all(
            isinstance(v, list | tuple) and all(isinstance(n, str) for n in v)
            for v in objects.values()
        ):
            raise ProblemError("problem.objects maps a type to a list of names")
        return cls(
            domain=str(data["domain"]),
            objects={str(k): tuple(v) for k, v in objects.items()},
            init=frozenset(_facts(data["init"], "init")),
            goal=frozenset(_facts(data["goal"], "goal")),
        )


def _facts(items: Any, where: str) -> Iterator[Fact]:
    if not isinstance(items, list | tuple):
        raise ProblemError(f"problem.{where} is a list of facts")
    for item in items:
        if (
            not isinstance(item, list | tuple)
            or not item
            or not all(isinstance(t, str) for t in item)
        ):
            raise ProblemError(f"problem.{where}: a fact is a list of names, got {item!r}")
        yield tuple(item)


class Domain(ABC):
    """A STRIPS planning domain. Subclasses fill in the class attributes and abstract methods."""

    name: ClassVar[str]
    #: action name -> the types of its parameters
    signatures: ClassVar[dict[str, tuple[str, ...]]]
    #: the object type whose count is a problem's size (block, package), for difficulty settings
    size_type: ClassVar[str]
    size_unit: ClassVar[str]  # its plural, for messages

    # -- semantics ------------------------------------------------------------------------------
    @abstractmethod
    def preconditions(self, action: Action) -> list[Fact]:
        """Facts that must hold before `action`."""

    @abstractmethod
    def effects(self, action: Action) -> tuple[list[Fact], list[Fact]]:
        """(add list, delete list) of `action`."""

    def size(self, problem: Problem) -> int:
        return len(problem.objects.get(self.size_type, ()))

    def unmet(self, state: State, action: Action) -> list[Fact]:
        """Preconditions of `action` that do not hold in `state` (empty: applicable)."""
        return [f for f in self.preconditions(action) if f not in state]

    def apply(self, state: State, action: Action) -> State:
        """The state after `action` (its preconditions are not checked here)."""
        add, delete = self.effects(action)
        return (state - frozenset(delete)) | frozenset(add)

    @abstractmethod
    def successors(self, problem: Problem, state: State) -> Iterator[Action]:
        """The actions applicable in `state` (for search)."""

    @abstractmethod
    def heuristic(self, problem: Problem, state: State) -> int:
        """A consistent lower bound on the actions left to reach the goal (A* stays optimal)."""

    def check_args(self, problem: Problem, action: Action) -> str | None:
        """Why `action` is not a well-formed action of this problem, or None."""
        params = self.signatures.get(action.name)
        if params is None:
            return f"unknown action {action.name!r}; actions: {', '.join(self.signatures)}"
        if len(action.args) != len(params):
            return f"{action.name} takes {len(params)} argument(s) ({', '.join(params)}), got {len(action.args)}"
        for arg, kind in zip(action.args, params, strict=True):
            actual = problem.types.get(arg)
            if actual is None:
                return f"unknown object {arg!r}"
            if actual != kind:
                return f"{action.name}: {arg!r} is a {actual}, expected a {kind}"
        return None

    # -- language -------------------------------------------------------------------------------
    @abstractmethod
    def describe_fact(self, fact: Fact) -> str:
        """The fact in English, as PlanBench words it."""

    @abstractmethod
    def describe_action(self, action: Action) -> str:
        """The action in English (the plain-text form the parser also reads)."""

    @abstractmethod
    def statement(self, problem: Problem) -> str:
        """The problem as a natural-language prompt: actions, rules, initial state, goal, syntax."""

    @abstractmethod
    def read_text(self, words: Sequence[str], problem: Problem) -> Action | None:
        """The action a plain-text line (lower-cased words) states, None if it is no action."""

    def aliases(self) -> dict[str, str]:
        """Other spellings of action names in PDDL-style lines (e.g. pickup -> pick-up)."""
        return {}

    # -- generation -----------------------------------------------------------------------------
    @abstractmethod
    def random_problem(self, rng: random.Random, size: int) -> Problem:
        """A random problem with `size` blocks / packages (possibly trivial: callers check)."""
