"""Structured output on the real SmolLM2-135M: the transformers backend cannot constrain
decoding, so the JSON schema goes into the prompt, the reply is parsed and validated, and an
invalid reply is asked again with the error (repair); what stays invalid drops with its reason
and raw reply. Through `llm_generate` (the run API) and `LLMClient.structured`; the prompt
building itself is checked without the model."""

from __future__ import annotations

import asyncio

import jsonschema
import pytest

from real_model import ENDPOINT, assert_ledger, assert_rerun_is_free, assert_usage_adds_up
from synthpipe.generate.text_generation import TextGeneration
from synthpipe.llm.backend import LLMBackend
from synthpipe.llm.client import LLMClient
from synthpipe.llm.structured import StructuredOutput
from synthpipe.llm.transformers_backend import TransformersBackend, render_prompt
from synthpipe.llm.types import ChatRequest, ChatResponse, SamplingParams, TruncatedReply

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}},
    "required": ["answer"],
}
ASKS = "matches this JSON schema"  # words of the schema instructions
QUESTIONS = [
    {"id": "q1", "question": "What is 2 + 2?"},
    {"id": "q2", "question": "How many days are in a week?"},
    {"id": "q3", "question": "How many legs does a cat have?"},
]


def steps() -> dict:
    return {
        "answer": TextGeneration(
            prompt="{{ question }}", json_schema=SCHEMA, output_field="parsed",
            temperature=0.0, max_tokens=48, max_parse_attempts=2,
        )  # fmt: skip
    }


# -- without the model: how a client asks a backend that cannot constrain decoding -------------
class Recorder(LLMBackend):
    supports_response_format = False  # as the transformers and vLLM backends

    def __init__(self, config):
        super().__init__(config)
        self.requests: list[ChatRequest] = []

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        return ChatResponse(texts=['{"answer": 4}'], finish_reasons=["stop"])


def test_the_schema_goes_into_the_prompt_when_the_backend_cannot_constrain_decoding() -> None:
    backend = Recorder(ENDPOINT)
    client = LLMClient("default", ENDPOINT, backend=backend)
    output = StructuredOutput(SCHEMA)
    request = ChatRequest([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}])
    value, _raw, error = asyncio.run(client.structured(request, output))
    assert (value, error) == ({"answer": 4}, None)
    (sent,) = backend.requests
    assert sent.response_format is None  # never sent to a backend that would ignore it
    assert sent.messages[0] == request.messages[0]
    assert sent.messages[1]["content"] == f"What is 2 + 2?\n\n{output.instructions()}"
    assert request.messages[1]["content"] == "What is 2 + 2?"  # the caller's request is unchanged


# -- the real model --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(runner):
    first = runner.run(steps(), QUESTIONS, out="first")
    again = runner.run(steps(), QUESTIONS, out="again")
    return first, again


@pytest.mark.real_model
def test_the_model_is_asked_for_the_schema_in_its_prompt(runs, smollm) -> None:
    """The transformers backend cannot constrain decoding: the client asks for the schema in
    words in the first request (a repair turn asks again with the error)."""
    first, _again = runs
    for request, _response in first.exchanges:
        assert request.response_format is None
        prompt = render_prompt(request.messages, smollm.tokenizer)
        assert prompt.count(ASKS) >= 1 and '"answer"' in prompt


@pytest.mark.real_model
def test_kept_values_match_the_schema_and_the_rest_drop_with_reasons(runs) -> None:
    first, _again = runs
    result = first.result
    assert_ledger(result, TextGeneration.drop_reasons)
    assert sorted(r["id"] for r in [*result.kept, *result.dropped]) == ["q1", "q2", "q3"]
    for record in result.kept:
        jsonschema.validate(record["parsed"], SCHEMA)
    for record in result.dropped:
        drop = record["_drop"]
        assert drop["reason"] in ("parse_error", "truncated")
        if drop["reason"] == "parse_error":
            assert "raw reply:" in drop["detail"]


@pytest.mark.real_model
def test_usage_adds_up_and_a_rerun_is_free(runs, smollm) -> None:
    first, again = runs
    assert 3 <= len(first.exchanges) <= 6  # one request per record, one repair at most
    assert_usage_adds_up(first, smollm)
    assert_rerun_is_free(first, again, "parsed")


class FirstReplyMalformed(LLMBackend):
    """The real backend, except that the first reply is broken JSON (as a flaky server's)."""

    def __init__(self, inner: TransformersBackend):
        super().__init__(inner.config)
        self.inner = inner
        self.requests: list[ChatRequest] = []

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        if len(self.requests) == 1:
            return ChatResponse(texts=['Sure! {"answer": four'], finish_reasons=["stop"])
        return await self.inner.chat(request)


@pytest.mark.real_model
def test_an_invalid_reply_is_repaired_by_the_model_with_the_error_fed_back(runner) -> None:
    backend = FirstReplyMalformed(TransformersBackend(ENDPOINT))
    client = LLMClient("default", ENDPOINT, backend=backend)
    request = ChatRequest(
        [{"role": "user", "content": "What is 2 + 2?"}], SamplingParams(temperature=0.0, max_tokens=32)
    )
    try:
        value, raw, error = asyncio.run(client.structured(request, StructuredOutput(SCHEMA), max_attempts=2))
    except TruncatedReply as exc:  # the model's repair ran past max_tokens: a step drops it so
        value, raw, error = None, "(cut)", str(exc)
    first, repair = backend.requests
    assert repair.messages[: len(first.messages)] == first.messages
    assert repair.messages[-2] == {"role": "assistant", "content": 'Sure! {"answer": four'}
    assert repair.messages[-1]["content"].startswith("That reply was invalid:")
    assert ASKS in repair.messages[-1]["content"] and ASKS in first.messages[-1]["content"]
    assert all(m["content"].count(ASKS) <= 1 for m in repair.messages)  # asked once per turn
    assert raw and raw != 'Sure! {"answer": four'  # the model's own reply
    if error is None:
        jsonschema.validate(value, SCHEMA)
    else:  # a weak model may fail again (SmolLM2 often echoes the schema): the error says why
        assert value is None and error
