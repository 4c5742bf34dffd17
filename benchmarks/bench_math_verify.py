"""Math answer checking on GSM8K: self-verification rates and `verify_math` throughput.

1. Self-verification: every gold solution of GSM8K test (1,319) and train (7,473) against its
   own final answer (the text after ``####``), via `extract_answer` + `answers_match`; also
   the same with the ``####`` line cut off, which measures the last-number fallback.
2. Throughput of the ``verify_math`` step (one process, main thread) on GSM8K test, with
   candidate = the worked solution and gold = the final answer; and with
   ``gold_is_solution`` (both fields the solution). Best of `--repeat` runs.
3. Symbolic throughput: pairs only math-verify can decide (gold ``\\frac{2n}{2}`` vs
   candidate ``n`` for every GSM8K test answer n), in the main thread and through a
   `MathVerifier` pool (2 workers, forkserver; pool start-up timed separately).

    .venv/bin/python benchmarks/bench_math_verify.py [--shared ../shared/data] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from synthpipe.pipeline.step import StepContext
from synthpipe.verify.answers import extract_answer
from synthpipe.verify.math_check import MathVerifier, answers_match, answers_match_many
from synthpipe.verify.math_steps import VerifyMath

ROOT = Path(__file__).resolve().parents[1]


def _rows(shared: Path, split: str) -> list[dict]:
    path = shared / "gsm8k" / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _gold(solution: str) -> str:
    return solution.rsplit("####", 1)[1].strip()


def self_verification(rows: list[dict], cut_marker: bool = False) -> tuple[int, list[int]]:
    misses = []
    for i, row in enumerate(rows):
        text = row["answer"].rsplit("####", 1)[0] if cut_marker else row["answer"]
        found = extract_answer(text)
        if found is None or not answers_match(_gold(row["answer"]), found.text).equal:
            misses.append(i)
    return len(rows) - len(misses), misses


def step_throughput(rows: list[dict], repeat: int, **config) -> tuple[float, int]:
    step = VerifyMath(**config)
    best, passed = float("inf"), 0
    for _ in range(repeat):
        batch = [
            {"id": str(i), "answer": r["answer"], "final_answer": _gold(r["answer"])}
            for i, r in enumerate(rows)
        ]
        started = time.perf_counter()
        for start in range(0, len(batch), 256):  # the executor's default batch size
            step.process(batch[start : start + 256], StepContext(name="verify_math"))
        best = min(best, time.perf_counter() - started)
        passed = sum(r["verification"]["passed"] for r in batch)
    return len(rows) / best, passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    print("## GSM8K self-verification (gold solution vs its own #### answer)")
    for split in ("test", "train"):
        rows = _rows(args.shared, split)
        ok, misses = self_verification(rows)
        cut_ok, _ = self_verification(rows, cut_marker=True)
        print(f"{split}: {ok}/{len(rows)} = {ok / len(rows):.4f} (misses: {misses[:10]}); "
              f"without the #### line (last-number fallback): {cut_ok}/{len(rows)} = "
              f"{cut_ok / len(rows):.4f}")  # fmt: skip

    test = _rows(args.shared, "test")
    print("\n## verify_math throughput on GSM8K test (one process, batches of 256)")
    rate, passed = step_throughput(test, args.repeat, candidate_field="answer")
    print(f"candidate=answer, gold=final_answer: {rate:,.0f} records/s ({passed} passed)")
    rate, passed = step_throughput(
        test, args.repeat, candidate_field="answer", gold_field="answer", gold_is_solution=True
    )
    print(f"gold_is_solution (extract both): {rate:,.0f} records/s ({passed} passed)")

    print("\n## symbolic pairs (math-verify only): gold \\frac{2n}{2} vs candidate n")
    pairs = []
    for row in test:
        n = int(_gold(row["answer"]).replace(",", ""))
        pairs.append((f"\\frac{{{2 * n}}}{{2}}", str(n)))
    started = time.perf_counter()
    results = answers_match_many(pairs)
    elapsed = time.perf_counter() - started
    equal = sum(r.equal for r in results)
    print(f"main thread: {len(pairs) / elapsed:,.0f} pairs/s ({equal}/{len(pairs)} equal)")
    with MathVerifier() as verifier:
        started = time.perf_counter()
        verifier.check("\\frac{1}{2}", "0.5")
        startup = time.perf_counter() - started
        started = time.perf_counter()
        results = verifier.check_many(pairs)
        elapsed = time.perf_counter() - started
        equal = sum(r.equal for r in results)
        print(f"MathVerifier ({verifier.max_workers} workers): {len(pairs) / elapsed:,.0f} "
              f"pairs/s ({equal}/{len(pairs)} equal); pool start-up {startup:.2f}s")  # fmt: skip


if __name__ == "__main__":
    main()
