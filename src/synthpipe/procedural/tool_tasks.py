"""Tool-use tasks with executed ground truth, generated without a model.

After APIGen (Liu et al. 2024, "APIGen: Automated Pipeline for Generating Verifiable and Diverse
Function-Calling Datasets", arXiv:2406.18518: tasks over executable tools, kept only when the
calls execute) and ToolACE (Liu et al. 2024, "ToolACE: Winning the Points of LLM Function
Calling", arXiv:2409.00920: single, parallel, dependent and non-tool requests, graded by
complexity). Instead of an LLM writing the query and the calls, seeded templates
(`tool_task_templates.py`) write a request and its calls over the bundled environments; the
calls are then EXECUTED in a fresh ToolSession, and the ground truth is what the tools
returned: the final state of the stateful tools and/or the answer. No result is hand-written
(a "none" task's answer comes from a fact table or from the question itself).

Task types: ``single`` (one call), ``multiple`` (sequential calls, a later one using an earlier
result), ``parallel`` (independent calls), ``none`` (answerable without a tool, tools offered
anyway), ``stateful`` (calls that change a cart, notes, calendar or key-value store).
Difficulty is the number of calls (``n_calls``); ``min_calls``/``max_calls`` bound it.
"""

from __future__ import annotations

import json
import random
from typing import Any

from pydantic import Field, model_validator

from synthpipe.data.records import Record, add_lineage
from synthpipe.errors import StepError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import IndexedSource, StepConfig
from synthpipe.procedural.tool_task_templates import TASK_TYPES, TEMPLATES, Plan
from synthpipe.tools.session import ToolSession

_TRIES = 50  # draws per record before giving up on the call-count bounds
DISTRACTORS = ("calculator", "units", "dates")


def ground_truth(plan: Plan, timeout_s: float = 5.0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(tools offered, ground truth) of a plan, by running its steps in a fresh session."""
    with ToolSession(plan.env, timeout_s=timeout_s, initial_state=plan.initial_state) as session:
        calls, results = [], []
        for step in plan.steps:
            planned = step(results) if callable(step) else step
            result = session.call(planned["name"], planned["arguments"])
            if not result.ok:
                raise StepError(
                    f"tool task template {plan.template}: ground-truth call {planned} "
                    f"failed ({result.kind}): {result.error}"
                )
            calls.append({"name": planned["name"], "arguments": planned["arguments"]})
            results.append(json.loads(result.content))
        truth = {
            "calls": calls,
            "final_state": session.state() if plan.expects_state else None,
            "answer": plan.answer(results) if plan.answer is not None else None,
        }
        return session.schemas(), truth


class ToolTasksConfig(StepConfig):
    """Options of the `tool_tasks` source."""

    n: int = Field(1000, gt=0, description="Number of tasks to generate.")
    task_types: list[str] = Field(
        default_factory=lambda: list(TASK_TYPES),
        description=f"Task types to mix evenly, a subset of: {', '.join(TASK_TYPES)}.",
    )
    min_calls: int = Field(1, ge=1, description="Fewest calls of a tool task ('none' has 0).")
    max_calls: int = Field(8, ge=1, description="Most calls of a task.")
    distractors: int = Field(
        1, ge=0, le=len(DISTRACTORS),
        description="Extra stateless environments offered beside the ones a task needs.",
    )  # fmt: skip
    timeout_s: float = Field(5.0, gt=0, description="Per-call timeout while executing.")

    @model_validator(mode="after")
    def _valid(self) -> ToolTasksConfig:
        if unknown := sorted(set(self.task_types) - set(TASK_TYPES)):
            raise ValueError(f"unknown task_types {unknown}; valid: {', '.join(TASK_TYPES)}")
        if not self.task_types:
            raise ValueError("task_types is empty")
        if self.min_calls > self.max_calls:
            raise ValueError(f"min_calls {self.min_calls} > max_calls {self.max_calls}")
        return self


@register_step("tool_tasks")
class ToolTasks(IndexedSource):
    """User tasks over the bundled tool environments with executed ground truth (no model).

    Each task is a natural-language request from a seeded template: one call, several in
    sequence, parallel calls, no call, or calls that change a stateful tool; its ground-truth
    calls are executed in a fresh ToolSession and the record keeps their final state and/or
    answer (see the module docstring). Ids are ``tool-000123``; lineage names the template,
    the call count and the seed.

    Input columns: none (a source).
    Output columns: ``task``, ``task_type``, ``env``, ``initial_state``, ``tools`` (OpenAI tool
    schemas), ``ground_truth`` (``{"calls", "final_state", "answer"}``), ``n_calls``.
    Drop reasons: none.
    References: Liu et al. (2024), "APIGen: Automated Pipeline for Generating Verifiable and
    Diverse Function-Calling Datasets", arXiv:2406.18518; Liu et al. (2024), "ToolACE: Winning
    the Points of LLM Function Calling", arXiv:2409.00920.
    """

    Config = ToolTasksConfig
    config: ToolTasksConfig

    def output_columns(self) -> set[str]:
        return {"task", "task_type", "env", "initial_state", "tools", "ground_truth", "n_calls"}



    def plan(self, index: int, seed: int) -> Plan:
        """The plan of record `index`: its type cycles through `task_types`, the rest is drawn
        from an RNG seeded with (seed, index) until the call count is within bounds."""
        cfg = self.config
        task_type = cfg.task_types[index % len(cfg.task_types)]
        rng = random.Random(f"tool_tasks:{seed}:{index}")
        low = 0 if task_type == "none" else cfg.min_calls
        for _ in range(_TRIES):
            plan = rng.choice(TEMPLATES[task_type])(rng)
            if low <= len(plan.steps) <= cfg.max_calls:
                extra = [e for e in DISTRACTORS if e not in plan.env]
                plan.env = plan.env + rng.sample(extra, min(cfg.distractors, len(extra)))
                return plan
        raise StepError(
            f"tool_tasks: no {task_type} task with {cfg.min_calls}-{cfg.max_calls} calls; "
            "widen min_calls/max_calls or drop that task type"
        )

    def record(self, index: int, seed: int) -> Record:
        """Record `index` of the run with `seed` (independent of every other record)."""
        plan = self.plan(index, seed)
        tools, truth = ground_truth(plan, self.config.timeout_s)
        record: Record = {
            "id": f"tool-{index:06d}",
            "task": plan.task,
            "task_type": plan.task_type,
            "env": plan.env,
            "initial_state": plan.initial_state,
            "tools": tools,
            "ground_truth": truth,
            "n_calls": len(truth["calls"]),
        }
        return add_lineage(record, generator="tool_tasks", template=plan.template,
                           n_calls=len(truth["calls"]), seed=seed)  # fmt: skip
