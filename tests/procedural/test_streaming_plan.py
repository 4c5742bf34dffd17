"""Procedural sources stream: memory does not grow with `n`, and a huge `n` yields its first
batches at once (issue 13, item 6)."""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest

from synthpipe.pipeline.step import StepContext
from synthpipe.procedural import slot_template
from synthpipe.procedural.math_word_problems import MathWordProblems
from synthpipe.procedural.slot_template import SlotTemplate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from deadline import deadline  # noqa: E402  (tests/support)

SEEDS = "bundled:trec/seeds.jsonl"




def first_batches(step, batches: int, batch_size: int = 256, seconds: float = 15) -> tuple[list, int]:
    """The first `batches` batches of `step.read` and the peak of traced memory while made."""
    ctx = StepContext(name="g", seed=0, batch_size=batch_size)
    tracemalloc.start()
    try:
        with deadline(seconds):
            got = list(itertools.islice(step.read(ctx), batches))
        return got, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("make", [
    lambda n: SlotTemplate(seeds=SEEDS, n=n),
    lambda n: MathWordProblems(n=n),
], ids=["slot_template", "math_word_problems"])  # fmt: skip
def test_a_billion_records_start_at_once_in_little_memory(make):
    step = make(10**9)
    getattr(step, "_model", None)  # seeds and lexicon are loaded once, whatever n is
    batches, peak = first_batches(step, 3)
    assert [len(b) for b in batches] == [256, 256, 256]
    assert batches[0][0]["id"].endswith("000000")
    assert peak < 16_000_000  # one plan block at most, not a plan of n records


def test_records_do_not_depend_on_the_block_size_except_by_block(monkeypatch):
    """Resume mid-way and across plan blocks gives the records of the uninterrupted run."""
    monkeypatch.setattr(slot_template, "PLAN_BLOCK", 40)
    step = SlotTemplate(seeds=SEEDS, n=130)
    full = [b for b in step.read(StepContext(name="g", seed=1, batch_size=16))]
    resumed = list(step.read(StepContext(name="g", seed=1, batch_size=16, skip_batches=5)))
    assert resumed == full[5:]
    labels = [r["label"] for b in full for r in b]
    for start in (0, 40, 80):  # every full block is balanced on its own
        counts = Counter(labels[start : start + 40]).values()
        assert max(counts) - min(counts) <= 1


def test_a_run_of_one_block_keeps_the_records_it_always_had():
    step = SlotTemplate(seeds=SEEDS, n=300)
    records = [r for b in step.read(StepContext(name="g", seed=0, batch_size=64)) for r in b]
    digest = hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()
    assert digest == "737f14b18ab8d190238c61d21f6d6c5bdb50427269b8c141d4262828713a4c39"  # before streaming
