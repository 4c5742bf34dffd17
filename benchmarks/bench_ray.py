"""The Ray executor against the local one: MinHash dedup and the quickstart, 1 and 2 workers.

Workloads (the same pipeline on every executor):

- ``minhash``: ``read`` (JSONL) -> ``minhash_dedup`` (defaults: 5-gram shingles, 128
  permutations, threshold 0.8, exact verification) on the corpus of ``bench_minhash.py``:
  ``--docs`` documents of 150-250 words drawn from the texts in ``../shared/data``, 5% planted
  near-duplicates.
- ``quickstart``: ``recipes/quickstart.yaml`` with ``steps.generate.n=--quickstart-n``,
  without its experiment and with the audit's lexical metrics only (no embedding model).

Executors: ``local`` with ``workers`` 1 and 2 (the process pool for CPU-bound map steps; the
MinHash step itself runs in-process, as configured by default), and ``ray`` on a local Ray
started with ``num_cpus`` 1 and 2. For Ray the start-up (``ray.init``) is timed apart; each
pipeline then runs twice into fresh directories: ``cold`` (workers start, modules import)
and ``warm`` (the steady state). records/s = input records / run seconds.

For MinHash on Ray the table's second part lists the seconds its tasks spent per stage
(summed over tasks, from ``minhash_summary.json``): the per-core cost of each stage, which the
estimate for larger clusters builds on.

    .venv/bin/python benchmarks/bench_ray.py --docs 50000 --quickstart-n 2000
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(HERE.parent))


def minhash_pipeline(corpus: Path, workers: int):
    from synthpipe import Pipeline
    from synthpipe.curate.minhash import MinHashDedup
    from synthpipe.pipeline.sources import ReadRecords

    steps = {"read": ReadRecords(path=str(corpus)), "minhash": MinHashDedup()}
    return Pipeline("bench-minhash", steps, batch_size=1024, workers=workers)


def quickstart_pipeline(n: int, workers: int):
    from synthpipe import Pipeline

    overrides = [
        f"steps.generate.n={n}",
        "experiment=null",
        "steps.audit.embed=false",
        f"workers={workers}",
    ]
    return Pipeline.from_recipe(ROOT / "recipes" / "quickstart.yaml", overrides)


def timed_run(make, work: Path, executor: str) -> tuple[float, object]:
    shutil.rmtree(work, ignore_errors=True)
    started = time.perf_counter()
    result = make().run(work, executor=executor)
    return time.perf_counter() - started, result


def measure(name: str, make, n_in: int, work: Path, cpus: int, executor: str) -> dict:
    import ray

    row = {"workload": name, "executor": executor, "cpus": cpus, "records": n_in, "startup_s": None}
    if executor == "ray":
        started = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
        row["startup_s"] = time.perf_counter() - started
    try:
        row["cold_s"], result = timed_run(make, work / "cold", executor)
        row["warm_s"], result = timed_run(make, work / "warm", executor)
    finally:
        if executor == "ray":
            ray.shutdown()
    row["kept"] = result.metrics["kept"]
    row["steps_s"] = {s["name"]: s["duration_s"] for s in result.metrics["steps"]}
    row["records_per_s"] = n_in / row["warm_s"]
    summary = work / "warm" / "minhash_summary.json"
    if summary.exists():
        row["summary"] = json.loads(summary.read_text())
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| workload | executor | CPUs | records | Ray start-up s | cold run s | warm run s "
        "| records/s (warm) | kept | busy s per step (warm) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        start = f"{r['startup_s']:.1f}" if r["startup_s"] is not None else "-"
        steps = ", ".join(f"{k} {v:.1f}" for k, v in r["steps_s"].items())
        lines.append(
            f"| {r['workload']} | {r['executor']} | {r['cpus']} | {r['records']:,} | {start} | "
            f"{r['cold_s']:.1f} | {r['warm_s']:.1f} | {r['records_per_s']:,.0f} | {r['kept']:,} "
            f"| {steps} |"
        )
    return "\n".join(lines)


def stage_table(rows: list[dict]) -> str:
    ray_rows = [
        r for r in rows if r["executor"] == "ray" and "task_seconds" in r.get("summary", {})
    ]
    if not ray_rows:
        return ""
    stages = list(ray_rows[0]["summary"]["task_seconds"])
    lines = [
        "| CPUs | " + " | ".join(stages) + " | docs per core-second (all stages) |",
        "| --- | " + " | ".join("---" for _ in stages) + " | --- |",
    ]
    for r in ray_rows:
        secs = r["summary"]["task_seconds"]
        total = sum(secs.values())
        cells = " | ".join(f"{secs.get(s, 0):.2f}" for s in stages)
        lines.append(f"| {r['cpus']} | {cells} | {r['records'] / total:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=50_000, help="MinHash corpus size")
    parser.add_argument("--quickstart-n", type=int, default=2000)
    parser.add_argument("--cpus", default="1,2", help="worker counts to try")
    parser.add_argument("--only", default="minhash,quickstart")
    parser.add_argument("--shared-data", type=Path, default=SHARED)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    cpus = [int(c) for c in args.cpus.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        work = Path(tmp)
        if "minhash" in args.only:
            from bench_minhash import make_corpus

            make_corpus(args.docs, 0.05, 0, work / "corpus", args.shared_data)
            corpus = work / "corpus" / "corpus.jsonl"
            for executor in ("local", "ray"):
                for n in cpus:
                    make = lambda n=n: minhash_pipeline(corpus, n)  # noqa: E731
                    work_dir = work / f"mh-{executor}-{n}"
                    rows.append(measure("minhash", make, args.docs, work_dir, n, executor))
                    print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
        if "quickstart" in args.only:
            for executor in ("local", "ray"):
                for n in cpus:
                    make = lambda n=n: quickstart_pipeline(args.quickstart_n, n)  # noqa: E731
                    work_dir = work / f"qs-{executor}-{n}"
                    rows.append(
                        measure("quickstart", make, args.quickstart_n, work_dir, n, executor)
                    )
                    print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(table(rows))
    stages = stage_table([r for r in rows if r["workload"] == "minhash"])
    if stages:
        print("\nMinHash on Ray: task seconds per stage (summed over tasks)\n")
        print(stages)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
