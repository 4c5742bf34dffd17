"""`zerogen` on the real SmolLM2-135M, run from a recipe as users do: every planned request
yields records (kept examples, or drops that say why), token counts add up, and a rerun on the
response cache is free and identical."""

from __future__ import annotations

import pytest

from real_model import assert_ledger, assert_rerun_is_free, assert_usage_adds_up
from synthpipe.generate.zerogen import ZeroGen

pytestmark = pytest.mark.real_model

RECIPE = """\
name: zerogen-smollm2
seed: 0
llms:
  default: {backend: transformers, model: smollm2-135m, batch_size: 8, truncation_retry_factor: 1.0}
steps:
  generate:
    step: zerogen
    labels: [LOC, NUM]
    n: 4
    per_request: 2
    few_shot: 2
    text_kind: question
    max_tokens: 64
"""


@pytest.fixture(scope="module")
def runs(runner):
    first = runner.run_recipe(RECIPE, out="first")
    again = runner.run_recipe(RECIPE, out="again")
    return first, again


def test_every_request_yields_examples_or_drops_with_reasons(runs) -> None:
    first, _again = runs
    result = first.result
    assert_ledger(result, ZeroGen.drop_reasons)
    records = [*result.kept, *result.dropped]
    requests = {r["_lineage"]["generate"]["request"] for r in records}
    assert requests == {0, 1}  # two requests of two examples: none vanished
    for record in result.kept:
        assert record["label"] in ("LOC", "NUM")
        assert isinstance(record["text"], str) and record["text"].strip()
    assert len(result.kept) <= 4  # items beyond per_request drop as extra_item


def test_one_generate_for_both_requests_and_usage_adds_up(runs, smollm) -> None:
    first, _again = runs
    assert len(first.exchanges) == 2 and first.generate_calls == 1
    assert_usage_adds_up(first, smollm)


def test_a_rerun_on_the_cache_is_free_and_identical(runs) -> None:
    first, again = runs
    assert_rerun_is_free(first, again, "text", "label")
