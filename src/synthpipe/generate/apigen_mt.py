"""Tool-use trajectories: an assistant model acts on real tools while a simulated user talks to it.

Akshara Prabhakar, Zuxin Liu, Ming Zhu, Jianguo Zhang, Tulika Awalgaonkar, Shiyu Wang, Zhiwei
Liu, Haolin Chen, Thai Hoang, Juan Carlos Niebles, Shelby Heinecke, Weiran Yao, Huan Wang, Silvio
Savarese, Caiming Xiong. 2025. "APIGen-MT: Agentic Pipeline for Multi-Turn Data Generation via
Simulated Agent-Human Interplay". arXiv:2504.03601.
Shunyu Yao, Noah Shinn, Pedram Razavi, Karthik Narasimhan. 2024. "tau-bench: A Benchmark for
Tool-Agent-User Interaction in Real-World Domains". arXiv:2406.12045.

APIGen-MT's second phase: a task blueprint (an instruction with its ground-truth actions and
outcome) is played out by an assistant model and a human-simulating model. The simulated user
states the task in its own words, may reveal details over the turns, and ends the conversation
with a stop token once the goal is met (tau-bench's ``###STOP###``); the assistant calls tools
in the OpenAI `tool_calls` format, each call is executed, and its result goes back as a
``tool`` message. Only trajectories whose outcome matches the blueprint are kept: that check
is the next step's (`verify_trajectory`), this step records what happened.

Each trajectory acts on a fresh `ToolSession(env, initial_state)`: stateful tools (cart,
calendar, key-value store, ...) start from the task's state, and calls run in a worker process
with a timeout, so a hanging or crashing tool costs one call.

A turn is one assistant request. The simulation ends when the user sends the stop token
(``ended_by: "user"``), when the assistant answers in text and `end_on_answer` is set
(``"answer"``), or when the assistant is still going after `max_turns` turns: it stops one turn
past the limit (``"max_turns"``, ``max_turns_reached: true``) and the trajectory is kept, so
that `verify_trajectory` with the same `max_turns` drops it as ``turn_limit``.

Input: ``task`` (the user's goal), ``env`` (environment name or names); optional
``initial_state`` and ``tools`` (default: every tool of the session).
Output: ``messages`` (system, user, assistant with ``tool_calls``, tool, ... in the OpenAI
chat format), ``tools`` (the schemas offered); ``_lineage.<step>.simulation``: turns, user
turns, calls, tool errors ({turn, name, kind, error}), malformed replies, ended_by,
max_turns_reached.

Deviations from the paper: APIGen-MT validates blueprints with an LLM committee and reverse
engineers them from executed actions; here tasks come from a generator with ground truth
(`tool_tasks`, `tool_task_generation`). Its simulated users get few-shot examples and best-of-n
sampling for stability; here one sample per turn, the template replaceable.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

from pydantic import Field

from synthpipe.data.records import ID, LINEAGE, Record
from synthpipe.generate.dialogue import clean_turn
from synthpipe.generate.task import (
    LLMTaskConfig,
    ParseError,
    SimulatedUserTask,
    drop_failed,
    record_seed,
)
from synthpipe.llm.types import ChatRequest, LLMError, Message, SamplingParams
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepContext
from synthpipe.tools.session import ToolSession

STOP_TOKEN = "###STOP###"  # tau-bench's


class SimulateTrajectoriesConfig(LLMTaskConfig):
    max_turns: int = Field(
        10, ge=1, le=100,
        description="assistant turns allowed (a turn is one assistant request); the simulation stops one past it",
    )  # fmt: skip
    max_user_turns: int = Field(4, ge=1, le=50, description="simulated-user messages at most, the first included")
    user_llm: str | None = Field(None, description="endpoint of the simulated user; default: the same as `llm`")
    user_template: str | None = Field(None, description="Jinja2 prompt file replacing the bundled user-simulator one")
    user_temperature: float = Field(0.7, ge=0, le=2, description="sampling temperature of the simulated user")
    user_max_tokens: int = Field(200, ge=1, description="longest simulated-user message")
    stop_token: str = Field(STOP_TOKEN, min_length=1, description="what the simulated user sends to end the conversation")
    reveal_gradually: bool = Field(True, description="the simulated user gives details over the turns, not all at once")
    first_message: Literal["simulated", "task"] = Field(
        "simulated",
        description="simulated: the user model states the task in its own words; task: the task text is the first message",
    )  # fmt: skip
    end_on_answer: bool = Field(
        False, description="end at the assistant's first reply without tool calls (single-turn tasks; no user follow-up)"
    )
    tool_choice: str | None = Field(None, description="OpenAI tool_choice sent with each assistant turn (auto, required, none)")
    tool_timeout_s: float = Field(5.0, gt=0, description="longest a tool call may run")
    temperature: float = Field(0.3, ge=0, le=2, description="sampling temperature of the assistant")
    max_tokens: int = Field(512, ge=1, description="longest assistant reply")


@register_step("simulate_trajectories")
class SimulateTrajectories(SimulatedUserTask):
    """Multi-turn tool-use trajectories from an assistant and a simulated user (APIGen-MT).

    See the module docstring; the trajectory facts go to ``_lineage.<step>.simulation``.

    Input columns: ``task``, ``env`` (``initial_state``, ``tools`` read when present).
    Output columns: ``messages``, ``tools``.
    Drop reasons: ``missing_input``, ``llm_error`` (a turn's request gave up), ``truncated``
    (a reply cut at max_tokens), ``bad_environment`` (the task names an unknown environment or
    a state it cannot take). A trajectory that fails its task is kept: `verify_trajectory` drops it.
    References: Prabhakar et al. (2025), APIGen-MT, arXiv:2504.03601; Yao et al. (2024),
    tau-bench, arXiv:2406.12045.
    """

    Config = SimulateTrajectoriesConfig
    config: SimulateTrajectoriesConfig
    main_role: ClassVar[str] = "assistant"
    template_file: ClassVar[str] = "apigen_mt_assistant.jinja2"
    template_files: ClassVar[dict[str, str]] = {"user": "apigen_mt_user.jinja2"}
    template_variables: ClassVar[dict[str, tuple[str, ...]]] = {  # checked at recipe load
        "assistant": ("**record", "config"),
        "user": ("task", "history", "stop_token", "reveal_gradually", "config"),
    }
    inputs = ("task", "env")
    outputs = ("messages", "tools")
    drop_reasons = ("missing_input", "llm_error", "truncated", "bad_environment")

    def estimate_requests(self, n_records: int | None) -> int:
        """Upper bound: every assistant turn plus every user message."""
        return (n_records or 0) * (self.config.max_turns + 1 + self.config.max_user_turns)

    def format_input(self, record: Record) -> list[Message]:
        """The assistant's system prompt (the conversation follows it)."""
        return self.render(**record, config=self.config)

    # -- one trajectory -------------------------------------------------------------------
    async def _one(self, record: Record, ctx: StepContext) -> list[Record]:
        if self.drop_if_missing(record, ctx, blank=True):
            return []
        try:
            session = await asyncio.to_thread(self._session, record)
        except Exception as exc:  # UsageError from the session: unknown env, bad state
            drop_failed(record, ctx.name, ParseError("bad_environment", str(exc)))
            return []
        sim = Simulation(self, record, ctx, session)
        try:
            await sim.run()
        except (LLMError, ParseError) as exc:
            drop_failed(record, ctx.name, exc)
            return []
        finally:
            session.close()
        extra = self._merge(record, {"messages": sim.messages, "tools": sim.tools}, ctx, sim.seeds[0])
        record[LINEAGE][ctx.name] |= {"turn_seeds": sim.seeds, "simulation": sim.facts()}
        return extra

    def _session(self, record: Record) -> ToolSession:
        return ToolSession(record["env"], timeout_s=self.config.tool_timeout_s, initial_state=record.get("initial_state"))


class Simulation:
    """The state of one trajectory while the assistant and the simulated user take turns."""

    def __init__(self, step: SimulateTrajectories, record: Record, ctx: StepContext, session: ToolSession):
        self.step, self.cfg, self.record, self.ctx, self.session = step, step.config, record, ctx, session
        self.tools: list[dict[str, Any]] = record.get("tools") or session.schemas()
        self.messages: list[Message] = step.format_input(record)
        self.seeds: list[int] = []
        self.turns = self.user_turns = self.calls = 0
        self.tool_errors: list[dict[str, Any]] = []
        self.malformed: list[dict[str, Any]] = []
        self.ended_by = "max_turns"
        self._ids: set[str] = set()

    def facts(self) -> dict[str, Any]:
        return {
            "turns": self.turns,
            "user_turns": self.user_turns,
            "calls": self.calls,
            "tool_errors": self.tool_errors,
            "malformed": self.malformed,
            "ended_by": self.ended_by,
            "max_turns_reached": self.ended_by == "max_turns",
            "final_state": self.session.state(),
        }

    async def run(self) -> None:
        if not await self.user_says():
            self.ended_by = "user"  # stopped before asking anything
            return
        while self.turns <= self.cfg.max_turns:  # one turn past the limit shows it was passed
            if await self.assistant_turn():
                continue  # it called tools: the results are in, its turn again
            if self.cfg.end_on_answer:
                self.ended_by = "answer"
                return
            if self.user_turns >= self.cfg.max_user_turns or not await self.user_says():
                self.ended_by = "user"
                return

    async def assistant_turn(self) -> bool:
        """One assistant request; True if it called tools (each executed, its result appended)."""
        self.turns += 1
        seed = self._seed("assistant", self.turns)
        params = SamplingParams(
            temperature=self.cfg.temperature, top_p=self.cfg.top_p, max_tokens=self.cfg.max_tokens, seed=seed
        )
        request = ChatRequest(list(self.messages), params, tools=self.tools, tool_choice=self.cfg.tool_choice)
        try:
            response = await self.ctx.llm(self.cfg.llm).chat(request)
        except LLMError as exc:
            raise type(exc)(f"assistant turn {self.turns}: {exc}") from exc
        message = response.message()
        calls = [self._unique_id(call, k) for k, call in enumerate(message.get("tool_calls") or [])]
        if calls:
            message["tool_calls"] = calls
        elif "<tool_call>" in (message["content"] or ""):  # a call the parser could not read
            self.malformed.append({"turn": self.turns, "reply": message["content"][:500]})
        self.messages.append(message)
        for call in calls:
            await self.execute(call)
        return bool(calls)

    async def execute(self, call: dict[str, Any]) -> None:
        self.calls += 1
        function = call.get("function") or {}
        name = str(function.get("name"))
        result = await asyncio.to_thread(self.session.call, name, function.get("arguments"))
        if not result.ok:
            self.tool_errors.append({"turn": self.turns, "name": name, "kind": result.kind, "error": result.error})
        self.messages.append({"role": "tool", "tool_call_id": call["id"], "content": result.content})

    async def user_says(self) -> bool:
        """Append the simulated user's next message; False when the user ends the conversation."""
        self.user_turns += 1
        if self.user_turns == 1 and self.cfg.first_message == "task":
            self.messages.append({"role": "user", "content": str(self.record["task"]).strip()})
            return True
        seed = self._seed("user", self.user_turns)
        prompt = self.step.render_role(
            "user", task=str(self.record["task"]).strip(), history=self._visible(), stop_token=self.cfg.stop_token,
            reveal_gradually=self.cfg.reveal_gradually, config=self.cfg,
        )  # fmt: skip
        try:
            text, _ = await self.step.ask(
                self.ctx, prompt, seed, llm=self.step.user_llm,
                temperature=self.cfg.user_temperature, max_tokens=self.cfg.user_max_tokens, schema=str,
            )  # fmt: skip
        except LLMError as exc:
            raise type(exc)(f"user turn {self.user_turns}: {exc}") from exc
        if self.cfg.stop_token in text:
            return False
        text = clean_turn(text)
        if not text:
            return False  # an empty user message ends the conversation, like the stop token
        self.messages.append({"role": "user", "content": text})
        return True

    def _visible(self) -> list[Message]:
        """What the user sees: the user and assistant text turns (tool traffic is the assistant's)."""
        return [
            {"role": m["role"], "content": m["content"]}
            for m in self.messages
            if m["role"] in ("user", "assistant") and m.get("content")
        ]

    def _unique_id(self, call: dict[str, Any], k: int) -> dict[str, Any]:
        """Call ids unique in the trajectory (prompted models number calls per reply)."""
        call_id = str(call.get("id") or "")
        if not call_id or call_id in self._ids:
            call_id = f"call_{self.turns}_{k}"
        self._ids.add(call_id)
        return {**call, "id": call_id}

    def _seed(self, role: str, turn: int) -> int:
        seed = record_seed(self.ctx.seed, f"{self.ctx.name}:{role}", self.record.get(ID), turn)
        self.seeds.append(seed)
        return seed

