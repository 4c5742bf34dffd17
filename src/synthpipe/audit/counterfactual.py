"""Counterfactual gender swaps for probing a generator or a judge.

``swap_gender`` rewrites a text with male and female words exchanged (he <-> she, man <-> woman,
father <-> mother, ...; pairs from ``resources/lexicons/gendered_terms.json``) and first names
exchanged with their paired name of the other typical gender (``names_gender.json``:
``male[i] <-> female[i]``). Comparing a model's output or score on the original and the swap is
the counterfactual-fairness probe of e.g. Lu et al. 2020 ("Gender Bias in Neural Natural Language
Processing", counterfactual data augmentation) and HELM's perturbation-based fairness (Liang et
al. 2022).

Ambiguity of "her": it maps to "his" (possessive) or "him" (object). Heuristic: "her" becomes
"his" when the next token is a word that is not a function word (article, preposition,
conjunction, auxiliary, pronoun, adverb like "up"/"back"); otherwise (end of text, punctuation,
or a function word) it becomes "him". So "her car" -> "his car", "saw her." -> "saw him.",
"gave her the book" -> "gave him the book", but "told her stories" -> "told his stories".
For the male->female direction "his" always becomes "her" (so "the book is his" -> "her").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from synthpipe.audit.bias import load_gendered_terms, load_names

_TOKEN = re.compile(r"[A-Za-z]+")
_NEXT_WORD = re.compile(r"\s+([A-Za-z]+)")

# After "her", these suggest the object reading ("him").
_OBJECT_CONTEXT = frozenset(
    [
        "a",
        "an",
        "the",
        "this",
        "that",
        "these",
        "those",
        "some",
        "any",
        "every",
        "each",
        "no",
        "all",
        "both",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "from",
        "by",
        "about",
        "as",
        "into",
        "onto",
        "over",
        "under",
        "up",
        "down",
        "out",
        "off",
        "back",
        "away",
        "through",
        "around",
        "after",
        "before",
        "again",
        "too",
        "also",
        "here",
        "there",
        "now",
        "then",
        "today",
        "yesterday",
        "tomorrow",
        "and",
        "or",
        "but",
        "nor",
        "so",
        "yet",
        "if",
        "when",
        "while",
        "because",
        "than",
        "though",
        "although",
        "until",
        "unless",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "will",
        "would",
        "can",
        "could",
        "shall",
        "should",
        "may",
        "might",
        "must",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "not",
        "never",
        "just",
        "only",
        "very",
        "really",
        "i",
        "me",
        "you",
        "he",
        "him",
        "she",
        "her",
        "it",
        "we",
        "us",
        "they",
        "them",
        "my",
        "your",
        "our",
        "their",
        "its",
        "what",
        "who",
        "whom",
        "which",
        "where",
        "how",
        "why",
    ]
)


def _match_case(src: str, word: str) -> str:
    if src.isupper() and len(src) > 1:
        return word.upper()
    if src[0].isupper():
        return word[0].upper() + word[1:]
    return word


@lru_cache(maxsize=1)
def _maps() -> tuple[dict[str, str], dict[str, str]]:
    """(lower-case word map, name map). First pair listed wins when a word repeats."""
    words: dict[str, str] = {}
    for m, f in load_gendered_terms()["pairs"]:
        words.setdefault(m, f)
    for m, f in load_gendered_terms()["pairs"]:
        words.setdefault(f, m)
    names = load_names()
    name_map = {}
    for m, f in zip(names["male"], names["female"], strict=False):
        name_map.setdefault(m, f)
        name_map.setdefault(f, m)
    return words, name_map


def _her(text: str, end: int) -> str:
    nxt = _NEXT_WORD.match(text, end)
    if nxt and nxt.group(1).lower() not in _OBJECT_CONTEXT:
        return "his"
    return "him"


def swap_gender(text: str) -> str:
    """Swap gendered words, pronouns and lexicon first names, preserving case.

    Case: ALL-CAPS stays all-caps, Capitalised stays capitalised, else lower-case. Names swap
    only when written capitalised. See the module docstring for the "her" heuristic.
    """
    words, names = _maps()

    def repl(m: re.Match[str]) -> str:
        tok = m.group(0)
        low = tok.lower()
        if low == "her":
            return _match_case(tok, _her(text, m.end()))
        if low in words:
            return _match_case(tok, words[low])
        if tok[0].isupper() and tok.capitalize() in names:
            return _match_case(tok, names[tok.capitalize()])
        return tok

    return _TOKEN.sub(repl, text)


def counterfactual_pairs(
    records: Iterable[Mapping[str, Any]], field: str, only_changed: bool = True
) -> list[tuple[str, str]]:
    """``(original, swapped)`` for ``record[field]`` of each record (string fields only).

    With ``only_changed`` (default) records whose text has nothing to swap are dropped, since they
    cannot probe anything. Records missing ``field`` or with a non-string value are skipped.
    """
    out = []
    for rec in records:
        value = rec.get(field)
        if not isinstance(value, str):
            continue
        swapped = swap_gender(value)
        if swapped != value or not only_changed:
            out.append((value, swapped))
    return out
