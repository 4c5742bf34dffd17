"""Planning domains a model plans in: Blocksworld and Logistics after PlanBench (Valmeekam et
al. 2023), with a plan parser, a validator that simulates plans, and an optimal solver.
Importing the package registers both domains as stateful tool environments (`ToolSession`)."""

from synthpipe.tools.environments import register_environment
from synthpipe.tools.planning.domain import Action, Domain, Problem, ProblemError
from synthpipe.tools.planning.domains import DOMAINS, get_domain
from synthpipe.tools.planning.environment import ENVIRONMENTS
from synthpipe.tools.planning.parsing import PlanParseError, parse_plan
from synthpipe.tools.planning.solver import Solution, solve
from synthpipe.tools.planning.validator import PlanCheck, check_plan_text, validate_plan

__all__ = [
    "DOMAINS", "Action", "Domain", "PlanCheck", "PlanParseError", "Problem", "ProblemError",
    "Solution", "check_plan_text", "get_domain", "parse_plan", "solve", "validate_plan",
]  # fmt: skip

for _env in ENVIRONMENTS:
    register_environment(_env.name, _env)
