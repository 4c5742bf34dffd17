"""A calendar: add events (refusing overlaps), list them, cancel them."""

from __future__ import annotations

from typing import Any

from synthpipe.tools.environments.base import Environment, ToolError, tool
from synthpipe.tools.environments.dates import parse_date


def minutes(clock: str) -> int:
    """Minutes after midnight of "HH:MM"."""
    try:
        hours, mins = (int(part) for part in clock.split(":"))
    except ValueError:
        raise ToolError(f"not a time (HH:MM): {clock!r}") from None
    if not (0 <= hours < 24 and 0 <= mins < 60):
        raise ToolError(f"not a time (HH:MM): {clock!r}")
    return hours * 60 + mins


class Calendar(Environment):
    name = "calendar"
    stateful = True

    def default_state(self) -> dict[str, Any]:
        return {"events": [], "next_id": 1}

    @tool
    def add_event(self, title: str, date: str, start: str, duration_minutes: int) -> dict[str, Any]:
        """Add an event; refused if it overlaps an existing event that day.

        Args:
            title: what the event is
            date: YYYY-MM-DD
            start: start time, HH:MM (24-hour)
            duration_minutes: length in minutes (1 to 1440)
        """
        parse_date(date)
        begin = minutes(start)
        if not 1 <= duration_minutes <= 1440 or begin + duration_minutes > 1440:
            raise ToolError("an event must last 1 to 1440 minutes and end the same day")
        for event in self.data["events"]:
            other = minutes(event["start"])
            if (
                event["date"] == date
                and begin < other + event["duration_minutes"]
                and other < begin + duration_minutes
            ):
                raise ToolError(
                    f"conflicts with {event['id']} ({event['title']!r} at {event['start']})"
                )
        event = {
            "id": f"evt-{self.data['next_id']}",
            "title": title,
            "date": date,
            "start": start,
            "duration_minutes": duration_minutes,
        }
        self.data["next_id"] += 1
        self.data["events"].append(event)
        self.data["events"].sort(key=lambda e: (e["date"], minutes(e["start"])))
        return {"added": event}

    @tool
    def list_events(self, date: str | None = None) -> dict[str, Any]:
        """The events, in time order, optionally only those on one date.

        Args:
            date: YYYY-MM-DD; omit for every event
        """
        if date is not None:
            parse_date(date)
        events = [e for e in self.data["events"] if date is None or e["date"] == date]
        return {"events": events}

    @tool
    def cancel_event(self, event_id: str) -> dict[str, Any]:
        """Cancel an event by its id (as returned by add_event or list_events).

        Args:
            event_id: e.g. "evt-2"
        """
        for index, event in enumerate(self.data["events"]):
            if event["id"] == event_id:
                del self.data["events"][index]
                return {"cancelled": event}
        raise ToolError(f"no event {event_id!r}")
