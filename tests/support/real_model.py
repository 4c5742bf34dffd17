"""Support of the real-model tests (tests/real_model): SmolLM2-135M-Instruct (preset
``smollm2-135m``) shared by every transformers backend a test creates, runs of steps against it
through the run API, and the checks every step test makes (token counts, the drop ledger).

The dequantised model is cached where users have it (``$SYNTHPIPE_CACHE_DIR/models`` as set
when the session starts, else ``~/.cache/synthpipe``), so it is built once, not per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from synthpipe import Pipeline
from synthpipe.data.records import DROP, ID
from synthpipe.llm.config import LLMConfig
from synthpipe.llm.types import ChatRequest, ChatResponse
from synthpipe.pipeline.sources import FromRecords

MODEL = "smollm2-135m"
#: the endpoint every test uses; a reply cut at max_tokens drops as `truncated` at once (no
#: second, longer generation), which keeps each test to a few model.generate calls
ENDPOINT = LLMConfig(backend="transformers", model=MODEL, batch_size=8, truncation_retry_factor=1.0)


@dataclass
class SharedModel:
    """The loaded model and tokenizer, and what the backends asked of them."""

    model: Any
    tokenizer: Any
    generate_calls: int = 0  # model.generate invocations
    exchanges: list[tuple[ChatRequest, ChatResponse]] = field(default_factory=list)  # paid requests

    def load(self, model: str, **_kwargs: Any) -> tuple[Any, Any]:
        """Stands in for `load_causal_lm` inside the backend: the session's copy, no reload."""
        assert model == MODEL, f"the real-model tests load only {MODEL}, not {model!r}"
        return self.model, self.tokenizer

    def prompt_tokens(self, request: ChatRequest) -> int:
        """Tokens of `request` under the chat template."""
        ids = self.tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=True)
        return len(ids if isinstance(ids, list) else ids["input_ids"])

    def reset(self) -> None:
        self.generate_calls = 0
        self.exchanges.clear()


@contextmanager
def using(shared: SharedModel, cache_dir: Path) -> Iterator[SharedModel]:
    """Backends built inside use the shared model and record their paid requests; the LLM
    response cache (and any other cache) lives in `cache_dir`. Torch runs one thread inside:
    on shared, oversubscribed cores its spinning OpenMP workers made a 2-thread generate
    7-12x slower than a 1-thread one (measured on 2 cores under a load of 7)."""
    import torch

    from synthpipe.llm import transformers_backend
    from synthpipe.llm.transformers_backend import TransformersBackend

    chat = TransformersBackend.chat

    async def recorded_chat(self: TransformersBackend, request: ChatRequest) -> ChatResponse:
        response = await chat(self, request)
        shared.exchanges.append((request, response))
        return response

    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYNTHPIPE_CACHE_DIR", str(cache_dir))
        mp.setattr(transformers_backend, "load_causal_lm", shared.load)
        mp.setattr(TransformersBackend, "chat", recorded_chat)
        shared.reset()
        torch.set_num_threads(1)
        try:
            yield shared
        finally:
            torch.set_num_threads(threads)


@dataclass
class Outcome:
    """A finished run and what it asked of the model."""

    result: Any  # the RunResult
    exchanges: list[tuple[ChatRequest, ChatResponse]]  # paid requests and their replies
    generate_calls: int

    @property
    def stats(self) -> dict[str, Any]:
        """The run's usage counters of the `default` endpoint (metrics.json)."""
        return self.result.metrics["llm"]["endpoints"]["default"]


@dataclass
class Runner:
    """Runs steps against the real model through the run API; each run's paid requests and
    model.generate calls are counted apart."""

    shared: SharedModel
    root: Path

    def run(self, steps: dict[str, Any], records: list[dict] | None = None, *, out: str, **settings: Any) -> Outcome:
        """`steps` after a `records` source holding `records` (if given), into root/out."""
        if records is not None:
            steps = {"records": FromRecords(records=records), **steps}
        pipeline = Pipeline("real-model", steps, llms={"default": ENDPOINT}, **settings)
        return self._outcome(lambda: pipeline.run(self.root / out))

    def run_recipe(self, text: str, *, out: str) -> Outcome:
        """The recipe `text` (YAML), written to root/<out>.yaml, run into root/out."""
        recipe = self.root / f"{out}.yaml"
        recipe.write_text(text, encoding="utf-8")
        return self._outcome(lambda: Pipeline.from_recipe(recipe).run(self.root / out))

    def _outcome(self, run: Any) -> Outcome:
        self.shared.reset()
        result = run()
        return Outcome(result, list(self.shared.exchanges), self.shared.generate_calls)


# -- assertions shared by the step tests ---------------------------------------------------------
def assert_usage_adds_up(outcome: Outcome, tokenizer_of: SharedModel) -> None:
    """Every paid reply's token counts are the tokenizer's and within max_tokens, and the
    run's usage stats are their sums."""
    assert outcome.exchanges, "the run made no paid request"
    for request, response in outcome.exchanges:
        assert response.usage.prompt_tokens == tokenizer_of.prompt_tokens(request)
        limit = request.params.max_tokens
        assert all(reason in ("stop", "length") for reason in response.finish_reasons)
        if "length" in response.finish_reasons:
            assert response.usage.completion_tokens == limit * request.n
        else:  # stopped at the end-of-turn token, which is not counted
            assert response.usage.completion_tokens < limit * request.n
    stats = outcome.stats
    assert stats["requests"] == len(outcome.exchanges)
    assert stats["prompt_tokens"] == sum(r.usage.prompt_tokens for _q, r in outcome.exchanges)
    assert stats["completion_tokens"] == sum(r.usage.completion_tokens for _q, r in outcome.exchanges)


def assert_rerun_is_free(first: Outcome, again: Outcome, *fields: str) -> None:
    """A second run on the same response cache generates nothing and gives the same records."""
    assert again.generate_calls == 0 and not again.exchanges
    assert again.stats["requests"] == 0
    assert again.stats["cached"] == first.stats["requests"] + first.stats["cached"]
    assert outputs(again.result, *fields) == outputs(first.result, *fields)


def assert_ledger(result: Any, reasons: tuple[str, ...]) -> None:
    """Kept records carry no drop; each dropped one a known reason with a detail; no record
    is both kept and dropped."""
    for record in result.kept:
        assert record.get(DROP) is None
    for record in result.dropped:
        drop = record[DROP]
        assert drop["reason"] in reasons, drop
        assert str(drop.get("detail") or "").strip(), drop
    ids = [r[ID] for r in [*result.kept, *result.dropped]]
    assert len(ids) == len(set(ids)), "a record is both kept and dropped, or there twice"


def outputs(result: Any, *fields: str) -> dict[str, tuple]:
    """id -> (drop reason, the given fields) over kept and dropped records."""
    return {
        r[ID]: ((r.get(DROP) or {}).get("reason"), *(r.get(f) for f in fields))
        for r in [*result.kept, *result.dropped]
    }
