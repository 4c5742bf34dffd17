"""The checks of a tool-use trajectory, in order: format, turn limit, execution, outcome.

:func:`check_trajectory` returns a :class:`TrajectoryVerdict`: the first failed check with its
reason and a structured detail (``{"check", "turn", ...}``: ``turn`` counts assistant
messages from 1), or a pass with what was checked. The step in `trajectory.py` turns it into a
kept record or a ledger drop.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from synthpipe.errors import UsageError
from synthpipe.tools.calls import ToolCallError, check_arguments, json_error
from synthpipe.tools.session import ToolSession

CHECKS = ("format", "turn_limit", "execution", "outcome")
REASONS = (
    "malformed_trajectory", "unknown_tool", "bad_arguments", "tool_error",
    "invented_tool_output", "turn_limit", "wrong_final_state", "wrong_answer",
)  # fmt: skip
ROLES = ("system", "user", "assistant", "tool")
_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")


class Failed(Exception):
    """A failed check: its ledger reason and structured detail."""

    def __init__(self, reason: str, check: str, turn: int | None, **facts: Any):
        super().__init__(reason)
        self.reason = reason
        self.detail = {"check": check, "turn": turn, **facts}


@dataclass
class TrajectoryVerdict:
    passed: bool
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=lambda: dict.fromkeys(CHECKS, "skipped"))
    turns: int = 0
    calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": dict(self.checks), "turns": self.turns,
                "calls": self.calls}  # fmt: skip


@dataclass
class _Call:
    turn: int
    id: str
    name: str
    arguments: dict[str, Any]


def check_trajectory(
    record: Mapping[str, Any], *, max_turns: int = 10, timeout_s: float = 5.0,
    rel_tol: float = 1e-3,
) -> TrajectoryVerdict:  # fmt: skip
    """Run the checks of the module docstring on one trajectory record."""
    verdict = TrajectoryVerdict(False)
    try:
        messages = record.get("messages")
        with _session(record, timeout_s) as session:
            calls, outputs, turns = _format(messages)
            verdict.turns, verdict.calls = turns, len(calls)
            _known(session, calls)
            verdict.checks["format"] = "passed"
            if turns > max_turns:
                raise Failed("turn_limit", "turn_limit", max_turns + 1, turns=turns,
                             max_turns=max_turns)  # fmt: skip
            final = _final_answer(messages, turns)
            verdict.checks["turn_limit"] = "passed"
            _execute(session, calls, outputs, rel_tol)
            verdict.checks["execution"] = "passed"
            _outcome(record.get("ground_truth") or {}, session, calls, final, turns, rel_tol)
            verdict.checks["outcome"] = "passed"
    except Failed as exc:
        verdict.checks[exc.detail["check"]] = "failed"
        verdict.reason, verdict.detail = exc.reason, exc.detail
        return verdict
    verdict.passed = True
    return verdict


def _session(record: Mapping[str, Any], timeout_s: float) -> ToolSession:
    env = record.get("env")
    if not env or not isinstance(env, str | list):
        raise Failed("malformed_trajectory", "format", None, problem="no `env` to act on")
    initial, truth = record.get("initial_state"), record.get("ground_truth")
    if not isinstance(initial, Mapping | None) or not isinstance(truth, Mapping | None):
        raise Failed("malformed_trajectory", "format", None,
                     problem="initial_state and ground_truth must be objects or null")  # fmt: skip
    try:
        return ToolSession(env, timeout_s=timeout_s, initial_state=initial)
    except (UsageError, TypeError) as exc:
        raise Failed("malformed_trajectory", "format", None, problem=str(exc)) from None


# -- format ---------------------------------------------------------------------------------------
def _format(messages: Any) -> tuple[list[_Call], dict[str, str], int]:
    """(calls in order, tool output by call id, assistant turns) of well-formed messages."""
    if not isinstance(messages, list) or not messages:
        raise Failed("malformed_trajectory", "format", None, problem="no `messages` list")
    calls: list[_Call] = []
    outputs: dict[str, str] = {}
    pending: set[str] = set()
    turn, seen_user = 0, False
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, Mapping) else None

        def fail(problem: str, _i: int = index, _turn: int = turn) -> Failed:
            return Failed("malformed_trajectory", "format", _turn or None, message=_i,
                          problem=problem)  # fmt: skip

        if role not in ROLES:
            raise fail(f"role {role!r} is not one of {', '.join(ROLES)}")
        if role == "system" and index != 0:
            raise fail("a system message after the start")
        if role in ("user", "assistant") and pending:
            raise fail(f"tool call(s) {', '.join(sorted(pending))} have no tool message")
        if role == "user":
            seen_user = True
        elif role == "assistant":
            if not seen_user:
                raise fail("an assistant message before any user message")
            turn += 1
            if "<tool_call>" in str(message.get("content") or ""):  # a call the model wrote but nobody could parse
                raise fail("the reply holds a <tool_call> tag that is not a valid call")
            for call in _calls_of(message, turn, index):
                if call.id in outputs or any(c.id == call.id for c in calls):
                    raise fail(f"tool call id {call.id!r} is used twice")
                calls.append(call)
                pending.add(call.id)
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                raise fail(f"tool message answers no open tool call (tool_call_id {call_id!r})")
            content = message.get("content")
            if not isinstance(content, str):
                raise fail("a tool message without text content")
            pending.discard(call_id)
            outputs[call_id] = content
    if pending:
        raise Failed("malformed_trajectory", "format", turn or None,
                     problem=f"tool call(s) {', '.join(sorted(pending))} have no tool message")  # fmt: skip
    return calls, outputs, turn


def _calls_of(message: Mapping[str, Any], turn: int, index: int) -> list[_Call]:
    raw = message.get("tool_calls") or []
    if not isinstance(raw, list):
        raise Failed("malformed_trajectory", "format", turn, message=index,
                     problem="tool_calls is not a list")  # fmt: skip
    if not raw and not isinstance(message.get("content"), str):
        raise Failed("malformed_trajectory", "format", turn, message=index,
                     problem="an assistant message with neither content nor tool_calls")  # fmt: skip
    calls = []
    for item in raw:
        function = item.get("function") if isinstance(item, Mapping) else None
        call_id = item.get("id") if isinstance(item, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(call_id, str) or not call_id:
            raise Failed("malformed_trajectory", "format", turn, message=index,
                         problem="a tool call without an id and a function")  # fmt: skip
        name, arguments = function.get("name"), function.get("arguments", "{}")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as exc:
                raise Failed("malformed_trajectory", "format", turn, message=index,
                             call=call_id, problem=f"arguments: {json_error(exc)}") from None  # fmt: skip
        if not isinstance(name, str) or not isinstance(arguments, dict):
            raise Failed("malformed_trajectory", "format", turn, message=index, call=call_id,
                         problem="a tool call needs a name and arguments as a JSON object")  # fmt: skip
        calls.append(_Call(turn, call_id, name, arguments))
    return calls


def _known(session: ToolSession, calls: list[_Call]) -> None:
    """Every call names a tool of the session and fits its schema."""
    for call in calls:
        try:
            check_arguments(session.registry, call.name, call.arguments, index=None)
        except ToolCallError as exc:
            reason = "unknown_tool" if exc.reason == "unknown_tool" else "bad_arguments"
            raise Failed(reason, "format", call.turn, call=call.id, tool=call.name,
                         message=exc.message) from None  # fmt: skip


def _final_answer(messages: list[Any], turns: int) -> str:
    last = messages[-1]
    if last.get("role") != "assistant" or last.get("tool_calls"):
        raise Failed("malformed_trajectory", "format", turns,
                     problem="the trajectory does not end with the assistant's answer")  # fmt: skip
    return last.get("content") or ""


# -- execution ------------------------------------------------------------------------------------
def _execute(
    session: ToolSession, calls: list[_Call], outputs: dict[str, str], rel_tol: float
) -> None:
    """Replay every call; each must succeed and return what the trajectory says it did."""
    for call in calls:
        result = session.call(call.name, call.arguments)
        if not result.ok:
            raise Failed("tool_error", "execution", call.turn, call=call.id, tool=call.name,
                         kind=result.kind, message=result.error)  # fmt: skip
        if not same_output(result.content, outputs[call.id], rel_tol):
            raise Failed("invented_tool_output", "execution", call.turn, call=call.id,
                         tool=call.name, expected=_clip(result.content),
                         got=_clip(outputs[call.id]))  # fmt: skip


def same_output(actual: str, claimed: str, rel_tol: float = 1e-9) -> bool:
    """Whether a tool message says what the tool returned (as JSON, else as text)."""
    try:
        return same_value(json.loads(actual), json.loads(claimed), rel_tol)
    except (json.JSONDecodeError, TypeError):
        return " ".join(actual.split()) == " ".join(claimed.split())


def same_value(a: Any, b: Any, rel_tol: float = 1e-9) -> bool:
    """JSON equality with numbers compared within `rel_tol`."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_value(a[k], b[k], rel_tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(
            same_value(x, y, rel_tol) for x, y in zip(a, b, strict=True)
        )
    if _is_number(a) and _is_number(b):
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-9)
    return a == b and type(a) is type(b)


# -- outcome --------------------------------------------------------------------------------------
def _outcome(
    truth: Mapping[str, Any], session: ToolSession, calls: list[_Call], final: str, turns: int,
    rel_tol: float,
) -> None:  # fmt: skip
    """The final state, the answer, or (when only calls are known) the calls made."""
    final_state, answer = truth.get("final_state"), truth.get("answer")
    if final_state is not None:
        state = session.state()
        if (where := first_difference(final_state, state)) is not None:
            raise Failed("wrong_final_state", "outcome", turns, path=where,
                         expected=_clip(_at(final_state, where)), got=_clip(_at(state, where)))  # fmt: skip
    if answer is not None and not answer_matches(answer, final, rel_tol):
        raise Failed("wrong_answer", "outcome", turns, expected=answer, got=_clip(final))
    if final_state is None and answer is None and truth.get("calls"):
        made = [(c.name, c.arguments) for c in calls]
        for want in truth["calls"]:
            match = next((m for m in made if m[0] == want["name"]
                          and same_value(m[1], want.get("arguments", {}), rel_tol)), None)  # fmt: skip
            if match is None:
                raise Failed("wrong_answer", "outcome", turns, missing_call=want)
            made.remove(match)


def first_difference(expected: Any, actual: Any, path: str = "") -> str | None:
    """The dotted path of the first place two JSON values differ, or None if equal."""
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        for key in sorted(set(expected) | set(actual), key=str):
            if key not in expected or key not in actual:
                return f"{path}.{key}".lstrip(".")
            if (found := first_difference(expected[key], actual[key], f"{path}.{key}")) is not None:
                return found.lstrip(".")
        return None
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (x, y) in enumerate(zip(expected, actual, strict=True)):
            if (found := first_difference(x, y, f"{path}[{i}]")) is not None:
                return found
        return None
    return None if same_value(expected, actual) else (path.lstrip(".") or "$")


def _at(value: Any, path: str) -> Any:
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path) if path != "$" else []:
        if part.startswith("["):
            index = int(part[1:-1])
            value = value[index] if isinstance(value, list) and index < len(value) else None
        else:
            value = value.get(part) if isinstance(value, Mapping) else None
    return value


def answer_matches(answer: Any, text: str, rel_tol: float = 1e-3) -> bool:
    """Whether the final text states `answer`: a number in the text within `rel_tol` (or equal
    once the answer is rounded as the text rounds it), a string contained after Unicode, case
    and space normalisation (an ISO date also as "March 4, 2025" or "4 March 2025"), or every
    item of a list."""
    if isinstance(answer, list):
        return all(answer_matches(item, text, rel_tol) for item in answer)
    if _is_number(answer):
        return any(_close(answer, token, rel_tol) for token in _NUMBER.findall(text))
    said = _normalise(text)
    return any(_normalise(form) in said for form in _forms(str(answer)))


def _close(answer: float, token: str, rel_tol: float) -> bool:
    value = float(token.replace(",", ""))
    decimals = len(token.partition(".")[2])
    if math.isclose(value, answer, rel_tol=rel_tol, abs_tol=1e-9):
        return True
    return decimals >= 2 and round(answer, decimals) == value


def _forms(answer: str) -> list[str]:
    try:
        day = date.fromisoformat(answer)
    except ValueError:
        return [answer]
    month = day.strftime("%B")
    return [answer, f"{month} {day.day}, {day.year}", f"{day.day} {month} {day.year}"]


def _normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split()).strip(" .,;:!?\"'")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _clip(value: Any, limit: int = 200) -> Any:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return value if len(text) <= limit else text[: limit - 3] + "..."
