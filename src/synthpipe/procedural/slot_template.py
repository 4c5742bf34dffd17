"""Slot-template generator: the honest no-LLM, label-conditioned baseline.

It learns templates from a handful of labelled seed examples and fills their slots with other
phrases of the same type, so every output keeps the label of the seed it came from. It needs no
model and no network; the LLM generator comes later, plugs into the same recipe, and has to beat
this baseline to earn its cost.

Algorithm
1. Tokenise each seed on whitespace, splitting off punctuation and clitics (``'s``, ``n't``);
   each token remembers whether a space preceded it, so output keeps the seed's spacing (TREC
   text is pre-tokenised: "What county is Modesto , California in ?").
2. Find slots, spans the seed can vary in without changing its label:
   a. capitalised runs (not at sentence start, not a wh-word or ``I``; ``of``/``the``/``'s``...
      may join them). A run that is a lexicon phrase (matched exactly: lexicon phrases with a
      capital are proper names) takes its category (CITY, PERSON, ...);
      a lone all-caps 2-6 letter token is an ACRONYM; a first name plus surname is a PERSON;
      a run containing lexicon phrases ("St. Louis Browns") keeps only those as slots; any
      other run is a PROPN.
   b. lower-case lexicon phrases (singular or plural, longest first, case-insensitive):
      ANIMAL, FOOD, SPORT, INSTRUMENT, DISEASE, COLOR, PROFESSION, OBJECT, LANDFORM, ...
   c. numbers -> NUM; 4-digit 1000-2099 -> YEAR.
3. A template is the seed's tokens with those slots, keeping its id, label and label_fine.
   Templates whose slots cannot vary ("What is deconstructionism ?" has none) are skipped and
   counted in the ``templates_without_slots`` log message.
4. Fillers for a slot: with probability 0.2 a phrase of the same type found in seeds of the
   same label (when there are any), else the bundled lexicon (`resources/lexicons`, merged with
   the user's `lexicons` file). PROPN takes PROPN spans of same-label seeds or the PROPN_MISC
   lexicon (landmarks, books, films, bands), never person or place lists. NUM gets a random
   number with as many digits, YEAR a random year 1800-2020. Plurals, ``a``/``an`` and
   ``the`` are fixed up around the filler.
5. Labels are spread evenly (``balanced``) or like the seeds (``seed_proportional``) and
   shuffled; each label cycles through its templates in a seeded order, so every template is
   used. This plan (label and template of every record) depends only on (seed, config). It is
   made for ``PLAN_BLOCK`` records at a time (block k has its own seeded shuffle), so memory
   does not grow with ``n`` and a run of any size starts at once. An output equal
   to a seed (ignoring case and spaces) is retried when ``keep_seeds_out``; duplicates among
   outputs are kept on purpose: the downstream exact-dedup step removes them and the funnel
   shows how many.
6. Record ``b*batch_size + j`` comes from an RNG seeded with (seed, b), so batch ``b`` can be
   made without making the earlier ones (resume skips them for free).
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from synthpipe.data.records import Batch, Record
from synthpipe.data.sampling import label_counts, mix_seed
from synthpipe.data.shards import Shard, row_shards
from synthpipe.errors import StepError, UsageError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import Measure, SourceStep, StepConfig, StepContext

BUNDLED_LEXICON = (
    Path(__file__).resolve().parent.parent / "resources" / "lexicons" / "slot_fillers.json"
)
SEED_FILLER_SHARE = 0.2  # how often a slot takes a phrase seen in same-label seeds
PLAN_BLOCK = 100_000  # records planned at once (a run of at most this many is one block)

_ALIASES = {"PROPN_MISC": "PROPN"}  # lexicon category -> slot type it fills
_UNCOUNTABLE = {"DISEASE", "SPORT", "ELEMENT", "COLOR", "FIELD", "FOOD"}  # no plural forms
_ADJECTIVAL = {"NATIONALITY", "RELIGION", "LANGUAGE"}  # modifiers: never drop "the" for them
_RANDOM_TYPES = {"NUM", "YEAR"}

_STOP = {"I", "What", "Who", "Whom", "Whose", "Where", "When", "Why", "How", "Which", "Name", "OK"}
_WEAK = {"U.S.", "U.S.A.", "US", "USA", "UK", "U.K.", "TV"}  # only inside a longer name
_CONNECTORS = {"of", "the", "de", "da", "di", "del", "du", "la", "le", "van", "von", "'s"}
_PLACE_WORDS = {"Park", "Street", "Avenue", "Bridge", "River", "Bay", "Lake", "Mountain", "Mountains",
                "Island", "Islands", "Hall", "Center", "University", "College", "Company", "Church",
                "Museum", "Hotel", "Airport", "Square", "Building", "Tower", "Valley", "Falls"}  # fmt: skip
_SENTENCE_END = {".", "!", "?"}
_SINGULAR_CUES = {"a", "an", "this", "that", "each", "every", "one", "another"}

_ACRONYM = re.compile(r"^[A-Z]{2,6}$")
_NAME_WORD = re.compile(r"^[A-Z][A-Za-z]*(?:[-'.&][A-Za-z]+)*\.?$")  # not "E=mc2", "P-32"
_INITIALS = re.compile(r"^(?:[A-Z]\.)+$")
_NUMBER = re.compile(r"^\d{1,3}(?:,\d{3})+$|^\d+(?:\.\d+)?$")
_LEAD = "\"'`([{"
_TRAIL = "\"'?!.,;:)]}"
_KEEP_DOT = re.compile(r"^(?:[A-Za-z]\.)+$|^(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Mt|Ft|vs|etc|Inc|Co|Ltd)\.$")
_CLITICS = {"'s", "'re", "'ve", "'ll", "'d", "'m", "'em", "'t", "n't", "'"}
_CLITIC_TAIL = re.compile(r"^(.+?)('s|'re|'ve|'ll|'d|'m|n't)$", re.IGNORECASE)

_IRREGULAR_PLURALS = {
    "child": "children", "man": "men", "woman": "women", "tooth": "teeth", "foot": "feet",
    "mouse": "mice", "goose": "geese", "ox": "oxen", "knife": "knives", "wolf": "wolves",
    "leaf": "leaves", "calf": "calves", "shelf": "shelves", "bookshelf": "bookshelves",
    "thief": "thieves", "potato": "potatoes", "tomato": "tomatoes", "volcano": "volcanoes",
    "tornado": "tornadoes", "mosquito": "mosquitoes", "buffalo": "buffaloes", "cactus": "cacti",
    "fungus": "fungi", "appendix": "appendices", "human": "humans",
}  # fmt: skip
_INVARIANT_PLURALS = {"sheep", "deer", "fish", "moose", "bison", "salmon", "trout", "tuna",
                      "shrimp", "squid", "reindeer", "aircraft", "series", "species"}  # fmt: skip


# -- config ------------------------------------------------------------------------------
class SlotTemplateConfig(StepConfig):
    """Options of the `slot_template` generator."""

    seeds: str = Field(
        description="Seed file (jsonl, csv or parquet) of labelled examples, or a bundled file "
        "such as 'bundled:trec/seeds.jsonl'. Each seed becomes one template."
    )
    text_field: str = Field("text", description="Field of a seed record holding its text.")
    label_field: str = Field("label", description="Field of a seed record holding its label.")
    n: int = Field(2000, gt=0, description="Number of records to generate.")
    per_label: Literal["balanced", "seed_proportional"] = Field(
        "balanced",
        description="'balanced': the same number of records per label; 'seed_proportional': "
        "as many per label as the seeds have, proportionally.",
    )
    lexicons: str | None = Field(
        None,
        description="Optional JSON file {slot_type: [phrases]} merged over the bundled lexicon "
        "(a category named there replaces the bundled one).",
    )
    max_attempts_factor: int = Field(
        20, ge=1, description="Attempts allowed per record before giving up (bounds the run)."
    )
    seed: int | None = Field(None, description="Random seed; defaults to the run's seed.")
    keep_seeds_out: bool = Field(
        True, description="Never emit a text identical to a seed (ignoring case and spaces)."
    )


# -- tokens ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    text: str
    space: bool  # whitespace preceded it in the source


def tokenize(text: str) -> list[Token]:
    """Whitespace tokens with punctuation and clitics split off; spacing is remembered."""
    tokens: list[Token] = []
    for match in re.finditer(r"\S+", text.strip()):
        space = match.start() > 0
        for piece in _split_chunk(match.group()):
            tokens.append(Token(piece, space))
            space = False
    return tokens


def _split_chunk(chunk: str) -> list[str]:
    if chunk.lower() in _CLITICS or not any(c.isalnum() for c in chunk):
        return [chunk]
    i, j = 0, len(chunk)
    while chunk[i] in _LEAD:
        i += 1
    while chunk[j - 1] in _TRAIL and not _KEEP_DOT.match(chunk[i:j]):
        j -= 1
    core = chunk[i:j]
    clitic = _CLITIC_TAIL.match(core)
    middle = [clitic.group(1), clitic.group(2)] if clitic else [core]
    return [p for p in (chunk[:i], *middle, chunk[j:]) if p]


def detokenize(tokens: list[Token]) -> str:
    return "".join((" " if t.space else "") + t.text for t in tokens).strip()


def _norm_key(text: str) -> str:
    """Case- and space-insensitive identity of a text."""
    return "".join(text.lower().split())


def _is_capitalised(tok: str) -> bool:
    letters = sum(c.isalpha() for c in tok)  # single letters ("the E") are not names
    return bool(_NAME_WORD.match(tok)) and letters >= 2 and tok not in _STOP


def _sentence_start(texts: list[str], i: int) -> bool:
    return i == 0 or texts[i - 1] in _SENTENCE_END


def pluralize(phrase: str) -> str:
    """Plural of a lower-case noun phrase (inflects its last word)."""
    head, _, word = phrase.rpartition(" ")
    if word in _IRREGULAR_PLURALS:
        plural = _IRREGULAR_PLURALS[word]
    elif word in _INVARIANT_PLURALS or word.endswith("fish"):
        plural = word
    elif word.endswith("man"):
        plural = word[:-3] + "men"
    elif word.endswith(("s", "x", "z", "ch", "sh")):
        plural = word + "es"
    elif word.endswith("y") and word[-2:-1] not in "aeiou":
        plural = word[:-1] + "ies"
    else:
        plural = word + "s"
    return f"{head} {plural}" if head else plural


# -- lexicon -----------------------------------------------------------------------------
@dataclass(frozen=True)
class LexMatch:
    types: tuple[str, ...]  # categories listing the phrase, in lexicon order
    canonical: str
    plural: bool = False


class Lexicon:
    """Phrases per slot type, indexed by token tuple for longest-match lookup."""

    def __init__(self, categories: dict[str, list[str]]):
        self.phrases: dict[str, list[str]] = {}
        for category, phrases in categories.items():
            bucket = self.phrases.setdefault(_ALIASES.get(category, category), [])
            bucket.extend(p for p in phrases if p not in bucket)
        self.proper: dict[tuple[str, ...], list[LexMatch]] = defaultdict(list)
        self.common: dict[tuple[str, ...], list[LexMatch]] = defaultdict(list)
        for slot_type, phrases in self.phrases.items():
            for phrase in phrases:
                self._index(slot_type, phrase)
        self.max_len = max((len(k) for k in (*self.proper, *self.common)), default=1)
        self._pools: dict[str, list[str]] = {}

    def _index(self, slot_type: str, phrase: str) -> None:
        words = [t.text for t in tokenize(_strip_the(phrase))]
        if any(c.isupper() for c in phrase):
            _add(self.proper, tuple(words), slot_type, phrase, False)
            return
        key = tuple(w.lower() for w in words)
        _add(self.common, key, slot_type, phrase, False)
        if slot_type not in _UNCOUNTABLE:
            _add(self.common, (*key[:-1], pluralize(key[-1])), slot_type, phrase, True)

    def match(self, texts: list[str], i: int, common: bool) -> tuple[int, LexMatch] | None:
        """Longest lexicon phrase starting at token `i`: (end, match)."""
        for end in range(min(len(texts), i + self.max_len), i, -1):
            span = texts[i:end]
            if common:
                if not _lowercase_span(texts, i, end):
                    continue
                found = self.common.get(tuple(w.lower() for w in span))
            else:
                found = self.proper.get(tuple(span))
            if found:
                return end, _merge_matches(found, texts, i)
        return None

    def slot_type(self, types: tuple[str, ...]) -> str:
        """One type, or 'A|B' when a phrase is in several (filled from phrases in all of them)."""
        if len(types) == 1 or len(self.pool("|".join(sorted(types)))) < 2:
            return types[0]
        return "|".join(sorted(types))

    def pool(self, slot_type: str) -> list[str]:
        if slot_type not in self._pools:
            parts = [self.phrases.get(t, []) for t in slot_type.split("|")]
            common = set(parts[0]).intersection(*parts[1:])
            self._pools[slot_type] = [p for p in parts[0] if p in common]
        return self._pools[slot_type]


def _add(index: dict, key: tuple[str, ...], slot_type: str, phrase: str, plural: bool) -> None:
    entries = index[key]
    for k, entry in enumerate(entries):
        if (entry.canonical, entry.plural) == (phrase, plural):  # listed under another category
            if slot_type not in entry.types:
                entries[k] = LexMatch((*entry.types, slot_type), phrase, entry.plural)
            return
    entries.append(LexMatch((slot_type,), phrase, plural))


def _merge_matches(found: list[LexMatch], texts: list[str], i: int) -> LexMatch:
    """One match per span; an invariant noun ('sheep') is plural unless 'a'/'this' precede it."""
    first = found[0]
    if len({m.plural for m in found}) > 1:
        singular = i > 0 and texts[i - 1].lower() in _SINGULAR_CUES
        first = next(m for m in found if m.plural != singular)
    return first


def _lowercase_span(texts: list[str], i: int, end: int) -> bool:
    first_ok = texts[i].islower() or (_sentence_start(texts, i) and texts[i][1:].islower())
    return first_ok and all(t.islower() or not t.isalpha() for t in texts[i + 1 : end])


def _strip_the(phrase: str) -> str:
    return phrase[4:] if phrase.startswith("the ") else phrase


def load_lexicon(user_path: Path | None = None) -> Lexicon:
    """The bundled lexicon, with the categories of `user_path` (if given) replacing its own."""
    categories = _read_lexicon_file(BUNDLED_LEXICON)
    if user_path is not None:
        categories.update(_read_lexicon_file(user_path))
    return Lexicon(categories)


def _read_lexicon_file(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read lexicon file {path}: {exc}") from exc
    valid = isinstance(data, dict) and all(
        isinstance(v, list) and all(isinstance(p, str) and p.strip() for p in v)
        for v in data.values()
    )
    if not valid:
        raise UsageError(
            f"lexicon file {path} must be a JSON object mapping a slot type to a list of "
            'non-empty phrases, e.g. {"CITY": ["Paris", "Lima"]}'
        )
    return {str(k): [p.strip() for p in v] for k, v in data.items()}


# -- slot detection ----------------------------------------------------------------------
@dataclass(frozen=True)
class Slot:
    start: int
    end: int
    type: str
    filler: str  # the seed's own phrase, in the form fillers of this type take
    plural: bool = False


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    match: LexMatch | None  # None: a capitalised token no category explains


def find_slots(tokens: list[Token], lexicon: Lexicon) -> list[Slot]:
    """Typed spans of `tokens` that can be replaced without changing the text's label."""
    texts = [t.text for t in tokens]
    taken = [False] * len(texts)
    slots: list[Slot] = []
    for units in _capitalised_runs(texts, lexicon):
        slots += _classify_run(tokens, units, lexicon)
        taken[units[0].start : units[-1].end] = [True] * (units[-1].end - units[0].start)
    slots += _common_slots(texts, taken, lexicon)
    slots += _number_slots(texts, taken)
    return sorted(slots, key=lambda s: s.start)


def _unit_at(texts: list[str], i: int, lexicon: Lexicon, inside: bool = False) -> _Unit | None:
    """A proper lexicon phrase or capitalised token at `i`, if one may start (continue) a run."""
    at_start = _sentence_start(texts, i)
    if (
        inside
        and _INITIALS.match(texts[i])
        and i + 1 < len(texts)
        and _is_capitalised(texts[i + 1])
    ):
        return _Unit(i, i + 1, None)  # the "F." of "Samuel F. Pickering"
    found = lexicon.match(texts, i, common=False)
    if found and (not at_start or found[0] - i >= 2):  # lone capitalised first word: too risky
        return _Unit(i, found[0], found[1])
    if at_start or not _is_capitalised(texts[i]):
        return None
    if texts[i] in _WEAK and not (i + 1 < len(texts) and _is_capitalised(texts[i + 1])):
        return None  # "U.S. state": a modifier, not a name to vary
    return _Unit(i, i + 1, None)


def _capitalised_runs(texts: list[str], lexicon: Lexicon) -> Iterator[list[_Unit]]:
    i = 0
    while i < len(texts):
        unit = _unit_at(texts, i, lexicon)
        if unit is None:
            i += 1
            continue
        units = [unit]
        while True:
            k = units[-1].end
            while k < len(texts) and texts[k] in _CONNECTORS:
                k += 1
            nxt = _unit_at(texts, k, lexicon, inside=True) if k < len(texts) else None
            if nxt is None:
                break
            units.append(nxt)
        yield units
        i = units[-1].end


def _classify_run(tokens: list[Token], units: list[_Unit], lexicon: Lexicon) -> list[Slot]:
    texts = [t.text for t in tokens]
    start, end = units[0].start, units[-1].end
    surface = detokenize(tokens[start:end])
    if len(units) == 1 and units[0].match:
        return [_lexicon_slot(units[0], lexicon)]
    if len(units) == 1 and _ACRONYM.match(surface):
        return [Slot(start, end, "ACRONYM", surface)]
    if _looks_like_person(texts, units):
        return [Slot(start, end, "PERSON", surface)]
    typed = [u for u in units if u.match]
    if typed:  # "St. Louis Browns": vary the city, keep the rest of the name
        return [_lexicon_slot(u, lexicon) for u in typed]
    if all(_INITIALS.match(t) for t in texts[start:end]):
        return []
    # "the Union Stockyards ?" is a name with its article; "the Lite beer" is a modifier
    the = start > 0 and texts[start - 1].lower() == "the"
    the = the and not (end < len(texts) and any(c.isalnum() for c in texts[end]))
    return [Slot(start, end, "PROPN", f"the {surface}" if the else surface)]


def _lexicon_slot(unit: _Unit, lexicon: Lexicon) -> Slot:
    match = unit.match
    assert match is not None
    return Slot(unit.start, unit.end, lexicon.slot_type(match.types), match.canonical, match.plural)


def _looks_like_person(texts: list[str], units: list[_Unit]) -> bool:
    """First name + more name-like tokens ('John Brown', 'Samuel F. Pickering')."""
    first = units[0].match
    if first is None or first.types != ("FIRST_NAME",) or len(units) < 2:
        return False
    end = units[-1].end
    names = all(
        u.match is None and u.start == prev.end for prev, u in zip(units, units[1:], strict=False)
    )
    return names and end - units[0].start <= 4 and texts[end - 1] not in _PLACE_WORDS


def _common_slots(texts: list[str], taken: list[bool], lexicon: Lexicon) -> list[Slot]:
    slots, i = [], 0
    while i < len(texts):
        found = None if taken[i] else lexicon.match(texts, i, common=True)
        if found is None or any(taken[i : found[0]]):
            i += 1
            continue
        end, match = found
        slots.append(Slot(i, end, lexicon.slot_type(match.types), match.canonical, match.plural))
        taken[i:end] = [True] * (end - i)
        i = end
    return slots


def _number_slots(texts: list[str], taken: list[bool]) -> list[Slot]:
    slots = []
    for i, tok in enumerate(texts):
        if taken[i] or not _NUMBER.match(tok):
            continue
        year = len(tok) == 4 and tok.isdigit() and 1000 <= int(tok) <= 2099
        slots.append(Slot(i, i + 1, "YEAR" if year else "NUM", tok))
    return slots


def random_number(original: str, slot_type: str, rng: random.Random) -> str:
    """A number like `original`: same digit count, decimals and thousands commas."""
    if slot_type == "YEAR":
        return str(rng.randint(1800, 2020))
    whole, _, decimals = original.replace(",", "").partition(".")
    digits = len(whole)
    value = rng.randint(10 ** (digits - 1) if digits > 1 else 1, 10**digits - 1)
    text = f"{value:,}" if "," in original else str(value)
    if decimals:
        text += "." + "".join(str(rng.randrange(10)) for _ in decimals)
    return text


# -- templates and rendering -------------------------------------------------------------
@dataclass(frozen=True)
class Template:
    id: str
    label: str
    label_fine: str | None
    tokens: tuple[Token, ...]
    slots: tuple[Slot, ...]

    @property
    def pretokenised(self) -> bool:
        """TREC style: every token space-separated ("Halley 's Comet", "Fools ' Day")."""
        return all(t.space for t in self.tokens[1:])


@dataclass
class _Piece:
    text: str
    space: bool
    slot: Slot | None = None


def render(template: Template, fillers: list[str]) -> tuple[str, dict[str, str]]:
    """Text of `template` with `fillers` in its slots, and the lineage map slot type -> filler."""
    by_start = {s.start: (s, f) for s, f in zip(template.slots, fillers, strict=True)}
    tokens, pieces, i = template.tokens, [], 0
    while i < len(tokens):
        if i in by_start:
            slot, filler = by_start[i]
            text = pluralize(filler) if slot.plural and filler.islower() else filler
            if template.pretokenised:
                text = " ".join(t.text for t in tokenize(text))
            pieces.append(_Piece(text, tokens[i].space, slot))
            i = slot.end
        else:
            pieces.append(_Piece(tokens[i].text, tokens[i].space))
            i += 1
    used: dict[str, str] = {}
    for k, piece in enumerate(pieces):
        if piece.slot is not None:
            _fit_articles(pieces, k)
            key = (
                piece.slot.type if piece.slot.type not in used else _next_key(used, piece.slot.type)
            )
            used[key] = piece.text
    return detokenize([Token(p.text, p.space) for p in pieces if p.text]), used


def _next_key(used: dict[str, str], slot_type: str) -> str:
    n = 2
    while f"{slot_type}#{n}" in used:
        n += 1
    return f"{slot_type}#{n}"


def _fit_articles(pieces: list[_Piece], k: int) -> None:
    """Make 'the', 'a'/'an' and sentence-start capitals agree with the new filler."""
    piece, slot = pieces[k], pieces[k].slot
    assert slot is not None
    prev = pieces[k - 1] if k > 0 and pieces[k - 1].text else None
    prev_word = prev.text.lower() if prev else ""
    if piece.text.startswith("the ") and prev_word == "the":
        piece.text = piece.text[4:]
    elif prev and prev_word == "the" and _drops_the(pieces, k, slot):
        piece.space, prev.text = prev.space, ""  # "the Union Stockyards" -> "Stonehenge"
        prev = None
    elif prev and prev_word in ("a", "an"):
        article = "an" if _vowel_sound(piece.text) else "a"
        prev.text = article.capitalize() if prev.text[0].isupper() else article
    at_start = prev is None and all(not p.text for p in pieces[:k])
    if at_start or (prev is not None and prev.text in _SENTENCE_END):
        piece.text = piece.text[:1].upper() + piece.text[1:]


def _drops_the(pieces: list[_Piece], k: int, slot: Slot) -> bool:
    """A bare proper name ends the noun phrase: the template's 'the' must go."""
    text = pieces[k].text
    if text.islower() or any(t in _ADJECTIVAL for t in slot.type.split("|")):
        return False
    nxt = pieces[k + 1].text if k + 1 < len(pieces) else ""
    return not any(c.isalnum() for c in nxt)


def _vowel_sound(text: str) -> bool:
    word = text.split()[0] if text.split() else text
    if _ACRONYM.match(word):
        return word[0] in "AEFHILMNORSX"
    lower = word.lower()
    if lower.startswith(("uni", "use", "usu", "eu", "one", "ur")):
        return False
    return lower[:1] in "aeiou" or lower.startswith(("hour", "honest", "honor", "heir"))


# -- the step ----------------------------------------------------------------------------
@dataclass
class _Model:
    templates: dict[str, list[Template]]  # label -> usable templates, seed order
    seed_pools: dict[tuple[str, str], list[str]]  # (label, slot type) -> fillers seen in seeds
    seed_counts: Counter[str]
    seed_keys: frozenset[str]
    lexicon: Lexicon
    without_slots: int


@register_step("slot_template")
class SlotTemplate(SourceStep):
    """Learn slot templates from labelled seeds and fill them: new labelled examples, no LLM.

    The honest no-LLM baseline an LLM generator has to beat; the algorithm (slots, fillers,
    label plan) is in the module docstring. Duplicates are kept on purpose for the dedup step.

    Input columns: none (a source; `text_field` and `label_field` name the seed file's fields).
    Output columns: ``text``, ``label``, ``label_fine`` (when the seeds have one).
    Drop reasons: none.
    References: none: a synthpipe technique.
    """

    Config = SlotTemplateConfig
    replayable = True  # seeded: generating again is cheaper than checkpointing
    config: SlotTemplateConfig
    skips_resumed_batches: ClassVar[bool] = True

    def output_columns(self) -> set[str]:
        return {"text", "label", "label_fine"}

    # -- inputs ----------------------------------------------------------------------------
    def _resolve(self, path: str) -> Path:
        from synthpipe.data.paths import resolve_data_path  # lazy: optional import cost

        return Path(resolve_data_path(path))

    def input_files(self) -> list[Path]:
        files = [self._resolve(self.config.seeds), BUNDLED_LEXICON]
        if self.config.lexicons:
            files.append(self._resolve(self.config.lexicons))
        return files

    def expected_count(self) -> int:
        return self.config.n

    def _load_seeds(self) -> tuple[Path, list[Record]]:
        from synthpipe.data.readers import read_all

        cfg = self.config
        path = self._resolve(cfg.seeds)
        fields = {"text": cfg.text_field, "label": cfg.label_field}
        records = [
            r
            for r in read_all(path, fields=fields, required=["text", "label"])
            if str(r.get("text") or "").strip() and r.get("label") is not None
        ]
        if len(records) < 2:
            raise UsageError(
                f"seed file {path} has {len(records)} usable record(s); slot_template needs at "
                f"least 2 seeds with a {cfg.text_field!r} and a {cfg.label_field!r} field. Add "
                "labelled examples (10 per label works well) or point `seeds` at another file."
            )
        return path, records

    # -- model -----------------------------------------------------------------------------
    @cached_property
    def _model(self) -> _Model:
        path, records = self._load_seeds()
        lexicon = load_lexicon(
            self._resolve(self.config.lexicons) if self.config.lexicons else None
        )
        templates: dict[str, list[Template]] = defaultdict(list)
        pools: dict[tuple[str, str], list[str]] = defaultdict(list)
        all_templates = [_template(r, i, lexicon) for i, r in enumerate(records)]
        for t in all_templates:
            for slot in t.slots:
                if slot.type not in _RANDOM_TYPES and slot.filler not in pools[t.label, slot.type]:
                    pools[t.label, slot.type].append(slot.filler)
        usable = [t for t in all_templates if _can_vary(t, pools, lexicon)]
        for t in usable:
            templates[t.label].append(t)
        counts = Counter(t.label for t in all_templates)
        for label in sorted(counts):
            if not templates.get(label):
                raise UsageError(
                    f"seed file {path}: no seed labelled {label!r} has a slot to vary (a name, "
                    "place, number, acronym or lexicon word), so that label cannot be generated. "
                    f"Add seeds for {label!r} that mention such things, or give a `lexicons` "
                    "file with words that occur in them."
                )
        return _Model(
            templates=dict(templates),
            seed_pools=dict(pools),
            seed_counts=counts,
            seed_keys=frozenset(_norm_key(t) for t in (str(r["text"]) for r in records)),
            lexicon=lexicon,
            without_slots=len(all_templates) - len(usable),
        )

    # -- generation ------------------------------------------------------------------------
    def plan_shards(self, ctx: StepContext, want: int, measure: Measure) -> list[Shard]:
        return row_shards(self.config.n, max(1, ctx.batch_size), want)

    def read_batch(self, index: int, at: dict[str, Any], ctx: StepContext) -> Batch:
        """Batch `index` alone: it depends on the seed and its index only."""
        seed = self.config.seed if self.config.seed is not None else ctx.seed
        return self._batch(self._model, self._plan(seed), seed, index, max(1, ctx.batch_size))

    @cached_property
    def _plans(self) -> dict[int, _BlockPlan]:
        return {}  # seed -> the label plan, built once per process

    def _plan(self, seed: int) -> _BlockPlan:
        if seed not in self._plans:
            self._plans[seed] = _BlockPlan(self._model, self.config, seed)
        return self._plans[seed]

    def read(self, ctx: StepContext) -> Iterator[Batch]:
        model = self._model
        n_templates = sum(len(v) for v in model.templates.values())
        ctx.log.info(
            "slot_template: %d templates over %d labels; templates_without_slots=%d",
            n_templates, len(model.templates), model.without_slots,
        )  # fmt: skip
        for b in range(ctx.skip_batches, -(-self.config.n // max(1, ctx.batch_size))):
            yield self.read_batch(b, {}, ctx)

    def _batch(self, model: _Model, plan: _BlockPlan, seed: int, b: int, size: int) -> Batch:
        rng = random.Random(mix_seed(seed, "batch", b))
        return [
            self._record(model, plan.template(i), i, seed, rng)
            for i in range(b * size, min(self.config.n, (b + 1) * size))
        ]

    def _record(
        self, model: _Model, t: Template, index: int, seed: int, rng: random.Random
    ) -> Record:
        for _ in range(self.config.max_attempts_factor):
            fillers = [_pick(model, t.label, s, rng) for s in t.slots]
            text, used = render(t, fillers)
            if not (self.config.keep_seeds_out and _norm_key(text) in model.seed_keys):
                break
        else:
            raise StepError(
                f"slot_template: template {t.id!r} gave only seed texts in "
                f"{self.config.max_attempts_factor} attempts; raise `max_attempts_factor` or "
                "add lexicon phrases for its slots"
            )
        record: Record = {"id": f"slot-{index:06d}", "text": text, "label": t.label}
        if t.label_fine is not None:
            record["label_fine"] = t.label_fine
        lineage = {"technique": "slot_template", "template": t.id, "seed": seed, "slots": used}
        record["_lineage"] = lineage
        return record


def _template(record: Record, index: int, lexicon: Lexicon) -> Template:
    tokens = tokenize(str(record["text"]))
    fine = record.get("label_fine")
    return Template(
        id=str(record.get("id") or f"seed-{index}"),
        label=str(record["label"]),
        label_fine=None if fine is None else str(fine),
        tokens=tuple(tokens),
        slots=tuple(find_slots(tokens, lexicon)),
    )


def _can_vary(t: Template, pools: dict[tuple[str, str], list[str]], lexicon: Lexicon) -> bool:
    for slot in t.slots:
        options = set(pools.get((t.label, slot.type), [])) | set(lexicon.pool(slot.type))
        if slot.type in _RANDOM_TYPES or options - {slot.filler}:
            return True
    return False


def _pick(model: _Model, label: str, slot: Slot, rng: random.Random) -> str:
    if slot.type in _RANDOM_TYPES:
        return random_number(slot.filler, slot.type, rng)
    from_seeds = model.seed_pools.get((label, slot.type), [])
    from_lexicon = model.lexicon.pool(slot.type)
    if from_seeds and (not from_lexicon or rng.random() < SEED_FILLER_SHARE):
        return rng.choice(from_seeds)
    return rng.choice(from_lexicon) if from_lexicon else slot.filler


class _BlockPlan:
    """The template of record i, planned one block of `PLAN_BLOCK` records at a time."""

    def __init__(self, model: _Model, cfg: SlotTemplateConfig, seed: int):
        self.model, self.cfg, self.seed = model, cfg, seed
        self.block, self.plan = -1, []  # the block in memory and its templates

    def template(self, index: int) -> Template:
        block, offset = divmod(index, PLAN_BLOCK)
        if block != self.block:
            size = min(PLAN_BLOCK, self.cfg.n - block * PLAN_BLOCK)
            self.block, self.plan = block, _plan(self.model, self.cfg, self.seed, block, size)
        return self.plan[offset]


def _plan(model: _Model, cfg: SlotTemplateConfig, seed: int, block: int, size: int) -> list[Template]:
    """The templates of one block of `size` records: labels shuffled, each cycling through its
    templates. Block 0 keeps the seeding a one-block plan always had."""
    rng = random.Random(mix_seed(seed, "plan") if block == 0 else mix_seed(seed, "plan", block))
    labels = sorted(model.templates)
    counts = label_counts(labels, model.seed_counts, size, cfg.per_label, rng)
    sequence = [label for label in labels for _ in range(counts[label])]
    rng.shuffle(sequence)
    order = {
        label: rng.sample(model.templates[label], len(model.templates[label])) for label in labels
    }
    seen: Counter[str] = Counter()
    plan = []
    for label in sequence:
        plan.append(order[label][seen[label] % len(order[label])])
        seen[label] += 1
    return plan
