"""LLM client throughput: synthpipe's full step machinery vs plain asyncio over the openai SDK
(and distilabel's OpenAILLM when it is importable), against one local server.

The server (tests/support/llm_server.py) runs in its own process and answers every request
after a fixed latency, so the ideal rate is concurrency / latency. Each contender sends the
same N distinct chat requests with at most C in flight:

- synthpipe: a real run (in-memory records -> `llm_generate` step): limiter, retries,
  response-cache writes, checkpoints, ledger, metrics. A second run over the same cache
  measures the cache-hit path (no request leaves the machine).
- openai-sdk: `asyncio.gather` over `AsyncOpenAI.chat.completions.create` with a semaphore.
- distilabel: `OpenAILLM.agenerate` with a semaphore, if distilabel imports.

Each synthpipe measurement runs in a fresh process: endpoint limiters are process-wide and the
first caller's limits win, so a second concurrency level in the same process would keep the
first one's cap. The child imports whatever `synthpipe` its PYTHONPATH gives, so the same
script measures another checkout: `--before SRC` adds rows for the synthpipe source tree SRC
(e.g. a checkout of an earlier commit), run by run interleaved with this one. Each child first runs a tiny
warm-up so that imports are not timed (the peers import before their timers start too).

Beside the rate, each row shows the client process's CPU time per request: the server shares
the machine, so at high concurrency the client's CPU is what bounds the rate, and it is the
steadier figure when other jobs load the machine.

    .venv/bin/python benchmarks/bench_llm_client.py [--latency 0.05] [--concurrency 64 256] [--n 3000]
        [--only synthpipe] [--repeat 3] [--before /path/to/old/src]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "tests" / "support" / "llm_server.py"


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(SERVER), "--latency", str(latency)], stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        raise RuntimeError(f"server did not start: {url!r}")
    return proc, url


def prompts(n: int, tag: str) -> list[str]:
    return [f"{tag} question {i}: what is {i} times {i}?" for i in range(n)]


def run_synthpipe(
    url: str, n: int, concurrency: int, cache: Path, out: Path, tag: str = "sp"
) -> tuple[float, float]:
    """(wall, CPU) seconds of one run in this process; call it through `synthpipe_fresh` so
    each level gets its own limiter."""
    from synthpipe import Pipeline
    from synthpipe.generate.text_generation import TextGeneration
    from synthpipe.llm.config import LLMConfig
    from synthpipe.pipeline.sources import FromRecords

    records = [{"id": f"r{i}", "q": q} for i, q in enumerate(prompts(n, tag))]
    pipe = Pipeline(
        "bench",
        {"records": FromRecords(records=records), "gen": TextGeneration(prompt="{{ q }}", max_tokens=16)},
        llms={"default": LLMConfig(backend="openai", base_url=url, model="test-model", max_concurrency=concurrency)},
        llm_cache=str(cache),
        batch_size=concurrency,
        max_inflight=4,
    )
    start, cpu = time.perf_counter(), time.process_time()
    result = pipe.run(out)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert result.metrics["kept"] == n, result.metrics
    return elapsed, cpu


def synthpipe_fresh(url: str, n: int, concurrency: int, src: Path | None = None) -> list[list[float]]:
    """[(wall, CPU) of the first run, of the cache-hit rerun], measured in a fresh child process
    (importing synthpipe from `src` when given)."""
    env = {**os.environ, "PYTHONPATH": str(src)} if src else None
    out = subprocess.run(
        [sys.executable, str(Path(__file__)), "--child", url, "--n", str(n), "--concurrency", str(concurrency)],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"synthpipe child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _child(url: str, n: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up: imports and first-use setup stay out of the timing, as the peers import
        # before their timers start. Its prompts differ, so the timed runs miss the cache.
        run_synthpipe(url, 8, concurrency, Path(tmp) / "warm.sqlite", Path(tmp) / "warm", tag="warm")
        cache = Path(tmp) / "cache.sqlite"
        first = run_synthpipe(url, n, concurrency, cache, Path(tmp) / "run1")
        rerun = run_synthpipe(url, n, concurrency, cache, Path(tmp) / "run2")
    print(json.dumps([first, rerun]))


async def _openai_sdk(url: str, n: int, concurrency: int) -> tuple[float, float] | None:
    try:
        from openai import AsyncOpenAI
    except ImportError:
        return None

    client = AsyncOpenAI(base_url=url, api_key="unused", max_retries=0)  # the SDK's own defaults
    gate = asyncio.Semaphore(concurrency)

    async def one(text: str) -> None:
        async with gate:
            await client.chat.completions.create(
                model="test-model", messages=[{"role": "user", "content": text}], max_tokens=16
            )

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(t) for t in prompts(n, "sdk")))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await client.close()
    return elapsed, cpu


async def _distilabel(url: str, n: int, concurrency: int) -> float | None:
    try:
        from distilabel.models import OpenAILLM
    except ImportError:
        try:
            from distilabel.llms import OpenAILLM
        except ImportError:
            return None
    llm = OpenAILLM(model="test-model", base_url=url, api_key="unused", max_retries=0)
    llm.load()
    gate = asyncio.Semaphore(concurrency)

    async def one(text: str) -> None:
        async with gate:
            await llm.agenerate(input=[{"role": "user", "content": text}], max_new_tokens=16)

    start = time.perf_counter()
    await asyncio.gather(*(one(t) for t in prompts(n, "dl")))
    return time.perf_counter() - start


async def _aiohttp_ceiling(url: str, n: int, concurrency: int) -> tuple[float, float]:
    """Raw aiohttp, no retries or bookkeeping: roughly what this machine and server allow."""
    import aiohttp

    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(text: str) -> None:
            async with gate:
                body = {"model": "test-model", "messages": [{"role": "user", "content": text}], "max_tokens": 16}
                async with session.post(f"{url}/chat/completions", json=body) as response:
                    await response.json()

        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(t) for t in prompts(n, "raw")))
        return time.perf_counter() - start, time.process_time() - cpu


def distilabel_elsewhere(python: str | None, url: str, n: int, concurrency: int) -> float | None:
    """distilabel pins its own dependencies: run it from its own virtualenv if given."""
    if python is None:
        return asyncio.run(_distilabel(url, n, concurrency))
    code = (
        "import asyncio, importlib.util, sys; "
        f"spec = importlib.util.spec_from_file_location('b', {str(Path(__file__))!r}); "
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
        f"print(asyncio.run(m._distilabel({url!r}, {n}, {concurrency})))"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True)
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "None"
    return None if last == "None" else float(last)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender and level (medians)")
    parser.add_argument("--only", choices=["synthpipe"], default=None, help="skip the peer rows")
    parser.add_argument("--distilabel-python", default=None, help="python of a venv with distilabel")
    parser.add_argument("--before", type=Path, default=None, help="another synthpipe source tree to compare")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # one synthpipe measurement
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.n, args.concurrency[0])
        return
    proc, url = start_server(args.latency)
    rows = []
    try:
        for c in args.concurrency:
            rows.extend(_level(args, url, c))
    finally:
        proc.terminate()
        proc.wait()
    print(f"N={args.n} requests, server latency {args.latency * 1000:.0f} ms, ideal = concurrency / latency,")
    print(f"medians of {args.repeat} run(s); CPU = the client process's CPU time per request")
    print(f"{'conc':>5} {'client':<34} {'req/s':>9} {'of ideal':>9} {'vs SDK':>7} {'CPU us/req':>11}")
    for c, name, rate, frac, vs, cpu in rows:
        if rate is None:
            if args.only is None:
                print(f"{c:>5} {name:<34} {'n/a (not installed)':>27}")
            continue
        frac_s = f"{frac:.2f}" if frac is not None else "-"
        vs_s = f"{vs:.2f}x" if vs is not None else "-"
        cpu_s = f"{cpu:,.0f}" if cpu is not None else "-"
        print(f"{c:>5} {name:<34} {rate:>9,.0f} {frac_s:>9} {vs_s:>7} {cpu_s:>11}")


def _level(args: argparse.Namespace, url: str, c: int) -> list[tuple]:
    """Rows of one concurrency level; with --repeat, contenders alternate run by run."""
    n, ideal = args.n, c / args.latency
    runs: dict[str, list[tuple[float, float | None]]] = {}
    for _ in range(args.repeat):
        if args.before:
            first, rerun = synthpipe_fresh(url, n, c, args.before.resolve())
            runs.setdefault("synthpipe before (full step)", []).append(tuple(first))
            runs.setdefault("synthpipe before, cache-hit rerun", []).append(tuple(rerun))
        first, rerun = synthpipe_fresh(url, n, c)
        runs.setdefault("synthpipe (full step)", []).append(tuple(first))
        runs.setdefault("synthpipe cache-hit rerun", []).append(tuple(rerun))
        if args.only is None:
            if (t_sdk := asyncio.run(_openai_sdk(url, n, c))) is not None:
                runs.setdefault("openai SDK + gather", []).append(t_sdk)
            t_dl = distilabel_elsewhere(args.distilabel_python, url, n, c)
            if t_dl is not None:
                runs.setdefault("distilabel OpenAILLM", []).append((t_dl, None))
            runs.setdefault("raw aiohttp (ceiling)", []).append(asyncio.run(_aiohttp_ceiling(url, n, c)))
    wall = {name: statistics.median(w for w, _ in rs) for name, rs in runs.items()}
    cpu = {name: statistics.median(u for _, u in rs) if rs[0][1] is not None else None for name, rs in runs.items()}
    sdk = wall.get("openai SDK + gather")
    rows = []
    names = ("synthpipe before (full step)", "synthpipe (full step)", "openai SDK + gather", "distilabel OpenAILLM",
             "raw aiohttp (ceiling)", "synthpipe before, cache-hit rerun", "synthpipe cache-hit rerun")  # fmt: skip
    for name in names:
        t = wall.get(name)
        if t is None:
            if "before" not in name:
                rows.append((c, name, None, None, None, None))
            continue
        frac = None if name.endswith("rerun") else n / t / ideal
        per_request = cpu[name] / n * 1e6 if cpu[name] is not None else None
        rows.append((c, name, n / t, frac, sdk / t if sdk else None, per_request))
    return rows


if __name__ == "__main__":
    main()
