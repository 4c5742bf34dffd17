"""The run's LLM pool on Ray: one async actor owns it, so every worker shares its limiter,
response cache and budget; afterwards its usage is merged back into the driver's pool.

LLM steps on Ray Data actors call endpoints through :class:`_RemotePool` proxies, which
forward each request to the :class:`_PoolServer` actor placed on the driver's node (where
the cache file and budget file live). The actor reserves GPUs for local-model endpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from typing import Any

from synthpipe.errors import UsageError

log = logging.getLogger("synthpipe.ray")


def pool_gpus(configs: dict) -> float:
    """GPUs the LLM pool actor asks Ray for: one per local-model endpoint (transformers or
    vLLM) on a CUDA device; HTTP endpoints need none."""
    return float(sum(1 for c in configs.values()
                     if c.backend in ("transformers", "vllm") and str(c.device).startswith("cuda")))  # fmt: skip



class _PoolServer:
    """An async Ray actor owning the run's LLM pool: one limiter per endpoint, one budget,
    one response cache (the same SQLite file as the driver's), for all workers."""

    def __init__(self, settings: dict[str, Any]):
        from synthpipe.llm.pool import LLMPool

        self.pool = LLMPool(**settings)

    async def call(self, name: str, method: str, args: tuple, kwargs: dict) -> Any:
        return await getattr(self.pool.get(name), method)(*args, **kwargs)

    async def close(self) -> dict:
        now = time.monotonic()
        stats = {
            n: (dataclasses.asdict(c.stats), now - c.stats.started)
            for n, c in self.pool.clients.items()
        }
        cache = self.pool.cache
        state = {
            "stats": stats,
            "budget": dataclasses.asdict(self.pool.budget.spent),
            "cache": (cache.hits, cache.misses) if cache is not None else None,
        }
        for client in self.pool.clients.values():  # pool.close() would start a second event loop
            with contextlib.suppress(Exception):
                await client.aclose()
        self.pool.budget.save()
        if cache is not None:
            cache.close()
        return state


class _RemotePool:
    """What LLM steps see as ``ctx.resources`` on a worker: ``get(name)`` -> a client proxy."""

    def __init__(self, actor: Any, configs: dict[str, Any]):
        self.actor, self.configs = actor, configs

    def get(self, name: str) -> _RemoteClient:
        if name not in self.configs:
            known = ", ".join(sorted(self.configs)) or "none"
            raise UsageError(
                f"no LLM named {name!r} in the recipe's `llms:` section (defined: {known})"
            )
        return _RemoteClient(self.actor, name, self.configs[name])


class _RemoteClient:
    """The LLMClient methods steps call (`chat`, `structured`), forwarded to the pool actor."""

    def __init__(self, actor: Any, name: str, config: Any):
        self.actor, self.name, self.config = actor, name, config

    async def chat(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("chat", args, kwargs)

    async def structured(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("structured", args, kwargs)

    async def _call(self, method: str, args: tuple, kwargs: dict) -> Any:
        from ray.exceptions import RayTaskError

        try:
            return await self.actor.call.remote(self.name, method, args, kwargs)
        except RayTaskError as exc:  # the step sees the client's own error (LLMError, budget...)
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None
            raise


class LLMBridge:
    """Starts the pool actor on first use; at the end folds its counters into the driver's pool,
    which writes llm_usage.json and the budget file as in a local run."""

    def __init__(self, ray):
        self.ray = ray
        self.actor = None
        self.pool = None

    def proxy(self, pool: Any) -> _RemotePool:
        if self.actor is None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            pool.budget.save()  # the actor starts from what the driver spent (an LLM source)
            settings = {
                "configs": dict(pool.configs),
                "cache_path": pool.cache.path if pool.cache is not None else None,
                "use_cache": pool.cache is not None,
                "budget": pool.budget.config,
                "budget_path": pool.budget.path,
                "batch_registry": pool.batch_registry.path if pool.batch_registry else None,  # mode: batch
            }
            here = self.ray.get_runtime_context().get_node_id()  # the driver's files are here
            server = self.ray.remote(_PoolServer).options(
                max_concurrency=1000,
                num_cpus=0,
                num_gpus=pool_gpus(settings["configs"]),  # local-model endpoints load in this actor
                scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=True),
            )
            self.actor, self.pool = server.remote(settings), pool
        return _RemotePool(self.actor, dict(pool.configs))

    def close(self) -> None:
        if self.actor is None:
            return
        try:
            state = self.ray.get(self.actor.close.remote())
            _merge_llm_state(self.pool, state)
        except Exception as exc:  # the counters are lost, not the data
            log.warning("could not collect LLM usage from the pool actor: %s", exc)
        finally:
            self.ray.kill(self.actor)
            self.actor = None


def _merge_llm_state(pool: Any, state: dict) -> None:
    from synthpipe.llm.budget import Spent
    from synthpipe.llm.client import UsageStats

    counters = [f.name for f in dataclasses.fields(UsageStats) if f.name != "started"]

    now = time.monotonic()
    for name, (fields, age) in state["stats"].items():
        remote = UsageStats(**{**fields, "started": now - age})
        client = pool.clients.get(name)
        if client is None:
            pool.clients[name] = _Finished(remote)
            continue
        for field in counters:  # every counter, so a new one is never lost under Ray
            setattr(client.stats, field, getattr(client.stats, field) + getattr(remote, field))
        client.stats.started = min(client.stats.started, remote.started)
    pool.budget.spent = Spent(**state["budget"])  # the actor's count includes the driver's
    if state["cache"] is not None and pool.cache is not None:
        pool.cache.hits += state["cache"][0]
        pool.cache.misses += state["cache"][1]


class _Finished:
    """Stands in the driver's pool for an endpoint only the pool actor called."""

    def __init__(self, stats: Any):
        self.stats = stats

    async def aclose(self) -> None:
        return None
