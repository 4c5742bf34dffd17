"""Are two final answers the same? Strings, then numbers, then symbolic math (math-verify).

`answers_match(gold, candidate)` takes two *answers* (see `extract_answer` for getting one out
of a solution) and tries, in order:

1. ``string``: equal after normalisation (delimiters, ``\\boxed``, whitespace, and canonical
   text for plain numbers, so "1,000" == "1000" and "$18.00" == "18");
2. ``numeric``: both are plain numbers, compared as exact fractions: two integers must be
   equal, otherwise within ``rel_tol``/``abs_tol`` (for rounded decimals: 1/3 == 0.333333).
   A percentage equals its number as written or its value: "25%" == "25" (GSM8K golds drop
   the sign) and "25%" == "0.25"; math-verify counts both as equal too;
3. ``math_verify``: anything else (LaTeX, expressions, sets, intervals, equations) goes to
   Hugging Face's math-verify (https://github.com/huggingface/Math-Verify), gold first:
   ``verify(parse(gold), parse(candidate))``. The check is asymmetric (``x=5`` as a candidate
   matches gold ``5``).

math-verify bounds its work with ``signal.alarm``, which works only in a process's main
thread. Here each symbolic check runs under our own ``setitimer`` deadline in the main
thread, or, from any other thread, in a `MathVerifier`: a small process pool whose workers
check chunks of pairs, with a per-item timeout, a hard deadline per chunk (a check stuck in
C code that no signal interrupts gets its worker killed) and a fast path that never touches
the pool for pairs the string/numeric rules decide (nearly all GSM8K pairs).

Without math-verify installed (``pip install 'synthpipe[verify]'``) rules 1-2 still work
and rule 3 answers "not equal" with a detail that says what to install.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from synthpipe.importing import missing_message
from synthpipe.verify.answers import ParsedNumber, clean_answer, parse_number_full

__all__ = [
    "MatchResult",
    "MathVerifier",
    "answers_match",
    "answers_match_many",
    "math_verify_available",
]

Method = Literal["numeric", "math_verify", "string"]
INSTALL_HINT = missing_message(["math_verify"])  # a detail, not an error: checks degrade without it
DEFAULT_TIMEOUT = 5.0  # seconds for one symbolic check (parse both + verify)


@dataclass(frozen=True)
class MatchResult:
    """Verdict of one comparison: `equal`, which rule decided it, and a human-readable why."""

    equal: bool
    method: Method
    detail: str = ""


# -- string and numeric rules (this process, no pool) ----------------------------------------
def _norm(answer: str) -> str:
    clean = clean_answer(answer)
    if parse_number_full(clean) is not None:  # canonical already; "2 1/2" must stay != "21/2"
        return clean
    return "".join(clean.split())


def _close(a: Fraction, b: Fraction, rel_tol: float, abs_tol: float) -> bool:
    if a.denominator == 1 and b.denominator == 1:  # no rounding involved: 1450001 != 1450000
        return a == b
    tol = max(Fraction(str(rel_tol)) * max(abs(a), abs(b)), Fraction(str(abs_tol)))
    return abs(a - b) <= tol


def _numeric(gold: ParsedNumber, cand: ParsedNumber, rel_tol: float, abs_tol: float) -> MatchResult:
    if _close(gold.value, cand.value, rel_tol, abs_tol):
        return MatchResult(True, "numeric", f"{gold.text} == {cand.text}")
    if gold.percent != cand.percent:  # one side is a percentage: also try its value
        pct, other = (gold, cand) if gold.percent else (cand, gold)
        if _close(pct.value / 100, other.value, rel_tol, abs_tol):
            return MatchResult(True, "numeric", f"{gold.text} == {cand.text} (percent as fraction)")
    return MatchResult(False, "numeric", f"{gold.text} != {cand.text}")


def fast_match(
    gold: str, candidate: str, rel_tol: float = 1e-6, abs_tol: float = 1e-9
) -> MatchResult | None:
    """The string/numeric verdict, or None when only a symbolic check can decide."""
    g, c = _norm(gold), _norm(candidate)
    if not g or not c:
        return MatchResult(False, "string", "empty gold" if not g else "empty candidate")
    if g == c:
        return MatchResult(True, "string", f"{g} == {c}")
    gold_num, cand_num = parse_number_full(gold), parse_number_full(candidate)
    if gold_num is not None and cand_num is not None:
        return _numeric(gold_num, cand_num, rel_tol, abs_tol)
    return None


# -- the symbolic rule (math-verify), in the main thread of some process ---------------------
class _CheckTimeout(BaseException):  # BaseException: math-verify swallows Exception
    pass


class _DropTimeoutWarning(logging.Filter):
    """We disable math-verify's own alarm (ours wraps it); hide its warning about that."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


_mv_state: dict[str, object] = {}


def _math_verify():
    """The math_verify module, or None if it is not installed (imported once, lazily)."""
    if "module" not in _mv_state:
        try:
            import math_verify
        except ImportError:
            math_verify = None
        else:
            for name in ("math_verify.parser", "math_verify.grader"):
                logging.getLogger(name).addFilter(_DropTimeoutWarning())
        _mv_state["module"] = math_verify
    return _mv_state["module"]


def math_verify_available() -> bool:
    return _math_verify() is not None


def _mv_parse(mv, answer: str) -> list:
    configs = [mv.LatexExtractionConfig(), mv.ExprExtractionConfig()]
    text = answer.strip()
    if not any(d in text for d in ("$", "\\(", "\\[", "\\boxed")):  # a bare answer: make it math
        parsed = mv.parse(f"${text}$", extraction_config=configs, parsing_timeout=None)
        if parsed:
            return parsed
    return mv.parse(text, extraction_config=configs, parsing_timeout=None)


def _symbolic(gold: str, candidate: str) -> MatchResult:
    mv = _math_verify()
    if mv is None:
        return MatchResult(False, "string", f"no symbolic check: {INSTALL_HINT}")
    gold_parsed = _mv_parse(mv, gold)
    if not gold_parsed:
        return MatchResult(False, "math_verify", f"math-verify could not parse gold {gold!r}")
    cand_parsed = _mv_parse(mv, candidate)
    if not cand_parsed:
        return MatchResult(False, "math_verify", f"math-verify could not parse {candidate!r}")
    equal = mv.verify(gold_parsed, cand_parsed, timeout_seconds=None)
    verdict = "==" if equal else "!="
    return MatchResult(bool(equal), "math_verify", f"{gold.strip()} {verdict} {candidate.strip()}")


def _symbolic_with_deadline(gold: str, candidate: str, timeout: float) -> MatchResult:
    """`_symbolic` under a SIGALRM deadline. Main thread only.

    A caller's own pending alarm is restored afterwards (it fires late if it was due while
    we held the timer).
    """

    def expire(signum, frame):
        raise _CheckTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, timeout)
    started = time.monotonic()
    try:
        return _symbolic(gold, candidate)
    except _CheckTimeout:
        return MatchResult(False, "math_verify", f"timed out after {timeout:g}s")
    except Exception as exc:  # a parser bug must not take the batch down
        return MatchResult(False, "math_verify", f"math-verify failed: {type(exc).__name__}: {exc}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay:  # the caller had an alarm set (e.g. pytest-timeout): give back the rest
            left = max(outer_delay - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _check_chunk(pairs: list[tuple[str, str]], timeout: float) -> list[MatchResult]:
    """Worker entry point: symbolic checks, one deadline each."""
    return [_symbolic_with_deadline(g, c, timeout) for g, c in pairs]


def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _math_verify()  # pay the sympy import once per worker, not on the first item


# -- public functions -------------------------------------------------------------------------
def answers_match(
    gold: str,
    candidate: str,
    *,
    rel_tol: float = 1e-6,
    abs_tol: float = 1e-9,
    timeout: float = DEFAULT_TIMEOUT,
) -> MatchResult:
    """Is `candidate` the same answer as `gold`? (string, then numeric, then math-verify)."""
    return answers_match_many(
        [(gold, candidate)], rel_tol=rel_tol, abs_tol=abs_tol, timeout=timeout
    )[0]


def answers_match_many(
    pairs: Sequence[tuple[str, str]],
    *,
    rel_tol: float = 1e-6,
    abs_tol: float = 1e-9,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[MatchResult]:
    """`answers_match` for many (gold, candidate) pairs.

    Symbolic checks run here when called from the main thread, else in the shared default
    `MathVerifier` (started on first need, closed at exit).
    """
    results: list[MatchResult | None] = [fast_match(g, c, rel_tol, abs_tol) for g, c in pairs]
    pending = [i for i, r in enumerate(results) if r is None]
    if pending and not math_verify_available():
        for i in pending:
            results[i] = MatchResult(False, "string", f"no symbolic check: {INSTALL_HINT}")
    elif pending and _in_main_thread():
        for i in pending:
            results[i] = _symbolic_with_deadline(*pairs[i], timeout)
    elif pending:
        verifier = _default_verifier()
        symbolic = verifier.check_symbolic([pairs[i] for i in pending], timeout=timeout)
        for i, result in zip(pending, symbolic, strict=True):
            results[i] = result
    return results  # type: ignore[return-value]


# -- the process pool -------------------------------------------------------------------------
@dataclass
class _Chunk:
    indexes: list[int]
    alone: bool = False  # run with nothing else in flight, so a crash names its culprit


class MathVerifier:
    """Checks answer pairs in worker processes, where math-verify's signal timeouts work.

    Pairs the string/numeric rules decide never reach the pool. The rest go to workers in
    chunks of `chunk_size`; each item has `timeout` seconds, each chunk a hard deadline of
    ``timeout * len(chunk) + startup_grace`` after which its worker is killed and its items
    are retried one by one. A worker crash is handled the same way. Use as a context manager
    or call `close()`.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        chunk_size: int = 16,
        rel_tol: float = 1e-6,
        abs_tol: float = 1e-9,
        context: str = "forkserver",
        startup_grace: float = 30.0,
    ):
        self.max_workers = max_workers or min(2, os.cpu_count() or 1)
        self.timeout = timeout
        self.chunk_size = max(1, chunk_size)
        self.rel_tol = rel_tol
        self.abs_tol = abs_tol
        self.startup_grace = startup_grace
        self._context = multiprocessing.get_context(context)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.restarts = 0  # pools killed after a timeout or crash (for tests and logs)

    def __enter__(self) -> MathVerifier:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers. Idempotent; the verifier cannot be used afterwards."""
        with self._lock:
            self._closed = True
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def check(self, gold: str, candidate: str) -> MatchResult:
        return self.check_many([(gold, candidate)])[0]

    def check_many(self, pairs: Sequence[tuple[str, str]]) -> list[MatchResult]:
        """One `MatchResult` per (gold, candidate) pair, in order."""
        results = [fast_match(g, c, self.rel_tol, self.abs_tol) for g, c in pairs]
        pending = [i for i, r in enumerate(results) if r is None]
        if pending:
            for i, result in zip(
                pending, self.check_symbolic([pairs[i] for i in pending]), strict=True
            ):
                results[i] = result
        return results  # type: ignore[return-value]

    def check_symbolic(
        self, pairs: Sequence[tuple[str, str]], timeout: float | None = None
    ) -> list[MatchResult]:
        """math-verify verdicts for `pairs`, computed in the pool (no string/numeric shortcut)."""
        if not pairs:
            return []
        if not math_verify_available():
            return [MatchResult(False, "string", f"no symbolic check: {INSTALL_HINT}")] * len(pairs)
        with self._lock:
            if self._closed:
                raise RuntimeError("MathVerifier is closed")
            return self._run(list(pairs), self.timeout if timeout is None else timeout)

    # -- scheduling ---------------------------------------------------------------------------
    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.max_workers, mp_context=self._context, initializer=_init_worker
            )
        return self._pool

    def _kill_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        self.restarts += 1

    def _run(self, pairs: list[tuple[str, str]], timeout: float) -> list[MatchResult]:
        results: list[MatchResult | None] = [None] * len(pairs)
        queue = deque(
            _Chunk(list(range(i, min(i + self.chunk_size, len(pairs)))))
            for i in range(0, len(pairs), self.chunk_size)
        )
        inflight: dict[Future, tuple[_Chunk, float]] = {}

        def submit(chunk: _Chunk) -> None:
            items = [pairs[i] for i in chunk.indexes]
            future = self._ensure_pool().submit(_check_chunk, items, timeout)
            inflight[future] = (chunk, time.monotonic() + timeout * len(items) + self.startup_grace)

        def give_up(chunk: _Chunk, why: str) -> None:
            for i in chunk.indexes:
                results[i] = MatchResult(False, "math_verify", why)

        while queue or inflight:
            alone_running = any(chunk.alone for chunk, _ in inflight.values())
            while queue and not alone_running and len(inflight) < self.max_workers:
                if queue[0].alone and inflight:
                    break
                submit(queue.popleft())
                alone_running = any(chunk.alone for chunk, _ in inflight.values())
            next_deadline = min(deadline for _, deadline in inflight.values())
            done, _ = wait(inflight, timeout=max(0.0, next_deadline - time.monotonic()),
                           return_when=FIRST_COMPLETED)  # fmt: skip
            crashed: list[_Chunk] = []
            for future in done:
                chunk, _ = inflight.pop(future)
                try:
                    for i, result in zip(chunk.indexes, future.result(), strict=True):
                        results[i] = result
                except Exception:  # BrokenProcessPool: some worker died
                    crashed.append(chunk)
            now = time.monotonic()
            expired = [f for f, (_, deadline) in inflight.items() if deadline <= now]
            if not crashed and not expired:
                continue
            stuck = [inflight.pop(f)[0] for f in expired]
            innocent = [chunk for chunk, _ in inflight.values()]
            inflight.clear()
            self._kill_pool()
            if any(not c.alone for c in crashed):  # a crash with others in flight: the rest suspect
                crashed += [c for c in innocent if not c.alone]
                innocent = [c for c in innocent if c.alone]
            queue.extendleft(reversed(innocent))
            for chunk in stuck:
                if len(chunk.indexes) == 1:
                    give_up(chunk, f"timed out after {timeout:g}s (worker killed)")
                else:
                    queue.extend(_Chunk([i]) for i in chunk.indexes)
            for chunk in crashed:
                if chunk.alone and len(chunk.indexes) == 1:
                    give_up(chunk, "math-verify worker crashed on this pair")
                else:
                    queue.extend(_Chunk([i], alone=True) for i in chunk.indexes)
        return results  # type: ignore[return-value]


_default: dict[str, MathVerifier] = {}
_default_lock = threading.Lock()


def _default_verifier() -> MathVerifier:
    with _default_lock:
        if "verifier" not in _default:
            _default["verifier"] = MathVerifier()
            atexit.register(_default["verifier"].close)
        return _default["verifier"]
