"""Audit calibration on real data: length-controlled diversity, response-side fidelity, bias
word sense and label drift (issue 14). Prints markdown tables for benchmarks/README.md.

Data (read from ../shared/data, see each folder's SOURCE.md; never read by synthpipe itself):

- AlpacaEval-style outputs: AlpacaEval's own outputs are not on this machine. The closest real
  equivalent is Self-Instruct's human evaluation set: 252 user-oriented instructions answered
  by 8 GPT-3 variants (``self_instruct/predictions/*.jsonl.gz``, field ``response``) plus the
  expert-written answers (``instances[0].output``), i.e. several models on the same prompts,
  with answers of very different lengths (median 2 to 682 words).
- A controlled set where the true diversity is known: OASST human replies
  (``oasst_samples/en_100_tree.jsonl``) in three diversity levels (all distinct; a quarter /
  half of the texts replaced by light rewrites of 10 of them) x three lengths (the first 15
  or 40 words, or the whole reply).
- Mode collapse vs a reference: pairs of real sets (SST-2, TREC, GSM8K, OASST, Self-Instruct)
  and collapsed sets built from them (k texts repeated with one adjacent-word swap each).
- Bias word sense: benchmarks/data/descriptor_sense/ (written for synthpipe; see its README).
- Label drift: SST-2, TREC and MMLU splits, seeded label-skewed subsamples of SST-2.

Every data set used to choose a window or a threshold is split: ``dev`` rows informed the
choice, ``held-out`` rows were only measured with the chosen values.

    .venv/bin/python benchmarks/bench_audit_calibration.py [--shared ../shared/data]
        [--only diversity|collapse|fidelity|bias|labels]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from synthpipe.audit.bias import _descriptor_index, _key, descriptor_mentions, person_mentions
from synthpipe.audit.diversity import (
    compression_ratio,
    distinct_n,
    opening_windows,
    self_bleu,
    vendi_score,
    versus_reference,
)
from synthpipe.audit.fidelity import mauve_spread, prdc
from synthpipe.audit.labels import compare_labels
from synthpipe.audit.signatures import (
    COLLAPSE_VS_REFERENCE,
    DIVERSITY_WINDOW,
    LABEL_DRIFT_THRESHOLDS,
    VENDI_SAMPLE,
)
from synthpipe.audit.word_sense import SenseContext
from synthpipe.data.sampling import evenly_spaced

HERE = Path(__file__).resolve().parent
SENSE = HERE / "data" / "descriptor_sense"


# ----------------------------------------------------------------------------- data


def _csv(path: Path, field: str) -> list[str]:
    with path.open(encoding="utf-8", newline="") as f:
        return [row[field] for row in csv.DictReader(f)]


def _jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def self_instruct(shared: Path) -> tuple[list[str], dict[str, list[str]], dict[str, list[str]]]:
    """(instructions with their input, {model: outputs}, {"human": answers}) on the 252 prompts."""
    si = shared / "self_instruct"
    rows = _jsonl(si / "human_eval_user_oriented_instructions.jsonl")
    prompts = [r["instruction"] + ("\n" + r["instances"][0]["input"] if r["instances"][0]["input"] else "")
               for r in rows]  # fmt: skip
    human = [r["instances"][0]["output"] for r in rows]
    models = {}
    for path in sorted((si / "predictions").glob("*.jsonl.gz")):
        models[path.name.removesuffix("_predictions.jsonl.gz")] = [
            r["response"].strip() for r in _jsonl(path)
        ]
    return prompts, models, {"human": human}


def oasst_replies(shared: Path) -> tuple[list[str], list[str]]:
    """Assistant replies of the 100 OASST trees: (trees 0-49, trees 50-99)."""
    trees = _jsonl(shared / "oasst_samples" / "en_100_tree.jsonl")

    def replies(m: dict) -> list[str]:
        out = [m["text"]] if m["role"] == "assistant" else []
        for r in m.get("replies", []):
            out += replies(r)
        return out

    halves = ([], [])
    for i, t in enumerate(trees):
        halves[i >= 50].extend(replies(t["prompt"]))
    return halves


def _swap(rng: random.Random) -> Callable[[str], str]:
    def swap(text: str) -> str:
        w = text.split()
        if len(w) > 3:
            i = rng.randrange(len(w) - 1)
            w[i], w[i + 1] = w[i + 1], w[i]
        return " ".join(w)

    return swap


def collapsed(source: Sequence[str], k: int, n: int, seed: int) -> list[str]:
    """n texts that are light rewrites (one adjacent-word swap) of k texts of ``source``."""
    rng = random.Random(seed)
    base = rng.sample(list(source), k)
    swap = _swap(rng)
    return [swap(base[i % k]) for i in range(n)]


def partly_collapsed(source: Sequence[str], share: float, seed: int, k: int = 10) -> list[str]:
    """``source`` with ``share`` of its texts replaced by rewrites of k of them."""
    rng = random.Random(seed)
    texts = list(source)
    base = rng.sample(texts, k)
    swap = _swap(rng)
    for i in rng.sample(range(len(texts)), int(share * len(texts))):
        texts[i] = swap(base[i % k])
    return texts


# ----------------------------------------------------------------------------- helpers


def table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(x: object) -> str:
        return f"{x:.3f}" if isinstance(x, float) else str(x)

    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def ranks(values: Sequence[float], higher_is_diverse: bool) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: -values[i] if higher_is_diverse else values[i])
    out = [0] * len(values)
    for r, i in enumerate(order, 1):
        out[i] = r
    return out


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    ra, rb = ranks(a, True), ranks(b, True)
    return float(np.corrcoef(ra, rb)[0, 1])


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (ties in either variable handled)."""
    conc = disc = tx = ty = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif dx == dy:
                conc += 1
            else:
                disc += 1
    denom = ((conc + disc + tx) * (conc + disc + ty)) ** 0.5
    return (conc - disc) / denom if denom else 0.0


def whole(texts: Sequence[str], seed: int = 0) -> dict[str, float]:
    return {"distinct_2": distinct_n(texts, 2), "self_bleu": self_bleu(texts, seed=seed),
            "compression_ratio": compression_ratio(texts)}  # fmt: skip


def windowed(texts: Sequence[str], window: int | None) -> dict[str, float]:
    return whole(texts) if window is None else whole(opening_windows(texts, window))


# ----------------------------------------------------------------------------- 1. diversity


def diversity(shared: Path) -> None:
    """Length control: choose the window on dev halves, then rank on held-out halves."""
    _, models, human = self_instruct(shared)
    sets = {**models, **human}
    oa_dev, oa_held = oasst_replies(shared)
    windows: list[int | None] = [None, 20, 40, 80]

    print("\n### 1a. Window choice on dev data\n")
    rows = []
    for w in windows:
        dev_sets = {k: v[0::2] for k, v in sets.items()}  # even prompts = dev
        lengths = [statistics.mean(len(t.split()) for t in v) for v in dev_sets.values()]
        figs = [windowed(v, w) for v in dev_sets.values()]
        rho = {
            m: spearman([f[m] for f in figs], lengths)
            for m in ("distinct_2", "self_bleu", "compression_ratio")
        }
        tau = {
            m: factorial_tau(oa_dev, w, m) for m in ("distinct_2", "self_bleu", "compression_ratio")
        }
        rows.append([("whole text" if w is None else f"first {w} words"),
                     rho["distinct_2"], rho["self_bleu"], rho["compression_ratio"],
                     tau["distinct_2"], tau["self_bleu"], tau["compression_ratio"]])  # fmt: skip
    print(table(["texts cut to", "rho(distinct-2, length)", "rho(self-BLEU, length)", "rho(compression, length)",
                 "tau distinct-2", "tau self-BLEU", "tau compression"], rows))  # fmt: skip
    print(
        "\nrho: Spearman correlation across the 9 Self-Instruct answer sets (even prompts) between the "
        "figure and the set's mean length (a figure that tracks length has |rho| near 1). tau: Kendall "
        "tau-b between the figure (sign so that higher = more diverse) and the true diversity level of "
        "the 9 controlled OASST sets built from trees 0-49."
    )

    print(f"\n### 1b. AlpacaEval-style ranking, held-out prompts (window {DIVERSITY_WINDOW})\n")
    held = {k: v[1::2] for k, v in sets.items()}  # odd prompts = held-out
    rows = []
    raw = {k: whole(v) for k, v in held.items()}
    ctl = {k: windowed(v, DIVERSITY_WINDOW) for k, v in held.items()}
    names = list(held)
    r_raw = {
        m: ranks([raw[k][m] for k in names], m == "distinct_2")
        for m in ("distinct_2", "self_bleu", "compression_ratio")
    }
    r_ctl = {
        m: ranks([ctl[k][m] for k in names], m == "distinct_2")
        for m in ("distinct_2", "self_bleu", "compression_ratio")
    }
    for i, k in enumerate(names):
        length = statistics.mean(len(t.split()) for t in held[k])
        rows.append([k, f"{length:.0f}",
                     f"{raw[k]['distinct_2']:.3f} ({r_raw['distinct_2'][i]})", f"{ctl[k]['distinct_2']:.3f} ({r_ctl['distinct_2'][i]})",
                     f"{raw[k]['self_bleu']:.3f} ({r_raw['self_bleu'][i]})", f"{ctl[k]['self_bleu']:.3f} ({r_ctl['self_bleu'][i]})",
                     f"{raw[k]['compression_ratio']:.2f} ({r_raw['compression_ratio'][i]})",
                     f"{ctl[k]['compression_ratio']:.2f} ({r_ctl['compression_ratio'][i]})"])  # fmt: skip
    print(table(["answers (126 held-out prompts)", "mean words", "distinct-2 whole", "distinct-2 controlled",
                 "self-BLEU whole", "self-BLEU controlled", "compression whole", "compression controlled"], rows))  # fmt: skip
    lengths = [statistics.mean(len(t.split()) for t in held[k]) for k in names]
    print("\nSpearman rho with mean length, held-out: " + ", ".join(
        f"{m} whole {spearman([raw[k][m] for k in names], lengths):+.2f} / controlled "
        f"{spearman([ctl[k][m] for k in names], lengths):+.2f}"
        for m in ("distinct_2", "self_bleu", "compression_ratio")) + ".")  # fmt: skip

    print(
        f"\n### 1c. Controlled diversity x length, held-out OASST trees 50-99 (window {DIVERSITY_WINDOW})\n"
    )
    rows = []
    for level, label, texts in factorial_sets(oa_held):
        r, c = whole(texts), windowed(texts, DIVERSITY_WINDOW)
        rows.append([label, level, f"{statistics.mean(len(t.split()) for t in texts):.0f}",
                     r["distinct_2"], c["distinct_2"], r["self_bleu"], c["self_bleu"],
                     r["compression_ratio"], c["compression_ratio"]])  # fmt: skip
    print(table(["set", "true diversity (2 = all distinct)", "mean words", "distinct-2 whole", "distinct-2 controlled",
                 "self-BLEU whole", "self-BLEU controlled", "compression whole", "compression controlled"], rows))  # fmt: skip
    taus = {m: (factorial_tau(oa_held, None, m), factorial_tau(oa_held, DIVERSITY_WINDOW, m))
            for m in ("distinct_2", "self_bleu", "compression_ratio")}  # fmt: skip
    print("\nKendall tau-b with the true level, held-out: " + ", ".join(
        f"{m} whole {a:+.2f} / controlled {b:+.2f}" for m, (a, b) in taus.items()) + ".")  # fmt: skip


def factorial_sets(replies: Sequence[str]) -> list[tuple[int, str, list[str]]]:
    """3 diversity levels x 3 lengths of the replies with at least 60 words."""
    pool = [t for t in replies if len(t.split()) >= 60]
    out = []
    for level, share in ((2, 0.0), (1, 0.25), (0, 0.5)):
        base = partly_collapsed(pool, share, seed=level)
        for name, cut in (("15 words", 15), ("40 words", 40), ("whole", None)):
            texts = base if cut is None else [" ".join(t.split()[:cut]) for t in base]
            out.append((level, f"{int(share * 100)}% rewrites, {name}", texts))
    return out


def factorial_tau(replies: Sequence[str], window: int | None, metric: str) -> float:
    sets = factorial_sets(replies)
    values = [windowed(t, window)[metric] for _, _, t in sets]
    if metric != "distinct_2":
        values = [-v for v in values]  # higher self-BLEU / compression = less diverse
    return kendall_tau_b(values, [lvl for lvl, _, _ in sets])


# ----------------------------------------------------------------------------- 2. collapse


def collapse(shared: Path) -> None:
    """Relative collapse metrics on natural pairs (should be green) and collapsed sets (red)."""
    sst = _csv(shared / "sst2" / "train.csv", "sentence")
    sst_dev, sst_test = (
        _csv(shared / "sst2" / "dev.csv", "sentence"),
        _csv(shared / "sst2" / "test.csv", "sentence"),
    )
    trec, trec_test = (
        _csv(shared / "trec" / "train.csv", "text"),
        _csv(shared / "trec" / "test.csv", "text"),
    )
    gsm = [r["answer"] for r in _jsonl(shared / "gsm8k" / "train.jsonl")]
    gsm_test = [r["answer"] for r in _jsonl(shared / "gsm8k" / "test.jsonl")]
    oa_dev, oa_held = oasst_replies(shared)
    _, models, human = self_instruct(shared)
    h = human["human"]
    dev = [
        ("natural", "SST-2 train: half A vs half B", sst[0::2][:2000], sst[1::2][:2000]),
        ("natural", "TREC train vs test", trec[:2000], trec_test),
        (
            "natural",
            "OASST replies, trees 0-24 vs 25-49",
            oa_dev[: len(oa_dev) // 2],
            oa_dev[len(oa_dev) // 2 :],
        ),
        ("natural", "SST-2 vs TREC (other domain)", sst[:2000], trec[:2000]),
        *[
            ("model", f"Self-Instruct {m} vs human, even prompts", o[0::2], h[0::2])
            for m, o in models.items()
        ],
        ("collapsed", "20 SST-2 train x50", collapsed(sst, 20, 1000, 0), sst[:2000]),
        ("collapsed", "100 SST-2 train x10", collapsed(sst, 100, 1000, 1), sst[:2000]),
        ("collapsed", "10 OASST replies x20, trees 0-49", collapsed(oa_dev, 10, 200, 2), oa_dev),
        (
            "partial",
            "SST-2 train, half rewrites of 10",
            partly_collapsed(sst[:1000], 0.5, 3),
            sst[1000:3000],
        ),
    ]
    held = [
        ("natural", "SST-2 dev vs test", sst_dev, sst_test),
        ("natural", "GSM8K train vs test answers", gsm[:2000], gsm_test),
        (
            "natural",
            "OASST replies, trees 50-74 vs 75-99",
            oa_held[: len(oa_held) // 2],
            oa_held[len(oa_held) // 2 :],
        ),
        *[
            ("model", f"Self-Instruct {m} vs human, odd prompts", o[1::2], h[1::2])
            for m, o in models.items()
        ],
        ("collapsed", "50 GSM8K train answers x20 vs test", collapsed(gsm, 50, 1000, 4), gsm_test),
        (
            "collapsed",
            "200 SST-2 dev+test x5 vs train",
            collapsed(sst_dev + sst_test, 200, 1000, 5),
            sst[:2000],
        ),
        ("collapsed", "10 OASST replies x20, trees 50-99", collapsed(oa_held, 10, 200, 6), oa_held),
        (
            "partial",
            "GSM8K train, half rewrites of 10 vs test",
            partly_collapsed(gsm[:1000], 0.5, 7),
            gsm_test,
        ),
        (
            "partial",
            "OASST trees 50-99, quarter rewrites of 10",
            partly_collapsed(oa_held, 0.25, 8),
            oa_dev,
        ),
    ]
    t = COLLAPSE_VS_REFERENCE
    print("\nThresholds (amber, red): " + ", ".join(f"{k} {v}" for k, v in t.items()) + "\n")
    from synthpipe.embeddings import get_embedder

    embedder = get_embedder()
    for split, pairs in (("dev", dev), ("held-out", held)):
        rows = []
        for kind, name, syn, ref in pairs:
            r = versus_reference(syn, ref, DIVERSITY_WINDOW)
            rel = dict(r["relative"])
            rel["vendi_vs_reference"] = _vendi_ratio(embedder, syn, ref)
            rows.append([split, kind, name, r["n"], rel["distinct_2_ratio"], rel["self_bleu_gap"],
                         rel["compression_vs_reference"], rel["vendi_vs_reference"], _collapse_status(rel)])  # fmt: skip
        print(table(["split", "kind", "synthetic vs reference", "n each", "distinct-2 ratio", "self-BLEU gap",
                     "compression ratio x", f"Vendi/n ratio (n <= {VENDI_SAMPLE})", "verdict"], rows) + "\n")  # fmt: skip


def _vendi_ratio(embedder, syn: Sequence[str], ref: Sequence[str]) -> float:
    """Vendi/n of the synthetic set over the reference's, both at the same evenly spaced n."""
    n = min(len(syn), len(ref), VENDI_SAMPLE)
    a = embedder.encode([syn[i] for i in evenly_spaced(len(syn), n)])
    b = embedder.encode([ref[i] for i in evenly_spaced(len(ref), n)])
    return vendi_score(a) / vendi_score(b)


def _collapse_status(rel: dict[str, float]) -> str:
    status = "green"
    for key, v in rel.items():
        below = f"{key}_below" in COLLAPSE_VS_REFERENCE
        amber, red = COLLAPSE_VS_REFERENCE[f"{key}_below" if below else f"{key}_above"]
        level = (
            ("red" if v < red else "amber" if v < amber else "green")
            if below
            else ("red" if v > red else "amber" if v > amber else "green")
        )
        if ["green", "amber", "red"].index(level) > ["green", "amber", "red"].index(status):
            status = level
    return status


# ----------------------------------------------------------------------------- 3. fidelity


def fidelity(shared: Path) -> None:
    """What the embeddings see: prompt + response vs the response alone (MiniLM)."""
    from synthpipe.embeddings import get_embedder

    prompts, models, human = self_instruct(shared)
    embedder = get_embedder()
    t0 = time.perf_counter()
    ref_resp = embedder.encode(human["human"])
    ref_pair = embedder.encode(
        [p + "\n\n" + a for p, a in zip(prompts, human["human"], strict=True)]
    )
    rows = []
    for name, outs in models.items():
        resp = embedder.encode(outs)
        pair = embedder.encode([p + "\n\n" + a for p, a in zip(prompts, outs, strict=True)])
        row = [name]
        for s_emb, r_emb in ((pair, ref_pair), (resp, ref_resp)):
            m = mauve_spread(s_emb, r_emb, runs=5, seed=0)
            p = prdc(r_emb, s_emb, k=5)
            row += [f"{m['mean']:.3f} ± {m['std']:.3f}", p["precision"], p["recall"]]
        rows.append(row)
    print(table(["model (252 answers) vs human answers", "MAUVE prompt+response", "precision", "recall",
                 "MAUVE response only", "precision", "recall"], rows))  # fmt: skip
    spread = [float(r[4].split(" ")[0]) for r in rows]
    joint = [float(r[1].split(" ")[0]) for r in rows]
    print(
        f"\nMAUVE range over the 8 models: prompt+response {min(joint):.3f}-{max(joint):.3f}, "
        f"response only {min(spread):.3f}-{max(spread):.3f} ({time.perf_counter() - t0:.0f} s, MiniLM "
        f"{embedder.backend}; MAUVE mean ± sd over 5 seeds)."
    )


# ----------------------------------------------------------------------------- 4. bias


def bias() -> None:
    """False hits on non-person uses and retained hits on person uses, old rule vs new."""
    rows = []
    for split in ("dev", "heldout"):
        data = [
            json.loads(line) for line in (SENSE / f"{split}.jsonl").read_text().splitlines() if line
        ]
        before = [_key(r["descriptor"]) in descriptor_mentions(r["text"]) for r in data]
        now = [_key(r["descriptor"]) in person_mentions(r["text"]) for r in data]
        for kind in ("kitchen", "colour", "size", "age", "other", "person"):
            idx = [i for i, r in enumerate(data) if r["kind"] == kind]
            label = "retained hits" if kind == "person" else "false hits"
            rows.append([split, kind, len(idx), f"{sum(before[i] for i in idx)}/{len(idx)}",
                         f"{sum(now[i] for i in idx)}/{len(idx)}", label])  # fmt: skip
        for person, label in ((False, "false-hit rate"), (True, "retained")):
            idx = [i for i, r in enumerate(data) if r["person"] == person]
            b, n = sum(before[i] for i in idx), sum(now[i] for i in idx)
            rows.append([split, f"**all {'person' if person else 'non-person'}**", len(idx),
                         f"{b}/{len(idx)} ({b / len(idx):.0%})", f"{n}/{len(idx)} ({n / len(idx):.0%})", label])  # fmt: skip
    print(
        table(
            [
                "split",
                "kind",
                "uses",
                "counted before (lexicon match)",
                "counted now (word sense)",
                "",
            ],
            rows,
        )
    )
    print(
        '\n(A plural such as "Muslims" or "Immigrants" is not a lexicon match, so it was not counted before.)'
    )
    # real hits, labelled by hand before the rule was run on them
    real = [
        json.loads(line) for line in (SENSE / "real_hits.jsonl").read_text().splitlines() if line
    ]
    pattern, _ = _descriptor_index()
    tp = fp = fn = 0
    for r in real:
        matches = list(pattern.finditer(r["context"]))
        n = next(i for i, m in enumerate(matches) if m.start() == r["start"])
        got = SenseContext(r["context"], [m.span() for m in matches]).refers_to_person(n)
        tp += got and r["person"]
        fp += got and not r["person"]
        fn += (not got) and r["person"]
    people = sum(r["person"] for r in real)
    print(
        f"\nReal text (80 descriptor matches sampled from GSM8K questions, OASST messages and Self-Instruct, "
        f"labelled by hand): {people} of {len(real)} are about people, so lexicon counting is "
        f"{people / len(real):.0%} precise. Word sense counts {tp + fp}: {tp} about people, {fp} not "
        f"(precision {tp / max(1, tp + fp):.0%}), and misses {fn} of {people}."
    )


# ----------------------------------------------------------------------------- 5. labels


def labels(shared: Path) -> None:
    """TV between real label distributions (should be green) and skewed sets (red)."""
    sst = _csv(shared / "sst2" / "train.csv", "label")
    sst_dev, sst_test = (
        _csv(shared / "sst2" / "dev.csv", "label"),
        _csv(shared / "sst2" / "test.csv", "label"),
    )
    trec, trec_test = (
        _csv(shared / "trec" / "train.csv", "label_coarse"),
        _csv(shared / "trec" / "test.csv", "label_coarse"),
    )
    mmlu_dev = [
        a for p in sorted((shared / "mmlu" / "dev").glob("*.csv")) for a in _csv(p, "answer")
    ]
    mmlu_test = [
        a for p in sorted((shared / "mmlu" / "test").glob("*.csv")) for a in _csv(p, "answer")
    ]
    rng = random.Random(0)

    def skewed(labels: list[str], share: float, n: int, seed: int) -> list[str]:
        r = random.Random(seed)
        pos = [x for x in labels if x == "1"]
        neg = [x for x in labels if x == "0"]
        k = round(share * n)
        return r.sample(neg, k) + r.sample(pos, n - k)

    noise = [compare_labels(rng.sample(sst, 100), sst)["tv"] for _ in range(200)]
    dev = [
        ("natural", "SST-2 train half A vs half B", sst[0::2], sst[1::2]),
        ("natural", "TREC train vs test (6 classes)", trec, trec_test),
        ("natural", "MMLU dev vs test answers (A-D)", mmlu_dev, mmlu_test),
        ("skewed", "SST-2 train resampled 70/30 vs train", skewed(sst, 0.7, 585, 1), sst),
        ("skewed", "SST-2 train resampled 80/20 vs train", skewed(sst, 0.8, 585, 2), sst),
    ]
    held = [
        ("natural", "SST-2 dev vs test", sst_dev, sst_test),
        ("natural", "SST-2 test vs train", sst_test, sst),
        (
            "skewed",
            "SST-2 dev+test resampled 65/35 vs train",
            skewed(sst_dev + sst_test, 0.65, 585, 3),
            sst,
        ),
        (
            "skewed",
            "SST-2 dev+test resampled 88/12 vs train",
            skewed(sst_dev + sst_test, 0.88, 585, 4),
            sst,
        ),
    ]
    amber, red = LABEL_DRIFT_THRESHOLDS["tv_above"]
    for split, pairs in (("dev", dev), ("held-out", held)):
        rows = []
        for kind, name, a, b in pairs:
            c = compare_labels(a, b)
            s = c["largest_shift"]
            verdict = "red" if c["tv"] > red else "amber" if c["tv"] > amber else "green"
            rows.append(
                [
                    split,
                    kind,
                    name,
                    len(a),
                    c["tv"],
                    f"`{s['label']}` {s['kept']:.0%} vs {s['anchor']:.0%}",
                    verdict,
                ]
            )
        print(
            table(
                ["split", "kind", "labels vs anchor", "n", "TV", "largest shift", "verdict"], rows
            )
            + "\n"
        )
    print(
        f"Sampling noise: TV of 100 labels drawn from SST-2 train vs train, 200 draws: 95th percentile "
        f"{np.percentile(noise, 95):.3f}, max {max(noise):.3f} (thresholds: amber > {amber}, red > {red}; "
        f"fewer than {LABEL_DRIFT_THRESHOLDS['min_records']} labelled records is at most amber)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared" / "data")
    parser.add_argument("--only", choices=["diversity", "collapse", "fidelity", "bias", "labels"])
    args = parser.parse_args()
    sections = {
        "diversity": lambda: diversity(args.shared),
        "collapse": lambda: collapse(args.shared),
        "fidelity": lambda: fidelity(args.shared),
        "bias": bias,
        "labels": lambda: labels(args.shared),
    }
    for name, run in sections.items():
        if args.only in (None, name):
            print(f"\n## {name}\n", flush=True)
            run()


if __name__ == "__main__":
    main()
