"""Check the shipped (float16) benchmark embeddings against a fresh float32 computation.

The decontamination index reads the bundled benchmark questions' vectors from the package
(``resources/embeddings/``, float16). This script embeds the same questions afresh in float32
with the same model and compares:

1. cosine between shipped and fresh vectors, per question;
2. the semantic detector's decisions with either index, at the calibrated thresholds, on
   - the calibration sets of ``calibrate_decontaminate.py`` (GSM8K train as negatives, the 80
     hand-rephrased GSM8K problems as positives, the same seeded halves), held-out figures
     printed for both indexes;
   - the planted and clean sets of ``bench_decontaminate.py`` against the whole registry
     (hits compared item by item, similarities to 3 decimals).

The records' own vectors are computed once and shared by both indexes (they do not depend on
the index), so any difference comes from the shipped vectors.

    .venv/bin/python benchmarks/check_shipped_embeddings.py [--shared ../shared/data] [--seed 14]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from synthpipe.curate.decontam import semantic
from synthpipe.curate.decontam.registry import get_benchmark, resolve_benchmarks
from synthpipe.curate.decontam.semantic import SemanticIndex, Thresholds
from synthpipe.embeddings import get_embedder

HERE = Path(__file__).resolve().parent


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # (its dataclasses look themselves up there)
    spec.loader.exec_module(module)
    return module


def fresh_index(shipped: SemanticIndex, sets, embedder) -> SemanticIndex:
    """The same rows as `shipped`, embedded now in float32 (not through any cache)."""
    texts = [semantic.mask_numbers(r["question"]) for s in sets for r in s.load() if r.get("question")]
    assert len(texts) == len(shipped.owners)
    matrix = embedder.encode(texts)
    return SemanticIndex(matrix=matrix, owners=shipped.owners, mask=True, questions=shipped.questions)


def decisions(index, embedder, texts, thresholds) -> list[list[tuple]]:
    hits = semantic.find_hits(index, embedder, [{"text": t} for t in texts], thresholds)
    return [[(h.benchmark, h.item_id, round(h.similarity, 3), h.shared_numbers) for h in per] for per in hits]


def calibration(train, embedder, seed: int, calibrate) -> None:
    sets = [get_benchmark("gsm8k")]
    shipped = SemanticIndex.build(sets, embedder)
    fresh = fresh_index(shipped, sets, embedder)
    positives = calibrate.rephrased()
    rule = semantic.thresholds_for("gsm8k")
    row_of = {item_id: row for row, (_, item_id) in enumerate(shipped.owners)}
    neg_cal, neg_held = calibrate.halves(len(train), seed)
    pos_cal = [i for i, r in enumerate(positives) if r["split"] == "calibration"]
    pos_held = [i for i, r in enumerate(positives) if r["split"] == "held_out"]
    print("## Calibration sets (GSM8K index, calibrated thresholds 0.89 / same numbers 0.75)\n")
    print("| index | half | recall | precision | FP rate on GSM8K train |\n|---|---|---|---|---|")
    flags = {}
    for label, index in (("shipped float16", shipped), ("fresh float32", fresh)):
        pos = semantic.neighbours(index, embedder, [{"text": r["text"]} for r in positives], rule.floor, semantic.CANDIDATES)
        neg = semantic.neighbours(index, embedder, [{"text": r["question"]} for r in train], rule.floor, semantic.CANDIDATES)
        got_pos = [{n.row for n in near if rule.accepts(n.similarity, n.shared_numbers)} for near in pos]
        got_neg = [{n.row for n in near if rule.accepts(n.similarity, n.shared_numbers)} for near in neg]
        flags[label] = (got_pos, got_neg)
        for half, p_rows, n_rows in (("held out", pos_held, neg_held), ("calibration", pos_cal, neg_cal)):
            tp = sum(row_of[positives[i]["item_id"]] in got_pos[i] for i in p_rows)
            fp = sum(bool(got_neg[i]) for i in n_rows)
            print(calibrate.Scores(tp, len(p_rows), fp, len(n_rows)).row(f"{label} | {half}"))
    (a_pos, a_neg), (b_pos, b_neg) = flags.values()
    print(f"\nrecords whose flagged questions differ: positives {sum(x != y for x, y in zip(a_pos, b_pos, strict=True))} "
          f"of {len(a_pos)}, GSM8K train {sum(x != y for x, y in zip(a_neg, b_neg, strict=True))} of {len(a_neg)}\n")  # fmt: skip
    sweep = [Thresholds(s, n) for s in calibrate.SIM_GRID for n in calibrate.SAME_NUMBERS_GRID if n is None or n < s]
    near = {label: semantic.neighbours(index, embedder, [{"text": r["question"]} for r in train], 0.6, semantic.CANDIDATES)
            for label, index in (("shipped", shipped), ("fresh", fresh))}  # fmt: skip
    changed = sum(
        {n.row for n in a if t.accepts(n.similarity, n.shared_numbers)} != {n.row for n in b if t.accepts(n.similarity, n.shared_numbers)}
        for t in sweep for a, b in zip(near["shipped"], near["fresh"], strict=True)
    )  # fmt: skip
    print(f"over the calibration grid ({len(sweep)} threshold pairs x {len(train)} train records): "
          f"{changed} decisions differ\n")  # fmt: skip


def bench_sets(shared: Path, embedder, seed: int, bench) -> None:
    sets = resolve_benchmarks("all")
    shipped = SemanticIndex.build(sets, embedder)
    started = time.perf_counter()
    fresh = fresh_index(shipped, sets, embedder)
    print(f"## Whole registry ({len(shipped.owners)} questions; fresh float32 in {time.perf_counter() - started:.0f} s)\n")
    cosine = np.einsum("ij,ij->i", shipped.matrix, fresh.matrix)
    shift = np.linalg.norm(shipped.matrix - fresh.matrix, axis=1).max()  # bounds any similarity's change
    print(f"cosine shipped vs fresh: min {cosine.min():.6f}, median {np.median(cosine):.6f}; "
          f"largest |shipped - fresh| {shift:.2e} (no similarity moves more)\n")  # fmt: skip
    rng = random.Random(seed)
    plants = bench.planted(rng)
    clean = {k: rng.sample(v, min(len(v), 1500)) for k, v in bench.clean_corpora(shared).items()}
    thresholds = {s.name: semantic.thresholds_for(s.name) for s in sets}
    print("| set | records | records with hits | records whose hits differ | of which in the items hit |\n"
          "|---|---|---|---|---|")  # fmt: skip
    notes = []
    for name, texts in [*((k, [t for t, _ in v]) for k, v in plants.items()), *clean.items()]:
        a, b = decisions(shipped, embedder, texts, thresholds), decisions(fresh, embedder, texts, thresholds)
        differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        items = [i for i in differ if {h[:2] for h in a[i]} != {h[:2] for h in b[i]}]
        notes += [f"{name} record {i}: shipped {a[i]} / fresh {b[i]}" for i in differ]
        print(f"| {name} | {len(texts)} | {sum(map(bool, a))} | {len(differ)} | {len(items)} |")
    for note in notes:
        print(f"\n- {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared" / "data")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--registry-only", action="store_true", help="skip the calibration sets")
    args = parser.parse_args()
    embedder = get_embedder()
    calibrate, bench = _module("calibrate_decontaminate"), _module("bench_decontaminate")
    train = [json.loads(line) for line in (args.shared / "gsm8k" / "train.jsonl").open()]
    if not args.registry_only:
        calibration(train, embedder, args.seed, calibrate)
    bench_sets(args.shared, embedder, 0, bench)


if __name__ == "__main__":
    main()
