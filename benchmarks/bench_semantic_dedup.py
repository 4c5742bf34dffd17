"""Semantic dedup (SemDeDup, Abbas et al. 2023) at 10k / 30k / 100k records.

Measures, separately:
- embedding throughput (texts/s) of the MiniLM embedder, torch vs ONNX Runtime, on ~20-word
  and ~200-word texts, and max |diff| between the two backends;
- embedding of the benchmark corpus (records/s, the configured backend);
- the clustered pair search (`search_pairs`: k-means cells, each record searching its
  n_probe nearest, blockwise cosines) vs brute force (every pair, blockwise) at each size,
  the scaling exponent of both, and the recall of the clustered search against brute force
  (full at <= --brute-max records, on a sample of --sample-recall query records otherwise);
- time and recall for several n_probe values;
- the step's variant of the search (``connected=True``: a spanning forest instead of all
  pairs) and its grouping (connected components + keep rule).

The corpus is made of real sentences from ../shared/data (SST-2, TREC, GSM8K, MMLU, MBPP,
self-instruct), extended by recombining sentence halves when more records are needed, with
planted near-duplicates: 10% light rewrites of an earlier record (synonyms, dropped or
added words, punctuation) and 5% exact copies. Embeddings are cached under
$SYNTHPIPE_CACHE_DIR/bench (default ~/.cache/synthpipe/bench) so reruns only search.

    .venv/bin/python benchmarks/bench_semantic_dedup.py [--sizes 10000 30000 100000]
        [--threshold 0.9] [--probes 1 2 3 4 6] [--brute-max 100000] [--sample-recall 2000]
        [--backend auto] [--skip-throughput] [--no-cache] [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import math
import os
import random
import re
import time
from pathlib import Path

import numpy as np

from synthpipe.curate.semantic_dedup import SemanticDedup, nearest_neighbors, search_pairs

ROOT = Path(__file__).resolve().parents[1]
SYNONYMS = {
    "movie": "film", "film": "movie", "big": "large", "large": "big", "small": "little", "buy": "purchase",
    "quick": "fast", "fast": "quick", "begin": "start", "start": "begin", "show": "display", "many": "lots of",
    "find": "determine", "calculate": "compute", "total": "overall", "story": "tale", "funny": "amusing",
    "good": "fine", "bad": "poor", "great": "excellent", "help": "assist", "use": "utilize", "get": "obtain",
    "how": "how exactly", "each": "every", "every": "each", "makes": "creates", "write": "compose",
}  # fmt: skip
PREFIXES = ["Please tell me: ", "Question: ", "Quick question: ", "I wonder, ", ""]
SUFFIXES = [" Thanks.", " Please answer.", "", " (asking for a friend)"]


# -- the corpus -----------------------------------------------------------------------------
def _csv_column(path: Path, column: str) -> list[str]:
    with path.open(newline="") as fh:
        return [row[column] for row in csv.DictReader(fh)]


def _jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def real_sentences(shared: Path) -> list[str]:
    """Distinct real sentences (>= 4 words) from the shared datasets, in a fixed order."""
    texts: list[str] = []
    for split in ("train", "dev", "test"):
        texts += _csv_column(shared / "sst2" / f"{split}.csv", "sentence")
    for split in ("train", "test"):
        texts += _csv_column(shared / "trec" / f"{split}.csv", "text")
    for split in ("train", "test"):
        for row in _jsonl(shared / "gsm8k" / f"{split}.jsonl"):
            texts.append(row["question"])
            answer = re.sub(r"<<[^>]*>>", "", row["answer"].split("####")[0])
            texts += [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n", answer)]
    for path in sorted((shared / "mmlu").rglob("*.csv")):
        texts += _csv_column(path, "question")
    texts += [row["text"] for row in _jsonl(shared / "mbpp" / "mbpp.jsonl")]
    texts += [row["instruction"] for row in _jsonl(shared / "self_instruct" / "seed_tasks.jsonl")]
    seen: set[str] = set()
    out = []
    for text in texts:
        text = " ".join(text.split())
        if len(text.split()) >= 4 and text not in seen:
            seen.add(text)
            out.append(text)
    return out


def rewrite(text: str, rng: random.Random) -> str:
    """A light rewrite: the kind of near-duplicate an LLM generator produces."""
    words = text.split()
    for _ in range(2):
        op = rng.randrange(4)
        if op == 0:
            spots = [k for k, w in enumerate(words) if w.lower() in SYNONYMS]
            if spots:
                k = rng.choice(spots)
                words[k] = SYNONYMS[words[k].lower()]
        elif op == 1 and len(words) > 6:
            del words[rng.randrange(1, len(words) - 1)]
        elif op == 2:
            words[-1] = words[-1].rstrip(".?!") + rng.choice([".", "?", "!", ""])
        else:
            words = (rng.choice(PREFIXES) + " ".join(words) + rng.choice(SUFFIXES)).split()
    return " ".join(words)


def make_corpus(n: int, shared: Path, seed: int = 0) -> tuple[list[str], list[tuple[int, int]]]:
    """n texts: real sentences (recombined halves once they run out), 10% rewrites, 5% copies.

    Also returns the planted (source, rewrite) index pairs."""
    rng = random.Random(seed)
    pool = real_sentences(shared)
    rng.shuffle(pool)
    texts: list[str] = []
    planted: list[tuple[int, int]] = []
    fresh = 0
    for _ in range(n):
        roll = rng.random()
        if texts and roll < 0.10:
            source = rng.randrange(len(texts))
            planted.append((source, len(texts)))
            texts.append(rewrite(texts[source], rng))
        elif texts and roll < 0.15:
            texts.append(rng.choice(texts))
        elif fresh < len(pool):
            texts.append(pool[fresh])
            fresh += 1
        else:
            a, b = rng.choice(pool).split(), rng.choice(pool).split()
            texts.append(" ".join(a[: len(a) // 2] + b[len(b) // 2 :]))
    return texts, planted


def embed_corpus(texts: list[str], backend: str, use_cache: bool) -> tuple[np.ndarray, float | None, str]:
    """Embeddings of `texts` (distinct texts embedded once), seconds taken (None if cached)."""
    from synthpipe.embeddings import get_embedder

    embedder = get_embedder(backend=backend)
    key = hashlib.sha256(json.dumps([embedder.identity(), texts]).encode()).hexdigest()[:20]
    root = os.environ.get("SYNTHPIPE_CACHE_DIR")
    cache = (Path(root).expanduser() if root else Path.home() / ".cache" / "synthpipe") / "bench" / f"semdedup-{key}.npy"
    if use_cache and cache.exists():
        return np.load(cache), None, "cached"
    distinct = list(dict.fromkeys(texts))
    started = time.perf_counter()
    vectors = embedder.encode(distinct)
    seconds = time.perf_counter() - started
    row = {t: k for k, t in enumerate(distinct)}
    out = vectors[[row[t] for t in texts]]
    if use_cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, out)
    return out, seconds, f"{embedder.backend}, {len(distinct)} distinct texts"


# -- measurements ---------------------------------------------------------------------------
def throughput(shared: Path) -> None:
    from synthpipe.embeddings import Embedder
    from synthpipe.embeddings.onnx import onnx_available

    rng = random.Random(0)
    sst = _csv_column(shared / "sst2" / "train.csv", "sentence")
    short = [" ".join((rng.choice(sst) + " " + rng.choice(sst)).split()[:20]) for _ in range(800)]
    long = [" ".join(" ".join(rng.sample(sst, 14)).split()[:200]) for _ in range(100)]
    import torch

    print(f"\n## Embedding throughput (torch threads: {torch.get_num_threads()}, best of 3)\n")
    print("| backend | ~20-word texts/s | ~200-word texts/s |\n|---|---:|---:|")
    results = {}
    for backend in ("torch", "onnx"):
        if backend == "onnx" and not onnx_available():
            print("| onnx | (onnxruntime not installed) | |")
            continue
        embedder = Embedder(backend=backend)
        embedder.encode(short[:64])  # load, export, warm up
        rates = []
        for texts in (short, long):
            best = math.inf
            for _ in range(3):
                started = time.perf_counter()
                vectors = embedder.encode(texts)
                best = min(best, time.perf_counter() - started)
            rates.append(len(texts) / best)
            results.setdefault(backend, []).append(vectors)
        print(f"| {embedder.backend} | {rates[0]:.0f} | {rates[1]:.1f} |")
    if len(results) == 2:
        diff = max(np.abs(a - b).max() for a, b in zip(results["torch"], results["onnx"], strict=True))
        print(f"\nmax |torch - onnx| = {diff:.1e}")


def timed(fn, repeat: int):
    best, out = math.inf, None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return out, best


def pair_set(found) -> set[tuple[int, int]]:
    return set(zip(found.i.tolist(), found.j.tolist(), strict=True))


def sampled_recall(x: np.ndarray, found, threshold: float, sample: int, seed: int = 0) -> tuple[float, int]:
    """Recall of pairs touching `sample` random records, against an exact scan of all records."""
    rng = np.random.default_rng(seed)
    queries = np.sort(rng.choice(len(x), min(sample, len(x)), replace=False))
    idx, sims = nearest_neighbors(x[queries], x, k=64)
    truth = set()
    for q, row, srow in zip(queries.tolist(), idx.tolist(), sims.tolist(), strict=True):
        truth |= {(min(q, j), max(q, j)) for j, s in zip(row, srow, strict=True) if s >= threshold and j != q}
    sampled = set(queries.tolist())
    got = {p for p in pair_set(found) if p[0] in sampled or p[1] in sampled}
    return (len(truth & got) / len(truth) if truth else 1.0), len(truth)


def exponent(sizes: list[int], seconds: list[float]) -> float:
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0]) if len(sizes) > 1 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--probes", type=int, nargs="+", default=[1, 2, 3, 4, 6], help="n_probe values to compare")
    parser.add_argument("--brute-max", type=int, default=100_000, help="largest size also searched by brute force")
    parser.add_argument("--sample-recall", type=int, default=2000, help="query records for recall above --brute-max")
    parser.add_argument("--repeat", type=int, default=2, help="best of this many search runs")
    parser.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"])
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--no-cache", action="store_true", help="embed again even if cached")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()

    if not args.skip_throughput:
        throughput(args.shared)

    texts, planted = make_corpus(max(args.sizes), args.shared)
    vectors, seconds, how = embed_corpus(texts, args.backend, not args.no_cache)
    print(f"\n## Corpus: {len(texts)} records ({how})\n")
    if seconds is not None:
        distinct = len(set(texts))
        print(f"embedding: {distinct / seconds:.0f} distinct texts/s, {len(texts) / seconds:.0f} records/s "
              f"({seconds:.0f} s)")  # fmt: skip
    src, dst = np.asarray(planted).T
    planted_cos = (vectors[src] * vectors[dst]).sum(1)
    print(f"planted rewrites: {len(planted)}, cosine to their source: median {np.median(planted_cos):.3f}, "
          f">= {args.threshold}: {np.mean(planted_cos >= args.threshold):.1%}")  # fmt: skip

    default_probe = SemanticDedup.Config().n_probe
    print(f"\n## Pair search, threshold {args.threshold}, n_probe {default_probe} (best of {args.repeat})\n")
    print("| records | cells | largest | pairs | clustered s | records/s | forest s | brute s | speed-up | recall |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    clustered_t, brute_t, brute_n, truths = [], [], [], {}
    for n in args.sizes:
        x = vectors[:n]
        found, t = timed(lambda x=x: search_pairs(x, args.threshold), args.repeat)
        _, tf = timed(lambda x=x: search_pairs(x, args.threshold, connected=True), args.repeat)
        clustered_t.append(t)
        brute, speedup = "-", "-"
        if n <= args.brute_max:
            exact, tb = timed(lambda x=x: search_pairs(x, args.threshold, exact=True), 1)
            truths[n] = pair_set(exact)
            brute_t.append(tb)
            brute_n.append(n)
            brute, speedup = f"{tb:.1f}", f"{tb / t:.1f}x"
        note = recall_note(x, found, truths.get(n), args)
        print(f"| {n} | {found.n_clusters} | {found.largest_cluster} | {len(found.i)} | {t:.2f} | {n / t:.0f} | "
              f"{tf:.2f} | {brute} | {speedup} | {note} |")  # fmt: skip
    print(f"\nscaling exponent (time ~ N^e): clustered e = {exponent(args.sizes, clustered_t):.2f}", end="")
    print(f", brute force e = {exponent(brute_n, brute_t):.2f}" if len(brute_n) > 1 else "")

    print("\n## n_probe: work vs recall (one run each)\n")
    print("| records | " + " | ".join(f"n_probe {p}" for p in args.probes) + " |")
    print("|---:|" + "---|" * len(args.probes))
    for n in args.sizes:
        cells = []
        for p in args.probes:
            found, t = timed(lambda n=n, p=p: search_pairs(vectors[:n], args.threshold, n_probe=p), 1)
            cells.append(f"{t:.2f} s, recall {recall_note(vectors[:n], found, truths.get(n), args)}")
        print(f"| {n} | " + " | ".join(cells) + " |")

    n = max(args.sizes)
    step = SemanticDedup()
    ids = [f"r{k}" for k in range(n)]
    distinct = {t: k for k, t in enumerate(dict.fromkeys(texts[:n]))}
    rows = np.asarray([distinct[t] for t in texts[:n]], dtype=np.int64)
    unique_vectors = np.zeros((len(distinct), vectors.shape[1]), np.float32)
    unique_vectors[rows] = vectors[:n]
    found = search_pairs(unique_vectors, args.threshold, connected=True)  # what the step runs
    drops, t = timed(lambda: step._choose(ids, rows, unique_vectors, found), 1)
    print(f"\ngrouping at {n}: {len(drops)} dropped ({len(drops) / n:.1%}) in {t:.2f} s")


def recall_note(x: np.ndarray, found, truth: set | None, args) -> str:
    if truth is not None:
        return f"{len(truth & pair_set(found)) / max(1, len(truth)):.4f}"
    recall, n_truth = sampled_recall(x, found, args.threshold, args.sample_recall)
    return f"{recall:.4f} (sampled: {args.sample_recall} records, {n_truth} pairs)"


if __name__ == "__main__":
    main()
