"""Does a descriptor word refer to a person? Pattern rules over the words around it.

HolisticBias descriptors are ordinary words ("black", "large", "old", "pan", "poor"), and in
instruction data most of their uses are about pans, files and versions, not people. A match
counts as a mention of a person only when one of these holds:

- **attributive**: a person noun follows, possibly after other descriptors, an age
  ("70-year-old"), an adverb ("very") or a coordination of descriptors ("a deaf and autistic
  child", "a tall, thin man", "Black Americans");
- **predicative**: a person is the subject of a copula before it ("she is deaf", "my
  grandfather is old", "people who are blind", "I'm autistic", "she became blind");
- **nominal**: the descriptor is itself a noun for people ("Muslims", "an immigrant") or is
  used as one after "the" ("the elderly need ...", "the rich get richer").

The word lists live in ``resources/lexicons/person_nouns.json``. False-hit and retained-hit
rates on a hand-written test set are in benchmarks/README.md ("Bias: word sense").
"""

from __future__ import annotations

import importlib.resources
import json
import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PERSON_NOUNS = (
    Path(str(importlib.resources.files("synthpipe") / "resources"))
    / "lexicons"
    / "person_nouns.json"
)

_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['’\-][A-Za-z0-9]+)*|[^\sA-Za-z0-9]")
_AGE = re.compile(r"\d+-years?-old|[a-z]+-years?-old")
_POSSESSIVE = re.compile(r"['’]s$")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Words that may stand between a descriptor and the noun or verb it attaches to.
ADVERBS = _words(
    "very really quite fairly extremely so too rather slightly mostly openly proudly legally fully "
    "partially deeply somewhat also still now both all not never always already increasingly "
    "visibly clearly obviously severely mildly profoundly totally completely"
)
_COORDINATORS = frozenset({"and", "or", ",", "&", "/"})
_COPULAS = _words(
    "is are was were am be been being become becomes became becoming feel feels felt seem seems "
    "seemed look looks looked get gets got getting grow grows grew growing remain remains remained "
    "stay stays stayed"
)
_SUBJECT_PRONOUNS = _words(
    "i you he she we they someone somebody anyone anybody everyone everybody nobody who"
)
_CONTRACTED = _words("i'm you're he's she's we're they're i’m you’re he’s she’s we’re they’re")
_RELATIVE = frozenset({"who", "that", "which"})
_DETERMINERS = _words("a an the every each one this that any no another")
#: After "the" + a nominal adjective, a verb or pronoun shows it is a noun for people.
_NOMINAL_FOLLOWERS = _words(
    "are were have had need needs deserve get got can could should will would must often who "
    "tend face suffer live lose pay"
)
#: After a noun-descriptor, a word that ends its noun phrase.
_PHRASE_ENDERS = _words(
    "from in of who whose with and or is was are were has have had to for at on as by but than "
    "living born named called"
)


@lru_cache(maxsize=1)
def _lexicon() -> dict[str, frozenset[str]]:
    raw = json.loads(PERSON_NOUNS.read_text(encoding="utf-8"))
    nouns = frozenset(w.lower() for w in raw["person_nouns"])
    noun_desc = frozenset(w.lower() for w in raw["noun_descriptors"])
    plurals = frozenset(_plural(w) for w in noun_desc)
    return {"nouns": nouns, "noun_descriptors": noun_desc, "plural_descriptors": plurals,
            "nominal": frozenset(w.lower() for w in raw["nominal_adjectives"])}  # fmt: skip


def _plural(word: str) -> str:
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


@lru_cache(maxsize=1)
def plural_person_descriptors() -> dict[str, str]:
    """``plural -> descriptor key`` for descriptors that are nouns for people (``muslims ->
    muslim``, ``part-timers -> part timer``: keys as the bias module writes them)."""
    return {_plural(w): " ".join(re.split(r"[-\s]+", w)) for w in _lexicon()["noun_descriptors"]}


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    low: str


def tokenize(text: str) -> list[Token]:
    """Words (with inner hyphens and apostrophes) and single punctuation marks, lower-cased."""
    return [Token(m.start(), m.end(), m.group(0).lower()) for m in _TOKEN.finditer(text)]


def _is_person_noun(tok: str) -> bool:
    lex = _lexicon()
    word = _POSSESSIVE.sub("", tok)
    return (
        word in lex["nouns"] or word in lex["plural_descriptors"] or word in lex["noun_descriptors"]
    )


class SenseContext:
    """The tokens of one text and which of them belong to descriptor matches."""

    def __init__(self, text: str, spans: list[tuple[int, int]]):
        self.tokens = tokenize(text)
        self.in_descriptor = [False] * len(self.tokens)
        self.ranges: list[tuple[int, int]] = []
        starts = [t.start for t in self.tokens]
        for start, end in spans:
            i = bisect_left(starts, start)
            j = i
            while j < len(self.tokens) and self.tokens[j].end <= end:
                self.in_descriptor[j] = True
                j += 1
            self.ranges.append((i, j) if j > i else (-1, -1))

    def refers_to_person(self, n: int) -> bool:
        """Whether the ``n``-th descriptor span refers to a person."""
        i, j = self.ranges[n]
        if i < 0:
            return False
        return self._attributive(j) or self._predicative(i) or self._nominal(i, j)

    def _low(self, k: int) -> str:
        return self.tokens[k].low if 0 <= k < len(self.tokens) else ""

    def _skippable(self, k: int) -> bool:
        low = self._low(k)
        return self.in_descriptor[k] or low in ADVERBS or bool(_AGE.fullmatch(low))

    def _attributive(self, j: int) -> bool:
        """A person noun after the descriptor, over at most three modifiers or coordinators."""
        k, skipped, noun_descriptor = j, 0, False
        while k < len(self.tokens) and skipped <= 3:
            low = self._low(k)
            if _is_person_noun(low) and not self.in_descriptor[k]:
                return True
            if self._skippable(k):
                noun_descriptor = self.in_descriptor[k] and _is_person_noun(low)
            elif low in _COORDINATORS and k + 1 < len(self.tokens) and self._skippable(k + 1):
                noun_descriptor = False
            else:  # "a young Muslim." / "a young Muslim from": the noun-descriptor was the head
                return noun_descriptor and (not low[:1].isalnum() or low in _PHRASE_ENDERS)
            k, skipped = k + 1, skipped + 1
        return noun_descriptor and k >= len(self.tokens)

    def _predicative(self, i: int) -> bool:
        """A copula before the descriptor whose subject is a person."""
        k = i - 1
        while k >= 0 and (self._skippable(k) or self._low(k) in _COORDINATORS):
            k -= 1  # "she is deaf and blind", "he is very old"
        low = self._low(k)
        if low in _CONTRACTED:
            return True
        if low == "as" and self._low(k - 1).startswith("identif"):
            k -= 1
        elif low not in _COPULAS:
            return False
        k -= 1
        while k >= 0 and self._low(k) in ADVERBS:
            k -= 1
        if self._low(k) in _RELATIVE:  # "people who are blind"
            k -= 1
        subject = self._low(k)
        return subject in _SUBJECT_PRONOUNS or _is_person_noun(subject)

    def _nominal(self, i: int, j: int) -> bool:
        """The descriptor is a noun for people, or an adjective used as one after "the"."""
        lex = _lexicon()
        word = " ".join(self._low(k) for k in range(i, j))
        after = self._low(j)
        ends = j >= len(self.tokens) or not after[:1].isalnum() or after in _PHRASE_ENDERS
        if word in lex["noun_descriptors"] and ends and self._low(i - 1) in _DETERMINERS:
            return True
        if word in lex["nominal"] and self._low(i - 1) == "the":
            return after in _NOMINAL_FOLLOWERS or (
                j < len(self.tokens) and after in {".", ";", "!", "?"}
            )
        return False


@lru_cache(maxsize=1)
def _plural_pattern() -> re.Pattern[str]:
    forms = sorted(plural_person_descriptors(), key=lambda w: (-len(w), w))
    return re.compile(
        r"(?<![\w-])(?:" + "|".join(map(re.escape, forms)) + r")(?![\w-])", re.IGNORECASE
    )


def plural_mentions(text: str) -> list[str]:
    """Descriptors that appear as plural nouns for people ("Muslims", "immigrants")."""
    plurals = plural_person_descriptors()
    return [plurals[m.group(0).lower()] for m in _plural_pattern().finditer(text)]
