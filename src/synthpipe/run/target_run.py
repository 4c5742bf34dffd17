"""Running a pipeline to a target: rounds of the whole plan until N records survive.

The rounds, the surplus marker and the next round's size are in :mod:`synthpipe.run.target`;
this module runs them with the executor and writes the outputs once, after the last round.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from synthpipe.errors import UsageError
from synthpipe.executors import make_executor
from synthpipe.llm.types import BudgetExceeded
from synthpipe.pipeline.plan import PlannedStep, reopen_failed
from synthpipe.pipeline.spill import RecordSpill
from synthpipe.run.target import (
    STATE_FILE,
    Round,
    Surplus,
    TargetState,
    first_round,
    next_round,
    open_round,
    paid_requests,
    shortfall_message,
    state_key,
    target_block,
    target_plan,
    target_problem,
    target_steps,
)

if TYPE_CHECKING:
    from synthpipe.pipeline.rundir import RunDir

log = logging.getLogger("synthpipe")


class _Rounds:
    """One invocation's rounds: the plan of the current rounds, run and counted."""

    def __init__(self, pipeline: Any, run_dir: RunDir, strict: bool, progress: Any, pool: Any):
        self.pipeline, self.run_dir, self.progress, self.pool = pipeline, run_dir, progress, pool
        self.cfg = pipeline.recipe.target
        self.make_ctx = lambda p: pipeline._context(p, run_dir, strict, pool)
        recipe = pipeline.recipe
        self.executor = make_executor(pipeline._executor[0], workers=recipe.workers,
                                      max_inflight=recipe.max_inflight, address=pipeline._executor[1])  # fmt: skip
        self.reopened = False

    def plan(self, state: TargetState) -> list[PlannedStep]:
        steps = target_steps(self.pipeline.steps, self.cfg, state.sizes, state.ends)
        plan = target_plan(self.pipeline, self.run_dir, steps, state.sizes)
        self.run_dir.remove_stale_steps({p.checkpoint.dir.name for p in plan})
        for p in plan:
            p.checkpoint.prepare()
        current = state.rounds[-1]
        if not current.started:  # a new round: the first segment takes more batches
            open_round(plan, state.ends[-1] if state.ends else 0)
            current.started = True
            state.save()
        if not self.reopened:  # like any rerun: retry what failed for a retryable reason, once
            self.reopened = True
            for line in reopen_failed(plan):
                log.info("retrying records that failed last time: %s", line)
        return plan

    def run(self, state: TargetState) -> tuple[list[PlannedStep], RecordSpill, dict]:
        """Run the plan of `state`'s rounds up to the surplus marker (the steps after it never
        drop: they run once, in `complete`); count the last round into the state."""
        plan = self.plan(state)
        head = plan[: _marker(plan) + 1]
        reused = {p.name: p.checkpoint.done for p in plan}
        current, k = state.rounds[-1], len(state.rounds)
        log.info("target: round %d generates %d records (asked %d, %d kept so far)", k, current.size,
                 self.cfg.kept, state.rounds[-2].kept if k > 1 else 0)  # fmt: skip
        started, paid = time.perf_counter(), paid_requests(self.pool)
        spill = self.execute(head)
        current.seconds += time.perf_counter() - started
        current.paid_requests += paid_requests(self.pool) - paid
        self.count(plan, state)
        return plan, spill, reused

    def execute(self, plan: list[PlannedStep]) -> RecordSpill:
        spill = RecordSpill(self.run_dir.root / ".spill", [p.name for p in plan])
        try:
            self.executor.execute(plan, self.make_ctx, self.progress, spill)
        except BaseException:
            spill.close()
            raise
        return spill

    def complete(self, plan: list[PlannedStep], spill: RecordSpill, reused: dict) -> tuple[RecordSpill, dict]:
        """Run the steps after the surplus marker (audits) once the rounds are over."""
        if _marker(plan) == len(plan) - 1:
            return spill, reused
        spill.close()
        reused = {**reused, **{p.name: p.checkpoint.done for p in plan[_marker(plan) + 1 :]}}
        return self.execute(plan), reused  # the outputs are rebuilt from the checkpoints

    def count(self, plan: list[PlannedStep], state: TargetState) -> None:
        current, earlier = state.rounds[-1], state.rounds[:-1]
        source = plan[0].checkpoint
        current.end = source.committed_prefix()
        current.generated = source.stats()["out"] - sum(r.generated for r in earlier)
        current.kept = plan[_marker(plan) - 1].checkpoint.stats()["kept"]
        current.added = current.kept - (earlier[-1].kept if earlier else 0)
        state.save()
        log.info("target: round %d generated %d, %d survive (%s of them new)", len(state.rounds),
                 current.generated, current.kept, current.added)  # fmt: skip


def run_to_target(pipeline: Any, run_dir: RunDir, strict: bool, progress: Any) -> dict:
    """`Pipeline._run` for a recipe with ``target:`` (see synthpipe.run.target): the metrics."""
    cfg = pipeline.recipe.target
    name, source = next(iter(pipeline.steps.items()))
    if (problem := target_problem(name, source)) is not None:
        raise UsageError(problem)
    started = time.time()
    state = TargetState.load(run_dir.root / STATE_FILE, state_key(pipeline, cfg))
    if not state.rounds:
        state.rounds = [Round(first_round(cfg, source))]
    if len(state.rounds) > cfg.max_rounds:  # a lowered cap: the rounds past it are given up
        del state.rounds[cfg.max_rounds :]
        state.rounds[-1].started = False  # reopen: forget the batches after it
    status = {"status": "running", "started": _now(), "target": cfg.kept}
    run_dir.write_json(run_dir.state_path, status)
    pool = pipeline._llm_pool(run_dir, progress)
    rounds = _Rounds(pipeline, run_dir, strict, progress, pool)
    try:
        with progress:
            plan, spill, reused, stop = _rounds(rounds, state)
            spill, reused = rounds.complete(plan, spill, reused)
    except BaseException as exc:
        failed = "budget_reached" if isinstance(exc, BudgetExceeded) else "failed"
        run_dir.write_json(run_dir.state_path, {**status, "status": failed, "error": str(exc)})
        raise
    finally:
        llm_metrics = pipeline._close_pool(run_dir, pool)
    metrics = pipeline._finish(run_dir, plan, spill, reused, started, rounds.executor.busy_s, llm_metrics,
                               rounds.executor)  # fmt: skip
    spill.close()
    metrics["target"] = target_block(cfg, state.rounds, stop)
    run_dir.write_json(run_dir.metrics_path, metrics)
    state.save({"target": metrics["target"]})
    if (message := shortfall_message(metrics)) is not None:
        log.warning("%s", message)
    fingerprints = {p.name: p.fingerprint for p in plan}
    run_dir.write_json(run_dir.state_path, {**status, "status": "finished", "finished": _now(),
                                            "fingerprints": fingerprints})  # fmt: skip
    return metrics


def _marker(plan: list[PlannedStep]) -> int:
    """Where the surplus marker is in `plan`."""
    return next(i for i, p in enumerate(plan) if isinstance(p.step, Surplus))


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _rounds(rounds: _Rounds, state: TargetState) -> tuple[list[PlannedStep], RecordSpill, dict, str | None]:
    """Rounds until the target is met or a cap stops them; the last round's plan and spill."""
    while True:
        try:
            plan, spill, reused = rounds.run(state)
        except BudgetExceeded as exc:
            if len(state.rounds) == 1:
                raise
            return *_give_up_round(rounds, state), f"the LLM budget ran out in round {len(state.rounds) + 1}: {exc}"
        size, stop = next_round(rounds.cfg, state.rounds)
        if size is None:
            return plan, spill, reused, stop
        spill.close()
        state.rounds.append(Round(size))
        state.save()


def _give_up_round(rounds: _Rounds, state: TargetState) -> tuple[list[PlannedStep], RecordSpill, dict]:
    """The budget stopped the last round: run again with the finished rounds only (their
    batches are checkpointed: no LLM request), so the outputs are whole."""
    k = len(state.rounds)
    log.warning("target: the LLM budget ran out in round %d; delivering what rounds 1-%d kept", k, k - 1)
    state.rounds.pop()
    state.rounds[-1].started = False  # reopen: forget the given-up round's batches
    saved = state.rounds[-1]
    keep = dict(vars(saved))
    plan, spill, reused = rounds.run(state)
    for key in ("generated", "kept", "added", "paid_requests", "seconds"):  # that round's figures stand
        setattr(saved, key, keep[key])
    state.save()
    return plan, spill, reused

