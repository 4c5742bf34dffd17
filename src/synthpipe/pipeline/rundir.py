"""The run directory: everything a run leaves behind, in one place.

    runs/<name>/
        recipe.yaml       the resolved recipe (overrides applied); rerunnable as is
        run.json          status, timestamps, step fingerprints
        steps/NN-<name>/  per-step checkpoints (see checkpoints.py)
        kept.<fmt>        the records that survived every step
        dropped.<fmt>     the ledger: every record that left, with _drop = {step, reason, detail}
        quarantine.jsonl  malformed input records with file, line and reason
        metrics.json      counts per step, reasons, timings
        run.log           log of the run
        report.html       the report
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Any

from synthpipe.data.writers import atomic_path
from synthpipe.errors import UsageError
from synthpipe.pipeline.checkpoints import StepCheckpoint

LOCK_NAME = ".lock"  # held (flock) by the process running in the directory; holds its pid
#: pass rates of the verify_trajectory step, per task type and check (read into metrics.json)
TRAJECTORY_SUMMARY = "trajectory_summary.json"


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._lock_file = None

    # -- paths ----------------------------------------------------------------------------
    @property
    def steps_dir(self) -> Path:
        return self.root / "steps"

    def kept_path(self, fmt: str) -> Path:
        return self.root / f"kept.{fmt}"

    def dropped_path(self, fmt: str) -> Path:
        return self.root / f"dropped.{fmt}"

    metrics_path = property(lambda self: self.root / "metrics.json")
    recipe_path = property(lambda self: self.root / "recipe.yaml")
    state_path = property(lambda self: self.root / "run.json")
    log_path = property(lambda self: self.root / "run.log")
    quarantine_path = property(lambda self: self.root / "quarantine.jsonl")
    report_path = property(lambda self: self.root / "report.html")

    def checkpoint(self, index: int, name: str, fingerprint: str, **options: Any) -> StepCheckpoint:
        """Step `index`'s checkpoint; `options` as for :class:`StepCheckpoint` (storage, ...)."""
        return StepCheckpoint(self.steps_dir / f"{index:02d}-{name}", fingerprint, **options)

    # -- lifecycle ------------------------------------------------------------------------
    def open(self, fresh: bool = False) -> None:
        """Create the directory, take an exclusive lock on it, and with `fresh` empty it.

        The lock comes first: a directory another process runs in is never emptied (its run
        would go on writing into a directory a second run is filling)."""
        if fresh:
            self._check_emptiable()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock()
        if fresh:
            for child in self.root.iterdir():
                if child.name != LOCK_NAME:
                    _remove(child)

    def _check_emptiable(self) -> None:
        """--fresh empties a synthpipe run directory, never some other directory by mistake."""
        if not self.root.exists() or self.state_path.exists() or self.steps_dir.exists():
            return
        if any(child.name != LOCK_NAME for child in self.root.iterdir()):
            raise UsageError(f"refusing to empty {self.root}: it does not look like a synthpipe run")

    def _lock(self) -> None:
        """flock the lock file (released by the OS when the process dies) and write our pid in it."""
        handle = (self.root / LOCK_NAME).open("a+", encoding="utf-8")  # "w" would erase the holder's pid
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            who = f"another synthpipe process (pid {holder})" if holder.isdigit() else "another synthpipe process"
            raise UsageError(
                f"{who} holds the lock on {self.root}: wait for it to finish, or stop it, then rerun"
            ) from None
        with contextlib.suppress(OSError):  # the pid only helps the message; a full disk must not stop a resume
            os.ftruncate(handle.fileno(), 0)
            os.write(handle.fileno(), f"{os.getpid()}\n".encode())
        self._lock_file = handle

    def close(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def remove_stale_steps(self, keep: set[str]) -> None:
        """Delete checkpoints of steps no longer in the plan (renamed, removed, reordered)."""
        if self.steps_dir.exists():
            for child in self.steps_dir.iterdir():
                if child.is_dir() and child.name not in keep:
                    shutil.rmtree(child)

    def write_json(self, path: Path, data: Any) -> None:
        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")

    def read_json(self, path: Path) -> Any:
        return json.loads(path.read_text()) if path.exists() else None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def write_step_summary(run_dir: Path | str, filename: str, step_name: str, summary: dict) -> Path:
    """Write a global step's `summary` (it names `step`) to ``<run_dir>/<filename>``; a second
    step of the same kind in the run writes ``<stem>.<step_name>.json`` instead of overwriting."""
    path = Path(run_dir) / filename
    if path.exists():
        try:
            other = json.loads(path.read_text()).get("step")
        except (OSError, ValueError, AttributeError):
            other = None
        if other not in (None, step_name):
            path = path.with_name(f"{path.stem}.{step_name}.json")
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path
