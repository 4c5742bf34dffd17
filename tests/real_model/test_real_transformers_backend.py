"""The transformers backend on the real SmolLM2-135M: text replies, token counts that are the
tokenizer's, max_tokens, seeds and batching (the response cache in front of it is checked by
the step tests, whose reruns must be free)."""

from __future__ import annotations

import asyncio

import pytest

from real_model import ENDPOINT, SharedModel
from synthpipe.llm.transformers_backend import TransformersBackend
from synthpipe.llm.types import ChatRequest, ChatResponse, SamplingParams

pytestmark = pytest.mark.real_model

PROMPTS = ("Write one sentence about a dog.", "Describe the sea.")


def requests(seeds: tuple[int, ...], max_tokens: int = 16) -> list[ChatRequest]:
    return [
        ChatRequest([{"role": "user", "content": p}], SamplingParams(temperature=1.0, max_tokens=max_tokens, seed=s))
        for p, s in zip(PROMPTS, seeds, strict=True)
    ]


def chat_all(backend: TransformersBackend, batch: list[ChatRequest]) -> list[ChatResponse]:
    """The requests sent together, as a step sends a batch's records."""

    async def run() -> list[ChatResponse]:
        return await asyncio.gather(*(backend.chat(r) for r in batch))

    return asyncio.run(run())


@pytest.fixture(scope="module")
def model(runner) -> SharedModel:
    return runner.shared


@pytest.fixture(scope="module")
def backend(runner) -> TransformersBackend:
    return TransformersBackend(ENDPOINT)


@pytest.fixture(scope="module")
def first(backend, model) -> tuple[list[ChatResponse], int]:
    """Two requests made together: their replies and the model.generate calls they took."""
    before = model.generate_calls
    return chat_all(backend, requests((1, 2))), model.generate_calls - before


def test_replies_are_text_from_one_batched_generate(first) -> None:
    responses, calls = first
    assert calls == 1  # same sampling params: one model.generate for both
    for response in responses:
        [text] = response.texts
        assert isinstance(text, str) and text.strip()
        assert response.finish_reasons[0] in ("stop", "length")
        assert response.model == "smollm2-135m" and not response.cached


def test_token_counts_are_the_tokenizers(first, model: SharedModel) -> None:
    responses, _calls = first
    for request, response in zip(requests((1, 2)), responses, strict=True):
        assert response.usage.prompt_tokens == model.prompt_tokens(request)
        tokens = response.usage.completion_tokens
        if response.finish_reasons == ["length"]:
            assert tokens == 16
        else:  # stopped at the end-of-turn token, which is not counted
            assert 0 < tokens < 16


def test_max_tokens_is_honoured(backend, model: SharedModel) -> None:
    story = ChatRequest(
        [{"role": "user", "content": "Tell me a long story about a dragon and a knight."}],
        SamplingParams(temperature=0.0, max_tokens=5),
    )
    response = asyncio.run(backend.chat(story))
    assert response.finish_reasons == ["length"] and response.usage.completion_tokens == 5
    assert len(model.tokenizer(response.texts[0], add_special_tokens=False)["input_ids"]) <= 6


def test_same_seeds_same_batch_same_text(first, backend) -> None:
    """The same batch with the same seeds samples the same text; other seeds other text."""
    texts = [r.texts for r in first[0]]
    assert [r.texts for r in chat_all(backend, requests((1, 2)))] == texts
    assert [r.texts for r in chat_all(backend, requests((3, 4)))] != texts
