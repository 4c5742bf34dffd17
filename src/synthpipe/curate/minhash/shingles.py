"""Word n-gram shingles of normalised text, hashed to 32-bit ints, for a batch of texts at once.

A document's shingles are its overlapping word ``ngram``-grams (Broder 1997, "On the
resemblance and containment of documents": resemblance is the Jaccard similarity of the two
shingle sets). Words are the whitespace-separated tokens of ``normalize(text)`` (NFKC,
lowercase, punctuation to spaces by default); a text with fewer than ``ngram`` words has
one shingle, made of all its words; a text without words has none.

Everything past two C-level string calls per text is vectorised over the whole batch:

- Non-ASCII texts get their Unicode normal form and ``str.lower`` (ASCII texts need
  neither: every normal form leaves ASCII unchanged and a 128-entry table lowercases it).
- ASCII texts are joined into one byte array, the others into one UTF-32 array; separators
  (``str.isspace`` code points, and, when punctuation is stripped, everything that is not
  ``str.isalnum`` or ``_``: the classes of ``normalize``'s regexes) become spaces, with a
  table for ASCII and a per-code-point cache for the rest. The words are then those of
  ``normalize(text).split()``.
- Word hashes are polynomial hashes mod 2^64 of the code points, from one prefix sum over
  the batch, mixed with MurmurHash3's 64-bit finaliser (Appleby 2011).
- An n-gram's hash is ``fmix64(sum_k word[i+k] * M_k)`` with fixed odd multipliers ``M_k``,
  so word order matters; its top 32 bits are the shingle hash.

The hashes depend only on the words, the normalisation and ``ngram``: the same shingle gets
the same hash in every document, process and run (no salted ``hash()``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from synthpipe.text.normalize import DEFAULT, Normalization, normalize

_U64 = np.uint64
_SPACE = 0x20
# str.split() / regex \s whitespace within ASCII, and regex \w (for str patterns) within ASCII
_ASCII_SPACE = frozenset(b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f")
_ASCII_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_BYTE_BASE = 0x9E3779B97F4A7C15  # odd: its powers are invertible mod 2^64
_INVERSE_BASE = pow(_BYTE_BASE, -1, 1 << 64)
_LENGTH_MIX = 0xD6E8FEB86659FD93
_FMIX1, _FMIX2 = _U64(0xFF51AFD7ED558CCD), _U64(0xC4CEB9FE1A85EC53)


def splitmix64(seed: int, count: int) -> list[int]:
    """`count` pseudo-random 64-bit ints from SplitMix64 (Steele, Lea & Flood 2014).

    Used for every fixed constant here and for the permutation parameters: unlike numpy's
    generators it is specified to the bit, so signatures stay comparable across versions.
    """
    out, state = [], seed & 0xFFFFFFFFFFFFFFFF
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        out.append(z ^ (z >> 31))
    return out


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, in place on a uint64 array (returns it)."""
    h ^= h >> _U64(33)
    h *= _FMIX1
    h ^= h >> _U64(33)
    h *= _FMIX2
    h ^= h >> _U64(33)
    return h


@lru_cache(maxsize=16)
def _byte_table(lowercase: bool, strip_punctuation: bool) -> np.ndarray:
    """Maps each byte to its normalised byte; separators become a space."""
    table = np.arange(256, dtype=np.uint8)
    for b in range(128):
        if b in _ASCII_SPACE or (strip_punctuation and b not in _ASCII_WORD):
            table[b] = _SPACE
        elif lowercase and 0x41 <= b <= 0x5A:
            table[b] = b + 0x20
    return table


@lru_cache(maxsize=8)
def _ngram_multipliers(ngram: int) -> np.ndarray:
    return np.array([m | 1 for m in splitmix64(0x5EED_0F_5817, ngram)], dtype=_U64)


class _Powers:
    """B^j and B^-j mod 2^64 for j < n. Cached up to `_CACHE` entries (16 B each); a larger
    request (one huge text) is computed for that call only, so memory does not stay high."""

    _CACHE = 1 << 21

    def __init__(self) -> None:
        self._tables = (np.ones(1, dtype=_U64), np.ones(1, dtype=_U64))  # swapped as one object

    def upto(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if n > self._CACHE:
            return _geometric(_BYTE_BASE, n), _geometric(_INVERSE_BASE, n)
        tables = self._tables
        if len(tables[0]) < n:
            size = min(max(n, len(tables[0]) + len(tables[0]) // 4), self._CACHE)
            tables = self._tables = (_geometric(_BYTE_BASE, size), _geometric(_INVERSE_BASE, size))
        return tables[0][:n], tables[1][:n]


def _geometric(base: int, n: int) -> np.ndarray:
    steps = np.full(n, base, dtype=_U64)
    steps[0] = 1
    return np.cumprod(steps, dtype=_U64)  # wraps mod 2^64


_POWERS = _Powers()


def _prepare(text: str, how: Normalization) -> str:
    """Unicode form and lowercasing for non-ASCII text (both are no-ops or table work on ASCII)."""
    if text.isascii():
        return text
    if how.unicode:
        text = unicodedata.normalize(how.unicode, text)
    return text.lower() if how.lowercase else text


def _is_separator(cp: int, strip_punctuation: bool) -> bool:
    ch = chr(cp)  # regex \s and str.split() use str.isspace; regex \w is isalnum() or "_"
    return ch.isspace() or (strip_punctuation and not (ch.isalnum() or ch == "_"))


_SEPARATORS: dict[tuple[int, bool], bool] = {}


def _map_non_ascii(cps: np.ndarray, strip_punctuation: bool) -> None:
    """Turn non-ASCII separators (Unicode spaces, punctuation if stripped) into spaces, in place."""
    where = np.flatnonzero(cps >= 128)
    if not len(where):
        return
    uniq, inverse = np.unique(cps[where], return_inverse=True)
    flags = np.array([_separator(int(cp), strip_punctuation) for cp in uniq], dtype=bool)
    cps[where[flags[inverse]]] = _SPACE


def _separator(cp: int, strip_punctuation: bool) -> bool:
    key = (cp, strip_punctuation)
    flag = _SEPARATORS.get(key)
    if flag is None:
        if len(_SEPARATORS) > 1 << 20:
            _SEPARATORS.clear()
        flag = _SEPARATORS[key] = _is_separator(cp, strip_punctuation)
    return flag


def word_hashes(texts: Sequence[str], how: Normalization = DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every word of every text, and ``counts[i]`` = words in text i.

    Words are those of ``normalize(text, how).split()``, hashed on their code points. ASCII
    texts are joined and handled as one byte array; the others are normalised, joined and
    encoded as UTF-32; the two groups are merged back in input order.
    """
    flags = np.fromiter((t.isascii() for t in texts), dtype=bool, count=len(texts))
    if flags.all():
        return _ascii_words(texts, how)
    if not flags.any():
        return _unicode_words(texts, how)
    groups = [np.flatnonzero(flags), np.flatnonzero(~flags)]
    parts = [
        _ascii_words([texts[i] for i in groups[0]], how),
        _unicode_words([texts[i] for i in groups[1]], how),
    ]
    counts = np.empty(len(texts), dtype=np.int64)
    for idx, (_, c) in zip(groups, parts, strict=True):
        counts[idx] = c
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    merged = np.empty(int(offsets[-1]), dtype=_U64)
    for idx, (h, c) in zip(groups, parts, strict=True):
        local = np.zeros(len(c), dtype=np.int64)
        np.cumsum(c[:-1], out=local[1:])
        merged[np.arange(len(h)) + np.repeat(offsets[idx] - local, c)] = h
    return merged, counts


def _ascii_words(texts: Sequence[str], how: Normalization) -> tuple[np.ndarray, np.ndarray]:
    table = _byte_table(how.lowercase, how.strip_punctuation).tobytes()  # bytes.translate: C speed
    units = np.frombuffer(" ".join(texts).encode("ascii").translate(table), dtype=np.uint8)
    return _hash_words(units, texts)


def _unicode_words(texts: Sequence[str], how: Normalization) -> tuple[np.ndarray, np.ndarray]:
    prepared = [_prepare(t, how) for t in texts]
    joined = " ".join(prepared).encode("utf-32-le", errors="surrogatepass")
    cps = np.frombuffer(joined, dtype=np.uint32)
    table = _byte_table(how.lowercase, how.strip_punctuation).astype(np.uint32)
    units = np.where(cps < 128, table[np.minimum(cps, 127)], cps)
    _map_non_ascii(units, how.strip_punctuation)
    return _hash_words(units, prepared)


def _hash_words(units: np.ndarray, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Word hashes of space-joined `texts` given as mapped code units (separators are spaces)."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    starts = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(lengths[:-1] + 1, out=starts[1:])
    word = np.empty(len(units) + 2, dtype=np.int8)
    word[0] = word[-1] = 0
    np.not_equal(units, _SPACE, out=word[1:-1].view(bool))
    edges = np.flatnonzero(np.diff(word))  # a word's start and end alternate
    w_start, w_end = edges[0::2], edges[1::2]
    powers, inverse = _POWERS.upto(len(units) + 1)
    prefix = np.zeros(len(units) + 1, dtype=_U64)
    np.multiply(units, powers[: len(units)], out=prefix[1:])
    np.add.accumulate(prefix[1:], out=prefix[1:])
    h = (prefix[w_end] - prefix[w_start]) * inverse[w_start]
    h += (w_end - w_start).astype(_U64) * _U64(_LENGTH_MIX)
    fmix64(h)
    first_word = np.append(np.searchsorted(w_start, starts), len(w_start))  # of each text
    return h, np.diff(first_word).astype(np.int64)


def ngram_hashes(words: np.ndarray, counts: np.ndarray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes (uint32, grouped by text in input order) and offsets (len n+1).

    ``words`` holds the word hashes of all texts back to back, ``counts`` how many per text.
    """
    n_words, mult = len(words), _ngram_multipliers(ngram)
    word_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=word_offsets[1:])
    padded = np.concatenate([words, np.zeros(ngram - 1, dtype=_U64)])
    acc = padded[:n_words] * mult[0]
    for k in range(1, ngram):
        acc += padded[k : k + n_words] * mult[k]
    doc = np.repeat(np.arange(len(counts)), counts)
    pos = np.arange(n_words) - word_offsets[doc]
    own = counts[doc]
    valid = (pos <= own - ngram) | ((own < ngram) & (pos == 0))
    short = np.flatnonzero((counts > 0) & (counts < ngram))
    if len(short):  # one shingle of all words: drop the terms that ran into the next text
        first, n = word_offsets[short], counts[short]
        acc[first] = 0
        for k in range(ngram - 1):
            take = k < n
            acc[first[take]] += words[first[take] + k] * mult[k]
    shingles = (fmix64(acc[valid]) >> _U64(32)).astype(np.uint32)
    per_doc = np.maximum(counts - ngram + 1, np.minimum(counts, 1))
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(per_doc, out=offsets[1:])
    return shingles, offsets


def shingle_hashes(
    texts: Sequence[str], ngram: int = 5, how: Normalization = DEFAULT
) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of a batch of texts: ``(hashes uint32, offsets int64 of length n+1)``.

    Text ``i`` owns ``hashes[offsets[i]:offsets[i+1]]`` (n-grams in text order; repeats kept).
    """
    if ngram < 1:
        raise ValueError("ngram must be >= 1")
    if not texts:
        return np.zeros(0, dtype=np.uint32), np.zeros(1, dtype=np.int64)
    words, counts = word_hashes(texts, how)
    return ngram_hashes(words, counts, ngram)


def reference_shingles(text: str, ngram: int = 5, how: Normalization = DEFAULT) -> set[tuple[str, ...]]:
    """The shingle set as plain tuples of words (slow; the definition the tests check against)."""
    words = normalize(text, how).split()
    if not words:
        return set()
    if len(words) < ngram:
        return {tuple(words)}
    return {tuple(words[i : i + ngram]) for i in range(len(words) - ngram + 1)}
