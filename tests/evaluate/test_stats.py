"""Bootstrap statistics against known answers: degenerate cases, clear gaps, null coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthpipe.evaluate.stats import bootstrap_mean_ci, mean_std, paired_bootstrap_diff


def test_mean_std_uses_the_sample_std():
    out = mean_std([1, 2, 3, 4])
    assert out["mean"] == 2.5 and out["n"] == 4
    assert out["std"] == pytest.approx(math.sqrt(5 / 3))  # ddof=1: sum of squares 5 over 3
    assert mean_std([0.7]) == {"mean": 0.7, "std": None, "n": 1}
    with pytest.raises(ValueError, match="empty"):
        mean_std([])


def test_identical_vectors_give_a_degenerate_interval_at_zero():
    a = np.random.default_rng(1).integers(0, 2, 300).astype(float)
    out = paired_bootstrap_diff(a, a.copy())
    assert out["diff"] == 0 and out["low"] == 0 and out["high"] == 0
    assert out["p_value_two_sided"] == 1.0
    assert out["n"] == 300 and out["ci"] == 0.95


def test_clearly_different_vectors_exclude_zero():
    a = np.array([1.0] * 180 + [0.0] * 20)  # 90% correct
    b = np.array([1.0] * 100 + [0.0] * 100)  # 50% correct
    out = paired_bootstrap_diff(a, b, seed=3)
    assert out["diff"] == pytest.approx(0.4)
    assert 0.3 < out["low"] < out["diff"] < out["high"] < 0.5
    assert out["p_value_two_sided"] < 0.01
    flipped = paired_bootstrap_diff(b, a, seed=3)
    assert flipped["diff"] == pytest.approx(-0.4) and flipped["high"] < 0


def test_pairing_cancels_shared_item_difficulty():
    # b is a's correctness with 6 of 300 items flipped from right to wrong: a tiny but
    # consistent gain that an unpaired comparison of two ~50% rates could never resolve
    a = np.random.default_rng(5).integers(0, 2, 300).astype(float)
    b = a.copy()
    b[np.flatnonzero(a == 1)[:6]] = 0
    out = paired_bootstrap_diff(a, b)
    assert out["diff"] == pytest.approx(0.02)
    assert out["low"] > 0


def test_independent_variants_with_the_same_rate_mostly_contain_zero():
    rng = np.random.default_rng(2024)
    runs = [
        paired_bootstrap_diff(rng.random(300) < 0.7, rng.random(300) < 0.7, n_boot=500, seed=i)
        for i in range(200)
    ]
    contains = np.mean([r["low"] <= 0 <= r["high"] for r in runs])
    assert 0.9 <= contains <= 0.99  # nominal 95%
    # the p-value agrees with the interval: below 0.05 exactly when 0 is outside
    agree = [(r["p_value_two_sided"] < 0.05) == (not r["low"] <= 0 <= r["high"]) for r in runs]
    assert np.mean(agree) >= 0.97  # quantile interpolation can disagree at the boundary


def test_results_are_deterministic_for_a_seed():
    rng = np.random.default_rng(0)
    a, b = rng.random(100) < 0.6, rng.random(100) < 0.5
    assert paired_bootstrap_diff(a, b, seed=7) == paired_bootstrap_diff(a, b, seed=7)
    assert paired_bootstrap_diff(a, b, seed=7) != paired_bootstrap_diff(a, b, seed=8)


def test_bootstrap_mean_ci_matches_the_normal_approximation():
    values = np.array([1.0, 0.0] * 200)  # p = 0.5, n = 400: standard error 0.025
    out = bootstrap_mean_ci(values, n_boot=4000)
    assert out["mean"] == 0.5
    assert out["high"] - out["low"] == pytest.approx(2 * 1.96 * 0.025, rel=0.15)
    assert out["low"] < 0.5 < out["high"]
    constant = bootstrap_mean_ci([0.8] * 50)
    assert constant["low"] == pytest.approx(0.8) and constant["high"] == pytest.approx(0.8)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="same items"):
        paired_bootstrap_diff([1, 0], [1, 0, 1])
    with pytest.raises(ValueError, match="NaN"):
        paired_bootstrap_diff([1, float("nan")], [1, 0])
    with pytest.raises(ValueError, match="ci"):
        bootstrap_mean_ci([1, 0], ci=1.5)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_mean_ci([1, 0], n_boot=0)
