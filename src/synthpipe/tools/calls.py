"""Tool calls in a model's output: parsing and the check of their arguments against a schema.

Accepted shapes: an OpenAI ``tool_calls`` list (``arguments`` a JSON string or object), an
assistant message holding one, ``{"name", "arguments"}`` objects or lists of them
(``parameters`` is taken for ``arguments``), ``<tool_call>{...}</tool_call>`` tags
(Hermes/Qwen), fenced ```` ```json ```` blocks, or JSON after some prose.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from jsonschema.exceptions import best_match

from synthpipe.tools.registry import Tool, ToolRegistry

#: why an output holds no usable call (the reasons parsing raises)
PARSE_REASONS = ("no_calls", "invalid_json", "malformed_call")

_TAG = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)
_FENCE = re.compile(r"```(?:json5?|jsonc|tool_calls?)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


class ToolCallError(Exception):
    """A call failed a check: `reason` names the failure, `message` says exactly how."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message}


# -- parsing --------------------------------------------------------------------------------------
def parse_tool_calls(output: Any) -> list[dict[str, Any]]:
    """The calls in a model output (text, a parsed dict or list) as ``{"id", "name",
    "arguments"}`` dicts; ToolCallError (``no_calls``, ``invalid_json``, ``malformed_call``)
    if none parse. ``id`` is the call's own id when it has one, else ``call_<n>``."""
    if isinstance(output, str):
        values = _values_from_text(output)
    elif output is None or isinstance(output, Mapping | list | tuple):
        values = [] if output is None else [output]
    else:
        raise ToolCallError(
            "malformed_call", f"expected text or JSON calls, got {type(output).__name__}"
        )
    items = [item for value in values for item in _expand(value)]
    if not items:
        raise ToolCallError("no_calls", "the output holds no tool call")
    return [_to_call(item, index) for index, item in enumerate(items, 1)]


def _values_from_text(text: str) -> list[Any]:
    if "<tool_call>" in text:
        blocks = [
            (m.group(1), f"<tool_call> block {i}: ") for i, m in enumerate(_TAG.finditer(text), 1)
        ]
    elif fenced := list(_FENCE.finditer(text)):
        blocks = [(m.group(1), f"```json block {i}: ") for i, m in enumerate(fenced, 1)]
    else:
        blocks = [(text, "")]
    return [value for content, label in blocks for value in _decode_values(content, label)]


def _decode_values(content: str, label: str) -> list[Any]:
    """The JSON values in `content`, starting at its first { or [ (prose before is skipped)."""
    starts = [i for i in (content.find("{"), content.find("[")) if i >= 0]
    if not starts:
        return []
    decoder, values, pos = json.JSONDecoder(), [], min(starts)
    while pos < len(content) and content[pos] in "{[":
        try:
            value, pos = decoder.raw_decode(content, pos)
        except json.JSONDecodeError as exc:
            raise ToolCallError("invalid_json", f"{label}{json_error(exc)}") from None
        values.append(value)
        while pos < len(content) and (content[pos].isspace() or content[pos] == ","):
            pos += 1  # several objects, one per line
    return values


def json_error(exc: json.JSONDecodeError) -> str:
    """A JSON decoding error with its line and column, for messages."""
    return f"invalid JSON at line {exc.lineno}, column {exc.colno} (char {exc.pos}): {exc.msg}"


def _expand(value: Any) -> list[Any]:
    """Calls inside a value: a list of calls, an assistant message with `tool_calls`, a call."""
    if isinstance(value, list | tuple):
        return [item for element in value for item in _expand(element)]
    if isinstance(value, Mapping) and "tool_calls" in value:
        return _expand(value["tool_calls"] or [])
    return [value]


def _to_call(item: Any, index: int) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise ToolCallError(
            "malformed_call",
            f"call {index}: expected an object with 'name' and "
            f"'arguments', got {json.dumps(item)[:80]}",
        )
    spec = item["function"] if isinstance(item.get("function"), Mapping) else item
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise ToolCallError(
            "malformed_call", f"call {index}: no tool name (expected a string 'name')"
        )
    arguments = spec.get("arguments", spec.get("parameters", {}))
    if isinstance(arguments, str):  # the OpenAI wire form: arguments as a JSON string
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise ToolCallError(
                "invalid_json", f"call {index} ({name}): arguments: {json_error(exc)}"
            ) from None
    call_id = item.get("id")
    return {
        "id": call_id if isinstance(call_id, str) and call_id else f"call_{index}",
        "name": name,
        "arguments": arguments,
    }


# -- schema check ---------------------------------------------------------------------------------
def check_arguments(
    registry: ToolRegistry, name: str, arguments: Any, index: int | None = 1
) -> Tool:
    """The named tool, if it is registered and `arguments` fit its schema; else ToolCallError
    with reason ``unknown_tool`` (with the close names), ``missing_required`` or
    ``schema_violation`` (with the jsonschema message and the argument's path). Messages start
    with ``call <index>`` unless `index` is None."""
    tool = registry.get(name)
    if tool is None:
        message = f"{_label(index)}unknown tool {name!r}{registry.suggestion(name)}"
        raise ToolCallError("unknown_tool", message)
    errors = list(tool.validator.iter_errors(arguments))
    if not errors:
        return tool
    required = [e for e in errors if e.validator == "required"]
    error = required[0] if required else best_match(errors)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    where = f"call {index} ({name})" if index is not None else name
    message = f"{where}: {_error_path(error.absolute_path)}: {error.message}{more}"
    raise ToolCallError("missing_required" if required else "schema_violation", message)


def _label(index: int | None) -> str:
    return f"call {index}: " if index is not None else ""


def _error_path(path: Any) -> str:
    return "arguments" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
