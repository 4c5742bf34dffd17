"""The table of problem schemas: id -> builder, step range and the operations it always uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from synthpipe.procedural.math_schemas.story import Story

Builder = Callable[[Story, int], None]


@dataclass(frozen=True)
class Schema:
    """One story frame. `build(story, steps)` writes a problem of exactly `steps` steps."""

    id: str
    build: Builder
    min_steps: int
    max_steps: int
    needs: frozenset[str]  # operations every problem uses; "a|b" means a or b

    def fits(self, steps: int, allowed: frozenset[str]) -> bool:
        return self.min_steps <= steps <= self.max_steps and all(
            any(op in allowed for op in need.split("|")) for need in self.needs
        )


SCHEMAS: dict[str, Schema] = {}


def schema(
    id: str, min_steps: int, max_steps: int, needs: tuple[str, ...] = ()
) -> Callable[[Builder], Builder]:
    """Register a builder under `id` (decorator)."""

    def register(build: Builder) -> Builder:
        if id in SCHEMAS:
            raise ValueError(f"duplicate math schema id {id!r}")
        SCHEMAS[id] = Schema(id, build, min_steps, max_steps, frozenset(needs))
        return build

    return register
