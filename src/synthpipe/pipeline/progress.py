"""Progress display: rich bars per step on stderr, or nothing (--quiet / --json)."""

from __future__ import annotations

import sys
import time

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

    def llm_update(self, endpoint: str, stats) -> None: ...


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
        self._llm_shown: dict[str, float] = {}

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

    def llm_update(self, endpoint: str, stats) -> None:
        """One line per LLM endpoint: requests/s, tokens/s, retries, failures, replies cut at
        max_tokens, cache hits, cost; in batch mode also batches sent / running / done and lines."""
        key = f"llm:{endpoint}"
        now = time.monotonic()
        if key in self._llm_shown and now - self._llm_shown[key] < 0.2:
            return
        self._llm_shown[key] = now
        s = stats.summary()
        cached = f"{s['cache_hit_rate']:.0%} cached" if s["cache_hit_rate"] is not None else ""
        note = (
            f"{s['requests']} req {s['requests_per_s']:.1f}/s  {s['prompt_tokens'] + s['completion_tokens']:,} tok "
            f"{s['tokens_per_s']:,.0f}/s  {s['retries']} retries  {s['failures']} failed  "
            f"{s['truncated']} truncated  {cached}  ${s['cost']:.4f}"
        )
        if (b := s.get("batch")) is not None:  # mode: batch
            note += (
                f"  batches {b['batches_submitted']} sent {b['batches_running']} running {b['batches_completed']} done"
                f" ({b['batches_reattached']} re-attached)  lines {b['batch_lines_processed']:,} processed"
                f" {b['batch_lines_done']:,}/{b['batch_lines']:,} read"
                f" {b['batch_lines_retried']} retried {b['batch_lines_failed']} failed"
            )
        if key not in self.tasks:
            self.tasks[key] = self.bars.add_task(key, total=None, step=key, rate="", note=note)
        self.bars.update(self.tasks[key], note=note)
