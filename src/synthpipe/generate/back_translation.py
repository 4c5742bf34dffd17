"""Back-translation round trip: translate each translation back and score it against its source.

Back-translation (Sennrich, Haddow and Birch 2016) turns target-language text into source
language text with a reverse model; used as a check, a translation whose back-translation no
longer says what the source said has probably lost meaning (round-trip consistency, as in the
filtering of machine-translated instruction data). The survey of synthetic data for language
models names back-translation among the ways synthetic data serves multilingual learning
(Liu et al. 2024).

For every record the ``translate`` step made (it has ``source_text`` and a ``language`` other
than ``source_language``), each translated field is translated back into the source language
(same prompt template and sentinel protection as ``translate``), and chrF (Popović 2015,
sacreBLEU's sentence chrF, :mod:`synthpipe.text.chrf`) is computed between the source text and
the round trip, both without their protected spans: code, numbers and placeholders come back
verbatim by construction and would only inflate the score. The record's score is the lowest
of its fields (one mistranslated field spoils the record); below `min_chrf` the record is
dropped with ``round_trip_low`` (detail: the score, the threshold, each field's score and its
round trip). A sentinel lost on the way back is not a drop of its own: the span is missing from
the round trip, which lowers the score. Records that are not translations pass untouched.

The default threshold of 40 is a starting point, not a calibration: on a faithful translation
of a short instruction the round trip paraphrases (chrF 50-80 is common); an untranslated,
truncated or off-topic reply falls far below. Measure it on your model and languages.

Input: ``source_text``, ``source_language``, ``language``. Output: ``round_trip_chrf`` (the
record's score; null when no field has prose), ``round_trip`` (path -> {text, chrf}).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from pydantic import Field

from synthpipe.data.records import ID, Record, add_lineage, drop
from synthpipe.generate.protected_spans import prose
from synthpipe.generate.task import LLMTask, ParseError, failure, record_seed
from synthpipe.generate.translate import TranslationConfig, Translator, _model
from synthpipe.llm.types import LLMError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepContext
from synthpipe.text.chrf import chrf, identity
from synthpipe.text.record_paths import get_path


class RoundTripConfig(TranslationConfig):
    min_chrf: float = Field(40.0, ge=0, le=100, description="drop records whose lowest field chrF (0-100) is below this")
    source_text_field: str = Field("source_text", description="field holding path -> source text (set by translate)")


@register_step("round_trip")
class RoundTrip(Translator, LLMTask):
    """Back-translate each translated field and drop records whose chrF against the source is low.

    Records the ``translate`` step made are translated back into their source language; chrF
    between source and round trip (protected spans left out) scores each field, and the lowest
    field score is the record's. Other records pass untouched.

    Input columns: ``source_text`` (`source_text_field`), ``source_language``, ``language``
    (`language_field`).
    Output columns: ``round_trip_chrf`` (0-100), ``round_trip`` (path -> text and chrF).
    Drop reasons: ``round_trip_low`` (detail: score, threshold, per-field scores and round
    trips), ``llm_error``, ``truncated``, ``parse_error``.
    References: Sennrich, Haddow and Birch (2016), "Improving Neural Machine Translation Models
    with Monolingual Data", ACL 2016; Popović (2015), "chrF: character n-gram F-score for
    automatic MT evaluation", WMT 2015.
    """

    Config = RoundTripConfig
    config: RoundTripConfig
    template_file: ClassVar[str] = "translate.jinja2"
    requires = ("sacrebleu",)
    drop_reasons = ("round_trip_low", "llm_error", "truncated", "parse_error")

    def input_columns(self) -> set[str]:
        return {self.config.source_text_field, "source_language", self.config.language_field}

    def output_columns(self) -> set[str]:
        return {"round_trip_chrf", "round_trip"}

    def fingerprint_extra(self, env: dict[str, Any]) -> Any:
        return {**super().fingerprint_extra(env), "chrf": identity()}

    def format_input(self, record: Record) -> list:
        sources = record.get(self.config.source_text_field) or {}
        path = next(iter(sources), "")
        text = str(get_path(record, path) or "")
        cfg = self.config
        target, lang = str(record.get("source_language") or cfg.source_language), str(record.get(cfg.language_field))
        return self.render(text=text, n_sentinels=0, source=lang, target=target, source_name=cfg.name(lang),
                           target_name=cfg.name(target), config=cfg)  # fmt: skip

    async def _one(self, record: Record, ctx: StepContext) -> list[Record]:
        cfg = self.config
        sources = record.get(cfg.source_text_field)
        lang, back_to = record.get(cfg.language_field), record.get("source_language")
        if not isinstance(sources, dict) or not sources or not back_to or lang == back_to:
            return []  # not a translation: nothing to check
        paths = list(sources)
        seed = record_seed(ctx.seed, ctx.name, record.get(ID))
        results = await asyncio.gather(
            *(self.translate_text(ctx, str(get_path(record, p) or ""), str(lang), str(back_to),
                                  record_seed(ctx.seed, f"{ctx.name}:{p}", record.get(ID)), strict=False)
              for p in paths),
            return_exceptions=True,
        )  # fmt: skip
        trips: dict[str, dict[str, Any]] = {}
        for path, result in zip(paths, results, strict=True):
            if isinstance(result, (LLMError, ParseError)):
                reason, detail = failure(result)
                drop(record, ctx.name, reason, {"field": path, "problem": detail})
                return []
            if isinstance(result, BaseException):
                raise result
            reference = prose(str(sources[path]), tuple(cfg.protect))
            score = chrf(prose(str(result), tuple(cfg.protect)), reference) if reference else None
            trips[path] = {"text": result, "chrf": None if score is None else round(score, 2)}
        scores = [t["chrf"] for t in trips.values() if t["chrf"] is not None]
        score = min(scores) if scores else None  # only code or numbers: nothing to compare
        record.update(round_trip_chrf=score, round_trip=trips)
        add_lineage(record, **{ctx.name: {**self.lineage(ctx, seed), "model": _model(ctx, cfg.llm),
                                          "back_to": back_to}})  # fmt: skip
        if score is not None and score < cfg.min_chrf:
            drop(record, ctx.name, "round_trip_low", {"chrf": score, "threshold": cfg.min_chrf, "fields": trips})
        return []
