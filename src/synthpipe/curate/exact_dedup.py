"""Exact deduplication on normalised text.

The first occurrence (in pipeline order) of each normalised text is kept; every later one
is dropped with reason ``duplicate`` and the kept record's id as detail. Memory grows with
the number of distinct texts (16-byte digests), not with their length.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

from pydantic import Field

from synthpipe.data.records import ID, Batch, drop
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import GlobalStep, StepConfig, StepContext
from synthpipe.text.normalize import Normalization, normalize

REASON = "duplicate"


def duplicate_detail(first_id: str) -> str:
    """The drop detail of a duplicate: ``of <kept id>``."""
    return f"of {first_id}"


class ExactDedupConfig(StepConfig):
    fields: list[str] = Field(["text"], min_length=1, description="fields whose joined values form the key")
    normalization: Normalization = Field(Normalization(), description="how text is normalised first")


@register_step("exact_dedup")
class ExactDedup(GlobalStep):
    """Drops records whose normalised key fields equal an earlier record's.

    The first occurrence in pipeline order is kept. Records missing a key field are kept
    untouched.

    Input columns: `fields` (default ``text``).
    Output columns: none: marks records dropped.
    Drop reasons: ``duplicate`` (detail: ``of <kept id>``).
    References: none: a synthpipe technique.
    """

    Config = ExactDedupConfig
    marks_only = True  # one output batch per input batch, drops marked
    drop_reasons = ("duplicate",)
    distributed = "synthpipe.curate.exact_dedup_distributed:exact_dedup"

    def input_columns(self) -> set[str]:
        return set(self.config.fields)

    def output_columns(self) -> set[str]:
        return set()

    def run(self, batches: Callable[[], Iterator[Batch]], ctx: StepContext) -> Iterator[Batch]:
        first_id: dict[bytes, str] = {}
        for batch in batches():
            for record in batch:
                key = self.key(record)
                if key is None:
                    continue
                if key in first_id:
                    drop(record, ctx.name, REASON, duplicate_detail(first_id[key]))
                else:
                    first_id[key] = str(record.get(ID))
            yield batch

    def key(self, record: dict) -> bytes | None:
        """16-byte digest of the normalised key fields; None when one is missing."""
        values = [record.get(f) for f in self.config.fields]
        if any(v is None for v in values):
            return None
        text = "\x1f".join(normalize(str(v), self.config.normalization) for v in values)
        return hashlib.blake2b(text.encode(), digest_size=16).digest()
