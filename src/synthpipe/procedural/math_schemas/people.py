"""Frames about people themselves: ages, test scores, seats at an event."""

from __future__ import annotations

from synthpipe.procedural.math_schemas.events import relation
from synthpipe.procedural.math_schemas.registry import schema
from synthpipe.procedural.math_schemas.story import Infeasible, Story

MAX_AGE = 110


@schema("ages", 2, 7)
def ages(s: Story, steps: int) -> None:
    ending = s.pick(
        [
            e
            for e in (("last", 0), ("sum", 1), ("later", 3), ("gap", 1))
            if e[1] < steps and steps - e[1] <= 5
        ]
    )
    people = s.people(steps - ending[1] + 1)
    years = [s.num(4, 60)]
    s.say(f"{people[0].name} is {years[0]} years old.")
    for prev, cur in zip(people, people[1:], strict=False):
        phrase, code, op = relation(
            s, years[-1], "{k} years older than", "{k} years younger than", "{t} as old as"
        )
        s.say(f"{cur.name} is {phrase} {prev.name}.")
        years.append(s.calc(code, f"{cur.name} is", "years old.", op=op))
        if not 1 <= years[-1] <= MAX_AGE:
            raise Infeasible("implausible age")
    if ending[0] == "last":
        s.ask(f"How old is {people[-1].name}?")
    elif ending[0] == "gap":
        if years[0] == years[-1]:
            raise Infeasible("same age")
        old, young = (0, -1) if years[0] > years[-1] else (-1, 0)
        s.ask(f"How many years older is {people[old].name} than {people[young].name}?")
        s.calc(f"{years[old]}-{years[young]}", f"{people[old].name} is", "years older.")
    else:
        total = s.calc("+".join(map(str, years)), "Their ages add up to", "years.")
        if ending[0] == "sum":
            s.ask("What is the sum of their ages?")
        else:
            later = s.small(2, 10)
            s.ask(f"What will the sum of their ages be in {later} years?")
            grow = s.calc(
                f"{len(people)}*{later}",
                f"In {later} years each is {later} years older, so the sum grows by",
                "years.",
            )
            s.calc(f"{total}+{grow}", "The sum will be", "years.")


@schema("test_scores", 2, 6, needs=("add",))
def test_scores(s: Story, steps: int) -> None:
    plans = [
        (n, linked, end)
        for n in (3, 4, 5)
        for linked in range(n - 1)
        for end, cost in (("mean", 2), ("needed", 3))
        if linked + cost == steps
    ]
    n, linked, end = s.pick(plans)
    p, subject = s.person(), s.pick(s.lex["subjects"])
    top = min(100, s.max_number)
    lo = top * 2 // 5
    links = set(s.sample(range(1, n - 1), linked))  # the last score stays free, to fix divisibility
    scores = [s.num(lo, top)]
    s.say(f"{p.name} takes {n} {subject} tests. {p.He} scores {scores[0]} points on the first.")
    names = ("first", "second", "third", "fourth", "fifth")
    for i in range(1, n):
        if i in links:
            up = s.pick(
                [
                    d
                    for d in (True, False)
                    if s.allows("add" if d else "subtract")
                    and (scores[-1] < top if d else scores[-1] > lo)
                ]
            )
            k = s.num(1, top - scores[-1]) if up else s.num(1, scores[-1] - lo)
            s.say(
                f"On the {names[i]} test {p.he} scores {k} {'points' if k > 1 else 'point'} "
                f"{'more' if up else 'fewer'} than on the {names[i - 1]}."
            )
            scores.append(
                s.calc(
                    f"{scores[-1]}{'+' if up else '-'}{k}",
                    f"On the {names[i]} test {p.he} scores",
                    "points.",
                )
            )
            continue
        if i == n - 1 and end == "mean":
            options = [x for x in range(lo, top + 1) if (sum(scores) + x) % n == 0]
            scores.append(s.pick(options))
        else:
            scores.append(s.num(lo, top))
        s.say(f"On the {names[i]} test {p.he} scores {scores[-1]}.")
    total = s.calc("+".join(map(str, scores)), "Altogether", "points.")
    if end == "mean":
        s.ask(f"What is {p.name}'s average score?")
        s.calc(f"{total}/{n}", "The average is", "points.")
        return
    options = [x for x in range(lo, top + 1) if (total + x) % (n + 1) == 0]
    need = s.pick(options)
    target = (total + need) // (n + 1)
    s.ask(
        f"What must {p.he} score on the next test to have an average of {target} points over "
        f"{n + 1} tests?"
    )
    goal = s.calc(f"{target}*{n + 1}", f"{n + 1} tests averaging {target} add up to", "points.")
    s.calc(f"{goal}-{total}", f"{p.He} needs", "points.")


@schema("seating", 2, 5, needs=("multiply", "subtract"))
def seating(s: Story, steps: int) -> None:
    plans = [
        (reserved, end)
        for reserved in (0, 2)
        for end, cost in (("empty", 1), ("rows", 2))
        if 1 + reserved + cost == steps
    ] + ([(0, "seats")] if steps == 1 else [])
    reserved, end = s.pick(plans)
    room, event = s.pick(s.lex["rooms"]), s.pick(s.lex["events"])
    rows, per = s.small(5, 30), s.small(6, 20)
    s.say(f"{room.capitalize()} has {rows} rows of {per} chairs.")
    seats = s.calc(f"{rows}*{per}", "There are", "chairs.")
    if reserved:
        k = s.small(1, rows - 1)
        s.say(
            f"For {event}, the first {k} {'row is' if k == 1 else 'rows are'} "
            "kept for the organizers."
        )
        held = s.calc(f"{k}*{per}", "The organizers have", "chairs.")
        seats = s.calc(f"{seats}-{held}", "Guests can use", "chairs.")
    if end == "empty":
        guests = s.num(1, seats - 1) if seats > 1 else 0
        if not guests:
            raise Infeasible("no room")
        s.ask(
            f"If {guests} guests come and each takes a chair, "
            "how many of the guests' chairs stay empty?"
            if reserved
            else f"If {guests} guests come, how many chairs stay empty?"
        )
        s.calc(f"{seats}-{guests}", "There are", "empty chairs.")
    else:
        extra_rows = s.small(1, 5)
        guests = seats + extra_rows * per
        s.ask(
            f"{guests} guests come. How many more rows of {per} chairs "
            "must be set up so that every "
            "guest has a seat?"
        )
        short = s.calc(f"{guests}-{seats}", "There are", "guests without a chair.")
        s.calc(f"{short}/{per}", "That needs", "more rows.")
