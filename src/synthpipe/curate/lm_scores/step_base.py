"""What the LM scorer steps share: the model settings, requirements, and range filtering.

The steps run in a thread of the main process, not in the process pool (`cpu_bound` is
False): the model then loads once per process, and torch already uses every core for one
forward pass. On Ray they run in an actor (`ray_actor`), which keeps the model loaded.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from synthpipe.curate.lm_scores.losses import ScoringModel, scoring_model
from synthpipe.errors import UsageError
from synthpipe.llm.local_models import DEFAULT_MODEL, model_requirements
from synthpipe.pipeline.step import MapStep, StepConfig, StepContext


class LMScoreConfig(StepConfig):
    model: str = Field(
        DEFAULT_MODEL,
        description="local causal LM: a preset (smollm2-135m), a .gguf file or a model directory",
    )
    batch_size: int = Field(
        16, ge=1, description="records per forward pass (fewer when they are long)"
    )
    max_length: int = Field(
        1024,
        ge=8,
        description="tokens per record, context included; longer records are cut (logged)",
    )
    start_token: str | None = Field(
        "auto", description="token before a text scored alone: auto, a token string, or null (none)"
    )
    device: str = Field("cpu", description="torch device")
    dtype: str = Field("float32", description="weights' dtype: float32, bfloat16, auto ...")


class LMScoreStep(MapStep):
    """Base of the steps that score records with a local causal LM."""

    config: LMScoreConfig
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers")
    ray_actor: ClassVar[bool] = True  # keep the model loaded between batches on Ray

    def requirements(self) -> tuple[str, ...]:
        return model_requirements(self.config.model)

    def scorer(self) -> ScoringModel:
        """The loaded model (once per process)."""
        cfg = self.config
        return scoring_model(cfg.model, cfg.device, cfg.dtype)

    def max_tokens(self, model: ScoringModel) -> int:
        limit = model.context_limit
        return min(self.config.max_length, limit) if limit else self.config.max_length

    def start_ids(self, model: ScoringModel) -> list[int]:
        try:
            return model.start_ids(self.config.start_token)
        except ValueError as exc:
            raise UsageError(f"{self.registry_name}: {exc}") from None


def out_of_range(
    value: float, low: float | None, high: float | None, name: str
) -> tuple[str, str] | None:
    """(reason, detail) when `value` is above `high` or below `low`, else None."""
    if high is not None and value > high:
        return f"high_{name}", f"{name} {value:.4g} > {high:g}"
    if low is not None and value < low:
        return f"low_{name}", f"{name} {value:.4g} < {low:g}"
    return None


def note_truncated(ctx: StepContext, cut: int, total: int, max_tokens: int, what: str) -> None:
    """Log how many records were cut to fit `max_tokens`."""
    if cut:
        ctx.log.warning(
            "%s: %d of %d records cut to %d tokens; their scores cover %s only",
            ctx.name, cut, total, max_tokens, what,
        )  # fmt: skip


def check_range(low: float | None, high: float | None, name: str) -> None:
    if low is not None and high is not None and low > high:
        raise UsageError(
            f"min_{name} ({low}) is above max_{name} ({high}): every record would be dropped"
        )


__all__ = ["LMScoreConfig", "LMScoreStep", "check_range", "note_truncated", "out_of_range"]
