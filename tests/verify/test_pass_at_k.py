"""pass@k against its definition and known cases."""

from __future__ import annotations

import math

import pytest

from synthpipe.verify.pass_at_k import mean_pass_at_k, pass_at_k


def test_all_correct_is_one_and_none_correct_is_zero():
    assert pass_at_k(10, 10, 3) == 1.0
    assert pass_at_k(10, 0, 3) == 0.0


def test_k1_is_the_fraction_correct():
    assert pass_at_k(20, 7, 1) == pytest.approx(7 / 20)


def test_fewer_wrong_than_k_is_one():
    assert pass_at_k(10, 8, 3) == 1.0


@pytest.mark.parametrize(("n", "c", "k"), [(10, 3, 2), (200, 13, 10), (5, 1, 5), (100, 50, 100)])
def test_matches_the_binomial_formula(n, c, k):
    expected = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_hand_computed_case():
    # n=5, c=2, k=2: P(no correct in 2 draws) = C(3,2)/C(5,2) = 3/10
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)


def test_large_n_where_binomials_overflow_floats():
    n, c, k = 5000, 100, 1000  # C(5000, 1000) is far beyond float range
    assert math.comb(n, k) > 10**308
    expected = 1 - math.comb(n - c, k) / math.comb(n, k)  # exact int division
    assert pass_at_k(n, c, k) == pytest.approx(expected, rel=1e-9)


def test_mean_over_problems():
    assert mean_pass_at_k([(5, 2), (5, 0), (5, 5)], 2) == (pytest.approx((0.7 + 0 + 1) / 3))


@pytest.mark.parametrize(("n", "c", "k"), [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_invalid_arguments(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_mean_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        mean_pass_at_k([], 1)
