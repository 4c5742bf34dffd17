"""Implementations of the bundled example tool library (``bundled:example_tools.json``).

Small, deterministic and offline, so tool-call data can be verified end to end without any
service: unit conversion, a safe arithmetic calculator, date differences, two string
utilities and a country -> capital lookup. Written for synthpipe (Apache-2.0).
"""

from __future__ import annotations

import ast
import math
import operator
from datetime import date
from typing import Literal

Unit = Literal[
    "millimeter",
    "centimeter",
    "meter",
    "kilometer",
    "inch",
    "foot",
    "yard",
    "mile",
    "gram",
    "kilogram",
    "ounce",
    "pound",
    "celsius",
    "fahrenheit",
    "kelvin",
]

# metres or kilograms per unit; temperatures are affine and handled apart
_LENGTH = {
    "millimeter": 0.001,
    "centimeter": 0.01,
    "meter": 1.0,
    "kilometer": 1000.0,
    "inch": 0.0254,
    "foot": 0.3048,
    "yard": 0.9144,
    "mile": 1609.344,
}
_MASS = {"gram": 0.001, "kilogram": 1.0, "ounce": 0.028349523125, "pound": 0.45359237}
_TEMPERATURE = ("celsius", "fahrenheit", "kelvin")

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS = {"sqrt": math.sqrt, "abs": abs, "round": round}
_CONSTANTS = {"pi": math.pi, "e": math.e}
_MAX_EXPONENT = 1000  # keeps 9**9**9 from running for ever
_MAX_EXPRESSION = 200

CAPITALS = {
    "argentina": "Buenos Aires",
    "australia": "Canberra",
    "brazil": "Brasília",
    "canada": "Ottawa",
    "china": "Beijing",
    "egypt": "Cairo",
    "france": "Paris",
    "germany": "Berlin",
    "india": "New Delhi",
    "indonesia": "Jakarta",
    "italy": "Rome",
    "japan": "Tokyo",
    "kenya": "Nairobi",
    "mexico": "Mexico City",
    "nigeria": "Abuja",
    "russia": "Moscow",
    "south africa": "Pretoria",
    "south korea": "Seoul",
    "spain": "Madrid",
    "turkey": "Ankara",
    "united kingdom": "London",
    "united states": "Washington, D.C.",
}


def convert_units(value: float, from_unit: Unit, to_unit: Unit) -> float:
    """Convert a length, mass or temperature value from one unit to another."""
    if from_unit in _TEMPERATURE and to_unit in _TEMPERATURE:
        return _from_kelvin(_to_kelvin(value, from_unit), to_unit)
    for table in (_LENGTH, _MASS):
        if from_unit in table and to_unit in table:
            return value * table[from_unit] / table[to_unit]
    raise ValueError(f"cannot convert {from_unit} to {to_unit}: different quantities")


def _to_kelvin(value: float, unit: str) -> float:
    return {"celsius": value + 273.15, "fahrenheit": (value - 32) * 5 / 9 + 273.15}.get(unit, value)


def _from_kelvin(value: float, unit: str) -> float:
    return {"celsius": value - 273.15, "fahrenheit": (value - 273.15) * 9 / 5 + 32}.get(unit, value)


def calculate(expression: str) -> float:
    """Evaluate an arithmetic expression (+ - * / // % **, parentheses, sqrt, abs, round, pi, e).

    The expression is parsed with `ast` and only those operations are evaluated: no eval().
    """
    if len(expression) > _MAX_EXPRESSION:
        raise ValueError(f"expression longer than {_MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression: {exc.msg}") from None
    return _evaluate(tree.body)


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ValueError(f"exponent {right} is too large (limit {_MAX_EXPONENT})")
        return _BINARY[type(node.op)](left, right)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        return _FUNCTIONS[node.func.id](*(_evaluate(arg) for arg in node.args))
    raise ValueError(f"unsupported element in expression: {ast.unparse(node)!r}")


def days_between(start_date: str, end_date: str) -> int:
    """Number of days from start_date to end_date (ISO dates, YYYY-MM-DD); negative if earlier."""
    return (date.fromisoformat(end_date) - date.fromisoformat(start_date)).days


def count_words(text: str) -> int:
    """Number of whitespace-separated words in a text."""
    return len(text.split())


def reverse_text(text: str, unit: Literal["characters", "words"] = "characters") -> str:
    """Reverse a text, character by character or word by word."""
    return " ".join(reversed(text.split())) if unit == "words" else text[::-1]


def get_capital(country: str) -> dict[str, str]:
    """The capital city of a country (about twenty countries are known)."""
    key = " ".join(country.lower().split()).removeprefix("the ")
    if key not in CAPITALS:
        raise KeyError(f"unknown country {country!r}")
    return {"country": country, "capital": CAPITALS[key]}
