"""Optimal planning by A* search with a consistent heuristic and a cap on the states explored.

The solver makes the generated problems trustworthy: a problem is kept only if a plan exists,
and its optimal length grades its difficulty and scores candidate plans (length / optimal).
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from synthpipe.tools.planning.domain import Action, Problem, State
from synthpipe.tools.planning.domains import get_domain

DEFAULT_MAX_STATES = 200_000


@dataclass(frozen=True)
class Solution:
    """An optimal plan, or None when there is none or the cap was reached first (`capped`)."""

    plan: tuple[Action, ...] | None
    expanded: int
    capped: bool = False

    @property
    def length(self) -> int | None:
        return None if self.plan is None else len(self.plan)


def solve(problem: Problem, max_states: int = DEFAULT_MAX_STATES) -> Solution:
    """An optimal plan by A*; gives up (``capped``) after expanding `max_states` states."""
    domain = get_domain(problem.domain)
    goal = problem.goal
    start: State = problem.init
    tie = itertools.count()  # FIFO among equal f: deterministic plans
    frontier = [(domain.heuristic(problem, start), 0, next(tie), start)]
    best = {start: 0}
    parent: dict[State, tuple[State, Action]] = {}
    expanded = 0
    while frontier:
        _, g, _, state = heapq.heappop(frontier)
        if g > best[state]:
            continue  # a stale entry: reached more cheaply since
        if goal <= state:
            return Solution(_path(parent, state), expanded)
        expanded += 1
        if expanded > max_states:
            return Solution(None, expanded, capped=True)
        for action in domain.successors(problem, state):
            nxt = domain.apply(state, action)
            if g + 1 < best.get(nxt, g + 2):
                best[nxt] = g + 1
                parent[nxt] = (state, action)
                heapq.heappush(
                    frontier, (g + 1 + domain.heuristic(problem, nxt), g + 1, next(tie), nxt)
                )
    return Solution(None, expanded)


def _path(parent: dict[State, tuple[State, Action]], state: State) -> tuple[Action, ...]:
    steps = []
    while state in parent:
        state, action = parent[state]
        steps.append(action)
    return tuple(reversed(steps))
