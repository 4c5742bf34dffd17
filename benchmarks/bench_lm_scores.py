"""LM scorers on CPU: records/s of the `perplexity` and `ifd` steps on TREC questions.

The first `--n` questions of the bundled TREC train split, scored in step batches of 256 by
`perplexity` (the question as text) and by `ifd` (the question as the response to the
instruction "Write a question whose answer is a {label}"), under `--model` (default the
smollm2-135m preset) at each `--batch-sizes` forward-pass size. The model is loaded (and
warmed up on a few records) before timing; records/s = n / wall time, best of `--repeat` runs,
and records per CPU-second = n / the process's CPU time over the same run. On a machine
shared with other jobs the wall figure drops (torch's threads spin while waiting for a core;
`--threads 1` suffers least) while the CPU-second figure holds: on 2 idle cores, expect up to
2x the CPU-second figure measured with `--threads 1`.
IFD costs two forward passes per record (with and without the instruction), and its chat
template adds SmolLM2's default system prompt (~30 tokens) to every conditioned pass.

    .venv/bin/python benchmarks/bench_lm_scores.py --n 200 --batch-sizes 8 16 32 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import time

from synthpipe.curate.lm_scores.ifd_cherry import InstructionFollowingDifficulty
from synthpipe.curate.lm_scores.perplexity import Perplexity
from synthpipe.data.paths import bundled_root
from synthpipe.pipeline.step import MapStep, StepContext

TEMPLATE = "Write a question whose answer is a {label}"


def questions(n: int) -> list[dict]:
    with open(bundled_root() / "trec" / "train.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for _, line in zip(range(n), handle, strict=False)]


def timed(step: MapStep, records: list[dict], repeat: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the fastest of `repeat` runs over `records`, in step batches of 256."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(records), 256):
            step.process([dict(r) for r in records[i : i + 256]], StepContext("bench"))
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    records = questions(args.n)
    started = time.perf_counter()
    Perplexity(model=args.model).process([dict(r) for r in records[:4]], StepContext("warmup"))
    print(f"load + warm-up: {time.perf_counter() - started:.1f} s; torch threads {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| step | batch | records | wall s | records/s | records/CPU-s |")
    print("|---|---:|---:|---:|---:|---:|")
    for batch in args.batch_sizes:
        steps = {
            "perplexity": Perplexity(model=args.model, batch_size=batch),
            "ifd": InstructionFollowingDifficulty(
                model=args.model,
                batch_size=batch,
                instruction_template=TEMPLATE,
                response_field="text",
            ),
        }
        for name, step in steps.items():
            wall, cpu = timed(step, records, args.repeat)
            n = len(records)
            print(
                f"| {name} | {batch} | {n} | {wall:.1f} | {n / wall:.1f} | {n / cpu:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
