"""Alpaca instruction format: ``{"instruction", "input", "output"}`` (Taori et al., 2023).

Instruction-shaped records keep their instruction and input apart; chat records must be one
exchange (user -> instruction, ``input`` empty), else ``multi_turn``. A system prompt goes in
an extra ``system`` key, as LLaMA-Factory's alpaca format reads it; rows without one have
no such key. Canonical form: the row itself (``system`` only when set).
"""

from __future__ import annotations

from synthpipe.train.formats.base import (
    ExportMapping,
    ExportReject,
    Format,
    check_text,
    single_exchange,
)
from synthpipe.train.formats.sources import Chat, chat_source


def build_alpaca(chat: Chat, mapping: ExportMapping) -> dict:
    messages = chat.messages
    system = messages[0]["content"] if messages[0]["role"] == "system" else None
    turns = messages[1:] if system is not None else messages
    if chat.instruction is not None:
        row = {"instruction": chat.instruction, "input": chat.input, "output": turns[-1]["content"]}
    else:
        instruction, output = single_exchange(turns, "alpaca")
        row = {"instruction": instruction, "input": "", "output": output}
    if system is not None:
        row["system"] = system
    return row


def canonical_alpaca(row: dict) -> dict:
    out = {
        "instruction": row.get("instruction"),
        "input": row.get("input"),
        "output": row.get("output"),
    }
    if row.get("system") is not None:  # HF datasets give None where a row had no system
        out["system"] = row["system"]
    return out


def validate_alpaca(row: dict) -> None:
    check_text(row.get("instruction"), "instruction")
    check_text(row.get("output"), "output")
    if not isinstance(row.get("input"), str):  # may be empty
        raise ExportReject("not_text", f"input is {type(row.get('input')).__name__}, not a string")
    if "system" in row and row["system"] is not None:
        check_text(row["system"], "system")


ALPACA = Format("alpaca", chat_source, build_alpaca, validate_alpaca, canonical_alpaca)
