"""The fault kinds the scripted server gained for issue 13: replies cut on length, bodies cut
mid-JSON, a server that ignores response_format, and a port that refuses connections."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlparse

import pytest
from llm_server import (
    FaultPlan,
    ScriptedOpenAIServer,
    last_user_content,
    refused_base_url,
    run_once,
)

from synthpipe import Pipeline
from synthpipe.generate.text_generation import TextGeneration
from synthpipe.llm.config import LLMConfig
from synthpipe.llm.openai_backend import OpenAIBackend
from synthpipe.llm.types import ChatRequest, RetryableError, SamplingParams
from synthpipe.pipeline.sources import FromRecords

SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}}


def once(base_url: str, max_tokens: int = 64, **kwargs):
    """One backend attempt: the response, or the LLMError raised."""
    backend = OpenAIBackend(LLMConfig(model="test-model", base_url=base_url))
    request = ChatRequest([{"role": "user", "content": "tell me a story"}], SamplingParams(max_tokens=max_tokens), **kwargs)
    return run_once(backend, request)


def test_length_cuts_the_reply_in_half_and_says_so():
    with ScriptedOpenAIServer(faults=FaultPlan(length=1.0, reply_tokens=100)) as server:
        cut = once(server.base_url, max_tokens=64)
        whole = once(server.base_url, max_tokens=128)  # the reply fits a budget of reply_tokens
        assert server.faults_injected == {"length": 1}
    assert cut.finish_reasons == ["length"] and cut.usage.completion_tokens == 64
    assert cut.texts == ["echo 0: tell me a story"[:11]]
    assert whole.finish_reasons == ["stop"] and whole.texts == ["echo 0: tell me a story"]


def test_cut_json_promises_a_body_it_never_finishes():
    with ScriptedOpenAIServer(faults=FaultPlan(cut_json=1.0)) as server:
        error = once(server.base_url)
        assert server.faults_injected == {"cut_json": 1} and not server.successes_by_key
    assert type(error) is RetryableError and "ClientPayloadError" in str(error)


def test_cut_bodies_are_retried_and_never_kept(tmp_path):
    records = [{"id": f"q{i}", "question": f"q {i}"} for i in range(20)]
    with ScriptedOpenAIServer(faults=FaultPlan(cut_json=0.5, max_failures_per_key=2)) as server:
        result = Pipeline(
            "cut",
            {"questions": FromRecords(records=records),
             "answer": TextGeneration(prompt="A: {{ question }}", output_field="answer")},
            llms={"default": LLMConfig(backend="openai", base_url=server.base_url, model="test-model",
                                       max_retries=2, backoff_base_s=0.01)},
            llm_cache=str(tmp_path / "cache.sqlite"),
        ).run(tmp_path / "run")  # fmt: skip
        assert server.faults_injected["cut_json"] > 0
    assert sorted(r["answer"] for r in result.kept) == sorted(f"echo 0: A: q {i}" for i in range(20))


def test_ignore_response_format_answers_as_if_it_was_not_asked():
    def responder(body):  # a model that writes JSON only when it knows the schema
        asked = "response_format" in body or "JSON schema" in last_user_content(body)
        return json.dumps({"answer": 42}) if asked else "forty-two"

    with ScriptedOpenAIServer(responder=responder, faults=FaultPlan(ignore_response_format=1.0)) as server:
        assert once(server.base_url, response_format=SCHEMA_FORMAT).texts == ["forty-two"]
        assert once(server.base_url).texts == ["forty-two"]  # nothing to ignore: no fault
        assert server.faults_injected == {"ignore_response_format": 1}


def test_structured_step_recovers_from_a_server_that_ignores_response_format(tmp_path):
    def responder(body):
        asked = "response_format" in body or "JSON schema" in last_user_content(body)
        return json.dumps({"answer": 42}) if asked else "forty-two"

    with ScriptedOpenAIServer(responder=responder, faults=FaultPlan(ignore_response_format=1.0)) as server:
        result = Pipeline(
            "ignored",
            {"questions": FromRecords(records=[{"id": "a", "question": "six times seven"}]),
             "answer": TextGeneration(prompt="{{ question }}", json_schema=SCHEMA, output_field="parsed")},
            llms={"default": LLMConfig(backend="openai", base_url=server.base_url, model="test-model", max_retries=0)},
            llm_cache=str(tmp_path / "cache.sqlite"),
        ).run(tmp_path / "run")  # fmt: skip
        assert [r["parsed"] for r in result.kept] == [{"answer": 42}]
        assert len(server.requests) == 2  # plain text first, then the schema travelled in the prompt


def test_refused_base_url_refuses_at_once():
    with refused_base_url() as base_url:
        url = urlparse(base_url)
        assert url.hostname == "127.0.0.1"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((url.hostname, url.port), timeout=2)


def test_new_kinds_leave_the_old_draws_alone():
    old = FaultPlan(rate_limit=0.2, reset=0.1, seed=3)
    with_new = FaultPlan(rate_limit=0.2, reset=0.1, length=0.1, cut_json=0.1, seed=3)
    draws = [(old.draw(f"k{i}", 1), with_new.draw(f"k{i}", 1)) for i in range(500)]
    assert all(a == b for a, b in draws if a is not None)  # an old fault stays where it was
    assert {b for a, b in draws if a is None} >= {None, "length", "cut_json"}
