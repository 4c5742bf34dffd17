"""The run's LLM clients: one per named endpoint, sharing one cache and one budget."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from synthpipe.errors import UsageError
from synthpipe.llm.batch.registry import BatchRegistry
from synthpipe.llm.budget import Budget
from synthpipe.llm.cache import ResponseCache, default_cache_path
from synthpipe.llm.client import LLMClient, UsageStats
from synthpipe.llm.config import BudgetConfig, LLMConfig


class LLMPool:
    def __init__(
        self,
        configs: dict[str, LLMConfig],
        *,
        cache_path: Path | None = None,
        use_cache: bool = True,
        budget: BudgetConfig | None = None,
        budget_path: Path | None = None,
        on_update: Callable[[str, UsageStats], None] | None = None,
        batch_registry: Path | None = None,
    ):
        self.configs = configs
        # endpoints in mode: batch record their provider batches here (a killed run re-attaches)
        self.batch_registry = BatchRegistry(batch_registry) if batch_registry else None
        self.cache = ResponseCache(cache_path or default_cache_path()) if use_cache else None
        self.budget = Budget(budget, budget_path)
        self.on_update = on_update
        self.clients: dict[str, LLMClient] = {}

    def get(self, name: str) -> LLMClient:
        if name not in self.clients:
            if name not in self.configs:
                known = ", ".join(sorted(self.configs)) or "none"
                raise UsageError(f"no LLM named {name!r} in the recipe's `llms:` section (defined: {known})")
            key_env = self.configs[name].api_key_env
            if key_env and not os.environ.get(key_env):
                raise UsageError(
                    f"LLM {name!r} reads its API key from ${key_env}, which is not set: export it, or remove "
                    f"`api_key_env` (e.g. -s llms.{name}.api_key_env=null) for servers without keys"
                )
            self.clients[name] = LLMClient(
                name, self.configs[name], cache=self.cache, budget=self.budget, on_update=self.on_update,
                batch_registry=self.batch_registry,
            )
        return self.clients[name]

    def flush(self) -> None:
        """Write the replies buffered for the response cache (one transaction)."""
        if self.cache is not None:
            self.cache.flush()

    def metrics(self) -> dict:
        out = {name: client.stats.summary() for name, client in self.clients.items()}
        spent = self.budget.spent
        return {
            "endpoints": out,
            "cache": self.cache.stats() if self.cache else None,
            "budget": {"spent_requests": spent.requests, "spent_tokens": spent.tokens, "spent_cost": round(spent.cost, 6)},
        }

    def close(self) -> None:
        self.budget.save()
        for client in self.clients.values():
            with contextlib.suppress(Exception):  # best effort: connections die with the process anyway
                asyncio.run(client.aclose())
        if self.cache is not None:
            self.cache.close()
