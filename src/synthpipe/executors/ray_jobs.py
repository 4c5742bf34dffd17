"""Ray plumbing shared by the Ray executor, and the job protocol of distributed global steps on Ray.

:class:`RayJob` implements :class:`synthpipe.pipeline.distributed.Job` with Ray tasks: a call
is a task with ``num_returns`` outputs, retried on worker loss (``MAX_RETRIES``; lost objects
are rebuilt from lineage), a put is ``ray.put``. One unit per half CPU of the cluster, one
partition per CPU, each shuffle capped at ``max_objects`` pieces
(:data:`synthpipe.pipeline.distributed.MAX_SHUFFLE_OBJECTS`, or the environment variable
``SYNTHPIPE_RAY_SHUFFLE_OBJECTS``). The distributed forms themselves belong to their steps (a global step's
``distributed`` hook); this module knows none of them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from synthpipe.errors import StepError, SynthpipeError, UsageError
from synthpipe.importing import require
from synthpipe.pipeline.checkpoints import StepCheckpoint
from synthpipe.pipeline.distributed import MAX_SHUFFLE_OBJECTS, Actors, Form, Handle, Job
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

    def __init__(
        self,
        step: Step,
        source: StepCheckpoint,
        out: StepCheckpoint,
        ctx: StepContext,
        progress: Any,
        max_objects: int | None = None,
    ):
        self.ray = import_ray()
        if max_objects is None:
            max_objects = shuffle_objects()
        super().__init__(step, source, out, ctx, progress, cluster_cpus(self.ray), max_objects)

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

    def actors(self, cls: type, size: int, *args: Any) -> Actors:
        return RayActors(self.ray, cls, size, args)


class RayActors(Actors):
    """Actors of one CPU each, restarted when their worker dies; each call goes to an idle one."""

    def __init__(self, ray, cls: type, size: int, args: tuple):
        remote = ray.remote(num_cpus=1, max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES)(cls)
        self.ray, self.handles = ray, [remote.remote(*args) for _ in range(max(1, size))]

    def map(self, method: str, items: list[Any]) -> list[Any]:
        from ray.util import ActorPool

        pool = ActorPool(self.handles)
        return list(pool.map(lambda actor, item: getattr(actor, method).remote(item), items))

    def close(self) -> None:
        for actor in self.handles:
            self.ray.kill(actor)
        self.handles = []


def shuffle_objects() -> int:
    """The cap on a shuffle's pieces: ``SYNTHPIPE_RAY_SHUFFLE_OBJECTS``, else the default."""
    value = os.environ.get("SYNTHPIPE_RAY_SHUFFLE_OBJECTS", "")
    if not value:
        return MAX_SHUFFLE_OBJECTS
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"SYNTHPIPE_RAY_SHUFFLE_OBJECTS={value!r}: give a positive whole number (default {MAX_SHUFFLE_OBJECTS})")
    return int(value)


_REMOTES: dict[Any, Any] = {}


def _remote(ray, fn: Callable):
    if fn not in _REMOTES:
        _REMOTES[fn] = ray.remote(fn)
    return _REMOTES[fn]
