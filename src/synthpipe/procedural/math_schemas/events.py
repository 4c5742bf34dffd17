"""Generic story events that change a held quantity, used to grow a problem to its step budget.

A :class:`Holding` is what a story is tracking: a person's things (``items``), a shop's goods
(``stock``) or a person's money (``money``). Each event adds one or two statement sentences
and one or two solution steps, keeps the quantity whole and non-negative, and is only drawn
when the difficulty allows its operations. "Final" events turn the quantity into something
else (bags filled, money made) and so may only end a problem; they set its question.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from synthpipe.procedural.math_schemas.story import (
    FRACTION_WORDS,
    TIMES_WORDS,
    Agent,
    Infeasible,
    Story,
    plural,
)

MONEY = ("dollar", "dollars")


@dataclass
class Holding:
    """A quantity a story tracks, and whose it is."""

    owner: Agent
    kind: str  # items | stock | money
    noun: tuple[str, ...]
    value: int
    group: tuple[str, str] = ("box", "boxes")  # what stock arrives or is packed in
    question: str = ""  # set by a final event
    left: bool = False  # the last change took something away
    used: set[str] = field(default_factory=set)  # events drawn so far (drawn last next time)
    avoid: frozenset[str] = frozenset()  # events that make no sense for this holding

    def n(self, count: int) -> str:
        return plural(self.noun, count)


Event = Callable[[Story, Holding], None]


@dataclass(frozen=True)
class EventSpec:
    run: Event
    kinds: frozenset[str]
    cost: int
    ops: tuple[str, ...]
    final: bool = False


EVENTS: dict[str, EventSpec] = {}


def event(
    kinds: str, cost: int, ops: tuple[str, ...], final: bool = False
) -> Callable[[Event], Event]:
    def register(run: Event) -> Event:
        EVENTS[run.__name__] = EventSpec(run, frozenset(kinds.split()), cost, ops, final)
        return run

    return register


def _money(h: Holding) -> bool:
    return h.kind == "money"


def _friends(k: int) -> str:
    return "a friend" if k == 1 else f"{k} friends"


# -- adding ---------------------------------------------------------------------------------
@event("items money", 1, ("add",))
def gain(s: Story, h: Holding) -> None:
    o, rel = h.owner, s.pick(s.lex["relatives"])
    if _money(h):
        k = s.num(2, 60)
        s.say(
            s.pick(
                [
                    f"{o.He} earns ${k} {s.pick(s.lex['jobs'])}.",
                    f"{o.His} {rel} gives {o.him} ${k}.",
                    f"{o.He} gets ${k} for {o.his} birthday.",
                ]
            )
        )
        h.value = s.calc(f"{h.value}+{k}", f"{o.Name} then has", ".", money=True)
    else:
        k = s.num(2, 40)
        s.say(
            s.pick(
                [
                    f"{o.He} then gets {k} more {h.n(k)} from {o.his} {rel}.",
                    f"{o.His} {rel} gives {o.him} {k} more {h.n(k)}.",
                    f"Later, {o.he} finds {k} more.",
                ]
            )
        )
        h.value = s.calc(f"{h.value}+{k}", f"{o.Name} then has", f"{h.n(2)}.")
    h.left = False


@event("stock", 1, ("add",))
def restock(s: Story, h: Holding) -> None:
    k = s.num(5, 80)
    s.say(
        s.pick(
            [
                f"Then {h.owner.name} gets {k} more {h.n(k)} from its supplier.",
                f"Later, {h.owner.he} {s.pick(['makes', 'receives'])} {k} more {h.n(k)}.",
            ]
        )
    )
    h.value = s.calc(f"{h.value}+{k}", "Then there are", f"{h.n(2)}.")
    h.left = False


@event("items stock", 2, ("multiply", "add"))
def packs(s: Story, h: Holding) -> None:
    p, m = s.small(2, 8), s.num(2, 24)
    if h.kind == "stock":
        s.say(f"A delivery brings {p} {h.group[1]} with {m} {h.n(m)} in each.")
        new = s.calc(f"{p}*{m}", "The delivery brings", f"{h.n(2)}.")
    else:
        s.say(f"{h.owner.He} buys {p} packs of {h.noun[1]} with {m} in each pack.")
        new = s.calc(f"{p}*{m}", "The packs hold", f"{h.n(2)}.")
    h.value = s.calc(f"{h.value}+{new}", "That makes", f"{h.n(2)} in total.")
    h.left = False


@event("money", 2, ("multiply", "add"))
def work(s: Story, h: Holding) -> None:
    hours, rate = s.small(2, 10), s.num(5, 25)
    s.say(f"{h.owner.He} works {hours} hours {s.pick(s.lex['jobs'])} and is paid ${rate} per hour.")
    pay = s.calc(f"{hours}*{rate}", f"{h.owner.He} earns", ".", money=True)
    h.value = s.calc(f"{h.value}+{pay}", f"{h.owner.He} then has", ".", money=True)
    h.left = False


@event("items money", 1, ("multiply",))
def multiply(s: Story, h: Holding) -> None:
    k = s.small(2, 4)
    o = h.owner
    if _money(h):
        s.say(
            s.pick(
                [
                    f"{o.His} {s.pick(s.lex['relatives'])} gives {o.him} enough to make it "
                    f"{TIMES_WORDS[k]} as much.",
                    f"A savings challenge at {o.his} bank turns {o.his} money into {TIMES_WORDS[k]} "
                    "as much.",
                ]
            )
        )
        h.value = s.calc(f"{h.value}*{k}", f"{o.Name} then has", ".", money=True)
    else:
        s.say(
            s.pick(
                [
                    f"By the end of the month, {o.he} has {TIMES_WORDS[k]} as many {h.noun[1]}.",
                    f"Over the summer, {o.his} collection grows to {TIMES_WORDS[k]} its size.",
                ]
            )
        )
        h.value = s.calc(f"{h.value}*{k}", f"{o.Name} then has", f"{h.n(2)}.")
    h.left = False


# -- taking away ------------------------------------------------------------------------------
@event("items money", 1, ("subtract",))
def lose(s: Story, h: Holding) -> None:
    o = h.owner
    if h.value < 2:
        raise Infeasible("nothing to take away")
    k = s.num(1, h.value - 1)
    if _money(h):
        s.say(f"{o.He} spends ${k} on {s.pick(s.lex['things_to_buy'])}.")
        h.value = s.calc(f"{h.value}-{k}", f"{o.He} has", "left.", money=True)
    else:
        s.say(
            s.pick(
                [
                    f"{o.He} gives {k} {h.n(k)} to {o.his} {s.pick(s.lex['relatives'])}.",
                    f"{o.He} loses {k} of them.",
                    f"{o.He} trades away {k} {h.n(k)}.",
                ]
            )
        )
        h.value = s.calc(f"{h.value}-{k}", f"{o.He} has", f"{h.n(2)} left.")
    h.left = True


@event("stock", 1, ("subtract",))
def sell(s: Story, h: Holding) -> None:
    if h.value < 2:
        raise Infeasible("nothing to sell")
    k = s.num(1, h.value - 1)
    s.say(
        s.pick(
            [
                f"It then sells {k} {h.n(k)}.",
                f"Customers then buy {k} {h.n(k)}.",
                f"After that, {k} {h.n(k)} {'is' if k == 1 else 'are'} sold.",
            ]
        )
    )
    h.value = s.calc(f"{h.value}-{k}", "That leaves", f"{h.n(2)}.")
    h.left = True


@event("money", 2, ("multiply", "subtract"))
def buy(s: Story, h: Holding) -> None:
    item = s.pick(s.lex["shop_items"])
    q, price = s.small(2, 6), s.num(item[2], item[3])
    s.say(f"{h.owner.He} buys {q} {item[1]} for ${price} each.")
    cost = s.calc(f"{q}*{price}", f"The {item[1]} cost", ".", money=True)
    h.value = s.calc(f"{h.value}-{cost}", f"{h.owner.He} has", "left.", money=True)
    h.left = True


@event("items stock money", 1, ("fraction",))
def keep_fraction(s: Story, h: Holding) -> None:
    a, b = s.fraction(h.value, unit_only=True)
    o, word = h.owner, FRACTION_WORDS[(a, b)]
    code = f"{h.value}/{b}" if b == 2 else f"{h.value}*{b - 1}/{b}"
    if h.kind == "stock":
        s.say(f"Next, {word} of the {h.noun[1]} are sold.")
        h.value = s.calc(code, "The rest is", f"{h.n(2)}.", op="fraction")
    elif _money(h):
        s.say(f"{o.He} spends {word} of {o.his} money on {s.pick(s.lex['things_to_buy'])}.")
        h.value = s.calc(code, f"{o.He} has", "left.", op="fraction", money=True)
    else:
        s.say(
            f"{o.He} gives {word} of {o.his} {h.noun[1]} to {o.his} {s.pick(s.lex['relatives'])}."
        )
        h.value = s.calc(code, f"{o.He} keeps", f"{h.n(2)}.", op="fraction")
    h.left = True


@event("items stock money", 2, ("fraction", "subtract"))
def give_fraction(s: Story, h: Holding) -> None:
    a, b = s.fraction(h.value)
    o, word = h.owner, FRACTION_WORDS[(a, b)]
    code = f"{h.value}/{b}" if a == 1 else f"{h.value}*{a}/{b}"
    if h.kind == "stock":
        s.say(f"It donates {word} of its {h.noun[1]} to a shelter.")
        part = s.calc(code, "It donates", f"{h.n(2)}.", op="fraction")
        h.value = s.calc(f"{h.value}-{part}", "It has", f"{h.n(2)} left.")
    elif _money(h):
        s.say(f"{o.He} puts {word} of {o.his} money into a savings account.")
        part = s.calc(code, f"{o.He} saves", ".", op="fraction", money=True)
        h.value = s.calc(f"{h.value}-{part}", f"{o.He} has", "left to spend.", money=True)
    else:
        s.say(f"{o.He} gives {word} of {o.his} {h.noun[1]} to {_friends(s.small(2, 5))}.")
        part = s.calc(code, f"{o.He} gives away", f"{h.n(2)}.", op="fraction")
        h.value = s.calc(f"{h.value}-{part}", f"{o.He} has", f"{h.n(2)} left.")
    h.left = True


@event("items stock money", 2, ("percent", "subtract"))
def lose_percent(s: Story, h: Holding) -> None:
    p = s.percent(h.value)
    o = h.owner
    if h.kind == "stock":
        s.say(f"During a sale, {p}% of the {h.noun[1]} are sold.")
    elif _money(h):
        s.say(f"{o.He} spends {p}% of {o.his} money on {s.pick(s.lex['things_to_buy'])}.")
    else:
        s.say(f"{o.He} {s.pick(['loses', 'gives away', 'sells'])} {p}% of {o.his} {h.noun[1]}.")
    part = s.calc(f"{h.value}*{p}/100", f"{p}% of {h.value} is", ".", op="percent", money=_money(h))
    h.value = s.calc(
        f"{h.value}-{part}", "That leaves", "." if _money(h) else f"{h.n(2)}.", money=_money(h)
    )
    h.left = True


@event("items money", 1, ("divide",))
def share(s: Story, h: Holding) -> None:
    k = s.divisor(h.value, 2, 8)
    o = h.owner
    what = "the money" if _money(h) else f"the {h.noun[1]}"
    s.say(f"{o.He} shares {what} equally between {o.himself} and {_friends(k - 1)}.")
    h.value = s.calc(
        f"{h.value}/{k}",
        f"Each of the {k} gets",
        "." if _money(h) else f"{h.n(2)}.",
        money=_money(h),
    )
    h.left = True


# -- endings (change what is asked) -------------------------------------------------------------
@event("items", 1, ("multiply",), final=True)
def sell_all(s: Story, h: Holding) -> None:
    price = s.num(1, 9)
    o = h.owner
    s.say(f"{o.He} sells all of {o.his} {h.noun[1]} for ${price} each.")
    h.question = s.pick(
        [f"How much money does {o.name} make?", f"How many dollars does {o.he} earn?"]
    )
    s.calc(f"{h.value}*{price}", f"{o.He} makes", ".", money=True)


@event("items stock", 1, ("divide",), final=True)
def pack(s: Story, h: Holding) -> None:
    k = s.divisor(h.value, 2, 12)
    bags = h.group if h.kind == "stock" else ("bag", "bags")
    s.say(f"All the {h.noun[1]} left are packed into {bags[1]} of {k}.")
    h.question = f"How many {bags[1]} are filled?"
    s.calc(f"{h.value}/{k}", "They fill", f"{bags[1]}.")


@event("stock", 1, ("multiply",), final=True)
def revenue(s: Story, h: Holding) -> None:
    price = s.num(1, 9)
    h.question = (
        f"If {h.owner.name} sells all the {h.noun[1]} it has left for ${price} each, "
        "how much money does it make?"
    )
    s.calc(f"{h.value}*{price}", "It makes", ".", money=True)


@event("money", 1, ("divide",), final=True)
def spend_all(s: Story, h: Holding) -> None:
    price = s.divisor(h.value, 2, 40)
    item = s.pick(s.lex["collectibles"])
    o = h.owner
    h.question = (
        f"If {o.he} spends all of {o.his} money on {item[1]} that cost ${price} each, "
        f"how many {item[1]} can {o.he} buy?"
    )
    s.calc(f"{h.value}/{price}", f"{o.He} can buy", f"{item[1]}.")


def default_question(s: Story, h: Holding) -> str:
    o = h.owner
    when = "left" if h.left else s.pick(["now", "at the end"])
    if _money(h):
        return s.pick(
            [
                f"How much money does {o.name} have {when}?",
                f"How many dollars does {o.name} have {when}?",
            ]
        )
    if h.kind == "stock":
        return f"How many {h.noun[1]} does {o.name} have {when}?"
    return s.pick(
        [
            f"How many {h.noun[1]} does {o.name} have {when}?",
            f"How many {h.noun[1]} does {o.name} end up with?",
        ]
    )


def extend(
    s: Story, h: Holding, steps: int, endings: bool = True, question: str | None = None
) -> None:
    """Add events worth exactly `steps` steps, then ask the question.

    The question is the ending event's, else `question` if no event ran, else the default.
    """
    question = question if steps == 0 else None
    while steps > 0:
        specs = [
            (name, e)
            for name, e in EVENTS.items()
            if h.kind in e.kinds
            and e.cost <= steps
            and s.allows(*e.ops)
            and (not e.final or (endings and e.cost == steps))
            and name not in h.avoid
        ]
        s.rng.shuffle(specs)
        # fresh events first; an ending is preferred a third of the time it can be taken
        specs.sort(key=lambda ne: (ne[0] in h.used, ne[1].final and s.rng.random() > 0.33))
        for name, spec in specs:
            mark, value = s.mark(), h.value
            try:
                spec.run(s, h)
            except Infeasible:
                s.restore(mark)
                h.value, h.question = value, ""
                continue
            h.used.add(name)
            steps -= spec.cost
            break
        else:
            raise Infeasible(f"no event fits {h.kind} {h.value} with {steps} step(s) left")
    s.ask(h.question or question or default_question(s, h))


def relation(s: Story, value: int, up: str, down: str, times: str) -> tuple[str, str, str | None]:
    """A quantity defined from `value`: (phrase, calculator code, op name or None).

    The phrases are templates: `up`/`down` take {k} ("{k} more cards than"), `times` takes {t}
    ("{t} as many cards as", with t = "twice" or "half").
    """
    kinds = [
        k
        for k, ops in (
            ("add", "add"),
            ("sub", "subtract"),
            ("mul", "multiply"),
            ("frac", "fraction"),
        )
        if s.allows(ops)
    ]
    s.rng.shuffle(kinds)
    for kind in kinds:
        if kind == "add":
            k = s.num(2, 30)
            return up.format(k=k), f"{value}+{k}", None
        if kind == "sub" and value >= 3:
            k = s.num(1, min(value - 1, 30))
            return down.format(k=k), f"{value}-{k}", None
        if kind == "mul" and value * 2 <= s.max_number * 4:
            k = s.small(2, 4)
            return times.format(t=TIMES_WORDS[k]), f"{value}*{k}", None
        if kind == "frac" and value % 2 == 0:
            b = s.pick([d for d in (2, 3, 4) if value % d == 0])
            return times.format(t=FRACTION_WORDS[(1, b)]), f"{value}/{b}", "fraction"
    raise Infeasible(f"no relation fits {value}")
