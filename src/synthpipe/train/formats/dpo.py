"""Preference pairs for DPO (Rafailov et al., 2023) in TRL's preference format.

Default rows are strings, ``{"prompt": str, "chosen": str, "rejected": str}``; a prompt with a
system message or earlier turns is rejected as ``multi_turn``. With ``conversational=True``
rows are ``{"prompt": [turns], "chosen": [assistant turn], "rejected": [assistant turn]}``.
Answers come from ``chosen_field``/``rejected_field``: strings, or chat lists ending with the
answer (UltraFeedback-binarized style, whose earlier turns then are the prompt).

Canonical form: ``{"prompt": [turns], "chosen": str, "rejected": str}``.
"""

from __future__ import annotations

from typing import Any

from synthpipe.train.formats.base import (
    ExportMapping,
    ExportReject,
    Format,
    check_text,
    check_turns,
    normalize_messages,
    plain,
)
from synthpipe.train.formats.sources import Preference, preference_source


def build_dpo(pref: Preference, mapping: ExportMapping) -> dict:
    if mapping.conversational:
        return {
            "prompt": plain(pref.prompt),
            "chosen": [{"role": "assistant", "content": pref.chosen}],
            "rejected": [{"role": "assistant", "content": pref.rejected}],
        }
    if len(pref.prompt) != 1:
        what = "a system message" if pref.prompt[0]["role"] == "system" else "earlier turns"
        raise ExportReject(
            "multi_turn", f"prompt has {what}; string dpo holds one; set conversational=True"
        )
    return {"prompt": pref.prompt[0]["content"], "chosen": pref.chosen, "rejected": pref.rejected}


def canonical_dpo(row: dict) -> dict:
    prompt = row.get("prompt")
    turns = (
        normalize_messages(prompt, "prompt")
        if isinstance(prompt, list)
        else [{"role": "user", "content": prompt}]
    )
    return {
        "prompt": turns,
        "chosen": _answer(row.get("chosen"), "chosen"),
        "rejected": _answer(row.get("rejected"), "rejected"),
    }


def _answer(value: Any, field: str) -> Any:
    if not isinstance(value, list):
        return value
    turns = normalize_messages(value, field)
    if len(turns) != 1 or turns[0]["role"] != "assistant":
        raise ExportReject("bad_messages", f"{field} must be one assistant turn")
    return turns[0]["content"]


def validate_dpo(row: dict) -> None:
    pair = canonical_dpo(row)
    check_turns(pair["prompt"], "user")
    check_text(pair["chosen"], "chosen")
    check_text(pair["rejected"], "rejected")
    if pair["chosen"].strip() == pair["rejected"].strip():
        raise ExportReject("chosen_equals_rejected", "chosen and rejected are the same text")


DPO = Format(
    "dpo", preference_source, build_dpo, validate_dpo, canonical_dpo, takes_conversational=True
)
