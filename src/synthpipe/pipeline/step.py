"""The Step API: a pydantic config, a fingerprint, and one of three shapes.

- :class:`SourceStep` yields batches (readers, generators).
- :class:`MapStep` turns a batch into a batch; filters mark ``_drop`` rather than delete.
- :class:`GlobalStep` must see the whole dataset first (dedup, decontamination, audits).

Steps are pure functions of their inputs and config, so any executor can run them, resume
them, and skip them when their fingerprint is unchanged. A step never imports an executor.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from synthpipe.data.records import Batch, Record, drop
from synthpipe.data.shards import WHOLE, Shard, ShardBatch, row_shards

if TYPE_CHECKING:
    from synthpipe.data.quarantine import Quarantine


class StepConfig(BaseModel):
    """Base config: unknown keys are errors, values are immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class StepContext:
    """What the executor tells a step about the run it is part of."""

    name: str
    seed: int = 0
    batch_size: int = 256
    strict: bool = False
    run_dir: Path | None = None
    step_dir: Path | None = None  # this step's checkpoint directory (for side outputs like audit.json)
    base_dir: Path | None = None  # relative input paths start here (the driver's working dir)
    skip_batches: int = 0  # sources that set `skips_resumed_batches` start after these
    quarantine: Quarantine | None = field(default=None, repr=False)
    resources: Any = field(default=None, repr=False)  # run-wide services, e.g. the LLM pool

    def llm(self, name: str):
        """The run's shared client for the endpoint `name` (recipe `llms:` section)."""
        if self.resources is None:
            from synthpipe.errors import UsageError

            raise UsageError(f"step {self.name!r} needs an LLM but the run has no `llms:` configured")
        return self.resources.get(name)

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"synthpipe.step.{self.name}")


class Step:
    """Base of all steps. Subclasses set `Config` and implement their shape's method."""

    kind: ClassVar[str] = "abstract"
    Config: ClassVar[type[StepConfig]] = StepConfig
    registry_name: ClassVar[str | None] = None  # set by @register_step
    version: ClassVar[str] = "1"  # bump to invalidate checkpoints when behaviour changes
    cpu_bound: ClassVar[bool] = False  # may run in a process pool
    io_bound: ClassVar[bool] = False  # overrides `aprocess`; batches run concurrently
    num_gpus: ClassVar[float] = 0.0  # GPUs a worker of this step needs (the Ray executor reserves them)
    verifies: ClassVar[bool] = False  # a verifier: records it drops failed a check (math, code, tools)
    drop_reasons: ClassVar[tuple[str, ...]] = ()  # every `_drop` reason it writes (in its docstring)
    # optional modules the step imports (e.g. ("math_verify",)); checked when a pipeline is built
    requires: ClassVar[tuple[str, ...]] = ()
    # its output batch is its input batch, same records in the same order, some marked `_drop`,
    # nothing else changed: its checkpoint then keeps only the drops (see checkpoints.py)
    marks_only: ClassVar[bool] = False

    def __init__(self, config: StepConfig | dict[str, Any] | None = None, /, **kwargs: Any):
        if isinstance(config, StepConfig):
            if kwargs:
                config = config.model_copy(update=kwargs)
            self.config = self.Config.model_validate(config.model_dump())
        else:
            self.config = self.Config(**{**(config or {}), **kwargs})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.model_dump().items())
        return f"{type(self).__name__}({args})"

    def only_marks_drops(self) -> bool:
        """`marks_only` for this configured step; override when an option changes records."""
        return self.marks_only

    def requirements(self) -> tuple[str, ...]:
        """Optional modules this configured step needs (see `synthpipe.importing`): `requires`
        by default; override when the need depends on the config (an option that is off)."""
        return self.requires

    # -- columns (checked when a recipe is loaded, see `synthpipe.run.columns`) ------------
    def input_columns(self) -> set[str] | None:
        """Fields this step cannot work without, from its config (e.g. `text_field`); only
        required reads, never optional ones. None: not declared (nothing is checked)."""
        return None

    def output_columns(self) -> set[str] | None:
        """Fields this step adds or renames (a source: every field it yields). None: unknown,
        which turns the column check off from this step on."""
        return None

    # -- fingerprints -------------------------------------------------------------------
    def input_files(self) -> list[Path]:
        """Files whose content this step depends on; their hashes enter the fingerprint."""
        return []

    def fingerprint_extra(self, env: dict[str, Any]) -> Any:
        """What else decides this step's output (e.g. the LLM's model); `env` holds run-wide config."""
        return None

    def fingerprint(self, input_fingerprint: str = "", seed: int = 0, env: dict[str, Any] | None = None) -> str:
        """Hash of config + code version + input fingerprint (+ seed, input files, extras)."""
        payload = {
            "step": f"{type(self).__module__}.{type(self).__qualname__}",
            "version": self.version,
            "code": _module_source_hash(type(self)),
            "config": self.config.model_dump(mode="json"),
            "files": [_file_hash(Path(p)) for p in self.input_files()],  # content, not location
            "input": input_fingerprint,
            "seed": seed,
            "extra": self.fingerprint_extra(env or {}),
        }
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()


class SourceStep(Step):
    """Yields batches of new records. Must be deterministic for a given config and seed."""

    kind: ClassVar[str] = "source"
    skips_resumed_batches: ClassVar[bool] = False  # True: honours ctx.skip_batches itself
    # gives the same batches every time for its config and seed, cheaply (a file, inline records,
    # a seeded generator): its checkpoint keeps counts only, and its records are read again
    replayable: ClassVar[bool] = False

    def expected_count(self) -> int | None:
        """Records this source will yield, if known (drives progress bars)."""
        return None

    def read(self, ctx: StepContext) -> Iterator[Batch]:
        """Yield batches. Sources that call LLMs implement `aread` (an async generator) instead."""
        raise NotImplementedError

    aread: ClassVar[Callable[..., AsyncIterator[Batch]] | None] = None

    # -- read by workers in parallel (a replayable source; see synthpipe.data.shards) ---------
    def plan_shards(self, ctx: StepContext, want: int, measure: Measure) -> list[Shard]:
        """About `want` runs of whole batches that workers can read at once, each giving the
        batches :meth:`read` gives. `measure(fn, args)` runs ``fn(*a)`` for each ``a`` of
        `args` on the workers and returns the results (e.g. lines per piece of a file).
        Default: one shard, the whole source read as :meth:`read` reads it."""
        return [WHOLE]

    def read_shard(self, shard: Shard, ctx: StepContext) -> Iterator[ShardBatch]:
        """The batches of `shard` (one from :meth:`plan_shards`), numbered as in :meth:`read`:
        the whole source, or each batch by :meth:`read_batch`."""
        if shard.count is None:
            for index, batch in enumerate(self.read(ctx)):
                yield ShardBatch(index, batch)
            return
        for index in range(shard.first, shard.first + shard.count):
            batch = self.read_batch(index, {}, ctx)
            if batch is None:
                raise NotImplementedError(f"{type(self).__name__} plans shards but cannot read batch {index} alone")
            yield ShardBatch(index, batch)

    def read_batch(self, index: int, at: dict[str, Any], ctx: StepContext) -> Batch | None:
        """Batch `index` alone, placed by the `at` :meth:`read_shard` gave for it; None when
        the source can only be read from its start."""
        return None


Measure = Callable[[Callable[..., int], list[tuple]], list[int]]


class IndexedSource(SourceStep):
    """A seeded generator whose record `index` depends only on (index, seed): `config.n`
    records, each made by `record(index, seed)`; replayed rather than checkpointed, and a
    resumed run starts at its first unfinished batch."""

    replayable: ClassVar[bool] = True
    skips_resumed_batches: ClassVar[bool] = True

    def expected_count(self) -> int:
        return self.config.n

    def read(self, ctx: StepContext) -> Iterator[Batch]:
        for b in range(ctx.skip_batches, -(-self.config.n // max(1, ctx.batch_size))):
            yield self.read_batch(b, {}, ctx)

    def record(self, index: int, seed: int) -> Record:
        raise NotImplementedError

    def plan_shards(self, ctx: StepContext, want: int, measure: Measure) -> list[Shard]:
        return row_shards(self.config.n, max(1, ctx.batch_size), want)

    def read_batch(self, index: int, at: dict[str, Any], ctx: StepContext) -> Batch:
        size = max(1, ctx.batch_size)
        return [self.record(i, ctx.seed) for i in range(index * size, min(self.config.n, (index + 1) * size))]


class MapStep(Step):
    """Batch in, batch out. Mark records with ``_drop`` instead of deleting them."""

    kind: ClassVar[str] = "map"
    # drop reasons worth another try: a rerun reprocesses batches holding such drops
    retry_reasons: ClassVar[frozenset[str]] = frozenset()

    def process(self, batch: Batch, ctx: StepContext) -> Batch:
        raise NotImplementedError

    async def aprocess(self, batch: Batch, ctx: StepContext) -> Batch:
        """Async form for I/O-bound steps (LLM calls). Default: run `process` in a thread."""
        return await asyncio.to_thread(self.process, batch, ctx)


FilterResult = bool | tuple[bool, str] | tuple[bool, str, Any]


class FilterStep(MapStep):
    """A map step defined by one predicate, datatrove-style.

    `keep(record)` returns True to keep, or ``(False, reason)`` / ``(False, reason, detail)``;
    it must not change the record (set `marks_only = False` on a subclass that does).
    """

    marks_only: ClassVar[bool] = True

    def keep(self, record: Record) -> FilterResult:
        raise NotImplementedError

    def process(self, batch: Batch, ctx: StepContext) -> Batch:
        for record in batch:
            verdict = self.keep(record)
            if verdict is True or (isinstance(verdict, tuple) and verdict[0]):
                continue
            reason, detail = "filtered", None
            if isinstance(verdict, tuple):
                reason = verdict[1] if len(verdict) > 1 else reason
                detail = verdict[2] if len(verdict) > 2 else None
            drop(record, ctx.name, reason, detail)
        return batch


class GlobalStep(Step):
    """Sees the whole input before it emits anything.

    `run` gets a callable that returns a fresh iterator over the input batches (call it as
    many times as the algorithm needs passes) and yields output batches. The output order
    must be deterministic: resume skips batches that are already checkpointed.
    """

    kind: ClassVar[str] = "global"
    # "package.module:function" of its distributed form (see `synthpipe.pipeline.distributed`)
    distributed: ClassVar[str | None] = None

    def run(self, batches: Callable[[], Iterator[Batch]], ctx: StepContext) -> Iterator[Batch]:
        raise NotImplementedError

    def distributed_form(self) -> Callable[..., None] | None:
        """The function ``form(job)`` that runs this step as distributed tasks, or None (then an
        executor runs `run` in one process). Override to return None for the configs that have
        no distributed form."""
        if self.distributed is None:
            return None
        from synthpipe.importing import load_object

        return load_object(self.distributed, what=f"distributed form of {type(self).__name__}")


def _module_source_hash(cls: type) -> str:
    try:
        source = inspect.getsource(inspect.getmodule(cls))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return "unknown"
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def _file_hash(path: Path) -> str:
    if not path.exists():
        return "missing"
    if path.is_dir():
        digest = hashlib.sha256()
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(child.relative_to(path)).encode())
            digest.update(child.read_bytes())
        return digest.hexdigest()
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key not in _FILE_HASHES:  # a plan built twice (dry run, then run) hashes a big input once
        with path.open("rb") as fh:
            _FILE_HASHES[key] = hashlib.file_digest(fh, "sha256").hexdigest()
    return _FILE_HASHES[key]


_FILE_HASHES: dict[tuple, str] = {}  # (path, size, mtime_ns, inode) -> sha256, per process
