"""Trainers behind one small interface, so experiments can swap them by name.

A :class:`Trainer` fits on a list of record dicts and returns a :class:`TrainedModel` whose
``predict`` maps input strings to output strings (labels for classifiers, generations for
language models). Each trainer takes a pydantic config (unknown keys are errors) that says which
record fields it reads:

- ``probe``: ``text_field`` / ``label_field`` (MiniLM embeddings + logistic regression).
- ``hf-sft``: ``messages_field`` (conversational) or ``prompt_field`` / ``completion_field``.
- ``hf-dpo``: ``prompt_field`` / ``chosen_field`` / ``rejected_field``.

``get_trainer(name)`` returns the class; modules import lazily, so the probe never pulls in TRL.
Build one with ``get_trainer("probe")({"C": 0.5})`` or ``get_trainer("probe")(C=0.5)``.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

from synthpipe.errors import UsageError, build_model
from synthpipe.importing import load_object


@runtime_checkable
class TrainedModel(Protocol):
    def predict(self, inputs: list[str]) -> list[str]:
        """Labels for classifiers, generations for language models, in input order."""
        ...


@runtime_checkable
class Trainer(Protocol):
    name: str

    def fit(self, train: list[dict], *, seed: int) -> TrainedModel: ...


class TrainerConfig(BaseModel):
    """Base config: unknown keys are errors, values are immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)


C = TypeVar("C", bound=TrainerConfig)


def build_config(
    cls: type[C], trainer: str, config: Any = None, overrides: dict | None = None
) -> C:
    """`config` (a `cls`, a dict or None) updated by `overrides`; bad keys become a UsageError."""
    return build_model(cls, f"{trainer} trainer config", config, overrides)


def field_value(record: dict, field: str, index: int, trainer: str, config_key: str) -> Any:
    """`record[field]`, or a UsageError that names the record and the config key to change."""
    if field not in record:
        keys = ", ".join(sorted(record)) or "none"
        raise UsageError(
            f"{trainer}: training record {index} has no field {field!r} (its fields: {keys}); "
            f"set `{config_key}` to the field that holds it"
        )
    return record[field]


_TRAINERS = {
    "probe": "synthpipe.train.trainers.probe:ProbeTrainer",
    "hf-sft": "synthpipe.train.trainers.hf_sft:HFSFTTrainer",
    "hf-dpo": "synthpipe.train.trainers.hf_dpo:HFDPOTrainer",
}


def trainer_names() -> list[str]:
    return sorted(_TRAINERS)


def get_trainer(name: str) -> type:
    """The trainer class registered as `name` (see `trainer_names()`)."""
    if name not in _TRAINERS:
        raise UsageError(f"unknown trainer {name!r}: choose one of {', '.join(trainer_names())}")
    return load_object(_TRAINERS[name], what=f"trainer {name!r}")


__all__ = [
    "TrainedModel",
    "Trainer",
    "TrainerConfig",
    "build_config",
    "field_value",
    "get_trainer",
    "trainer_names",
]
