"""Lexical and semantic diversity metrics for a text corpus, plus a mode-collapse check.

All functions are pure: they take texts (or an ``n x d`` embedding matrix) and return numbers.
Sampling-based metrics take a ``seed`` and are deterministic for a given seed.
:func:`diversity_report` controls for length (equal-length openings of every text, the
reference at the same number of texts), so verbose answers are not called repetitive for
being long; benchmarks/README.md has the calibration.

Lexical metrics use lower-cased whitespace tokens (``distinct_n``, ``self_bleu``) or the
ROUGE tokenizer of :mod:`synthpipe.text.rouge` (``homogenization``).
"""

from __future__ import annotations

import gzip
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from synthpipe.audit.fidelity import equal_indices
from synthpipe.audit.signatures import COLLAPSE_THRESHOLDS, COLLAPSE_VS_REFERENCE, DIVERSITY_WINDOW
from synthpipe.text.rouge import rouge_l
from synthpipe.text.rouge import tokenize as rouge_tokenize


def _words(text: str) -> list[str]:
    return text.lower().split()


def _ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def top_ngrams(texts: Sequence[str], n: int = 3, k: int = 15) -> dict[str, Any]:
    """The ``k`` word n-grams found in the most texts: ``{"n", "texts", "top": [[ngram,
    share of texts], ...]}``. A template a generator repeats shows up here as a high share."""
    df: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        df.update(set(_ngrams(_words(text), n)))
    total = len(texts) or 1
    top = sorted(df.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return {"n": n, "texts": len(texts), "top": [[" ".join(g), c / total] for g, c in top]}


def _sampled_docs(
    texts: Sequence[str], sample: int, seed: int, tokenize: Callable[[str], list[str]]
) -> list[list[str]]:
    """Tokens of at most ``sample`` texts drawn without replacement (``seed``); all texts, in
    order, when there are no more than ``sample``. Shared by the pairwise metrics."""
    if len(texts) <= sample:
        return [tokenize(t) for t in texts]
    idx = np.random.default_rng(seed).choice(len(texts), sample, replace=False)
    return [tokenize(texts[i]) for i in idx]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct-n: number of unique n-grams / total number of n-grams in the corpus.

    Tokens are lower-cased whitespace tokens; n-grams never cross document boundaries.
    Returns 0.0 when the corpus has no n-gram at all.
    Reference: Li et al. 2016, "A Diversity-Promoting Objective Function for Neural
    Conversation Models" (NAACL).
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    unique: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        grams = _ngrams(_words(text), n)
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0


def sentence_bleu(
    hypothesis: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4
) -> float:
    """Sentence BLEU (uniform weights up to ``max_n``) of a token list against references.

    Modified n-gram precision with clipping by the maximum reference count, brevity penalty
    against the closest reference length (ties -> shorter), and smoothing method 1 of
    Chen & Cherry 2014 (a zero match count becomes epsilon = 0.1), as in NLTK.
    Reference: Papineni et al. 2002, "BLEU: a Method for Automatic Evaluation of Machine
    Translation".
    """
    if not hypothesis or not references:
        return 0.0
    max_counts: list[Counter] = [Counter() for _ in range(max_n)]
    for ref in references:
        for n in range(1, max_n + 1):
            for gram, count in Counter(_ngrams(ref, n)).items():
                if count > max_counts[n - 1][gram]:
                    max_counts[n - 1][gram] = count
    ref_lens = [len(r) for r in references]
    return _bleu(hypothesis, lambda n, g: max_counts[n - 1][g], ref_lens, max_n)


def _bleu(hyp: Sequence[str], max_ref_count, ref_lens: Sequence[int], max_n: int) -> float:
    c = len(hyp)
    if c == 0:
        return 0.0
    log_p = 0.0
    for n in range(1, max_n + 1):
        counts = Counter(_ngrams(hyp, n))
        denominator = max(1, sum(counts.values()))
        numerator = sum(min(k, max_ref_count(n, g)) for g, k in counts.items())
        log_p += math.log((numerator if numerator else 0.1) / denominator) / max_n
    r = min(ref_lens, key=lambda length: (abs(length - c), length))
    bp = 1.0 if c > r else math.exp(1.0 - r / c)
    return bp * math.exp(log_p)


def self_bleu(texts: Sequence[str], n_gram: int = 4, sample: int = 500, seed: int = 0) -> float:
    """Self-BLEU: mean BLEU-``n_gram`` of each text against all other texts as references.

    Higher means less diverse (1.0: every text is reproduced by another). At most ``sample``
    texts are drawn (without replacement, ``seed``) and each is scored against the other
    sampled texts, with :func:`sentence_bleu` (clipping, brevity penalty, smoothing 1).
    Returns 0.0 for fewer than two texts.
    Reference: Zhu et al. 2018, "Texygen: A Benchmarking Platform for Text Generation
    Models" (SIGIR).
    """
    if len(texts) < 2:
        return 0.0
    docs = _sampled_docs(texts, sample, seed, _words)
    # Per n-gram, the two largest (count, doc) pairs: the max count over "all docs but i"
    # is then the top one unless doc i holds it.
    top: list[dict[tuple[str, ...], list[tuple[int, int]]]] = [{} for _ in range(n_gram)]
    for j, doc in enumerate(docs):
        for n in range(1, n_gram + 1):
            for gram, count in Counter(_ngrams(doc, n)).items():
                best = top[n - 1].setdefault(gram, [])
                best.append((count, j))
                if len(best) > 2:
                    best.sort(reverse=True)
                    best.pop()
    lengths = np.array([len(d) for d in docs])
    scores = []
    for i, doc in enumerate(docs):

        def max_count(n: int, gram: tuple[str, ...], i: int = i) -> int:
            return max((c for c, j in top[n - 1].get(gram, ()) if j != i), default=0)

        others = np.delete(lengths, i)
        scores.append(_bleu(doc, max_count, others.tolist(), n_gram))
    return float(np.mean(scores))


def compression_ratio(texts: Sequence[str]) -> float:
    """Raw UTF-8 bytes / gzip-compressed bytes of the newline-joined corpus.

    Higher means more redundant text. Returns 0.0 for an empty corpus.
    Reference: Shaib et al. 2024, "Standardizing the Measurement of Text Diversity: A Tool and
    a Comparative Analysis of Scores" (compression ratio as a diversity score).
    """
    raw = "\n".join(texts).encode("utf-8")
    if not raw:
        return 0.0
    return len(raw) / len(gzip.compress(raw, compresslevel=9, mtime=0))


def homogenization(texts: Sequence[str], sample: int = 300, seed: int = 0) -> float:
    """Homogenization: mean pairwise ROUGE-L F-measure over all pairs of sampled texts.

    At most ``sample`` texts are drawn (``seed``); every unordered pair among them is scored
    with ROUGE-L F (lower-cased alphanumeric tokens). Fully disjoint texts score 0, identical
    (non-empty) texts 1. Returns 0.0 for fewer than two texts.
    Reference: Padmakumar & He 2024, "Does Writing with Language Models Reduce Content
    Diversity?" (ICLR).
    """
    if len(texts) < 2:
        return 0.0
    docs = _sampled_docs(texts, sample, seed, rouge_tokenize)
    total, pairs = 0.0, 0
    for i in range(len(docs)):
        for j in range(i + 1, len(docs)):
            total += rouge_l(docs[i], docs[j])
            pairs += 1
    return total / pairs


def _unit_rows(embeddings: np.ndarray) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("embeddings must be an n x d matrix")
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def vendi_score(embeddings: np.ndarray) -> float:
    """Vendi score (order q=1) with the cosine kernel: effective number of distinct items.

    VS = exp(-sum_i l_i log l_i), where l_i are the eigenvalues of K / n, K_ij = cos(x_i, x_j).
    K / n = X X^T / n (rows L2-normalised) has the same non-zero eigenvalues as the d x d
    matrix X^T X / n, which is used so the cost is O(n d^2) rather than O(n^3). Ranges from 1
    (all identical) to min(n, d) (orthogonal). Returns 0.0 for no rows.
    Reference: Friedman & Dieng 2023, "The Vendi Score: A Diversity Evaluation Metric for
    Machine Learning" (TMLR).
    """
    x = _unit_rows(embeddings)
    if len(x) == 0:
        return 0.0
    eig = np.linalg.eigvalsh(x.T @ x / len(x))
    eig = eig[eig > 1e-12]
    eig = eig / eig.sum()
    return float(np.exp(-np.sum(eig * np.log(eig))))


def cluster_stats(embeddings: np.ndarray, k: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Spherical k-means cluster statistics of an embedding matrix.

    k defaults to ``min(50, floor(sqrt(n)))``. Returns ``k``, ``n_clusters`` (clusters holding
    at least 1% of the points), ``largest_cluster_frac`` and ``cluster_entropy``: the Shannon
    entropy of the cluster-size distribution divided by log(k) (1 = perfectly even, 0 = one
    cluster). Lloyd's algorithm with cosine similarity (:func:`spherical_kmeans`).
    Reference: Lloyd 1982, "Least squares quantization in PCM"; Dhillon & Modha 2001,
    "Concept Decompositions for Large Sparse Text Data Using Clustering".
    """
    from synthpipe.embeddings.kmeans import spherical_kmeans

    x = _unit_rows(embeddings).astype(np.float32)
    n = len(x)
    if n == 0:
        return {"k": 0, "n_clusters": 0, "largest_cluster_frac": 0.0, "cluster_entropy": 0.0}
    k = max(1, min(k or min(50, math.isqrt(n)), n))
    centroids = spherical_kmeans(x, k, iterations=20, sample=n, rng=np.random.default_rng(seed))
    labels = np.argmax(x @ centroids.T, axis=1)
    sizes = np.bincount(labels, minlength=len(centroids))
    p = sizes[sizes > 0] / n
    entropy = float(-np.sum(p * np.log(p)) / math.log(k)) if k > 1 else 0.0
    return {
        "k": int(k),
        "n_clusters": int(np.sum(sizes >= 0.01 * n)),
        "largest_cluster_frac": float(sizes.max() / n),
        "cluster_entropy": max(0.0, entropy),
    }


def opening_windows(texts: Sequence[str], window: int) -> list[str]:
    """The first ``window`` whitespace words of every text (shorter texts whole).

    Lexical diversity falls with text length (a long answer repeats its own function words,
    and gzip finds more to share), so sets of different lengths are compared on equal-length
    openings. Openings, not random spans: a duplicated or templated text keeps the same window,
    so copies still look like copies.
    """
    if window < 1:
        raise ValueError("window must be >= 1")
    return [" ".join(text.split()[:window]) for text in texts]


def lexical_diversity(texts: Sequence[str], seed: int = 0) -> dict[str, float]:
    """Distinct-1/2/3, self-BLEU-4, compression ratio and homogenization of ``texts`` as given."""
    return {
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "distinct_3": distinct_n(texts, 3),
        "self_bleu": self_bleu(texts, seed=seed),
        "compression_ratio": compression_ratio(texts),
        "homogenization": homogenization(texts, seed=seed),
    }


def versus_reference(
    texts: Sequence[str],
    reference: Sequence[str],
    window: int = DIVERSITY_WINDOW,
    seed: int = 0,
    whole_synthetic: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Length-controlled lexical diversity of ``texts`` and ``reference`` side by side.

    Both sets are cut to their opening ``window`` words and to the same number of texts (the
    larger is subsampled with ``seed``), since distinct-n and compression also move with the
    number of texts. ``relative`` holds the comparisons the collapse verdict reads:
    distinct-2 ratio (synthetic / reference), self-BLEU difference (synthetic - reference) and
    compression ratio normalised by the reference's. ``whole_synthetic``: the synthetic set's
    metrics at full size, reused when it is not subsampled.
    """
    i_s, i_r = equal_indices(len(texts), len(reference), seed)
    if whole_synthetic is not None and len(i_s) == len(texts):
        syn = whole_synthetic
    else:
        syn = lexical_diversity(opening_windows([texts[i] for i in i_s], window), seed)
    ref = lexical_diversity(opening_windows([reference[i] for i in i_r], window), seed)
    return {
        "n": len(i_s),
        "synthetic": syn,
        "reference": ref,
        "relative": {
            "distinct_2_ratio": _ratio(syn["distinct_2"], ref["distinct_2"]),
            "self_bleu_gap": syn["self_bleu"] - ref["self_bleu"],
            "compression_vs_reference": _ratio(syn["compression_ratio"], ref["compression_ratio"]),
        },
    }


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else (1.0 if a == 0 else float("inf"))


def diversity_report(
    texts: Sequence[str],
    embeddings: np.ndarray | None = None,
    seed: int = 0,
    *,
    reference: Sequence[str] | None = None,
    window: int = DIVERSITY_WINDOW,
) -> dict[str, Any]:
    """All diversity metrics of a corpus, length-controlled, plus a ``mode_collapse`` verdict.

    Lexical metrics (distinct-1/2/3, self-BLEU-4, compression ratio, homogenization) are
    computed on the opening ``window`` words of every text (:func:`opening_windows`), so a
    verbose set is not called repetitive for being long; ``whole_text`` keeps the uncontrolled
    values for comparison. With ``reference`` texts, ``reference`` holds both sets at equal
    size (:func:`versus_reference`) and the collapse verdict compares against it
    (:data:`~synthpipe.audit.signatures.COLLAPSE_VS_REFERENCE`); without one, the absolute
    :data:`~synthpipe.audit.signatures.COLLAPSE_THRESHOLDS` apply. With ``embeddings`` (n x d,
    one row per text): Vendi score, Vendi / n and cluster stats.
    ``mode_collapse`` = ``{"flag", "reasons", "thresholds", "basis"}``.
    """
    windows = opening_windows(texts, window)
    lexical = lexical_diversity(windows, seed)
    report: dict[str, Any] = {
        "n_texts": len(texts),
        "window": window,
        "truncated": sum(len(t.split()) > window for t in texts),
        **lexical,
        "whole_text": {
            "distinct_2": distinct_n(texts, 2),
            "self_bleu": self_bleu(texts, seed=seed),
            "compression_ratio": compression_ratio(texts),
            "mean_words": float(np.mean([len(t.split()) for t in texts])) if texts else 0.0,
        },
    }
    if reference is not None and min(len(texts), len(reference)) >= 2:
        report["reference"] = versus_reference(texts, reference, window, seed, lexical)
    if embeddings is not None:
        if len(embeddings) != len(texts):
            raise ValueError("embeddings must have one row per text")
        vendi = vendi_score(embeddings)
        report["vendi"] = vendi
        report["vendi_per_text"] = vendi / len(texts) if len(texts) else 0.0
        report["clusters"] = cluster_stats(embeddings, seed=seed)
    report["mode_collapse"] = collapse_verdict(report)
    return report


def collapse_verdict(report: dict[str, Any]) -> dict[str, Any]:
    """``{"flag", "reasons", "thresholds", "basis"}`` for a :func:`diversity_report` dict:
    against the reference when the report has one, else against absolute thresholds."""
    if "reference" in report:
        t = COLLAPSE_VS_REFERENCE
        rel = dict(report["reference"]["relative"])
        if "vendi_vs_reference" in report:
            rel["vendi_vs_reference"] = report["vendi_vs_reference"]["ratio"]
        reasons = [
            f"{_LABELS[k]} {rel[k]:.2f} {'<' if below else '>'} {limit}"
            for k, (below, limit) in ((k, _red(t, k)) for k in rel)
            if (rel[k] < limit if below else rel[k] > limit)
        ]
        return {
            "flag": bool(reasons),
            "reasons": reasons,
            "thresholds": dict(t),
            "basis": "reference",
        }
    t = COLLAPSE_THRESHOLDS
    reasons = []
    if report["n_texts"] and report["distinct_2"] < t["distinct_2_below"]:
        reasons.append(f"distinct-2 {report['distinct_2']:.3f} < {t['distinct_2_below']}")
    if report["self_bleu"] > t["self_bleu_above"]:
        reasons.append(f"self-BLEU {report['self_bleu']:.3f} > {t['self_bleu_above']}")
    if report["compression_ratio"] > t["compression_ratio_above"]:
        reasons.append(
            f"compression ratio {report['compression_ratio']:.2f} > {t['compression_ratio_above']}"
        )
    vendi_n = report.get("vendi_per_text")
    if (
        vendi_n is not None
        and report.get("vendi_sample", report["n_texts"]) >= t["min_texts_vendi"]
        and vendi_n < t["vendi_per_text_below"]
    ):
        reasons.append(f"Vendi/n {vendi_n:.3f} < {t['vendi_per_text_below']}")
    return {"flag": bool(reasons), "reasons": reasons, "thresholds": dict(t), "basis": "absolute"}


_LABELS = {
    "distinct_2_ratio": "distinct-2 vs reference",
    "self_bleu_gap": "self-BLEU minus reference's",
    "compression_vs_reference": "compression vs reference",
    "vendi_vs_reference": "Vendi/n vs reference",
}


def _red(thresholds: dict[str, Any], key: str) -> tuple[bool, float]:
    """(is a lower-is-worse metric, red limit) for a relative collapse metric."""
    below = f"{key}_below" in thresholds
    return below, thresholds[f"{key}_below" if below else f"{key}_above"][1]
