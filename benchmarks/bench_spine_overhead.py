"""What resumability costs: `synthpipe run` vs a plain Python script doing the same work.

Both sides are whole processes (interpreter start and imports included) doing the same job on
the same JSONL file of N generated records: read it, drop texts under 3 words
(``TextFilter``), drop exact duplicates (``ExactDedup``), write the kept records and the
dropped ones as JSONL. The plain script calls the two steps' own methods in one loop with the
standard ``json`` module; ``synthpipe run`` adds batching, checkpoints, the ledger, metrics
and the report. ``--before SRC`` adds the same run with another synthpipe source tree (e.g. a
checkout of an earlier commit) on ``PYTHONPATH``, interleaved, for before/after figures.

    .venv/bin/python benchmarks/bench_spine_overhead.py [--n 200000] [--batch-size 1000]
        [--repeat 3] [--before /path/to/old/src]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

PLAIN = """
import json, sys
from synthpipe.curate.exact_dedup import ExactDedup
from synthpipe.curate.text_filters import TextFilter
from synthpipe.pipeline.step import StepContext

source, out = sys.argv[1], sys.argv[2]
records = [json.loads(line) for line in open(source, encoding="utf-8")]
batch = TextFilter(min_words=3).process(records, StepContext("filter"))
survivors = [r for r in batch if r.get("_drop") is None]
batch = next(iter(ExactDedup().run(lambda: iter([survivors]), StepContext("dedup"))))
dropped = [r for r in records if r.get("_drop") is not None]
with open(out + "/kept.jsonl", "w", encoding="utf-8") as fh:
    fh.writelines(json.dumps(r, ensure_ascii=False) + "\\n" for r in batch if r.get("_drop") is None)
with open(out + "/dropped.jsonl", "w", encoding="utf-8") as fh:
    fh.writelines(json.dumps(r, ensure_ascii=False) + "\\n" for r in dropped)
"""

RECIPE = """\
name: spine
batch_size: {batch_size}
steps:
  read: {{step: read, path: {path}}}
  filter: {{step: text_filter, min_words: 3}}
  dedup: {{step: exact_dedup}}
"""


def make_records(n: int) -> list[dict]:
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"]
    return [
        {"id": f"r{i}", "text": " ".join(words[(j * k) % len(words)] for k in range(1, 2 + j % 9)) + f" {j}"}
        for i in range(n)
        for j in [i % (n // 2)]  # every text twice, some too short for the filter
    ]


def timed(cmd: list[str], src: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def kept_count(out: Path) -> int:
    with (out / "kept.jsonl").open(encoding="utf-8") as fh:
        return sum(1 for _ in fh)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", type=Path, help="another synthpipe source tree to time the same run with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "records.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in make_records(args.n)), encoding="utf-8")
        (work / "recipe.yaml").write_text(RECIPE.format(batch_size=args.batch_size, path=data))
        (work / "plain.py").write_text(PLAIN)
        contenders = {"plain script": (SRC, "plain"), "synthpipe run": (SRC, "run")}
        if args.before:
            contenders["synthpipe run (before)"] = (args.before.resolve(), "run")
        times: dict[str, list[float]] = {name: [] for name in contenders}
        counts = {}
        for _ in range(args.repeat):  # interleaved: each round runs every contender once
            for name, (src, kind) in contenders.items():
                out = work / name.replace(" ", "_")
                out.mkdir(exist_ok=True)
                if kind == "plain":
                    cmd = [sys.executable, str(work / "plain.py"), str(data), str(out)]
                else:
                    cmd = [sys.executable, "-m", "synthpipe.cli", "run", str(work / "recipe.yaml"),
                           "--out", str(out), "--fresh", "--quiet"]  # fmt: skip
                times[name].append(timed(cmd, src))
                counts[name] = kept_count(out)
    if len(set(counts.values())) != 1:
        raise SystemExit(f"contenders kept different counts: {counts}")
    base = statistics.median(times["plain script"])
    print(f"records={args.n} batch_size={args.batch_size} kept={counts['plain script']} repeat={args.repeat}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:24s} {median:7.2f} s  {args.n / median:10,.0f} rec/s  {median / base:.2f}x")


if __name__ == "__main__":
    main()
