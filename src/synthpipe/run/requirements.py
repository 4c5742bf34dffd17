"""A pipeline's optional dependencies, checked when it is built: one error lists every gap.

A step declares the modules it imports (`Step.requirements()`); a step that calls an LLM also
needs its endpoints' backends (`LLMConfig.requirements()`); the recipe's output format and
experiment (its trainer, a live judge) add theirs. Nothing heavy is imported
(`synthpipe.importing` asks ``find_spec``), so a recipe fails when it is built, and so by
``--dry-run``, instead of at its first record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from synthpipe.errors import UsageError
from synthpipe.importing import install_hint, missing
from synthpipe.llm.config import BACKEND_REQUIRES, LLMConfig
from synthpipe.pipeline.step import Step


@dataclass(frozen=True)
class Gap:
    """`who` (e.g. ``step 'judge'``) needs `modules`, which are not installed."""

    who: str
    modules: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.who} needs {', '.join(self.modules)}: {install_hint(self.modules)}"


def step_requirements(step: Step, llms: Mapping[str, LLMConfig]) -> tuple[str, ...]:
    """What `step` imports plus what the backends of the endpoints it calls import."""
    wanted = list(step.requirements())
    if getattr(step, "uses_llm", False):
        for name in step.llm_names():
            if name in llms:  # an unknown endpoint is reported by the LLM reference check
                wanted += llms[name].requirements()
    return tuple(dict.fromkeys(wanted))


def experiment_requirements(experiment: Any) -> dict[str, tuple[str, ...]]:
    """who -> modules for a recipe's experiment (its trainer, and a live judge's backend)."""
    from synthpipe.train.trainers import get_trainer, trainer_names

    needs: dict[str, tuple[str, ...]] = {}
    if experiment.trainer in trainer_names():  # an unknown name fails in the experiment check
        trainer = get_trainer(experiment.trainer)
        needs[f"experiment trainer {experiment.trainer!r}"] = tuple(getattr(trainer, "requires", ()))
    judge = experiment.evaluator_config.get("llm")
    if isinstance(judge, Mapping):
        needs[f"experiment evaluator {experiment.evaluator!r}"] = BACKEND_REQUIRES.get(
            str(judge.get("backend", "openai")), ()
        )
    return needs


def run_requirements(recipe: Any) -> dict[str, tuple[str, ...]]:
    """who -> modules for the run-wide settings of `recipe` (its output format, experiment)."""
    needs: dict[str, tuple[str, ...]] = {}
    if recipe.output.format == "hf":
        needs["output format 'hf'"] = ("datasets",)
    if recipe.experiment is not None:
        needs |= experiment_requirements(recipe.experiment)
    return needs


def missing_requirements(steps: Mapping[str, Step], recipe: Any) -> list[Gap]:
    """Every step (and run setting) of `recipe` whose optional modules are not installed;
    never raises. `recipe` is a `synthpipe.run.recipe.Recipe` (llms, output, experiment)."""
    wanted = {f"step {name!r}": step_requirements(step, recipe.llms) for name, step in steps.items()}
    wanted |= run_requirements(recipe)
    gaps = [Gap(who, tuple(missing(*modules))) for who, modules in wanted.items()]
    return [gap for gap in gaps if gap.modules]


def requirements_message(gaps: list[Gap]) -> str:
    """One message for all `gaps`, with a single install line when there are several."""
    lines = [f"  - {gap}" for gap in gaps]
    if len(gaps) > 1:
        every = dict.fromkeys(m for gap in gaps for m in gap.modules)
        lines.append(f"  install them all: {install_hint(every)}")
    return "missing optional dependencies (nothing has run yet):\n" + "\n".join(lines)


def check_requirements(steps: Mapping[str, Step], recipe: Any) -> None:
    """Raise one UsageError naming every step, module and extra that is missing."""
    gaps = missing_requirements(steps, recipe)
    if gaps:
        raise UsageError(requirements_message(gaps))
