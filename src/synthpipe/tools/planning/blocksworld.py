"""Blocksworld, the domain of PlanBench (Valmeekam et al. 2023, "PlanBench: An Extensible
Benchmark for Evaluating Large Language Models on Planning and Reasoning about Change").

Blocks sit on the table or on one another; one hand picks up, puts down, stacks and unstacks
one block at a time. Facts: ``(clear x)``, ``(ontable x)``, ``(on x y)``, ``(handempty)``,
``(holding x)``. Goals, as in PlanBench, are ``on`` facts only. Blocks are named ``a``, ``b``, ...
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Iterator, Sequence

from synthpipe.tools.planning.domain import Action, Domain, Fact, Problem, State

MAX_BLOCKS = 26
_BLOCK = re.compile(r"\b([a-z0-9]+) block\b")

INTRO = """\
I am playing with a set of blocks where I need to arrange the blocks into stacks. Here are the \
actions I can do:
(pick-up x): pick up block x from the table
(unstack x y): unstack block x from on top of block y
(put-down x): put down block x on the table
(stack x y): stack block x on top of block y

I have the following restrictions on my actions:
I can only pick up or unstack one block at a time.
I can only pick up or unstack a block if my hand is empty.
I can only pick up a block if the block is on the table and the block is clear. A block is \
clear if the block has no other blocks on top of it and if the block is not picked up.
I can only unstack a block from on top of another block if the block I am unstacking was \
really on top of the other block and is clear.
Once I pick up or unstack a block, I am holding the block.
I can only put down a block that I am holding.
I can only stack a block on top of another block if I am holding the block being stacked and \
the block onto which I am stacking the block is clear.
Once I put down or stack a block, my hand becomes empty.
Once I stack a block on top of a second block, the second block is no longer clear."""


class Blocksworld(Domain):
    name = "blocksworld"
    size_type = "block"
    size_unit = "blocks"
    signatures = {
        "pick-up": ("block",),
        "put-down": ("block",),
        "stack": ("block", "block"),
        "unstack": ("block", "block"),
    }

    def preconditions(self, action: Action) -> list[Fact]:
        x, *rest = action.args
        if action.name == "pick-up":
            return [("clear", x), ("ontable", x), ("handempty",)]
        if action.name == "put-down":
            return [("holding", x)]
        if action.name == "stack":
            return [("holding", x), ("clear", rest[0])]
        return [("on", x, rest[0]), ("clear", x), ("handempty",)]  # unstack

    def effects(self, action: Action) -> tuple[list[Fact], list[Fact]]:
        x, *rest = action.args
        if action.name == "pick-up":
            return [("holding", x)], [("ontable", x), ("clear", x), ("handempty",)]
        if action.name == "put-down":
            return [("ontable", x), ("clear", x), ("handempty",)], [("holding", x)]
        y = rest[0]
        if action.name == "stack":
            return [("on", x, y), ("clear", x), ("handempty",)], [("holding", x), ("clear", y)]
        return [("holding", x), ("clear", y)], [("on", x, y), ("clear", x), ("handempty",)]

    def successors(self, problem: Problem, state: State) -> Iterator[Action]:
        held = next((f[1] for f in state if f[0] == "holding"), None)
        if held is not None:
            yield Action("put-down", (held,))
            for f in state:
                if f[0] == "clear" and f[1] != held:
                    yield Action("stack", (held, f[1]))
            return
        below = {f[1]: f[2] for f in state if f[0] == "on"}
        for f in state:
            if f[0] == "clear":
                x = f[1]
                yield Action("unstack", (x, below[x])) if x in below else Action("pick-up", (x,))

    def heuristic(self, problem: Problem, state: State) -> int:
        # each unmet (on x y) needs x moved: 2 actions (1 if already held); moves are per block
        return sum(
            1 if ("holding", g[1]) in state else 2
            for g in problem.goal
            if g not in state and g[0] == "on"
        )

    def describe_fact(self, fact: Fact) -> str:
        kind, *args = fact
        return {
            "clear": "the {0} block is clear",
            "ontable": "the {0} block is on the table",
            "on": "the {0} block is on top of the {1} block",
            "handempty": "the hand is empty",
            "holding": "the hand is holding the {0} block",
        }[kind].format(*args)

    def describe_action(self, action: Action) -> str:
        return {
            "pick-up": "pick up the {0} block",
            "put-down": "put down the {0} block",
            "stack": "stack the {0} block on top of the {1} block",
            "unstack": "unstack the {0} block from on top of the {1} block",
        }[action.name].format(*action.args)

    def statement(self, problem: Problem) -> str:
        init = ", ".join(self.describe_fact(f) for f in _ordered(problem.init))
        goal = ", ".join(self.describe_fact(f) for f in _ordered(problem.goal))
        return (
            f"{INTRO}\n\n[STATEMENT]\nAs initial conditions I have that, {init}.\n"
            f"My goal is to have that {goal}.\n\n"
            "Write the plan that reaches the goal as one action per line, in the syntax above, "
            "for example (unstack b a), and nothing else."
        )

    def aliases(self) -> dict[str, str]:
        return {
            "pickup": "pick-up",
            "putdown": "put-down",
            "pick_up": "pick-up",
            "put_down": "put-down",
        }

    def read_text(self, words: Sequence[str], problem: Problem) -> Action | None:
        text = " ".join(words).replace("-", " ")
        for prefix, name in (("pick up", "pick-up"), ("pickup", "pick-up"), ("put down", "put-down"),
                             ("putdown", "put-down"), ("unstack", "unstack"), ("stack", "stack")):  # fmt: skip
            if text.startswith(prefix):
                rest = text[len(prefix) :]
                named = _BLOCK.findall(rest) or [w for w in rest.split() if w in problem.types]
                return Action(name, tuple(named))
        return None

    def random_problem(self, rng: random.Random, size: int) -> Problem:
        if not 1 <= size <= MAX_BLOCKS:
            raise ValueError(f"blocksworld has 1 to {MAX_BLOCKS} blocks, got {size}")
        blocks = tuple(string.ascii_lowercase[:size])
        init = frozenset({("handempty",), *_tower_facts(_towers(rng, blocks))})
        goal: frozenset[Fact] = frozenset()
        while not goal:  # a goal needs at least one (on x y)
            goal = frozenset(f for f in _tower_facts(_towers(rng, blocks)) if f[0] == "on")
        return Problem(self.name, {"block": blocks}, init, goal)


def _towers(rng: random.Random, blocks: Sequence[str]) -> list[list[str]]:
    """Blocks dealt into random towers (bottom first)."""
    order = list(blocks)
    rng.shuffle(order)
    towers: list[list[str]] = []
    for block in order:
        if not towers or rng.random() < 1 / (len(towers) + 1):
            towers.append([block])
        else:
            towers[rng.randrange(len(towers))].append(block)
    return towers


def _tower_facts(towers: list[list[str]]) -> Iterator[Fact]:
    for tower in towers:
        yield ("ontable", tower[0])
        yield ("clear", tower[-1])
        for lower, upper in zip(tower, tower[1:], strict=False):
            yield ("on", upper, lower)


def _ordered(facts: frozenset[Fact]) -> list[Fact]:
    rank = {"clear": 0, "handempty": 1, "holding": 1, "on": 2, "ontable": 3}
    return sorted(facts, key=lambda f: (rank.get(f[0], 9), f))
