"""Tool-use tasks written by an LLM from tool schemas, kept only when their calls execute.

Zuxin Liu, Thai Hoang, Jianguo Zhang, Ming Zhu, Tian Lan, Shirley Kokane, Juntao Tan, Weiran
Yao, Zhiwei Liu, Yihao Feng, Rithesh Murthy, Liangwei Yang, Silvio Savarese, Juan Carlos
Niebles, Huan Wang, Shelby Heinecke, Caiming Xiong. 2024. "APIGen: Automated Pipeline for
Generating Verifiable and Diverse Function-Calling Datasets". NeurIPS 2024 Datasets and
Benchmarks. arXiv:2406.18518.
Weiwen Liu, Xu Huang, Xingshan Zeng, et al. 2024. "ToolACE: Winning the Points of LLM Function
Calling". arXiv:2409.00920.

APIGen samples a few APIs, shows their schemas to an LLM with a query style (simple, multiple,
parallel, parallel-multiple) and asks for query-answer pairs: the user's query and the calls
that answer it, as JSON. Each pair then passes a three-stage verification: a format checker
(the JSON parses, every call names a sampled API with the right arguments), an execution
checker (the calls run without error) and a semantic checker (an LLM judges whether the
results answer the query). ToolACE adds a dialog and complexity dimension to the same loop.

This step does APIGen's generation and its first two stages: for each input record (the
environments to draw tools from, optionally a task type) it samples `tools_per_task` of the
environments' tools, asks for `queries` request/call pairs (structured output), and executes
every pair's calls in a fresh `ToolSession`. A pair whose calls do not fit the tools or the task
type drops with ``format``, one whose calls fail when run with ``execution`` (detail:
``{"check", "call", "name", "kind", "error"}``). Kept pairs carry the ground truth: the calls,
the final state of the stateful tools when the calls changed it, and the last call's
``result`` as the answer (calculator, units, dates).

Input: ``env`` (environment name or names); optional ``task_type`` (``single``, ``multiple``,
``parallel`` or ``none``; default `task_type`) and ``initial_state``.
Output: one record per request: ``task``, ``task_type``, ``env``, ``initial_state``, ``tools``
(the sampled schemas), ``ground_truth`` ({"calls", "final_state", "answer"}).

Deviations from the paper: no semantic (stage 3) check here: the trajectories simulated from
these tasks are verified on their outcome (`verify_trajectory`), or `llm_judge` can follow. The
tools are the bundled executable environments (or registered ones), not RapidAPI's catalogue.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from synthpipe.data.records import ID, Record, drop
from synthpipe.generate.task import LLMTask, LLMTaskConfig, ParseError, drop_failed, record_seed
from synthpipe.llm.types import LLMError, Message
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepContext
from synthpipe.tools.session import ToolSession

TASK_TYPES = {
    "single": "each request needs exactly one call of one tool",
    "multiple": "each request needs two or three calls, where a later call may use an earlier call's result",
    "parallel": "each request needs two or three independent calls (the same tool or different ones) that can run at once",
    "none": "each request needs no tool at all",
}


class Call(BaseModel):
    name: str
    arguments: dict[str, Any] = {}


class Query(BaseModel):
    query: str
    calls: list[Call] = []


class Queries(BaseModel):
    queries: list[Query]


class ToolTaskGenerationConfig(LLMTaskConfig):
    queries: int = Field(3, ge=1, le=20, description="requests asked for per input record")
    tools_per_task: int = Field(3, ge=1, description="tools sampled from the record's environments for each prompt")
    task_type: Literal["single", "multiple", "parallel", "none"] = Field("single", description="for records without one")
    tool_timeout_s: float = Field(5.0, gt=0, description="longest a tool call may run")
    temperature: float = Field(0.8, ge=0, le=2, description="sampling temperature")
    max_tokens: int = Field(1024, ge=1, description="longest reply")


@register_step("tool_task_generation")
class ToolTaskGeneration(LLMTask):
    """User requests with ground-truth tool calls, written by an LLM and executed (APIGen).

    See the module docstring; one record per request, with the ground truth of its calls.

    Input columns: ``env`` (``task_type``, ``initial_state`` read when present).
    Output columns: ``task``, ``task_type``, ``tools``, ``ground_truth``.
    Drop reasons: ``missing_input``, ``llm_error``, ``truncated``, ``parse_error`` (no valid
    JSON), ``empty_output``, ``bad_environment``, ``format`` (a call not fitting the tools or the
    task type), ``execution`` (a call failing when run).
    References: Liu et al. (2024), APIGen, arXiv:2406.18518; Liu et al. (2024), ToolACE,
    arXiv:2409.00920.
    """

    Config = ToolTaskGenerationConfig
    config: ToolTaskGenerationConfig
    template_file: ClassVar[str] = "apigen_query.jinja2"
    output_schema: ClassVar[type[BaseModel]] = Queries
    template_variables: ClassVar[dict[str, tuple[str, ...]]] = {  # checked at recipe load
        "main": ("tools", "n", "task_type", "kind", "config"),
    }
    inputs = ("env",)
    outputs = ("task", "task_type", "tools", "ground_truth")
    drop_reasons = (
        "missing_input", "llm_error", "truncated", "parse_error", "empty_output", "bad_environment", "format", "execution",
    )  # fmt: skip

    @property
    def outputs_per_record(self) -> float:  # type: ignore[override]
        return float(self.config.queries)

    def task_type(self, record: Record) -> str:
        kind = str(record.get("task_type") or self.config.task_type)
        return kind if kind in TASK_TYPES else self.config.task_type

    def sample_tools(self, record: Record, schemas: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
        k = min(self.config.tools_per_task, len(schemas))
        return random.Random(seed).sample(schemas, k)

    def prompt(self, record: Record, tools: list[dict[str, Any]]) -> list[Message]:
        kind = self.task_type(record)
        return self.render(tools=tools, n=self.config.queries, task_type=kind, kind=TASK_TYPES[kind], config=self.config)

    async def _one(self, record: Record, ctx: StepContext) -> list[Record]:
        if self.drop_if_missing(record, ctx):
            return []
        seed = record_seed(ctx.seed, ctx.name, record.get(ID))
        try:
            schemas = await asyncio.to_thread(lambda: self._session(record).schemas())
        except Exception as exc:  # UsageError from the session: unknown env, bad state
            drop_failed(record, ctx.name, ParseError("bad_environment", str(exc)))
            return []
        tools = self.sample_tools(record, schemas, seed)
        try:
            reply, _raw = await self.ask(ctx, self.prompt(record, tools), seed)
        except (LLMError, ParseError) as exc:
            drop_failed(record, ctx.name, exc)
            return []
        rows = [self._row(record, tools, query) for query in reply["queries"]]
        checked = await asyncio.gather(*(asyncio.to_thread(self._check, record, row) for row in rows))
        extra = self._merge(record, rows, ctx, seed)
        for row, problem in zip([record, *extra], checked, strict=False):
            if problem is not None:
                drop(row, ctx.name, *problem)
        return extra

    def _row(self, record: Record, tools: list[dict[str, Any]], query: dict[str, Any]) -> dict[str, Any]:
        return {
            "task": query["query"].strip(),
            "task_type": self.task_type(record),
            "tools": tools,
            "ground_truth": {"calls": query["calls"], "final_state": None, "answer": None},
        }

    def _session(self, record: Record) -> ToolSession:
        return ToolSession(record["env"], timeout_s=self.config.tool_timeout_s, initial_state=record.get("initial_state"))

    def _check(self, record: Record, row: dict[str, Any]) -> tuple[str, Any] | None:
        """APIGen's format and execution checks; fills the row's ground truth when they pass."""
        calls = row["ground_truth"]["calls"]
        if problem := self._format_problem(row["task"], row["task_type"], calls, row["tools"]):
            return "format", problem
        with self._session(record) as session:
            answer, initial = None, session.state()
            for i, call in enumerate(calls):
                result = session.call(call["name"], call["arguments"])
                if not result.ok:
                    reason = "format" if result.kind in ("unknown_tool", "bad_arguments") else "execution"
                    detail = {"check": reason, "call": i, "name": call["name"], "kind": result.kind, "error": result.error}
                    return reason, detail
                answer = _answer(result.content)
            state = session.state()
        # a final state only where the calls changed one (as `tool_tasks` does); else the answer
        row["ground_truth"].update(final_state=state if state != initial else None, answer=answer)
        return None

    @staticmethod
    def _format_problem(task: str, kind: str, calls: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict | None:
        offered = {t["function"]["name"] for t in tools}
        if not task:
            return {"check": "format", "error": "empty request"}
        expected = {"none": (0, 0), "single": (1, 1)}.get(kind, (2, None))
        low, high = expected
        if len(calls) < low or (high is not None and len(calls) > high):
            return {"check": "format", "error": f"{len(calls)} calls for a {kind!r} task"}
        for i, call in enumerate(calls):
            if call["name"] not in offered:
                return {"check": "format", "call": i, "name": call["name"], "kind": "unknown_tool",
                        "error": f"{call['name']!r} is not one of the sampled tools {sorted(offered)}"}  # fmt: skip
        return None


def _answer(content: str) -> Any:
    """A tool result's ``result`` value when it has one (calculator, units, dates), else None."""
    try:
        value = json.loads(content)
    except ValueError:
        return None
    return value.get("result") if isinstance(value, dict) else None
