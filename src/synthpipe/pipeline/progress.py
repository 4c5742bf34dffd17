"""Progress display: rich bars per step on stderr, or nothing (--quiet / --json)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class NullProgress:
    """Does nothing; the executor talks to this interface only."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_step(self, name: str, total: int | None, note: str = "") -> None: ...

    def advance(self, name: str, n: int) -> None: ...

    def finish_step(self, name: str, note: str = "") -> None: ...


class RichProgress(NullProgress):
    """One bar per step: records done / expected, rate, elapsed and ETA."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(file=sys.stderr)
        self.bars = Progress(
            TextColumn("[bold]{task.fields[step]:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            console=self.console,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self):
        self.bars.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bars.__exit__(*exc)

    def add_step(self, name: str, total: int | None, note: str = "") -> None:
        self.tasks[name] = self.bars.add_task(name, total=total, step=name, rate="", note=note)

    def advance(self, name: str, n: int) -> None:
        task_id = self.tasks[name]
        self.bars.advance(task_id, n)
        speed = self.bars.tasks[task_id].speed
        self.bars.update(task_id, rate=f"{speed:,.0f} rec/s" if speed else "")

    def finish_step(self, name: str, note: str = "") -> None:
        task_id = self.tasks[name]
        task = self.bars.tasks[task_id]
        self.bars.update(task_id, total=task.completed, note=note)
