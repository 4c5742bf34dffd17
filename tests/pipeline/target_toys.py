"""Steps for the exactly-N tests and benchmark (importable as `target_toys:Name`)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from pydantic import Field

from synthpipe.pipeline.step import FilterStep, StepConfig


class RateConfig(StepConfig):
    rate: float = Field(0.4, ge=0.0, le=1.0, description="share of distinct texts kept")
    field: str = "text"
    seconds_per_batch: float = 0.0
    log: str | None = Field(None, description="append each batch's first id here (one line per batch)")


class RateFilter(FilterStep):
    """Keeps a record when a hash of its text falls below `rate`: a filter with a chosen pass
    rate that decides the same way for the same text.

    Input columns: `field`.
    Output columns: none.
    Drop reasons: ``unlucky``.
    References: none: a test step.
    """

    Config = RateConfig
    config: RateConfig
    drop_reasons = ("unlucky",)

    def process(self, batch, ctx):
        time.sleep(self.config.seconds_per_batch)
        if self.config.log and batch:
            with Path(self.config.log).open("a") as out:
                out.write(f"{batch[0]['id']}\n")
        return super().process(batch, ctx)

    def keep(self, record):
        digest = hashlib.sha256(str(record.get(self.config.field)).encode()).hexdigest()
        return int(digest[:8], 16) / 2**32 < self.config.rate or (False, "unlucky", None)
