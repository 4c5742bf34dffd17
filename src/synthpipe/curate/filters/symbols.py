"""Gopher quality filter: symbols, bullets, ellipses and word shape (Rae et al. 2021, "Scaling
Language Models: Methods, Analysis & Insights from Training Gopher", appendix A.1.1).

Defaults are the paper's. A text is dropped (reason in brackets) when:

- ``#`` or ellipses (``...``/``…``) occur more than 0.1 times per word (``symbol_ratio``);
- more than 90% of its lines start with a bullet (``bullet_lines``);
- more than 30% of its lines end with an ellipsis (``ellipsis_lines``);
- fewer than 80% of its words contain a letter (``non_alpha_words``);
- its mean word length is outside [3, 10] characters (``mean_word_length``);
- it has fewer than ``min_stop_words`` of Gopher's stop words *the, be, to, of, and, that,
  have, with* (``few_stop_words``; Gopher used 2, the default here is 0 = off because short
  answers such as "Paris." are fine in instruction data).

Words are whitespace tokens with leading and trailing punctuation stripped; tokens that are
only punctuation (``?`` in "Who killed Gandhi ?") and list markers starting a line (``1.``,
``2)``, ``-``) are not words. Bullets are Unicode bullet characters (``•``, ``‣``, ``▶``,
``◀``, ``◦``, ``■``, ``□``, ``▪``, ``▫``, ``–``); Markdown ``-``/``*`` list markers are *not*
counted by default because a chat answer is often one list (add them to ``bullets`` for web
text). Ratios over a handful of words say little, so texts
with fewer than ``min_words`` words (default 10) are not judged: a one-word answer such as
"Encouraging" would otherwise fail the mean word length.

These rules were tuned for web pages. Measured with the defaults: 0.5% of GSM8K questions,
0.3% of TREC questions and 0.7% of OpenAssistant replies are dropped, but 77% of GSM8K answers
(``<<48/2=24>>24`` working and ``#### 72`` trip ``non_alpha_words`` and ``symbol_ratio``) and
15% of MBPP's code: do not run it on math working or code, or loosen those two thresholds.
"""

from __future__ import annotations

import re
import string

from pydantic import Field

from synthpipe.curate.filters.fields import TextFields, check_fields, field_names
from synthpipe.data.records import Record
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import FilterResult, FilterStep, StepConfig

UNICODE_BULLETS = ["•", "‣", "▶", "◀", "◦", "■", "□", "▪", "▫", "–"]
GOPHER_STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
_ELLIPSES = ("...", "…")
_LIST_MARKER = re.compile(r"(?m)^[ \t]*(?:\d{1,3}[.)]|[-*+])[ \t]+")
_PUNCTUATION = string.punctuation + "“”‘’«»…–—"


class SymbolFilterConfig(StepConfig):
    text_field: TextFields = Field("text", description="field (or list of fields) to check")
    max_hash_ratio: float | None = Field(0.1, ge=0, description="max '#' characters per word")
    max_ellipsis_ratio: float | None = Field(0.1, ge=0, description="max ellipses ('...', '…') per word")
    max_bullet_lines: float | None = Field(
        0.9, ge=0, le=1, description="max fraction of lines starting with a bullet"
    )
    max_ellipsis_lines: float | None = Field(
        0.3, ge=0, le=1, description="max fraction of lines ending with an ellipsis"
    )
    min_alpha_words: float | None = Field(
        0.8, ge=0, le=1, description="min fraction of words containing a letter"
    )
    min_mean_word_length: float | None = Field(3, ge=0, description="min mean word length (chars)")
    max_mean_word_length: float | None = Field(10, ge=0, description="max mean word length (chars)")
    min_words: int = Field(
        10, ge=0, description="texts with fewer words are not judged (ratios are noise there)"
    )
    min_stop_words: int = Field(
        0, ge=0, description="min count of Gopher stop words (Gopher: 2; 0 = off for short answers)"
    )
    bullets: list[str] = Field(
        default_factory=lambda: list(UNICODE_BULLETS),
        description="line prefixes counted as bullets (add '-', '*' to count Markdown lists)",
    )


def _ratio(count: int, total: int) -> float:
    return count / total if total else 0.0


@register_step("symbol_filter")
class SymbolFilter(FilterStep):
    """Drops texts that look like symbol soup, link lists or truncated snippets (Gopher).

    The rules and their defaults (the paper's) are in the module docstring; tuned for web
    pages, so loosen them for math working or code.

    Input columns: `text_field` (str, or a list of fields; every one is checked).
    Output columns: none: marks records dropped.
    Drop reasons: ``symbol_ratio``, ``bullet_lines``, ``ellipsis_lines``, ``non_alpha_words``,
    ``mean_word_length``, ``few_stop_words`` (details: the field and the value),
    ``missing_text``, ``not_text``.
    References: Rae et al. (2021), "Scaling Language Models: Methods, Analysis & Insights from
    Training Gopher", arXiv:2112.11446, appendix A.1.1.
    """

    Config = SymbolFilterConfig
    cpu_bound = True
    drop_reasons = (
        "symbol_ratio", "bullet_lines", "ellipsis_lines", "non_alpha_words", "mean_word_length",
        "few_stop_words", "missing_text", "not_text",
    )  # fmt: skip

    def input_columns(self) -> set[str]:
        return set(field_names(self.config.text_field))

    def output_columns(self) -> set[str]:
        return set()

    def keep(self, record: Record) -> FilterResult:
        return check_fields(record, self.config.text_field, self.check)

    def check(self, text: str) -> FilterResult:
        """The verdict for one text."""
        words = [s for s in (w.strip(_PUNCTUATION) for w in _LIST_MARKER.sub("", text).split()) if s]
        if not words or len(words) < self.config.min_words:
            return True
        for verdict in (self._symbols(text, words), self._lines(text), self._words(words)):
            if verdict is not True:
                return verdict
        return True

    def _symbols(self, text: str, words: list[str]) -> FilterResult:
        cfg = self.config
        hashes = _ratio(text.count("#"), len(words))
        if cfg.max_hash_ratio is not None and hashes > cfg.max_hash_ratio:
            return False, "symbol_ratio", f"'#' {hashes:.2f} per word > {cfg.max_hash_ratio}"
        ellipses = _ratio(sum(text.count(e) for e in _ELLIPSES), len(words))
        if cfg.max_ellipsis_ratio is not None and ellipses > cfg.max_ellipsis_ratio:
            return False, "symbol_ratio", f"ellipsis {ellipses:.2f} per word > {cfg.max_ellipsis_ratio}"
        return True

    def _lines(self, text: str) -> FilterResult:
        cfg = self.config
        lines = [line.strip() for line in text.split("\n") if line.strip()]
        bullets = tuple(cfg.bullets)
        bullet = _ratio(sum(line.startswith(bullets) for line in lines), len(lines)) if bullets else 0.0
        if cfg.max_bullet_lines is not None and bullet > cfg.max_bullet_lines:
            return False, "bullet_lines", f"{bullet:.2f} > {cfg.max_bullet_lines}"
        ellipsis = _ratio(sum(line.endswith(_ELLIPSES) for line in lines), len(lines))
        if cfg.max_ellipsis_lines is not None and ellipsis > cfg.max_ellipsis_lines:
            return False, "ellipsis_lines", f"{ellipsis:.2f} > {cfg.max_ellipsis_lines}"
        return True

    def _words(self, words: list[str]) -> FilterResult:
        cfg = self.config
        alpha = _ratio(sum(any(c.isalpha() for c in w) for w in words), len(words))
        if cfg.min_alpha_words is not None and alpha < cfg.min_alpha_words:
            return False, "non_alpha_words", f"{alpha:.2f} < {cfg.min_alpha_words}"
        mean = sum(map(len, words)) / len(words)
        if cfg.min_mean_word_length is not None and mean < cfg.min_mean_word_length:
            return False, "mean_word_length", f"{mean:.1f} < {cfg.min_mean_word_length}"
        if cfg.max_mean_word_length is not None and mean > cfg.max_mean_word_length:
            return False, "mean_word_length", f"{mean:.1f} > {cfg.max_mean_word_length}"
        if cfg.min_stop_words:
            stops = sum(w.lower() in GOPHER_STOP_WORDS for w in words)
            if stops < cfg.min_stop_words:
                return False, "few_stop_words", f"{stops} < {cfg.min_stop_words}"
        return True
