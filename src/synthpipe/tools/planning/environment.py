"""The planning domains as stateful tool environments: each action
is a tool that changes the world when its preconditions hold and says which one fails when they
do not, so a model can plan by acting and a trajectory's final state can be checked against
the goal.

State: ``{"problem": {domain, objects, init, goal}, "facts": [...], "actions": [...]}``; an
initial state may give only ``problem`` (the facts start at its ``init``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from synthpipe.errors import UsageError
from synthpipe.tools.environments.base import Environment, ToolError, tool
from synthpipe.tools.planning.domain import Action, Problem, ProblemError
from synthpipe.tools.planning.domains import get_domain

#: the default worlds: reverse a 3-block tower; carry one package between cities
BLOCKSWORLD_DEFAULT = {
    "domain": "blocksworld",
    "objects": {"block": ["a", "b", "c"]},
    "init": [["clear", "c"], ["handempty"], ["on", "b", "a"], ["on", "c", "b"], ["ontable", "a"]],
    "goal": [["on", "a", "b"], ["on", "b", "c"]],
}
LOGISTICS_DEFAULT = {
    "domain": "logistics",
    "objects": {"package": ["p1"], "truck": ["t1", "t2"], "airplane": ["a1"],
                "location": ["l1-1", "l1-2", "l2-1", "l2-2"], "city": ["c1", "c2"]},
    "init": [["airport", "l1-1"], ["airport", "l2-1"], ["at", "a1", "l1-1"], ["at", "p1", "l1-2"],
             ["at", "t1", "l1-2"], ["at", "t2", "l2-1"], ["in-city", "l1-1", "c1"],
             ["in-city", "l1-2", "c1"], ["in-city", "l2-1", "c2"], ["in-city", "l2-2", "c2"]],
    "goal": [["at", "p1", "l2-2"]],
}  # fmt: skip


class _PlanningEnvironment(Environment):
    stateful = True
    default_problem: ClassVar[dict[str, Any]]

    def default_state(self) -> dict[str, Any]:
        return {
            "problem": self.default_problem,
            "facts": self.default_problem["init"],
            "actions": [],
        }

    def check_state(self, state: dict[str, Any]) -> None:
        try:
            problem = Problem.from_dict(state.get("problem"))
        except ProblemError as exc:
            raise UsageError(f"{self.name} state: {exc}") from None
        if problem.domain != self.name:
            raise UsageError(f"{self.name} state holds a {problem.domain} problem")
        state.setdefault("facts", [list(f) for f in sorted(problem.init)])
        state.setdefault("actions", [])

    def _act(self, name: str, *args: str) -> dict[str, Any]:
        problem = Problem.from_dict(self.data["problem"])
        domain, action = get_domain(problem.domain), Action(name, tuple(args))
        wrong = domain.check_args(problem, action)
        if wrong:
            raise ToolError(wrong)
        state = frozenset(tuple(f) for f in self.data["facts"])
        unmet = domain.unmet(state, action)
        if unmet:
            facts = " and ".join(domain.describe_fact(f) for f in sorted(unmet))
            raise ToolError(f"cannot {domain.describe_action(action)}: it needs that {facts}")
        state = domain.apply(state, action)
        self.data["facts"] = [list(f) for f in sorted(state)]
        self.data["actions"].append(action.pddl())
        return {"done": domain.describe_action(action), "goal_reached": problem.goal <= state}

    @tool
    def observe(self) -> dict[str, Any]:
        """What holds now, the goal, and whether the goal is reached."""
        problem = Problem.from_dict(self.data["problem"])
        domain, state = get_domain(problem.domain), frozenset(tuple(f) for f in self.data["facts"])
        return {
            "facts": [domain.describe_fact(f) for f in sorted(state)],
            "goal": [domain.describe_fact(f) for f in sorted(problem.goal)],
            "goal_reached": problem.goal <= state,
        }


class BlocksworldEnv(_PlanningEnvironment):
    name = "blocksworld"
    default_problem = BLOCKSWORLD_DEFAULT

    @tool
    def pick_up(self, block: str) -> dict[str, Any]:
        """Pick up a clear block from the table (the hand must be empty).

        Args:
            block: the block's name, e.g. "a"
        """
        return self._act("pick-up", block)

    @tool
    def put_down(self, block: str) -> dict[str, Any]:
        """Put the held block down on the table.

        Args:
            block: the block being held
        """
        return self._act("put-down", block)

    @tool
    def stack(self, block: str, target: str) -> dict[str, Any]:
        """Stack the held block on top of a clear block.

        Args:
            block: the block being held
            target: the clear block to stack it on
        """
        return self._act("stack", block, target)

    @tool
    def unstack(self, block: str, source: str) -> dict[str, Any]:
        """Unstack a clear block from on top of another block (the hand must be empty).

        Args:
            block: the block to take
            source: the block it is on
        """
        return self._act("unstack", block, source)


class LogisticsEnv(_PlanningEnvironment):
    name = "logistics"
    default_problem = LOGISTICS_DEFAULT

    def _vehicle_kind(self, vehicle: str) -> str:
        kind = Problem.from_dict(self.data["problem"]).types.get(vehicle)
        if kind not in ("truck", "airplane"):
            raise ToolError(f"{vehicle!r} is not a truck or an airplane")
        return kind

    @tool
    def load(self, package: str, vehicle: str, location: str) -> dict[str, Any]:
        """Load a package into a truck or airplane; both must be at the location.

        Args:
            package: the package, e.g. "p1"
            vehicle: the truck or airplane, e.g. "t1"
            location: where both are, e.g. "l1-1"
        """
        return self._act(f"load-{self._vehicle_kind(vehicle)}", package, vehicle, location)

    @tool
    def unload(self, package: str, vehicle: str, location: str) -> dict[str, Any]:
        """Unload a package from a truck or airplane at the vehicle's location.

        Args:
            package: the package
            vehicle: the truck or airplane holding it
            location: where the vehicle is
        """
        return self._act(f"unload-{self._vehicle_kind(vehicle)}", package, vehicle, location)

    @tool
    def drive(self, truck: str, origin: str, destination: str) -> dict[str, Any]:
        """Drive a truck between two locations of the same city.

        Args:
            truck: the truck
            origin: where it is
            destination: a location in the same city
        """
        cities = {f[1]: f[2] for f in self.data["problem"]["init"] if f[0] == "in-city"}
        city = cities.get(origin, origin)  # an unknown origin is reported as such, not its city
        return self._act("drive-truck", truck, origin, destination, city)

    @tool
    def fly(self, airplane: str, origin: str, destination: str) -> dict[str, Any]:
        """Fly an airplane between two airports.

        Args:
            airplane: the airplane
            origin: the airport it is at
            destination: another airport
        """
        return self._act("fly-airplane", airplane, origin, destination)


ENVIRONMENTS = (BlocksworldEnv, LogisticsEnv)
