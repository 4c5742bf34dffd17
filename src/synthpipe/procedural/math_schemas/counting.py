"""Counting frames: collections, comparisons, harvests, parties, farms, buses, classes, shops."""

from __future__ import annotations

from synthpipe.procedural.math_schemas.events import Holding, extend, relation
from synthpipe.procedural.math_schemas.registry import schema
from synthpipe.procedural.math_schemas.story import (
    FRACTION_WORDS,
    Infeasible,
    Story,
    org,
    plural,
)

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
            "tenth", "eleventh")  # fmt: skip


@schema("collection", 2, 10)
def collection(s: Story, steps: int) -> None:
    p, noun = s.person(), s.pick(s.lex["collectibles"])
    n = s.friendly(10, 90)
    s.say(
        s.pick(
            [
                f"{p.name} has {n} {noun[1]}.",
                f"{p.name} collects {noun[1]} and has {n} of them.",
                f"{p.name} keeps {n} {noun[1]} in a shoebox.",
            ]
        )
    )
    extend(s, Holding(p, "items", tuple(noun), n), steps)


@schema("compare_people", 2, 7)
def compare_people(s: Story, steps: int) -> None:
    noun = s.pick(s.lex["collectibles"])
    ending = s.pick(
        [
            e
            for e in (("last", 0), ("total", 1), ("difference", 1), ("share", 2))
            if e[1] < steps and e[1] + 5 >= steps
        ]
    )
    people = s.people(steps - ending[1] + 1)
    values = [s.friendly(6, 60)]
    s.say(f"{people[0].name} has {values[0]} {noun[1]}.")
    for prev, cur in zip(people, people[1:], strict=False):
        phrase, code, op = relation(
            s,
            values[-1],
            f"{{k}} more {noun[1]} than",
            f"{{k}} fewer {noun[1]} than",
            f"{{t}} as many {noun[1]} as",
        )
        s.say(f"{cur.name} has {phrase} {prev.name}.")
        values.append(s.calc(code, f"{cur.name} has", f"{noun[1]}.", op=op))
    names = ", ".join(p.name for p in people[:-1]) + f" and {people[-1].name}"
    if ending[0] == "last":
        s.ask(f"How many {noun[1]} does {people[-1].name} have?")
    elif ending[0] == "difference":
        if values[0] == values[-1]:
            raise Infeasible("no difference to ask about")
        hi, lo = (0, -1) if values[0] > values[-1] else (-1, 0)
        s.ask(f"How many more {noun[1]} does {people[hi].name} have than {people[lo].name}?")
        s.calc(f"{values[hi]}-{values[lo]}", f"{people[hi].name} has", f"more {noun[1]}.")
    else:
        total = s.calc("+".join(map(str, values)), "Together they have", f"{noun[1]}.")
        if ending[0] == "total":
            s.ask(
                s.pick(
                    [
                        f"How many {noun[1]} do {names} have altogether?",
                        f"How many {noun[1]} do they have in total?",
                    ]
                )
            )
        else:
            s.ask(
                f"If {names} put their {noun[1]} together and share them equally, "
                f"how many {noun[1]} does each get?"
            )
            s.calc(f"{total}/{len(people)}", "Each gets", f"{noun[1]}.")


@schema("harvest", 2, 10, needs=("multiply",))
def harvest(s: Story, steps: int) -> None:
    p = s.person()
    plant, plants, fruit, fruits = s.pick(s.lex["produce"])
    count, each = s.small(2, 12), s.num(3, 30)
    s.say(
        s.pick(
            [
                f"{p.name} grows {count} {plants} in {p.his} garden.",
                f"{p.name} has {count} {plants} in {p.his} backyard.",
            ]
        ),
        f"Each {plant} gives {each} {fruits} this season.",
    )
    total = s.calc(f"{count}*{each}", f"{p.He} picks", f"{fruits}.")
    extend(s, Holding(p, "items", (fruit, fruits), total), steps - 1)


@schema("pizza_party", 3, 10, needs=("multiply", "subtract"))
def pizza_party(s: Story, steps: int) -> None:
    host = s.person()
    food, foods, piece, pieces = s.pick(s.lex["foods"])
    n, per = s.small(2, 8), s.pick((6, 8, 10, 12))
    guests, eats = s.num(2, 20), s.small(1, 3)
    s.say(
        f"{host.name} orders {n} {foods} for a party, and each {food} is cut into {per} {pieces}.",
        f"{guests} guests come, and each guest eats {eats} {plural((piece, pieces), eats)}.",
    )
    made = s.calc(f"{n}*{per}", "There are", f"{pieces}.")
    eaten = s.calc(f"{guests}*{eats}", "The guests eat", f"{pieces}.")
    used = 2
    if steps > 3 and s.chance(0.5):
        own = s.small(1, 4)
        s.say(f"{host.name} eats {own} {plural((piece, pieces), own)} too.")
        eaten = s.calc(f"{eaten}+{own}", "Altogether", f"{pieces} are eaten.")
        used += 1
    if eaten >= made:
        raise Infeasible("more eaten than made")
    left = s.calc(f"{made}-{eaten}", "There are", f"{pieces} left.")
    h = Holding(
        host,
        "items",
        (piece, pieces),
        left,
        left=True,
        avoid=frozenset({"packs", "multiply", "sell_all"}),
    )  # leftovers are not traded
    extend(
        s,
        h,
        steps - used - 1,
        question=s.pick(
            [f"How many {pieces} are left?", f"How many {pieces} does {host.name} have left?"]
        ),
    )


@schema("farm_legs", 3, 7, needs=("multiply", "add"))
def farm_legs(s: Story, steps: int) -> None:
    plans = [
        (k, buy, kids)
        for k in (2, 3, 4)
        for buy in (0, 1)
        for kids in (0, 1)
        if k + 1 + buy + kids == steps
    ]
    kinds, buy, kids = s.pick(plans)
    animals = s.sample(s.lex["animals"], kinds)
    counts = [s.num(2, 30) for _ in animals]
    owner = s.person()
    listing = ", ".join(f"{c} {a[1]}" for c, a in zip(counts[:-1], animals, strict=False))
    s.say(f"{owner.name}'s farm has {listing} and {counts[-1]} {animals[-1][1]}.")
    if buy:
        k = s.small(2, 10)
        s.say(f"{owner.He} buys {k} more {animals[0][1]}.")
        counts[0] = s.calc(f"{counts[0]}+{k}", "There are now", f"{animals[0][1]}.")
    legs = [
        s.calc(f"{c}*{a[2]}", f"The {a[1]} have", "legs.")
        for c, a in zip(counts, animals, strict=True)
    ]
    total = s.calc("+".join(map(str, legs)), "Altogether the animals have", "legs.")
    if kids:
        extra = s.small(2, 9)
        s.ask(
            f"{extra} children visit the farm. How many legs are there on the farm, counting "
            "the animals and the children?"
        )
        s.calc(f"{total}+{extra}*2", "With the children there are", "legs.")
    else:
        s.ask(
            s.pick(
                [
                    "How many legs do the animals have in total?",
                    f"How many animal legs are there on {owner.name}'s farm?",
                ]
            )
        )


@schema("bus_stops", 2, 10, needs=("add|subtract|fraction",))
def bus_stops(s: Story, steps: int) -> None:
    vehicle = s.pick(s.lex["vehicles"])
    n = s.friendly(10, 60)
    s.say(f"{vehicle.capitalize()} leaves the station with {n} passengers.")
    done = 0
    for stop in ORDINALS:
        if done == steps:
            break
        clauses, kinds = [], set()
        for _ in range(2 if steps - done >= 2 and s.chance(0.5) else 1):
            kind, clause, n = _stop_event(s, n, kinds)
            clauses.append(clause)
            kinds.add(kind)
            done += 1
        s.say(f"At the {stop} stop, {' and '.join(clauses)}.")
    s.ask(
        s.pick(
            [
                f"How many passengers are on {vehicle} now?",
                f"How many passengers are on {vehicle} after these stops?",
            ]
        )
    )


def _stop_event(s: Story, n: int, exclude: set[str]) -> tuple[str, str, int]:
    """One change at a stop: (kind, clause, passengers after)."""
    options = [
        o
        for o, op in (("off", "subtract"), ("on", "add"), ("frac", "fraction"))
        if s.allows(op)
        and o not in exclude
        and (o != "off" or n >= 2)
        and (o != "frac" or n % 2 == 0 and "off" not in exclude)
    ]
    if not options:
        raise Infeasible("no stop event fits")
    kind = s.pick(options)
    if kind == "off":
        k = s.num(1, n - 1)
        clause = f"{k} {plural(('passenger gets', 'passengers get'), k)} off"
        return kind, clause, s.calc(f"{n}-{k}", "That leaves", "passengers.")
    if kind == "on":
        k = s.num(1, 25)
        clause = f"{k} {plural(('person gets', 'people get'), k)} on"
        return kind, clause, s.calc(f"{n}+{k}", "Then there are", "passengers.")
    b = s.pick([d for d in (2, 3, 4) if n % d == 0])
    code = f"{n}/{b}" if b == 2 else f"{n}*{b - 1}/{b}"
    clause = f"{FRACTION_WORDS[(1, b)]} of the passengers get off"
    return "off", clause, s.calc(code, "Then", "passengers remain.", op="fraction")


@schema("class_groups", 2, 7, needs=("fraction|percent",))
def class_groups(s: Story, steps: int) -> None:
    plans = [
        (start, levels, rest)
        for start in (0, 1)
        for levels in (1, 2, 3)
        for rest in range(levels + 1)
        if start + levels + rest == steps
    ]
    start, levels, rest = s.pick(plans)
    traits = s.sample(s.lex["group_traits"], levels)
    if start:
        classes, size = s.small(2, 5), s.friendly(12, 36)
        s.say(f"A school has {classes} classes with {size} students in each.")
        group = s.calc(f"{classes}*{size}", "There are", "students.")
    else:
        group = s.friendly(20, 80)
        s.say(f"{s.person().name}'s school club has {group} students.")
    complements = set(s.sample(range(levels), rest))
    preds: list[str] = []  # what the students counted so far have in common
    for i, (trait, opposite) in enumerate(traits):
        where = "the students" + (f" who {' and '.join(preds)}" if preds else "")
        if s.allows("percent") and (s.chance(0.5) or not s.allows("fraction")):
            p = s.percent(group)
            s.say(f"{p}% of {where} {trait}.")
            part = s.calc(f"{group}*{p}/100", f"{p}% of {group} is", ".", op="percent")
        else:
            a, b = s.fraction(group)
            word = FRACTION_WORDS[(a, b)].capitalize()
            s.say(f"{word} of {where} {trait}.")
            code = f"{group}/{b}" if a == 1 else f"{group}*{a}/{b}"
            part = s.calc(code, f"{word} of {group} is", ".", op="fraction")
        if i in complements:
            group = s.calc(f"{group}-{part}", "So", f"of them {opposite}.")
            preds.append(opposite)
        else:
            group = part
            preds.append(trait)
    if len(preds) == 1:
        s.ask(f"How many students {preds[0]}?")
    else:
        s.ask(f"Of the students who {' and '.join(preds[:-1])}, how many {preds[-1]}?")


@schema("shop_stock", 2, 10)
def shop_stock(s: Story, steps: int) -> None:
    store = s.pick(s.lex["stores"])
    shop, item = org(store["place"]), s.pick(store["items"])
    used = 0
    if steps >= 3 and s.allows("multiply") and s.chance(0.5):
        groups, per = s.small(2, 10), s.pick((6, 8, 10, 12, 20, 24))
        s.say(
            f"{shop.Name} {store['make']} {groups} {store['group'][1]} of {item[1]}, with {per} "
            f"in each {store['group'][0]}."
        )
        n = s.calc(f"{groups}*{per}", f"{shop.Name} has", f"{item[1]}.")
        used = 1
    else:
        n = s.friendly(20, 200)
        s.say(f"{shop.Name} has {n} {item[1]} at the start of the day.")
    extend(s, Holding(shop, "stock", tuple(item), n, group=tuple(store["group"])), steps - used)


@schema("bakery_days", 3, 10, needs=("multiply", "add"))
def bakery_days(s: Story, steps: int) -> None:
    store = s.pick(s.lex["stores"])
    shop, item = org(store["place"]), s.pick(store["items"])
    days = s.pick([d for d in (2, 3, 4) if d + 1 <= steps])
    names = ("Monday", "Tuesday", "Wednesday", "Thursday")
    groups, per = s.small(2, 8), s.pick((6, 10, 12))
    s.say(
        f"On Monday, {shop.name} {store['make']} {groups} {store['group'][1]} of {item[1]} with "
        f"{per} {item[1]} in each."
    )
    made = [s.calc(f"{groups}*{per}", "On Monday it has", f"{item[1]}.")]
    for day in names[1:days]:
        phrase, code, op = relation(
            s,
            made[-1],
            f"{{k}} more {item[1]} than",
            f"{{k}} fewer {item[1]} than",
            f"{{t}} as many {item[1]} as",
        )
        s.say(f"On {day}, it {store['make']} {phrase} on the day before.")
        made.append(s.calc(code, f"On {day} it has", f"{item[1]}.", op=op))
    total = s.calc("+".join(map(str, made)), "Altogether it has", f"{item[1]}.")
    extend(
        s, Holding(shop, "stock", tuple(item), total, group=tuple(store["group"])), steps - days - 1
    )
