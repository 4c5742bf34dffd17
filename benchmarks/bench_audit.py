"""Audit (diversity, fidelity, failure signatures) on real data, and its wall time at 10k.

1. Validation on real data from ../shared/data (see each folder's SOURCE.md):
   - human vs human: two disjoint halves of SST-2 train; OASST prompts
     (``oasst_samples/en_100_text.jsonl``) vs OASST prompt-lottery prompts
     (``prompt_lottery_en_250_text.jsonl``);
   - collapsed: 20 SST-2 sentences repeated to 1,000 vs SST-2 train;
   - shifted: SST-2 train vs TREC train questions;
   - Self-Instruct: each model's outputs (``self_instruct/predictions/*.jsonl.gz``, field
     ``response``) vs the human-written answers of the 252 user-oriented instructions
     (``human_eval_user_oriented_instructions.jsonl``, ``instances[0].output``).
   Each row is ``audit_dataset(synthetic, reference, sample=--sample)`` and its signatures;
   distinct-2 and self-BLEU are the length-controlled values (opening 40 words of each text),
   MAUVE the mean over 5 seeds, mode collapse judged against the reference.
2. Timing: the full audit (``embed=True``, sample = all records) of 10k records (SST-2 train
   + TREC train) against a 5k reference (rest of TREC train + SST-2 dev/test), split into
   MiniLM encoding of the 15k texts (timed alone) and ``audit_dataset(embed=False)``.

    .venv/bin/python benchmarks/bench_audit.py [--shared ../shared/data] [--sample 2000]
        [--skip-validation] [--skip-timing]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import logging
import time
from pathlib import Path

from synthpipe.audit.dataset import audit_dataset
from synthpipe.audit.signatures import signatures


def _csv(path: Path, field: str) -> list[str]:
    with path.open(encoding="utf-8", newline="") as f:
        return [row[field] for row in csv.DictReader(f)]


def _jsonl_strings(path: Path) -> list[str]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _recs(texts: list[str]) -> list[dict]:
    return [{"text": t} for t in texts]


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _row(name: str, syn: list[str], ref: list[str], sample: int) -> list[str]:
    audit = audit_dataset(_recs(syn), _recs(ref), sample=sample, seed=0)
    div, fid = audit["diversity"], audit["fidelity"] or {}
    prdc = fid.get("prdc") or {}
    status = {r["name"]: r["status"] for r in signatures(audit)}
    return [
        name,
        f"{len(syn)}/{len(ref)}→{fid.get('sample_size', '–')}",
        _f(div["distinct_2"]),
        _f(div["self_bleu"]),
        _f(div.get("vendi_per_text")),
        _f(prdc.get("precision")),
        _f(prdc.get("recall")),
        _f(prdc.get("coverage")),
        _f(fid.get("mauve")),
        _f(fid.get("frechet_distance")),
        _f((fid.get("length") or {}).get("ks")),
        status["mode collapse"],
        status["fidelity loss"],
    ]


def _print_table(head: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]

    def fmt(r: list[str]) -> str:
        return "  ".join(
            f"{c:<{w}}" if i == 0 else f"{c:>{w}}"
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    print(fmt(head))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt(r))


def validation(shared: Path, sample: int) -> None:
    sst = _csv(shared / "sst2" / "train.csv", "sentence")
    trec = _csv(shared / "trec" / "train.csv", "text")
    oasst = _jsonl_strings(shared / "oasst_samples" / "en_100_text.jsonl")
    lottery = _jsonl_strings(shared / "oasst_samples" / "prompt_lottery_en_250_text.jsonl")
    si = shared / "self_instruct"
    human = [
        json.loads(line)["instances"][0]["output"]
        for line in (si / "human_eval_user_oriented_instructions.jsonl").read_text().splitlines()
        if line.strip()
    ]
    seeds = sst[:: len(sst) // 20][:20]
    collapsed = (seeds * 50)[:1000]

    pairs: list[tuple[str, list[str], list[str]]] = [
        ("human: SST-2 half A vs half B", sst[0::2], sst[1::2]),
        ("human: OASST vs prompt-lottery", oasst, lottery),
        ("collapsed: 20 SST-2 x50 vs SST-2", collapsed, sst),
        ("shifted: SST-2 vs TREC", sst, trec),
    ]
    for path in sorted((si / "predictions").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            outs = [json.loads(line)["response"].strip() for line in f if line.strip()]
        name = path.name.removesuffix("_predictions.jsonl.gz")
        pairs.append((f"self-instruct: {name} vs human", outs, human))

    head = ["pair", "n syn/ref→eq", "distinct-2", "self-BLEU", "Vendi/n", "precision",
            "recall", "coverage", "MAUVE", "FD", "length KS", "mode collapse", "fidelity loss"]  # fmt: skip
    rows = []
    for name, syn, ref in pairs:
        t0 = time.perf_counter()
        rows.append(_row(name, syn, ref, sample))
        print(f"  [{time.perf_counter() - t0:5.1f}s] {name}", flush=True)
    print(f"\nTable 1: validation on real data (sample={sample}, seed 0)\n")
    _print_table(head, rows)


def timing(shared: Path) -> None:
    sst = _csv(shared / "sst2" / "train.csv", "sentence")
    trec = _csv(shared / "trec" / "train.csv", "text")
    extra = _csv(shared / "sst2" / "dev.csv", "sentence") + _csv(
        shared / "sst2" / "test.csv", "sentence"
    )
    n_trec = 10_000 - len(sst)
    syn = sst + trec[:n_trec]
    ref = (trec[n_trec:] + extra)[:5000]
    assert len(syn) == 10_000 and len(ref) == 5000
    sample = len(syn)

    from synthpipe.embeddings import get_embedder

    t0 = time.perf_counter()
    embedder = get_embedder()
    embedder.encode(["probe"])
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    embedder.encode(syn)
    embedder.encode(ref)
    t_enc = time.perf_counter() - t0

    t0 = time.perf_counter()
    audit_dataset(_recs(syn), _recs(ref), embed=False, sample=sample)
    t_lex = time.perf_counter() - t0

    t0 = time.perf_counter()
    full = audit_dataset(_recs(syn), _recs(ref), embed=True, sample=sample)
    t_full = time.perf_counter() - t0
    assert full["embeddings"]["used"], full["embeddings"]["note"]
    fid = full["fidelity"]
    t_emb_metrics = t_full - t_load - t_enc - t_lex

    print(
        f"\nTable 2: audit wall time, {len(syn):,} records vs {len(ref):,} reference "
        f"(diversity on {full['diversity']['n_texts']:,}, Vendi on "
        f"{full['diversity'].get('vendi_sample')}, fidelity at n = {fid['sample_size']:,} each; "
        f"backend {embedder.backend})\n"
    )
    rows = [
        ["full audit_dataset(embed=True)", f"{t_full:.1f}"],
        ["  MiniLM load + probe (timed alone)", f"{t_load:.1f}"],
        [f"  MiniLM encode {len(syn) + len(ref):,} texts (timed alone)", f"{t_enc:.1f}"],
        ["  audit_dataset(embed=False): lexical diversity + fidelity", f"{t_lex:.1f}"],
        ["  remainder: Vendi, clusters, PRDC, MAUVE, FD (by difference)", f"{t_emb_metrics:.1f}"],
    ]
    _print_table(["stage", "seconds"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data")  # fmt: skip
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--skip-validation", action="store_true")
    parser.add_argument("--skip-timing", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not args.skip_validation:
        validation(args.shared, args.sample)
    if not args.skip_timing:
        timing(args.shared)


if __name__ == "__main__":
    main()
