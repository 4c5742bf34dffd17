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

import fcntl
import json
import shutil
from pathlib import Path
from typing import Any

from synthpipe.data.writers import atomic_path
from synthpipe.errors import UsageError
from synthpipe.pipeline.checkpoints import StepCheckpoint


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

    def checkpoint(self, index: int, name: str, fingerprint: str) -> StepCheckpoint:
        return StepCheckpoint(self.steps_dir / f"{index:02d}-{name}", fingerprint)

    # -- lifecycle ------------------------------------------------------------------------
    def open(self, fresh: bool = False) -> None:
        """Create (or with `fresh`, empty) the directory and take an exclusive lock on it."""
        if fresh and self.root.exists():
            if not (self.state_path.exists() or self.steps_dir.exists()):
                raise UsageError(f"refusing to empty {self.root}: it does not look like a synthpipe run")
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_file = (self.root / ".lock").open("w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another synthpipe process is running in {self.root}") from None

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
