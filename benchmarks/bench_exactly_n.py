"""Exactly N accepted (`target: {kept: N}`): records generated and rounds needed vs the ideal.

A filter with a chosen pass rate (a hash of the text below `rate`, tests/pipeline/target_toys.py)
follows a source, then exact dedup; the run asks for N survivors. The ideal is N / rate records
(a run that knew the pass rate in advance and were lucky). For each rate the table gives the
records generated, the rounds, the overshoot over the ideal, the surplus (records past N, kept
in the ledger as ``surplus``) and the wall time.

Two sources:

- ``procedural``: math_word_problems (deterministic; its records are generated again in each
  round, which costs CPU only);
- ``llm``: zerogen with one example per request on the scripted OpenAI-compatible server
  (tests/support/llm_server.py), the response cache off: records generated = requests sent,
  and the server counts how often each request arrived (a request sent twice would be paid
  twice).

    .venv/bin/python benchmarks/bench_exactly_n.py [--n 1000] [--rates 0.1 0.3 0.5 0.9]
        [--sources procedural llm] [--margin 1.1]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "support"), str(ROOT / "tests" / "pipeline")]

from llm_server import ScriptedOpenAIServer, last_user_content  # noqa: E402
from target_toys import RateFilter  # noqa: E402

from synthpipe import Pipeline  # noqa: E402
from synthpipe.curate.exact_dedup import ExactDedup  # noqa: E402
from synthpipe.generate.zerogen import ZeroGen  # noqa: E402
from synthpipe.llm.config import LLMConfig  # noqa: E402
from synthpipe.procedural.math_word_problems import MathWordProblems  # noqa: E402


def responder(body: dict) -> str:
    """One distinct question per request (its seed and prompt decide it)."""
    content = last_user_content(body)
    label = re.search(r'examples of class "(\w+)"', content).group(1)
    return f"1. A {label} question number {body['seed']} ?"


def run_procedural(n: int, rate: float, margin: float, out: Path) -> dict:
    steps = {"generate": MathWordProblems(), "filter": RateFilter(rate=rate, field="question"),
             "dedup": ExactDedup(fields=["question"])}  # fmt: skip
    pipe = Pipeline("exactly-n", steps, target={"kept": n, "margin": margin})
    started = time.perf_counter()
    result = pipe.run(out)
    return {**result.metrics["target"], "wall_s": time.perf_counter() - started, "sent_twice": 0}


def run_llm(n: int, rate: float, margin: float, out: Path) -> dict:
    with ScriptedOpenAIServer(responder=responder) as server:
        llm = LLMConfig(backend="openai", base_url=server.base_url, model="test-model", max_retries=0)
        steps = {"generate": ZeroGen(per_request=1), "filter": RateFilter(rate=rate), "dedup": ExactDedup()}
        pipe = Pipeline("exactly-n-llm", steps, llms={"default": llm}, use_cache=False,
                        target={"kept": n, "margin": margin})  # fmt: skip
        started = time.perf_counter()
        result = pipe.run(out)
        wall = time.perf_counter() - started
        sent = len(server.requests)
        twice = sum(1 for c in server.count_by_key.values() if c > 1)
    block = result.metrics["target"]
    assert sent == block["generated"] == sum(block["paid_requests_per_round"]), (sent, block)
    return {**block, "wall_s": wall, "sent_twice": twice}


def row(source: str, n: int, rate: float, r: dict) -> str:
    ideal = n / rate
    per_round = " + ".join(str(g) for g in r["generated_per_round"])
    seconds = " + ".join(f"{s:.1f}" for s in r["seconds_per_round"])
    return (
        f"| {source} | {rate} | {r['kept']} | {r['rounds']} | {per_round} | {r['generated']} | {ideal:.0f} | "
        f"{r['generated'] / ideal - 1:+.1%} | {r['surplus']} | {r['pass_rate']:.3f} | {r['sent_twice']} | "
        f"{seconds} | {r['wall_s']:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.3, 0.5, 0.9])
    parser.add_argument("--sources", nargs="+", default=["procedural", "llm"], choices=["procedural", "llm"])
    parser.add_argument("--margin", type=float, default=1.1)
    args = parser.parse_args()
    print(f"N = {args.n}, margin = {args.margin}")
    print("| source | pass rate | kept | rounds | generated per round | generated | ideal N/rate | "
          "over ideal | surplus | kept / generated | requests sent twice | s per round | wall s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    runners = {"procedural": run_procedural, "llm": run_llm}
    with tempfile.TemporaryDirectory() as tmp:
        for source in args.sources:
            for rate in args.rates:
                result = runners[source](args.n, rate, args.margin, Path(tmp) / f"{source}-{rate}")
                print(row(source, args.n, rate, result), flush=True)


if __name__ == "__main__":
    main()
