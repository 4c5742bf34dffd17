"""The `verify_trajectory` step: keep a tool-use trajectory only if its task succeeded.

Checks (see `trajectory_checks.py`), in order, each on the whole trajectory:

1. format: roles in order (an optional system message, a user message first), every tool
   message answers an open tool call of an earlier assistant message, every call is answered,
   arguments parse as a JSON object, the tool is one of the record's environments, the
   arguments are valid against its schema, and the trajectory ends with the assistant's answer;
2. turn limit: no more than `max_turns` assistant messages;
3. execution: every call is replayed in a fresh ToolSession from ``initial_state``; none may
   fail, and each must return what the trajectory's tool message says (a trajectory whose
   tool output was made up, by a model or a simulator, is caught here);
4. outcome: the final state of the stateful tools equals ``ground_truth.final_state``, and/or
   the final answer states ``ground_truth.answer`` (numbers within `rel_tol`, strings after
   normalisation, lists item by item); when only calls are known, each was made.

Pass rates by task type and by check are written to ``<run dir>/trajectory_summary.json``
(rolled up from per-batch tallies in the step's directory, so batches run in other processes
count) and logged.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import Field

from synthpipe.data.records import Batch, drop, is_dropped
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.rundir import TRAJECTORY_SUMMARY, write_step_summary
from synthpipe.pipeline.step import MapStep, StepConfig, StepContext
from synthpipe.verify.trajectory_checks import CHECKS, REASONS, check_trajectory

SUMMARY_FILE = TRAJECTORY_SUMMARY  # the run directory knows its name
TALLY_FILE = "trajectory_tally.json"


class VerifyTrajectoryConfig(StepConfig):
    """Options of the `verify_trajectory` step."""

    max_turns: int = Field(10, ge=1, description="Most assistant messages a trajectory may have.")
    timeout_s: float = Field(5.0, gt=0, description="Per-call timeout when replaying.")
    rel_tol: float = Field(
        1e-3, ge=0, description="Relative tolerance for numeric answers and tool outputs."
    )
    result_field: str = Field("verification", description="Field for a passing verdict.")


@register_step("verify_trajectory")
class VerifyTrajectory(MapStep):
    """Verifies whole tool-use trajectories: format, turn limit, execution and outcome.

    A trajectory that fails a check is dropped with the reason and a structured detail
    ``{"check", "turn", ...}`` (``turn`` counts assistant messages from 1); see the module
    docstring for the checks and for ``trajectory_summary.json`` (pass rates by task type and
    by check).

    Input columns: ``messages``, ``env``, ``initial_state``, ``ground_truth``; ``task_type``
    when present (for the summary).
    Output columns: `result_field` (default ``verification``) = ``{"passed", "checks",
    "turns", "calls"}``.
    Drop reasons: ``malformed_trajectory``, ``unknown_tool``, ``bad_arguments``,
    ``tool_error``, ``invented_tool_output``, ``turn_limit``, ``wrong_final_state``,
    ``wrong_answer``.
    References: Liu et al. (2024), "APIGen: Automated Pipeline for Generating Verifiable and
    Diverse Function-Calling Datasets", arXiv:2406.18518; Prabhakar et al. (2025), "APIGen-MT:
    Agentic Pipeline for Multi-Turn Data Generation via Simulated Agent-Human Interplay",
    arXiv:2504.03601.
    """

    Config = VerifyTrajectoryConfig
    config: VerifyTrajectoryConfig
    verifies = True
    drop_reasons = REASONS
    last_summary: dict[str, Any] | None = None  # the run's summary after the latest batch

    def input_columns(self) -> set[str]:
        return {"messages", "env", "ground_truth"}

    def output_columns(self) -> set[str]:
        return {self.config.result_field}

    def process(self, batch: Batch, ctx: StepContext) -> Batch:
        cfg, tally = self.config, []
        for record in batch:
            if is_dropped(record):
                continue
            verdict = check_trajectory(
                record, max_turns=cfg.max_turns, timeout_s=cfg.timeout_s, rel_tol=cfg.rel_tol
            )
            tally.append(
                (str(record.get("task_type") or "unknown"), verdict.checks, verdict.reason)
            )
            if verdict.passed:
                record[cfg.result_field] = verdict.to_dict()
            else:
                drop(record, ctx.name, verdict.reason or "failed", verdict.detail)
        if tally and ctx.step_dir is not None:
            self.last_summary = record_tally(ctx, batch, tally)
        return batch


def record_tally(ctx: StepContext, batch: Batch, tally: list[tuple[str, dict, str | None]]) -> dict:
    """Add a batch's verdicts to the step's tallies (keyed by the batch's ids, so a batch run
    again replaces its own) and rewrite the run's summary from them."""
    key = hashlib.sha256(
        json.dumps([r.get("_id", r.get("id")) for r in batch]).encode()
    ).hexdigest()
    step_dir = Path(ctx.step_dir or ".")
    step_dir.mkdir(parents=True, exist_ok=True)
    path = step_dir / TALLY_FILE
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # batches may finish in several processes at once
        tallies = json.loads(path.read_text()) if path.exists() else {}
        tallies[key] = tally
        path.write_text(json.dumps(tallies))
        summary = {"step": ctx.name, **summarise([t for v in tallies.values() for t in v])}
        if ctx.run_dir is not None:
            write_step_summary(Path(ctx.run_dir), SUMMARY_FILE, ctx.name, summary)
    return summary


def summarise(tally: list[Any]) -> dict[str, Any]:
    """Pass rates overall, by task type (with the failure reasons) and by check (of the
    trajectories that reached the check, how many passed it)."""
    by_type: dict[str, Counter[str]] = {}
    checks = {check: Counter[str]() for check in CHECKS}
    for task_type, verdict_checks, reason in tally:
        counts = by_type.setdefault(task_type, Counter())
        counts["trajectories"] += 1
        counts["passed" if reason is None else f"reason:{reason}"] += 1
        for check in CHECKS:
            status = verdict_checks.get(check, "skipped")
            if status != "skipped":
                checks[check]["checked"] += 1
                checks[check]["passed"] += status == "passed"
    total = sum(c["trajectories"] for c in by_type.values())
    passed = sum(c["passed"] for c in by_type.values())
    return {
        "trajectories": total,
        "passed": passed,
        "pass_rate": _rate(passed, total),
        "by_task_type": {
            name: {
                "trajectories": c["trajectories"],
                "passed": c["passed"],
                "pass_rate": _rate(c["passed"], c["trajectories"]),
                "failed": {
                    k.removeprefix("reason:"): v
                    for k, v in sorted(c.items())
                    if k.startswith("reason:")
                },
            }  # fmt: skip
            for name, c in sorted(by_type.items())
        },
        "by_check": {
            check: {
                "checked": c["checked"],
                "passed": c["passed"],
                "pass_rate": _rate(c["passed"], c["checked"]),
            }  # fmt: skip
            for check, c in checks.items()
        },
    }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
