"""Shared pieces of the exporters: the field mapping, rejections, and chat-message checks.

Messages are normalised to ``{"role": "system"|"user"|"assistant", "content": ...}``; an
OpenAI ``weight`` (0/1, assistant turns only) is carried along when the source has one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from synthpipe.data.records import Record
from synthpipe.errors import UsageError

Message = dict[str, Any]

# ShareGPT speaker names (and the OpenAI ones, which some ShareGPT files use) -> roles.
ROLE_ALIASES = {
    "system": "system",
    "user": "user",
    "assistant": "assistant",
    "human": "user",
    "gpt": "assistant",
}


class ExportReject(Exception):
    """A record that cannot be exported; `reason` is a stable name counted in the summary."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ExportMapping(BaseModel):
    """Which record fields hold what. Unset fields use the documented fallbacks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instruction_field: str | None = Field(
        None, description="prompt text; unset: first present of instruction, prompt, question, text"
    )
    input_field: str | None = Field(
        None, description="optional extra input appended to the instruction; unset: input"
    )
    output_field: str | None = Field(
        None,
        description="answer text; unset: first present of response, output, answer, completion, "
        "generation",
    )
    messages_field: str | None = Field(
        None,
        description="chat list (OpenAI role/content or ShareGPT from/value); unset: messages, "
        "conversations",
    )
    system_field: str | None = Field(
        None, description="per-record system prompt; unset: system (absent or empty: none)"
    )
    system: str | None = Field(
        None, description="system prompt for records that have none of their own"
    )
    chosen_field: str = Field("chosen", description="preferred answer (dpo): text or chat list")
    rejected_field: str = Field("rejected", description="dispreferred answer (dpo)")
    shape: str | None = Field(
        None, description="row shape for format hf (any other format name); default trl-messages"
    )
    join: str = Field(
        "\n\n",
        description="text between instruction and input when one turn holds both "
        "(default one blank line)",
    )
    label_field: str = Field(
        "label", description="argilla: field whose values become the label question's options"
    )
    conversational: bool = Field(
        False,
        description="trl-prompt-completion and dpo: write message lists instead of strings "
        "(keeps system prompts and multi-turn prompts)",
    )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ExportMapping:
        """Build from keyword options (None means unset); bad keys become a UsageError."""
        try:
            return cls(**{k: v for k, v in options.items() if v is not None})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'mapping'}: {e['msg']}" for e in exc.errors()
            )
            valid = ", ".join(cls.model_fields)
            raise UsageError(f"invalid export mapping: {problems} (options: {valid})") from None


@dataclass(frozen=True)
class Format:
    """One training format: record -> row, row checks, and row -> canonical form."""

    name: str
    source: Callable[[Record, ExportMapping], Any]  # -> sources.Chat | sources.Preference
    build: Callable[[Any, ExportMapping], dict]
    validate: Callable[[dict], None]
    canonical: Callable[[dict], dict]
    takes_conversational: bool = False  # honours ExportMapping.conversational

    def convert(self, record: Record, mapping: ExportMapping) -> tuple[dict, dict[str, str]]:
        """The row for `record` and the fields it came from; raises ExportReject."""
        src = self.source(record, mapping)
        return self.build(src, mapping), src.fields


# -- messages ---------------------------------------------------------------------------
def normalize_messages(value: Any, field: str) -> list[Message]:
    """OpenAI- or ShareGPT-shaped turns as role/content dicts; content is checked later."""
    if not isinstance(value, list) or not value:
        raise ExportReject("bad_messages", f"field {field!r} is not a non-empty list of turns")
    return [_message(msg, turn, field) for turn, msg in enumerate(value, 1)]


def _message(msg: Any, turn: int, field: str) -> Message:
    if not isinstance(msg, dict):
        raise ExportReject("bad_messages", f"{field!r} turn {turn} is a {type(msg).__name__}")
    role = msg.get("role", msg.get("from"))
    if role is None or ("content" not in msg and "value" not in msg):
        raise ExportReject(
            "bad_messages", f"{field!r} turn {turn} needs role/content (or ShareGPT from/value)"
        )
    canonical = ROLE_ALIASES.get(role) if isinstance(role, str) else None
    if canonical is None:
        hint = (
            "; export tool-use conversations as openai-tools, trl-tools or sharegpt-tools"
            if role in ("tool", "function_call", "observation")
            else ""
        )
        raise ExportReject(
            "bad_role",
            f"turn {turn}: role {role!r}; expected system, user, assistant (ShareGPT: human, "
            f"gpt){hint}",
        )
    out: Message = {
        "role": canonical,
        "content": stripped(msg["content"] if "content" in msg else msg["value"]),
    }
    if msg.get("weight") is not None:  # HF datasets fill absent struct keys with None
        out["weight"] = msg["weight"]
    return out


def stripped(value: Any) -> Any:
    """Text without leading or trailing whitespace; other values as they are (checked later)."""
    return value.strip() if isinstance(value, str) else value


def plain(messages: list[Message]) -> list[Message]:
    """Role and content only (drops OpenAI extras such as `weight`)."""
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def check_text(value: Any, what: str) -> None:
    """`value` must be a string with something besides whitespace."""
    if not isinstance(value, str):
        raise ExportReject("not_text", f"{what} is {type(value).__name__}, not a string")
    if not value.strip():
        raise ExportReject("empty_content", f"{what} is empty or whitespace")


def check_turns(messages: list[Message], last: str) -> None:
    """Optional system, then user/assistant alternating from user, ending on `last`."""
    for turn, m in enumerate(messages, 1):
        check_text(m["content"], f"turn {turn} ({m['role']})")
    start = 1 if messages and messages[0]["role"] == "system" else 0
    if len(messages) == start:
        raise ExportReject("bad_messages", "no user or assistant turns")
    for turn, m in enumerate(messages[start:], start + 1):
        expected = "user" if (turn - start) % 2 else "assistant"
        if m["role"] != expected:
            raise ExportReject(
                "roles_not_alternating", f"turn {turn}: expected {expected}, got {m['role']}"
            )
    if messages[-1]["role"] != last:
        raise ExportReject(
            f"last_not_{last}", f"last turn is {messages[-1]['role']}; it must be {last}"
        )


def single_exchange(messages: list[Message], fmt: str, hint: str = "") -> tuple[str, str]:
    """(user, assistant) of a checked conversation that is exactly one exchange, no system."""
    if messages[0]["role"] == "system":
        raise ExportReject("multi_turn", f"{fmt} has no place for a system message{hint}")
    if len(messages) != 2:
        raise ExportReject(
            "multi_turn", f"{len(messages) // 2} user turns; {fmt} holds one exchange{hint}"
        )
    return messages[0]["content"], messages[1]["content"]
