"""Ray plumbing shared by the Ray executor, and the job protocol of distributed global steps on Ray.

:class:`RayJob` implements :class:`synthpipe.pipeline.distributed.Job` with Ray tasks: a call
is a task with ``num_returns`` outputs, retried on worker loss (``MAX_RETRIES``; lost objects
are rebuilt from lineage), a put is ``ray.put``. One unit per half CPU of the cluster, one
partition per CPU. The distributed forms themselves belong to their steps (a global step's
``distributed`` hook); this module knows none of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from synthpipe.errors import StepError, SynthpipeError
from synthpipe.importing import require
from synthpipe.pipeline.checkpoints import StepCheckpoint
from synthpipe.pipeline.distributed import Form, Handle, Job
from synthpipe.pipeline.step import Step, StepContext

MAX_RETRIES = 3  # reruns of a global-step task whose worker died (OOM, lost node, SIGKILL)


def import_ray():
    """Ray, or a UsageError saying how to install it."""
    require("ray", why="the ray executor")
    import ray

    return ray


def cluster_cpus(ray) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def unwrap(exc: BaseException) -> BaseException:
    """The synthpipe error inside a Ray task error, or a StepError saying what failed."""
    seen, todo = set(), [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, SynthpipeError) and not _is_ray_wrapper(e):
            if e.args and isinstance(e.args[0], str) and _RAY_DATA_NOTE in e.args[0]:
                e.args = (e.args[0].split(_RAY_DATA_NOTE)[0], *e.args[1:])  # Ray Data appends it
            return e
        todo += [getattr(e, "cause", None), e.__cause__, e.__context__]
    return StepError(f"ray: {type(exc).__name__}: {exc}")


_RAY_DATA_NOTE = "\nFailed to apply UDF transform"


def _is_ray_wrapper(e: BaseException) -> bool:
    # Ray re-raises a task's exception as a class deriving from both RayTaskError and its own
    return any(c.__name__ == "RayTaskError" for c in type(e).__mro__)


# -- the job protocol on Ray ------------------------------------------------------------------
@dataclasses.dataclass(eq=False)
class RayHandle:
    """An object in Ray's store (a task's output or a put value); `get` works in tasks too."""

    ref: Any

    def get(self) -> Any:
        import ray

        return ray.get(self.ref)


class RayJob(Job):
    """A distributed global step run as Ray tasks on the cluster this process joined."""

    executor = "ray"

    def __init__(self, step: Step, source: StepCheckpoint, out: StepCheckpoint, ctx: StepContext, progress: Any):
        self.ray = import_ray()
        super().__init__(step, source, out, ctx, progress, workers=cluster_cpus(self.ray))

    def run(self, form: Form) -> int:
        try:
            return super().run(form)
        except Exception as exc:
            raise unwrap(exc) from exc

    def submit(self, fn: Callable, returns: int, *args: Any) -> list[Handle]:
        task = _remote(self.ray, fn).options(num_returns=returns, max_retries=MAX_RETRIES)
        # handles given directly arrive as values (Ray resolves top-level refs); nested ones stay handles
        refs = task.remote(*(a.ref if isinstance(a, RayHandle) else a for a in args))
        return [RayHandle(r) for r in refs]

    def put(self, value: Any) -> Handle:
        return RayHandle(self.ray.put(value))

    def wait(self, handles: list[Handle]) -> tuple[list[Handle], list[Handle]]:
        by_ref = {h.ref: h for h in handles}
        ready, rest = self.ray.wait(list(by_ref), num_returns=1)
        return [by_ref[r] for r in ready], [by_ref[r] for r in rest]

    def get(self, handles: list[Handle]) -> list[Any]:
        return self.ray.get([h.ref for h in handles])  # one round trip for all


_REMOTES: dict[Any, Any] = {}


def _remote(ray, fn: Callable):
    if fn not in _REMOTES:
        _REMOTES[fn] = ray.remote(fn)
    return _REMOTES[fn]
