"""Procedural planning problems with optimal reference plans, after PlanBench (Valmeekam et al.
2023, "PlanBench: An Extensible Benchmark for Evaluating Large Language Models on Planning and
Reasoning about Change").

Each record is one Blocksworld or Logistics problem: a natural-language statement in the style
of PlanBench's prompts (the actions and their rules, the initial state, the goal, and the
syntax the plan must use), the structured problem that `verify_plan` checks plans against, and
an optimal plan found by A* (`synthpipe.tools.planning.solve`). Problems without a plan within
the solver's state cap, or outside the plan-length range, are redrawn, so every record is
solvable and its difficulty is graded twice: by its size (blocks or packages) and by the length
of its optimal plan.

Record ``i`` is drawn from ``random.Random(f"{seed}:{i}")`` alone: any batch can be made without
the ones before it, and the same seed and config always give the same problems.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import Field, model_validator

from synthpipe.data.records import RESERVED, Record, add_lineage
from synthpipe.errors import UsageError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import IndexedSource, StepConfig
from synthpipe.tools.planning import Problem, get_domain, solve

DomainName = Literal["blocksworld", "logistics"]
MAX_ATTEMPTS = 200  # draws per problem before giving up (a handful are typical)


def draw_problem(
    rng: random.Random,
    domains: list[str],
    sizes: tuple[int, int],
    lengths: tuple[int, int],
    max_states: int,
) -> tuple[Problem, list[str]]:
    """A solvable problem whose optimal plan length is within `lengths`, and that plan (PDDL)."""
    for _ in range(MAX_ATTEMPTS):
        domain = get_domain(rng.choice(domains))
        problem = domain.random_problem(rng, rng.randint(*sizes))
        solution = solve(problem, max_states)
        if solution.plan is not None and lengths[0] <= len(solution.plan) <= lengths[1]:
            return problem, [a.pddl() for a in solution.plan]
    raise UsageError(
        f"no {'/'.join(domains)} problem with {sizes[0]}-{sizes[1]} objects and an optimal plan "
        f"of {lengths[0]}-{lengths[1]} actions in {MAX_ATTEMPTS} draws; widen the plan-length "
        "range, change the sizes, or raise max_states"
    )


class PlanningProblemsConfig(StepConfig):
    """Options of the `planning_problems` source."""

    n: int = Field(100, gt=0, description="Number of problems to generate.")
    domains: list[DomainName] = Field(
        default_factory=lambda: ["blocksworld"],
        min_length=1,
        description="Domains to draw from (one per problem, uniformly): blocksworld, logistics.",
    )
    min_size: int = Field(
        3, ge=1, le=12, description="Fewest blocks (blocksworld) or packages (logistics)."
    )
    max_size: int = Field(5, ge=1, le=12, description="Most blocks or packages.")
    min_plan_length: int = Field(2, ge=1, description="Shortest optimal plan (actions).")
    max_plan_length: int = Field(12, ge=1, description="Longest optimal plan (actions).")
    max_states: int = Field(
        50_000,
        ge=100,
        description="States the A* solver may expand per problem before redrawing it.",
    )
    question_field: str = Field("question", description="Field for the natural-language problem.")
    problem_field: str = Field(
        "problem", description="Field for the structured problem (for verify_plan)."
    )
    plan_field: str = Field(
        "reference_plan", description="Field for an optimal plan, one PDDL action a line."
    )
    length_field: str = Field("optimal_length", description="Field for the optimal plan's length.")

    @model_validator(mode="after")
    def _valid(self) -> PlanningProblemsConfig:
        problems = []
        if self.min_size > self.max_size:
            problems.append(f"min_size ({self.min_size}) exceeds max_size ({self.max_size})")
        if self.min_plan_length > self.max_plan_length:
            problems.append(
                f"min_plan_length ({self.min_plan_length}) exceeds max_plan_length ({self.max_plan_length})"
            )
        fields = [self.question_field, self.problem_field, self.plan_field, self.length_field]
        if len(set(fields)) < len(fields) or set(fields) & set(RESERVED):
            problems.append(
                f"the four output fields must differ and not be {RESERVED}; got {fields}"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


@register_step("planning_problems")
class PlanningProblems(IndexedSource):
    """Blocksworld and Logistics planning problems with optimal plans, generated without a model.

    Problems are drawn at random, solved optimally by A* (a cap on the states explored bounds
    the work), and kept when their optimal plan length is in range. Ids are ``plan-000123``;
    lineage names the domain, size, optimal length and seed.

    Input columns: none (a source).
    Output columns: `question_field` (default ``question``: the PlanBench-style prompt),
    `problem_field` (default ``problem``: ``{domain, objects, init, goal}``), `plan_field`
    (default ``reference_plan``: an optimal plan, one PDDL action a line), `length_field`
    (default ``optimal_length``).
    Drop reasons: none.
    References: Valmeekam et al. (2023), "PlanBench: An Extensible Benchmark for Evaluating
    Large Language Models on Planning and Reasoning about Change", arXiv:2206.10498.
    """

    Config = PlanningProblemsConfig
    config: PlanningProblemsConfig

    def output_columns(self) -> set[str]:
        cfg = self.config
        return {cfg.question_field, cfg.problem_field, cfg.plan_field, cfg.length_field}



    def record(self, index: int, seed: int) -> Record:
        """Record `index` of the run with `seed` (independent of every other record)."""
        cfg = self.config
        problem, plan = draw_problem(
            random.Random(f"{seed}:{index}"), list(cfg.domains), (cfg.min_size, cfg.max_size),
            (cfg.min_plan_length, cfg.max_plan_length), cfg.max_states,
        )  # fmt: skip
        domain = get_domain(problem.domain)
        record: Record = {
            "id": f"plan-{index:06d}",
            cfg.question_field: domain.statement(problem),
            cfg.problem_field: problem.to_dict(),
            cfg.plan_field: "\n".join(plan),
            cfg.length_field: len(plan),
        }
        return add_lineage(
            record, generator="planning_problems", domain=problem.domain, size=domain.size(problem),
            size_unit=domain.size_unit, optimal_length=len(plan), seed=seed,
        )  # fmt: skip
