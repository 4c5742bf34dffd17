"""ROUGE-L: exact values, the bit-parallel LCS against a plain DP, pools and early stopping."""

from __future__ import annotations

import random

import pytest

from synthpipe.text.rouge import (
    RougePool,
    lcs_length,
    max_rouge_l,
    rouge_l,
    rouge_l_text,
    tokenize,
)


def dp_lcs(a, b) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a, 1):
        for j, y in enumerate(b, 1):
            table[i][j] = (
                table[i - 1][j - 1] + 1 if x == y else max(table[i - 1][j], table[i][j - 1])
            )
    return table[-1][-1]


def test_identical_is_one():
    tokens = tokenize("Write a poem about the sea.")
    assert rouge_l(tokens, tokens) == 1.0
    assert rouge_l_text("Hello, World!", "hello world") == 1.0


def test_disjoint_is_zero():
    assert rouge_l(["a", "b", "c"], ["d", "e"]) == 0.0
    assert rouge_l([], ["a"]) == 0.0
    assert rouge_l([], []) == 0.0


def test_hand_computed_case():
    # a = the cat sat on the mat (6), b = the cat lay on a mat (6)
    # LCS = the cat on mat (4): P = R = 4/6, F = 2/3
    a = tokenize("The cat sat on the mat")
    b = tokenize("the cat lay on a mat")
    assert lcs_length(a, b) == 4
    assert rouge_l(a, b) == pytest.approx(2 / 3)
    # unequal lengths: a = a b c d e (5), b = a c e (3): LCS 3, P = 1, R = 3/5, F = 0.75
    assert rouge_l(list("abcde"), list("ace")) == pytest.approx(0.75)
    assert rouge_l(list("ace"), list("abcde")) == pytest.approx(0.75)


def test_tokenizer_matches_rouge_score_default():
    assert tokenize("Don't stop-me NOW, 42 times!") == [
        "don",
        "t",
        "stop",
        "me",
        "now",
        "42",
        "times",
    ]


def test_bit_parallel_matches_dp():
    rng = random.Random(0)
    for _ in range(300):
        a = [rng.randrange(6) for _ in range(rng.randrange(0, 40))]
        b = [rng.randrange(6) for _ in range(rng.randrange(0, 40))]
        assert lcs_length(a, b) == dp_lcs(a, b)
    long_a = [rng.randrange(50) for _ in range(300)]  # masks wider than a machine word
    long_b = [rng.randrange(50) for _ in range(250)]
    assert lcs_length(long_a, long_b) == dp_lcs(long_a, long_b)


def test_max_rouge_l_and_early_stop():
    pool = [
        "write a story about a dragon",
        "summarize the following article",
        "translate to french",
    ]
    assert max_rouge_l("Summarize the following article.", pool) == 1.0
    assert max_rouge_l("completely unrelated words here", pool) == 0.0
    assert max_rouge_l(["translate", "to", "german"], [tokenize(p) for p in pool]) == pytest.approx(
        2 / 3
    )
    # with stop_at the scan ends at the first entry reaching it
    assert max_rouge_l("write a story about a cat", pool, stop_at=0.5) >= 0.5


def test_pool_grows_and_reports_index():
    pool = RougePool(["list three fruits", "name a capital city"])
    score, index = pool.max_score("name a big capital city")
    assert index == 1 and score == pytest.approx(2 * 4 / 9)
    pool.add("name a big capital city")
    score, index = pool.max_score("name a big capital city")
    assert (score, index) == (1.0, 2)
    assert pool.max_score("") == (0.0, None)
    assert len(pool) == 3
