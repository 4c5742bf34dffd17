"""Find the conversation (SFT) or the preference pair (DPO) in a record.

SFT: an explicit ``messages_field`` wins; an explicit ``instruction_field``/``output_field``
means instruction/output; otherwise the first present of ``messages``, ``conversations``, and
failing those the instruction/output fallbacks. DPO: the prompt comes from ``chosen`` when it
is a chat list holding the prompt turns (UltraFeedback style), else an explicit
``messages_field`` or ``instruction_field``, else the first present of the instruction then
the messages fallbacks (a string, or a chat list ending with the user as in TRL's
conversational prompt). An explicitly named field never falls back to another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from synthpipe.data.records import Record
from synthpipe.train.formats.base import (
    ExportMapping,
    ExportReject,
    Message,
    check_text,
    check_turns,
    normalize_messages,
    stripped,
)

INSTRUCTION_FIELDS = ("instruction", "prompt", "question", "text")
INPUT_FIELD = "input"
OUTPUT_FIELDS = ("response", "output", "answer", "completion", "generation")
MESSAGES_FIELDS = ("messages", "conversations")
SYSTEM_FIELD = "system"
FIXED_SYSTEM = "(mapping.system)"  # how the fixed prompt shows in the summary's field counts


@dataclass
class Chat:
    """A checked SFT conversation ending with an assistant turn."""

    messages: list[Message]
    fields: dict[str, str]  # role ("messages", "instruction", ...) -> source field
    instruction: str | None = None  # instruction/input kept apart for alpaca
    input: str = ""


@dataclass
class Preference:
    """A checked prompt (ending with a user turn) with two answers."""

    prompt: list[Message]
    chosen: Any
    rejected: Any
    fields: dict[str, str]


def chat_source(record: Record, mapping: ExportMapping) -> Chat:
    field = _messages_field(record, mapping)
    if field is not None:
        chat = Chat(normalize_messages(record[field], field), {"messages": field})
    else:
        chat = _instruction_chat(record, mapping)
    _add_system(chat.messages, chat.fields, record, mapping)
    check_turns(chat.messages, "assistant")
    return chat


def preference_source(record: Record, mapping: ExportMapping) -> Preference:
    chosen_turns, chosen = _answer(record, mapping.chosen_field)
    rejected_turns, rejected = _answer(record, mapping.rejected_field)
    fields = {"chosen": mapping.chosen_field, "rejected": mapping.rejected_field}
    if chosen_turns and rejected_turns and chosen_turns != rejected_turns:
        raise ExportReject("prompt_mismatch", "chosen and rejected hold different prompt turns")
    prompt = chosen_turns or rejected_turns
    if prompt:
        fields["prompt"] = mapping.chosen_field if chosen_turns else mapping.rejected_field
    else:
        prompt = _prompt_turns(record, mapping, fields)
    _add_system(prompt, fields, record, mapping)
    check_turns(prompt, "user")
    check_text(chosen, f"{mapping.chosen_field!r}")
    check_text(rejected, f"{mapping.rejected_field!r}")
    return Preference(prompt, chosen, rejected, fields)


# -- helpers ----------------------------------------------------------------------------
def _messages_field(record: Record, mapping: ExportMapping) -> str | None:
    if mapping.messages_field:
        if record.get(mapping.messages_field) is None:
            raise ExportReject("missing_field", f"no field {mapping.messages_field!r}")
        return mapping.messages_field
    if mapping.instruction_field or mapping.output_field:
        return None
    return next((f for f in MESSAGES_FIELDS if record.get(f) is not None), None)


def _pick(record: Record, role: str, explicit: str | None, fallbacks: tuple[str, ...]) -> str:
    names = (explicit,) if explicit else fallbacks
    for name in names:
        if record.get(name) is not None:
            return name
    raise ExportReject("missing_field", f"no {role} field (looked for {', '.join(names)})")


def _text_field(record: Record, field: str) -> str:
    value = record[field]
    check_text(value, f"field {field!r}")
    return value.strip()


def _input(record: Record, mapping: ExportMapping, fields: dict[str, str]) -> str:
    field = mapping.input_field or INPUT_FIELD
    value = record.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""  # input is optional
    if not isinstance(value, str):
        raise ExportReject("not_text", f"field {field!r} is {type(value).__name__}, not a string")
    fields["input"] = field
    return value.strip()


def _user_text(instruction: str, extra: str, join: str) -> str:
    """One user turn from both parts: generated instructions often end, and inputs start, with
    a newline, which an unstripped join turned into three."""
    return f"{instruction}{join}{extra}" if extra else instruction


def _instruction_chat(record: Record, mapping: ExportMapping) -> Chat:
    instruction_field = _pick(record, "instruction", mapping.instruction_field, INSTRUCTION_FIELDS)
    output_field = _pick(record, "output", mapping.output_field, OUTPUT_FIELDS)
    fields = {"instruction": instruction_field, "output": output_field}
    instruction = _text_field(record, instruction_field)
    extra = _input(record, mapping, fields)
    messages = [
        {"role": "user", "content": _user_text(instruction, extra, mapping.join)},
        {"role": "assistant", "content": _text_field(record, output_field)},
    ]
    return Chat(messages, fields, instruction, extra)


def _add_system(
    messages: list[Message], fields: dict[str, str], record: Record, mapping: ExportMapping
) -> None:
    """The record's own system message wins, then its system field, then the fixed prompt."""
    if messages and messages[0]["role"] == "system":
        return
    field = mapping.system_field or SYSTEM_FIELD
    value = record.get(field)
    if value is not None and value != "":
        messages.insert(0, {"role": "system", "content": _text_field(record, field)})
        fields["system"] = field
    elif mapping.system:
        messages.insert(0, {"role": "system", "content": mapping.system.strip()})
        fields["system"] = FIXED_SYSTEM


def _answer(record: Record, field: str) -> tuple[list[Message] | None, Any]:
    """(prompt turns or None, answer text) from a string or a chat list ending in assistant."""
    value = record.get(field)
    if value is None:
        raise ExportReject("missing_field", f"no field {field!r}")
    if not isinstance(value, list):
        return None, stripped(value)
    turns = normalize_messages(value, field)
    if turns[-1]["role"] != "assistant":
        raise ExportReject("last_not_assistant", f"{field!r} ends with a {turns[-1]['role']} turn")
    return turns[:-1] or None, turns[-1]["content"]


def _prompt_turns(record: Record, mapping: ExportMapping, fields: dict[str, str]) -> list[Message]:
    explicit = mapping.messages_field or mapping.instruction_field
    field = _pick(record, "prompt", explicit, INSTRUCTION_FIELDS + MESSAGES_FIELDS)
    fields["prompt"] = field
    if isinstance(record[field], list):
        return normalize_messages(record[field], field)
    extra = _input(record, mapping, fields)
    text = _user_text(_text_field(record, field), extra, mapping.join)
    return [{"role": "user", "content": text}]
