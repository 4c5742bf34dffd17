"""Small deterministic steps for executor tests (importable as `toy_steps:Name`)."""

from __future__ import annotations

import os
import time

from pydantic import Field

from synthpipe.data.records import drop
from synthpipe.pipeline.step import FilterStep, MapStep, SourceStep, StepConfig


class CountingConfig(StepConfig):
    n: int = 100
    duplicate_every: int = Field(7, description="every k-th record repeats an earlier text")


class CountingSource(SourceStep):
    """Yields n records; some texts repeat and some are short, so filters and dedup bite."""

    Config = CountingConfig

    def expected_count(self) -> int:
        return self.config.n

    def read(self, ctx):
        batch = []
        for i in range(self.config.n):
            text = f"record number {i // 2 if i % self.config.duplicate_every == 0 else i} says hello"
            if i % 3 == 0:
                text += " again and again"
            if i % 11 == 0:
                text = "short"
            batch.append({"id": f"r{i:05d}", "text": text, "n": i})
            if len(batch) == ctx.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch


class SlowConfig(StepConfig):
    seconds_per_batch: float = 0.0
    drop_multiple_of: int = 5


class SlowTagger(MapStep):
    """Tags records and drops multiples of k, sleeping per batch so a test can kill it mid-step."""

    Config = SlowConfig

    def process(self, batch, ctx):
        time.sleep(self.config.seconds_per_batch)
        for record in batch:
            record["tag"] = f"t{record['n']}"
            record["pid"] = os.getpid()
            if record["n"] % self.config.drop_multiple_of == 0:
                drop(record, ctx.name, "multiple", self.config.drop_multiple_of)
        return batch


class LosesRecords(MapStep):
    """A broken map step that deletes instead of marking."""

    def process(self, batch, ctx):
        return batch[1:]


class OddFilter(FilterStep):
    def keep(self, record):
        return (record["n"] % 2 == 0) or (False, "odd", record["n"])


class PidTagger(MapStep):
    """Notes the process that mapped each record (which machine part did the work)."""

    def process(self, batch, ctx):
        for record in batch:
            record["pid"] = os.getpid()
        return batch
