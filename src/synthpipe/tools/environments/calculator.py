"""Calculator: safe arithmetic on an expression (parsed with `ast`, never `eval`)."""

from __future__ import annotations

from typing import Any

from synthpipe.tools.environments.base import Environment, ToolError, tool
from synthpipe.tools.example_tools import calculate as _calculate


class Calculator(Environment):
    name = "calculator"

    @tool
    def calculate(self, expression: str) -> dict[str, Any]:
        """Evaluate an arithmetic expression: + - * / // % **, parentheses, sqrt, abs, round,
        pi and e.

        Args:
            expression: the expression, e.g. "(3 + 4) * 2.5"
        """
        try:
            value = _calculate(expression)
        except (ValueError, ZeroDivisionError, OverflowError, TypeError) as exc:
            raise ToolError(str(exc) or type(exc).__name__) from None
        if isinstance(value, float):
            value = int(value) if value.is_integer() and abs(value) < 1e15 else round(value, 10)
        return {"expression": expression, "result": value}
