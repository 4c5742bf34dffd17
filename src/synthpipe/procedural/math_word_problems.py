"""Procedural GSM8K-style math word problems with worked solutions, no model needed.

Each problem comes from a story frame (a *schema*, :mod:`synthpipe.procedural.math_schemas`):
named people, objects and units from a bundled lexicon, and a chain of reasoning steps
whose count, number range and operations a :class:`Difficulty` controls. The solution is
written in GSM8K's format (Cobbe et al. 2021, "Training Verifiers to Solve Math Word
Problems"): one sentence per step with a calculator annotation, ``She has 16 - 3 =
<<16-3=13>>13 eggs left.``, and a final ``#### 13`` line. Every step is evaluated exactly, so
annotations are correct by construction, every answer is a whole non-negative number, and no
intermediate quantity is negative (draws that would break a rule are discarded and redrawn).

In the spirit of GSM-Symbolic (Mirzadeh et al. 2024) the frames are templates over
names and numbers, so a model's score on them says how robust its arithmetic reasoning is
to surface changes; the records also serve as verifiable training data.

Record ``i`` is drawn from ``random.Random(f"{seed}:{i}")`` alone, so any batch can be made
without the ones before it (resume skips them for free) and the same seed and config always
give the same problems.
"""

from __future__ import annotations

import difflib
import functools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, model_validator

from synthpipe.data.records import RESERVED, Batch, Record, add_lineage
from synthpipe.errors import UsageError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import IndexedSource, StepConfig, StepContext
from synthpipe.procedural.math_schemas import OPERATIONS, SCHEMAS, Infeasible, Schema, Story
from synthpipe.procedural.math_schemas.story import LEXICON_PATH

MIN_STEPS, MAX_STEPS = 2, 10
MIN_NUMBER = 20  # below this several frames cannot find numbers that divide evenly
CHAIN_OPERATIONS = ("add", "subtract", "multiply")  # at least one is needed to chain steps
MAX_ATTEMPTS = 500  # draws per problem before giving up (a few are typical)

__all__ = ["Difficulty", "MathProblem", "MathWordProblems", "generate_problem", "template_ids"]


def template_ids() -> list[str]:
    """Ids of all problem schemas (story frames)."""
    return sorted(SCHEMAS)


def difficulty_problems(
    min_steps: int, max_steps: int, max_number: int, operations: Sequence[str],
    templates: Sequence[str] | None,
) -> list[str]:  # fmt: skip
    """What is wrong with a difficulty setting, one message per problem (empty: valid)."""
    problems = []
    if not MIN_STEPS <= min_steps <= max_steps <= MAX_STEPS:
        problems.append(
            f"need {MIN_STEPS} <= min_steps <= max_steps <= {MAX_STEPS}; got min_steps="
            f"{min_steps}, max_steps={max_steps}"
        )
    if max_number < MIN_NUMBER:
        problems.append(f"max_number must be at least {MIN_NUMBER}, got {max_number}")
    unknown = [op for op in operations if op not in OPERATIONS]
    if unknown:
        problems.append(
            f"unknown operation(s) {unknown}; valid operations: {', '.join(OPERATIONS)}"
        )
    elif not set(operations) & set(CHAIN_OPERATIONS):
        problems.append(
            f"operations {list(operations)} cannot chain steps: include at least one of "
            f"{', '.join(CHAIN_OPERATIONS)}"
        )
    if templates is not None and not templates:
        problems.append("templates is empty: name at least one template, or leave it out for all")
    bad = [t for t in templates or () if t not in SCHEMAS]
    if bad:
        hints = [
            f"{t!r} (did you mean {close[0]!r}?)"
            if (close := difflib.get_close_matches(t, SCHEMAS, 1))
            else repr(t)
            for t in bad
        ]
        problems.append(
            f"unknown template id(s) {', '.join(hints)}; "
            f"valid templates: {', '.join(template_ids())}"
        )
    if not problems and not _plan(min_steps, max_steps, frozenset(operations), _key(templates)):
        problems.append(
            f"no template makes {min_steps}-{max_steps} step problems with operations "
            f"{sorted(operations)}{' and templates ' + str(list(templates)) if templates else ''}; "
            "allow more operations, templates or steps"
        )
    return problems


def _key(templates: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if templates is None else tuple(sorted(set(templates)))


@functools.lru_cache(maxsize=256)
def _plan(
    min_steps: int, max_steps: int, allowed: frozenset[str], templates: tuple[str, ...] | None
) -> tuple[tuple[int, tuple[Schema, ...]], ...]:
    """For each step count in range, the schemas that can make it (counts with none left out)."""
    pool = [SCHEMAS[t] for t in (templates or sorted(SCHEMAS))]
    plan = []
    for steps in range(min_steps, max_steps + 1):
        fitting = tuple(sch for sch in pool if sch.fits(steps, allowed))
        if fitting:
            plan.append((steps, fitting))
    return tuple(plan)


@dataclass(frozen=True)
class Difficulty:
    """How hard the problems are: reasoning steps, number size, operations, frames."""

    min_steps: int = 2
    max_steps: int = 5
    max_number: int = 100  # largest number drawn for a count, price or rate in the question
    operations: tuple[str, ...] = OPERATIONS
    templates: tuple[str, ...] | None = None  # restrict to these schema ids

    def __post_init__(self) -> None:
        object.__setattr__(self, "operations", tuple(self.operations))
        if self.templates is not None:
            object.__setattr__(self, "templates", tuple(self.templates))
        problems = difficulty_problems(
            self.min_steps, self.max_steps, self.max_number, self.operations, self.templates
        )
        if problems:
            raise UsageError("invalid math problem difficulty: " + "; ".join(problems))


@dataclass(frozen=True)
class MathProblem:
    """One problem: its text, GSM8K-format solution and canonical answer."""

    question: str
    solution: str  # step lines with <<expr=result>> annotations, then "#### answer"
    answer: str  # canonical number, e.g. "42"
    steps: int  # reasoning steps (calculator annotations)
    template: str  # schema id
    operations: tuple[str, ...]  # operations used, sorted


def generate_problem(rng_or_seed: random.Random | int | str, difficulty: Difficulty) -> MathProblem:
    """One problem drawn from `rng_or_seed` (a Random, or a seed for one) at `difficulty`."""
    rng = rng_or_seed if isinstance(rng_or_seed, random.Random) else random.Random(rng_or_seed)
    d = difficulty
    plan = _plan(d.min_steps, d.max_steps, frozenset(d.operations), _key(d.templates))
    for _ in range(MAX_ATTEMPTS):
        steps, fitting = plan[rng.randrange(len(plan))]
        sch = fitting[rng.randrange(len(fitting))]
        story = Story(rng, d.max_number, d.operations)
        try:
            sch.build(story, steps)
        except Infeasible:
            continue
        if story.steps == steps and story.question and story.last is not None:
            return _problem(story, sch.id)
    raise UsageError(
        f"could not make a math problem with {d} in {MAX_ATTEMPTS} draws; allow more "
        "operations or templates, or raise max_number"
    )


def _problem(story: Story, template: str) -> MathProblem:
    answer = str(story.last)
    return MathProblem(
        question=" ".join([*story.facts, story.question]),
        solution="\n".join([*story.lines, f"#### {answer}"]),
        answer=answer,
        steps=story.steps,
        template=template,
        operations=tuple(sorted(set(story.ops))),
    )


# -- the source step ----------------------------------------------------------------------------
class MathWordProblemsConfig(StepConfig):
    """Options of the `math_word_problems` source."""

    n: int = Field(1000, gt=0, description="Number of problems to generate.")
    min_steps: int = Field(
        2,
        ge=MIN_STEPS,
        le=MAX_STEPS,
        description="Fewest reasoning steps (calculator annotations).",
    )
    max_steps: int = Field(5, ge=MIN_STEPS, le=MAX_STEPS, description="Most reasoning steps.")
    max_number: int = Field(
        100, ge=MIN_NUMBER, le=100_000,
        description="Largest number drawn for a count, price or rate stated in a problem "
        "(totals and goals derived from them can be larger).",
    )  # fmt: skip
    operations: list[str] = Field(
        default_factory=lambda: list(OPERATIONS),
        description=f"Operations steps may use, a subset of: {', '.join(OPERATIONS)}.",
    )
    templates: list[str] | None = Field(
        None, description="Only these problem schema ids (default: all of them)."
    )
    question_field: str = Field("question", description="Field for the problem text.")
    solution_field: str = Field(
        "answer", description="Field for the worked solution ending in '#### <answer>' (as GSM8K)."
    )
    answer_field: str = Field("final_answer", description="Field for the final answer alone.")

    @model_validator(mode="after")
    def _valid(self) -> MathWordProblemsConfig:
        problems = difficulty_problems(
            self.min_steps, self.max_steps, self.max_number, self.operations, self.templates
        )
        fields = [self.question_field, self.solution_field, self.answer_field]
        if len(set(fields)) < 3:
            problems.append(
                f"question_field, solution_field and answer_field must differ; got {fields}"
            )
        if set(fields) & set(RESERVED):
            problems.append(f"question_field, solution_field and answer_field cannot be {RESERVED}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


@register_step("math_word_problems")
class MathWordProblems(IndexedSource):
    """GSM8K-style word problems with calculator-annotated solutions, generated without a model.

    Each problem comes from a story schema over names and numbers; every step is evaluated
    exactly, so the annotations and answers are correct by construction. Ids are
    ``mwp-000123``; lineage names the template, step count, operations and seed.

    Input columns: none (a source).
    Output columns: `question_field` (default ``question``), `solution_field` (default
    ``answer``: steps + ``#### answer``), `answer_field` (default ``final_answer``).
    Drop reasons: none.
    References: Cobbe et al. (2021), "Training Verifiers to Solve Math Word Problems",
    arXiv:2110.14168 (the GSM8K format); Mirzadeh et al. (2024), "GSM-Symbolic: Understanding
    the Limitations of Mathematical Reasoning in Large Language Models", arXiv:2410.05229.
    """

    Config = MathWordProblemsConfig
    config: MathWordProblemsConfig

    def output_columns(self) -> set[str]:
        cfg = self.config
        return {cfg.question_field, cfg.solution_field, cfg.answer_field}

    def difficulty(self) -> Difficulty:
        cfg = self.config
        return Difficulty(cfg.min_steps, cfg.max_steps, cfg.max_number, tuple(cfg.operations),
                          None if cfg.templates is None else tuple(cfg.templates))  # fmt: skip

    def input_files(self) -> list[Path]:
        return [LEXICON_PATH]  # editing the names/objects lexicon changes the problems

    def read(self, ctx: StepContext) -> Iterator[Batch]:
        difficulty, n, size = self.difficulty(), self.config.n, max(1, ctx.batch_size)
        for b in range(ctx.skip_batches, math.ceil(n / size)):
            yield [
                self.record(i, ctx.seed, difficulty)
                for i in range(b * size, min(n, (b + 1) * size))
            ]

    def record(self, index: int, seed: int, difficulty: Difficulty | None = None) -> Record:
        """Record `index` of the run with `seed` (independent of every other record)."""
        cfg = self.config
        problem = generate_problem(
            random.Random(f"{seed}:{index}"), difficulty or self.difficulty()
        )
        record: Record = {
            "id": f"mwp-{index:06d}",
            cfg.question_field: problem.question,
            cfg.solution_field: problem.solution,
            cfg.answer_field: problem.answer,
        }
        return add_lineage(
            record, generator="math_word_problems", template=problem.template,
            steps=problem.steps, operations=list(problem.operations), seed=seed,
        )  # fmt: skip
