"""Languages of a dataset: per-language counts and language mixing, and its signature row.

Multilingual data goes wrong in two quiet ways: a record labelled German whose output stayed
English (the translator gave up on a field), and text that switches language mid-way (half a
sentence translated). :func:`language_report` counts records per language label and checks
every audited text field of every record with the offline langid.py model
(:mod:`synthpipe.text.language`; fenced code, inline code and URLs removed first):

- a field whose confident guess (at least ``field_min_chars`` characters, probability at least
  ``field_min_confidence``, not ``zxx``) is another language than the record's label;
- a segment (a sentence or line of at least ``segment_min_chars`` characters) confidently
  (``segment_min_confidence``) in another language than the label, or, for unlabelled records,
  two such segments in different languages.

Either makes the record *mixed*. :func:`language_mixing_row` judges the mixed share with
:data:`LANGUAGE_MIXING_THRESHOLDS`: amber above 2%, red above 10%. Calibration (this module's
tests and the multilingual recipe): the 175 English Self-Instruct seed tasks labelled ``en``,
checked on instruction, input and output at these settings (segments of 40+ characters at
probability 0.9; shorter or less certain guesses on English mislabel it as
Latin, Dutch or Pidgin, see the language filter's notes) give 3 mixed records (1.7%, green),
each a true finding: Arabic sentences in a dialect task, a list of Italian dishes, a Chinese
answer to a translation task. A set with one record in ten left untranslated in one field is
flagged red. The 2% amber line leaves room for such quotations, names and translation tasks.

Which fields: a record's ``source_text`` keys when it has them (the fields ``translate``
translated; dotted paths reach nested ones), else the `fields` given (the audit passes its text
field and the prompt and response fields).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from synthpipe.importing import missing
from synthpipe.text.language import LanguageGuess, LanguageIdentifier, get_identifier, prose_only
from synthpipe.text.record_paths import get_path, root

#: Language mixing: (amber, red) on the share of mixed records, and the identification settings.
LANGUAGE_MIXING_THRESHOLDS: dict[str, Any] = {
    "mixed_share_above": (0.02, 0.10),
    "field_min_chars": 20,
    "field_min_confidence": 0.5,
    "segment_min_chars": 40,
    "segment_min_confidence": 0.9,
}
SOURCE_TEXT = "source_text"  # path -> source text, written by the translate step
_SEGMENT = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_EXAMPLES = 5


def language_report(
    records: Sequence[dict], language_field: str, fields: Sequence[str] = ("text",)
) -> dict[str, Any]:
    """Per-language counts of `records` (by `language_field`) and the language-mixing check
    on their translated fields, else `fields` (string fields only; an identical text in two
    fields is checked once)."""
    counts = Counter(str(r.get(language_field)) if r.get(language_field) else "unlabelled" for r in records)
    report: dict[str, Any] = {"field": language_field, "n": len(records), "counts": dict(counts.most_common())}
    if missing("py3langid"):
        report["note"] = "language mixing not checked: py3langid is not installed (pip install 'synthpipe[lang]')"
        return report
    identifier = get_identifier()
    by_language: dict[str, dict[str, int]] = {}
    examples: list[dict[str, Any]] = []
    mixed = 0
    for record in records:
        label = record.get(language_field) or None
        texts = dict.fromkeys(v for f in checked_fields(record, fields) if isinstance(v := get_path(record, f), str) and v.strip())
        finding = _mixing(identifier, [t for t in texts], label)
        row = by_language.setdefault(str(label or "unlabelled"), {"n": 0, "mixed": 0})
        row["n"] += 1
        if finding is not None:
            mixed += 1
            row["mixed"] += 1
            if len(examples) < _EXAMPLES:
                examples.append({"id": record.get("id"), "label": label, **finding})
    report.update(checked=len(records), mixed=mixed, mixed_share=mixed / len(records) if records else 0.0,
                  by_language=by_language, examples=examples, identifier=LanguageIdentifier.identity())  # fmt: skip
    return report


def checked_fields(record: dict, fields: Sequence[str]) -> list[str]:
    """The paths checked in `record`: its translated fields (``source_text`` keys), else `fields`."""
    sources = record.get(SOURCE_TEXT)
    return list(sources) if isinstance(sources, dict) and sources else list(fields)


def sample_fields(record: dict, language_field: str) -> dict[str, Any]:
    """What the audit step keeps of a record for this report: the label, ``source_text`` and
    the top-level fields its paths start in."""
    keep = [language_field, SOURCE_TEXT, *(root(p) for p in checked_fields(record, ()))]
    return {k: record[k] for k in keep if k in record}


def _mixing(identifier: LanguageIdentifier, texts: list[str], label: str | None) -> dict[str, Any] | None:
    """Why a record's texts mix languages (the first finding), or None."""
    t = LANGUAGE_MIXING_THRESHOLDS
    seen: set[str] = set()
    for text in texts:
        prose = prose_only(text)
        if label and len(prose) >= t["field_min_chars"]:
            guess = _confident(identifier.identify(prose), t["field_min_confidence"])
            if guess is not None and guess.lang != label:
                return _finding("field not in its label's language", guess, prose)
        for segment in _SEGMENT.split(prose):
            if len(segment.strip()) < t["segment_min_chars"]:
                continue
            guess = _confident(identifier.identify(segment), t["segment_min_confidence"])
            if guess is None:
                continue
            if (label and guess.lang != label) or (not label and seen and guess.lang not in seen):
                return _finding("segment in another language", guess, segment)
            seen.add(guess.lang)
    return None


def _confident(guess: LanguageGuess, floor: float) -> LanguageGuess | None:
    return guess if guess.lang != "zxx" and guess.confidence >= floor else None


def _finding(why: str, guess: LanguageGuess, text: str) -> dict[str, Any]:
    return {"why": why, "detected": guess.lang, "confidence": round(guess.confidence, 3), "text": text[:160]}


def language_mixing_row(audit: dict) -> dict[str, Any]:
    """The ``language mixing`` signature row: green / amber / red on the mixed share, n/a when
    nothing was checked. The value carries the per-language counts."""
    amber, red = LANGUAGE_MIXING_THRESHOLDS["mixed_share_above"]
    threshold = {"mixed_share": f"amber > {amber}, red > {red}"}
    lang = audit.get("languages") or {}
    counts = lang.get("counts") or {}
    per_language = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    if not lang.get("checked"):
        note = lang.get("note") or "No records to check."
        return _row("n/a", {"languages": counts}, threshold, f"Per language: {per_language or 'none'}. {note}")
    share = lang["mixed_share"]
    status = "red" if share > red else "amber" if share > amber else "green"
    value = {"mixed_share": share, "mixed": lang["mixed"], "checked": lang["checked"], "languages": counts}
    text = f"Per language: {per_language}. {lang['mixed']:,} of {lang['checked']:,} records ({share:.1%}) mix languages"
    if lang.get("examples"):
        e = lang["examples"][0]
        text += f", e.g. {e['id']} labelled {e['label'] or 'unlabelled'}: {e['why']} ({e['detected']} {e['confidence']:.2f})"
    return _row(status, value, threshold, text + ".")


def _row(status: str, value: Any, threshold: Any, explanation: str) -> dict[str, Any]:
    return {"name": "language mixing", "status": status, "value": value, "threshold": threshold,
            "explanation": explanation}  # fmt: skip
