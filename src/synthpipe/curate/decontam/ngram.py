"""N-gram overlap contamination detector (GPT-3 style 13-gram decontamination).

Method: Brown et al. (2020), "Language Models are Few-Shot Learners", Appendix C: a text
is contaminated by a benchmark item when they share an n-gram (n = 13) of normalised words
(lower-cased, punctuation and whitespace ignored). Here both the benchmark's question and
its answer are indexed, so copied solutions count as well as copied problems.

Normalisation: :func:`synthpipe.curate.normalize.normalize` (NFKC, lower-case, punctuation
-> space, whitespace collapsed), then whitespace tokens.

Short benchmark texts. A question with fewer than ``n`` tokens has no n-gram, so:

- ``min_span`` (default 8) to ``n - 1`` tokens: its full token sequence is indexed as one
  span and matches wherever it occurs inside a record text. 8 follows the GPT-3 paper, which
  never went below 8 words on non-synthetic tasks "due to spurious collisions at lower values".
- fewer than ``min_span`` tokens: matches only a record text that is that sequence exactly
  (e.g. TREC's "Who was Galileo ?" catches the record "who was Galileo?" but not "Who was
  Galileo's teacher?").
- short *answers* (``"18"``, ``"B. 4"``) are not indexed on their own: they would match
  everywhere.

Index: the 64-bit Python hashes of the token tuples, sorted in a NumPy array, with a CSR map
from each hash to the benchmark texts holding it (about 1.0 M n-grams and 25 MB for the whole
bundled registry). Python's string hash is salted per process, so an index is only valid in
the process that built it (:func:`get_index` caches one per process and configuration).
Collisions at 64 bits are negligible for millions of n-grams (expected < 1e-6 false hits).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from synthpipe.curate.decontam.registry import BenchmarkSet
from synthpipe.curate.normalize import normalize

_CACHE: dict[tuple, NgramIndex] = {}
_CACHE_LOCK = threading.Lock()


def tokenize(text: str) -> list[str]:
    """Normalised whitespace tokens (lower-case, no punctuation, NFKC)."""
    return normalize(text).split()


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
    field: str
    total: int  # distinct keys this text contributed (denominator of fractional overlap)


@dataclass
class NgramHit:
    benchmark: str
    item_id: str
    field: str  # record field that matched
    span: str  # the matched n-gram (or whole short text), normalised
    count: int  # distinct matched n-grams of that benchmark text
    fraction: float  # count / n-grams of that benchmark text

    def as_dict(self) -> dict:
        return {"benchmark": self.benchmark, "item_id": self.item_id, "detector": "ngram",
                "field": self.field, "span": self.span}  # fmt: skip


@dataclass
class NgramIndex:
    """Hashed n-grams of benchmark texts -> the texts holding them. Build with :meth:`build`."""

    n: int
    min_span: int
    keys: np.ndarray  # sorted unique int64 hashes of n-grams and short spans
    offsets: np.ndarray  # CSR: units of keys[i] are unit_ids[offsets[i]:offsets[i+1]]
    unit_ids: np.ndarray
    units: list[Unit]
    span_lengths: tuple[int, ...]  # window lengths to hash in records: n and short-span lengths
    exact: dict[int, list[int]] = field(default_factory=dict)  # hash of a very short text -> units

    @classmethod
    def build(cls, sets: Sequence[BenchmarkSet], n: int = 13, min_span: int = 8) -> NgramIndex:
        pairs: list[np.ndarray] = []  # distinct keys of each keyed unit
        owners: list[int] = []  # the unit of each entry of `pairs`
        units: list[Unit] = []
        exact: dict[int, list[int]] = {}
        lengths = {n}
        for bench in sets:
            for item in bench.load():
                questions, answers = bench.texts(item)
                for kind, text in [("question", t) for t in questions] + [("answer", t) for t in answers]:
                    tokens = tokenize(text)
                    if len(tokens) >= n:
                        keys = np.unique(_grams(tokens, n))
                    elif kind == "answer" or not tokens:
                        continue
                    elif len(tokens) >= min_span:
                        keys = np.array([hash(tuple(tokens))], dtype=np.int64)
                        lengths.add(len(tokens))
                    else:
                        exact.setdefault(hash(tuple(tokens)), []).append(len(units))
                        units.append(Unit(bench.name, item["id"], kind, 1))
                        continue
                    pairs.append(keys)
                    owners.append(len(units))
                    units.append(Unit(bench.name, item["id"], kind, len(keys)))
        return cls._from_pairs(n, min_span, pairs, owners, units, exact, lengths)

    @classmethod
    def _from_pairs(cls, n, min_span, pairs, owners, units, exact, lengths) -> NgramIndex:
        """Sort all (key, unit) pairs by key and compress them into unique keys + CSR offsets."""
        all_keys = np.concatenate(pairs) if pairs else np.empty(0, dtype=np.int64)
        owner = np.repeat(np.array(owners, dtype=np.int32), [len(p) for p in pairs])
        order = np.lexsort((owner, all_keys))
        all_keys, owner = all_keys[order], owner[order]
        keys, starts = np.unique(all_keys, return_index=True)
        offsets = np.append(starts, len(all_keys)).astype(np.int64)
        return cls(n=n, min_span=min_span, keys=keys, offsets=offsets, unit_ids=owner.astype(np.int32),
                   units=units, span_lengths=tuple(sorted(lengths, reverse=True)), exact=exact)  # fmt: skip

    @property
    def size(self) -> int:
        return len(self.keys) + len(self.exact)

    def nbytes(self) -> int:
        return self.keys.nbytes + self.offsets.nbytes + self.unit_ids.nbytes

    def match(self, texts: Sequence[str]) -> list[list[tuple[int, str, int]]]:
        """For each text: ``(unit index, matched span, distinct matched keys)`` per matched unit."""
        token_lists = [tokenize(t) for t in texts]
        chunks, meta = [], []  # meta: (text index, window length, offset into the concatenation)
        offset = 0
        for j, tokens in enumerate(token_lists):
            for length in self.span_lengths:
                grams = _grams(tokens, length)
                if len(grams):
                    chunks.append(grams)
                    meta.append((j, length, offset))
                    offset += len(grams)
        found: list[dict[int, list]] = [{} for _ in texts]
        if chunks:
            self._lookup(np.concatenate(chunks), meta, token_lists, found)
        for j, tokens in enumerate(token_lists):
            if tokens and len(tokens) < self.min_span and self.exact:
                for unit in self.exact.get(hash(tuple(tokens)), ()):
                    found[j].setdefault(unit, [" ".join(tokens), set()])[1].add(0)
        return [[(u, span, len(keys)) for u, (span, keys) in per_text.items()] for per_text in found]

    def _lookup(self, grams: np.ndarray, meta: list, token_lists: list, found: list[dict]) -> None:
        pos = np.searchsorted(self.keys, grams)
        pos[pos >= len(self.keys)] = 0
        hit = np.nonzero(self.keys[pos] == grams)[0] if len(self.keys) else np.empty(0, dtype=np.int64)
        if not len(hit):
            return
        chunk_starts = np.array([m[2] for m in meta])
        for g in hit.tolist():
            j, length, start = meta[int(np.searchsorted(chunk_starts, g, side="right")) - 1]
            key = int(pos[g])
            for unit in self.unit_ids[self.offsets[key] : self.offsets[key + 1]].tolist():
                entry = found[j].get(unit)
                if entry is None:
                    window = token_lists[j][g - start : g - start + length]
                    entry = found[j][unit] = [" ".join(window), set()]
                entry[1].add(key)


def get_index(sets: Sequence[BenchmarkSet], n: int = 13, min_span: int = 8) -> NgramIndex:
    """The index for `sets`, built once per process (keyed by the sets' content hashes)."""
    key = (tuple((s.name, s.content_hash()) for s in sets), n, min_span)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = NgramIndex.build(sets, n=n, min_span=min_span)
        return _CACHE[key]


def passes(count: int, total: int, min_overlap: int | float) -> bool:
    """An int threshold counts distinct matched n-grams; a float is a fraction of the text's n-grams."""
    if isinstance(min_overlap, bool) or isinstance(min_overlap, int):
        return count >= min_overlap
    return total > 0 and count / total >= min_overlap


def find_hits(index: NgramIndex, texts: dict[str, str], min_overlap: int | float = 1) -> list[NgramHit]:
    """Hits of one record (`texts`: field -> text), strongest first, one per benchmark item."""
    fields = list(texts)
    best: dict[tuple[str, str], NgramHit] = {}
    for fname, matches in zip(fields, index.match([texts[f] for f in fields]), strict=True):
        for unit_index, span, count in matches:
            unit = index.units[unit_index]
            if not passes(count, unit.total, min_overlap):
                continue
            hit = NgramHit(unit.benchmark, unit.item_id, fname, span, count, count / max(unit.total, 1))
            key = (unit.benchmark, unit.item_id)
            if key not in best or (hit.count, hit.fraction) > (best[key].count, best[key].fraction):
                best[key] = hit
    return sorted(best.values(), key=lambda h: (-h.count, -h.fraction, h.benchmark, h.item_id))
