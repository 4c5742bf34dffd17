"""Gopher repetition removal (Rae et al. 2021, "Scaling Language Models: Methods, Analysis &
Insights from Training Gopher", appendix A.1.1 and Table A1).

A text is dropped when any of these exceeds its threshold (the defaults are Table A1's):

=================================  =========  ==========================
statistic                          threshold  drop reason
=================================  =========  ==========================
duplicate line fraction            0.30       ``dup_line_frac``
duplicate paragraph fraction       0.30       ``dup_para_frac``
duplicate line character fraction  0.20       ``dup_line_char_frac``
duplicate para. character fraction 0.20       ``dup_para_char_frac``
top 2/3/4-gram character fraction  .20/.18/.16 ``top_ngram_char_frac``
duplicate 5..10-gram char fraction .15 ... .10 ``dup_ngram_char_frac``
=================================  =========  ==========================

Definitions (the paper leaves some choices open; these follow datatrove's and Dolma's readings):

- Lines are split on newlines and paragraphs on blank lines; blank ones are ignored. A line
  (paragraph) is a duplicate if an identical one occurs earlier; the character fractions are
  the duplicates' characters over all lines' (paragraphs') characters.
- Words are whitespace tokens. The *top n-gram* fraction is the characters of the words
  covered by the occurrences of the most frequent n-gram (counted only if it occurs at least
  twice) over the characters of all words. The *duplicate n-gram* fraction is the characters
  of the words covered by any n-gram occurring at least twice; a word covered by several
  overlapping n-grams counts once, as the paper asks.

Set a threshold to null to skip that statistic. Gopher only kept documents of at least 50
words before applying these thresholds, and short texts see large fractions from small repeats
(two "of the" in a 30-word answer), so the n-gram statistics apply only from ``min_words``
(default 50) words on. Measured on real data with the defaults: 12% of GSM8K answers and 9%
of OpenAssistant replies are dropped (formulaic working, outlines), against 99% of raw davinci
completions, which run on repeating the prompt's pattern (see the module tests).

With ``ignore_code`` the statistics are computed on the prose only (fenced blocks and inline
code removed): ``}`` and ``display: flex;`` lines repeat in any program. The data profiles
(:mod:`synthpipe.curate.profiles`) use it, with looser thresholds, on responses.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from pydantic import Field

from synthpipe.curate.filters.code_text import prose_part
from synthpipe.curate.filters.fields import TextFields, check_fields, field_names
from synthpipe.data.records import Record
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import FilterResult, FilterStep, StepConfig

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")

TOP_NGRAM_DEFAULTS = {2: 0.20, 3: 0.18, 4: 0.16}
DUP_NGRAM_DEFAULTS = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}


def split_lines(text: str) -> list[str]:
    """Non-blank lines, stripped."""
    return [s for s in (line.strip() for line in text.split("\n")) if s]


def split_paragraphs(text: str) -> list[str]:
    """Non-blank paragraphs (separated by blank lines), stripped."""
    return [s for s in (p.strip() for p in _PARAGRAPH_BREAK.split(text)) if s]


def duplicate_fractions(items: Sequence[str]) -> tuple[float, float]:
    """(fraction of items that repeat an earlier one, their share of all characters)."""
    seen: set[str] = set()
    dup_items = dup_chars = 0
    for item in items:
        if item in seen:
            dup_items += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    total_chars = sum(len(item) for item in items)
    if not items or not total_chars:
        return 0.0, 0.0
    return dup_items / len(items), dup_chars / total_chars


def _ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def _covered_chars(words: Sequence[str], starts: Sequence[int], n: int) -> int:
    covered = bytearray(len(words))
    for start in starts:
        covered[start : start + n] = b"\x01" * n
    return sum(len(w) for w, c in zip(words, covered, strict=True) if c)


def top_ngram_char_fraction(words: Sequence[str], n: int) -> float:
    """Share of word characters covered by the most frequent n-gram (0 if none repeats)."""
    grams = _ngrams(words, n)
    if not grams:
        return 0.0
    top, count = Counter(grams).most_common(1)[0]
    if count < 2:
        return 0.0
    starts = [i for i, gram in enumerate(grams) if gram == top]
    return _covered_chars(words, starts, n) / sum(len(w) for w in words)


def dup_ngram_char_fraction(words: Sequence[str], n: int) -> float:
    """Share of word characters covered by n-grams that occur at least twice."""
    grams = _ngrams(words, n)
    if not grams:
        return 0.0
    counts = Counter(grams)
    starts = [i for i, gram in enumerate(grams) if counts[gram] > 1]
    if not starts:
        return 0.0
    return _covered_chars(words, starts, n) / sum(len(w) for w in words)


class RepetitionFilterConfig(StepConfig):
    text_field: TextFields = Field("text", description="field (or list of fields) to check")
    dup_line_frac: float | None = Field(0.30, ge=0, le=1, description="max fraction of duplicate lines")
    dup_para_frac: float | None = Field(0.30, ge=0, le=1, description="max fraction of duplicate paragraphs")
    dup_line_char_frac: float | None = Field(
        0.20, ge=0, le=1, description="max share of characters in duplicate lines"
    )
    dup_para_char_frac: float | None = Field(
        0.20, ge=0, le=1, description="max share of characters in duplicate paragraphs"
    )
    top_ngram_char_frac: dict[int, float] = Field(
        default_factory=lambda: dict(TOP_NGRAM_DEFAULTS),
        description="n -> max share of word characters in the most frequent n-gram (Gopher: 2-4)",
    )
    dup_ngram_char_frac: dict[int, float] = Field(
        default_factory=lambda: dict(DUP_NGRAM_DEFAULTS),
        description="n -> max share of word characters in repeated n-grams (Gopher: 5-10)",
    )
    min_words: int = Field(
        50,
        ge=0,
        description="apply the n-gram statistics only to texts with at least this many words "
        "(Gopher's minimum document length; 0 = always)",
    )
    ignore_code: bool = Field(False, description="compute the statistics on the prose only (code blocks removed)")


@register_step("repetition_filter")
class RepetitionFilter(FilterStep):
    """Drops texts with repeated lines, paragraphs or n-grams (Gopher, Table A1 thresholds).

    The statistics and how they are read are in the module docstring; the n-gram ones apply
    only from `min_words` words on.

    Input columns: `text_field` (str, or a list of fields; every one is checked).
    Output columns: none: marks records dropped.
    Drop reasons: ``dup_line_frac``, ``dup_para_frac``, ``dup_line_char_frac``,
    ``dup_para_char_frac``, ``top_ngram_char_frac``, ``dup_ngram_char_frac`` (details: the
    field, n and the value), ``missing_text``, ``not_text``.
    References: Rae et al. (2021), "Scaling Language Models: Methods, Analysis & Insights from
    Training Gopher", arXiv:2112.11446, appendix A.1.1 and Table A1.
    """

    Config = RepetitionFilterConfig
    cpu_bound = True
    drop_reasons = (
        "dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac",
        "top_ngram_char_frac", "dup_ngram_char_frac", "missing_text", "not_text",
    )  # fmt: skip

    def input_columns(self) -> set[str]:
        return set(field_names(self.config.text_field))

    def output_columns(self) -> set[str]:
        return set()

    def keep(self, record: Record) -> FilterResult:
        return check_fields(record, self.config.text_field, self.check)

    def check(self, text: str) -> FilterResult:
        """The verdict for one text."""
        cfg = self.config
        if cfg.ignore_code:
            text = prose_part(text)
        for name, items in (("para", split_paragraphs(text)), ("line", split_lines(text))):
            frac, char_frac = duplicate_fractions(items)
            limit, char_limit = getattr(cfg, f"dup_{name}_frac"), getattr(cfg, f"dup_{name}_char_frac")
            if limit is not None and frac > limit:
                return False, f"dup_{name}_frac", f"{frac:.2f} > {limit}"
            if char_limit is not None and char_frac > char_limit:
                return False, f"dup_{name}_char_frac", f"{char_frac:.2f} > {char_limit}"
        words = text.split()
        if len(words) < max(cfg.min_words, 1):
            return True
        for n, limit in sorted(cfg.top_ngram_char_frac.items()):
            frac = top_ngram_char_fraction(words, n)
            if frac > limit:
                return False, "top_ngram_char_frac", f"{n}-gram {frac:.2f} > {limit}"
        for n, limit in sorted(cfg.dup_ngram_char_frac.items()):
            frac = dup_ngram_char_fraction(words, n)
            if frac > limit:
                return False, "dup_ngram_char_frac", f"{n}-gram {frac:.2f} > {limit}"
        return True
