"""The ``loop:`` block of a recipe: K iterations of generate -> curate -> train -> regenerate.

Kept apart from the driver (:mod:`synthpipe.run.loop`) because the recipe model imports it and
the driver imports the pipeline, which imports the recipe model.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class LoopConfig(BaseModel):
    """How each iteration trains and how the next one uses the model it trained."""

    model_config = ConfigDict(extra="forbid")

    iterations: int = Field(3, ge=1, le=100, description="generate -> train rounds")
    kind: Literal["probe", "sft"] = Field(
        "probe",
        description="probe: the trained classifier relabels the next iteration's records (self-training); "
        "sft: the fine-tuned model generates the next iteration's solutions (STaR / ReST-EM)",
    )
    test: str = Field(description="the real held-out test set every iteration is scored on")
    test_limit: int | None = Field(None, ge=1, description="evenly spaced subset of the test set")
    text_field: str = Field("text", description="probe: the text field; sft: the prompt field")
    label_field: str = Field(
        "label", description="probe: the label field; sft: the completion field"
    )
    test_text_field: str | None = Field(None, description="the test set's text/prompt field")
    test_label_field: str | None = Field(None, description="the test set's label/gold-answer field")
    trainer_config: dict[str, Any] = Field(
        default_factory=dict, description="probe or hf-sft trainer options"
    )
    min_confidence: float = Field(
        0.6,
        ge=0,
        le=1,
        description="probe: keep a pseudo-labelled record at this top probability or more",
    )
    llm: str = Field(
        "default", description="sft: the recipe's LLM whose model the trained one replaces"
    )
    reseed: bool = Field(
        True, description="iteration k runs with seed + k - 1, so each one generates anew"
    )
    collapse_tolerance: float = Field(
        0.01,
        ge=0,
        description="model collapse: a metric falls monotonically by more than this in all",
    )
    seed: int = Field(0, description="training seed")
