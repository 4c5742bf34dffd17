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

The root may be an object-store URI (``s3://bucket/prefix``, see :mod:`synthpipe.data.storage`):
the checkpoints' batch files are then read and written there directly; everything else is
made in a local work directory (:func:`~synthpipe.data.storage.work_dir`: the lock, the spill,
logs, side files), pulled from the URI when the run opens and pushed to it when it closes,
``run.json`` last: it is the commit marker of the run's outputs. The URI is locked by a lease
object besides the local lock (:mod:`synthpipe.pipeline.remote_lock`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from synthpipe.data.storage import Store, is_remote, local_path, work_dir
from synthpipe.data.writers import atomic_path
from synthpipe.errors import UsageError
from synthpipe.pipeline.checkpoints import StepCheckpoint
from synthpipe.pipeline.remote_lock import LeaseLock

LOCK_NAME = ".lock"  # held (flock) by the process running in the directory; holds its pid
#: pass rates of the verify_trajectory step, per task type and check (read into metrics.json)
TRAJECTORY_SUMMARY = "trajectory_summary.json"
#: files of a remote run directory that stay remote: its lease, checkpoint batch files and marks, outputs
_REMOTE_ONLY = re.compile(r"^\.lock$|^steps/[^/]+/(part-\d+\.parquet|drops-\d+\.json|FINGERPRINT|DONE)$|^(kept|dropped)\.")
_NOT_PUSHED = re.compile(r"^(\.lock|\.spill/.*|.*/?\.[^/]*\.tmp-[^/]*)$")
_OUTPUT = re.compile(r"^(kept|dropped)\.")
_PUSHED_LAST = ("metrics.json", "run.json")  # run.json: the commit marker, after every output


class RunDir:
    def __init__(self, root: str | Path):
        #: the object-store prefix of a remote run directory (None for a local one)
        self.remote = Store(str(root)) if is_remote(root) else None
        self.root = work_dir(self.remote.url) if self.remote else local_path(root)
        self._lock_file = None
        self._lease = LeaseLock(self.remote) if self.remote else None  # the lock at the URI
        self._pulled: dict[str, tuple[int, int]] = {}  # name -> (size, mtime) as pulled
        self._synced = False  # the work directory was filled from the URI: push it at close

    @property
    def location(self) -> str:
        """Where the run directory is, as the user named it (a URI or a local path)."""
        return self.remote.url if self.remote else str(self.root)

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
        directory = f"{index:02d}-{name}"
        if self.remote is not None:
            options.setdefault("files", self.remote.child(f"steps/{directory}"))
        return StepCheckpoint(self.steps_dir / directory, fingerprint, **options)

    # -- lifecycle ------------------------------------------------------------------------
    def open(self, fresh: bool = False) -> None:
        """Create the directory, take an exclusive lock on it, and with `fresh` empty it.

        The lock comes first: a directory another process runs in is never emptied (its run
        would go on writing into a directory a second run is filling)."""
        if self.remote is not None:
            self.remote.check_reachable()
        if fresh:
            self._check_emptiable()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            if self._lease is not None:
                self._lease.acquire()
            if fresh or self.remote is not None:  # a work directory is rebuilt from the URI
                for child in self.root.iterdir():
                    if child.name != LOCK_NAME:
                        _remove(child)
            if self.remote is not None:
                if fresh:
                    self.remote.clear(keep=frozenset({LOCK_NAME}))
                self._pull()
                self._synced = True
        except BaseException:
            self.close()
            raise

    def _check_emptiable(self) -> None:
        """--fresh empties a synthpipe run directory, never some other directory by mistake."""
        if self.remote is not None:
            names = set(self.remote.names()) - {LOCK_NAME}
            if names and not names & {"run.json", "steps"}:
                raise UsageError(f"refusing to empty {self.location}: it does not look like a synthpipe run")
            return
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
            try:
                if self._synced:
                    self._synced = False
                    self._push()
            finally:
                try:
                    if self._lease is not None:
                        self._lease.release()
                finally:
                    self._lock_file.close()
                    self._lock_file = None

    # -- a remote run directory's local side -------------------------------------------------
    def _pull(self) -> None:
        """Copy what the work directory needs from the URI: state, logs, side files (not the
        checkpoints' batch files, which are read where they are, nor the outputs)."""
        for name in self.remote.download(self.root, keep=lambda n: not _REMOTE_ONLY.match(n)):
            self._pulled[name] = _stat(self.root / name)

    def fetch_outputs(self, fmt: str) -> None:
        """Copy the outputs that executor workers wrote straight to the URI into the work
        directory, for the readers at the end of a run (judge agreement, experiment)."""
        if self.remote is None or self.kept_path(fmt).exists():
            return
        for path in (self.kept_path(fmt), self.dropped_path(fmt)):
            names = [f"{path.name}/{n}" for n in self.remote.child(path.name).download(path)]
            if not names and self.remote.exists(path.name):  # one file
                self.remote.get(path.name, path)
                names = [path.name]
            self._pulled.update({n: _stat(self.root / n) for n in names})

    def _push(self) -> None:
        """Upload the work directory's new and changed files; run.json last (its status says
        whether the outputs before it are complete)."""
        names = [str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file()]
        changed = [n for n in names if not _NOT_PUSHED.match(n) and self._pulled.get(n) != _stat(self.root / n)]
        for output in {n.split("/")[0] for n in changed if _OUTPUT.match(n)}:
            self.remote.remove(output)  # the previous output, a file or shards, whichever layout
            self.remote.child(output).clear()
        for name in sorted(changed, key=_push_order):
            self.remote.upload(self.root / name, name)

    def remove_stale_steps(self, keep: set[str]) -> None:
        """Delete checkpoints of steps no longer in the plan (renamed, removed, reordered)."""
        if self.steps_dir.exists():
            for child in self.steps_dir.iterdir():
                if child.is_dir() and child.name not in keep:
                    shutil.rmtree(child)
        if self.remote is not None:
            steps = self.remote.child("steps")
            for name in steps.names():
                if name not in keep:
                    steps.child(name).clear()

    def write_json(self, path: Path, data: Any) -> None:
        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        # the URI shows a run's status as it changes; "finished" only from close(), after the
        # outputs it vouches for are uploaded
        if self.remote is not None and path == self.state_path and data.get("status") != "finished":
            self.remote.upload(path, path.name)

    def read_json(self, path: Path) -> Any:
        return json.loads(path.read_text()) if path.exists() else None


def _push_order(name: str) -> int:
    """Commit markers after what they commit: a sharded output's manifest after its shards,
    run.json after everything."""
    if name in _PUSHED_LAST:
        return 2 + _PUSHED_LAST.index(name)
    return 1 if name.endswith("/manifest.json") else 0


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def local_copy(location: str | Path) -> Path:
    """A finished run directory as a local path: itself, or for a URI a fresh copy of its
    files (outputs included, checkpoints' batch files not) in a local cache directory."""
    if not is_remote(location):
        return local_path(location)
    store = Store(str(location))
    store.check_reachable()
    if not store.exists("run.json"):
        raise UsageError(f"no synthpipe run at {location} (no run.json)")
    status = json.loads(store.read_text("run.json")).get("status")
    if status != "finished":  # run.json is the commit marker: outputs may be half replaced
        raise UsageError(f"the run at {location} is {status}, not finished: rerun it to the end first")
    local = work_dir(store.url).with_name(work_dir(store.url).name + "-copy")
    shutil.rmtree(local, ignore_errors=True)
    store.download(local, keep=lambda n: n != LOCK_NAME and not (n.startswith("steps/") and _REMOTE_ONLY.match(n)))
    return local


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
