"""Translate instruction data field by field, with code, placeholders and numbers kept intact.

Translating existing instruction data is one of the ways the survey of synthetic data for
language models lists for multilingual learning (Liu et al. 2024, "Best Practices and Lessons
Learned on Synthetic Data", COLM 2024), next to back-translation (Sennrich et al. 2016, see
:mod:`synthpipe.generate.back_translation`). Bactrian-X (Li et al. 2023) built a 52-language
instruction set this way: the Alpaca and Dolly instructions and inputs machine-translated,
then answered in each language.

Each configured field (a dotted path such as ``instances.0.output`` reaches nested fields) is
translated on its own request, into every target language. Before a text is sent, its code
blocks, inline code, placeholders (``{name}``, ``{{x}}``, ``%s``), tags, URLs and numbers are
swapped for sentinel tokens (:mod:`synthpipe.generate.protected_spans`); after the reply they
are put back, and a reply that lost, repeated or invented a sentinel drops that language's
record with ``translation_lost_placeholder`` (detail: language, field and which span). A field
that is empty, or only protected spans (code, a number), is copied without a request. A text
without a blank line is asked for with a blank line as stop sequence: models append notes
("The text is written in German.") after one, and small ones repeat the translation.

One record per target language, not one field per language: every language version keeps the
field names downstream steps, filters, dedup, audits and training exports already read, gets
its own lineage and its own drop reason (one bad German translation does not cost the French
one), and per-language counts are a group-by on ``language``. Ids are ``<source id>~<lang>``
(deterministic); the source record passes on labelled with the source language
(``keep_source``, default), or leaves the run as ``translated`` (in the ledger, never lost).

Input columns: the `fields` (their top-level names). Output columns, on each translation: the
fields (translated in place), ``language`` (`language_field`, the target), ``source_language``,
``source_id``, ``source_text`` (path -> the source text of each translated field, for the round
trip). ``_lineage[<step>]`` has model, template hash, seed, source id, source and target
language.

References: Li, Koto, Wu, Aji and Baldwin (2023), "Bactrian-X: Multilingual Replicable
Instruction-Following Models with Low-Rank Adaptation", arXiv:2305.15011. Sennrich, Haddow and
Birch (2016), "Improving Neural Machine Translation Models with Monolingual Data", ACL 2016.
Liu et al. (2024), "Best Practices and Lessons Learned on Synthetic Data", arXiv:2404.07503.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from synthpipe.data.records import ID, LINEAGE, Record, drop
from synthpipe.generate.parsing import strip_preamble, strip_quotes, unwrap_fence
from synthpipe.generate.protected_spans import KINDS, protect, restore
from synthpipe.generate.task import LLMTask, LLMTaskConfig, ParseError, failure, record_seed
from synthpipe.llm.types import LLMError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepContext
from synthpipe.text.record_paths import get_path, root, set_path

#: ISO 639-1 codes -> the language names prompts use; `language_names` adds or replaces.
LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic", "bn": "Bengali", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "fa": "Persian", "fi": "Finnish", "fr": "French",
    "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian",
    "ja": "Japanese", "ko": "Korean", "nl": "Dutch", "no": "Norwegian", "pl": "Polish",
    "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sv": "Swedish", "sw": "Swahili",
    "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip
Kind = Literal["code", "urls", "placeholders", "tags", "numbers"]
LOST = "translation_lost_placeholder"


class TranslationConfig(LLMTaskConfig):
    """Options shared by translation and its round trip."""

    source_language: str = Field("en", description="language code of the source texts")
    language_field: str = Field("language", description="field holding each record's language code")
    language_names: dict[str, str] = Field({}, description="code -> name used in prompts, adding to the bundled ones")
    protect: list[Kind] = Field(list(KINDS), description="spans swapped for sentinels and restored: " + ", ".join(KINDS))
    temperature: float = Field(0.0, ge=0, le=2, description="sampling temperature (translation: greedy)")
    max_tokens: int = Field(1024, ge=1, description="longest reply (a translation is about as long as its source)")

    def name(self, code: str) -> str:
        return self.language_names.get(code) or LANGUAGE_NAMES.get(code) or code


class TranslateConfig(TranslationConfig):
    fields: list[str] = Field(
        ["instruction", "input", "output"], min_length=1,
        description="fields to translate (dotted paths reach nested ones: instances.0.output); absent ones are skipped",
    )  # fmt: skip
    languages: list[str] = Field(min_length=1, description="target language codes, one record each (e.g. [de, es, fr])")
    keep_source: bool = Field(True, description="keep the source record (labelled source_language); false: it leaves as `translated`")

    @field_validator("languages")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"languages repeat: {value}")
        return value


class Translator:
    """One text through the LLM: protect spans, prompt, clean the reply, restore the spans."""

    config: TranslationConfig

    async def translate_text(
        self, ctx: StepContext, text: str, source: str, target: str, seed: int, *, strict: bool = True
    ) -> str:
        """`text` in `target`. Raises LLMError, or ParseError: ``parse_error`` for an empty
        reply, ``translation_lost_placeholder`` (with `strict`) for a lost protected span."""
        cfg = self.config
        protected = protect(text, tuple(cfg.protect))
        if not protected.has_prose:
            return text  # only code, numbers or placeholders: nothing to translate
        messages = self.render(text=protected.text, n_sentinels=len(protected.spans), source=source, target=target,  # type: ignore[attr-defined]
                               source_name=cfg.name(source), target_name=cfg.name(target), config=cfg)  # fmt: skip
        # a one-paragraph text ends at a blank line: what follows is commentary ("Note: ...")
        stop = {} if "\n\n" in protected.text else {"stop": ["\n\n"]}
        reply, _raw = await self.ask(ctx, messages, seed, **stop)  # type: ignore[attr-defined]
        cleaned = clean_translation(str(reply), protected.text)
        restored, problems = restore(cleaned, protected.spans)
        if problems and strict:
            raise ParseError(LOST, "; ".join(problems))
        return restored


@register_step("translate")
class Translate(Translator, LLMTask):
    """Translate each record's fields into every target language, one record per language.

    Code, placeholders, tags, URLs and numbers are protected by sentinel tokens and restored;
    a reply that loses one drops that language's record. Ids are ``<id>~<lang>``; the source
    record passes on labelled with `source_language` (`keep_source`).

    Input columns: the `fields` (top-level names; dotted paths reach nested values).
    Output columns: the `fields` (translated), ``language`` (`language_field`),
    ``source_language``, ``source_id``, ``source_text`` (path -> source text).
    Drop reasons: ``translation_lost_placeholder`` (detail: language, field, lost span),
    ``llm_error``, ``truncated``, ``parse_error`` (an empty reply), ``missing_input`` (no field
    to translate), ``translated`` (the source record, with ``keep_source: false``).
    References: Li et al. (2023), "Bactrian-X: Multilingual Replicable Instruction-Following
    Models with Low-Rank Adaptation", arXiv:2305.15011; Sennrich et al. (2016), "Improving
    Neural Machine Translation Models with Monolingual Data", ACL 2016; Liu et al. (2024),
    "Best Practices and Lessons Learned on Synthetic Data", arXiv:2404.07503.
    """

    Config = TranslateConfig
    config: TranslateConfig
    template_file: ClassVar[str] = "translate.jinja2"
    drop_reasons = (LOST, "llm_error", "truncated", "parse_error", "missing_input", "translated")

    def input_columns(self) -> set[str]:
        return {root(path) for path in self.config.fields}

    def output_columns(self) -> set[str]:
        cfg = self.config
        return {*self.input_columns(), cfg.language_field, "source_language", "source_id", "source_text"}

    @property
    def outputs_per_record(self) -> float:  # type: ignore[override]  # for --dry-run estimates
        return len(self.config.languages) + int(self.config.keep_source)

    def estimate_requests(self, n_records: int | None) -> int:
        return (n_records or 0) * len(self.config.languages) * len(self.config.fields)

    def format_input(self, record: Record) -> list:
        """The first request: the first field into the first language (for --dry-run)."""
        cfg = self.config
        text = next((str(v) for p in cfg.fields if (v := get_path(record, p))), "")
        protected = protect(text, tuple(cfg.protect))
        target = cfg.languages[0]
        return self.render(text=protected.text, n_sentinels=len(protected.spans), source=cfg.source_language,
                           target=target, source_name=cfg.name(cfg.source_language), target_name=cfg.name(target),
                           config=cfg)  # fmt: skip

    # -- the step ---------------------------------------------------------------------------
    async def _one(self, record: Record, ctx: StepContext) -> list[Record]:
        cfg = self.config
        texts = {p: v for p in cfg.fields if isinstance(v := get_path(record, p), str) and v.strip()}
        if not texts:
            drop(record, ctx.name, "missing_input", f"no text in any of {cfg.fields}")
            return []
        source = dict(record)
        outcomes = await asyncio.gather(*(self._language(source, texts, lang, ctx) for lang in cfg.languages))
        made = [self._record(source, texts, lang, seed, fields, problem, ctx)
                for lang, seed, fields, problem in outcomes]  # fmt: skip
        record[cfg.language_field] = cfg.source_language
        if not cfg.keep_source:
            drop(record, ctx.name, "translated", f"replaced by its translations {[r[ID] for r in made]}")
        return made

    async def _language(
        self, record: Record, texts: dict[str, str], lang: str, ctx: StepContext
    ) -> tuple[str, int, dict[str, str], tuple[str, Any] | None]:
        """(language, seed, path -> translation, (reason, detail) if it failed)."""
        seed = record_seed(ctx.seed, f"{ctx.name}:{lang}", record.get(ID))
        paths = list(texts)
        results = await asyncio.gather(
            *(self.translate_text(ctx, texts[p], self.config.source_language, lang,
                                  record_seed(ctx.seed, f"{ctx.name}:{lang}:{p}", record.get(ID))) for p in paths),
            return_exceptions=True,
        )  # fmt: skip
        for path, result in zip(paths, results, strict=True):
            if isinstance(result, (LLMError, ParseError)):
                reason, detail = failure(result)
                return lang, seed, {}, (reason, {"language": lang, "field": path, "problem": detail})
            if isinstance(result, BaseException):
                raise result
        return lang, seed, dict(zip(paths, results, strict=True)), None  # type: ignore[arg-type]

    def _record(self, source: Record, texts: dict[str, str], lang: str, seed: int, fields: dict[str, str],
                problem: tuple[str, Any] | None, ctx: StepContext) -> Record:  # fmt: skip
        cfg = self.config
        made = copy.deepcopy({k: v for k, v in source.items() if k != LINEAGE})
        made[ID] = f"{source[ID]}~{lang}"
        made[LINEAGE] = dict(source.get(LINEAGE) or {})
        for path, text in fields.items():
            set_path(made, path, text)
        made.update({cfg.language_field: lang, "source_language": cfg.source_language, "source_id": source[ID],
                     "source_text": dict(texts)})  # fmt: skip
        made[LINEAGE][ctx.name] = {**self.lineage(ctx, seed), "model": _model(ctx, cfg.llm), "source_id": source[ID],
                                   "source_language": cfg.source_language, "target_language": lang}  # fmt: skip
        if problem is not None:
            drop(made, ctx.name, *problem)
        return made


def clean_translation(reply: str, source: str = "") -> str:
    """The translation in a reply: no code fence around it, chatty first line or quotes
    (quotes stay when the `source` is quoted too). Raises ParseError (``parse_error``) if
    nothing is left."""
    text = strip_preamble(unwrap_fence(reply))
    if text.startswith('"""') and text.endswith('"""') and len(text) > 6:
        text = text[3:-3].strip()
    if strip_quotes(source.strip()) == source.strip():
        text = strip_quotes(text)
    if not text:
        raise ParseError("parse_error", f"empty translation: {reply[:300]!r}")
    return text


def _model(ctx: StepContext, llm: str) -> str:
    """The model name behind endpoint `llm` (the endpoint name if the client does not say)."""
    config = getattr(ctx.llm(llm), "config", None)
    return str(getattr(config, "model", llm))
