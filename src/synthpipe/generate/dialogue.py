"""Multi-turn dialogues: an assistant model talks with a simulated user (UltraChat-style).

Ning Ding, Yulin Chen, Bokai Xu, Yujia Qin, Zhi Zheng, Shengding Hu, Zhiyuan Liu, Maosong Sun,
Bowen Zhou. 2023. "Enhancing Chat Language Models by Scaling High-quality Instructional
Conversations" (UltraChat). EMNLP 2023. arXiv:2305.14233.

UltraChat builds conversations with two ChatGPT roles: one plays the user (prompted with the
dialogue history and a description of the user's situation, told to ask follow-ups like a
human), the other the assistant. This step does the same: starting from the opening user
message ``instruction``, it alternates an assistant turn and a simulated-user turn for
`turns` rounds. The two roles have their own prompt templates and may use different
endpoints (`user_llm`, default: the same as `llm`). The simulated user ends the conversation
early by replying with `end_marker` (default ``[END]``); the conversation always ends with an
assistant turn.

Input: ``instruction`` (the opening user message); optional ``persona`` (a description of the
user, e.g. "a nurse planning a trip with two toddlers"; `default_persona` when absent).
Output: ``messages`` (a list of ``{"role", "content"}`` alternating user/assistant, starting
with the user, no empty turn), ``num_turns`` (assistant replies, 1..`turns`) and
``ended_by_user`` (the simulated user sent `end_marker`).

Every turn is its own request with a seed derived from the record id, the role and the turn
number (``_lineage`` lists them as ``turn_seeds``; ``seed`` is the first), so each turn is
cached on its own and a rerun after a failure replays the finished
turns from the cache. A turn whose request gives up drops the record with ``llm_error``; an
empty assistant reply with ``parse_error``. An empty simulated-user reply ends the dialogue,
like `end_marker`.

Deviations from the paper: UltraChat opens its dialogues with questions generated from
topics, entities and documents (its three sectors) and post-processes with filters; here the
opening messages come from the input (e.g. real human prompts), and filtering is left to
later steps.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import Field

from synthpipe.data.records import ID, LINEAGE, Record
from synthpipe.generate.parsing import strip_label, strip_quotes, unwrap_fence
from synthpipe.generate.task import (
    LLMTaskConfig,
    ParseError,
    SimulatedUserTask,
    drop_failed,
    record_seed,
)
from synthpipe.llm.types import LLMError, Message
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepContext

_SPEAKER = re.compile(r"user|human|assistant|ai")
_NEXT_SPEAKER = re.compile(r"\n\s*(?:\*\*|__)?(?:assistant|ai|user|human)(?:\*\*|__)?\s*[:：]", re.IGNORECASE)


class DialogueConfig(LLMTaskConfig):
    turns: int = Field(3, ge=1, le=50, description="assistant replies at most (each but the last followed by a user turn)")
    user_llm: str | None = Field(None, description="endpoint of the simulated user; default: the same as `llm`")
    user_template: str | None = Field(None, description="Jinja2 prompt file replacing the bundled user-simulator one")
    user_temperature: float = Field(0.8, ge=0, le=2, description="sampling temperature of the simulated user")
    user_max_tokens: int = Field(256, ge=1, description="longest simulated-user message")
    default_persona: str = Field("", description="persona used for records without a `persona` field")
    end_marker: str = Field("[END]", min_length=1, description="what the simulated user replies to end the conversation")
    max_tokens: int = Field(1024, ge=1, description="longest assistant reply")


@register_step("dialogue")
class SimulatedDialogue(SimulatedUserTask):
    """Multi-turn conversation between an assistant and a simulated user (UltraChat-style).

    The assistant and the simulated user alternate for up to `turns` assistant replies; the
    user may end early with `end_marker` (see the module docstring).

    Input columns: ``instruction`` (the opening user message); ``persona`` is read when present.
    Output columns: ``messages``, ``num_turns``, ``ended_by_user``.
    Drop reasons: ``missing_input``, ``llm_error`` (a turn's request gave up), ``truncated``
    (a turn's reply cut at max_tokens), ``parse_error`` (an empty assistant reply).
    References: Ding et al. (2023), "Enhancing Chat Language Models by Scaling High-quality
    Instructional Conversations" (UltraChat), EMNLP 2023, arXiv:2305.14233.
    """

    Config = DialogueConfig
    config: DialogueConfig
    main_role: ClassVar[str] = "assistant"
    template_file: ClassVar[str] = "dialogue_assistant.jinja2"
    template_files: ClassVar[dict[str, str]] = {"user": "dialogue_user.jinja2"}  # `user_template` replaces it
    inputs = ("instruction",)
    outputs = ("messages", "num_turns", "ended_by_user")
    drop_reasons = ("missing_input", "llm_error", "truncated", "parse_error")

    def estimate_requests(self, n_records: int | None) -> int:
        """Upper bound: every dialogue runs all turns (assistant turns + user turns between)."""
        return (n_records or 0) * (2 * self.config.turns - 1)

    def persona(self, record: Record) -> str:
        return str(record.get("persona") or self.config.default_persona or "").strip()

    def assistant_messages(self, record: Record, history: list[Message]) -> list[Message]:
        head = self.render(**{**record, "persona": self.persona(record)}, config=self.config)
        return [*head, *history]

    def user_messages(self, record: Record, history: list[Message]) -> list[Message]:
        return self.render_role(
            "user",
            history=history,
            instruction=str(record["instruction"]),
            persona=self.persona(record),
            end_marker=self.config.end_marker,
            config=self.config,
        )

    def format_input(self, record: Record) -> list[Message]:
        """The first assistant request."""
        return self.assistant_messages(record, [{"role": "user", "content": str(record["instruction"])}])

    def format_output(self, reply: Any, record: Record) -> dict[str, Any]:
        """An assistant turn's text (used for every assistant turn)."""
        text = clean_turn(str(reply))
        if not text:
            raise ParseError("parse_error", f"empty assistant turn: {str(reply)[:300]!r}")
        return {"content": text}

    # -- the conversation -----------------------------------------------------------------
    async def _one(self, record: Record, ctx: StepContext) -> list[Record]:
        if self.drop_if_missing(record, ctx, blank=True):
            return []
        seeds: list[int] = []
        try:
            history, ended = await self.converse(record, ctx, seeds)
        except (LLMError, ParseError) as exc:
            drop_failed(record, ctx.name, exc)
            return []
        fields = {
            "messages": history,
            "num_turns": sum(m["role"] == "assistant" for m in history),
            "ended_by_user": ended,
        }
        extra = self._merge(record, fields, ctx, seeds[0])
        record[LINEAGE][ctx.name]["turn_seeds"] = seeds  # assistant, user, assistant, ...
        return extra

    async def converse(self, record: Record, ctx: StepContext, seeds: list[int] | None = None) -> tuple[list[Message], bool]:
        """(messages, ended_by_user); the seed of every request is appended to `seeds`.
        Raises LLMError / ParseError naming the failing turn."""
        seeds = [] if seeds is None else seeds
        cfg = self.config
        history: list[Message] = [{"role": "user", "content": str(record["instruction"]).strip()}]
        for turn in range(cfg.turns):
            seed = record_seed(ctx.seed, f"{ctx.name}:assistant", record.get(ID), turn)
            seeds.append(seed)
            try:
                reply, _ = await self.ask(ctx, self.assistant_messages(record, history), seed)
                content = self.format_output(reply, record)["content"]
            except LLMError as exc:
                raise type(exc)(f"assistant turn {turn + 1}: {exc}") from exc
            except ParseError as exc:
                raise ParseError(exc.reason, f"assistant turn {turn + 1}: {exc.detail}") from exc
            history.append({"role": "assistant", "content": content})
            if turn == cfg.turns - 1:
                break
            seed = record_seed(ctx.seed, f"{ctx.name}:user", record.get(ID), turn)
            seeds.append(seed)
            try:
                text, _ = await self.ask(
                    ctx, self.user_messages(record, history), seed, llm=self.user_llm,
                    temperature=cfg.user_temperature, max_tokens=cfg.user_max_tokens,
                )  # fmt: skip
            except LLMError as exc:
                raise type(exc)(f"user turn {turn + 2}: {exc}") from exc
            message, done = clean_user_turn(text, cfg.end_marker)
            if done:
                return history, True
            history.append({"role": "user", "content": message})
        return history, False


def clean_turn(text: str) -> str:
    """A turn's text without a code fence around all of it or a leading speaker label."""
    return strip_label(unwrap_fence(text), _SPEAKER)


def clean_user_turn(text: str, end_marker: str = "[END]") -> tuple[str, bool]:
    """(message, done): the simulated user's message, cut before any next speaker it invents;
    done when the reply holds `end_marker` or nothing."""
    if end_marker.lower() in text.lower():
        return "", True
    text = clean_turn(text)
    text = strip_quotes(_NEXT_SPEAKER.split(text, maxsplit=1)[0].strip(), [('"', '"')])
    return text, not text
