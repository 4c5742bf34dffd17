"""Batch mode: what a 10k-request step costs online vs batch, and the batch path at 10k.

1. Cost from a price table: 10,000 requests of PROMPT_TOKENS in and COMPLETION_TOKENS out,
   at each model's online and batch list price (see PRICES: source and date).
2. A real 10k-request step (`llm_generate` over 10,000 records) in `mode: batch` against the
   local batch server (tests/support/batch_server.py, run in its own process with a
   processing delay per batch), each configuration in a fresh process: wall time,
   requests/s through the batch path, peak RSS of the run's process, provider batches sent.
   For reference the same step online against the same server (no latency: an upper bound
   of what online can do here, not what a provider gives).
3. The flow on a 2-step recipe (answer -> check, both in batch mode): the provider batches
   with their sizes, when each was created and read, from the run's `llm_batches.jsonl`.

    .venv/bin/python benchmarks/bench_batch_cost.py [--n 10000] [--delay 1.0] [--skip-run]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUPPORT = HERE.parent / "tests" / "support"

# USD per 1M tokens: (online input, online output, batch input, batch output).
# List prices as published on https://openai.com/api/pricing (gpt-4o-mini since July 2024;
# Batch API: 50% off) and https://www.anthropic.com/pricing / docs.anthropic.com "Pricing"
# (claude-3-5-haiku since Nov 2024; Message Batches: 50% off); checked 2026-12-08 against
# copies of those tables. Prices change: pass your own in the recipe (price_per_1k_*).
PRICES = {
    "gpt-4o-mini": (0.15, 0.60, 0.075, 0.30),
    "claude-3-5-haiku": (0.80, 4.00, 0.40, 2.00),
}
PROMPT_TOKENS, COMPLETION_TOKENS = 300, 200  # a typical instruction + answer step


def cost_table(n: int) -> list[dict]:
    from synthpipe.llm.config import LLMConfig

    rows = []
    for model, (pi, po, bi, bo) in PRICES.items():
        config = LLMConfig(model=model, base_url="http://127.0.0.1:1/v1", price_per_1k_input=pi / 1000,
                           price_per_1k_output=po / 1000, price_per_1k_input_batch=bi / 1000,
                           price_per_1k_output_batch=bo / 1000)  # fmt: skip
        online = config.cost(n * PROMPT_TOKENS, n * COMPLETION_TOKENS)
        batch = config.cost(n * PROMPT_TOKENS, n * COMPLETION_TOKENS, batch=True)
        rows.append({"model": model, "online": round(online, 4), "batch": round(batch, 4),
                     "saved": round(online - batch, 4)})  # fmt: skip
    return rows


def start_server(delay: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(SUPPORT / "batch_server.py"), str(delay)],
                            stdout=subprocess.PIPE, text=True, cwd=SUPPORT)  # fmt: skip
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        raise SystemExit(f"batch server did not start: {url!r}")
    return proc, url


def one_run(args: argparse.Namespace) -> None:
    """In a fresh process: run the step once, print a JSON line of measures."""
    from synthpipe import Pipeline
    from synthpipe.generate.text_generation import TextGeneration
    from synthpipe.llm.config import LLMConfig
    from synthpipe.pipeline.sources import FromRecords

    fast = {"batch_flush_s": 0.5, "batch_poll_s": 0.2, "batch_poll_max_s": 1.0, "max_concurrency": 64}
    config = LLMConfig(model="test-model", base_url=args.url, mode=args.mode, **fast)
    steps = {
        "questions": FromRecords(records=[{"id": f"r{i:05d}", "question": f"question number {i}"} for i in range(args.n)]),
        "answer": TextGeneration(prompt="Answer: {{ question }}", output_field="answer", llm="default"),
    }
    if args.two_step:
        steps["check"] = TextGeneration(prompt="Check: {{ answer }}", output_field="verdict", llm="default")
    out = Path(args.out)
    inflight = {"max_inflight": args.max_inflight} if args.max_inflight else {}  # unset: sized for batches
    pipe = Pipeline("bench", steps, llms={"default": config}, llm_cache=str(out / "cache.sqlite"),
                    batch_size=args.batch_size, **inflight)  # fmt: skip
    started = time.perf_counter()
    result = pipe.run(out / "run")
    wall = time.perf_counter() - started
    stats = result.metrics["llm"]["endpoints"]["default"]
    print(json.dumps({
        "wall_s": round(wall, 2), "kept": len(result.kept), "requests": stats["requests"],
        "requests_per_s": round(stats["requests"] / wall, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "batch": stats.get("batch"), "run": str(out / "run"),
    }))  # fmt: skip


def measure(url: str, n: int, mode: str, batch_size: int, max_inflight: int, two_step: bool = False) -> dict:
    out = tempfile.mkdtemp(prefix="bench-batch-")
    cmd = [sys.executable, __file__, "--one", "--url", url, "--n", str(n), "--mode", mode, "--out", out,
           "--batch-size", str(batch_size), "--max-inflight", str(max_inflight)] + (["--two-step"] if two_step else [])  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def timeline(run: str) -> list[dict]:
    events = [json.loads(line) for line in (Path(run) / "llm_batches.jsonl").read_text().splitlines()]
    t0 = events[0]["time"]
    rows: dict[str, dict] = {}
    for e in events:
        if e["event"] == "created":
            rows[e["batch_id"]] = {"batch": e["batch_id"], "lines": len(e["custom_ids"]), "created_s": round(e["time"] - t0, 2)}
        elif e["event"] == "read":
            rows[e["batch_id"]]["read_s"] = round(e["time"] - t0, 2)
    return list(rows.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--delay", type=float, default=1.0, help="seconds a provider batch stays in progress")
    parser.add_argument("--skip-run", action="store_true")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="batch", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--max-inflight", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--two-step", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_run(args)
        return
    print(f"## cost of {args.n:,} requests ({PROMPT_TOKENS} prompt + {COMPLETION_TOKENS} completion tokens each)")
    for row in cost_table(args.n):
        print(json.dumps(row))
    if args.skip_run:
        return
    server, url = start_server(args.delay)
    try:
        print(f"\n## {args.n:,}-request step, provider batches in progress for {args.delay}s each")
        for label, mode, bs, inflight in (
            ("batch, max_inflight unset (sized to fill a provider batch)", "batch", 256, 0),
            ("batch, max_inflight: 4 set in the recipe", "batch", 256, 4),
            ("online, max_concurrency 64 (no server latency)", "online", 256, 0),
        ):
            row = measure(url, args.n, mode, bs, inflight)
            print(json.dumps({"config": label, **{k: v for k, v in row.items() if k != "run"}}))
        for inflight in (4, 0):
            print(f"\n## flow of a 2-step recipe (answer -> check), 2,000 records, batch_size 100, "
                  f"max_inflight {inflight or 'unset'}")  # fmt: skip
            row = measure(url, 2000, "batch", 100, inflight, two_step=True)
            print(json.dumps({k: v for k, v in row.items() if k != "run"}))
            for batch in timeline(row["run"]):
                print(json.dumps(batch))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
