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

    .venv/bin/python benchmarks/bench_llm_client.py [--latency 0.05] [--concurrency 64 256] [--n 3000]
"""

from __future__ import annotations

import argparse
import asyncio
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


def run_synthpipe(url: str, n: int, concurrency: int, cache: Path, out: Path) -> float:
    from synthpipe import Pipeline
    from synthpipe.generate.text_generation import TextGeneration
    from synthpipe.llm.config import LLMConfig
    from synthpipe.pipeline.sources import FromRecords

    records = [{"id": f"r{i}", "q": q} for i, q in enumerate(prompts(n, "sp"))]
    pipe = Pipeline(
        "bench",
        {"records": FromRecords(records=records), "gen": TextGeneration(prompt="{{ q }}", max_tokens=16)},
        llms={"default": LLMConfig(backend="openai", base_url=url, model="test-model", max_concurrency=concurrency)},
        llm_cache=str(cache),
        batch_size=concurrency,
        max_inflight=4,
    )
    start = time.perf_counter()
    result = pipe.run(out)
    elapsed = time.perf_counter() - start
    assert result.metrics["kept"] == n, result.metrics
    return elapsed


async def _openai_sdk(url: str, n: int, concurrency: int) -> float:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=url, api_key="unused", max_retries=0)  # the SDK's own defaults
    gate = asyncio.Semaphore(concurrency)

    async def one(text: str) -> None:
        async with gate:
            await client.chat.completions.create(
                model="test-model", messages=[{"role": "user", "content": text}], max_tokens=16
            )

    start = time.perf_counter()
    await asyncio.gather(*(one(t) for t in prompts(n, "sdk")))
    elapsed = time.perf_counter() - start
    await client.close()
    return elapsed


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


async def _aiohttp_ceiling(url: str, n: int, concurrency: int) -> float:
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

        start = time.perf_counter()
        await asyncio.gather(*(one(t) for t in prompts(n, "raw")))
        return time.perf_counter() - start


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
    parser.add_argument("--distilabel-python", default=None, help="python of a venv with distilabel installed")
    args = parser.parse_args()
    proc, url = start_server(args.latency)
    rows = []
    try:
        for c in args.concurrency:
            ideal = c / args.latency
            with tempfile.TemporaryDirectory() as tmp:
                cache = Path(tmp) / "cache.sqlite"
                t_sp = run_synthpipe(url, args.n, c, cache, Path(tmp) / "run1")
                t_hit = run_synthpipe(url, args.n, c, cache, Path(tmp) / "run2")
            t_sdk = asyncio.run(_openai_sdk(url, args.n, c))
            t_dl = distilabel_elsewhere(args.distilabel_python, url, args.n, c)
            t_raw = asyncio.run(_aiohttp_ceiling(url, args.n, c))
            contenders = (
                ("synthpipe (full step)", t_sp),
                ("openai SDK + gather", t_sdk),
                ("distilabel OpenAILLM", t_dl),
                ("raw aiohttp (ceiling)", t_raw),
            )
            for name, t in contenders:
                if t is None:
                    rows.append((c, name, None, None, None))
                else:
                    rate = args.n / t
                    rows.append((c, name, rate, rate / ideal, rate / (args.n / t_sdk)))
            rows.append((c, "synthpipe cache-hit rerun", args.n / t_hit, None, (args.n / t_hit) / (args.n / t_sdk)))
    finally:
        proc.terminate()
        proc.wait()
    print(f"N={args.n} requests, server latency {args.latency * 1000:.0f} ms, ideal = concurrency / latency")
    print(f"{'conc':>5} {'client':<28} {'req/s':>9} {'of ideal':>9} {'vs SDK':>7}")
    for c, name, rate, frac, vs in rows:
        if rate is None:
            print(f"{c:>5} {name:<28} {'n/a (not installed)':>27}")
            continue
        frac_s = f"{frac:.2f}" if frac is not None else "-"
        print(f"{c:>5} {name:<28} {rate:>9,.0f} {frac_s:>9} {vs:>6.2f}x")


if __name__ == "__main__":
    main()
