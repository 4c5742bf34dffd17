"""What resumability costs: the spine vs a plain Python loop doing the same work.

Both sides run the same steps (filter + exact dedup) on the same N generated records; the
spine adds batching, per-batch Parquet checkpoints, the ledger, metrics and the report.

    .venv/bin/python benchmarks/bench_spine_overhead.py [--n 200000] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from synthpipe import Pipeline
from synthpipe.curate.exact_dedup import ExactDedup
from synthpipe.curate.text_filters import TextFilter
from synthpipe.pipeline.sources import FromRecords
from synthpipe.pipeline.step import StepContext


def make_records(n: int) -> list[dict]:
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"]
    return [
        {"id": f"r{i}", "text": " ".join(words[(j * k) % len(words)] for k in range(1, 2 + j % 9)) + f" {j}"}
        for i in range(n)
        for j in [i % (n // 2)]  # every text twice, some too short for the filter
    ]


def plain_loop(records: list[dict]) -> int:
    filt, dedup = TextFilter(min_words=3), ExactDedup()
    batch = filt.process([dict(r) for r in records], StepContext("filter"))
    kept = [r for r in batch if r.get("_drop") is None]
    out = next(iter(dedup.run(lambda: iter([kept]), StepContext("dedup"))))
    return sum(r.get("_drop") is None for r in out)


def spine(records: list[dict], batch_size: int, out: Path) -> int:
    pipe = Pipeline(
        "bench",
        {"records": FromRecords(records=records), "filter": TextFilter(min_words=3), "dedup": ExactDedup()},
        batch_size=batch_size,
    )
    return pipe.run(out).metrics["kept"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    records = make_records(args.n)
    t0 = time.perf_counter()
    kept_plain = plain_loop(records)
    t_plain = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        kept_spine = spine(records, args.batch_size, Path(tmp) / "run")
        t_spine = time.perf_counter() - t0
        t0 = time.perf_counter()
        spine(records, args.batch_size, Path(tmp) / "run")  # everything reused
        t_resume = time.perf_counter() - t0
    assert kept_plain == kept_spine, (kept_plain, kept_spine)
    print(f"records={args.n} batch_size={args.batch_size} kept={kept_spine}")
    print(f"plain loop           {t_plain:7.2f} s  {args.n / t_plain:10,.0f} rec/s  1.00x")
    print(f"synthpipe run        {t_spine:7.2f} s  {args.n / t_spine:10,.0f} rec/s  {t_spine / t_plain:.2f}x")
    print(f"synthpipe rerun      {t_resume:7.2f} s  (all steps reused; the cost is validating and hashing the in-memory records)")


if __name__ == "__main__":
    main()
