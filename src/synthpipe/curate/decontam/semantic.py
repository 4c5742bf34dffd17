"""Embedding-similarity contamination detector for paraphrased benchmark items.

Yang et al. (2023), "Rethinking Benchmark and Contamination for Language Models with
Rephrased Samples", show that rephrasing a test item (other words, names, numbers) defeats
n-gram decontamination. This detector embeds each benchmark question once with the offline
MiniLM embedder (:func:`synthpipe.embeddings.get_embedder`; Reimers & Gurevych 2019,
"Sentence-BERT"), embeds record texts, and flags a record text whose cosine similarity to a
benchmark question reaches that benchmark's threshold. Nearest neighbours are exact:
block-wise matrix products against the ~19k x 384 benchmark matrix (no ANN needed at this size).

Numbers are masked before embedding, on both sides (``$1,200``, ``60%``, ``3.5``, ``twelve`` ->
``N``): a rephrasing that swaps the numbers then keeps its similarity. Masking names as well
was tried and rejected: GSM8K problems collapse into "X buys N ..." templates (recall 0.86 at
487 flagged GSM8K *train* problems, against 96 without).

Thresholds per benchmark (:data:`CALIBRATED`, :class:`Thresholds`). A text is a paraphrase of
a question when their similarity reaches ``similarity``, or reaches the lower ``same_numbers``
while the text states exactly the question's numbers (at least :data:`MIN_SHARED_NUMBERS`): a
rephrasing that keeps the facts keeps the numbers, a different problem of the same kind rarely
does ("Kim buys 3 pizzas ... $72" vs "Four friends ordered four pizzas ... 64 dollars", 0.858).
GSM8K's pair was calibrated on hand-rephrased test items against GSM8K train (same-domain
negatives), half of each held out: ``benchmarks/calibrate_decontaminate.py``, curve and held-out
figures in ``benchmarks/README.md``. Other benchmarks keep :data:`DEFAULT_THRESHOLD` (0.85) and no
numbers rule: no rephrased positives exist for them to calibrate on.

Limits: the embedder reads the first 256 word pieces of a text, so a benchmark item buried in
a long document is left to the n-gram detector; heavy rewrites (other objects and story) score
0.4-0.9 and are mostly missed, as Yang et al. report for embedding detectors: their second
stage, an LLM asked about each nearest pair, is :mod:`synthpipe.curate.decontam.judge`.

Every text goes through the shared embedding cache (:mod:`synthpipe.embeddings.cache`): the
bundled sets' questions (numbers masked) ship with their MiniLM vectors, so even a first run
embeds none of the 18,820 questions (222 s on 2 CPU cores with the ONNX backend when they did
not ship); a user file's questions are embedded once and kept in the on-disk cache. The
index (one matrix per set list, embedder and masking) is built once per process.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from synthpipe.curate.decontam.registry import BenchmarkSet
from synthpipe.embeddings.cache import embed

DEFAULT_THRESHOLD = 0.85  # benchmarks without a calibrated pair
MIN_SHARED_NUMBERS = 2  # the numbers rule needs at least this many numbers, all the question's
CANDIDATES = 10  # nearest questions per text checked against the thresholds
_NUMBER_WORDS = (
    "zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    "hundred|thousand|million|billion"
)
_WORD_VALUES = {w: i for i, w in enumerate(_NUMBER_WORDS.split("|")[:20])} | {
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9,
    "half": 0.5, "twice": 2, "double": 2, "thrice": 3, "triple": 3, "dozen": 12,
}  # fmt: skip


def _words_pattern(words: list[str]) -> str:
    """The alternation of `words` between word boundaries, behind a look-ahead on their first
    letters that rejects most positions at once (same matches, half the time)."""
    first = "".join(sorted({w[0] for w in words}))
    return r"\b(?=[" + first + first.upper() + r"])(?:" + "|".join(words) + r")\b"


_VALUE = re.compile(r"\d[\d,]*(?:\.\d+)?|\.\d+|" + _words_pattern(list(_WORD_VALUES)), re.IGNORECASE)
_NUMBER = re.compile(r"[$€£]?\d[\d,]*(?:\.\d+)?%?|" + _words_pattern(_NUMBER_WORDS.split("|")), re.IGNORECASE)
_BLOCK = 1024  # record vectors per matrix product (1024 x 19k float32 = 78 MB)
_CACHE: dict[tuple, SemanticIndex] = {}
_LOCK = threading.Lock()


def mask_numbers(text: str) -> str:
    """Digits (with currency, thousands separators, decimals, %) and number words -> ``N``."""
    return _NUMBER.sub("N", text)


def numbers_of(text: str) -> frozenset[float]:
    """The distinct numbers a text states: digits (``$1,200.50`` -> 1200.5, ``.5`` -> 0.5) and
    number words (``twelve``, ``twice``, ``half``, ``dozen``)."""
    out = set()
    for match in _VALUE.finditer(text):
        token = match.group().lower().replace(",", "")
        out.add(float(_WORD_VALUES.get(token, token)))
    return frozenset(out)


@dataclass(frozen=True)
class Thresholds:
    """When a text is a paraphrase of a benchmark question (see the module docstring)."""

    similarity: float = DEFAULT_THRESHOLD  # cosine at or above which it is, whatever its numbers
    same_numbers: float | None = None  # lower cosine that counts when the text has the question's numbers

    @property
    def floor(self) -> float:
        return min(self.similarity, self.same_numbers or self.similarity)

    def accepts(self, similarity: float, shared_numbers: int) -> bool:
        if similarity >= self.similarity:
            return True
        return self.same_numbers is not None and similarity >= self.same_numbers and (
            shared_numbers >= MIN_SHARED_NUMBERS
        )


# calibrated by benchmarks/calibrate_decontaminate.py (F1 on the calibration halves)
CALIBRATED: dict[str, Thresholds] = {"gsm8k": Thresholds(similarity=0.89, same_numbers=0.75)}


def thresholds_for(
    name: str, similarity: float | None = None, same_numbers: float | None = None
) -> Thresholds:
    """Benchmark `name`'s thresholds: the calibrated pair (or the default), each value replaced
    by `similarity` / `same_numbers` when given."""
    base = CALIBRATED.get(name, Thresholds())
    return Thresholds(
        base.similarity if similarity is None else similarity,
        base.same_numbers if same_numbers is None else same_numbers,
    )


@dataclass
class SemanticHit:
    benchmark: str
    item_id: str
    field: str  # record field that matched
    similarity: float
    shared_numbers: int = 0  # set when the numbers rule made the hit (similarity below the bar)
    detector: str = "semantic"
    evidence: dict = field(default_factory=dict)  # further detail, e.g. the LLM judge's verdict

    def as_dict(self) -> dict:
        out = {"benchmark": self.benchmark, "item_id": self.item_id, "detector": self.detector,
               "field": self.field, "similarity": round(self.similarity, 3)}  # fmt: skip
        if self.shared_numbers:
            out["same_numbers"] = self.shared_numbers
        return {**out, **self.evidence}


@dataclass
class Neighbour:
    """A benchmark question near one record text."""

    field: str  # record field
    text: str  # the record's text
    row: int  # row of the question in the index
    similarity: float
    shared_numbers: int  # the question's numbers, when the text states all of them (else 0)


@dataclass
class SemanticIndex:
    """Unit-norm embeddings of benchmark questions, one row per item."""

    matrix: np.ndarray  # (items, dim) float32
    owners: list[tuple[str, str]]  # (benchmark, item id) per row
    mask: bool
    questions: list[str] = field(default_factory=list, repr=False)  # per row, as published
    _numbers: dict[int, frozenset[float]] = field(default_factory=dict, repr=False)

    def numbers(self, row: int) -> frozenset[float]:
        """The numbers the question of `row` states (worked out when first asked: most rows
        are never anyone's neighbour)."""
        found = self._numbers.get(row)
        if found is None:
            found = self._numbers[row] = numbers_of(self.questions[row])
        return found

    @classmethod
    def build(cls, sets: Sequence[BenchmarkSet], embedder, mask: bool = True) -> SemanticIndex:
        blocks, owners, questions = [], [], []
        for bench in sets:
            items = [r for r in bench.load() if r.get("question")]
            texts = [_prepare(r["question"], mask) for r in items]
            blocks.append(embed(embedder, texts))
            owners.extend((bench.name, r["id"]) for r in items)
            questions.extend(r["question"] for r in items)
        matrix = np.concatenate(blocks) if blocks else np.zeros((0, 1), dtype=np.float32)
        return cls(matrix=matrix.astype(np.float32, copy=False), owners=owners, mask=mask, questions=questions)

    def search(
        self, vectors: np.ndarray, threshold: float, top_k: int = 5
    ) -> list[list[tuple[int, float]]]:
        """For each vector: up to `top_k` ``(row, similarity)`` at or above `threshold`, best first."""
        out: list[list[tuple[int, float]]] = []
        for start in range(0, len(vectors), _BLOCK):
            sims = vectors[start : start + _BLOCK] @ self.matrix.T
            for row in sims:
                above = np.nonzero(row >= threshold)[0]
                if len(above) > top_k:
                    above = above[np.argpartition(-row[above], top_k - 1)[:top_k]]
                out.append(
                    sorted(((int(i), float(row[i])) for i in above), key=lambda p: (-p[1], p[0]))
                )
        return out


def _prepare(text: str, mask: bool) -> str:
    return mask_numbers(text) if mask else text


def get_index(sets: Sequence[BenchmarkSet], embedder, mask: bool = True) -> SemanticIndex:
    """The semantic index for `sets` and `embedder`, built once per process."""
    key = (tuple((s.name, s.content_hash()) for s in sets), embedder.key, mask)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = SemanticIndex.build(sets, embedder, mask=mask)
        return _CACHE[key]


def neighbours(
    index: SemanticIndex, embedder, records: Sequence[dict[str, str]], floor: float, top_k: int
) -> list[list[Neighbour]]:
    """Per record (each a ``{field: text}`` dict): the `top_k` nearest benchmark questions of
    each of its texts at or above `floor`, most similar first."""
    flat = [(r, f, t) for r, texts in enumerate(records) for f, t in texts.items()]
    out: list[list[Neighbour]] = [[] for _ in records]
    if not flat or not len(index.owners):
        return out
    vectors = embed(embedder, [_prepare(t, index.mask) for _, _, t in flat])
    for (r, fname, text), matches in zip(flat, index.search(vectors, floor, top_k), strict=True):
        mine = numbers_of(text)
        for row, sim in matches:
            theirs = index.numbers(row)
            shared = len(theirs) if theirs and theirs == mine else 0
            out[r].append(Neighbour(fname, text, row, sim, shared))
    for found in out:
        found.sort(key=lambda n: (-n.similarity, n.row))
    return out


def find_hits(
    index: SemanticIndex,
    embedder,
    records: Sequence[dict[str, str]],
    threshold: float | Thresholds | Mapping[str, Thresholds] = DEFAULT_THRESHOLD,
    top_k: int = 5,
) -> list[list[SemanticHit]]:
    """Hits per record (each a ``{field: text}`` dict), most similar first, one per benchmark item.

    `threshold`: one cosine for every benchmark, one :class:`Thresholds`, or a map from
    benchmark name to its thresholds (missing names: :func:`thresholds_for`).
    """
    table = _table(threshold)
    floor = min((table(b).floor for b in {b for b, _ in index.owners}), default=1.0)
    best: list[dict[tuple[str, str], SemanticHit]] = [{} for _ in records]
    for r, near in enumerate(neighbours(index, embedder, records, floor, max(top_k, CANDIDATES))):
        for n in near:
            bench, item_id = index.owners[n.row]
            rule = table(bench)
            if not rule.accepts(n.similarity, n.shared_numbers):
                continue
            numbers = n.shared_numbers if n.similarity < rule.similarity else 0
            old = best[r].get((bench, item_id))
            if old is None or n.similarity > old.similarity:
                best[r][(bench, item_id)] = SemanticHit(bench, item_id, n.field, n.similarity, numbers)
    return [
        sorted(b.values(), key=lambda h: (-h.similarity, h.benchmark, h.item_id))[:top_k]
        for b in best
    ]


def _table(threshold: float | Thresholds | Mapping[str, Thresholds]):
    if isinstance(threshold, Thresholds):
        return lambda name: threshold
    if isinstance(threshold, Mapping):
        return lambda name: threshold.get(name) or thresholds_for(name)
    return lambda name: Thresholds(float(threshold))
