"""Vectorised distinct n-gram counts equal the plain set-of-tuples count, text by text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthpipe.text.ngrams import ngram_counts


def plain_counts(texts: list[str], n: int) -> tuple[int, int]:
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        tokens = text.lower().split()
        grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        seen.update(grams)
        total += len(grams)
    return len(seen), total


# Few letters and much white space, so that n-grams repeat; Σ lower-cases by context.
TEXTS = st.lists(
    st.text(alphabet=st.sampled_from(list("aAbΣσς.") + [" ", "\t", "\n", "\u2028", "\x1c"])),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(texts=TEXTS)
def test_counts_match_sets_of_tuples(texts: list[str]) -> None:
    counts = ngram_counts(texts, (1, 2, 3, 5))
    assert counts == {n: plain_counts(texts, n) for n in (1, 2, 3, 5)}


def test_ngrams_stay_inside_a_text() -> None:
    assert ngram_counts(["a b", "c d"], (2,)) == {2: (2, 2)}  # no ("b", "c")
    assert ngram_counts(["The cat sat", "the cat ran away", "The cat sat", "dog"], (1, 2)) == {
        1: (6, 11),
        2: (4, 7),
    }


def test_empty_and_short_texts() -> None:
    assert ngram_counts([], (1, 2)) == {1: (0, 0), 2: (0, 0)}
    assert ngram_counts(["", "   ", "one"], (1, 2)) == {1: (1, 1), 2: (0, 0)}
    with pytest.raises(ValueError):
        ngram_counts(["a"], (0,))
