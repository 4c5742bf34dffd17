"""answers_match rules and the MathVerifier process pool (timeouts, crashes, fast path)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from synthpipe.verify import math_check
from synthpipe.verify.math_check import MatchResult, MathVerifier, answers_match

pytest.importorskip("math_verify")

SLOW = "9^{9^{9^{9}}}"  # math-verify grinds on this until its deadline


@pytest.fixture(scope="module")
def verifier():
    with MathVerifier(max_workers=2, timeout=1.0, chunk_size=4) as v:
        yield v


# -- string and numeric rules ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("gold", "candidate", "equal", "method"),
    [
        ("1,000", "1000", True, "string"),
        ("$18.00", "18", True, "string"),
        ("18", "18.0", True, "string"),
        ("-3", "−3", True, "string"),
        ("-3", "3", False, "numeric"),
        ("-2.5", "-5/2", True, "numeric"),
        ("3/4", "0.75", True, "numeric"),
        ("1/3", "0.333333", True, "numeric"),  # within rel_tol=1e-6
        ("1/3", "0.33", False, "numeric"),
        ("1450000", "1450001", False, "numeric"),  # integers are exact, whatever rel_tol says
        ("18", "19", False, "numeric"),
        ("2 1/2", "2.5", True, "numeric"),
        ("2 1/2", "21/2", False, "numeric"),  # a mixed number is not a fraction without spaces
    ],
)
def test_string_and_numeric_rules(gold: str, candidate: str, equal: bool, method: str) -> None:
    result = answers_match(gold, candidate)
    assert (result.equal, result.method) == (equal, method), result.detail


@pytest.mark.parametrize(
    ("gold", "candidate", "equal"),
    [
        ("25%", "25", True),  # GSM8K golds drop the % sign: the number as written matches
        ("25", "25%", True),
        ("25%", "0.25", True),  # ... and so does the value
        ("0.25", "25%", True),
        ("25%", "25%", True),
        ("25", "0.25", False),  # without a % on either side 25 is 25
        ("25%", "0.5", False),
    ],
)
def test_percentages_equal_their_number_and_their_value(gold, candidate, equal) -> None:
    result = answers_match(gold, candidate)
    assert result.equal is equal and result.method in ("numeric", "string")


def test_tolerances_are_settable() -> None:
    assert not answers_match("0.5", "0.5001").equal
    assert answers_match("0.5", "0.5001", rel_tol=1e-3).equal
    assert answers_match("0", "0.0000001", abs_tol=1e-6).equal
    assert not answers_match("0", "0.0000001").equal


def test_empty_answers_never_match() -> None:
    assert answers_match("", "5") == MatchResult(False, "string", "empty gold")
    assert not answers_match("5", "  ").equal


# -- math-verify, in this (main) thread -----------------------------------------------------------
@pytest.mark.parametrize(
    ("gold", "candidate", "equal"),
    [
        ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", True),
        ("x+1", "1+x", True),
        ("5", "x = 5", True),  # candidate states an assignment: gold first matters
        ("\\frac{1}{3}", "0.5", False),
        ("(1, 2)", "(1, 3)", False),
    ],
)
def test_symbolic_rule(gold: str, candidate: str, equal: bool) -> None:
    result = answers_match(gold, candidate)
    assert (result.equal, result.method) == (equal, "math_verify"), result.detail


def test_symbolic_timeout_in_main_thread() -> None:
    handler = signal.getsignal(signal.SIGALRM)
    started = time.monotonic()
    result = answers_match(SLOW, "5", timeout=0.5)
    assert result == MatchResult(False, "math_verify", "timed out after 0.5s")
    assert time.monotonic() - started < 5
    assert signal.getsignal(signal.SIGALRM) == handler  # the caller's handler is back


def test_callers_alarm_survives_a_symbolic_check() -> None:
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    outer = signal.setitimer(signal.ITIMER_REAL, 30.0)
    try:
        assert answers_match("x+1", "1+x").equal
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 20 < left <= 30  # still armed, minus the time the check took
    finally:
        signal.setitimer(signal.ITIMER_REAL, *outer)
        signal.signal(signal.SIGALRM, previous)
    assert fired == []


def test_without_math_verify_numbers_still_work(monkeypatch) -> None:
    monkeypatch.setattr(math_check, "_mv_state", {"module": None})
    assert answers_match("1,000", "1000.00").equal
    assert not answers_match("7", "8").equal
    result = answers_match("\\frac{1}{2}", "0.5")
    assert not result.equal
    assert "pip install 'synthpipe[verify]'" in result.detail
    with MathVerifier() as v:
        assert "pip install" in v.check("\\frac{1}{2}", "0.5").detail
        assert v._pool is None


# -- MathVerifier: the process pool ---------------------------------------------------------------
def test_boxed_half_equals_point_five_in_a_worker(verifier: MathVerifier) -> None:
    assert verifier.check("\\boxed{\\frac{1}{2}}", "0.5") == MatchResult(
        True, "math_verify", "\\boxed{\\frac{1}{2}} == 0.5"
    )
    assert verifier._pool is not None  # it really went to a worker process
    workers = verifier._pool._processes
    assert workers and os.getpid() not in workers


def test_check_many_keeps_order_and_mixes_rules(verifier: MathVerifier) -> None:
    pairs = [
        ("18", "18.00"),
        ("\\frac{1}{2}", "0.5"),
        ("7", "8"),
        ("x^2", "x \\cdot x"),
        ("\\pi", "3"),
    ] * 5
    results = verifier.check_many(pairs)
    assert [r.equal for r in results] == [True, True, False, True, False] * 5
    assert [r.method for r in results[:5]] == [
        "string", "math_verify", "numeric", "math_verify", "math_verify"
    ]  # fmt: skip


def test_fast_path_never_starts_the_pool() -> None:
    with MathVerifier() as v:
        results = v.check_many([("1,000", "1000"), ("$18.00", "18"), ("3", "4")])
        assert [r.equal for r in results] == [True, True, False]
        assert v._pool is None


def test_per_item_timeout_in_worker(verifier: MathVerifier) -> None:
    results = verifier.check_many([(SLOW, "5"), ("\\frac{1}{2}", "0.5")])
    assert results[0] == MatchResult(False, "math_verify", "timed out after 1s")
    assert results[1].equal


def test_worker_crash_is_survived(verifier: MathVerifier) -> None:
    """A worker killed mid-chunk: its items are retried one by one, nothing is lost."""
    verifier.check("\\frac{1}{2}", "0.5")  # workers up
    restarts = verifier.restarts

    def kill_one() -> None:
        time.sleep(0.4)
        pid = next(iter(verifier._pool._processes))
        os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_one)
    killer.start()
    results = verifier.check_many([(SLOW, "5")] * 2 + [("\\frac{1}{2}", "0.5")] * 6)
    killer.join()
    assert verifier.restarts > restarts
    assert [r.detail for r in results[:2]] == ["timed out after 1s"] * 2
    assert all(r.equal for r in results[2:])


def _stuck_symbolic(gold: str, candidate: str) -> MatchResult:
    if gold == "stuck":  # like C code that never returns to the interpreter: no signal gets in
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(60)
    return MatchResult(True, "math_verify", "patched")


def test_hard_deadline_kills_a_stuck_worker(monkeypatch) -> None:
    # fork: the workers inherit this patched module
    monkeypatch.setattr(math_check, "_symbolic", _stuck_symbolic)
    with MathVerifier(max_workers=1, timeout=0.2, chunk_size=3, context="fork",
                      startup_grace=1.0) as v:  # fmt: skip
        started = time.monotonic()
        results = v.check_many([("a", "b"), ("stuck", "b"), ("c", "d")])
        elapsed = time.monotonic() - started
    assert [r.equal for r in results] == [True, False, True]
    assert results[1].detail == "timed out after 0.2s (worker killed)"
    assert v.restarts == 2  # the chunk, then the stuck pair alone
    assert elapsed < 10


def test_closed_verifier_refuses_work() -> None:
    v = MathVerifier()
    v.close()
    v.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        v.check("\\frac{1}{2}", "0.5")


def test_answers_match_off_the_main_thread_uses_the_pool(monkeypatch) -> None:
    """Executors run steps in threads, where math-verify's signal.alarm cannot work."""
    monkeypatch.setattr(math_check, "_default", {})
    out: list[MatchResult] = []
    thread = threading.Thread(target=lambda: out.append(answers_match("\\frac{1}{2}", "0.5")))
    thread.start()
    thread.join()
    try:
        assert out == [MatchResult(True, "math_verify", "\\frac{1}{2} == 0.5")]
        assert math_check._default["verifier"]._pool is not None
    finally:
        math_check._default["verifier"].close()
