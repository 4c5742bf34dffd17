"""Exactly N accepted records: the source generates in rounds until N survive every step.

A recipe says ``target: {kept: N}``. Round 1 generates `first` records (default: the source's
`n` when the recipe sets it, else ``ceil(N * margin)``); the whole pipeline runs; if fewer than
N records survive, the next round generates more, and so on until N survive or a cap
(`max_rounds`, `max_generated`, the LLM budget) stops it. Records beyond the N-th are kept in
the ledger with the drop reason ``surplus`` (step ``target``); the shortfall, if any, is stated
in metrics.json (``target``) and by the CLI.

Design: a round is a new, independent chunk of the source, not a larger `n`. Round k runs the
configured source with ``n = size_k`` and a seed derived from (seed, k), its ids suffixed
``-r<k>`` (round 1 is exactly the source as configured, with its own ids). Most generators
plan their records over `n` (label balance, request shapes), so a larger `n` does not give the
same first records; a chunk per round does, whatever the generator. The rounds are batches
appended to one source, so:

- the source and the map steps after it (filters, LLM map steps) keep their per-batch
  checkpoints across rounds: round k only generates and processes its own batches (an LLM
  request is never sent twice, even without the response cache);
- every global step (dedup, decontamination, ...) runs again over all rounds' records, so a
  record of round 2 that duplicates one of round 1 is dropped (CPU only: no LLM call);
- the round sizes are saved in ``target.json`` before a round starts, so a run killed in
  round k resumes round k (and no earlier round) and ends with the same kept ids.

Next round's size (the estimator): with ``kept`` records surviving so far and ``p`` the yield
of the last round (records it added to the survivors / records it generated; with a global
dedup this falls as rounds repeat earlier records, which the cumulative rate would hide)::

    size = ceil((N - kept) / p * margin), at least `min_round`, at most what `max_generated`
    leaves

A round that adds no survivor ends the run with a shortfall (nothing to estimate from).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import AsyncIterator, Callable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from synthpipe.data.records import DROP, ID, Batch, add_lineage, drop
from synthpipe.data.sampling import mix_seed
from synthpipe.pipeline.plan import PlannedStep, split_segments
from synthpipe.pipeline.step import GlobalStep, SourceStep, Step, StepConfig, StepContext

if TYPE_CHECKING:
    from synthpipe.pipeline.rundir import RunDir

STEP_NAME = "target"  # the step that marks surplus records in the ledger
STATE_FILE = "target.json"


class TargetConfig(BaseModel):
    """A recipe's ``target:``: how many records to deliver and what may be spent on them."""

    model_config = ConfigDict(extra="forbid")
    kept: int = Field(gt=0, description="records to deliver: the run generates until this many survive every step")
    max_rounds: int = Field(10, ge=1, description="stop after this many rounds of generation")
    max_generated: int | None = Field(None, gt=0, description="stop once the source generated this many records")
    margin: float = Field(1.1, ge=1.0, description="next round = missing records / pass rate so far * margin")
    min_round: int = Field(100, ge=1, description="records generated at least per round after the first")
    first: int | None = Field(
        None, gt=0, description="records generated in round 1 [default: the source's `n` if set, else kept * margin]"
    )


# -- checks --------------------------------------------------------------------------------
def growable(step: Step) -> bool:
    """A source can generate in rounds when its config has an integer `n`."""
    field = type(step.config).model_fields.get("n")
    return step.kind == "source" and field is not None and field.annotation in (int, "int")


def target_problem(name: str, step: Step) -> str | None:
    """Why source `name` cannot serve a `target`, or None."""
    if growable(step):
        return None
    return (
        f"`target` makes the source generate more records in rounds, but step {name!r} "
        f"({type(step).registry_name or type(step).__name__}) has no `n` to grow (a file or inline records "
        "give what they have): remove `target`, or use a generator (slot_template, "
        "math_word_problems, zerogen, ...)"
    )


def first_round(cfg: TargetConfig, source: Step) -> int:
    if cfg.first is not None:
        size = cfg.first
    elif "n" in source.config.model_fields_set:
        size = source.config.n
    else:
        size = math.ceil(cfg.kept * cfg.margin)
    return min(size, cfg.max_generated) if cfg.max_generated else size


# -- the source in rounds --------------------------------------------------------------------
class RoundsSource(SourceStep):
    """The configured source, generating one chunk per round; batches run on across rounds.

    Input columns: none (a source).
    Output columns: the wrapped source's, with ``_lineage.target_round`` after round 1.
    Drop reasons: those of the wrapped source.
    References: none: a synthpipe technique.
    """

    skips_resumed_batches: ClassVar[bool] = True

    def __init__(self, inner: Step, sizes: list[int], ends: list[int]):
        self.inner = inner
        self.config = inner.config
        self.sizes = list(sizes)
        self.ends = list(ends)  # the batch index each finished round ends at (exclusive)
        self.replayable = inner.replayable
        self.drop_reasons = inner.drop_reasons
        self._rounds: dict[tuple[int, int], tuple[Step, int]] = {}  # built once: a source may learn from its seeds

    def __reduce__(self):  # the class is made per wrapped class: rebuild it by function
        return rounds_source, (self.inner, self.sizes, self.ends)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("inner", "_rounds"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def expected_count(self) -> int:
        return sum(self.sizes)

    def fingerprint(self, input_fingerprint: str = "", seed: int = 0, env: dict[str, Any] | None = None) -> str:
        """The source's, plus round 1's size: later rounds only append batches (the
        fingerprints after the first global step carry every round, see `target_plan`)."""
        base = self.inner.fingerprint(input_fingerprint, seed, env)
        return _hash(["target-rounds/1", base, self.sizes[0]])

    def round_step(self, k: int, seed: int) -> tuple[Step, int]:
        """The source of round `k` (0-based) and its seed: round 0 as configured."""
        if (k, seed) not in self._rounds:
            self._rounds[k, seed] = self._round_step(k, seed)
        return self._rounds[k, seed]

    def _round_step(self, k: int, seed: int) -> tuple[Step, int]:
        config = self.inner.config.model_dump()
        round_seed = seed if k == 0 else mix_seed(seed, "target-round", k)
        config["n"] = self.sizes[k]
        if k > 0 and "seed" in config:
            own = config["seed"]
            config["seed"] = mix_seed(own if own is not None else seed, "target-round", k)
        return type(self.inner)(**config), round_seed

    def rounds(self, ctx: StepContext) -> Iterator[tuple[int, Step, StepContext, int]]:
        """(round, its source, its context, batches of it to skip) of the rounds not skipped whole."""
        skip = ctx.skip_batches
        start = 0
        for k in range(len(self.sizes)):
            end = self.ends[k] if k < len(self.ends) else None
            if end is not None and end <= skip:
                start = end
                continue
            step, seed = self.round_step(k, ctx.seed)
            local = max(0, skip - start)
            round_ctx = dataclasses.replace(ctx, seed=seed, skip_batches=local if step.skips_resumed_batches else 0)
            yield k, step, round_ctx, 0 if step.skips_resumed_batches else local
            if end is not None:
                start = end

    def read(self, ctx: StepContext) -> Iterator[Batch]:
        for k, step, round_ctx, skip in self.rounds(ctx):
            for i, batch in enumerate(step.read(round_ctx)):
                if i >= skip:
                    yield _mark_round(batch, k)


class AsyncRoundsSource(RoundsSource):
    """`RoundsSource` for a source that calls an LLM (an async `aread`).

    Input columns: none (a source).
    Output columns: the wrapped source's, with ``_lineage.target_round`` after round 1.
    Drop reasons: those of the wrapped source.
    References: none: a synthpipe technique.
    """

    async def aread(self, ctx: StepContext) -> AsyncIterator[Batch]:  # type: ignore[override]
        for k, step, round_ctx, skip in self.rounds(ctx):
            i = 0
            async for batch in step.aread(round_ctx):
                if i >= skip:
                    yield _mark_round(batch, k)
                i += 1


def rounds_source(inner: Step, sizes: list[int], ends: list[int]) -> RoundsSource:
    return _rounds_class(type(inner))(inner, sizes, ends)


@cache
def _rounds_class(inner: type) -> type[RoundsSource]:
    """A subclass named after the wrapped step, so metrics and the report show its name."""
    base = AsyncRoundsSource if inner.aread is not None else RoundsSource
    name = inner.registry_name or f"{inner.__module__}:{inner.__qualname__}"
    return type(base.__name__, (base,), {"registry_name": name, "__module__": __name__})


def _mark_round(batch: Batch, k: int) -> Batch:
    if k == 0:
        return batch
    for record in batch:
        if record.get(ID) not in (None, ""):
            record[ID] = f"{record[ID]}-r{k + 1}"
        add_lineage(record, target_round=k + 1)
    return batch


# -- the surplus -----------------------------------------------------------------------------
class SurplusConfig(StepConfig):
    kept: int = Field(gt=0, description="records to keep; later ones are surplus")


class Surplus(GlobalStep):
    """Keep the first `kept` records (in the run's order) and mark the rest ``surplus``.

    Input columns: none.
    Output columns: none (marks drops only).
    Drop reasons: ``surplus`` (a record beyond the N asked for by ``target.kept``).
    References: none: a synthpipe technique.
    """

    Config = SurplusConfig
    config: SurplusConfig
    registry_name = "target"
    marks_only = True
    drop_reasons = ("surplus",)

    def run(self, batches: Callable[[], Iterator[Batch]], ctx: StepContext) -> Iterator[Batch]:
        n = self.config.kept
        seen = 0
        for batch in batches():
            for record in batch:
                if record.get(DROP) is None:
                    seen += 1
                    if seen > n:
                        drop(record, ctx.name, "surplus", f"record {seen} of a run asked for {n} (target.kept)")
            yield batch


# -- the plan ------------------------------------------------------------------------------------
def target_steps(steps: dict[str, Step], cfg: TargetConfig, sizes: list[int], ends: list[int]) -> dict[str, Step]:
    """The pipeline's steps with the source in rounds and the surplus marker after the last
    step that can drop records (trailing audits then describe exactly the delivered records)."""
    items = list(steps.items())
    items[0] = (items[0][0], rounds_source(items[0][1], sizes, ends))
    at = len(items)
    while at > 1 and _never_drops(items[at - 1][1]):
        at -= 1
    name = STEP_NAME if STEP_NAME not in steps else f"{STEP_NAME}_surplus"
    items.insert(at, (name, Surplus(kept=cfg.kept)))
    return dict(items)


def _never_drops(step: Step) -> bool:
    return step.kind == "global" and step.only_marks_drops() and not step.drop_reasons


def target_plan(pipeline: Any, run_dir: RunDir, steps: dict[str, Step], sizes: list[int]) -> list[PlannedStep]:
    """`Pipeline.plan` for rounds: the first segment (source and its map steps) keeps its
    fingerprints across rounds; from the first global step on they carry every round's size."""
    return pipeline.plan(run_dir, steps, global_salt=_hash(sizes))


def first_segment(plan: list[PlannedStep]) -> list[PlannedStep]:
    return split_segments(plan)[0]


def open_round(plan: list[PlannedStep], end: int) -> None:
    """Let the first segment take a new round: not done any more, and nothing kept past the
    batches of the finished rounds (`end`), e.g. from a round that was given up."""
    for p in first_segment(plan):
        p.checkpoint.forget([i for i in p.checkpoint.indexes() if i >= end])


# -- rounds: the state and the decisions -------------------------------------------------------
@dataclasses.dataclass
class Round:
    size: int  # records asked of the source
    end: int | None = None  # the source's batch count once the round finished
    generated: int = 0  # records the source gave in this round
    kept: int = 0  # records surviving every step after this round (all rounds, before surplus)
    added: int = 0  # survivors this round added
    paid_requests: int = 0  # LLM requests paid during the round (not answered by the cache)
    seconds: float = 0.0  # wall time of the round in this process (a resumed round: its last part)
    started: bool = False  # its batches were opened in the first segment (see `open_round`)

    @property
    def pass_rate(self) -> float | None:
        return round(self.added / self.generated, 4) if self.generated else None


class TargetState:
    """target.json: the rounds so far, written before a round starts and after it ends."""

    def __init__(self, path: Path, key: str, rounds: list[Round]):
        self.path, self.key, self.rounds = path, key, rounds

    @classmethod
    def load(cls, path: Path, key: str) -> TargetState:
        """The saved state if it was made for this pipeline and target, else a new one."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        if not isinstance(data, dict) or data.get("key") != key:
            return cls(path, key, [])
        fields = {f.name for f in dataclasses.fields(Round)}
        rounds = [Round(**{k: v for k, v in r.items() if k in fields}) for r in data.get("rounds", [])]
        return cls(path, key, rounds)

    def save(self, extra: dict | None = None) -> None:
        from synthpipe.data.writers import atomic_path

        data = {"key": self.key, "rounds": [dataclasses.asdict(r) for r in self.rounds], **(extra or {})}
        with atomic_path(self.path) as tmp:
            Path(tmp).write_text(json.dumps(data, indent=1), encoding="utf-8")

    @property
    def sizes(self) -> list[int]:
        return [r.size for r in self.rounds]

    @property
    def ends(self) -> list[int]:
        return [r.end for r in self.rounds if r.end is not None]


def next_round(cfg: TargetConfig, rounds: list[Round]) -> tuple[int | None, str | None]:
    """(size of the next round, None) or (None, why the run stops: None once N survive)."""
    last = rounds[-1]
    generated = sum(r.generated for r in rounds)
    if last.kept >= cfg.kept:
        return None, None
    if len(rounds) >= cfg.max_rounds:
        return None, f"max_rounds ({cfg.max_rounds}) reached"
    if cfg.max_generated is not None and generated >= cfg.max_generated:
        return None, f"max_generated ({cfg.max_generated}) reached"
    if last.added == 0:
        return None, (
            f"round {len(rounds)} added no record out of {last.generated} generated: nothing to estimate "
            "the pass rate from (see the ledger for why records were dropped)"
        )
    size = max(math.ceil((cfg.kept - last.kept) / (last.added / last.generated) * cfg.margin), cfg.min_round)
    if cfg.max_generated is not None:
        size = min(size, cfg.max_generated - generated)
    return size, None


def target_block(cfg: TargetConfig, rounds: list[Round], stop: str | None) -> dict:
    """metrics.json ``target``: what was asked, what was delivered, round by round."""
    kept = min(rounds[-1].kept, cfg.kept) if rounds else 0
    generated = sum(r.generated for r in rounds)
    return {
        "requested": cfg.kept,
        "kept": kept,
        "reached": kept >= cfg.kept,
        "shortfall": cfg.kept - kept,
        "why": stop if kept < cfg.kept else None,
        "surplus": max(0, (rounds[-1].kept if rounds else 0) - cfg.kept),
        "rounds": len(rounds),
        "generated": generated,
        "generated_per_round": [r.generated for r in rounds],
        "pass_rate_per_round": [r.pass_rate for r in rounds],
        "paid_requests_per_round": [r.paid_requests for r in rounds],
        "seconds_per_round": [round(r.seconds, 3) for r in rounds],
        "pass_rate": round(kept / generated, 4) if generated else None,
        "config": cfg.model_dump(),
    }


def shortfall_message(metrics: dict) -> str | None:
    """The loud line a run that missed its target ends with, or None."""
    block = metrics.get("target")
    if not block or block["reached"]:
        return None
    return (
        f"target missed: kept {block['kept']} of the {block['requested']} records asked for "
        f"(short by {block['shortfall']}) after {block['rounds']} round(s) and {block['generated']} "
        f"generated records: {block['why']}"
    )


def state_key(pipeline: Any, cfg: TargetConfig) -> str:
    """What the round sizes depend on: every step's fingerprint (round-less) and the target."""
    env = {"llms": pipeline.recipe.llms}
    fingerprint = ""
    for step in pipeline.steps.values():
        fingerprint = step.fingerprint(fingerprint, pipeline.recipe.seed, env)
    decides = cfg.model_dump(exclude={"max_rounds"})
    return _hash([fingerprint, decides, pipeline.recipe.batch_size])


def paid_requests(pool: Any) -> int:
    return int(pool.metrics()["budget"]["spent_requests"]) if pool is not None else 0


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()

