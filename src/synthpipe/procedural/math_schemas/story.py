"""The story builder every math word problem schema writes through.

A :class:`Story` collects the problem's statement sentences and its worked solution, one
calculator-annotated line per reasoning step in GSM8K's format (Cobbe et al. 2021):
``She has 16 - 3 = <<16-3=13>>13 eggs left.``. `Story.calc` evaluates each step exactly
(fractions, no floats) and raises :class:`Infeasible` when a step would be non-integer,
negative, too large, or use an operation the difficulty does not allow; the generator then
tries another draw. Schemas therefore never need to prove a story feasible in advance.
"""

from __future__ import annotations

import ast
import functools
import itertools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

LEXICON_PATH = (
    Path(__file__).resolve().parents[2] / "resources" / "procedural" / "math_lexicon.json"
)

OPERATIONS = ("add", "subtract", "multiply", "divide", "percent", "fraction")
_AST_OPS = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide"}
_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "x", ast.Div: "/"}
_PRECEDENCE = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2}

PERCENTS = (10, 20, 25, 30, 40, 50, 60, 75, 80)
FRACTIONS = ((1, 2), (1, 3), (1, 4), (1, 5), (2, 3), (3, 4), (2, 5), (3, 5))
FRACTION_WORDS = {
    (1, 2): "half", (1, 3): "a third", (1, 4): "a quarter", (1, 5): "a fifth",
    (2, 3): "two thirds", (3, 4): "three quarters", (2, 5): "two fifths", (3, 5): "three fifths",
}  # fmt: skip
TIMES_WORDS = {2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times"}
NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
)


class Infeasible(Exception):
    """This draw cannot make a valid problem (a step would break a rule); draw again."""


@functools.lru_cache(maxsize=1)
def lexicon() -> dict[str, Any]:
    """The bundled names/objects/units lexicon (read once per process)."""
    return json.loads(LEXICON_PATH.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Agent:
    """Someone (or something) a story is about, with the pronouns to refer to it."""

    name: str
    he: str
    him: str
    his: str

    @property
    def Name(self) -> str:  # noqa: N802 - sentence-initial form ("The bakery")
        return self.name[:1].upper() + self.name[1:]

    @property
    def He(self) -> str:  # noqa: N802
        return self.he.capitalize()

    @property
    def His(self) -> str:  # noqa: N802
        return self.his.capitalize()

    @property
    def himself(self) -> str:
        return {"him": "himself", "her": "herself", "it": "itself"}.get(self.him, "themselves")

    def verb(self, singular: str, plural: str) -> str:
        """The verb form for this agent as subject ('has' / 'have')."""
        return plural if self.he == "they" else singular


_UNIT_PAIRS = (
    ("people", "person"), ("passengers", "passenger"), ("students", "student"), ("legs", "leg"),
    ("minutes", "minute"), ("hours", "hour"), ("days", "day"), ("weeks", "week"),
    ("kilometers", "kilometer"), ("liters", "liter"), ("kilograms", "kilogram"), ("grams", "gram"),
    ("pages", "page"), ("bags", "bag"), ("boxes", "box"), ("seats", "seat"), ("rows", "row"),
    ("points", "point"), ("years", "year"), ("batches", "batch"), ("trips", "trip"),
    ("more", "more"), ("packs", "pack"), ("cups", "cup"), ("tickets", "ticket"),
    ("chairs", "chair"),
)  # fmt: skip


_NOUN_KEYS = (
    "collectibles",
    "shop_items",
    "menu_items",
    "ticket_types",
    "loads",
    "baked_goods",
    "snacks",
    "animals",
    "produce",
    "foods",
    "shows",
)  # lists of [singular, plural, ...]


@functools.lru_cache(maxsize=1)
def _singulars() -> list[tuple[str, str]]:
    """(plural, singular) pairs from the lexicon's nouns and common units, longest plural first."""
    lex = lexicon()
    pairs = dict(_UNIT_PAIRS)
    for key in _NOUN_KEYS:
        for item in lex[key]:
            pairs[item[1]] = item[0]
            if key in ("produce", "foods"):  # [plant, plants, fruit, fruits]
                pairs[item[3]] = item[2]
    for store in lex["stores"]:
        pairs[store["group"][1]] = store["group"][0]
        for sing, plur in store["items"]:
            pairs[plur] = sing
    for feed in lex["feeds"]:
        pairs[feed[2]] = feed[1]
    return sorted(pairs.items(), key=lambda p: -len(p[0]))


def singular(text: str) -> str:
    """Text following the number 1: its leading plural noun made singular ('eggs.' -> 'egg.')."""
    for plur, sing in _singulars():
        if text.startswith(plur) and text[len(plur) : len(plur) + 1] in ("", " ", ".", ","):
            return sing + text[len(plur) :]
    return text


def article(noun: str) -> str:
    """'apple' -> 'an apple', 'mug' -> 'a mug'."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def org(name: str) -> Agent:
    """A shop, farm or club: 'the bakery ... its ...'."""
    return Agent(name, "it", "it", "its")


def plural(noun: Sequence[str], count: int) -> str:
    """`noun` is (singular, plural, ...); pick the form that agrees with `count`."""
    return noun[0] if count == 1 else noun[1]


def pretty(code: str) -> str:
    """'3*4+2' -> '3 x 4 + 2': how the solution text writes a calculator expression."""
    return _render(ast.parse(code, mode="eval").body)


def _render(node: ast.AST) -> str:
    if isinstance(node, ast.Constant):
        return str(node.value)
    if not isinstance(node, ast.BinOp):
        raise ValueError(f"unsupported expression node {ast.dump(node)}")
    prec = _PRECEDENCE[type(node.op)]
    left, right = _render(node.left), _render(node.right)
    # ast drops parentheses: put back the ones precedence needs
    if isinstance(node.left, ast.BinOp) and _PRECEDENCE[type(node.left.op)] < prec:
        left = f"({left})"
    if isinstance(node.right, ast.BinOp) and _PRECEDENCE[type(node.right.op)] <= prec:
        right = f"({right})"
    return f"{left} {_SYMBOL[type(node.op)]} {right}"


def evaluate(code: str) -> tuple[Fraction, set[str]]:
    """Exact value of an arithmetic expression and the operations it uses."""
    ops: set[str] = set()

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return Fraction(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _AST_OPS:
            ops.add(_AST_OPS[type(node.op)])
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if right == 0:
                raise Infeasible("division by zero")
            return left / right
        raise ValueError(f"unsupported expression {code!r}")

    return walk(ast.parse(code, mode="eval").body), ops


class Story:
    """Statement sentences, solution lines and step bookkeeping for one problem."""

    def __init__(self, rng: random.Random, max_number: int, operations: Sequence[str]):
        self.rng = rng
        self.max_number = max_number
        self.allowed = frozenset(operations)
        self.cap = max(2000, max_number * 100)  # largest intermediate value we accept
        self.lex = lexicon()
        self.facts: list[str] = []
        self.lines: list[str] = []
        self.ops: list[str] = []  # operations used, one or more per step
        self.steps = 0
        self.last: int | None = None  # the latest step's result: the answer once built
        self._names: set[str] = set()
        self.question = ""

    # -- randomness ---------------------------------------------------------------------
    def pick(self, options: Sequence[Any]) -> Any:
        if not options:
            raise Infeasible("nothing to choose from")
        return options[self.rng.randrange(len(options))]

    def sample(self, options: Sequence[Any], k: int) -> list[Any]:
        if k > len(options):
            raise Infeasible(f"need {k} distinct options, have {len(options)}")
        return self.rng.sample(list(options), k)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def num(self, lo: int, hi: int | None = None, mult: int = 1) -> int:
        """A number in [lo, hi] (hi capped at max_number) that is a multiple of `mult`."""
        hi = self.max_number if hi is None else min(hi, self.max_number)
        first = -(-lo // mult) * mult
        if first > hi:
            raise Infeasible(f"no multiple of {mult} in [{lo}, {hi}]")
        return self.rng.randrange(first, hi + 1, mult)

    def friendly(self, lo: int, hi: int | None = None) -> int:
        """Like `num`, but usually a multiple of something, so later steps can divide it."""
        for mult in (self.pick((2, 4, 5, 6, 10, 12, 20)), 2, 1):
            try:
                return self.num(lo, hi, mult)
            except Infeasible:
                continue
        raise Infeasible(f"no number in [{lo}, {hi}]")

    def small(self, lo: int = 2, hi: int = 6) -> int:
        return self.num(lo, hi)

    def divisor(self, value: int, lo: int = 2, hi: int = 12) -> int:
        """A divisor of `value` in [lo, hi] (capped at max_number)."""
        options = [d for d in range(lo, min(hi, self.max_number) + 1) if value % d == 0]
        if not options:
            raise Infeasible(f"{value} has no divisor in [{lo}, {hi}]")
        return self.pick(options)

    def percent(self, value: int, proper: bool = True) -> int:
        """A percentage p with p% of `value` a whole number (p < 100 when `proper`)."""
        options = [p for p in PERCENTS if value * p % 100 == 0 and (p < 100 or not proper)]
        if not options:
            raise Infeasible(f"no whole percentage of {value}")
        return self.pick(options)

    def fraction(self, value: int, unit_only: bool = False) -> tuple[int, int]:
        """A fraction (num, den) of `value` that is whole; `unit_only` keeps num == 1."""
        options = [f for f in FRACTIONS if value % f[1] == 0 and (f[0] == 1 or not unit_only)]
        if not options:
            raise Infeasible(f"no simple fraction of {value}")
        return self.pick(options)

    # -- people ---------------------------------------------------------------------------
    def person(self, gender: str | None = None) -> Agent:
        """A person with a name not used yet in this story."""
        gender = gender or self.pick(("female", "male"))
        names = [n for n in self.lex["names"][gender] if n not in self._names]
        name = self.pick(names)
        self._names.add(name)
        if gender == "female":
            return Agent(name, "she", "her", "her")
        return Agent(name, "he", "him", "his")

    def people(self, k: int) -> list[Agent]:
        return [self.person() for _ in range(k)]

    # -- text -----------------------------------------------------------------------------
    def allows(self, *ops: str) -> bool:
        return all(op in self.allowed for op in ops)

    def say(self, *sentences: str) -> None:
        """Add statement sentences (the problem text, before the question)."""
        self.facts.extend(s for s in sentences if s)

    def ask(self, question: str) -> None:
        self.question = question

    def note(self, line: str) -> None:
        """A solution line without a calculation (restating a given fact)."""
        self.lines.append(line)

    def calc(
        self, code: str, before: str, after: str = "", *, op: str | None = None, money: bool = False
    ) -> int:
        """One reasoning step: evaluate `code` exactly, write '<before> a + b = <<a+b=c>>c <after>'.

        `op` names the step's operation when the arithmetic alone does not ('percent',
        'fraction'); otherwise the operators used are recorded. Raises Infeasible for a
        non-integer, negative or oversized result or an operation that is not allowed.
        """
        value, used = evaluate(code)
        ops = {op} if op else used
        if not ops <= self.allowed:
            raise Infeasible(f"operation(s) {sorted(ops - self.allowed)} not allowed")
        if value.denominator != 1 or value < 0 or value > self.cap:
            raise Infeasible(f"{code} = {value}")
        result = int(value)
        if result == 1:
            after = singular(after)
        annotated = f"{pretty(code)} = {'$' if money else ''}<<{code}={result}>>{result}"
        tail = after if not after or after[0] in ".,;:!?" else " " + after
        self.lines.append(f"{before} {annotated}{tail}".strip())
        self.ops.extend(sorted(ops))
        self.steps += 1
        self.last = result
        return result

    # -- state for backtracking -------------------------------------------------------------
    def mark(self) -> tuple[Any, ...]:
        return (
            len(self.facts),
            len(self.lines),
            len(self.ops),
            self.steps,
            self.last,
            frozenset(self._names),
            self.question,
        )

    def restore(self, mark: tuple[Any, ...]) -> None:
        facts, lines, ops, self.steps, self.last, names, self.question = mark
        del self.facts[facts:], self.lines[lines:], self.ops[ops:]
        self._names = set(names)

    def fit(self, budget: int, parts: Sequence[tuple[str, int, str]]) -> set[str]:
        """Optional parts (name, cost, "ops it uses") adding up to `budget`, allowed ops only."""
        usable = [(name, cost) for name, cost, ops in parts if self.allows(*ops.split())]
        return fit(self.rng, budget, usable)


def fit(rng: random.Random, budget: int, parts: Sequence[tuple[str, int]]) -> set[str]:
    """A random subset of optional `parts` (name, cost) whose costs add up to `budget`."""
    choices = [
        {name for name, _ in combo}
        for r in range(len(parts) + 1)
        for combo in itertools.combinations(parts, r)
        if sum(cost for _, cost in combo) == budget
    ]
    if not choices:
        raise Infeasible(f"no combination of {parts} costs {budget}")
    return choices[rng.randrange(len(choices))]


def split(rng: random.Random, total: int, parts: int, lo: int = 1) -> list[int]:
    """`parts` random integers >= lo adding up to `total`."""
    if parts * lo > total:
        raise Infeasible(f"cannot split {total} into {parts} parts of at least {lo}")
    cuts = sorted(rng.sample(range(1, total - parts * lo + parts), parts - 1))
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, total - parts * lo + parts], strict=True)]
    return [s - 1 + lo for s in sizes]
