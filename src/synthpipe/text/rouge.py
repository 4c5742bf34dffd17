"""ROUGE-L (Lin 2004, "ROUGE: A Package for Automatic Evaluation of Summaries"), written for speed.

ROUGE-L compares two token sequences by their longest common subsequence (LCS):
``P = LCS / len(b)``, ``R = LCS / len(a)``, ``F = 2PR / (P + R) = 2 LCS / (len(a) + len(b))``.
The F-measure is symmetric, so the argument order does not matter.

Tokens follow the `rouge_score` package's default tokenizer, which Self-Instruct used for its
novelty filter: lower-case, every run of characters other than ``a-z0-9`` is a separator, no
stemming.

Speed: tokens become ints (one vocabulary per :class:`RougePool`) and the LCS length is computed
with the bit-parallel algorithm of Allison & Dix (1986) / Hyyrö (2004) on Python ints: one
``O(len(b))`` pass of word-sized big-int operations instead of an ``O(len(a) * len(b))`` table.
:func:`max_rouge_l` scans a pool with an exact length bound (``F <= 2 min(m, n) / (m + n)``)
and stops early once a threshold is reached.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence

_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-case alphanumeric word tokens (rouge_score's default tokenizer, no stemmer)."""
    return _TOKEN.findall(text.lower())


def _match_masks(a: Sequence[Hashable]) -> dict[Hashable, int]:
    """For each symbol of `a`, the bit mask of the positions where it occurs."""
    masks: dict[Hashable, int] = {}
    for i, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << i)
    return masks


def _lcs_with_masks(masks: dict[Hashable, int], m: int, b: Iterable[Hashable]) -> int:
    """LCS length of the sequence behind `masks` (length `m`) and `b` (bit-parallel)."""
    if m == 0:
        return 0
    full = (1 << m) - 1
    v = full
    get = masks.get
    for token in b:
        match = get(token)
        if match:
            u = v & match
            v = ((v + u) | (v - u)) & full
    return m - v.bit_count()


def lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Length of the longest common subsequence of two token sequences."""
    if len(a) < len(b):  # the mask side should be the shorter one: smaller ints
        a, b = b, a
    return _lcs_with_masks(_match_masks(b), len(b), a)


def rouge_l(a_tokens: Sequence[Hashable], b_tokens: Sequence[Hashable]) -> float:
    """ROUGE-L F-measure of two token sequences (0.0 if either is empty)."""
    total = len(a_tokens) + len(b_tokens)
    if not a_tokens or not b_tokens:
        return 0.0
    return 2.0 * lcs_length(a_tokens, b_tokens) / total


def rouge_l_text(a: str, b: str) -> float:
    """ROUGE-L F-measure of two texts, tokenized with :func:`tokenize`."""
    return rouge_l(tokenize(a), tokenize(b))


class RougePool:
    """A growing set of texts, pre-tokenized to ints, to score candidates against.

    ``pool.max_score(text, stop_at=0.7)`` returns the highest ROUGE-L F of `text` against any
    pooled text (and that text's index), stopping as soon as a score reaches `stop_at`.
    """

    def __init__(self, texts: Iterable[str] = ()):
        self.vocab: dict[str, int] = {}
        self.entries: list[tuple[int, ...]] = []
        for text in texts:
            self.add(text)

    def __len__(self) -> int:
        return len(self.entries)

    def encode(self, text: str) -> tuple[int, ...]:
        vocab = self.vocab
        return tuple(vocab.setdefault(t, len(vocab)) for t in tokenize(text))

    def add(self, text: str) -> int:
        """Add a text; return its index."""
        self.entries.append(self.encode(text))
        return len(self.entries) - 1

    def max_score(self, text: str, stop_at: float | None = None) -> tuple[float, int | None]:
        """(best ROUGE-L F against the pool, index of that entry); early-stops at `stop_at`."""
        candidate = tuple(self.vocab.get(t, -1 - i) for i, t in enumerate(tokenize(text)))
        return _max_over(candidate, self.entries, stop_at)


def max_rouge_l(
    candidate: str | Sequence[str],
    pool: Iterable[str | Sequence[str]],
    stop_at: float | None = None,
) -> float:
    """Highest ROUGE-L F of `candidate` against every item of `pool` (texts or token lists).

    With `stop_at`, scanning stops at the first score >= `stop_at` (that score is returned).
    For repeated queries against a growing pool, use :class:`RougePool`.
    """
    vocab: dict[str, int] = {}

    def encode(item: str | Sequence[str]) -> tuple[int, ...]:
        tokens = tokenize(item) if isinstance(item, str) else item
        return tuple(vocab.setdefault(t, len(vocab)) for t in tokens)

    cand = encode(candidate)
    return _max_over(cand, [encode(p) for p in pool], stop_at)[0]


def _max_over(
    candidate: tuple[int, ...], entries: Sequence[tuple[int, ...]], stop_at: float | None
) -> tuple[float, int | None]:
    m = len(candidate)
    if m == 0:
        return 0.0, None
    masks = _match_masks(candidate)
    best, best_index = 0.0, None
    for index, entry in enumerate(entries):
        n = len(entry)
        if n == 0:
            continue
        total = m + n
        if 2.0 * min(m, n) / total <= best:  # cannot beat the best so far
            continue
        score = 2.0 * _lcs_with_masks(masks, m, entry) / total
        if score > best:
            best, best_index = score, index
            if stop_at is not None and best >= stop_at:
                break
    return best, best_index
