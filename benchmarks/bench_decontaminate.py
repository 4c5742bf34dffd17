"""Decontamination against the whole bundled registry: speed, recall on planted items, false positives.

Measures, for the n-gram detector (GPT-3 style 13-grams, answer-only matches by the step's
answer rule) and the semantic detector (MiniLM, the step's per-benchmark calibrated thresholds:
GSM8K 0.89 or 0.75 with the same numbers, others 0.85; ``--semantic-threshold`` for one value)
separately (calibration: ``calibrate_decontaminate.py``):

- index cost: loading the 6 bundled sets (18,820 items), building the n-gram index and loading
  it from its disk cache, the benchmark questions' embeddings with an empty embedding cache
  (``--cold``: what a first run sees; their vectors ship with synthpipe) or with nothing cached
  or shipped either (``--no-shipped``: every question embedded now);
- throughput in MB/s of record text scanned (index build excluded), on the clean corpora;
- recall on planted benchmark items: ``verbatim`` (question + answer as published), ``embedded``
  (inside a longer chat prompt), ``edited`` (casing, punctuation, 2 words replaced, wrapped),
  ``renamed`` (GSM8K with every number and name replaced automatically, wording unchanged),
  ``rephrased`` (16 GSM8K problems rephrased by hand: names, numbers, light rewording — the
  set the tests use), ``rephrased64`` (64 more: names/objects, numbers, reordered, reworded)
  and ``rewritten`` (the same 16 rewritten heavily: other objects and story);
- false-positive rate (records with any hit) on clean text: OpenAssistant messages and prompts,
  TREC train, SST-2 train, self-instruct user instructions; GSM8K *train* questions are reported
  apart as hard negatives (same kind of problems, some genuinely near-duplicate to test items).

Peers (optional, each from its own virtualenv, same benchmark texts indexed, 13-grams):
``--lmeval-python``: lm-eval's ``Janitor`` (lm_eval/decontamination/janitor.py, python mode;
``pip install --no-deps lm-eval``); ``--datatrove-python``: datatrove's ``NGramsDecontIndexer``
hashes + ``NGramsDecontFilter`` (``pip install datatrove spacy``), with find_query_ngrams on.

    .venv/bin/python benchmarks/bench_decontaminate.py [--shared ../shared/data]
        [--semantic-limit 1500] [--no-semantic] [--cold] [--no-shipped] [--seed 0]
        [--lmeval-python /tmp/peer_lmeval/bin/python] [--datatrove-python /tmp/peer_datatrove/bin/python]

Whole commands (``--commands``): ``synthpipe decontaminate`` on the clean corpora written to a
JSONL file (``--repeat`` copies, ids renumbered), n-gram only and ``--semantic``, each run a
fresh process, interleaved with a second source tree (``--before-src``, e.g. an older checkout's
``src``) when given; median wall and CPU seconds over ``--reps``. The semantic input leaves out
TREC train (its questions ship with their vectors, which would flatter the rate), and each
semantic run starts from an embedding cache without the records' vectors (``warm``: the model's
ONNX graph and the n-gram index on disk) or from an empty cache directory (``cold``, run once).

    .venv/bin/python benchmarks/bench_decontaminate.py --commands [--repeat 8] [--reps 3]
        [--semantic-records 3000] [--before-src /tmp/before/src]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthpipe.curate.decontam import ngram, semantic
from synthpipe.curate.decontam.registry import list_benchmarks, load_benchmark, resolve_benchmarks
from synthpipe.embeddings import cache as embedding_cache
from synthpipe.embeddings import store

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests" / "curate" / "test_decontaminate.py"
REPHRASED = ROOT / "tests" / "curate" / "data" / "gsm8k_rephrased.jsonl"  # 64 more, by kind

# The 16 GSM8K problems of the tests, rewritten heavily (other objects, story and numbers).
REWRITTEN = {
    "gsm8k-test-0": "Every day Maria's hens produce 20 eggs. Each morning she has four of them for breakfast, and she uses five more to bake cakes for her neighbours. The rest she sells at the local market at $3 apiece. How many dollars does she earn from the market each day?",
    "gsm8k-test-1": "To make a coat you need 4 rolls of red fabric and half as many rolls of black fabric. How many rolls are needed altogether?",
    "gsm8k-test-2": "Mike wants to flip a property. He pays $120,000 for a house and spends another $30,000 renovating it, which raises the home's value by 120%. What is his profit?",
    "gsm8k-test-3": "Tom does 4 sprints, 5 days a week, and each sprint is 80 meters long. How many meters does he sprint in total each week?",
    "gsm8k-test-5": "Sam is buying cups for his new flat. A single cup costs $4, but every second cup is sold at 50% of that price. If Sam buys 12 cups, how much will he pay in total?",
    "gsm8k-test-6": "Lyon owns three times as many goats as Denver, and Denver has twice as many goats as Boston. If Boston has 15 goats, how many goats do the three cities have altogether?",
    "gsm8k-test-7": "Anna is downloading a 300 GB game at 3 GB per minute. Halfway through, her computer restarts to install updates, which takes 15 minutes, and she must start the download again from scratch. How long does the whole download take?",
    "gsm8k-test-9": "For the first 40 hours each week, Rosa earns $12 an hour, and any overtime is paid at 1.5 times her normal rate. If Rosa worked 48 hours this week, what did she earn?",
    "gsm8k-test-10": "An app was downloaded 80 times in its first month. In the second month downloads were four times the first month's, and in the third month they fell by 25%. How many downloads did the app get across the three months?",
    "gsm8k-test-11": "Nadia bought pastries at the bakery: 4 dozen croissants at $50 a dozen, 3 dozen muffins at $40 a dozen and 5 dozen brownies at $60 a dozen. What did she spend in total?",
    "gsm8k-test-12": "Diego plants an orange tree that costs $120. Every year the tree produces 10 oranges that he sells for $2 each, and watering and fertilizing cost $4 per year. After how many years will he begin to make money from the tree?",
    "gsm8k-test-13": "Rachel sells blenders door to door. She sold a quarter of her blenders at the blue house, 3 more at the yellow house, and half of the remaining ones at the white house. If she has 6 blenders left, how many did she have at the start?",
    "gsm8k-test-14": "In a music class of 40 students, 25% signed up for piano, 20% of the rest signed up for violin, and the remaining students signed up for guitar. What percent of all the students signed up for guitar?",
    "gsm8k-test-17": "Paul earns $25 an hour as a tutor and $35 an hour as a football coach. He works 48 weeks a year, tutoring 30 hours a week and coaching 10 hours a week. What is his yearly income?",
    "gsm8k-test-18": "Every morning Ben cooks a 4-egg omelette for breakfast. How many dozen eggs does he use in 6 weeks?",
    "gsm8k-test-19": "Lucy is walking a 15-mile path. The first 5 miles took her 1 hour and the next 3 miles took another hour. To average 5 miles per hour overall, how fast must she walk for the rest of the trail?",
}  # fmt: skip
WRAPPERS = [
    "You are a helpful assistant. Answer carefully and show your work.\n\n{x}\n\nGive the final answer on the last line.",
    "Here is a task from my homework that I could not solve, can you help me? {x} Thanks a lot in advance!",
    "### Instruction\n{x}\n\n### Response\nLet's think step by step.",
]
NAMES = ["Avery", "Bruno", "Chiara", "Dmitri", "Esme", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kemal", "Lucia"]
FILLER = ["really", "quite", "big", "small", "blue", "other", "new", "old", "exact", "whole", "final", "same"]
SAMPLE = {"gsm8k": 100, "humaneval": 50, "mbpp": 100, "mmlu": 200, "trec": 50, "sst2": 50}


def load_rephrased() -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("test_decontaminate", TESTS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.GSM8K_REPHRASED


# -- planted items ------------------------------------------------------------------------------
def item_text(item: dict) -> str:
    return item["question"] + ("\n" + item["answer"] if item.get("answer") else "")


def edit(text: str, rng: random.Random) -> str:
    """Casing and punctuation changes and 2 replaced words, wrapped in a prompt."""
    words = text.split()
    for _ in range(2):
        if len(words) > 4:
            words[rng.randrange(len(words))] = rng.choice(FILLER)
    out = " ".join(words)
    out = out.upper() if rng.random() < 0.3 else out.lower() if rng.random() < 0.5 else out
    out = re.sub(r"[,;:]", "", out) if rng.random() < 0.5 else out.replace(".", "!")
    return rng.choice(WRAPPERS).format(x=out)


def rename(text: str, rng: random.Random) -> str:
    """Every number replaced by another, every capitalised name (not sentence-initial words) too."""
    text = re.sub(r"\d+", lambda m: str(int(m.group()) + rng.randint(1, 9)), text)
    names: dict[str, str] = {}

    def swap(m: re.Match) -> str:
        word = m.group(0)
        if word in {"I", "A", "The", "If", "How", "What", "He", "She", "They", "It", "In", "On", "Each", "Every"}:
            return word
        return names.setdefault(word, NAMES[len(names) % len(NAMES)])

    return re.sub(r"(?<=[a-z,] )[A-Z][a-z]+", swap, text)


def planted(rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    """category -> [(text, expected item id)]"""
    sets: dict[str, list[tuple[str, str]]] = {"verbatim": [], "embedded": [], "edited": [], "renamed": []}
    for name, k in SAMPLE.items():
        for item in rng.sample(load_benchmark(name), k):
            text = item_text(item)
            sets["verbatim"].append((text, item["id"]))
            sets["embedded"].append((rng.choice(WRAPPERS).format(x=text), item["id"]))
            sets["edited"].append((edit(text, rng), item["id"]))
    for item in rng.sample(load_benchmark("gsm8k"), 200):
        sets["renamed"].append((rename(item["question"], rng), item["id"]))
    sets["rephrased"] = [(t, i) for i, t in load_rephrased().items()]
    sets["rephrased64"] = [(r["text"], r["item_id"]) for r in map(json.loads, REPHRASED.open())]
    sets["rewritten"] = [(t, i) for i, t in REWRITTEN.items()]
    return sets


# -- clean corpora ---------------------------------------------------------------------------------
def clean_corpora(shared: Path) -> dict[str, list[str]]:
    def walk(message: dict, out: list[str]) -> None:
        out.append(message["text"])
        for reply in message.get("replies", []):
            walk(reply, out)

    oasst: list[str] = []
    for line in (shared / "oasst_samples" / "en_100_tree.jsonl").open():
        tree = json.loads(line)
        walk(tree.get("prompt", tree), oasst)
    lottery = [json.loads(line) for line in (shared / "oasst_samples" / "prompt_lottery_en_250_text.jsonl").open()]
    with (shared / "trec" / "train.csv").open(newline="") as fh:
        trec = [r["text"] for r in csv.DictReader(fh)]
    with (shared / "sst2" / "train.csv").open(newline="") as fh:
        sst2 = [r["sentence"] for r in csv.DictReader(fh)]
    selfinst = [json.loads(x)["instruction"] for x in (shared / "self_instruct" / "human_eval_user_oriented_instructions.jsonl").open()]  # fmt: skip
    gsm_train = [json.loads(x)["question"] for x in (shared / "gsm8k" / "train.jsonl").open()]
    return {"oasst messages": oasst, "oasst prompts": lottery, "trec train": trec, "sst2 train": sst2,
            "self-instruct": selfinst, "gsm8k train (hard)": gsm_train}  # fmt: skip


# -- synthpipe detectors ---------------------------------------------------------------------------
def run_ngram(index, texts: list[str]) -> tuple[list[list], float]:
    start = time.perf_counter()
    hits = []
    for i in range(0, len(texts), 512):
        hits += ngram.find_hits(index, [{"text": t} for t in texts[i : i + 512]])
    return hits, time.perf_counter() - start


def run_semantic(index, embedder, texts: list[str], threshold) -> tuple[list[list], float]:
    start = time.perf_counter()
    hits = []
    for i in range(0, len(texts), 512):
        hits += semantic.find_hits(index, embedder, [{"text": t} for t in texts[i : i + 512]], threshold)
    return hits, time.perf_counter() - start


# -- peers -----------------------------------------------------------------------------------------
PEER_LMEVAL = r"""
import json, sys, time
from lm_eval.decontamination.janitor import Janitor, word_ngrams_indices
job = json.load(open(sys.argv[1]))
t = time.perf_counter()
jan = Janitor(ngram_n=13)
for text in job["bench"]:
    jan.register_contaminant_python(text)
index_s = time.perf_counter() - t
def dirty(s):
    return any(jan.normalize_string(g) in jan.dirt_ngrams for g, _ in word_ngrams_indices(s, jan.ngram_n))
out = {}
for name, texts in job["queries"].items():
    t = time.perf_counter()
    flags = [dirty(s) for s in texts]
    out[name] = {"flags": flags, "s": time.perf_counter() - t}
json.dump({"index_s": index_s, "sets": out}, open(sys.argv[2], "w"))
"""

PEER_DATATROVE = r"""
import json, sys, time, tempfile
from types import SimpleNamespace
import numpy as np
from datatrove.data import Document
from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter, NGramsDecontIndexer
job = json.load(open(sys.argv[1]))
from datatrove.utils.hashing import HashConfig, create_hash_func
from datatrove.utils.word_tokenizers import load_word_tokenizer
# sha1 hashes: the default xxhash path passes str, which xxhash 4 rejects
cfg = NGramsDecontConfig(n_grams=13, find_query_ngrams=True, hash_config=HashConfig(hash_fc="sha1"))
folder = tempfile.mkdtemp()
t = time.perf_counter()
# the indexer's own constructor insists on lighteval (it fetches tasks from the Hub): use its
# hashing method on our items instead
indexer = SimpleNamespace(tokenizer=load_word_tokenizer("en"), config=cfg, hash_func=create_hash_func(cfg.hash_config))
hashes = set()
for q, a in job["pairs"]:
    hashes.update(NGramsDecontIndexer.compute_hashes(indexer, a, q) if a else NGramsDecontIndexer.compute_hashes(indexer, q, None))
np.array(sorted(hashes), dtype=cfg.hash_config.np_descr).tofile(folder + "/bench.index.hashes")
filt = NGramsDecontFilter(index_folder=folder, config=cfg)
filt.load_index_hashes()
index_s = time.perf_counter() - t
out = {}
for name, texts in job["queries"].items():
    t = time.perf_counter()
    flags = [filt.filter(Document(text=s, id=str(i))) is not True for i, s in enumerate(texts)]
    out[name] = {"flags": flags, "s": time.perf_counter() - t}
json.dump({"index_s": index_s, "sets": out}, open(sys.argv[2], "w"))
"""


def run_peer(python: str, script: str, job: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        src, inp, out = Path(tmp) / "peer.py", Path(tmp) / "in.json", Path(tmp) / "out.json"
        src.write_text(script)
        inp.write_text(json.dumps(job))
        subprocess.run([python, str(src), str(inp), str(out)], check=True, capture_output=True, text=True)
        return json.loads(out.read_text())


def peer_job(sets) -> dict:
    bench, pairs = [], []
    for bench_set in sets:
        for item in bench_set.load():
            questions, answers = bench_set.texts(item)
            bench += questions + answers
            pairs.append((item["question"], item.get("answer") or ""))
    return {"bench": bench, "pairs": pairs}


def _bench_of(item_id: str) -> str:
    return "humaneval" if item_id.startswith("HumanEval/") else item_id.split("-")[0]


# -- report ----------------------------------------------------------------------------------------
def mb(texts: list[str]) -> float:
    return sum(len(t.encode()) for t in texts) / 1e6


def rate(flags: list) -> str:
    return f"{sum(map(bool, flags)) / max(len(flags), 1):.2%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--semantic-limit", type=int, default=1500, help="records per clean set for semantic")
    parser.add_argument("--no-semantic", action="store_true")
    parser.add_argument("--cold", action="store_true", help="start from an empty embedding cache")
    parser.add_argument("--no-shipped", action="store_true", help="... and ignore the shipped vectors too")
    parser.add_argument("--commands", action="store_true", help="time whole `synthpipe decontaminate` processes")
    parser.add_argument("--repeat", type=int, default=8, help="--commands: copies of the clean corpora")
    parser.add_argument("--reps", type=int, default=3, help="--commands: runs of each command")
    parser.add_argument("--semantic-records", type=int, default=3000, help="--commands: semantic input size")
    parser.add_argument("--before-src", type=Path, help="--commands: a second source tree to compare with")
    parser.add_argument("--semantic-threshold", type=float, help="one threshold for every benchmark "
                        "[default: the calibrated ones]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ngram-mask-numbers", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--min-span", type=int, default=8, help="min_span_tokens of the n-gram index")
    parser.add_argument("--lmeval-python", help="python of a venv with lm-eval installed")
    parser.add_argument("--datatrove-python", help="python of a venv with datatrove + spacy installed")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if args.commands:
        return commands(args)

    t = time.perf_counter()
    sets = resolve_benchmarks("all")
    n_items = sum(len(s.load()) for s in sets)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    index = ngram.NgramIndex.build(sets, min_span=args.min_span, mask_numbers=args.ngram_mask_numbers)
    build_s = time.perf_counter() - t
    ngram.get_index(sets, min_span=args.min_span, mask_numbers=args.ngram_mask_numbers)  # on disk now
    ngram._CACHE.clear()
    t = time.perf_counter()
    ngram.get_index(sets, min_span=args.min_span, mask_numbers=args.ngram_mask_numbers)
    cached_s = time.perf_counter() - t
    print(f"registry: {len(sets)} sets ({', '.join(list_benchmarks())}), {n_items} items, loaded in {load_s:.2f} s")
    print(f"n-gram index: {index.size:,} keys, {index.nbytes() / 1e6:.0f} MB, built in {build_s:.2f} s, "
          f"loaded from its disk cache in {cached_s:.2f} s")  # fmt: skip

    plants = planted(rng)
    clean = clean_corpora(args.shared)
    results: dict[str, dict[str, list]] = {"ngram": {}, "semantic": {}}
    speed: dict[str, tuple[float, float, int]] = {}

    scanned, secs = 0.0, 0.0
    for name, texts in clean.items():
        hits, s = run_ngram(index, texts)
        results["ngram"][name] = hits
        scanned, secs = scanned + mb(texts), secs + s
        speed[f"ngram {name}"] = (mb(texts), s, len(texts))
    for name, pairs in plants.items():
        results["ngram"][name] = run_ngram(index, [t for t, _ in pairs])[0]
    speed["ngram all clean"] = (scanned, secs, sum(map(len, clean.values())))

    sem_clean = {k: rng.sample(v, min(len(v), args.semantic_limit)) for k, v in clean.items()}
    if not args.no_semantic:
        from synthpipe.embeddings import get_embedder

        embedder = get_embedder()
        if args.cold or args.no_shipped:
            cold_dir = Path(tempfile.mkdtemp())
            store.cache_dir = lambda: cold_dir  # a fresh embedding cache for this run
        if args.no_shipped:
            embedding_cache.pack_for = lambda key: None  # ignore the vectors shipped with synthpipe
        t = time.perf_counter()
        sem_index = semantic.SemanticIndex.build(sets, embedder)
        threshold = args.semantic_threshold or {s.name: semantic.thresholds_for(s.name) for s in sets}
        sem_build = time.perf_counter() - t
        how = "nothing cached or shipped" if args.no_shipped else "empty cache, shipped vectors" if args.cold else "warm"
        print(f"semantic index: {sem_index.matrix.shape[0]} questions x {sem_index.matrix.shape[1]}, "
              f"{how}: {sem_build:.1f} s ({embedding_cache.EMBEDDING_CACHE.computed} embedded), "
              f"backend {embedder.backend}")  # fmt: skip
        scanned, secs = 0.0, 0.0
        for name, texts in sem_clean.items():
            hits, s = run_semantic(sem_index, embedder, texts, threshold)
            results["semantic"][name] = hits
            scanned, secs = scanned + mb(texts), secs + s
            speed[f"semantic {name}"] = (mb(texts), s, len(texts))
        for name, pairs in plants.items():
            results["semantic"][name] = run_semantic(sem_index, embedder, [t for t, _ in pairs], threshold)[0]
        speed["semantic all clean"] = (scanned, secs, sum(map(len, sem_clean.values())))

    peers = {}
    queries = {**{k: [t for t, _ in v] for k, v in plants.items()}, **clean}
    for label, python, script in (("lm-eval Janitor", args.lmeval_python, PEER_LMEVAL),
                                  ("datatrove NGramsDecont", args.datatrove_python, PEER_DATATROVE)):  # fmt: skip
        if python:
            try:
                peers[label] = run_peer(python, script, {**peer_job(sets), "queries": queries})
            except subprocess.CalledProcessError as exc:
                print(f"{label}: failed: {exc.stderr[-500:]}")

    print("\nThroughput (index build excluded)")
    print(f"{'detector / corpus':34} {'records':>8} {'MB':>7} {'s':>8} {'MB/s':>8} {'rec/s':>8}")
    for name, (size, s, n) in speed.items():
        print(f"{name:34} {n:8d} {size:7.2f} {s:8.2f} {size / s:8.3f} {n / s:8.0f}")
    for label, res in peers.items():
        size = sum(mb(clean[k]) for k in clean)
        s = sum(res["sets"][k]["s"] for k in clean)
        n = sum(len(clean[k]) for k in clean)
        print(f"{label + ' all clean':34} {n:8d} {size:7.2f} {s:8.2f} {size / s:8.3f} {n / s:8.0f}   (index {res['index_s']:.1f} s)")

    print("\nRecall on planted items (share flagged; 'right item' = the planted item among the hits)")
    header = f"{'category':12} {'n':>5} {'ngram':>7} {'right':>7} {'semantic':>9} {'right':>7} {'either':>7}"
    print(header + "".join(f" {p[:14]:>15}" for p in peers))
    for name, pairs in plants.items():
        ng = results["ngram"][name]
        se = results["semantic"].get(name, [[] for _ in pairs])
        right_ng = [any(h.item_id == i for h in hs) for hs, (_, i) in zip(ng, pairs, strict=True)]
        right_se = [any(h.item_id == i for h in hs) for hs, (_, i) in zip(se, pairs, strict=True)]
        either = [a or b for a, b in zip(ng, se, strict=True)]
        row = f"{name:12} {len(pairs):5d} {rate(ng):>7} {rate(right_ng):>7} {rate(se):>9} {rate(right_se):>7} {rate(either):>7}"
        print(row + "".join(f" {rate(res['sets'][name]['flags']):>15}" for res in peers.values()))

    print("\nn-gram recall by benchmark (verbatim / embedded / edited)")
    for bench in SAMPLE:
        cells = []
        for name in ("verbatim", "embedded", "edited"):
            flags = [bool(h) for h, (_, i) in zip(results["ngram"][name], plants[name], strict=True) if _bench_of(i) == bench]
            cells.append(rate(flags))
        print(f"  {bench:10} " + " / ".join(cells))

    print("\nFalse positives on clean text (share of records with any hit)")
    print(f"{'corpus':22} {'n':>6} {'ngram':>7} {'n(sem)':>7} {'semantic':>9}" + "".join(f" {p[:14]:>15}" for p in peers))
    for name, texts in clean.items():
        se = results["semantic"].get(name)
        sem = f"{len(sem_clean[name]):7d} {rate(se):>9}" if se is not None else f"{'-':>7} {'-':>9}"
        row = f"{name:22} {len(texts):6d} {rate(results['ngram'][name]):>7} {sem}"
        print(row + "".join(f" {rate(res['sets'][name]['flags']):>15}" for res in peers.values()))


# -- whole commands --------------------------------------------------------------------------------
def commands(args) -> None:
    """Interleaved runs of whole `synthpipe decontaminate` processes (see the module docstring)."""
    work = Path(tempfile.mkdtemp(prefix="bench_decontam_"))
    clean = clean_corpora(args.shared)
    texts = [t for v in clean.values() for t in v if t]
    big = work / "clean.jsonl"
    with big.open("w") as fh:
        for k in range(args.repeat):
            fh.writelines(json.dumps({"id": f"c{k}-{i}", "text": t}) + "\n" for i, t in enumerate(texts))
    pool = [t for name, v in clean.items() if name != "trec train" for t in v if t]
    small = work / "semantic.jsonl"
    with small.open("w") as fh:
        chosen = random.Random(args.seed).sample(pool, min(args.semantic_records, len(pool)))
        fh.writelines(json.dumps({"id": f"s{i}", "text": t}) + "\n" for i, t in enumerate(chosen))
    size_mb = big.stat().st_size / 1e6
    text_mb = mb(texts) * args.repeat
    trees = {"after": None, **({"before": args.before_src} if args.before_src else {})}
    warm = {tree: work / f"cache-{tree}" for tree in trees}
    for tree, src in trees.items():  # the ONNX graph, the n-gram index (and old benchmark caches)
        _command(["decontaminate", str(small), "--semantic", "--out", str(work / "warmup"), "-q", "--fresh"],
                 src, warm[tree])  # fmt: skip
    jobs = {
        "n-gram": (["decontaminate", str(big), "--out", str(work / "out"), "-q", "--fresh"], "keep"),
        "semantic, warm": (["decontaminate", str(small), "--semantic", "--out", str(work / "out"), "-q", "--fresh"], "warm"),
        "semantic, cold": (["decontaminate", str(small), "--semantic", "--out", str(work / "out"), "-q", "--fresh"], "cold"),
    }  # fmt: skip
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for rep in range(args.reps):
        for job, (argv, state) in jobs.items():
            if state == "cold" and rep:  # once: a cold run of the old tree embeds every question
                continue
            for tree, src in trees.items():
                cache = warm[tree]
                if state == "warm":
                    shutil.rmtree(cache / "embeddings", ignore_errors=True)  # the records' vectors
                elif state == "cold":
                    cache = work / "cache-cold"
                    shutil.rmtree(cache, ignore_errors=True)
                times.setdefault((job, tree), []).append(_command(argv, src, cache))
    print(f"n-gram input: {size_mb:.1f} MB JSONL ({text_mb:.1f} MB of text, {len(texts) * args.repeat} records); "
          f"semantic input: {len(chosen)} records\n")  # fmt: skip
    print("| command | tree | median wall s | median CPU s | rate |\n|---|---|---|---|---|")
    for (job, tree), runs in times.items():
        wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        rate = f"{text_mb / wall:.1f} MB/s" if job == "n-gram" else f"{len(chosen) / wall:.0f} records/s"
        print(f"| {job} | {tree} | {wall:.2f} | {cpu:.2f} | {rate} |")


def _command(argv: list[str], src: Path | None, cache: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one `synthpipe` process with `src` first on the path."""
    env = {**os.environ, "SYNTHPIPE_CACHE_DIR": str(cache)}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "synthpipe.cli", *argv], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


if __name__ == "__main__":
    main()
