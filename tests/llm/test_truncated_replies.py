"""Replies cut at max_tokens (finish_reason "length") are never kept as good data: the client
asks again once with a larger budget, then the record drops as ``truncated`` (issue 13, item 1).
The cache stores the finish reason, so a cached cut reply is treated the same way."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from llm_server import FaultPlan, ScriptedOpenAIServer, last_user_content
from rich.console import Console

from synthpipe import Pipeline
from synthpipe.generate.text_generation import TextGeneration
from synthpipe.llm.backend import LLMBackend
from synthpipe.llm.cache import ResponseCache
from synthpipe.llm.client import LLMClient, UsageStats
from synthpipe.llm.config import LLMConfig
from synthpipe.llm.types import (
    ChatRequest,
    ChatResponse,
    FatalError,
    SamplingParams,
    TruncatedReply,
    Usage,
)
from synthpipe.pipeline.progress import RichProgress
from synthpipe.pipeline.sources import FromRecords

RECORDS = [{"id": f"q{i}", "question": f"question number {i}"} for i in range(6)]
CUT = {"question number 1", "question number 4"}  # the records whose replies stop on length


def llm(server: ScriptedOpenAIServer, **kw) -> LLMConfig:
    return LLMConfig(backend="openai", base_url=server.base_url, model="test-model", max_retries=0, **kw)


def pipeline(server, tmp_path, step=None, **llm_kw) -> Pipeline:
    return Pipeline(
        "truncation",
        {
            "questions": FromRecords(records=RECORDS),
            "answer": step or TextGeneration(prompt="Answer: {{ question }}", output_field="answer"),
        },
        llms={"default": llm(server, **llm_kw)},
        llm_cache=str(tmp_path / "cache.sqlite"),
    )


def ask(client: LLMClient, text: str = "hello", max_tokens: int = 100) -> ChatResponse:
    request = ChatRequest([{"role": "user", "content": text}], SamplingParams(max_tokens=max_tokens))
    return asyncio.run(client.chat(request))


def test_a_cut_reply_is_asked_again_with_the_larger_budget(tmp_path):
    # the reply needs 150 tokens: cut at max_tokens=100, whole at 200
    with ScriptedOpenAIServer(faults=FaultPlan(length=1.0, reply_tokens=150)) as server:
        client = LLMClient("default", llm(server), cache=ResponseCache(tmp_path / "c.sqlite"))
        response = ask(client)
        assert response.texts == ["echo 0: hello"] and response.finish_reasons == ["stop"]
        assert [r["max_tokens"] for r in server.requests] == [100, 200]  # truncation_retry_factor 2
        assert client.stats.truncated == 1 and client.stats.summary()["truncated"] == 1


def test_factor_one_asks_only_once_and_raises(tmp_path):
    with ScriptedOpenAIServer(faults=FaultPlan(length=1.0)) as server:
        client = LLMClient("default", llm(server, truncation_retry_factor=1.0))
        with pytest.raises(TruncatedReply, match="100 completion tokens of max_tokens=100") as info:
            ask(client)
        assert (info.value.tokens, info.value.limit) == (100, 100)
        assert len(server.requests) == 1


class _ContextTooSmall(LLMBackend):
    """Cuts every reply; refuses (400) a budget above 150 tokens, as vLLM does past max_model_len."""

    async def chat(self, request: ChatRequest) -> ChatResponse:
        if request.params.max_tokens > 150:
            raise FatalError("HTTP 400: max_tokens is too large for this model's context", status=400)
        return ChatResponse(["cut"], ["length"], Usage(1, request.params.max_tokens))


def test_a_refused_larger_budget_still_drops_as_truncated():
    config = LLMConfig(backend="openai", base_url="http://x/v1", model="m")
    client = LLMClient("default", config, backend=_ContextTooSmall(config))
    with pytest.raises(TruncatedReply, match=r"100 completion tokens of max_tokens=100 \(asking again with "
                       r"max_tokens=200 failed: HTTP 400: max_tokens is too large"):  # fmt: skip
        ask(client)


def test_plain_step_drops_cut_replies_as_truncated_and_counts_them(tmp_path):
    with ScriptedOpenAIServer(faults=FaultPlan(length=1.0, fail_keys=CUT)) as server:
        result = pipeline(server, tmp_path).run(tmp_path / "run")
        assert sorted(r["id"] for r in result.kept) == ["q0", "q2", "q3", "q5"]
        assert all(r["answer"].startswith("echo 0: Answer: question number") for r in result.kept)
        dropped = {r["id"]: r["_drop"] for r in result.dropped}
        assert set(dropped) == {"q1", "q4"}
        for drop in dropped.values():
            assert drop["reason"] == "truncated"
            assert "1024 completion tokens of max_tokens=1024" in drop["detail"]  # tokens and limit
            assert "max_tokens=512" in drop["detail"]  # asked again after the first cut
        assert len(server.requests) == 4 + 2 * 2  # each cut record asked twice, at 512 then 1024
        endpoint = result.metrics["llm"]["endpoints"]["default"]
        assert endpoint["truncated"] == 4 and endpoint["failures"] == 0
        assert result.metrics["steps"][-1]["reasons"] == {"truncated": 2}

        # a rerun (fresh directory, same cache) pays nothing and keeps no cut reply
        server.reset_counters()
        again = pipeline(server, tmp_path).run(tmp_path / "run2")
        assert server.requests == []
        assert {r["id"]: r["_drop"]["reason"] for r in again.dropped} == {"q1": "truncated", "q4": "truncated"}
        assert again.metrics["llm"]["endpoints"]["default"]["truncated"] == 4


def test_structured_step_reports_truncated_not_parse_error(tmp_path):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}

    def responder(body):
        return json.dumps({"answer": f"a long answer to {last_user_content(body)}"})

    step = TextGeneration(prompt="Answer: {{ question }}", output_field="parsed", json_schema=schema)
    with ScriptedOpenAIServer(responder=responder, faults=FaultPlan(length=1.0, fail_keys=CUT)) as server:
        result = pipeline(server, tmp_path, step).run(tmp_path / "run")
        assert {r["id"]: r["_drop"]["reason"] for r in result.dropped} == {"q1": "truncated", "q4": "truncated"}
        assert all(r["parsed"]["answer"].startswith("a long answer") for r in result.kept)
        # no parse retry with the error fed back: a cut reply is not an invalid one
        assert not any("That reply was invalid" in json.dumps(r["messages"]) for r in server.requests)


def test_a_cached_cut_reply_is_treated_like_a_fresh_one(tmp_path):
    config = LLMConfig(backend="openai", base_url="http://127.0.0.1:9/v1", model="test-model", max_retries=0)
    request = ChatRequest([{"role": "user", "content": "hello"}], SamplingParams(max_tokens=10))
    larger = ChatRequest(request.messages, SamplingParams(max_tokens=20))
    cut = ChatResponse(["hel"], ["length"], Usage(1, 10), "test-model")
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        cache.put(ResponseCache.key(config.identity(), request), cut)
        cache.put(ResponseCache.key(config.identity(), larger), ChatResponse(["hel"], ["length"], Usage(1, 20)))
        client = LLMClient("default", config, cache=cache)  # nothing listens: every answer is cached
        with pytest.raises(TruncatedReply, match="20 completion tokens of max_tokens=20"):
            asyncio.run(client.chat(request))
        assert client.stats.cached == 2 and client.stats.truncated == 2


def test_cache_entries_without_a_finish_reason_count_as_not_truncated(tmp_path):
    config = LLMConfig(backend="openai", base_url="http://127.0.0.1:9/v1", model="test-model", max_retries=0)
    request = ChatRequest([{"role": "user", "content": "hello"}])
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        key = ResponseCache.key(config.identity(), request)
        old = {"texts": ["hi"], "usage": {"prompt_tokens": 1, "completion_tokens": 1}, "model": "test-model"}
        cache._run(lambda c: c.execute("INSERT INTO responses VALUES (?, ?, ?, 0)", (key, json.dumps(old), "m")))
        response = asyncio.run(LLMClient("default", config, cache=cache).chat(request))
    assert response.texts == ["hi"] and not response.truncated


def test_progress_line_counts_truncated_replies():
    out = io.StringIO()
    progress = RichProgress(Console(file=out, width=200, force_terminal=False))
    with progress:
        progress.llm_update("default", UsageStats(requests=9, truncated=3))
    assert "3 truncated" in out.getvalue()
