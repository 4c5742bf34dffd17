"""Sandbox throughput: programs per second by isolation mode and worker count.

Workloads:
- ``trivial``: ``print(1)`` (``--trivial`` runs, default 200): the fixed cost of one sandbox
  (workdir, launcher, namespaces, interpreter start, cleanup);
- ``humaneval``: the 164 bundled HumanEval canonical solutions checked against their tests
  through :func:`synthpipe.verify.code_check.check_program` (harness, JSON reports, verdict).

Each is run for every isolation mode that works here (bwrap, unshare, none) with 1 and 2
workers (a thread pool: the work is in subprocesses, so threads are enough). The baseline row
is a bare ``subprocess.run([python, "-I", "-c", "print(1)"])``: the floor set by starting
Python. Each cell is the best of ``--repeat`` runs (default 3). Prints a markdown table.

    .venv/bin/python benchmarks/bench_sandbox.py [--trivial 200] [--modes bwrap,none]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from synthpipe.verify.code_check import build_test_program, check_program
from synthpipe.verify.sandbox import available_modes, run_python

HUMANEVAL = (
    Path(__file__).resolve().parents[1] / "src/synthpipe/resources/benchmarks/humaneval/test.jsonl"
)


def timed(fn, items, workers: int, repeat: int) -> tuple[float, list]:
    """Best of `repeat` wall times (the machine may be shared) and the last results."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            out = list(pool.map(fn, items))
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trivial", type=int, default=200, help="runs of the trivial program")
    ap.add_argument("--modes", default="", help="comma-separated subset of modes")
    ap.add_argument("--repeat", type=int, default=3, help="report the best of this many runs")
    args = ap.parse_args()
    modes = available_modes()
    if args.modes:
        modes = [m for m in modes if m in args.modes.split(",")]
    load0 = os.getloadavg()[0]
    trivial = ["print(1)"] * args.trivial
    records = [json.loads(line) for line in HUMANEVAL.open()]
    programs = [
        build_test_program(r, layout="humaneval", prompt_field="question", code_field="answer")
        for r in records
    ]
    rows = []
    bare = [sys.executable, "-I", "-c", "print(1)"]
    for workers in (1, 2):
        secs, _ = timed(
            lambda _: subprocess.run(bare, capture_output=True), trivial, workers, args.repeat
        )
        rows.append(
            ("bare python (baseline)", "trivial", workers, len(trivial), secs, len(trivial))
        )
    for mode in modes:
        for workers in (1, 2):
            secs, res = timed(partial(run_python, isolation=mode), trivial, workers, args.repeat)
            rows.append((mode, "trivial", workers, len(trivial), secs, sum(r.ok for r in res)))
            check = partial(check_program, isolation=mode, timeout_s=30)
            secs, res = timed(check, programs, workers, args.repeat)
            rows.append(
                (mode, "humaneval", workers, len(programs), secs, sum(r.passed for r in res))
            )
    load = os.getloadavg()[0]
    print(
        f"sandbox throughput, best of {args.repeat} ({os.cpu_count()} cores, "
        f"1-min load at start {load0:.2f}, at end {load:.2f})\n"
    )
    print(
        "| isolation | workload | workers | programs | passed | seconds | programs/s | ms/program |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for mode, work, workers, n, secs, ok in rows:
        print(
            f"| {mode} | {work} | {workers} | {n} | {ok} | {secs:.2f} | {n / secs:.1f} "
            f"| {1000 * secs / n:.1f} |"
        )


if __name__ == "__main__":
    main()
