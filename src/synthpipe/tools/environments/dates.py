"""Date arithmetic on ISO dates: add days/weeks/months/years, weekday, days between."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Any, Literal

from synthpipe.tools.environments.base import Environment, ToolError, tool


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ToolError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def add_months(day: date, months: int) -> date:
    """`day` moved by `months`, clamped to the end of a shorter month (Jan 31 + 1 = Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise ToolError("the resulting date is out of range")
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


class Dates(Environment):
    name = "dates"

    @tool
    def add_to_date(
        self, date: str, amount: int, unit: Literal["days", "weeks", "months", "years"]
    ) -> dict[str, Any]:
        """Add (or, with a negative amount, subtract) days, weeks, months or years to a date.

        Args:
            date: the start date, YYYY-MM-DD
            amount: how many units to add; negative to go back
            unit: days, weeks, months or years
        """
        start = parse_date(date)
        try:
            if unit in ("days", "weeks"):
                result = start + timedelta(days=amount * (7 if unit == "weeks" else 1))
            else:
                result = add_months(start, amount * (12 if unit == "years" else 1))
        except OverflowError:
            raise ToolError("the resulting date is out of range") from None
        return {"date": result.isoformat(), "weekday": result.strftime("%A")}

    @tool
    def day_of_week(self, date: str) -> dict[str, str]:
        """The day of the week of a date.

        Args:
            date: the date, YYYY-MM-DD
        """
        return {"date": date, "weekday": parse_date(date).strftime("%A")}

    @tool
    def days_between(self, start_date: str, end_date: str) -> dict[str, int]:
        """Number of days from start_date to end_date; negative if end_date is earlier.

        Args:
            start_date: YYYY-MM-DD
            end_date: YYYY-MM-DD
        """
        return {"days": (parse_date(end_date) - parse_date(start_date)).days}
