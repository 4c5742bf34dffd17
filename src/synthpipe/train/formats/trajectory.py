"""Tool-use conversations in one checked, canonical form, whatever row shape they came in.

A trajectory is ``{"messages": [...], "tools": [OpenAI tool schemas]}`` whose messages are
``system``/``user``/``assistant``/``tool`` turns; an assistant turn may carry ``tool_calls``
(``[{"id", "type": "function", "function": {"name", "arguments": JSON text}}]``) and each call
is answered by one ``{"role": "tool", "tool_call_id", "content"}`` message.

:func:`canonical_trajectory` reads the OpenAI shape (arguments as JSON text), the TRL shape
(arguments as objects, ``tools`` as JSON text) and, through :func:`from_sharegpt`, ShareGPT
with ``function_call``/``observation`` turns, and returns the canonical form: call ids
renumbered ``call_1``, ``call_2``, ... in order (ShareGPT has no ids, so only the links
between calls and results are kept), arguments re-serialised with ``json.dumps``, each
assistant turn's results in the order of its calls, and an assistant turn with calls and no
text holding ``content: None``. Two exports of one trajectory therefore read back equal.

The checks (reasons in the rejected file): roles (``bad_role``), turn order (optional system,
user first, ``roles_not_alternating``, ``last_not_assistant`` when the conversation stops on a
call or a result), text turns (``not_text``/``empty_content``), calls (``bad_tool_call``,
``bad_arguments``: not a JSON object), links (``unknown_tool_call_id``, ``duplicate_tool_call_id``,
``unanswered_tool_call``), schemas (``bad_tools``, ``missing_tools``: calls without schemas,
``undeclared_tool``: a call to a function the schemas do not list).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from synthpipe.train.formats.base import ExportReject, Message, check_text, stripped

ROLES = ("system", "user", "assistant", "tool")
# ShareGPT as LLaMA-Factory reads it: speaker -> role (function_call/observation are tool turns)
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "gpt": "assistant",
    "function_call": "assistant",
    "observation": "tool",
}
# How LLaMA-Factory joins the results of parallel calls into one observation turn.
OBSERVATION_JOIN = "\n</tool_response>\n<tool_response>\n"


def canonical_trajectory(messages: Any, tools: Any, where: str = "messages") -> dict:
    """The canonical trajectory of OpenAI- or TRL-shaped turns; raises ExportReject."""
    if not isinstance(messages, list) or not messages:
        raise ExportReject("bad_messages", f"field {where!r} is not a non-empty list of turns")
    schemas = _tools(tools)
    builder = _Builder()
    for turn, msg in enumerate(messages, 1):
        builder.add(msg, turn, where)
    out = builder.finish()
    _check_order(out)
    _check_declared(out, schemas)
    return {"messages": out, "tools": schemas}


def from_sharegpt(turns: Any, where: str = "conversations") -> list[Message]:
    """ShareGPT turns (LLaMA-Factory's tool convention) as OpenAI-shaped turns, ids positional."""
    if not isinstance(turns, list) or not turns:
        raise ExportReject("bad_messages", f"field {where!r} is not a non-empty list of turns")
    out: list[Message] = []
    pending: list[str] = []  # ids of the last function_call turn, answered by one observation
    for turn, t in enumerate(turns, 1):
        if not isinstance(t, dict) or "from" not in t or "value" not in t:
            raise ExportReject("bad_messages", f"{where!r} turn {turn} needs from/value")
        speaker, value = t["from"], t["value"]
        if speaker not in SHAREGPT_ROLES:
            raise ExportReject(
                "bad_role",
                f"turn {turn}: from {speaker!r}; expected one of {', '.join(SHAREGPT_ROLES)}",
            )
        if speaker == "function_call":
            calls = _sharegpt_calls(value, turn, first_id=_count_calls(out) + 1)
            pending = [c["id"] for c in calls]
            out.append({"role": "assistant", "content": None, "tool_calls": calls})
        elif speaker == "observation":
            out += _sharegpt_results(value, pending, turn)
            pending = []
        else:
            out.append({"role": SHAREGPT_ROLES[speaker], "content": value})
    return out


def check_tool_text(value: Any, what: str) -> None:
    """Tool results are strings (usually JSON text); they may be empty but not missing."""
    if not isinstance(value, str):
        raise ExportReject("not_text", f"{what} is {type(value).__name__}, not a string")


# -- building the canonical turns -------------------------------------------------------
@dataclass
class _Builder:
    out: list[Message] = field(default_factory=list)
    calls: int = 0  # calls numbered so far
    group: dict[str, str] = field(default_factory=dict)  # source id -> canonical id (open turn)
    results: dict[str, Message] = field(default_factory=dict)  # canonical id -> tool message
    group_turn: int = 0

    def add(self, msg: Any, turn: int, where: str) -> None:
        if not isinstance(msg, dict):
            raise ExportReject("bad_messages", f"{where!r} turn {turn} is a {type(msg).__name__}")
        role = msg.get("role")
        if role not in ROLES:
            raise ExportReject(
                "bad_role", f"turn {turn}: role {role!r}; expected system, user, assistant, tool"
            )
        if role == "tool":
            self._result(msg, turn)
            return
        self._close()
        if role == "assistant" and msg.get("tool_calls"):
            self._calls(msg, turn)
            return
        content = stripped(msg.get("content"))
        check_text(content, f"turn {turn} ({role})")
        out: Message = {"role": role, "content": content}
        if msg.get("weight") is not None:
            out["weight"] = msg["weight"]
        self.out.append(out)

    def finish(self) -> list[Message]:
        self._close()
        return self.out

    def _calls(self, msg: Message, turn: int) -> None:
        raw = msg["tool_calls"]
        if not isinstance(raw, list):
            raise ExportReject("bad_tool_call", f"turn {turn}: tool_calls is not a list")
        content = stripped(msg.get("content")) or None  # "" (TRL) and null (OpenAI) alike
        if content is not None:
            check_text(content, f"turn {turn} (assistant)")
        calls = []
        for k, call in enumerate(raw, 1):
            source_id, name, arguments = _call_parts(call, turn, k)
            self.calls += 1
            cid = f"call_{self.calls}"
            if source_id is not None:
                if source_id in self.group:  # a later turn may reuse an answered id
                    raise ExportReject(
                        "duplicate_tool_call_id", f"turn {turn}: call id {source_id!r} repeats"
                    )
                self.group[source_id] = cid
            else:  # no ids at all: results are matched by position
                self.group[f"#{k}"] = cid
            calls.append(
                {"id": cid, "type": "function", "function": {"name": name, "arguments": arguments}}
            )
        out: Message = {"role": "assistant", "content": content, "tool_calls": calls}
        if msg.get("weight") is not None:
            out["weight"] = msg["weight"]
        self.out.append(out)
        self.group_turn = turn

    def _result(self, msg: Message, turn: int) -> None:
        if not self.group:
            raise ExportReject(
                "unknown_tool_call_id", f"turn {turn}: a tool result with no open tool call"
            )
        source_id = msg.get("tool_call_id")
        if source_id is None and all(k.startswith("#") for k in self.group):
            source_id = f"#{len(self.results) + 1}"
        cid = self.group.get(source_id) if isinstance(source_id, str) else None
        if cid is None:
            raise ExportReject(
                "unknown_tool_call_id",
                f"turn {turn}: tool_call_id {source_id!r} answers none of the calls of turn "
                f"{self.group_turn}",
            )
        if cid in self.results:
            raise ExportReject(
                "duplicate_tool_call_id", f"turn {turn}: call {source_id!r} is answered twice"
            )
        content = stripped(msg.get("content"))
        check_tool_text(content, f"turn {turn} (tool)")
        self.results[cid] = {"role": "tool", "tool_call_id": cid, "content": content}

    def _close(self) -> None:
        """End the open call turn: its results in call order, every call answered."""
        if not self.group:
            return
        for source_id, cid in self.group.items():
            if cid not in self.results:
                raise ExportReject(
                    "unanswered_tool_call",
                    f"turn {self.group_turn}: call {source_id!r} has no tool result before the "
                    "next turn",
                )
            self.out.append(self.results[cid])
        self.group, self.results = {}, {}


def _call_parts(call: Any, turn: int, k: int) -> tuple[str | None, str, str]:
    """(source id, name, arguments as canonical JSON text) of one OpenAI/TRL tool call."""
    where = f"turn {turn} call {k}"
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        raise ExportReject("bad_tool_call", f"{where}: needs a 'function' object")
    if call.get("type") not in (None, "function"):
        raise ExportReject("bad_tool_call", f"{where}: type {call.get('type')!r}, not 'function'")
    fn = call["function"]
    name = fn.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ExportReject("bad_tool_call", f"{where}: no function name")
    source_id = call.get("id")
    if source_id is not None and not isinstance(source_id, str):
        raise ExportReject("bad_tool_call", f"{where}: id {source_id!r} is not a string")
    return source_id, name, _arguments(fn.get("arguments"), where)


def _arguments(value: Any, where: str) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ExportReject(
                "bad_arguments", f"{where}: arguments are not JSON ({exc})"
            ) from None
    if not isinstance(value, dict):
        raise ExportReject(
            "bad_arguments", f"{where}: arguments are {type(value).__name__}, not a JSON object"
        )
    return json.dumps(value, ensure_ascii=False)


# -- checks on the whole conversation ---------------------------------------------------
def _check_order(messages: list[Message]) -> None:
    """Optional system; user first; user and tool results are answered by the assistant."""
    start = 1 if messages[0]["role"] == "system" else 0
    if len(messages) == start:
        raise ExportReject("bad_messages", "no user or assistant turns")
    prev = None
    for turn, m in enumerate(messages[start:], start + 1):
        role = m["role"]
        if role == "tool":
            prev = "tool"
            continue
        expected = "user" if prev in (None, "assistant") else "assistant"  # user/tool -> reply
        if role != expected:
            raise ExportReject(
                "roles_not_alternating", f"turn {turn}: expected {expected}, got {role}"
            )
        prev = role
    last = messages[-1]
    if last["role"] != "assistant" or last.get("tool_calls"):
        what = "a tool call" if last.get("tool_calls") else f"a {last['role']} turn"
        raise ExportReject(
            "last_not_assistant", f"the conversation ends with {what}; it must end with a reply"
        )


def _tools(value: Any) -> list[dict]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ExportReject("bad_tools", f"tools are not JSON ({exc})") from None
    if not isinstance(value, list):
        raise ExportReject("bad_tools", f"tools are {type(value).__name__}, not a list")
    for i, tool in enumerate(value, 1):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise ExportReject(
                "bad_tools",
                f"tool {i}: expected {{'type': 'function', 'function': {{'name', ...}}}}",
            )
    return value


def _check_declared(messages: list[Message], tools: list[dict]) -> None:
    names = {t["function"]["name"] for t in tools}
    for turn, m in enumerate(messages, 1):
        for call in m.get("tool_calls") or ():
            name = call["function"]["name"]
            if not tools:
                raise ExportReject(
                    "missing_tools", f"turn {turn} calls {name!r} but no tools given"
                )
            if name not in names:
                raise ExportReject(
                    "undeclared_tool", f"turn {turn} calls {name!r}, which the tools do not list"
                )


# -- ShareGPT pieces --------------------------------------------------------------------
def _count_calls(messages: list[Message]) -> int:
    return sum(len(m.get("tool_calls") or ()) for m in messages)


def _sharegpt_calls(value: Any, turn: int, first_id: int) -> list[dict]:
    """A function_call value: one ``{"name", "arguments"}`` object, or a list for parallel."""
    try:
        parsed = json.loads(value) if isinstance(value, str) else None
    except json.JSONDecodeError:
        parsed = None
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items or not all(isinstance(i, dict) and "name" in i for i in items):
        raise ExportReject(
            "bad_tool_call",
            f"turn {turn}: function_call must be JSON {{name, arguments}} or a list",
        )
    return [
        {
            "id": f"call_{first_id + k}",
            "type": "function",
            "function": {"name": i["name"], "arguments": i.get("arguments", {})},
        }
        for k, i in enumerate(items)
    ]


def _sharegpt_results(value: Any, pending: list[str], turn: int) -> list[Message]:
    if not pending:
        raise ExportReject(
            "unknown_tool_call_id", f"turn {turn}: observation with no function_call"
        )
    check_tool_text(value, f"turn {turn} (observation)")
    parts = value.split(OBSERVATION_JOIN) if len(pending) > 1 else [value]
    if len(parts) != len(pending):
        raise ExportReject(
            "unanswered_tool_call",
            f"turn {turn}: {len(parts)} results for {len(pending)} parallel calls",
        )
    return [
        {"role": "tool", "tool_call_id": cid, "content": part}
        for cid, part in zip(pending, parts, strict=True)
    ]
