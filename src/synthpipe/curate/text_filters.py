"""Basic heuristic text filters: empty, non-text, too short, too long, mostly non-letters.

Each rule has a documented default and drops with its own reason, so the funnel tells
which rule removed what. More filters (repetition, refusals, truncation, language) live in
their own modules as they arrive.
"""

from __future__ import annotations

from pydantic import Field

from synthpipe.data.records import Record
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import FilterResult, FilterStep, StepConfig


class TextFilterConfig(StepConfig):
    text_field: str = Field("text", description="field holding the text to check")
    min_words: int = Field(3, ge=0, description="drop texts with fewer whitespace-separated words")
    max_words: int = Field(1000, ge=1, description="drop texts with more words")
    min_chars: int = Field(1, ge=0, description="drop texts shorter than this (after stripping)")
    max_chars: int = Field(20_000, ge=1, description="drop texts longer than this")
    min_alpha_fraction: float = Field(
        0.5, ge=0, le=1, description="drop texts whose non-space characters are less than this fraction letters"
    )


@register_step("text_filter")
class TextFilter(FilterStep):
    """Drops empty, non-string, too short/long, or mostly non-letter texts.

    Each rule has its own drop reason, so the funnel tells which rule removed what.

    Input columns: `text_field` (str, default ``text``).
    Output columns: none: marks records dropped.
    Drop reasons: ``missing_text``, ``not_text``, ``empty``, ``too_short``, ``too_long``
    (details: word and character counts), ``non_alphabetic`` (detail: the letter fraction).
    References: none: a synthpipe technique.
    """

    Config = TextFilterConfig
    drop_reasons = ("missing_text", "not_text", "empty", "too_short", "too_long", "non_alphabetic")

    def input_columns(self) -> set[str]:
        return {self.config.text_field}

    def output_columns(self) -> set[str]:
        return set()

    def keep(self, record: Record) -> FilterResult:
        cfg = self.config
        if cfg.text_field not in record or record[cfg.text_field] is None:
            return False, "missing_text", f"no field {cfg.text_field!r}"
        text = record[cfg.text_field]
        if not isinstance(text, str):
            return False, "not_text", f"{type(text).__name__} value"
        stripped = text.strip()
        if not stripped:
            return False, "empty"
        words = len(stripped.split())
        if len(stripped) < cfg.min_chars or words < cfg.min_words:
            return False, "too_short", f"{words} words, {len(stripped)} chars"
        if len(stripped) > cfg.max_chars or words > cfg.max_words:
            return False, "too_long", f"{words} words, {len(stripped)} chars"
        visible = [c for c in stripped if not c.isspace()]
        alpha = sum(c.isalpha() for c in visible) / len(visible)
        if alpha < cfg.min_alpha_fraction:
            return False, "non_alphabetic", f"{alpha:.2f} letters < {cfg.min_alpha_fraction}"
        return True
