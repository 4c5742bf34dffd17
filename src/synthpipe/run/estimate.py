"""`--dry-run`: how many LLM requests, tokens and how much money a run will take, before paying.

Steps before the first LLM step cost nothing, so they run for real (their checkpoints are
reused by the real run) and the first LLM step's input count is exact. For it, every prompt
is rendered and looked up in the response cache: its request count, prompt tokens and cache
hits are exact. Later LLM steps are upper bounds (every record assumed to survive), with
prompt sizes extrapolated from the first step. Completion tokens are always the `max_tokens`
upper bound. Tokens are estimated at 4 characters per token. An endpoint in `mode: batch`
is priced at its batch rate (the online rate where no batch price is set).
"""

from __future__ import annotations

import math
from typing import Any

from synthpipe.executors.local import LocalExecutor
from synthpipe.llm.cache import ResponseCache
from synthpipe.pipeline.plan import PlannedStep
from synthpipe.pipeline.progress import NullProgress
from synthpipe.pipeline.step import StepContext


def estimate_run(pipeline: Any, run_dir: Any, make_ctx, pool: Any) -> dict:
    plan: list[PlannedStep] = pipeline.plan(run_dir)
    for p in plan:
        p.checkpoint.prepare()
    first = next((i for i, p in enumerate(plan) if getattr(p.step, "uses_llm", False)), None)
    if first is None:
        return {"steps": [], "totals": _totals([])}
    if first > 0:
        LocalExecutor(pipeline.recipe.workers, pipeline.recipe.max_inflight).execute(
            plan[:first], make_ctx, NullProgress()
        )
    rows: list[dict] = []
    records = None if first == 0 else [r for b in plan[first - 1].checkpoint.iter_batches() for r in b]
    n_in = len(records) if records is not None else plan[0].step.expected_count()  # an LLM source
    avg_prompt = None
    for p in plan[first:]:
        if not getattr(p.step, "uses_llm", False):
            continue
        llm = pipeline.recipe.llms[p.step.config.llm]
        row = {"step": p.name, "llm": p.step.config.llm, "model": llm.model}
        if records is not None and not rows and hasattr(p.step, "first_request"):
            row.update(_exact_first_requests(p, records, make_ctx(p), pool, llm))
            avg_prompt = row["prompt_tokens"] / max(row["first_requests"], 1)
        requests = p.step.estimate_requests(n_in)
        row.setdefault("prompt_tokens", 0)
        row["records_in"] = n_in
        row["requests"] = requests
        extra = requests - row.get("first_requests", 0)
        row["prompt_tokens"] += int(extra * (avg_prompt or _template_tokens(p.step)))
        row["completion_tokens_max"] = requests * p.step.config.max_tokens
        row["mode"] = llm.mode  # batch: priced at the batch rate (price_per_1k_*_batch)
        row["cost_max"] = round(llm.cost(row["prompt_tokens"], row["completion_tokens_max"], batch=llm.mode == "batch"), 4)
        row["exact"] = not rows and records is not None
        rows.append(row)
        if p.step.kind == "map":
            n_in = None if n_in is None else math.ceil(n_in * getattr(p.step, "outputs_per_record", 1))
    return {"steps": rows, "totals": _totals(rows)}


def _exact_first_requests(p: PlannedStep, records: list, ctx: StepContext, pool: Any, llm: Any) -> dict:
    prompt_tokens = cached = 0
    for record in records:
        request = p.step.first_request(record, ctx)
        prompt_tokens += sum(len(m.get("content") or "") for m in request.messages) // 4
        if pool is not None and pool.cache is not None:
            cached += pool.cache.get(ResponseCache.key(llm.identity(), request, 0)) is not None
    return {"first_requests": len(records), "prompt_tokens": prompt_tokens, "cached_first_requests": cached}


def _template_tokens(step: Any) -> int:
    try:
        return len(step.template_text) // 4 + 100
    except (OSError, AttributeError):
        return 300


def _totals(rows: list[dict]) -> dict:
    return {
        "requests": sum(r["requests"] for r in rows),
        "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
        "completion_tokens_max": sum(r["completion_tokens_max"] for r in rows),
        "cost_max": round(sum(r["cost_max"] for r in rows), 4),
    }
