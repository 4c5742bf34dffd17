import csv
import math
import random
from pathlib import Path

import numpy as np
import pytest

from synthpipe.audit.diversity import (
    cluster_stats,
    compression_ratio,
    distinct_n,
    diversity_report,
    homogenization,
    self_bleu,
    sentence_bleu,
    vendi_score,
)
from synthpipe.audit.signatures import COLLAPSE_THRESHOLDS

SHARED = Path("/work/shared/data")


# -- distinct-n -------------------------------------------------------------------------------
def test_distinct_n_hand_computed():
    texts = ["The cat sat", "the cat ran", "a"]
    # unigrams: the cat sat the cat ran a -> 7 total, {the,cat,sat,ran,a} = 5 unique
    assert distinct_n(texts, 1) == pytest.approx(5 / 7)
    # bigrams: (the cat)(cat sat)(the cat)(cat ran) -> 4 total, 3 unique; none across docs
    assert distinct_n(texts, 2) == pytest.approx(3 / 4)
    # trigrams: (the cat sat)(the cat ran) -> 2 unique of 2
    assert distinct_n(texts, 3) == 1.0
    assert distinct_n(["a b"], 2) == 1.0
    assert distinct_n([], 2) == 0.0
    assert distinct_n(["a b", "c d"], 2) == 1.0  # "b c" would only exist across documents


# -- BLEU / self-BLEU -------------------------------------------------------------------------
def test_bleu_identical_is_one():
    s = ["the", "cat", "sat", "on", "the", "mat"]
    assert sentence_bleu(s, [s]) == pytest.approx(1.0)
    assert self_bleu(["the quick brown fox jumps"] * 5) == pytest.approx(1.0)


def test_bleu_hand_computed():
    hyp = ["the", "cat", "sat", "on", "the", "mat"]
    ref = ["the", "cat", "sat", "on", "a", "mat"]
    # p1 = 5/6 (clipped "the"), p2 = 3/5, p3 = 2/4, p4 = 1/3, BP = 1
    assert sentence_bleu(hyp, [ref]) == pytest.approx((5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25)
    # smoothing method 1: zero-match orders count as 0.1 / max(1, total)
    assert sentence_bleu(["a", "b"], [["a", "b"]]) == pytest.approx(0.01**0.25)
    # brevity penalty against the closest reference length
    assert sentence_bleu(["a", "b"], [["a", "b", "c", "d"]]) == pytest.approx(
        math.exp(1 - 4 / 2) * 0.01**0.25
    )


def test_self_bleu_matches_brute_force_and_is_seedable():
    rng = random.Random(1)
    words = ["a", "b", "c", "d", "e", "f", "g", "h"]
    texts = [" ".join(rng.choices(words, k=rng.randint(3, 9))) for _ in range(12)]
    toks = [t.split() for t in texts]
    brute = np.mean([sentence_bleu(toks[i], toks[:i] + toks[i + 1 :]) for i in range(12)])
    assert self_bleu(texts) == pytest.approx(brute)
    assert self_bleu(texts, sample=5, seed=3) == self_bleu(texts, sample=5, seed=3)
    assert self_bleu(["only one"]) == 0.0


# -- compression, homogenization ---------------------------------------------------------------
def test_compression_ratio():
    assert compression_ratio([]) == 0.0
    assert compression_ratio(["same sentence here"] * 200) > 10
    assert compression_ratio(["zq"]) < 1  # gzip header overhead on tiny input


def test_homogenization_bounds():
    assert homogenization(["alpha beta", "gamma delta", "epsilon zeta"]) == 0.0
    assert homogenization(["the same text"] * 4) == pytest.approx(1.0)
    assert 0 < homogenization(["a b c d", "a b x y"]) < 1


# -- embedding metrics -------------------------------------------------------------------------
def test_vendi_identical_and_orthonormal():
    v = np.random.default_rng(0).normal(size=16)
    assert vendi_score(np.tile(v, (10, 1))) == pytest.approx(1.0)
    assert vendi_score(np.eye(10, 32)) == pytest.approx(10.0)
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(64, 20)))
    assert vendi_score(q.T * 3.0) == pytest.approx(20.0)  # scale-free: cosine kernel


def test_vendi_matches_n_by_n_definition():
    x = np.random.default_rng(2).normal(size=(30, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    eig = np.linalg.eigvalsh(x @ x.T / 30)
    eig = eig[eig > 1e-12]
    assert vendi_score(x) == pytest.approx(np.exp(-np.sum(eig * np.log(eig))))


def test_cluster_stats_separated_blobs():
    rng = np.random.default_rng(0)
    centers = np.eye(3, 16)
    x = np.concatenate([c + 0.05 * rng.normal(size=(100, 16)) for c in centers])
    stats = cluster_stats(x, k=3)
    assert stats["n_clusters"] == 3
    assert stats["cluster_entropy"] == pytest.approx(1.0)
    one = cluster_stats(np.tile(centers[0], (100, 1)))
    assert one["k"] == 10 and one["n_clusters"] == 1 and one["cluster_entropy"] == 0.0


# -- real data ----------------------------------------------------------------------------------
def _real(n: int = 1000) -> tuple[list[str], list[str], list[str]]:
    if (
        not (SHARED / "trec" / "train.csv").is_file()
        or not (SHARED / "sst2" / "train.csv").is_file()
    ):
        pytest.skip("/work/shared/data (TREC, SST-2) not present")
    with (SHARED / "trec" / "train.csv").open() as fh:
        trec = [r["text"] for r in csv.DictReader(fh)][:n]
    with (SHARED / "sst2" / "train.csv").open() as fh:
        sst_all = [r["sentence"] for r in csv.DictReader(fh)]
    rng = random.Random(0)

    def swap(sentence: str) -> str:  # light shuffle: one random adjacent-word swap
        w = sentence.split()
        if len(w) > 3:
            i = rng.randrange(len(w) - 1)
            w[i], w[i + 1] = w[i + 1], w[i]
        return " ".join(w)

    seeds = sst_all[2000:2020]
    collapsed = [swap(seeds[i % 20]) for i in range(n)]
    return trec, sst_all[:n], collapsed


def test_real_corpora_not_collapsed_and_collapsed_flagged():
    trec, sst, collapsed = _real()
    for texts in (trec, sst):
        report = diversity_report(texts)
        assert not report["mode_collapse"]["flag"], report
    report = diversity_report(collapsed)
    assert report["mode_collapse"]["flag"]
    reasons = " ".join(report["mode_collapse"]["reasons"])
    assert "distinct-2" in reasons and "self-BLEU" in reasons
    assert report["mode_collapse"]["thresholds"] == COLLAPSE_THRESHOLDS


def test_real_corpora_vendi_with_embeddings():
    try:
        from synthpipe.embeddings import get_embedder

        embedder = get_embedder()
        embedder.encode(["probe"])
    except Exception as exc:  # model or backend missing
        pytest.skip(f"MiniLM embedder not available: {exc}")
    trec, sst, collapsed = (t[:300] for t in _real(300))
    for texts in (trec, sst):
        report = diversity_report(texts, embedder.encode(texts))
        assert not report["mode_collapse"]["flag"], report
        assert report["clusters"]["n_clusters"] >= 10
    report = diversity_report(collapsed, embedder.encode(collapsed))
    assert report["mode_collapse"]["flag"]
    assert report["vendi"] <= 20.5  # at most the 20 underlying sentences, give or take swaps
    assert any("Vendi" in r for r in report["mode_collapse"]["reasons"])
