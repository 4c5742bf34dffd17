"""Chat SFT formats: OpenAI fine-tuning, TRL messages, ShareGPT, TRL prompt-completion.

- ``openai``: ``{"messages": [...]}`` per the OpenAI chat fine-tuning format; assistant turns
  keep a source ``weight`` (0 or 1), the one OpenAI-specific extra supported.
- ``trl-messages``: the same rows with role and content only (TRL "conversational language
  modeling", https://huggingface.co/docs/trl/dataset_formats).
- ``sharegpt``: ``{"conversations": [{"from": "system"|"human"|"gpt", "value": ...}]}``.
- ``trl-prompt-completion``: ``{"prompt": str, "completion": str}`` for single-exchange
  records without a system prompt; others are rejected as ``multi_turn``. With
  ``conversational=True`` every row is TRL's conversational variant instead, prompt = all turns
  but the last, completion = ``[last assistant turn]``; one style per export keeps the column
  types uniform, which HF datasets and TRL need.

Canonical form (what `read_export` returns) for all four: ``{"messages": [role/content...]}``.
"""

from __future__ import annotations

from synthpipe.train.formats.base import (
    ExportMapping,
    ExportReject,
    Format,
    check_turns,
    normalize_messages,
    plain,
    single_exchange,
)
from synthpipe.train.formats.sources import Chat, chat_source

_SHAREGPT_SPEAKER = {"system": "system", "user": "human", "assistant": "gpt"}


# -- openai -----------------------------------------------------------------------------
def build_openai(chat: Chat, mapping: ExportMapping) -> dict:
    return {"messages": [dict(m) for m in chat.messages]}


def canonical_messages(row: dict) -> dict:
    return {"messages": normalize_messages(row.get("messages"), "messages")}


def validate_openai(row: dict) -> None:
    messages = canonical_messages(row)["messages"]
    check_turns(messages, "assistant")
    for turn, m in enumerate(messages, 1):
        weight = m.get("weight")
        if weight is None:
            continue
        if m["role"] != "assistant" or type(weight) is not int or weight not in (0, 1):
            raise ExportReject(
                "bad_weight", f"turn {turn} ({m['role']}): weight {weight!r}; only 0/1 on assistant"
            )


# -- trl-messages -----------------------------------------------------------------------
def build_trl_messages(chat: Chat, mapping: ExportMapping) -> dict:
    return {"messages": plain(chat.messages)}


def validate_messages(row: dict) -> None:
    check_turns(canonical_messages(row)["messages"], "assistant")


# -- sharegpt ---------------------------------------------------------------------------
def build_sharegpt(chat: Chat, mapping: ExportMapping) -> dict:
    turns = [{"from": _SHAREGPT_SPEAKER[m["role"]], "value": m["content"]} for m in chat.messages]
    return {"conversations": turns}


def canonical_sharegpt(row: dict) -> dict:
    return {"messages": normalize_messages(row.get("conversations"), "conversations")}


def validate_sharegpt(row: dict) -> None:
    turns = row.get("conversations")
    if isinstance(turns, list) and any(
        isinstance(t, dict) and t.get("from") not in _SHAREGPT_SPEAKER.values() for t in turns
    ):
        raise ExportReject("bad_role", "ShareGPT speakers must be system, human or gpt")
    check_turns(canonical_sharegpt(row)["messages"], "assistant")


# -- trl-prompt-completion --------------------------------------------------------------
_PC = "trl-prompt-completion"


def build_prompt_completion(chat: Chat, mapping: ExportMapping) -> dict:
    if mapping.conversational:
        return {"prompt": plain(chat.messages[:-1]), "completion": plain(chat.messages[-1:])}
    prompt, completion = single_exchange(chat.messages, _PC, "; set conversational=True")
    return {"prompt": prompt, "completion": completion}


def canonical_prompt_completion(row: dict) -> dict:
    prompt, completion = row.get("prompt"), row.get("completion")
    if isinstance(prompt, list) or isinstance(completion, list):
        return {
            "messages": normalize_messages(prompt, "prompt")
            + normalize_messages(completion, "completion")
        }
    return {
        "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": completion},
        ]
    }


def validate_prompt_completion(row: dict) -> None:
    completion = row.get("completion")
    if isinstance(completion, list) and len(completion) != 1:
        raise ExportReject("bad_messages", "completion must be one assistant turn")
    check_turns(canonical_prompt_completion(row)["messages"], "assistant")


OPENAI = Format("openai", chat_source, build_openai, validate_openai, canonical_messages)
TRL_MESSAGES = Format(
    "trl-messages", chat_source, build_trl_messages, validate_messages, canonical_messages
)
SHAREGPT = Format("sharegpt", chat_source, build_sharegpt, validate_sharegpt, canonical_sharegpt)
PROMPT_COMPLETION = Format(
    _PC,
    chat_source,
    build_prompt_completion,
    validate_prompt_completion,
    canonical_prompt_completion,
    takes_conversational=True,
)
