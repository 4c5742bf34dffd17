"""Recipes: YAML files naming steps and their configs, validated by pydantic.

A recipe looks like::

    name: quickstart
    seed: 0
    output: {format: jsonl}
    steps:
      generate: {step: slot_template, seeds: "bundled:trec/seeds.jsonl", n: 2000}
      filter:   {step: text_filter, min_words: 3}
      dedup:    {step: exact_dedup}

Every error names the YAML file, line and key path, and suggests the closest valid name.
A step that reads a field no earlier step provides is an error too (see `run.columns`), and so
is a prompt template using a variable its step does not give it (see `run.templates`).
`-s steps.generate.n=500` style overrides are applied before validation (see `run.overrides`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from synthpipe.errors import RecipeError, UsageError
from synthpipe.evaluate.experiment import ExperimentConfig
from synthpipe.llm.config import BudgetConfig, LLMConfig
from synthpipe.pipeline.registry import get_step_class, suggest
from synthpipe.pipeline.step import Step
from synthpipe.run.columns import default_key, field_key, missing_columns
from synthpipe.run.loop_config import LoopConfig
from synthpipe.run.overrides import apply_override
from synthpipe.run.target import TargetConfig, target_problem
from synthpipe.run.templates import template_problems
from synthpipe.run.yaml_lines import load_with_lines


class OutputConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["jsonl", "jsonl.gz", "parquet", "csv", "hf"] = Field(
        "jsonl", description="format of kept.<fmt> and dropped.<fmt>"
    )
    shard_rows: int | None = Field(
        None, gt=0, description="write kept/dropped holding more records than this as a directory of shards "
        "of this many records plus manifest.json (the ray executor always shards; this sets its shard size)"
    )
    text_field: str = Field("text", description="field shown in the report and statistics")
    label_field: str = Field("label", description="label field for the label-balance statistics")


class Recipe(BaseModel):
    """A validated recipe. `steps` maps a step's name in this run to its registry name + config."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="run name; default run dir runs/<name>")
    description: str = ""
    seed: int = Field(0, description="run seed passed to every step")
    batch_size: int = Field(256, gt=0, description="records per batch and per checkpoint shard")
    workers: int = Field(1, ge=1, description="processes for CPU-bound steps")
    max_inflight: int = Field(4, ge=1, description="batches processed concurrently")
    durable: bool = Field(
        False, description="fsync every checkpoint file, so a power loss (not only a killed process) loses no batch"
    )
    output: OutputConfig = OutputConfig()
    llms: dict[str, LLMConfig] = Field({}, description="LLM endpoints by name; steps refer to them with `llm:`")
    budget: BudgetConfig = Field(BudgetConfig(), description="the run's cap on paid requests, tokens and cost")
    llm_cache: str | None = Field(None, description="response cache file [default: ~/.cache/synthpipe]")
    use_cache: bool = Field(True, description="read and write the LLM response cache")
    steps: dict[str, dict[str, Any]] = Field(min_length=1)
    experiment: ExperimentConfig | None = Field(
        None, description="after the run: train on data variants, evaluate on real held-out data"
    )
    target: TargetConfig | None = Field(
        None, description="generate in rounds until this many records survive every step (see run.target)"
    )
    loop: LoopConfig | None = Field(
        None, description="`synthpipe loop`: iterations of generate -> train -> regenerate (see run.loop)"
    )

    def build_steps(self) -> dict[str, Step]:
        """Instantiate each step (configs were already validated by `load_recipe`)."""
        built = {}
        for name, spec in self.steps.items():
            spec = dict(spec)
            cls = get_step_class(spec.pop("step"))
            built[name] = cls(**spec)
        return built


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read, override and validate a recipe file; raise RecipeError listing every problem."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no such recipe: {path} (see `synthpipe recipes` for bundled ones)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UsageError(f"{path}:{line}: a recipe must be UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_recipe(text, str(path), overrides)


def parse_recipe(text: str, source: str = "<recipe>", overrides=()) -> Recipe:
    data, lines, problems = load_with_lines(text, source)
    if problems:
        raise RecipeError(source, problems)
    if not isinstance(data, dict):
        raise RecipeError(source, [f"{source}:1: a recipe is a mapping with `name` and `steps`"])
    data = copy.deepcopy(data)
    overridden = {}
    for item in overrides:
        key_path = apply_override(data, item, Recipe)
        overridden[key_path] = item
    where = _Locator(source, lines, overridden)
    problems = _validate_top(data, where) + _validate_steps(data, where)
    if problems:
        raise RecipeError(source, problems)
    recipe = Recipe.model_validate(data)
    try:
        steps = recipe.build_steps()
    except Exception:  # a step that cannot be built says why when the pipeline is built
        return recipe
    problems = _check_columns(recipe, steps, where) + template_problems(recipe.steps, steps, where)
    problems += _check_target(recipe, steps, where)
    if problems:
        raise RecipeError(source, problems)
    return recipe


class _Locator:
    """Turns a key path into 'file:line: dotted.path' (or names the override that set it)."""

    def __init__(self, source: str, lines: dict, overridden: dict):
        self.source, self.lines, self.overridden = source, lines, overridden

    def __call__(self, path: tuple) -> str:
        dotted = ".".join(str(p) for p in path) or "(top level)"
        for n in range(len(path), 0, -1):
            if path[:n] in self.overridden:
                return f"override `-s {self.overridden[path[:n]]}`: {dotted}"
        if path and path not in self.lines:  # a key the file lacks: an override made it
            made = [item for keys, item in self.overridden.items() if keys[: len(path)] == path]
            if made:
                return f"override `-s {made[-1]}`: {dotted}"
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return f"{self.source}:{self.lines[path[:n]]}: {dotted}"
        return f"{self.source}: {dotted}"


def _validate_top(data: dict, where: _Locator) -> list[str]:
    shallow = {k: v for k, v in data.items() if k != "steps"}
    shallow["steps"] = {"_": {}}  # steps are checked one by one below
    try:
        Recipe.model_validate(shallow)
    except ValidationError as exc:
        return _explain(exc, (), Recipe, where)
    return []


def _validate_steps(data: dict, where: _Locator) -> list[str]:
    steps = data.get("steps")
    if not isinstance(steps, dict) or not steps:
        return [f"{where(('steps',))}: `steps` must be a non-empty mapping of name -> step config"]
    problems = []
    for name, spec in steps.items():
        base = ("steps", name)
        if not isinstance(spec, dict):
            problems.append(f"{where(base)}: must be a mapping with a `step:` key")
            continue
        if "step" not in spec:
            problems.append(f"{where(base)}: missing `step:` (the registered step to run; see `synthpipe steps`)")
            continue
        try:
            cls = get_step_class(str(spec["step"]))
        except UsageError as exc:
            problems.append(f"{where((*base, 'step'))}: {exc}")
            continue
        config = {k: v for k, v in spec.items() if k != "step"}
        try:
            cls.Config.model_validate(config)
        except ValidationError as exc:
            problems.extend(_explain(exc, base, cls.Config, where))
        problems.extend(_check_llm_reference(cls, config, data, base, where))
    problems.extend(_check_shape(steps, where))
    return problems


def _check_llm_reference(cls, config: dict, data: dict, base: tuple, where: _Locator) -> list[str]:
    """A step's `llm:` must name an endpoint of the recipe's `llms:` section."""
    if "llm" not in cls.Config.model_fields:
        return []
    llm = config.get("llm", cls.Config.model_fields["llm"].default)
    llms = data.get("llms") or {}
    known = list(llms) if isinstance(llms, dict) else []  # not a mapping: reported by the schema
    if not isinstance(llm, str) or llm in known or not isinstance(llms, dict):
        return []
    hint = suggest(llm, known) if known else "; add an `llms:` section that defines it"
    return [f"{where((*base, 'llm'))}: no LLM named {llm!r} in `llms:`{hint}"]


def _check_shape(steps: dict, where: _Locator) -> list[str]:
    kinds = []
    for spec in steps.values():
        try:
            kinds.append(get_step_class(str(spec.get("step"))).kind if isinstance(spec, dict) else None)
        except UsageError:
            kinds.append(None)
    names = list(steps)
    problems = []
    if kinds and kinds[0] not in ("source", None):
        problems.append(f"{where(('steps', names[0]))}: the first step must be a source (a reader or generator)")
    for name, kind in zip(names[1:], kinds[1:], strict=True):
        if kind == "source":
            problems.append(f"{where(('steps', name))}: only the first step may be a source")
    return problems


def _check_target(recipe: Recipe, steps: dict[str, Step], where: _Locator) -> list[str]:
    """A `target` needs a source that can generate more (see `run.target`)."""
    if recipe.target is None:
        return []
    name, source = next(iter(steps.items()))
    problem = target_problem(name, source)
    return [f"{where(('target',))}: {problem}"] if problem else []


def _check_columns(recipe: Recipe, steps: dict[str, Step], where: _Locator) -> list[str]:
    """A step must not read a field that no step before it provides (see `run.columns`)."""
    problems = []
    for gap in missing_columns(steps):
        spec, step = recipe.steps[gap.step], steps[gap.step]
        key = field_key(spec, gap.field)
        default = default_key(step, gap.field) if key is None else None
        said = f" (`{default}` defaults to {gap.field!r})" if default else ""
        problems.append(
            f"{where(('steps', gap.step, *(key or ())))}: step {gap.step!r} ({spec['step']}) needs "
            f"field {gap.field!r}{said}, which no earlier step provides{gap.hint()}"
        )
    return problems


def _explain(exc: ValidationError, base: tuple, model: type[BaseModel], where: _Locator) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = (*base, *err["loc"])
        if err["type"] == "extra_forbidden":
            field = err["loc"][-1]
            hint = suggest(str(field), _fields_at(model, err["loc"][:-1]))
            problems.append(f"{where(loc)}: unknown key{hint}")
        elif err["type"] == "missing":
            problems.append(f"{where(loc)}: required key is missing")
        else:
            got = err.get("input")
            shown = f" (got {got!r})" if not isinstance(got, dict | list) else ""
            problems.append(f"{where(loc)}: {err['msg']}{shown}")
    return problems


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the (nested) model at `loc`, for 'did you mean' hints."""
    keys = list(loc)
    while keys:
        field = model.model_fields.get(str(keys.pop(0)))
        annotation = getattr(field, "annotation", None)
        if get_origin(annotation) is dict:  # dict[str, Model]: skip the user's key
            annotation = get_args(annotation)[1]
            keys = keys[1:]
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return list(model.model_fields)
        model = annotation
    return list(model.model_fields)
