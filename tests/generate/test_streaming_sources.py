"""LLM sources stream: a huge `n` plans one block or round at a time, so the first batch comes
at once and memory does not grow with `n` (issue 13, item 6)."""

from __future__ import annotations

import asyncio
import itertools
import sys
import tracemalloc
from pathlib import Path

from synthpipe.generate import zerogen
from synthpipe.generate.red_team import RedTeamPrompts
from synthpipe.generate.zerogen import ZeroGen
from synthpipe.pipeline.step import StepContext

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from deadline import deadline  # noqa: E402  (tests/support)


def first_batches(step, batches: int, seconds: float = 15) -> tuple[list, int]:
    """The first `batches` batches of `step.aread` and the peak of traced memory while made."""

    async def take():
        stream = step.aread(StepContext(name="g", seed=0, batch_size=50))
        return [await anext(stream) for _ in range(batches)]

    tracemalloc.start()
    try:
        with deadline(seconds):
            got = asyncio.run(take())
        return got, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_zerogen_with_a_billion_examples_starts_at_once(monkeypatch):
    step = ZeroGen(n=10**9, per_request=5)
    step.seeds  # noqa: B018 - the seed file is read once, whatever n is

    async def answer(ctx, request):
        return [{"id": f"zerogen-{request.start + j:06d}", "label": request.label} for j in range(request.size)]

    monkeypatch.setattr(step, "_request", answer)
    batches, peak = first_batches(step, 2)
    assert [len(b) for b in batches] == [50, 50]
    assert [r["id"] for r in batches[0]][:2] == ["zerogen-000000", "zerogen-000001"]
    assert peak < 16_000_000


def test_zerogen_resumes_across_plan_blocks_with_the_same_requests(monkeypatch):
    monkeypatch.setattr(zerogen, "PLAN_BLOCK", 20)
    step = ZeroGen(n=95, per_request=3, attributes={"topic": ["a", "b", "c"]})
    plan = step.plan(4, "g")
    assert [r.number for r in plan] == list(range(len(plan))) == list(range(step.count_requests(4)))
    assert [r.start for r in plan] == list(itertools.accumulate((r.size for r in plan), initial=0))[:-1]
    assert sum(r.size for r in plan) == 95
    for first in (0, 5, 7, 8, len(plan) - 1):
        assert list(step.iter_plan(4, "g", first=first)) == plan[first:]


def test_red_team_with_a_billion_prompts_plans_a_round_at_a_time(monkeypatch):
    step = RedTeamPrompts(behaviors=["b0", "b1"], n_per_behavior=10**9, per_request=5)

    async def answer(ctx, b, k, shots):
        return k, [f"prompt {b.index} {k} {j} is a fine test" for j in range(5)], None

    monkeypatch.setattr(step, "_request", answer)
    batches, peak = first_batches(step, 2)
    assert len(batches[0]) == 10 and len(batches[1]) > 10  # zero-shot round, then a bounded round
    assert peak < 32_000_000
