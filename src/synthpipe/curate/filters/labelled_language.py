"""Labelled-language filter: every text field must be in the language its record is labelled with.

The language filter (:mod:`synthpipe.curate.filters.language_filter`) keeps texts in a fixed
list of languages; multilingual data needs a per-record expectation instead: a record the
``translate`` step labelled ``de`` must read as German in each translated field, and one left
in English, or translated into Dutch, is ``wrong_language`` (detail: field, detected language
and probability, expected language). The identification and its confidence rules are the
language filter's (same langid.py model, ``min_chars``, ``min_confidence``, the English-function
word guard, code and URLs stripped first); an uncertain guess (a short answer, a number, code)
keeps the record unless ``on_uncertain: drop``.

Which fields: `text_field` when set (dotted paths such as ``instances.0.output`` reach nested
fields); by default the fields the record's ``source_text`` names (the ones ``translate``
translated), else those of ``instruction``, ``input``, ``output`` and ``text`` it has.
"""

from __future__ import annotations

from pydantic import Field

from synthpipe.curate.filters.fields import TextFields, field_names
from synthpipe.curate.filters.language_filter import LanguageFilter, LanguageFilterConfig
from synthpipe.data.records import Record
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import FilterResult
from synthpipe.text.record_paths import get_path, root

DEFAULT_FIELDS = ("instruction", "input", "output", "text")


class LabelledLanguageConfig(LanguageFilterConfig):
    text_field: TextFields | None = Field(  # type: ignore[assignment]
        None, description="fields to check (dotted paths allowed); default: the translated ones (source_text keys)"
    )
    language_field: str = Field("language", description="field holding the record's expected language code")
    source_text_field: str = Field("source_text", description="field naming the translated fields (set by translate)")
    languages: list[str] = Field([], description="unused: the expected language is the record's label")


@register_step("labelled_language_filter")
class LabelledLanguageFilter(LanguageFilter):
    """Drops records with a text field in another language than the record's ``language`` label.

    Uses the language filter's offline langid.py model and confidence rules; needs
    ``py3langid`` (extra ``lang``). Checks the fields ``translate`` translated unless
    `text_field` names others.

    Input columns: `language_field` (default ``language``) and the checked text fields.
    Output columns: none: marks records dropped.
    Drop reasons: ``wrong_language`` (detail: field, detected language and probability,
    expected language), ``missing_language`` (no label), ``uncertain_language`` (only with
    ``on_uncertain: drop``).
    References: Lui & Baldwin (2012), "langid.py: An Off-the-shelf Language Identification
    Tool", ACL 2012 System Demonstrations.
    """

    Config = LabelledLanguageConfig
    config: LabelledLanguageConfig
    drop_reasons = ("wrong_language", "missing_language", "uncertain_language")

    def input_columns(self) -> set[str]:
        cfg = self.config
        named = field_names(cfg.text_field) if cfg.text_field is not None else []
        return {cfg.language_field, *(root(p) for p in named)}

    def fields_of(self, record: Record) -> list[str]:
        """The paths checked in `record`."""
        cfg = self.config
        if cfg.text_field is not None:
            return field_names(cfg.text_field)
        sources = record.get(cfg.source_text_field)
        if isinstance(sources, dict) and sources:
            return list(sources)
        return [f for f in DEFAULT_FIELDS if isinstance(record.get(f), str)]

    def keep(self, record: Record) -> FilterResult:
        expected = record.get(self.config.language_field)
        if not isinstance(expected, str) or not expected:
            return False, "missing_language", f"no language code in {self.config.language_field!r}"
        self._identifier()
        for path in self.fields_of(record):
            text = get_path(record, path)
            if not isinstance(text, str) or not text.strip():
                continue  # nothing to identify (an empty input)
            guess = self.guess(text)
            if guess is None:
                verdict = self._uncertain(path)
                if verdict is not True:
                    return verdict
            elif guess.lang != expected:
                return False, "wrong_language", f"{path}: detected {guess.lang} {guess.confidence:.2f}, expected {expected}"
        return True
