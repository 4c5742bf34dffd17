"""``perplexity``: each record's perplexity under a local causal LM, as a score and a filter.

Perplexity-based selection: Wenzek et al. (2020, CCNet) keep web text by its perplexity under
a language model trained on high-quality text (Wikipedia), splitting it into head / middle /
tail; Marion et al. (2023, "When Less is More") prune pretraining data by a reference model's
perplexity and find that keeping the middle of the distribution can beat keeping the
lowest. Hence both bounds: `max_perplexity` drops disfluent or garbled text (and the model's
blind spots), `min_perplexity` drops boilerplate and repeated text the model finds trivially
predictable.

perplexity = exp(mean token cross-entropy) of the text (the `text_field` values joined by
`joiner`), each token predicted from the text before it, the first from the start token (see
:mod:`synthpipe.curate.lm_scores.losses`). Texts longer than `max_length` tokens are scored
on their first `max_length` tokens (a warning in the log says how many). The text is scored
as plain text, without any chat template: use ``ifd`` for a response given its instruction.
Records dropped by a bound keep their score.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from synthpipe.curate.filters.fields import field_names, read_text
from synthpipe.curate.lm_scores.losses import ScoringModel, fit
from synthpipe.curate.lm_scores.step_base import (
    LMScoreConfig,
    LMScoreStep,
    check_range,
    note_truncated,
    out_of_range,
)
from synthpipe.data.records import Batch, Record, drop, is_dropped
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepConfig, StepContext


class PerplexityConfig(LMScoreConfig):
    text_field: str | list[str] = Field(
        "text", description="field (or fields, joined by `joiner`) to score"
    )
    joiner: str = Field("\n", description="joins several text fields into one text")
    output_field: str = Field("perplexity", description="field the perplexity is written to")
    loss_field: str | None = Field(
        None, description="also write the mean token cross-entropy (nats) here"
    )
    max_perplexity: float | None = Field(
        None, gt=0, description="drop records above this (reason high_perplexity)"
    )
    min_perplexity: float | None = Field(
        None, ge=0, description="drop records below this (reason low_perplexity)"
    )


@register_step("perplexity")
class Perplexity(LMScoreStep):
    """Writes each record's perplexity under a local causal LM; optionally drops those outside bounds.

    The model is any local causal LM (default the ``smollm2-135m`` preset); scoring is batched
    and deterministic. See the module docstring for the start token, truncation and bounds.

    Input columns: `text_field` (str, or a list of fields joined by `joiner`; default ``text``).
    Output columns: `output_field` (float, default ``perplexity``); `loss_field` when set
    (float: mean token cross-entropy in nats, log of the perplexity).
    Drop reasons: ``high_perplexity`` (above `max_perplexity`), ``low_perplexity`` (below
    `min_perplexity`; details: the value and the bound), ``missing_text``, ``not_text``,
    ``empty_text`` (no token to score).
    References: Wenzek et al. (2020), "CCNet: Extracting High Quality Monolingual Datasets from
    Web Crawl Data", LREC 2020, arXiv:1911.00359; Marion et al. (2023), "When Less is More:
    Investigating Data Pruning for Pretraining LLMs at Scale", arXiv:2309.04564.
    """

    Config = PerplexityConfig
    config: PerplexityConfig
    drop_reasons = ("high_perplexity", "low_perplexity", "missing_text", "not_text", "empty_text")

    def __init__(self, config: StepConfig | dict[str, Any] | None = None, /, **kwargs: Any):
        super().__init__(config, **kwargs)
        check_range(self.config.min_perplexity, self.config.max_perplexity, "perplexity")

    def input_columns(self) -> set[str]:
        return set(field_names(self.config.text_field))

    def output_columns(self) -> set[str]:
        return {f for f in (self.config.output_field, self.config.loss_field) if f}

    def process(self, batch: Batch, ctx: StepContext) -> Batch:
        texts = [
            (record, text) for record in batch if (text := self._text(record, ctx)) is not None
        ]
        if not texts:
            return batch
        model = self.scorer()
        start, limit = self.start_ids(model), self.max_tokens(model)
        scored, pairs, cut = [], [], 0
        for record, text in texts:
            pair = _pair(model, text, start)
            if pair is None:
                drop(record, ctx.name, "empty_text", "no token to score")
                continue
            context, target, was_cut = fit(*pair, limit)
            scored.append(record)
            pairs.append((context, target))
            cut += was_cut
        note_truncated(ctx, cut, len(pairs), limit, "the start of the text")
        for record, loss in zip(scored, model.losses(pairs, self.config.batch_size), strict=True):
            self._write(record, loss, ctx)
        return batch

    def _text(self, record: Record, ctx: StepContext) -> str | None:
        """The text to score, or None (the record is dropped, or was already)."""
        if is_dropped(record):
            return None
        parts = []
        for name in field_names(self.config.text_field):
            value = read_text(record, name)
            if isinstance(value, tuple):
                drop(record, ctx.name, value[1], value[2])
                return None
            parts.append(value)
        text = self.config.joiner.join(parts)
        if not text.strip():
            drop(record, ctx.name, "empty_text", "blank text")
            return None
        return text

    def _write(self, record: Record, loss: float, ctx: StepContext) -> None:
        cfg = self.config
        value = math.exp(loss)
        record[cfg.output_field] = value
        if cfg.loss_field:
            record[cfg.loss_field] = loss
        verdict = out_of_range(value, cfg.min_perplexity, cfg.max_perplexity, "perplexity")
        if verdict is not None:
            drop(record, ctx.name, *verdict)


def _pair(model: ScoringModel, text: str, start: list[int]) -> tuple[list[int], list[int]] | None:
    """(context, target) for a text scored alone: the start token(s), else its first token."""
    ids = model.encode(text)
    context, target = (start, ids) if start else (ids[:1], ids[1:])
    return (context, target) if target else None
