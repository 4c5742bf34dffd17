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

Index: 64-bit hashes of the n-gram windows, sorted in a NumPy array, with a CSR map from each
hash to the benchmark texts holding it (0.97 M keys for the whole bundled registry, 28 MB with
an 8 MB one-hash Bloom filter in front of the binary search). Tokens become ids of the
benchmark vocabulary (a record token no benchmark text has cannot be part of a match, so
windows holding one are never looked up), and a window's hash is a position-weighted sum of
its ids, finalised with MurmurHash3's mixer: stable across processes and vectorised over a
whole group of records at once (:func:`window_hashes`). Short spans are keyed by their first
``min_span`` tokens and verified on a hit, so a record is hashed for two window lengths (n and
min_span). 64-bit collisions are negligible at these sizes.

The index is cached on disk (:func:`get_index`: ``$SYNTHPIPE_CACHE_DIR/decontam/ngram-<key>.npz``,
keyed by the benchmark files' hashes, the settings and the code that builds it), so a command
loads it (~0.1 s) instead of building it (1.7-2.4 s) on every run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from synthpipe.curate.decontam import registry
from synthpipe.curate.decontam.registry import BenchmarkSet
from synthpipe.data.paths import cache_root
from synthpipe.data.writers import atomic_path
from synthpipe.text import normalize as _normalize_module
from synthpipe.text.normalize import normalize

MIN_EXACT_TOKENS = 3  # shorter benchmark questions are not indexed at all
_BITMAP_BITS = 26  # 2**26-bit (8 MB) prefilter: ~1.5% of misses reach the binary search
_CACHE: dict[tuple, NgramIndex] = {}
_CACHE_LOCK = threading.Lock()
_FORMAT = 3  # of the files written by NgramIndex.save
_MASK64 = (1 << 64) - 1
_SALT = 0x9E3779B97F4A7C15  # times the window length: windows of different lengths differ
_log = logging.getLogger("synthpipe.curate")
# ASCII characters that normalize() turns into spaces: not \w, not whitespace
_ASCII_PUNCT = str.maketrans(
    {chr(c): " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_" or chr(c).isspace())}
)
_SEPARATOR = "\x00"  # between texts tokenised as one string (a token of its own: no text has it)
_JOIN = f" {_SEPARATOR} "
_ASCII_KEEP_SEPARATOR = {**_ASCII_PUNCT, ord(_SEPARATOR): _SEPARATOR}
_SEPARATOR_ID = (1 << 63) - 1  # the id of the separator token (above any vocabulary id)
_NO_MATCH: dict = {}  # what NgramIndex.match returns for most texts (never written to)


def tokenize(text: str, mask_numbers: bool = False) -> list[str]:
    """Normalised whitespace tokens (lower-case, no punctuation, NFKC); numbers -> ``0`` if masked.

    ASCII text skips NFKC and the regular expressions (the same tokens, several times faster).
    """
    if text.isascii():
        tokens = text.lower().translate(_ASCII_PUNCT).split()
    else:
        tokens = normalize(text).split()
    return _masked(tokens) if mask_numbers else tokens


def _masked(tokens: list[str]) -> list[str]:
    """All-digit tokens -> "0" (after normalisation "$1,200.5" is the tokens 1 200 5)."""
    return ["0" if t.isdigit() else t for t in tokens]


@cache
def _multipliers(length: int) -> tuple[np.uint64, ...]:
    """Odd 64-bit weights of the window positions (SplitMix64 from a fixed seed: stable)."""
    out, state = [], 0x5851F42D4C957F2D
    for _ in range(length):
        state = (state + 0x9E3779B97F4A7C15) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        out.append(np.uint64((z ^ (z >> 31)) | 1))
    return tuple(out)


def _fmix(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, in place: every input bit reaches the low bits."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def window_hashes(ids: np.ndarray, length: int) -> np.ndarray:
    """int64 hashes of every `length`-token window of `ids` (uint64 token ids), in order."""
    count = len(ids) - length + 1
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    acc = np.full(count, (length * _SALT) & _MASK64, dtype=np.uint64)
    for i, weight in enumerate(_multipliers(length)):
        acc += ids[i : i + count] * weight
    return _fmix(acc).view(np.int64)


def hashes_at(ids: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """int64 hashes of the `length`-token windows of `ids` that begin at `starts` (in bounds)."""
    acc = np.full(len(starts), (length * _SALT) & _MASK64, dtype=np.uint64)
    for i, weight in enumerate(_multipliers(length)):
        acc += ids[starts + i] * weight
    return _fmix(acc).view(np.int64)


def sequence_hash(ids: np.ndarray) -> int:
    """The hash of one whole token-id sequence (as :func:`window_hashes` hashes a window)."""
    return int(hashes_at(np.asarray(ids, dtype=np.uint64), np.zeros(1, dtype=np.int64), len(ids))[0])


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
    bitmap: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8), repr=False)
    vocab: dict[str, int] = field(default_factory=dict, repr=False)  # benchmark token -> id (from 1)
    # the items' question tokens and the windows they share, as stored on disk: parsed on first
    # use (only answer-only matches need them)
    questions_json: bytes = field(default=b"[]", repr=False)
    common_json: bytes = field(default=b"", repr=False)
    _questions: dict | None = field(default=None, repr=False)
    _common_windows: frozenset | None = field(default=None, repr=False)

    @property
    def questions(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """(benchmark, item id) -> the item's question tokens, for items with an indexed answer:
        an answer-only match is checked against them (:meth:`question_overlap`)."""
        if self._questions is None:
            self._questions = {(b, i): tuple(t) for b, i, t in json.loads(self.questions_json)}
        return self._questions

    @questions.setter
    def questions(self, value: dict[tuple[str, str], tuple[str, ...]]) -> None:
        self._questions, self._common_windows = dict(value), None

    @property
    def common_windows(self) -> frozenset[tuple[str, ...]]:
        """Windows found in two or more of those questions ("write a python function to check
        whether the"): templates, not evidence."""
        if self._common_windows is None and self.common_json:
            self._common_windows = frozenset(tuple(w.split(" ")) for w in json.loads(self.common_json))
        if self._common_windows is None:
            seen: Counter[tuple[str, ...]] = Counter()
            for tokens in self.questions.values():
                seen.update(set(_word_windows(list(tokens), self.min_span)))
            self._common_windows = frozenset(w for w, c in seen.items() if c > 1)
        return self._common_windows

    def __post_init__(self) -> None:
        if not len(self.bitmap):
            self.bitmap = _bitmap(self.keys)
        zero = self.vocab.get("0", 0) if self.mask_numbers else 0  # the id of a masked number
        self._lookup_table = _Lookup(self.vocab, zero)

    @classmethod
    def build(
        cls, sets: Sequence[BenchmarkSet], n: int = 13, min_span: int = 8, mask_numbers: bool = False
    ) -> NgramIndex:
        """Index every question and answer of `sets` (see the module doc for short texts)."""
        if not 1 <= min_span <= n:
            raise ValueError(f"min_span must be in 1..n, got {min_span} (n={n})")
        vocab: dict[str, int] = {}
        texts: list[tuple[Unit, list[str], np.ndarray, str]] = []  # unit, tokens, ids, question
        for bench in sets:
            for item in bench.load():
                questions, answers = bench.texts(item)
                first = questions[0] if questions else ""
                for kind, text in [("question", t) for t in questions] + [("answer", t) for t in answers]:
                    tokens = tokenize(text, mask_numbers)
                    ids = np.fromiter((vocab.setdefault(t, len(vocab) + 1) for t in tokens), np.uint64, len(tokens))
                    texts.append((Unit(bench.name, item["id"], kind, 1), tokens, ids, first))
        params = (n, min_span, mask_numbers)
        long_keys, long_owner, totals = _long_text_keys([t for t in texts if len(t[1]) >= n], params, vocab)
        pairs: list[np.ndarray] = []  # keys, and the unit of each key
        owners: list[np.ndarray] = []
        units: list[Unit] = []
        exact: dict[int, list[int]] = {}
        asked: dict[tuple[str, str], tuple[str, ...]] = {}
        unit_of_long = np.full(len(totals), -1, dtype=np.int64)
        k = 0  # index among the long texts
        for unit, tokens, ids, question in texts:
            if len(tokens) >= n:
                unit.total, k = int(totals[k]), k + 1
                if not unit.total:
                    continue
                unit_of_long[k - 1] = len(units)
            elif not _short_text(unit, tokens, ids, params, pairs, owners, exact, len(units)):
                continue
            if unit.field == "answer" and question:
                asked[(unit.benchmark, unit.item_id)] = tuple(tokenize(question, mask_numbers))
            units.append(unit)
        pairs.append(long_keys)
        owners.append(unit_of_long[long_owner])
        index = cls._from_pairs(params, pairs, owners, units, exact, vocab)
        index.questions = asked
        return index

    @classmethod
    def _from_pairs(cls, params, pairs, owners, units, exact, vocab) -> NgramIndex:
        """Sort all (key, unit) pairs by key and compress them into unique keys + CSR offsets."""
        all_keys = np.concatenate(pairs) if pairs else np.empty(0, dtype=np.int64)
        owner = np.concatenate(owners).astype(np.int32) if owners else np.empty(0, dtype=np.int32)
        order = np.lexsort((owner, all_keys))
        all_keys, owner = all_keys[order], owner[order]
        keys, starts = np.unique(all_keys, return_index=True)
        offsets = np.append(starts, len(all_keys)).astype(np.int64)
        n, min_span, mask_numbers = params
        return cls(n=n, min_span=min_span, mask_numbers=mask_numbers, keys=keys, offsets=offsets,
                   unit_ids=owner, units=units, exact=exact, vocab=vocab)  # fmt: skip

    @property
    def size(self) -> int:
        """Indexed keys: n-grams, short-span prefixes and exact short texts."""
        return len(self.keys) + len(self.exact)

    def nbytes(self) -> int:
        return self.keys.nbytes + self.offsets.nbytes + self.unit_ids.nbytes + self.bitmap.nbytes

    def token_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All texts' token ids in one uint64 array, each text followed by a separator, and each
        text's start. A token no benchmark text has is 0 (masked numbers take the id of "0"),
        the separator :data:`_SEPARATOR_ID`; no window holding either can match."""
        if not len(texts):
            return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
        tokens = _window_tokens(texts)
        ids = np.fromiter(map(self._lookup_table.__getitem__, tokens), np.uint64, len(tokens))
        ends = np.flatnonzero(ids == _SEPARATOR_ID)
        return ids, np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)

    def match(self, texts: Sequence[str]) -> list[dict[int, Match]]:
        """For each text: ``{unit index: Match}`` (first span, distinct keys, words covered)."""
        ids, starts = self.token_ids(texts)
        shown = _Tokens(texts)  # spans are reported unmasked; tokenised again only for hits
        found: defaultdict[int, dict[int, list]] = defaultdict(dict)  # texts with a match only
        if len(self.keys):
            blocked = (ids == 0) | (ids == _SEPARATOR_ID)
            unknown = np.concatenate([[0], np.cumsum(blocked)])  # windows with one never match
            for length in (self.n,) if self.min_span == self.n else (self.n, self.min_span):
                grams = window_hashes(ids, length)
                usable = np.nonzero(unknown[length:] == unknown[:-length])[0]
                self._lookup(ids, starts, usable, grams[usable], length, shown, found)
        if self.exact:
            self._exact(ids, starts, shown, found)
        out: list[dict[int, Match]] = [_NO_MATCH] * len(texts)  # (shared, read-only)
        for j, per in found.items():
            out[j] = {u: Match(span, len(keys), _words(shown[j], covered))
                      for u, (span, keys, covered) in per.items()}  # fmt: skip
        return out

    def _exact(self, ids: np.ndarray, starts: np.ndarray, shown: _Tokens, found: defaultdict) -> None:
        """Texts of MIN_EXACT_TOKENS..min_span-1 tokens that equal a very short benchmark text."""
        lengths = np.diff(np.append(starts, len(ids))) - 1  # tokens per text (less its separator)
        for length in range(MIN_EXACT_TOKENS, self.min_span):
            texts = np.nonzero(lengths == length)[0]
            if not len(texts):
                continue
            for j, h in zip(texts.tolist(), hashes_at(ids, starts[texts], length).tolist(), strict=True):
                for unit in self.exact.get(h, ()):
                    found[j][unit] = [" ".join(shown[j]), {-1}, set(range(length))]

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

    def _lookup(self, ids, starts, at, grams, length: int, shown: _Tokens, found: defaultdict) -> None:
        """Record the units of every key among `grams` (windows beginning at `at` in `ids`)."""
        candidates = np.nonzero(_in_bitmap(self.bitmap, grams))[0]
        pos = np.searchsorted(self.keys, grams[candidates])
        pos[pos >= len(self.keys)] = 0
        confirmed = self.keys[pos] == grams[candidates]
        hits, pos = at[candidates[confirmed]], pos[confirmed]
        if not len(hits):
            return
        text_of = np.searchsorted(starts, hits, side="right") - 1
        for g, key, j in zip(hits.tolist(), pos.tolist(), text_of.tolist(), strict=True):
            offset = g - int(starts[j])
            for unit_index in self.unit_ids[self.offsets[key] : self.offsets[key + 1]].tolist():
                unit = self.units[unit_index]
                span_len = length
                if unit.span_len:  # a short span keyed by its prefix: check the whole span
                    span_len = unit.span_len
                    if length != self.min_span or g + span_len > len(ids) or (
                        sequence_hash(ids[g : g + span_len]) != unit.span_hash
                    ):
                        continue
                elif length != self.n:
                    continue
                entry = found[j].get(unit_index)
                if entry is None:
                    entry = found[j][unit_index] = [" ".join(shown[j][offset : offset + span_len]), set(), set()]
                entry[1].add(key)
                entry[2].update(range(offset, offset + span_len))

    # -- on disk ----------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the index to `path` (an uncompressed .npz), atomically."""
        units = [[u.benchmark, u.item_id, u.field] for u in self.units]
        numbers = np.array([[u.total, u.span_len, u.span_hash] for u in self.units], dtype=np.int64).reshape(-1, 3)
        meta = {"format": _FORMAT, "n": self.n, "min_span": self.min_span, "mask_numbers": self.mask_numbers,
                "units": units, "exact": [[h, u] for h, u in self.exact.items()]}  # fmt: skip
        questions = [[b, i, list(t)] for (b, i), t in self.questions.items()]
        common = sorted(" ".join(w) for w in self.common_windows)  # tokens hold no spaces
        vocab = "\n".join(sorted(self.vocab, key=self.vocab.__getitem__))  # tokens hold no whitespace
        with atomic_path(path, durable=False) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, keys=self.keys, offsets=self.offsets, unit_ids=self.unit_ids, bitmap=self.bitmap,
                     numbers=numbers, meta=_blob(json.dumps(meta)), vocab=_blob(vocab),
                     questions=_blob(json.dumps(questions)), common=_blob(json.dumps(common)))  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> NgramIndex:
        """An index written by :meth:`save`."""
        with np.load(path) as data:
            names = ("keys", "offsets", "unit_ids", "bitmap", "numbers", "meta", "vocab", "questions", "common")
            arrays = {k: data[k] for k in names}
        meta = json.loads(_text(arrays["meta"]))
        if meta.get("format") != _FORMAT:
            raise ValueError(f"index format {meta.get('format')} != {_FORMAT}")
        units = [Unit(b, i, f, t, s, h) for (b, i, f), (t, s, h) in zip(meta["units"], arrays["numbers"].tolist(), strict=True)]
        tokens = _text(arrays["vocab"]).split("\n") if len(arrays["vocab"]) else []
        return cls(n=meta["n"], min_span=meta["min_span"], mask_numbers=meta["mask_numbers"],
                   keys=arrays["keys"], offsets=arrays["offsets"], unit_ids=arrays["unit_ids"], units=units,
                   exact={h: u for h, u in meta["exact"]}, bitmap=arrays["bitmap"],
                   vocab=dict(zip(tokens, range(1, len(tokens) + 1), strict=True)), questions_json=arrays["questions"].tobytes(),
                   common_json=arrays["common"].tobytes())  # fmt: skip


def _blob(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)


def _text(blob: np.ndarray) -> str:
    return blob.tobytes().decode("utf-8", "surrogatepass")


def _window_tokens(texts: Sequence[str]) -> list[str]:
    """Every text's tokens, each text's followed by the separator token. Runs of ASCII texts are
    tokenised as one string (one lower(), translate() and split() for the lot, all on CPython's
    ASCII fast paths); other texts, and runs holding the separator character, text by text."""
    tokens: list[str] = []
    start = 0
    while start < len(texts):
        end = start
        while end < len(texts) and texts[end].isascii():
            end += 1
        if end > start:
            joined = _JOIN.join(texts[start:end]) + _JOIN.rstrip()
            if joined.count(_SEPARATOR) == end - start:
                tokens += joined.lower().translate(_ASCII_KEEP_SEPARATOR).split()
            else:
                tokens += [t for text in texts[start:end] for t in (*tokenize(text), _SEPARATOR)]
        if end < len(texts):
            tokens += tokenize(texts[end])
            tokens.append(_SEPARATOR)
            end += 1
        start = end
    return tokens


class _Tokens:
    """The unmasked tokens of each text, worked out when first asked for."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = texts
        self._done: dict[int, list[str]] = {}

    def __getitem__(self, j: int) -> list[str]:
        if j not in self._done:
            self._done[j] = tokenize(self.texts[j])
        return self._done[j]


class _Lookup(dict):
    """Token -> id; a token no benchmark text has is 0, or the id of "0" if it is a number
    (masked numbers). Lookups of known tokens never leave C (``dict.__getitem__``)."""

    def __init__(self, vocab: dict[str, int], zero: int) -> None:
        super().__init__(vocab)
        self[_SEPARATOR] = _SEPARATOR_ID
        self.zero = zero

    def __missing__(self, token: str) -> int:
        return self.zero if self.zero and token.isdigit() else 0


def _long_text_keys(texts, params, vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct n-gram keys of texts of >= n tokens, all at once: (keys, the text (index in
    `texts`) of each key, distinct keys per text). With masked numbers, windows that are more than
    half numbers (``0 0 0 ...`` from lists of test values) are not indexed: they would match any
    table of numbers."""
    n, _, masked = params
    if not texts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    lengths = np.array([len(t[1]) for t in texts], dtype=np.int64)
    ids = np.concatenate([np.append(t[2], np.uint64(0)) for t in texts])
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
    counts = lengths - n + 1
    owner = np.repeat(np.arange(len(texts)), counts)
    at = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(starts, counts)
    keys = window_hashes(ids, n)[at]
    if masked and "0" in vocab:
        numbers = np.concatenate([[0], np.cumsum(ids == vocab["0"])])
        keep = (numbers[at + n] - numbers[at]) * 2 <= n
        keys, owner = keys[keep], owner[keep]
    order = np.lexsort((keys, owner))
    keys, owner = keys[order], owner[order]
    distinct = np.ones(len(keys), dtype=bool)
    distinct[1:] = (keys[1:] != keys[:-1]) | (owner[1:] != owner[:-1])
    keys, owner = keys[distinct], owner[distinct]
    return keys, owner, np.bincount(owner, minlength=len(texts))


def _short_text(unit: Unit, tokens: list[str], ids: np.ndarray, params, pairs, owners, exact, index: int) -> bool:
    """Index a text of fewer than n tokens as unit number `index` (a short span keyed by its first
    min_span tokens, or an exact short text); False if it is not indexed (answers, texts of
    fewer than MIN_EXACT_TOKENS tokens, and with masked numbers texts mostly numbers)."""
    _, min_span, masked = params
    if unit.field == "answer" or len(tokens) < MIN_EXACT_TOKENS:
        return False
    if masked and not _mostly_words(tokens, len(tokens))[0]:
        return False
    if len(tokens) < min_span:
        exact.setdefault(sequence_hash(ids), []).append(index)
        return True
    unit.span_len, unit.span_hash = len(tokens), sequence_hash(ids)
    pairs.append(np.array([sequence_hash(ids[:min_span])], dtype=np.int64))
    owners.append(np.array([index], dtype=np.int64))
    return True


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


def cache_dir() -> Path:
    """``$SYNTHPIPE_CACHE_DIR/decontam`` or ``~/.cache/synthpipe/decontam``."""
    return cache_root() / "decontam"


def get_index(
    sets: Sequence[BenchmarkSet], n: int = 13, min_span: int = 8, mask_numbers: bool = False
) -> NgramIndex:
    """The index for `sets`: built once per process, kept on disk for later processes (keyed by
    the sets' content hashes, the settings and the source of the code that builds it)."""
    min_span = min(min_span, n)
    key = (tuple((s.name, s.content_hash()) for s in sets), n, min_span, mask_numbers)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = _load_or_build(sets, key)
        return _CACHE[key]


def _load_or_build(sets: Sequence[BenchmarkSet], key: tuple) -> NgramIndex:
    _, n, min_span, mask_numbers = key
    digest = hashlib.sha256(json.dumps([_FORMAT, code_hash(), *key]).encode()).hexdigest()[:24]
    path = cache_dir() / f"ngram-{digest}.npz"
    if path.exists():
        try:
            return NgramIndex.load(path)
        except Exception as exc:  # a damaged or foreign file: rebuild and overwrite
            _log.warning("n-gram index cache %s unreadable (%s); rebuilding", path, exc)
    index = NgramIndex.build(sets, n=n, min_span=min_span, mask_numbers=mask_numbers)
    try:
        index.save(path)
    except OSError as exc:  # a read-only or full cache disk only costs rebuilding
        _log.info("n-gram index not cached (%s)", exc)
    return index


@cache
def code_hash() -> str:
    """Hash of the code that decides an index's contents (this module, the normaliser, the
    benchmark loader): a change to any of them builds the index anew."""
    digest = hashlib.sha256()
    for module in (__file__, _normalize_module.__file__, registry.__file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()[:16]


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
    best: dict[int, dict[tuple[str, str, str], NgramHit]] = {}  # records with a match only
    for (r, fname, _), per_text in zip(flat, matches, strict=True):
        if not per_text:
            continue
        for unit_index, (span, count, words) in per_text.items():
            unit = index.units[unit_index]
            if not passes(count, unit.total, min_overlap):
                continue
            hit = NgramHit(unit.benchmark, unit.item_id, fname, span, count,
                           count / max(unit.total, 1), unit.field, words)  # fmt: skip
            key = (unit.benchmark, unit.item_id, unit.field)
            old = best.setdefault(r, {}).get(key)
            if old is None or _strength(hit, answers) > _strength(old, answers):
                best[r][key] = hit
    for r, per in best.items():
        for (bench, item, part), hit in per.items():
            if part == "answer" and (bench, item, "question") not in per and not answers.accepts(hit):
                hit.question_span = index.question_overlap(bench, item, list(records[r].values()))
    decided = {r: _decide(per, answers) for r, per in best.items() if per}
    return [decided.get(r) or RecordMatches() for r in range(len(records))]


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
