"""Tool calling in the LLM layer: `ChatRequest.tools` reaches the server (native) or the prompt
(`tool_calling: prompt`, local backends), replies come back as OpenAI `tool_calls` either way,
they survive the response cache, and a request without tools keeps its old cache key."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from llm_server import ScriptedOpenAIServer

from synthpipe.llm.cache import ResponseCache
from synthpipe.llm.client import LLMClient
from synthpipe.llm.config import LLMConfig
from synthpipe.llm.tool_prompt import parse_tags
from synthpipe.llm.types import ChatRequest, ChatResponse, SamplingParams

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two numbers",
            "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}},
        },
    }
]
CALL = {"id": "call_abc", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
QUESTION = [{"role": "user", "content": "What is 2 + 3?"}]


def native_responder(body: dict[str, Any]) -> Any:
    """Calls `add` while no tool result is in the conversation, then answers in text."""
    if not body.get("tools"):
        return "no tools were offered"
    if body["messages"][-1]["role"] == "tool":
        return "The sum is 5."
    return {"content": None, "tool_calls": [CALL]}


def prompted_responder(body: dict[str, Any]) -> str:
    """A model that follows the Hermes convention it was shown in the system prompt."""
    system = body["messages"][0]["content"]
    assert "tools" not in body and "<tools>" in system and '"name": "add"' in system
    if "<tool_response>" in body["messages"][-1]["content"]:
        return "The sum is 5."
    return 'Let me add.\n<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>'


def ask(config: LLMConfig, request: ChatRequest, cache: ResponseCache | None = None) -> tuple[ChatResponse, LLMClient]:
    client = LLMClient("default", config, cache=cache)

    async def go() -> ChatResponse:
        try:
            return await client.chat(request)
        finally:
            await client.aclose()

    return asyncio.run(go()), client


def config(server: ScriptedOpenAIServer, **options: Any) -> LLMConfig:
    return LLMConfig(backend="openai", base_url=server.base_url, model="test-model", max_retries=0, **options)


def test_native_tools_are_sent_and_tool_calls_parsed() -> None:
    with ScriptedOpenAIServer(responder=native_responder) as server:
        response, _ = ask(config(server), ChatRequest(QUESTION, tools=TOOLS, tool_choice="auto"))
        body = server.requests[-1]
    assert body["tools"] == TOOLS and body["tool_choice"] == "auto"
    assert response.tool_calls == [[CALL]]
    assert response.finish_reasons == ["tool_calls"] and not response.truncated
    assert response.message() == {"role": "assistant", "content": None, "tool_calls": [CALL]}


def test_a_conversation_with_tool_results_round_trips() -> None:
    history = [
        *QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "5"},
    ]
    with ScriptedOpenAIServer(responder=native_responder) as server:
        response, _ = ask(config(server), ChatRequest(history, tools=TOOLS))
    assert response.texts == ["The sum is 5."] and response.calls() == []
    assert response.message() == {"role": "assistant", "content": "The sum is 5."}


def test_tool_calls_survive_the_cache_and_tools_enter_the_key(tmp_path) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with ScriptedOpenAIServer(responder=native_responder) as server:
        first, _ = ask(config(server), ChatRequest(QUESTION, tools=TOOLS), cache)
        again, client = ask(config(server), ChatRequest(QUESTION, tools=TOOLS), cache)
        without, _ = ask(config(server), ChatRequest(QUESTION), cache)  # a different request
        requests = len(server.requests)
    cache.close()
    assert again.cached and client.stats.cached == 1
    assert again.tool_calls == first.tool_calls == [[CALL]] and again.finish_reasons == ["tool_calls"]
    assert without.texts == ["no tools were offered"] and requests == 2


def test_a_request_without_tools_keeps_its_old_cache_key() -> None:
    identity = {"backend": "openai", "model": "m"}
    request = ChatRequest(QUESTION, SamplingParams(temperature=0.2, seed=3))
    # the key this request had before tools existed (its recipe, spelled out)
    import hashlib

    payload = {
        "v": 1, "identity": identity, "messages": QUESTION, "params": request.params.model_dump(mode="json"),
        "n": 1, "response_format": None, "sample": 0,
    }  # fmt: skip
    old = hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert ResponseCache.key(identity, request) == old
    with_tools = ChatRequest(QUESTION, request.params, tools=TOOLS)
    assert ResponseCache.key(identity, with_tools) != old
    assert ResponseCache.key(identity, with_tools) != ResponseCache.key(
        identity, ChatRequest(QUESTION, request.params, tools=TOOLS, tool_choice="required")
    )


def test_an_old_cache_entry_without_tool_calls_still_loads() -> None:
    entry = {"texts": ["hi"], "finish_reasons": ["stop"], "usage": {}, "model": "m"}
    response = ChatResponse.from_json(entry)
    assert response.tool_calls == [] and response.calls() == [] and "tool_calls" not in response.to_json()


def test_prompt_mode_describes_tools_and_parses_tags() -> None:
    history = [
        {"role": "system", "content": "You are a calculator assistant."},
        *QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "5"},
    ]
    with ScriptedOpenAIServer(responder=prompted_responder) as server:
        first, _ = ask(config(server, tool_calling="prompt"), ChatRequest(QUESTION, tools=TOOLS))
        final, _ = ask(config(server, tool_calling="prompt"), ChatRequest(history, tools=TOOLS))
        sent = server.requests[-1]["messages"]
    call = first.calls()[0]
    assert call["function"]["name"] == "add" and json.loads(call["function"]["arguments"]) == {"a": 2, "b": 3}
    assert first.texts == ["Let me add."] and first.finish_reasons == ["tool_calls"]
    assert final.texts == ["The sum is 5."] and final.calls() == []
    # the system prompt keeps its text; the earlier call and its result are written as tags
    assert sent[0]["content"].startswith("You are a calculator assistant.")
    assert "<tool_call>" in sent[2]["content"] and sent[3] == {"role": "user", "content": "<tool_response>\n5\n</tool_response>"}


def test_prompt_mode_puts_the_results_of_one_turn_in_one_user_turn() -> None:
    from synthpipe.llm.tool_prompt import prompted_request

    second = {**CALL, "id": "call_def"}
    history = [
        *QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [CALL, second]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "5"},
        {"role": "tool", "tool_call_id": "call_def", "content": "7"},
    ]
    messages = prompted_request(ChatRequest(history, tools=TOOLS)).messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"].count("<tool_call>") == 2
    assert messages[3]["content"] == "<tool_response>\n5\n</tool_response>\n<tool_response>\n7\n</tool_response>"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('<tool_call>{"name": "a", "arguments": {}}</tool_call><tool_call>{"name": "b", "arguments": {"x": 1}}</tool_call>', ["a", "b"]),
        ('<tool_call>\n{"name": "a", "arguments": {"x": 1}}', ["a"]),  # stopped before the closing tag
        ("no call at all", []),
        ("<tool_call>{not json}</tool_call>", []),  # malformed: stays in the text for the verifier
    ],
)
def test_tags_parse_into_calls_or_stay_in_the_text(text: str, names: list[str]) -> None:
    rest, calls = parse_tags(text)
    assert [c["function"]["name"] for c in calls] == names
    if not names:
        assert rest == text
