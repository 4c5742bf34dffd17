"""Unit conversion: length, mass, volume, time (linear factors) and temperature (affine)."""

from __future__ import annotations

from typing import Any

from synthpipe.tools.environments.base import Environment, ToolError, tool

#: quantity -> unit -> size in the quantity's base unit (metre, kilogram, litre, second)
FACTORS: dict[str, dict[str, float]] = {
    "length": {
        "millimeter": 0.001, "centimeter": 0.01, "meter": 1.0, "kilometer": 1000.0,
        "inch": 0.0254, "foot": 0.3048, "yard": 0.9144, "mile": 1609.344,
    },
    "mass": {
        "milligram": 1e-6, "gram": 0.001, "kilogram": 1.0, "tonne": 1000.0,
        "ounce": 0.028349523125, "pound": 0.45359237, "stone": 6.35029318,
    },
    "volume": {
        "milliliter": 0.001, "liter": 1.0, "cubic_meter": 1000.0, "teaspoon": 0.00492892159375,
        "tablespoon": 0.01478676478125, "fluid_ounce": 0.0295735295625, "cup": 0.2365882365,
        "pint": 0.473176473, "quart": 0.946352946, "gallon": 3.785411784,
    },
    "time": {
        "second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0, "week": 604800.0,
    },
}  # fmt: skip
TEMPERATURES = ("celsius", "fahrenheit", "kelvin")
QUANTITY = {unit: q for q, table in FACTORS.items() for unit in table} | dict.fromkeys(
    TEMPERATURES, "temperature"
)


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """`value` in `from_unit` expressed in `to_unit`, rounded to 6 decimals."""
    for unit in (from_unit, to_unit):
        if unit not in QUANTITY:
            raise ToolError(f"unknown unit {unit!r}; known: {', '.join(sorted(QUANTITY))}")
    if QUANTITY[from_unit] != QUANTITY[to_unit]:
        raise ToolError(
            f"cannot convert {QUANTITY[from_unit]} ({from_unit}) to {QUANTITY[to_unit]} ({to_unit})"
        )
    if QUANTITY[from_unit] == "temperature":
        result = _from_kelvin(_to_kelvin(value, from_unit), to_unit)
    else:
        table = FACTORS[QUANTITY[from_unit]]
        result = value * table[from_unit] / table[to_unit]
    return round(result, 6) + 0.0  # + 0.0 turns -0.0 into 0.0


def _to_kelvin(value: float, unit: str) -> float:
    return {"celsius": value + 273.15, "fahrenheit": (value - 32) * 5 / 9 + 273.15}.get(unit, value)


def _from_kelvin(value: float, unit: str) -> float:
    return {"celsius": value - 273.15, "fahrenheit": (value - 273.15) * 9 / 5 + 32}.get(unit, value)


class Units(Environment):
    name = "units"

    @tool
    def convert_units(self, value: float, from_unit: str, to_unit: str) -> dict[str, Any]:
        """Convert a length, mass, volume, time or temperature value to another unit.

        Args:
            value: the amount to convert
            from_unit: its unit, singular and lower case (e.g. "mile", "pound", "cup", "hour",
                "celsius")
            to_unit: the unit wanted, of the same quantity
        """
        return {"value": convert(value, from_unit, to_unit), "unit": to_unit}
