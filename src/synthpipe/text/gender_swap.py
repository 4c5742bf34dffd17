"""Gendered words: the bundled lexicons, counting them per group, and counterfactual swaps.

Shared by the audit (counting, the counterfactual probe) and curation (counterfactual data
augmentation, rebalancing), so that both count a gendered word the same way.

``swap_gender`` rewrites a text with male and female words exchanged (he <-> she, man <-> woman,
father <-> mother, ...; pairs from ``resources/lexicons/gendered_terms.json``) and first names
exchanged with their paired name of the other typical gender (``names_gender.json``:
``male[i] <-> female[i]``). This is the swap of counterfactual data augmentation, Lu et al. 2020
("Gender Bias in Neural Natural Language Processing"), also used as HELM's perturbation-based
fairness probe (Liang et al. 2022). English has one ambiguous form: Zmigrod et al. 2019
("Counterfactual Data Augmentation for Mitigating Gender Stereotypes in Languages with Rich
Morphology") show that a swap must keep the sentence grammatical; here that is the case of "her".

Ambiguity of "her": it maps to "his" (possessive) or "him" (object). Heuristic: "her" becomes
"his" when the next token is a word that is not a function word (article, preposition,
conjunction, auxiliary, pronoun, adverb like "up"/"back"); otherwise (end of text, punctuation,
or a function word) it becomes "him". So "her car" -> "his car", "saw her." -> "saw him.",
"gave her the book" -> "gave him the book", but "told her stories" -> "told his stories".
For the male->female direction "his" always becomes "her" (so "the book is his" -> "her").
"""

from __future__ import annotations

import importlib.resources
import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

_RES = Path(str(importlib.resources.files("synthpipe") / "resources"))
GENDERED_TERMS = _RES / "lexicons" / "gendered_terms.json"
NAMES_GENDER = _RES / "lexicons" / "names_gender.json"
GROUPS = ("male", "female")

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


# -- lexicons ---------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def load_gendered_terms() -> dict[str, Any]:
    """The bundled gendered-terms lexicon (pairs, pronouns, professions, adjectives)."""
    return json.loads(GENDERED_TERMS.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def load_names() -> dict[str, list[str]]:
    """The bundled hand-written first-name lexicon: ``{"male": [...], "female": [...]}``."""
    raw = json.loads(NAMES_GENDER.read_text(encoding="utf-8"))
    return {"male": raw["male"], "female": raw["female"]}


# -- counting ---------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def gender_words() -> dict[str, dict[str, frozenset[str]]]:
    """``{"pronouns" | "terms" | "names": {group: words}}``; terms exclude the pronouns."""
    lex = load_gendered_terms()
    pron = {g: frozenset(lex["pronouns"][g]) for g in GROUPS}
    terms = {
        "male": frozenset(a for a, _ in lex["pairs"]) - pron["male"],
        "female": frozenset(b for _, b in lex["pairs"]) - pron["female"],
    }
    names = {g: frozenset(n) for g, n in load_names().items()}
    return {"pronouns": pron, "terms": terms, "names": names}


def gender_hits(text: str) -> dict[str, Counter[str]]:
    """Per group, a Counter of matched words (lower-cased terms/pronouns, names as written)."""
    gw = gender_words()
    hits: dict[str, Counter[str]] = {g: Counter() for g in GROUPS}
    for tok in _TOKEN.findall(text):
        low = tok.lower()
        for g in GROUPS:
            if low in gw["pronouns"][g] or low in gw["terms"][g]:
                hits[g][low] += 1
            elif tok[0].isupper() and tok.capitalize() in gw["names"][g]:
                hits[g][tok.capitalize()] += 1
    return hits


def gender_word_counts(text: str, include_names: bool = False) -> dict[str, int]:
    """``{"male": n, "female": n}``: the gendered words the audit's demographic representation
    counts (terms and pronouns; names too with ``include_names``)."""
    names = gender_words()["names"]
    return {
        g: sum(n for w, n in c.items() if include_names or w not in names[g])
        for g, c in gender_hits(text).items()
    }


# -- swapping ---------------------------------------------------------------------------------
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
    pairs = load_gendered_terms()["pairs"]
    for m, f in pairs:
        words.setdefault(m, f)
    for m, f in pairs:
        words.setdefault(f, m)
    names = load_names()
    name_map: dict[str, str] = {}
    for m, f in zip(names["male"], names["female"], strict=False):
        name_map.setdefault(m, f)
        name_map.setdefault(f, m)
    return words, name_map


def _her(text: str, end: int) -> str:
    nxt = _NEXT_WORD.match(text, end)
    if nxt and nxt.group(1).lower() not in _OBJECT_CONTEXT:
        return "his"
    return "him"


def swap_gender_with_changes(text: str, names: bool = True) -> tuple[str, list[tuple[str, str]]]:
    """:func:`swap_gender` and the ``(word, replacement)`` pairs it made, in text order."""
    words, name_map = _maps()
    changes: list[tuple[str, str]] = []

    def repl(m: re.Match[str]) -> str:
        tok = m.group(0)
        low = tok.lower()
        if low == "her":
            new = _match_case(tok, _her(text, m.end()))
        elif low in words:
            new = _match_case(tok, words[low])
        elif names and tok[0].isupper() and tok.capitalize() in name_map:
            new = _match_case(tok, name_map[tok.capitalize()])
        else:
            return tok
        changes.append((tok, new))
        return new

    return _TOKEN.sub(repl, text), changes


def swap_gender(text: str, names: bool = True) -> str:
    """Swap gendered words, pronouns and (with ``names``) lexicon first names, preserving case.

    Case: ALL-CAPS stays all-caps, Capitalised stays capitalised, else lower-case. Names swap
    only when written capitalised. See the module docstring for the "her" heuristic.
    """
    return swap_gender_with_changes(text, names)[0]
