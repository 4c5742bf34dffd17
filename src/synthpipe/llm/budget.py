"""The run's spending cap, shared by every LLM step and persisted across resumes.

Only paid requests count (cache hits are free). Spending is saved to the run directory at
most once a second and at the end, so a resumed run continues from what was already spent;
a SIGKILL can forget at most the last second of spending. Requests already in flight when the
cap is reached still finish, so the overshoot is bounded by the endpoint's concurrency.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from synthpipe.llm.config import BudgetConfig
from synthpipe.llm.types import BudgetExceeded


@dataclass
class Spent:
    requests: int = 0
    tokens: int = 0
    cost: float = 0.0


class Budget:
    def __init__(self, config: BudgetConfig | None = None, path: Path | None = None):
        self.config = config or BudgetConfig()
        self.path = path
        self.spent = Spent(**json.loads(path.read_text())) if path and path.exists() else Spent()
        self._lock = threading.Lock()
        self._saved_at = 0.0

    def check(self) -> None:
        """Raise BudgetExceeded if any cap is reached (called before each paid request)."""
        cfg, s = self.config, self.spent
        for name, cap, value in (
            ("max_requests", cfg.max_requests, s.requests),
            ("max_tokens", cfg.max_tokens, s.tokens),
            ("max_cost", cfg.max_cost, s.cost),
        ):
            if cap is not None and value >= cap:
                raise BudgetExceeded(
                    f"budget reached: {name}={cap} (spent {s.requests} requests, {s.tokens} tokens, "
                    f"cost {s.cost:.4f}). Raise it (e.g. -s budget.{name}=...) and rerun to continue; "
                    "finished work is kept and cached responses are free."
                )

    def charge(self, tokens: int, cost: float) -> None:
        with self._lock:
            self.spent.requests += 1
            self.spent.tokens += tokens
            self.spent.cost += cost
        if time.monotonic() - self._saved_at > 1.0:
            self.save()

    def save(self) -> None:
        if self.path is None:
            return
        with self._lock:
            data = json.dumps(asdict(self.spent))
            self._saved_at = time.monotonic()
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(data)
        tmp.replace(self.path)
