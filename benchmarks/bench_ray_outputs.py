"""Driver CPU time spent writing a Ray run's kept and dropped outputs: written on the driver
(the layout before sharded outputs: one file each, every checkpoint read back) against written
by Ray tasks as shards plus a manifest (the driver writes the manifests only).

The recipe and corpus are those of ``bench_ray_multinode.py`` (``read`` -> ``text_filter`` ->
``exact_dedup``), run in this process on a local Ray with ``--cpus`` CPUs. Prints, as JSON, the
driver's CPU and wall seconds in the output writing, in ``Pipeline._finish`` and in the whole run.

    .venv/bin/python benchmarks/bench_ray_outputs.py --mode tasks --n 300000
    .venv/bin/python benchmarks/bench_ray_outputs.py --mode driver --n 300000
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import ray  # noqa: E402
from bench_ray_multinode import RECIPE, make_corpus  # noqa: E402

import synthpipe.run.api as api  # noqa: E402
from synthpipe.executors.ray_executor import RayExecutor  # noqa: E402


def timed(fn, into: dict, key: str):
    def wrapper(*args, **kwargs):
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            into[f"{key}_cpu_s"] = round(time.process_time() - cpu, 2)
            into[f"{key}_wall_s"] = round(time.perf_counter() - wall, 2)

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300_000, help="records in the corpus")
    parser.add_argument("--mode", choices=["tasks", "driver"], required=True)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=None, help="directory for the corpus and runs")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-ray-outputs-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / f"corpus-{args.n}.jsonl"
    if not corpus.exists():
        make_corpus(args.n, corpus)
    recipe = work / f"dedup-{args.n}.yaml"
    recipe.write_text(RECIPE.format(batch=args.batch, corpus=corpus))
    if args.mode == "driver":
        RayExecutor.write_outputs = None  # the pipeline then writes them on the driver
    row: dict = {"mode": args.mode, "records": args.n}
    api.write_outputs = timed(api.write_outputs, row, "write")
    api.Pipeline._finish = timed(api.Pipeline._finish, row, "finish")
    ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level=logging.WARNING)
    try:
        run = timed(api.Pipeline.from_recipe(recipe).run, row, "run")
        result = run(work / f"run-{args.mode}-{args.n}", executor="ray", fresh=True, yes=True)
    finally:
        ray.shutdown()
    row.update(kept=result.metrics["kept"], dropped=result.metrics["dropped"], layout=result.metrics["output"]["layout"])
    print(json.dumps(row))


if __name__ == "__main__":
    main()
