"""Logistics, the second classical domain of PlanBench (Valmeekam et al. 2023, "PlanBench: An
Extensible Benchmark for Evaluating Large Language Models on Planning and Reasoning about
Change"), after the IPC-1998 logistics domain.

Packages move between locations: trucks drive between locations of one city, airplanes fly
between airports (one per city), and packages are loaded into and unloaded from vehicles at
the vehicle's location. Facts: ``(at x l)`` (a package or vehicle at a location), ``(in p v)``,
and the static ``(in-city l c)``, ``(airport l)``. Names: cities ``c1``..., their locations
``l1-1``, ``l1-2``... (``l<c>-1`` is the airport), one truck per city ``t1``..., airplanes
``a1``..., packages ``p1``... Goals are ``at`` facts of packages.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from synthpipe.tools.planning.domain import Action, Domain, Fact, Problem, State

MAX_PACKAGES = 12
LOCATIONS_PER_CITY = 2
VEHICLES = ("truck", "airplane")
_PLURAL = {"package": "packages", "truck": "trucks", "airplane": "airplanes", "location": "locations",
           "city": "cities"}  # fmt: skip
_ARTICLE = {"airplane": "an"} | {k: "a" for k in ("package", "truck", "location", "city")}

INTRO = """\
I have to plan logistics to transport packages within cities via trucks and between cities \
via airplanes. Locations within a city are directly connected (trucks can move between any two \
such locations), and so are the cities (airplanes can fly between any two airports). Each city \
has one airport. Here are the actions that can be performed:
(load-truck p t l): load package p into truck t at location l
(load-airplane p a l): load package p into airplane a at location l
(unload-truck p t l): unload package p from truck t at location l
(unload-airplane p a l): unload package p from airplane a at location l
(drive-truck t l1 l2 c): drive truck t from location l1 to location l2 in city c
(fly-airplane a l1 l2): fly airplane a from airport l1 to airport l2

The following are the restrictions on the actions:
A package can be loaded into a truck or an airplane only if the package and the vehicle are \
both at the same location.
Once a package is loaded into a vehicle, the package is not at the location and is in the \
vehicle.
A package can be unloaded from a vehicle only if the package is in the vehicle; once \
unloaded, the package is at the vehicle's location and no longer in the vehicle.
A truck can be driven from one location to another only if the truck is at the first \
location and both locations are in the same city.
An airplane can be flown from one airport to another only if the airplane is at the first \
airport and both locations are airports."""


class Logistics(Domain):
    name = "logistics"
    size_type = "package"
    size_unit = "packages"
    signatures = {
        "load-truck": ("package", "truck", "location"),
        "load-airplane": ("package", "airplane", "location"),
        "unload-truck": ("package", "truck", "location"),
        "unload-airplane": ("package", "airplane", "location"),
        "drive-truck": ("truck", "location", "location", "city"),
        "fly-airplane": ("airplane", "location", "location"),
    }

    def preconditions(self, action: Action) -> list[Fact]:
        a = action.args
        if action.name.startswith("load"):
            return [("at", a[1], a[2]), ("at", a[0], a[2])]
        if action.name.startswith("unload"):
            return [("at", a[1], a[2]), ("in", a[0], a[1])]
        if action.name == "drive-truck":
            return [("at", a[0], a[1]), ("in-city", a[1], a[3]), ("in-city", a[2], a[3])]
        return [("at", a[0], a[1]), ("airport", a[1]), ("airport", a[2])]  # fly-airplane

    def effects(self, action: Action) -> tuple[list[Fact], list[Fact]]:
        a = action.args
        if action.name.startswith("load"):
            return [("in", a[0], a[1])], [("at", a[0], a[2])]
        if action.name.startswith("unload"):
            return [("at", a[0], a[2])], [("in", a[0], a[1])]
        return [("at", a[0], a[2])], [("at", a[0], a[1])]  # drive / fly

    def successors(self, problem: Problem, state: State) -> Iterator[Action]:
        where = {f[1]: f[2] for f in state if f[0] == "at"}
        city, airports = _cities(problem), _airports(problem)
        for vehicle in (*problem.objects.get("truck", ()), *problem.objects.get("airplane", ())):
            kind, here = problem.types[vehicle], where[vehicle]
            for p in problem.objects.get("package", ()):
                if where.get(p) == here:
                    yield Action(f"load-{kind}", (p, vehicle, here))
                elif ("in", p, vehicle) in state:
                    yield Action(f"unload-{kind}", (p, vehicle, here))
            if kind == "truck":
                for loc in problem.objects["location"]:
                    if loc != here and city[loc] == city[here]:
                        yield Action("drive-truck", (vehicle, here, loc, city[here]))
            else:
                for loc in sorted(airports):
                    if loc != here:
                        yield Action("fly-airplane", (vehicle, here, loc))

    def heuristic(self, problem: Problem, state: State) -> int:
        # loads and unloads each move one package: count the ones each package still needs
        city, airports = _cities(problem), _airports(problem)
        where = {f[1]: f[2] for f in state if f[0] == "at"}
        inside = {f[1]: f[2] for f in state if f[0] == "in"}
        total = 0
        for goal in problem.goal:
            if goal[0] != "at" or goal in state:
                continue
            p, target = goal[1], goal[2]
            far = 2 + (target not in airports) * 2  # plane leg, then a truck leg if needed
            vehicle = inside.get(p)
            if vehicle is None:
                loc = where[p]
                total += 2 if city[loc] == city[target] else far + (loc not in airports) * 2
            elif problem.types[vehicle] == "airplane":
                total += far - 1
            else:
                total += 1 if city[where[vehicle]] == city[target] else 1 + far
        return total

    def describe_fact(self, fact: Fact) -> str:
        kind, *args = fact
        return {
            "at": "{0} is at {1}",
            "in": "{0} is in {1}",
            "in-city": "{0} is in the city {1}",
            "airport": "{0} is an airport",
        }[kind].format(*args)

    def describe_action(self, action: Action) -> str:
        return {
            "load-truck": "load {0} into {1} at {2}",
            "load-airplane": "load {0} into {1} at {2}",
            "unload-truck": "unload {0} from {1} at {2}",
            "unload-airplane": "unload {0} from {1} at {2}",
            "drive-truck": "drive {0} from {1} to {2} in {3}",
            "fly-airplane": "fly {0} from {1} to {2}",
        }[action.name].format(*action.args)

    def statement(self, problem: Problem) -> str:
        kinds = ", ".join(
            f"{names[0]} is {_ARTICLE[kind]} {kind}" if len(names) == 1
            else f"{', '.join(names[:-1])} and {names[-1]} are {_PLURAL[kind]}"
            for kind, names in problem.objects.items() if names
        )  # fmt: skip
        init = ", ".join(self.describe_fact(f) for f in sorted(problem.init, key=_fact_rank))
        goal = ", ".join(self.describe_fact(f) for f in sorted(problem.goal))
        return (
            f"{INTRO}\n\n[STATEMENT]\nThe objects are: {kinds}.\n"
            f"As initial conditions I have that, {init}.\nMy goal is to have that {goal}.\n\n"
            "Write the plan that reaches the goal as one action per line, in the syntax above, "
            "for example (load-truck p1 t1 l1-1), and nothing else."
        )

    def read_text(self, words: Sequence[str], problem: Problem) -> Action | None:
        verb = words[0].split("-")[0] if words else ""
        if verb not in ("load", "unload", "drive", "fly"):
            return None
        named = [w for w in words[1:] if w in problem.types]
        if verb in ("load", "unload"):
            vehicle = next((n for n in named if problem.types[n] in VEHICLES), None)
            kind = problem.types[vehicle] if vehicle else "truck"
            return Action(f"{verb}-{kind}", tuple(named))
        if verb == "drive" and len(named) == 3 and problem.types.get(named[1]) == "location":
            named.append(_cities(problem).get(named[1], "?"))  # the city may be left out
        return Action("drive-truck" if verb == "drive" else "fly-airplane", tuple(named))

    def random_problem(self, rng: random.Random, size: int) -> Problem:
        if not 1 <= size <= MAX_PACKAGES:
            raise ValueError(f"logistics has 1 to {MAX_PACKAGES} packages, got {size}")
        n_cities = 2 if size <= 2 else 3
        cities = tuple(f"c{i}" for i in range(1, n_cities + 1))
        places = {c: [f"l{c[1:]}-{j}" for j in range(1, LOCATIONS_PER_CITY + 1)] for c in cities}
        locations = tuple(loc for c in cities for loc in places[c])
        trucks = tuple(f"t{c[1:]}" for c in cities)
        packages = tuple(f"p{i}" for i in range(1, size + 1))
        init: set[Fact] = {("in-city", loc, c) for c in cities for loc in places[c]}
        init |= {("airport", places[c][0]) for c in cities}
        init |= {("at", t, rng.choice(places[c])) for t, c in zip(trucks, cities, strict=True)}
        init.add(("at", "a1", places[rng.choice(cities)][0]))
        start = {p: rng.choice(locations) for p in packages}
        init |= {("at", p, loc) for p, loc in start.items()}
        goal = frozenset(
            ("at", p, rng.choice([x for x in locations if x != start[p]])) for p in packages
        )
        objects = {"package": packages, "truck": trucks, "airplane": ("a1",),
                   "location": locations, "city": cities}  # fmt: skip
        return Problem(self.name, objects, frozenset(init), goal)


def _cities(problem: Problem) -> dict[str, str]:
    """Location -> its city (static: cached on the problem, which search asks per state)."""
    if "_city_of" not in problem.__dict__:
        problem.__dict__["_city_of"] = {f[1]: f[2] for f in problem.init if f[0] == "in-city"}
    return problem.__dict__["_city_of"]


def _airports(problem: Problem) -> frozenset[str]:
    if "_airports" not in problem.__dict__:
        problem.__dict__["_airports"] = frozenset(f[1] for f in problem.init if f[0] == "airport")
    return problem.__dict__["_airports"]


def _fact_rank(fact: Fact) -> tuple[int, Fact]:
    return ({"airport": 0, "in-city": 1}.get(fact[0], 2), fact)
