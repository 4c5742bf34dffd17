"""A corpus that exercises every decision of the dedup and decontamination steps, shared by the
Ray and the serial-job tests (it is built from bundled data, so it needs nothing else)."""

from __future__ import annotations

import gzip
import json
import random
from importlib.resources import files
from pathlib import Path

RES = Path(str(files("synthpipe") / "resources"))


def dedup_corpus(n_base: int = 600, seed: int = 0) -> list[dict]:
    """TREC questions joined 8 to a document, plus planted exact duplicates (case changes),
    near-duplicates (1-3 words replaced), chains A ~ B ~ C with J(A, C) below the threshold,
    n_base / 15 copies of one text (a bucket above bucket_cap), GSM8K / TREC test items, and
    records without text, without words, or with a number for text."""
    rng = random.Random(seed)
    questions = _texts(RES / "data/trec/train.jsonl", "text")
    with gzip.open(RES / "benchmarks/gsm8k/test.jsonl.gz", "rt") as fh:
        gsm8k = [json.loads(line)["question"] for line in fh]
    trec_test = _texts(RES / "data/trec/test.jsonl", "text")
    words = sorted({w for q in questions for w in q.split()})
    docs = [" ".join(questions[8 * i : 8 * i + 8]) for i in range(n_base)]

    def change(text: str, k: int, at: int | None = None) -> str:
        tokens = text.split()
        for _ in range(k):
            tokens[rng.randrange(len(tokens)) if at is None else at] = rng.choice(words)
        return " ".join(tokens)

    docs += [docs[i].upper() for i in rng.sample(range(n_base), n_base // 15)]
    docs += [change(docs[i], rng.choice([1, 2, 3])) for i in rng.sample(range(n_base), n_base // 10)]
    for i in rng.sample(range(n_base), n_base // 40):
        b = change(docs[i], 1)
        docs += [b, change(b, 1)]
    template = docs[0] + " " + docs[1]
    docs += [change(template, 1, at=len(template.split()) - 1) for _ in range(n_base // 15)]
    docs += [f"{rng.choice(questions)} {q} {rng.choice(questions)}" for q in rng.sample(gsm8k, n_base // 60)]
    docs += rng.sample(trec_test, n_base // 120)
    rng.shuffle(docs)
    records = [{"id": f"doc-{i:05d}", "text": t} for i, t in enumerate(docs)]
    return records + [
        {"id": "no-text", "text": None},
        {"id": "no-words", "text": "!!! ..."},
        {"id": "number", "text": 5},
    ]


def _texts(path: Path, field: str) -> list[str]:
    return [json.loads(line)[field] for line in path.read_text().splitlines()]
