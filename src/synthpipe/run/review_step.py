"""Human labels applied on a rerun: the ``human_review`` step appended to the plan when the run
directory holds ``reviews.jsonl`` (see `synthpipe.run.reviews` for the file and the rule when
reviewers disagree).

The step's config holds the file's content hash, so new labels change only its fingerprint:
a rerun recomputes this last step and the outputs, and reuses every step before it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from synthpipe.data.records import DROP, ID, RESERVED, Batch, add_lineage, drop
from synthpipe.pipeline.step import MapStep, Step, StepConfig, StepContext
from synthpipe.run.reviews import decide, read_reviews, reviews_path

STEP_NAME = "human_review"


class HumanReviewConfig(StepConfig):
    sha256: str = Field("", description="hash of reviews.jsonl: new labels rerun this step")


class HumanReview(MapStep):
    """Apply people's labels from ``RUN_DIR/reviews.jsonl`` to the records that reach it.

    A record whose latest label by any reviewer is ``reject`` is dropped (reject wins over
    accept); an ``edit`` replaces the field's value and records the old one under
    ``_lineage.human_edit.<field>`` with the reviewer and time. Labels of records dropped by an
    earlier step change nothing: an ``accept`` does not bring a dropped record back (its
    drop reason stays in the ledger). Reserved fields (``id``, ``_lineage``, ``_drop``) are
    never edited.

    Input columns: ``id``.
    Output columns: the edited fields; ``_lineage.human_edit``.
    Drop reasons: ``human_rejected`` (detail: reviewer, note, time).
    References: none: a synthpipe technique.
    """

    Config = HumanReviewConfig
    config: HumanReviewConfig
    registry_name: ClassVar[str | None] = STEP_NAME
    drop_reasons = ("human_rejected",)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._decisions: dict[str, dict] | None = None

    def decisions(self, ctx: StepContext) -> dict[str, dict]:
        if self._decisions is None:
            self._decisions = decide(read_reviews(ctx.run_dir)) if ctx.run_dir else {}
        return self._decisions

    def process(self, batch: Batch, ctx: StepContext) -> Batch:
        decisions = self.decisions(ctx)
        for record in batch:
            decision = decisions.get(str(record.get(ID)))
            if decision is None or record.get(DROP) is not None:
                continue
            _apply_edits(record, decision["edits"])
            if (label := decision["reject"]) is not None:
                detail = {"reviewer": label["reviewer"], "note": label.get("note"), "time": label["time"]}
                drop(record, ctx.name, "human_rejected", detail)
        return batch


def _apply_edits(record: dict, edits: dict[str, tuple[Any, dict]]) -> None:
    history = {}
    for field, (value, label) in edits.items():
        if field in RESERVED or record.get(field) == value:
            continue
        history[field] = {"old": record.get(field), "reviewer": label["reviewer"], "time": label["time"]}
        record[field] = value
    if history:
        add_lineage(record, human_edit={**((record.get("_lineage") or {}).get("human_edit") or {}), **history})


def with_review(steps: dict[str, Step], run_root: Path) -> dict[str, Step]:
    """`steps` plus the review step last when the run directory has labels."""
    path = reviews_path(run_root)
    if not path.exists() or any(isinstance(s, HumanReview) for s in steps.values()):
        return steps
    with path.open("rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    name = STEP_NAME if STEP_NAME not in steps else f"{STEP_NAME}_labels"
    return {**steps, name: HumanReview(sha256=digest)}
