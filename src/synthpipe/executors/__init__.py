"""Executors run a plan of steps: `local` (one machine) and `ray` (a Ray cluster)."""

from __future__ import annotations

from typing import Any

from synthpipe.errors import UsageError

EXECUTORS = ("local", "ray")


def make_executor(name: str, *, workers: int = 1, max_inflight: int = 4, address: str | None = None) -> Any:
    """The executor called `name`; Ray is imported only when asked for."""
    if name == "local":
        from synthpipe.executors.local import LocalExecutor

        return LocalExecutor(workers, max_inflight)
    if name == "ray":
        from synthpipe.executors.ray_executor import RayExecutor

        return RayExecutor(address=address, max_inflight=max_inflight)
    raise UsageError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
