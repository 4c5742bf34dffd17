"""N-gram overlap contamination detector (GPT-3 style 13-gram decontamination).

Method: Brown et al. (2020), "Language Models are Few-Shot Learners", Appendix C: a text
is contaminated by a benchmark item when they share an n-gram (n = 13) of normalised words
(lower-cased, punctuation and whitespace ignored). Here both the benchmark's question and
its answer are indexed, so copied solutions count as well as copied problems.

Answer-only matches (:class:`AnswerRule`). Worked solutions are formulaic, and with digits
masked "Tony's age now is 24 / 2 = <<24/2=12>>12 years old. In 6 years he will be ..." shares
13-grams with another problem's solution ("James is 27-5=<<27-5=22>>22 years old\nIn 8 years he
will be ...", GSM8K test item 532): on GSM8K train vs test, 68 of 76 records matched only a test *answer*, none of them a
copy. A record whose match with an item is on the answer alone (no n-gram of its question)
counts only when the question overlaps after all, by an 8-token window (``min_span``) with at
most one number ("0 quarters 0 dimes 0 nickels" is no evidence) that no other indexed question
has ("write a python function to check whether the" is a template), or the match is long
and specific: the matched stretch holds >= 15 distinct words that are not numbers, or covers
>= 60% of the answer's n-grams (a copied solution, even a short one). The two numbers were
calibrated on half of GSM8K train against copied GSM8K/HumanEval/MBPP solutions; on the held-out
halves the rule counts 1 of 34 answer-only train matches and finds 86% of copied solutions
(``benchmarks/calibrate_decontaminate.py``). The rest are returned as set aside.

Normalisation: :func:`synthpipe.text.normalize.normalize` (NFKC, lower-case, punctuation
-> space, whitespace collapsed), then whitespace tokens.

Short benchmark texts. A question with fewer than ``n`` tokens has no n-gram, so:

- ``min_span`` (default 8) to ``n - 1`` tokens: its full token sequence is indexed as one
  span and matches wherever it occurs inside a record text. 8 follows the GPT-3 paper, which
  never went below 8 words on non-synthetic tasks because shorter n-grams collided spuriously.
- 3 to ``min_span - 1`` tokens: matches only a record text that is exactly that sequence
  (TREC's "Who was Galileo ?" catches the record "who was Galileo?" but not "Who was
  Galileo's teacher?"). Texts of 1-2 tokens (SST-2's "no .") are not indexed.
- short *answers* (``"18"``, ``"B. 4"``) are not indexed on their own: they would match
  everywhere.

Numbers (``mask_numbers``, on in the ``decontaminate`` step): all-digit tokens become ``0``,
on both sides, as datatrove's decontamination normalises numbers (``TextNormConfig.norm_numbers``),
so a copied problem with other numbers still matches; windows more than half numbers (lists of
test values) are then left out of the index. Reported spans show the record's own numbers.
Measured on 200 GSM8K problems with every number and name replaced: recall 64% -> 93%, with no
new hit on the clean corpora of the benchmark.

Index: the 64-bit Python hashes of the token tuples, sorted in a NumPy array, with a CSR map
from each hash to the benchmark texts holding it (0.97 M keys for the whole bundled registry,
28 MB with an 8 MB one-hash Bloom filter in front of the binary search; built in ~1 s). Short
spans are keyed by their first ``min_span`` tokens and verified on a hit, so a record is
hashed in two passes (n- and min_span-token windows). Python's string hash is salted per
process, so an index is only valid in the process that built it (:func:`get_index` caches
one per process and configuration). 64-bit collisions are negligible at these sizes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from synthpipe.curate.decontam.registry import BenchmarkSet
from synthpipe.text.normalize import normalize

MIN_EXACT_TOKENS = 3  # shorter benchmark questions are not indexed at all
_BITMAP_BITS = 26  # 2**26-bit (8 MB) prefilter: ~1.5% of misses reach the binary search
_CACHE: dict[tuple, NgramIndex] = {}
_CACHE_LOCK = threading.Lock()


def tokenize(text: str, mask_numbers: bool = False) -> list[str]:
    """Normalised whitespace tokens (lower-case, no punctuation, NFKC); numbers -> ``0`` if masked."""
    tokens = normalize(text).split()
    return _masked(tokens) if mask_numbers else tokens


def _masked(tokens: list[str]) -> list[str]:
    """All-digit tokens -> "0" (after normalisation "$1,200.5" is the tokens 1 200 5)."""
    return ["0" if t.isdigit() else t for t in tokens]


def _grams(tokens: list[str], length: int) -> np.ndarray:
    """int64 hashes of every `length`-token window, in order."""
    count = len(tokens) - length + 1
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    windows = zip(*(tokens[i:] for i in range(length)), strict=False)
    return np.fromiter(map(hash, windows), dtype=np.int64, count=count)


@dataclass
class Unit:
    """One indexed benchmark text: an item's question or one of its answers."""

    benchmark: str
    item_id: str
    field: str  # "question" or "answer"
    total: int  # distinct keys of this text (denominator of a fractional overlap)
    span_len: int = 0  # short span: its token count (keyed by its first min_span tokens)
    span_hash: int = 0  # short span: hash of its full token tuple, checked on a prefix hit


class Match(NamedTuple):
    """What one record text shares with one benchmark text."""

    span: str  # the first matched n-gram (or short span), normalised, the record's own numbers
    count: int  # distinct matched keys
    words: int  # distinct word tokens (not numbers) in the record's matched stretch


@dataclass
class NgramHit:
    benchmark: str
    item_id: str
    field: str  # record field that matched
    span: str  # the first matched n-gram (or short span), normalised
    count: int  # distinct matched n-grams of that benchmark text
    fraction: float  # count / n-grams of that benchmark text
    part: str = "question"  # the benchmark text that matched: "question" or "answer"
    words: int = 0  # distinct word tokens (not numbers) in the record's matched stretch
    question_span: str = ""  # answer hits: a shorter window the record shares with the item's question

    @property
    def detector(self) -> str:
        return "ngram" if self.part == "question" else "ngram_answer"

    def as_dict(self) -> dict:
        out = {"benchmark": self.benchmark, "item_id": self.item_id, "detector": self.detector,
               "field": self.field, "span": self.span}  # fmt: skip
        if self.part == "answer":  # the evidence that made an answer-only match count
            out.update(words=self.words, share=round(self.fraction, 2))
            if self.question_span:
                out["question_span"] = self.question_span
        return out


@dataclass(frozen=True)
class AnswerRule:
    """When a match with a benchmark *answer* alone (no n-gram of the item's question) counts.

    Worked solutions share formulaic stretches ("... for a total of 0 x 0 = 0 ..." once digits
    are masked), so an answer-only match counts only when the question overlaps after all (the
    record shares a shorter window with it: `min_span` tokens, at most one a number; see
    :meth:`NgramIndex.question_overlap`) or the match is long and specific: the record's matched
    stretch holds at least `min_words` distinct word tokens that are not numbers, or it covers
    at least `min_share` of that answer's n-grams (a copied solution, even a short one).
    """

    # calibrated by benchmarks/calibrate_decontaminate.py: the highest recall on copied solutions
    # among the rules that count none of the answer-only matches of half of GSM8K train
    min_words: int = 15
    min_share: float = 0.6

    def accepts(self, hit: NgramHit) -> bool:
        return bool(hit.question_span) or hit.words >= self.min_words or hit.fraction >= self.min_share


@dataclass
class RecordMatches:
    """One record's n-gram evidence: `hits` count; `set_aside` are answer-only matches that do not."""

    hits: list[NgramHit] = field(default_factory=list)
    set_aside: list[NgramHit] = field(default_factory=list)


@dataclass
class NgramIndex:
    """Hashed n-grams of benchmark texts -> the texts holding them. Build with :meth:`build`."""

    n: int
    min_span: int
    mask_numbers: bool  # digits -> 0 before tokenising (benchmark and record texts alike)
    keys: np.ndarray  # sorted unique int64 hashes: n-grams, and min_span-token prefixes of short spans
    offsets: np.ndarray  # CSR: the units of keys[i] are unit_ids[offsets[i]:offsets[i+1]]
    unit_ids: np.ndarray
    units: list[Unit]
    exact: dict[int, list[int]] = field(default_factory=dict)  # hash of a very short text -> units
    # (benchmark, item id) -> the item's question tokens, for items with an indexed answer: an
    # answer-only match is checked against them (:meth:`question_overlap`)
    questions: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict, repr=False)
    # windows found in two or more of those questions ("write a python function to check whether
    # the"): templates, not evidence
    common_windows: frozenset[tuple[str, ...]] = field(default_factory=frozenset, repr=False)
    bitmap: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8), repr=False)

    def __post_init__(self) -> None:
        if not len(self.bitmap):
            self.bitmap = _bitmap(self.keys)

    @classmethod
    def build(
        cls, sets: Sequence[BenchmarkSet], n: int = 13, min_span: int = 8, mask_numbers: bool = False
    ) -> NgramIndex:
        """Index every question and answer of `sets` (see the module doc for short texts)."""
        if not 1 <= min_span <= n:
            raise ValueError(f"min_span must be in 1..n, got {min_span} (n={n})")
        pairs: list[np.ndarray] = []  # the distinct keys of each keyed unit
        owners: list[int] = []  # the unit of each entry of `pairs`
        units: list[Unit] = []
        exact: dict[int, list[int]] = {}
        asked: dict[tuple[str, str], tuple[str, ...]] = {}
        for bench in sets:
            for item in bench.load():
                questions, answers = bench.texts(item)
                texts = [("question", t) for t in questions] + [("answer", t) for t in answers]
                for kind, text in texts:
                    tokens = tokenize(text, mask_numbers)
                    unit = Unit(bench.name, item["id"], kind, 1)
                    keys = _unit_keys(tokens, kind, unit, n, min_span, mask_numbers)
                    if keys is None:
                        continue
                    if kind == "answer" and questions:
                        asked[(bench.name, item["id"])] = tuple(tokenize(questions[0], mask_numbers))
                    if not len(keys):  # a very short question: whole-text match only
                        exact.setdefault(hash(tuple(tokens)), []).append(len(units))
                    else:
                        pairs.append(keys)
                        owners.append(len(units))
                    units.append(unit)
        index = cls._from_pairs((n, min_span, mask_numbers), pairs, owners, units, exact)
        index.questions = asked
        seen: Counter[tuple[str, ...]] = Counter()
        for tokens in asked.values():
            seen.update(set(_word_windows(list(tokens), min_span)))
        index.common_windows = frozenset(w for w, k in seen.items() if k > 1)
        return index

    @classmethod
    def _from_pairs(cls, params, pairs, owners, units, exact) -> NgramIndex:
        """Sort all (key, unit) pairs by key and compress them into unique keys + CSR offsets."""
        all_keys = np.concatenate(pairs) if pairs else np.empty(0, dtype=np.int64)
        owner = np.repeat(np.array(owners, dtype=np.int32), [len(p) for p in pairs])
        order = np.lexsort((owner, all_keys))
        all_keys, owner = all_keys[order], owner[order]
        keys, starts = np.unique(all_keys, return_index=True)
        offsets = np.append(starts, len(all_keys)).astype(np.int64)
        n, min_span, mask_numbers = params
        return cls(n=n, min_span=min_span, mask_numbers=mask_numbers, keys=keys, offsets=offsets,
                   unit_ids=owner.astype(np.int32), units=units, exact=exact)  # fmt: skip

    @property
    def size(self) -> int:
        """Indexed keys: n-grams, short-span prefixes and exact short texts."""
        return len(self.keys) + len(self.exact)

    def nbytes(self) -> int:
        return self.keys.nbytes + self.offsets.nbytes + self.unit_ids.nbytes + self.bitmap.nbytes

    def match(self, texts: Sequence[str]) -> list[dict[int, Match]]:
        """For each text: ``{unit index: Match}`` (first span, distinct keys, words covered)."""
        shown = [tokenize(t) for t in texts]  # spans are reported unmasked
        token_lists = [_masked(t) for t in shown] if self.mask_numbers else shown
        lengths = (self.n,) if self.min_span == self.n else (self.n, self.min_span)
        chunks, meta = [], []  # meta: (text index, window length, offset of the chunk)
        offset = 0
        for j, tokens in enumerate(token_lists):
            for length in lengths:
                grams = _grams(tokens, length)
                if len(grams):
                    chunks.append(grams)
                    meta.append((j, length, offset))
                    offset += len(grams)
        found: list[dict[int, list]] = [{} for _ in texts]
        if chunks and len(self.keys):
            self._lookup(np.concatenate(chunks), meta, (token_lists, shown), found)
        if self.exact:
            for j, tokens in enumerate(token_lists):
                if MIN_EXACT_TOKENS <= len(tokens) < self.min_span:
                    for unit in self.exact.get(hash(tuple(tokens)), ()):
                        found[j][unit] = [" ".join(shown[j]), {-1}, set(range(len(tokens)))]
        return [
            {u: Match(span, len(keys), _words(token_lists[j], covered))
             for u, (span, keys, covered) in per.items()}
            for j, per in enumerate(found)
        ]  # fmt: skip

    def question_overlap(self, benchmark: str, item_id: str, texts: Sequence[str]) -> str:
        """A `min_span`-token window (at most one of them a number) that the item's question, and
        no other stored question, shares with one of `texts`; or "" (also for items without a
        stored question)."""
        question = self.questions.get((benchmark, item_id))
        if not question:
            return ""
        theirs = set(_word_windows(list(question), self.min_span)) - self.common_windows
        for text in texts:
            for window in _word_windows(tokenize(text, self.mask_numbers), self.min_span):
                if window in theirs:
                    return " ".join(window)
        return ""

    def _lookup(self, grams: np.ndarray, meta: list, tokens_shown: tuple, found: list[dict]) -> None:
        token_lists, shown = tokens_shown
        candidates = np.nonzero(_in_bitmap(self.bitmap, grams))[0]
        pos = np.searchsorted(self.keys, grams[candidates])
        pos[pos >= len(self.keys)] = 0
        confirmed = self.keys[pos] == grams[candidates]
        hits, pos = candidates[confirmed], pos[confirmed]
        if not len(hits):
            return
        chunk_starts = np.array([m[2] for m in meta])
        chunk_of = np.searchsorted(chunk_starts, hits, side="right") - 1
        for g, key, c in zip(hits.tolist(), pos.tolist(), chunk_of.tolist(), strict=True):
            j, length, start = meta[c]
            tokens, at = token_lists[j], g - start
            for unit_index in self.unit_ids[self.offsets[key] : self.offsets[key + 1]].tolist():
                unit = self.units[unit_index]
                span_len = length
                if unit.span_len:  # a short span keyed by its prefix: check the whole span
                    span_len = unit.span_len
                    if (
                        length != self.min_span
                        or hash(tuple(tokens[at : at + span_len])) != unit.span_hash
                    ):
                        continue
                elif length != self.n:
                    continue
                entry = found[j].get(unit_index)
                if entry is None:
                    entry = found[j][unit_index] = [" ".join(shown[j][at : at + span_len]), set(), set()]
                entry[1].add(key)
                entry[2].update(range(at, at + span_len))


def _unit_keys(tokens: list[str], kind: str, unit: Unit, n: int, min_span: int, masked: bool):
    """Index keys of one benchmark text (filling `unit`); empty: exact-text tier; None: not indexed.

    With masked numbers, windows that are more than half numbers (``0 0 0 ...`` from lists of
    test values) are not indexed: they would match any table of numbers.
    """
    if len(tokens) >= n:
        grams = _grams(tokens, n)
        if masked:
            grams = grams[_mostly_words(tokens, n)]
        keys = np.unique(grams)
        unit.total = len(keys)
        return keys if len(keys) else None
    if kind == "answer" or len(tokens) < MIN_EXACT_TOKENS:
        return None
    if masked and not _mostly_words(tokens, len(tokens))[0]:
        return None
    if len(tokens) < min_span:
        return np.empty(0, dtype=np.int64)
    unit.span_len, unit.span_hash = len(tokens), hash(tuple(tokens))
    return np.array([hash(tuple(tokens[:min_span]))], dtype=np.int64)


def _word_windows(tokens: list[str], length: int) -> Iterator[tuple[str, ...]]:
    """`length`-token windows with at most one number (no formulaic "0 quarters 0 dimes 0")."""
    for i in range(len(tokens) - length + 1):
        window = tuple(tokens[i : i + length])
        if sum(t.isdigit() for t in window) <= 1:
            yield window


def _words(tokens: list[str], covered: set[int]) -> int:
    """Distinct tokens at `covered` positions that are not numbers (masked or not)."""
    return len({tokens[p] for p in covered if p < len(tokens) and not tokens[p].isdigit()})


def _mostly_words(tokens: list[str], length: int) -> np.ndarray:
    """For each `length`-token window: True if at most half of its tokens are masked numbers."""
    numbers = np.concatenate([[0], np.cumsum([t == "0" for t in tokens])])
    return (numbers[length:] - numbers[:-length]) * 2 <= length


def _bitmap(keys: np.ndarray) -> np.ndarray:
    """A one-hash Bloom filter over `keys` (their low bits), so most windows skip the binary search."""
    bitmap = np.zeros(1 << (_BITMAP_BITS - 3), dtype=np.uint8)
    slots = keys.view(np.uint64) & np.uint64((1 << _BITMAP_BITS) - 1)
    np.bitwise_or.at(
        bitmap, slots >> np.uint64(3), np.left_shift(1, slots & np.uint64(7)).astype(np.uint8)
    )
    return bitmap


def _in_bitmap(bitmap: np.ndarray, grams: np.ndarray) -> np.ndarray:
    slots = grams.view(np.uint64) & np.uint64((1 << _BITMAP_BITS) - 1)
    return (bitmap[slots >> np.uint64(3)] >> (slots & np.uint64(7)).astype(np.uint8)) & 1 == 1


def get_index(
    sets: Sequence[BenchmarkSet], n: int = 13, min_span: int = 8, mask_numbers: bool = False
) -> NgramIndex:
    """The index for `sets`, built once per process (keyed by the sets' content hashes)."""
    min_span = min(min_span, n)
    key = (tuple((s.name, s.content_hash()) for s in sets), n, min_span, mask_numbers)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = NgramIndex.build(sets, n=n, min_span=min_span, mask_numbers=mask_numbers)
        return _CACHE[key]


def passes(count: int, total: int, min_overlap: int | float) -> bool:
    """An int threshold counts distinct matched n-grams; a float is a fraction of the text's n-grams."""
    if isinstance(min_overlap, int):
        return count >= min_overlap
    return total > 0 and count / total >= min_overlap


def find_hits(
    index: NgramIndex,
    records: Sequence[dict[str, str]],
    min_overlap: int | float = 1,
    answers: AnswerRule = AnswerRule(),
) -> list[list[NgramHit]]:
    """Hits per record (each a ``{field: text}`` dict), strongest first, one per benchmark item
    (see :func:`find_matches`)."""
    return [m.hits for m in find_matches(index, records, min_overlap, answers)]


def find_matches(
    index: NgramIndex,
    records: Sequence[dict[str, str]],
    min_overlap: int | float = 1,
    answers: AnswerRule = AnswerRule(),
) -> list[RecordMatches]:
    """Each record's hits and set-aside matches, one per benchmark item, strongest first.

    A benchmark text matches when its matched n-grams pass `min_overlap` (:func:`passes`); a
    short span or exact short text is one n-gram of one, so it passes any threshold. An item
    whose question matched (in any field of the record) is a hit; one whose answer alone matched
    is a hit only if `answers` accepts the match, else it is set aside.
    """
    flat = [(r, f, t) for r, texts in enumerate(records) for f, t in texts.items()]
    matches = index.match([t for _, _, t in flat])
    best: list[dict[tuple[str, str, str], NgramHit]] = [{} for _ in records]
    for (r, fname, _), per_text in zip(flat, matches, strict=True):
        for unit_index, (span, count, words) in per_text.items():
            unit = index.units[unit_index]
            if not passes(count, unit.total, min_overlap):
                continue
            hit = NgramHit(unit.benchmark, unit.item_id, fname, span, count,
                           count / max(unit.total, 1), unit.field, words)  # fmt: skip
            key = (unit.benchmark, unit.item_id, unit.field)
            old = best[r].get(key)
            if old is None or _strength(hit, answers) > _strength(old, answers):
                best[r][key] = hit
    for r, per in enumerate(best):
        for (bench, item, part), hit in per.items():
            if part == "answer" and (bench, item, "question") not in per and not answers.accepts(hit):
                hit.question_span = index.question_overlap(bench, item, list(records[r].values()))
    return [_decide(per, answers) for per in best]


def _strength(hit: NgramHit, answers: AnswerRule) -> tuple:
    return (hit.part == "question" or answers.accepts(hit), hit.count, hit.fraction)


def _decide(per: dict[tuple[str, str, str], NgramHit], answers: AnswerRule) -> RecordMatches:
    out = RecordMatches()
    for (bench, item, part), hit in per.items():
        if part == "answer" and (bench, item, "question") in per:
            continue  # the question matched too: that hit stands for the item
        (out.hits if part == "question" or answers.accepts(hit) else out.set_aside).append(hit)
    order = lambda h: (-h.count, -h.fraction, h.benchmark, h.item_id)  # noqa: E731
    return RecordMatches(sorted(out.hits, key=order), sorted(out.set_aside, key=order))
