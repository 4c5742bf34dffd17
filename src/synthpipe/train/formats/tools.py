"""Tool-use SFT formats: OpenAI fine-tuning, TRL conversational, ShareGPT with function calls.

The source is a trajectory record (``messages`` with assistant ``tool_calls`` and ``tool``
results, ``tools`` = OpenAI tool schemas; :mod:`synthpipe.train.formats.trajectory` has the
checks), or a row of any of these formats, so one export converts into another.

- ``openai-tools``: ``{"messages", "tools", "parallel_tool_calls"}``, the OpenAI chat
  fine-tuning shape: call ``arguments`` are JSON text, results are ``{"role": "tool",
  "tool_call_id", "content"}``, an assistant turn with calls and no text has no ``content``;
  ``parallel_tool_calls`` is true when some assistant turn makes more than one call; a row
  without tools has neither key (the API refuses an empty list).
- ``trl-tools``: TRL's conversational language-modeling rows with tool calling: ``arguments``
  are objects (what chat templates render with ``tojson``), results also carry the function
  ``name`` (some chat templates read it), assistant text is ``""`` rather than null, and
  ``tools`` is JSON text (null without tools), which TRL's ``SFTTrainer`` decodes; a list
  column would be padded by HF datasets with ``null`` for keys other schemas have.
- ``sharegpt-tools``: ``{"conversations", "tools"}`` as LLaMA-Factory reads it: speakers
  ``system``/``human``/``gpt``/``function_call``/``observation``; a ``function_call`` value is
  JSON text ``{"name", "arguments"}`` (a list for parallel calls), one ``observation`` turn
  holds the results (parallel ones joined with ``\\n</tool_response>\\n<tool_response>\\n``,
  as LLaMA-Factory joins them), ``tools`` is JSON text (``""`` without tools). An assistant turn with text and calls
  has no ShareGPT form and is rejected (``text_with_tool_calls``), as are parallel results
  holding ``</tool_response>`` (``ambiguous_observation``).

Canonical form (what `read_export` returns): the canonical trajectory, ``{"messages",
"tools"}`` (see :func:`canonical_trajectory`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from synthpipe.data.records import Record
from synthpipe.train.formats.base import ExportMapping, ExportReject, Format, Message
from synthpipe.train.formats.sources import FIXED_SYSTEM, SYSTEM_FIELD
from synthpipe.train.formats.trajectory import (
    OBSERVATION_JOIN,
    canonical_trajectory,
    from_sharegpt,
)

TOOLS_FIELD = "tools"


@dataclass
class Trajectory:
    """A checked, canonical tool-use conversation and the fields it came from."""

    messages: list[Message]
    tools: list[dict]
    fields: dict[str, str]


def trajectory_source(record: Record, mapping: ExportMapping) -> Trajectory:
    field = _messages_field(record, mapping)
    value = record[field]
    if field == "conversations" or _sharegpt_turns(value):
        value = from_sharegpt(value, field)
    messages, system_from = _with_system(value, record, mapping)
    canonical = canonical_trajectory(messages, record.get(TOOLS_FIELD), field)
    fields = {"messages": field}
    if canonical["tools"]:
        fields["tools"] = TOOLS_FIELD
    if system_from:
        fields["system"] = system_from
    return Trajectory(canonical["messages"], canonical["tools"], fields)


# -- openai-tools -----------------------------------------------------------------------
def build_openai_tools(traj: Trajectory, mapping: ExportMapping) -> dict:
    messages = []
    for m in traj.messages:
        out = dict(m)
        if out.get("tool_calls") and out["content"] is None:
            del out["content"]  # OpenAI's examples leave it out
        messages.append(out)
    if not traj.tools:  # the API refuses an empty tools list
        return {"messages": messages}
    parallel = any(len(m.get("tool_calls") or ()) > 1 for m in traj.messages)
    return {"messages": messages, "tools": traj.tools, "parallel_tool_calls": parallel}


def canonical_openai_tools(row: dict) -> dict:
    return canonical_trajectory(row.get("messages"), row.get("tools"))


def validate_openai_tools(row: dict) -> None:
    canonical = canonical_openai_tools(row)
    for turn, m in enumerate(canonical["messages"], 1):
        weight = m.get("weight")
        if weight is not None and (
            m["role"] != "assistant" or type(weight) is not int or weight not in (0, 1)
        ):
            raise ExportReject(
                "bad_weight", f"turn {turn} ({m['role']}): weight {weight!r}; only 0/1 on assistant"
            )
    parallel = row.get("parallel_tool_calls")
    if canonical["tools"] and not isinstance(parallel, bool):
        raise ExportReject("bad_messages", "parallel_tool_calls must be true or false")


# -- trl-tools --------------------------------------------------------------------------
def build_trl_tools(traj: Trajectory, mapping: ExportMapping) -> dict:
    names: dict[str, str] = {}
    messages = []
    for m in traj.messages:
        if m.get("tool_calls"):
            calls = [_trl_call(c) for c in m["tool_calls"]]
            names.update((c["id"], c["function"]["name"]) for c in m["tool_calls"])
            messages.append(
                {"role": "assistant", "content": m["content"] or "", "tool_calls": calls}
            )
        elif m["role"] == "tool":
            messages.append({**m, "name": names[m["tool_call_id"]]})
        else:
            messages.append({"role": m["role"], "content": m["content"]})
    return {"messages": messages, "tools": _json_tools(traj.tools, None)}


def _json_tools(tools: list[dict], empty: str | None) -> str | None:
    """Tools as JSON text; `empty` when there are none (TRL renders `[]` as a tool prompt)."""
    return json.dumps(tools, ensure_ascii=False) if tools else empty


def _trl_call(call: dict) -> dict:
    fn = call["function"]
    return {
        "id": call["id"],
        "type": "function",
        "function": {"name": fn["name"], "arguments": json.loads(fn["arguments"])},
    }


def validate_trl_tools(row: dict) -> None:
    canonical_openai_tools(row)
    if not isinstance(row.get("tools"), str | None):
        raise ExportReject("bad_tools", "trl-tools rows hold tools as JSON text")


# -- sharegpt-tools ---------------------------------------------------------------------
_SPEAKER = {"system": "system", "user": "human", "assistant": "gpt"}


def build_sharegpt_tools(traj: Trajectory, mapping: ExportMapping) -> dict:
    turns: list[dict] = []
    results: list[str] = []
    for turn, m in enumerate(traj.messages, 1):
        if m["role"] == "tool":
            results.append(m["content"])
            continue
        if results:
            turns.append(_observation(results, turn))
            results = []
        if m.get("tool_calls"):
            if m["content"] is not None:
                raise ExportReject(
                    "text_with_tool_calls",
                    f"turn {turn}: ShareGPT has no turn with both a reply and tool calls",
                )
            turns.append({"from": "function_call", "value": _sharegpt_calls(m["tool_calls"])})
        else:
            turns.append({"from": _SPEAKER[m["role"]], "value": m["content"]})
    return {"conversations": turns, "tools": _json_tools(traj.tools, "")}


def _observation(results: list[str], turn: int) -> dict:
    if len(results) > 1 and any("</tool_response>" in r for r in results):
        raise ExportReject(  # the joined turn would split wrongly when read back
            "ambiguous_observation",
            f"before turn {turn}: a parallel result holds '</tool_response>'",
        )
    return {"from": "observation", "value": OBSERVATION_JOIN.join(results)}


def _sharegpt_calls(calls: list[dict]) -> str:
    items = [
        {"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}
        for c in calls
    ]
    return json.dumps(items[0] if len(items) == 1 else items, ensure_ascii=False)


def canonical_sharegpt_tools(row: dict) -> dict:
    turns = from_sharegpt(row.get("conversations"))
    return canonical_trajectory(turns, row.get("tools"), "conversations")


def validate_sharegpt_tools(row: dict) -> None:
    canonical_sharegpt_tools(row)


# -- sources ----------------------------------------------------------------------------
def _messages_field(record: Record, mapping: ExportMapping) -> str:
    if mapping.messages_field:
        if record.get(mapping.messages_field) is None:
            raise ExportReject("missing_field", f"no field {mapping.messages_field!r}")
        return mapping.messages_field
    for name in ("messages", "conversations"):
        if record.get(name) is not None:
            return name
    raise ExportReject("missing_field", "no messages field (looked for messages, conversations)")


def _sharegpt_turns(value: object) -> bool:
    return isinstance(value, list) and any(isinstance(t, dict) and "from" in t for t in value)


def _with_system(messages: list, record: Record, mapping: ExportMapping) -> tuple[list, str | None]:
    """(turns, where a system turn was added from): the record's own system turn wins, then
    its system field, then the fixed prompt."""
    first = messages[0] if isinstance(messages, list) and messages else None
    if not isinstance(first, dict) or first.get("role") == "system":
        return messages, None
    field = mapping.system_field or SYSTEM_FIELD
    if record.get(field):
        return [{"role": "system", "content": record[field]}, *messages], field
    if mapping.system:
        return [{"role": "system", "content": mapping.system}, *messages], FIXED_SYSTEM
    return messages, None


OPENAI_TOOLS = Format(
    "openai-tools", trajectory_source, build_openai_tools, validate_openai_tools,
    canonical_openai_tools,
)  # fmt: skip
TRL_TOOLS = Format(
    "trl-tools", trajectory_source, build_trl_tools, validate_trl_tools, canonical_openai_tools
)
SHAREGPT_TOOLS = Format(
    "sharegpt-tools", trajectory_source, build_sharegpt_tools, validate_sharegpt_tools,
    canonical_sharegpt_tools,
)  # fmt: skip
