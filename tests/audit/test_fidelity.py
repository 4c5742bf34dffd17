"""Fidelity metrics: closed-form and hand cases, then SST-2 halves vs SST-2 vs TREC on real embeddings."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest

from synthpipe.audit import fidelity
from synthpipe.audit.fidelity import (
    equalize,
    fidelity_report,
    frechet_distance,
    ks_statistic,
    label_distribution,
    length_distance,
    mauve,
    mauve_spread,
    prdc,
    vocabulary_distance,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared beside the clone (as in CI)


# ----------------------------------------------------------------------------- Fréchet distance


def test_frechet_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(500, 16))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_of_shifted_identity_gaussians_is_squared_mean_shift():
    rng = np.random.default_rng(1)
    shift = np.array([1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])  # ||shift||^2 = 5
    x = rng.normal(size=(4000, 8))
    y = rng.normal(size=(4000, 8)) + shift
    assert frechet_distance(x, y) == pytest.approx(5.0, abs=0.3)
    # exact when the second set is the first one translated (same covariance)
    assert frechet_distance(x, x + shift) == pytest.approx(5.0, abs=1e-8)


def test_frechet_matches_closed_form_for_scaled_covariance():
    # N(0, I) vs N(0, 4I) in d dims: tr(I) + tr(4I) - 2 tr(2I) = d
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6000, 4))
    y = 2.0 * rng.normal(size=(6000, 4))
    assert frechet_distance(x, y) == pytest.approx(4.0, abs=0.3)


def test_frechet_stable_for_rank_deficient_covariances():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20, 50))  # n < d: singular covariance
    y = rng.normal(size=(20, 50))
    fd = frechet_distance(x, y)
    assert np.isfinite(fd) and fd > 0


# ----------------------------------------------------------------------------- PRDC


def test_prdc_on_identical_sets():
    x = np.random.default_rng(4).normal(size=(300, 8))
    out = prdc(x, x, k=5)
    assert out["precision"] == pytest.approx(1.0)
    assert out["recall"] == pytest.approx(1.0)
    assert out["coverage"] == pytest.approx(1.0)
    # each real ball holds its own centre and its k neighbours: density (k + 1) / k
    assert out["density"] == pytest.approx(6 / 5)


def test_prdc_on_disjoint_sets_is_zero():
    rng = np.random.default_rng(5)
    out = prdc(rng.normal(size=(200, 4)), rng.normal(size=(200, 4)) + 50.0)
    assert out == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_blockwise_equals_single_block(monkeypatch):
    rng = np.random.default_rng(6)
    real, fake = rng.normal(size=(157, 5)), rng.normal(size=(157, 5)) + 0.5
    whole = prdc(real, fake, k=3)
    monkeypatch.setattr(fidelity, "_BLOCK", 16)
    assert prdc(real, fake, k=3) == whole
    assert 0 < whole["precision"] < 1 and 0 < whole["recall"] < 1


def test_prdc_and_mauve_require_equal_sizes():
    rng = np.random.default_rng(7)
    with pytest.raises(ValueError, match="equalize"):
        prdc(rng.normal(size=(10, 2)), rng.normal(size=(12, 2)))
    with pytest.raises(ValueError, match="equalize"):
        mauve(rng.normal(size=(10, 2)), rng.normal(size=(12, 2)))


# ----------------------------------------------------------------------------- MAUVE


def test_mauve_of_p_vs_p_is_one():
    p = np.random.default_rng(8).normal(size=(400, 8))
    assert mauve(p, p) == pytest.approx(1.0, abs=1e-9)


def test_mauve_of_disjoint_clusters_is_low():
    rng = np.random.default_rng(9)
    p = rng.normal(size=(300, 8))
    q = rng.normal(size=(300, 8)) + 20.0
    assert mauve(p, q) < 0.05


def test_mauve_is_between_for_partial_overlap_and_seeded():
    rng = np.random.default_rng(10)
    p = rng.normal(size=(400, 4))
    q = np.concatenate([rng.normal(size=(200, 4)), rng.normal(size=(200, 4)) + 20.0])
    value = mauve(p, q, seed=3)
    assert 0.05 < value < 0.95
    assert mauve(p, q, seed=3) == value


# ----------------------------------------------------------------------------- text statistics


def test_ks_statistic_hand_cases():
    assert ks_statistic([1, 2, 3, 4], [3, 4, 5, 6]) == pytest.approx(0.5)
    assert ks_statistic([1, 2, 3], [4, 5]) == pytest.approx(1.0)
    assert ks_statistic([1, 2, 3, 4, 5], [3]) == pytest.approx(0.4)  # x=2: 0.4 vs 0; x=3: 0.6 vs 1
    assert ks_statistic([2, 2, 2], [2, 2]) == 0.0


def test_ks_statistic_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(11)
    a, b = rng.integers(0, 20, size=137), rng.integers(3, 25, size=91)
    assert ks_statistic(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic)


def test_length_distance_hand_case():
    out = length_distance(["a b", "a b c", "x"], ["one two", "one two", "three four five six"])
    # lengths {2, 3, 1} vs {2, 2, 4}: histograms 1/3 each vs {2: 2/3, 4: 1/3}
    assert out["tv"] == pytest.approx(0.5 * (1 / 3 + abs(1 / 3 - 2 / 3) + 1 / 3 + 1 / 3))
    assert out["ks"] == pytest.approx(1 / 3)  # x=1: 1/3 vs 0; x=2: 2/3 vs 2/3; x=3: 1 vs 2/3
    assert out["mean_a"] == pytest.approx(2.0) and out["mean_b"] == pytest.approx(8 / 3)


def test_vocabulary_distance_is_case_insensitive_tv():
    assert vocabulary_distance(["The cat"], ["the CAT"]) == 0.0
    assert vocabulary_distance(["a b"], ["c d"]) == 1.0
    assert vocabulary_distance(["a a b b"], ["a a a a"]) == pytest.approx(0.5)


def test_label_distribution():
    out = label_distribution(["pos", "pos", "neg", "neg"], ["pos", "pos", "pos", "neu"])
    assert out["a"] == {"neg": 0.5, "neu": 0.0, "pos": 0.5}
    assert out["b"] == {"neg": 0.0, "neu": 0.25, "pos": 0.75}
    assert out["tv"] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- equalize and report


def test_equalize_subsamples_the_larger_set_only():
    a, b = list(range(10)), list(range(100, 104))
    ea, eb = equalize(a, b, seed=0)
    assert len(ea) == len(eb) == 4 and eb == b and set(ea) <= set(a)
    arr_a, arr_b = equalize(np.arange(3), np.arange(12).reshape(6, 2), seed=1)
    assert arr_b.shape == (3, 2) and isinstance(arr_a, np.ndarray)
    assert equalize(a, b, seed=0) == (ea, eb)


def test_fidelity_report_states_the_sample_size_and_aligns_rows():
    rng = np.random.default_rng(12)
    syn = [f"word{i} x" for i in range(30)]
    ref = [f"word{i} x" for i in range(12)]
    syn_emb = (
        np.arange(30, dtype=float)[:, None] * np.ones((1, 3)) + rng.normal(size=(30, 3)) * 1e-3
    )
    ref_emb = rng.normal(size=(12, 3))
    labels = (["a"] * 30, ["a"] * 6 + ["b"] * 6)
    rep = fidelity_report(syn, ref, syn_emb, ref_emb, labels=labels, seed=0)
    assert rep["sample_size"] == 12
    assert rep["subsampled"]["synthetic"] and not rep["subsampled"]["reference"]
    assert rep["subsampled"]["original_sizes"] == {"synthetic": 30, "reference": 12}
    assert rep["labels"]["tv"] == pytest.approx(0.5)
    assert set(rep["prdc"]) == {"precision", "recall", "density", "coverage"}
    assert 0 < rep["mauve"] <= 1 and rep["frechet_distance"] > 0
    text_only = fidelity_report(syn, syn)
    assert text_only["vocabulary_tv"] == 0.0 and "mauve" not in text_only
    with pytest.raises(ValueError, match="both"):
        fidelity_report(syn, ref, synthetic_emb=syn_emb)


# ----------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real_sets():
    sst_path, trec_path = DATA / "sst2" / "train.csv", DATA / "trec" / "train.csv"
    if not (sst_path.exists() and trec_path.exists()):
        pytest.skip(f"shared data absent: need {sst_path} and {trec_path}")
    from synthpipe.embeddings import get_embedder
    from synthpipe.errors import UsageError

    try:
        embedder = get_embedder()
        embedder.encode(["probe"])
    except (UsageError, ImportError, OSError, RuntimeError) as exc:
        pytest.skip(f"MiniLM embedder cannot load: {exc}")
    with sst_path.open(newline="") as fh:
        sst = [row["sentence"] for row in csv.DictReader(fh)]
    with trec_path.open(newline="") as fh:
        trec = [row["text"] for row in csv.DictReader(fh)]
    rng = random.Random(0)
    idx = rng.sample(range(len(sst)), 800)
    half_a, half_b = [sst[i] for i in idx[:400]], [sst[i] for i in idx[400:]]
    questions = rng.sample(trec, 400)
    emb = embedder.encode(half_a + half_b + questions)
    return (half_a, emb[:400]), (half_b, emb[400:800]), (questions, emb[800:])


def test_sst2_halves_match_and_trec_questions_do_not(real_sets):
    (ref, ref_emb), (half, half_emb), (questions, q_emb) = real_sets
    same = fidelity_report(half, ref, half_emb, ref_emb, seed=0)
    shifted = fidelity_report(questions, ref, q_emb, ref_emb, seed=0)
    assert same["sample_size"] == shifted["sample_size"] == 400
    # same distribution (measured: P 0.90, R 0.89, MAUVE 0.94, FD 0.22)
    assert same["prdc"]["precision"] > 0.7 and same["prdc"]["recall"] > 0.7
    assert same["mauve"] > 0.8
    assert same["frechet_distance"] < 0.35
    # SST-2 vs TREC (measured: P 0.29, R 0.67, coverage 0.15, MAUVE 0.02, FD 0.61)
    assert shifted["prdc"]["precision"] < 0.4
    assert shifted["prdc"]["precision"] < same["prdc"]["precision"] - 0.4
    assert shifted["prdc"]["recall"] < same["prdc"]["recall"] - 0.1
    assert shifted["prdc"]["coverage"] < 0.4 < same["prdc"]["coverage"]
    assert shifted["frechet_distance"] > 2 * same["frechet_distance"]
    assert shifted["mauve"] < 0.2
    # surface statistics agree: questions are shorter and use other words
    assert shifted["length"]["ks"] > 3 * same["length"]["ks"]
    assert shifted["vocabulary_tv"] > same["vocabulary_tv"] + 0.2


# ----------------------------------------------------------------------------- issue 14: spread, side


def test_mauve_spread_over_seeds():
    rng = np.random.default_rng(13)
    p = rng.normal(size=(200, 4))
    q = np.concatenate([rng.normal(size=(100, 4)), rng.normal(size=(100, 4)) + 3.0])
    s = mauve_spread(p, q, runs=4, seed=7)
    assert s["seeds"] == [7, 8, 9, 10] and len(s["values"]) == 4
    assert s["values"][0] == mauve(p, q, seed=7, n_init=1)  # run i: seed + i, one k-means start
    assert s["min"] <= s["mean"] <= s["max"] and s["std"] >= 0
    assert s["mean"] == pytest.approx(np.mean(s["values"]))
    rep = fidelity_report([f"t{i}" for i in range(200)], [f"r{i}" for i in range(200)], p, q, seed=7)
    assert rep["mauve"] == pytest.approx(rep["mauve_spread"]["mean"])
    assert len(rep["mauve_spread"]["values"]) == fidelity.MAUVE_RUNS


def test_embed_side_auto_picks_the_response():
    from synthpipe.audit.text_side import resolve_embed_side, shared_prompts

    pairs = [{"instruction": f"Task {i}", "output": f"Answer {i}"} for i in range(10)]
    side = resolve_embed_side(pairs, "instruction")
    assert side.fields == ("output",) and "response field `output`" in side.description
    assert side.text(pairs[0]) == "Answer 0"
    assert resolve_embed_side(pairs, "output").fields == ("output",)
    joint = resolve_embed_side(pairs, "instruction", "instruction+output")
    assert joint.text(pairs[1]) == "Task 1\n\nAnswer 1" and "jointly" in joint.description
    chats = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}]
    chat = resolve_embed_side(chats, "messages")
    assert chat.messages and chat.text(chats[0]) == "hello"
    plain = resolve_embed_side([{"text": "a b"}], "text")
    assert plain.fields == ("text",)
    # the reference must have the response field too, else the audited text is embedded
    assert resolve_embed_side(pairs, "instruction", reference=[{"instruction": "x"}]).fields == ("instruction",)
    shared = shared_prompts(pairs, pairs[:5])
    assert shared == {"field": "instruction", "shared": 5, "of": 10, "share": 0.5}


def test_audit_embeds_responses_when_prompts_are_shared(real_sets):
    """Two very different answer sets to the same prompts: embedding prompt + answer makes
    them look alike (the prompts dominate); embedding the answers tells them apart."""
    from synthpipe.audit.dataset import audit_dataset

    (sst, _), (other, _), (questions, _) = real_sets
    prompts = questions[:150]
    syn = [{"prompt": p, "response": a} for p, a in zip(prompts, sst[:150], strict=True)]
    ref = [{"prompt": p, "response": a} for p, a in zip(prompts, questions[150:300], strict=True)]
    for r in (*syn, *ref):
        r["text"] = r["prompt"] + "\n\n" + r["response"]
    joint = audit_dataset(syn, ref, text_field="text", embed_field="text", sample=150)
    auto = audit_dataset(syn, ref, text_field="text", sample=150)
    assert "response field `response`" in auto["fidelity"]["embedded"]
    assert "`text`" in joint["fidelity"]["embedded"]
    assert auto["fidelity"]["shared_prompts"]["share"] == 1.0
    assert joint["fidelity"]["mauve"] > auto["fidelity"]["mauve"] + 0.3
    assert joint["fidelity"]["prdc"]["precision"] > auto["fidelity"]["prdc"]["precision"] + 0.3
    spread = auto["fidelity"]["mauve_spread"]
    assert spread["min"] <= auto["fidelity"]["mauve"] <= spread["max"]
