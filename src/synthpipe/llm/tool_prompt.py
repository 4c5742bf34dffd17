"""Tool calling for models without a native `tools` API: the tools go into the system prompt,
the model answers with ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` tags, and
the tags are parsed back into OpenAI `tool_calls`.

This is the Hermes / Qwen2.5 convention (the prompt text is Qwen2.5's chat template's): many
small open models were tuned on it, and a model that was not (SmolLM2-135M-Instruct, whose
chat template has no tools section) at least sees the format it should answer in.

The client rewrites a request with `tools` into a plain one (`prompted_request`) before the
cache, so the cache key is what the model saw, and parses each reply after the cache
(`parse_prompted`), so a parser fix never needs a cache wipe. Assistant turns that called
tools are rendered back as tags, and tool results as ``<tool_response>`` user turns, as
Qwen2.5's template does (a template without a "tool" role would reject them).

A tag whose JSON does not parse stays in the reply's text (and makes no call): the
trajectory verifier sees it and drops the trajectory for its format.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from synthpipe.llm.types import ChatRequest, ChatResponse, Message, ToolCall

TOOLS_PROMPT = """# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{tools}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call>"""

_TAG = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def prompted_request(request: ChatRequest) -> ChatRequest:
    """`request` without `tools`: they are described in the system prompt, and earlier tool
    calls and results are written in the tag format."""
    tools = "\n".join(json.dumps(tool, ensure_ascii=False) for tool in request.tools or [])
    described = TOOLS_PROMPT.format(tools=tools)
    if request.tool_choice == "required":
        described += "\n\nAnswer with at least one <tool_call>."
    messages = _merge_tool_results([_plain(m) for m in request.messages], request.messages)
    if messages and messages[0]["role"] == "system":
        messages[0] = {"role": "system", "content": f"{messages[0]['content']}\n\n{described}"}
    else:
        messages.insert(0, {"role": "system", "content": described})
    return replace(request, messages=messages, tools=None, tool_choice=None)


def _merge_tool_results(plain: list[Message], original: list[Message]) -> list[Message]:
    """The results of one turn's calls in one user turn, as Qwen2.5's template writes them."""
    merged: list[Message] = []
    for message, source in zip(plain, original, strict=True):
        if source.get("role") == "tool" and merged and merged[-1].get("_tool"):
            merged[-1]["content"] += "\n" + message["content"]
            continue
        merged.append({**message, "_tool": True} if source.get("role") == "tool" else message)
    return [{k: v for k, v in m.items() if k != "_tool"} for m in merged]


def _plain(message: Message) -> Message:
    """A message with string content only: tool calls as tags, a tool result as a user turn."""
    content = message.get("content") or ""
    if message.get("role") == "tool":
        return {"role": "user", "content": f"<tool_response>\n{content}\n</tool_response>"}
    calls = message.get("tool_calls") or []
    if not calls:
        return {"role": message["role"], "content": content}
    tags = [
        "<tool_call>\n"
        + json.dumps({"name": call["function"]["name"], "arguments": _arguments(call["function"].get("arguments"))})
        + "\n</tool_call>"
        for call in calls
    ]
    return {"role": message["role"], "content": "\n".join([content, *tags]).strip()}


def _arguments(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def parse_prompted(response: ChatResponse) -> ChatResponse:
    """The reply with its tags parsed into `tool_calls` (text outside the tags stays the content);
    finish_reason "stop" becomes "tool_calls" for a sample that called a tool."""
    texts, calls, reasons = [], [], list(response.finish_reasons)
    for i, text in enumerate(response.texts):
        rest, found = parse_tags(text)
        texts.append(rest if found else text)
        calls.append(found)
        if found and i < len(reasons) and reasons[i] == "stop":
            reasons[i] = "tool_calls"
    return replace(response, texts=texts, tool_calls=calls if any(calls) else [], finish_reasons=reasons)


def parse_tags(text: str) -> tuple[str, list[ToolCall]]:
    """(text outside the tags, the calls). Any tag that is not a JSON object with a string
    "name" leaves the whole text as it was and no call: a half-parsed reply would hide the
    malformed call from the verifier."""
    calls: list[ToolCall] = []
    for k, match in enumerate(_TAG.finditer(text)):
        call = _call(match.group(1), k)
        if call is None:
            return text, []
        calls.append(call)
    return _TAG.sub("", text).strip(), calls


def _call(body: str, index: int) -> ToolCall | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return {"id": f"call_{index}", "type": "function", "function": {"name": value["name"], "arguments": text}}
