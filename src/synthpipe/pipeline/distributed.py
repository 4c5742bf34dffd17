"""The job protocol of distributed global steps, and a serial implementation of it.

A global step that can run distributed names its *distributed form* on its class
(``distributed = "package.module:function"``, see :meth:`GlobalStep.distributed_form`): a
function ``form(job: Job) -> None`` written against this protocol only, so every executor
that implements :class:`Job` runs it (the Ray executor's ``RayJob``; :class:`SerialJob` here,
in this process, for tests and for checking a form against the step's own ``run``).

The layout. The input is the previous step's checkpoint; output shard ``k`` holds the kept
records of input shard ``job.inputs[k]`` with the step's drops marked, as the local global
steps yield one batch per input batch. Work is cut into *units* (runs of consecutive shards,
about two per worker) and ``job.P`` *partitions* (one per worker) for the shuffles. A shuffle
never has more than ``max_objects`` (:data:`MAX_SHUFFLE_OBJECTS`) pieces: ``P`` is at most its
square root, and the units are cut into ``job.groups`` (runs of consecutive units) so that
groups x partitions stays under it; a shuffle from units goes through one combine task per
group when there are fewer groups than units (:meth:`Job.shuffle_units`). A record
is known by its position ``(k, j)``: output shard, row among that shard's kept records,
packed as ``k << 32 | j`` so that integer order is pipeline order.

The calls. ``job.call(fn, returns, *args)`` runs ``fn(*args)`` as a task returning a tuple of
`returns` values and gives one :class:`Handle` per value at once. Handles passed directly as
arguments of ``call`` reach the task as their values; handles nested inside an argument
reach it as handles (``handle.get()`` them in the task, e.g. to fetch only what is needed).
``fn`` must be a module-level function and its arguments picklable: tasks may run in other
processes. ``job.put`` shares one value with many tasks; ``job.get`` / ``job.finished``
wait for results on the driver; ``job.apply(drops)`` writes every output shard (or
``job.apply_groups(drops)``, given the drops of each group).
``job.actors(cls, size)`` starts long-lived workers, each holding one ``cls()`` built once (a
model loaded once per actor), to :meth:`Actors.map` calls over.
``job.task_seconds()`` / ``job.task_output()`` sum each kind of task's seconds and the rows
and bytes of the tables it returned (per-stage throughput).
"""

from __future__ import annotations

import dataclasses
import math
import pickle
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import numpy as np

from synthpipe.data.records import Batch, drop
from synthpipe.pipeline.checkpoints import StepCheckpoint
from synthpipe.pipeline.progress import NullProgress
from synthpipe.pipeline.step import Step, StepContext

Unit = list[tuple[int, int]]  # (output shard k, input shard index) of consecutive shards
Drops = list[tuple[int, int, str, str]]  # (output shard k, row j, reason, detail)
Form = Callable[["Job"], None]

MAX_SHUFFLE_OBJECTS = 10_000  # pieces per shuffle: Ray's per-object cost, and the driver owns each ref
PART = "_partition"  # the column a unit's table carries to its group's combine task


class Handle(Protocol):
    """A task's result or a shared value, possibly not computed yet."""

    def get(self) -> Any:
        """The value (waits for it); also works inside a task."""
        ...


# -- a step on a worker -------------------------------------------------------------------
@dataclasses.dataclass
class StepSpec:
    """A step as class + config: rebuilt on the worker, so steps holding unpicklable state
    (clients, locks, loaded models) still travel; built once per worker process."""

    cls: type
    config: dict[str, Any]
    key: str

    @classmethod
    def of(cls, step: Step) -> StepSpec:
        config = step.config.model_dump()
        return cls(type(step), config, f"{type(step).__module__}.{type(step).__qualname__}:{config!r}")

    def build(self) -> Step:
        step = _STEPS.get(self.key)
        if step is None:
            step = _STEPS[self.key] = self.cls(self.config)
        return step


_STEPS: dict[str, Step] = {}  # per process


# -- the job ------------------------------------------------------------------------------
class Job:
    """One distributed global step: its input cut into units and partitions, and the calls
    an executor provides (:meth:`submit`, :meth:`put`, :meth:`wait`) to run its tasks."""

    executor = "abstract"  # written into summaries, e.g. "ray"

    def __init__(
        self,
        step: Step,
        source: StepCheckpoint,
        out: StepCheckpoint,
        ctx: StepContext,
        progress: Any = None,
        workers: int = 1,
        max_objects: int = MAX_SHUFFLE_OBJECTS,
    ):
        self.step = step  # the driver's instance; tasks rebuild it from `spec`
        self.spec = StepSpec.of(step)
        self.name = ctx.name
        self.ctx = dataclasses.replace(ctx, quarantine=None, resources=None)  # travels to tasks
        self.source, self.out = source, out
        self.progress = progress or NullProgress()
        self.workers = max(1, workers)
        self.inputs = source.indexes()  # output shard k comes from input shard inputs[k]
        self.n = len(self.inputs)
        n_units = min(self.n, 2 * self.workers)
        bounds = np.linspace(0, self.n, n_units + 1).round().astype(int).tolist() if self.n else [0]
        self.units: list[Unit] = [
            [(k, self.inputs[k]) for k in range(lo, hi)] for lo, hi in zip(bounds, bounds[1:], strict=False)
        ]
        self.unit_of = np.zeros(self.n, dtype=np.int64)  # output shard -> its unit
        for u, unit in enumerate(self.units):
            for k, _ in unit:
                self.unit_of[k] = u
        # shuffle partitions, and groups of consecutive units: groups x partitions <= max_objects
        self.max_objects = max(1, max_objects)
        self.P = max(1, min(self.workers, math.isqrt(self.max_objects)))
        n_groups = max(1, min(len(self.units), self.max_objects // self.P))
        cuts = np.linspace(0, len(self.units), n_groups + 1).round().astype(int).tolist()
        self.groups: list[list[int]] = [list(range(lo, hi)) for lo, hi in zip(cuts, cuts[1:], strict=False)]
        self.group_of_unit = np.zeros(len(self.units), dtype=np.int64)
        for g, group in enumerate(self.groups):
            self.group_of_unit[group] = g
        self.group_of = self.group_of_unit[self.unit_of]  # output shard -> its group
        self.timings: dict[str, list[tuple[Handle, int]]] = {}  # kind -> (stats, objects returned)

    # -- what an executor provides ----------------------------------------------------------
    def submit(self, fn: Callable, returns: int, *args: Any) -> list[Handle]:
        """Start ``fn(*args)``, a task returning a tuple of `returns` (>= 2) values."""
        raise NotImplementedError

    def put(self, value: Any) -> Handle:
        """Share `value` with many tasks (stored once)."""
        raise NotImplementedError

    def wait(self, handles: list[Handle]) -> tuple[list[Handle], list[Handle]]:
        """(finished, pending): waits until at least one of `handles` is finished."""
        raise NotImplementedError

    def get(self, handles: list[Handle]) -> list[Any]:
        return [h.get() for h in handles]

    def actors(self, cls: type, size: int, *args: Any) -> Actors:
        """`size` workers, each holding one ``cls(*args)`` built once (e.g. a model loaded once
        per actor); `cls` must be a module-level class and `args` picklable."""
        raise NotImplementedError

    # -- built on them ----------------------------------------------------------------------
    def run(self, form: Form) -> int:
        """Run the distributed `form` of the step; returns the output shards written. An empty
        input runs no form, unless it says it has something to write even then
        (``form.runs_on_empty_input = True``, e.g. an audit of 0 records)."""
        if self.n or getattr(form, "runs_on_empty_input", False):
            form(self)
        return self.n

    def call(self, fn: Callable, returns: int, *args: Any) -> list[Handle]:
        """Run ``fn(*args)`` as a task giving `returns` (>= 2) values; one handle per value."""
        stats, *handles = self.submit(timed, returns + 1, fn, *args)
        self.timings.setdefault(fn.__name__.lstrip("_"), []).append((stats, returns))
        return handles

    def shuffle_units(self, fn: Callable, head: int, like: dict[str, Any], *args: Any) -> tuple[list, list]:
        """Run ``fn(*args, unit, fanout)`` for every unit: `head` values, then `fanout` tables
        (columns `like`) made by :func:`route`. Returns each unit's head handles, and for each
        partition q the handles of its tables: one per group, so the shuffle has at most
        groups x partitions pieces (with fewer groups than units, each group's tables go
        through one combine task)."""
        direct = len(self.groups) == len(self.units)
        fanout = self.P if direct else 1
        outs = [self.call(fn, head + fanout, *args, unit, fanout) for unit in self.units]
        heads = [o[:head] for o in outs]
        if direct:
            return heads, [[o[head + q] for o in outs] for q in range(self.P)]
        combined = [self.call(_combine, 1 + self.P, like, self.P, *[outs[u][head] for u in g]) for g in self.groups]
        return heads, [[c[1 + q] for c in combined] for q in range(self.P)]

    def finished(self, handles: Iterable[Handle]) -> Iterator[Any]:
        """The values of `handles` as their tasks finish, in any order."""
        pending = list(handles)
        while pending:
            ready, pending = self.wait(pending)
            yield from self.get(ready)

    def advance(self, rows: dict[int, int]) -> None:
        """Progress: `rows[k]` records written to output shard k."""
        for n in rows.values():
            self.progress.advance(self.name, n)

    def apply(self, drop_parts: list[list[Handle]]) -> None:
        """Write every output shard: the input shard with the drops of ``drop_parts[u]`` (handles
        of :data:`Drops` lists, all for unit u) marked with this step's name."""
        pending = [
            self.call(_apply_unit, 2, self.name, self.source, self.out, unit, *drop_parts[u])[0]
            for u, unit in enumerate(self.units)
        ]
        for rows in self.finished(pending):
            self.advance(rows)

    def apply_groups(self, drop_parts: list[list[Handle]]) -> None:
        """:meth:`apply`, with ``drop_parts[g]`` the drops of group g: with fewer groups than
        units, one task per group first cuts them by unit, so a unit is sent only its own."""
        if len(self.groups) == len(self.units):
            return self.apply(drop_parts)
        by_unit: list[list[Handle]] = [[] for _ in self.units]
        for g, group in enumerate(self.groups):
            cut = self.call(_split_drops, 1 + len(group), self.unit_of, group, *drop_parts[g])
            for i, u in enumerate(group):
                by_unit[u] = [cut[1 + i]]
        return self.apply(by_unit)

    def task_seconds(self) -> dict[str, float]:
        """Seconds the tasks of each kind ran, summed (the work, without scheduling)."""
        return {k: round(sum(s[0] for s in self.get([h for h, _ in v])), 3) for k, v in self.timings.items()}

    def task_output(self) -> dict[str, dict[str, int]]:
        """Per kind of task: tasks run, objects returned, the rows and bytes of the tables they
        returned (numpy columns; ids and other Python objects counted by their pointers), and
        the CPU seconds of their processes."""
        out = {}
        for k, v in self.timings.items():
            stats = self.get([h for h, _ in v])
            out[k] = {
                "tasks": len(v),
                "objects": sum(n for _, n in v),
                "rows": sum(s[1] for s in stats),
                "bytes": sum(s[2] for s in stats),
                "cpu_s": round(sum(s[3] for s in stats), 3),
            }
        return out


def timed(fn: Callable, *args: Any) -> tuple:
    """``((seconds, rows, bytes, cpu seconds), *fn(*args))``: the task wrapper behind
    :meth:`Job.call` (CPU seconds too: on a busy machine they are the steadier measure)."""
    started, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    rows, size = table_size(out)
    return ((time.perf_counter() - started, rows, size, time.process_time() - cpu), *out)


def table_size(value: Any, depth: int = 3) -> tuple[int, int]:
    """(rows, bytes) of the tables (dicts of numpy columns) in `value`, looked for a few levels
    deep in tuples, lists and dicts; a list of tuples (drops) counts its rows, a dict of rows
    per output shard their sum. Cheap: nothing is serialised."""
    columns = [v for v in value.values() if v is not None] if isinstance(value, dict) else []
    if columns and all(isinstance(v, np.ndarray) for v in columns):  # a table (unused columns None)
        return len(columns[0]), sum(v.nbytes for v in columns)
    if isinstance(value, dict) and value and all(isinstance(k, int) and isinstance(v, int) for k, v in value.items()):
        return sum(value.values()), 0  # {output shard: rows}, as the writing tasks return
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return len(value), 0
    rows = size = 0
    if depth and isinstance(value, (tuple, list, dict)):
        for item in value.values() if isinstance(value, dict) else value:
            r, b = table_size(item, depth - 1)
            rows, size = rows + r, size + b
    return rows, size


def write_unit(
    source: StepCheckpoint, out: StepCheckpoint, unit: Unit, mark: Callable[[int, Batch], None]
) -> dict[int, int]:
    """Write the output shards of `unit`: each input shard's kept records after ``mark(k,
    batch)``; shards written before an interruption stay (the result is the same). Returns
    the rows of each output shard."""
    rows = {}
    for k, index in unit:
        if out.has(k):
            rows[k] = out.num_rows(k)
            continue
        batch = source.read(index)
        mark(k, batch)
        out.write(k, batch)
        rows[k] = len(batch)
    return rows


def _split_drops(unit_of: np.ndarray, group: list[int], *drop_parts: Drops):
    out: dict[int, Drops] = {u: [] for u in group}
    for part in drop_parts:
        for row in part:
            out[int(unit_of[row[0]])].append(row)
    return (None, *out.values())


def _apply_unit(name: str, source: StepCheckpoint, out: StepCheckpoint, unit: Unit, *drop_parts: Drops):
    marks: dict[int, dict[int, tuple[str, str]]] = {}
    for part in drop_parts:
        for k, j, reason, detail in part:
            marks.setdefault(k, {})[j] = (reason, detail)

    def mark(k: int, batch: Batch) -> None:
        for j, (reason, detail) in marks.get(k, {}).items():
            drop(batch[j], name, reason, detail)

    return write_unit(source, out, unit, mark), None


# -- shuffles -----------------------------------------------------------------------------
def partition_of(keys: np.ndarray, P: int) -> np.ndarray:
    """Partition of each uint64 / int64 key (mixed, so shard-ordered keys spread evenly)."""
    mixed = np.asarray(keys).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return ((mixed >> np.uint64(40)) % np.uint64(P)).astype(np.int64)


def split_by_partition(arrays: dict[str, np.ndarray], part: np.ndarray, P: int) -> list[dict[str, np.ndarray]]:
    """Columns `arrays` cut into P tables, row i going to table ``part[i]`` (order kept)."""
    order = np.argsort(part, kind="stable")
    cuts = np.searchsorted(part[order], np.arange(P + 1))
    return [{k: v[order[cuts[q] : cuts[q + 1]]] for k, v in arrays.items()} for q in range(P)]


def concat_parts(parts: Iterable[dict[str, np.ndarray]], like: dict[str, Any]) -> dict[str, np.ndarray]:
    """The tables `parts` end to end; `like` gives the columns and their dtypes (when empty)."""
    parts = tuple(parts)
    return {k: np.concatenate([p[k] for p in parts] or [np.zeros(0, dtype=dt)]) for k, dt in like.items()}


def route(table: dict[str, np.ndarray], part: np.ndarray, fanout: int) -> list[dict[str, np.ndarray]]:
    """A unit's table for :meth:`Job.shuffle_units`: cut into its P partitions (`fanout` P),
    or whole with its rows' partitions (`fanout` 1: its group's combine task cuts it)."""
    if fanout == 1:
        return [{**table, PART: np.asarray(part, dtype=np.int64)}]
    return split_by_partition(table, part, fanout)


def _combine(like: dict[str, Any], P: int, *tables: dict[str, np.ndarray]):
    t = concat_parts(tables, {**like, PART: np.int64})
    part = t.pop(PART)
    return (None, *split_by_partition(t, part, P))


class Actors:
    """Long-lived workers from :meth:`Job.actors`; a context manager that closes them."""

    def map(self, method: str, items: list[Any]) -> list[Any]:
        """``instance.method(item)`` for each item, spread over the workers; results in order."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the workers."""

    def __enter__(self) -> Actors:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- in this process ----------------------------------------------------------------------
@dataclasses.dataclass(eq=False)
class Ready:
    """A value computed already, kept pickled: a task gets its own copy, as from a store."""

    blob: bytes

    @classmethod
    def of(cls, value: Any) -> Ready:
        return cls(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def get(self) -> Any:
        return pickle.loads(self.blob)


class SerialJob(Job):
    """The protocol in this process: every task runs when called, in order. Same layout and
    results as on a cluster of `workers` CPUs, so a distributed form can be run and tested
    without one (arguments and results go through pickle, as they would)."""

    executor = "serial"

    def submit(self, fn: Callable, returns: int, *args: Any) -> list[Handle]:
        values = fn(*(a.get() if isinstance(a, Ready) else pickle.loads(pickle.dumps(a)) for a in args))
        if not isinstance(values, tuple) or len(values) != returns:
            raise TypeError(f"{getattr(fn, '__name__', fn)!r} must return a tuple of {returns} values")
        return [Ready.of(v) for v in values]

    def put(self, value: Any) -> Handle:
        return Ready.of(value)

    def wait(self, handles: list[Handle]) -> tuple[list[Handle], list[Handle]]:
        return list(handles), []

    def actors(self, cls: type, size: int, *args: Any) -> Actors:
        return _LocalActors(cls(*pickle.loads(pickle.dumps(args))))


@dataclasses.dataclass(eq=False)
class _LocalActors(Actors):
    """One instance in this process stands for every worker; items and results go through pickle."""

    instance: Any

    def map(self, method: str, items: list[Any]) -> list[Any]:
        call = getattr(self.instance, method)
        return [Ready.of(call(pickle.loads(pickle.dumps(item)))).get() for item in items]


def run_serially(
    step: Step,
    source: StepCheckpoint,
    out: StepCheckpoint,
    ctx: StepContext,
    workers: int = 2,
    progress: Any = None,
    max_objects: int = MAX_SHUFFLE_OBJECTS,
) -> int:
    """Run `step`'s distributed form here over `source`'s shards, writing `out`'s; returns the
    shards written. Raises ValueError when the step has no distributed form for its config."""
    form = step.distributed_form() if hasattr(step, "distributed_form") else None
    if form is None:
        raise ValueError(f"{type(step).__name__} has no distributed form for this config")
    return SerialJob(step, source, out, ctx, progress, workers, max_objects).run(form)
