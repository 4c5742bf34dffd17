"""Task templates for the `tool_tasks` source: a user request, and the calls that fulfil it.

A template draws its values from a seeded RNG and returns a :class:`Plan`: the request in
natural language, the environments it needs, an initial state, and the calls as *steps*. A
step is a call, or a function of the results so far that returns the next call (a call that
needs an earlier result, e.g. an event id found by ``list_events``). The answer, when the task
asks a question, is a function of the results. Nothing here states a result: the source runs
the steps in a ToolSession and records what the tools returned.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from synthpipe.tools.environments.cart import CATALOGUE

Call = dict[str, Any]
Step = Call | Callable[[list[Any]], Call]


@dataclass
class Plan:
    """What a template makes; see the module docstring."""

    template: str
    task_type: str
    task: str
    env: list[str]
    steps: list[Step] = field(default_factory=list)
    answer: Callable[[list[Any]], Any] | None = None
    initial_state: dict[str, Any] | None = None
    expects_state: bool = False


def call(name: str, **arguments: Any) -> Call:
    return {"name": name, "arguments": arguments}


# -- vocabulary -----------------------------------------------------------------------------------
UNIT_PAIRS = [
    ("mile", "kilometer"), ("kilometer", "mile"), ("foot", "meter"), ("inch", "centimeter"),
    ("yard", "meter"), ("pound", "kilogram"), ("kilogram", "pound"), ("ounce", "gram"),
    ("stone", "kilogram"), ("gallon", "liter"), ("cup", "milliliter"), ("liter", "fluid_ounce"),
    ("hour", "minute"), ("week", "hour"), ("day", "second"), ("celsius", "fahrenheit"),
    ("fahrenheit", "celsius"), ("kelvin", "celsius"),
]  # fmt: skip
_PLURAL = {"foot": "feet", "inch": "inches", "fluid_ounce": "fluid ounces"}
_DEGREES = {"celsius", "fahrenheit", "kelvin"}
NOTE_TOPICS = [
    ("groceries", ["milk", "eggs", "bread", "apples", "rice", "coffee"]),
    ("packing list", ["passport", "charger", "sunscreen", "socks", "toothbrush"]),
    ("gift ideas", ["a scarf", "a puzzle", "concert tickets", "a plant", "a cookbook"]),
    ("reading list", ["Middlemarch", "Dune", "Beloved", "Emma", "Ulysses"]),
    ("project tasks", ["write the tests", "update the docs", "fix the login bug"]),
]
KV_FACTS = [
    ("favourite colour", ["blue", "green", "orange", "purple"]),
    ("wifi password", ["maple-42", "sunrise9", "otter-7"]),
    ("locker code", ["1234", "8812", "4096"]),
    ("home city", ["Lisbon", "Nairobi", "Osaka", "Quito"]),
    ("dentist", ["Dr Patel", "Dr Moreau", "Dr Okafor"]),
]
EVENTS = ["standup", "dentist", "team lunch", "yoga class", "call with Sam", "budget review"]
COUNTRIES = {"France": "Paris", "Japan": "Tokyo", "Kenya": "Nairobi", "Peru": "Lima",
             "Canada": "Ottawa", "Norway": "Oslo", "Egypt": "Cairo", "Chile": "Santiago"}  # fmt: skip
WORDS = ["planet", "harbour", "violin", "lantern", "meadow", "quartz", "pyramid", "thunder"]


def unit_text(unit: str, amount: float = 2) -> str:
    """ "2 miles", "1 foot", "30 degrees Celsius": a unit as a person writes it."""
    if unit in _DEGREES:
        return "degrees " + unit.capitalize()
    if amount == 1:
        return unit.replace("_", " ")
    return _PLURAL.get(unit, unit.replace("_", " ") + "s")


def amount_of(rng: random.Random, unit: str) -> float:
    if unit in _DEGREES:
        return rng.choice([-10, 0, 12, 21.5, 25, 37, 68, 98.6, 100, 300])
    return rng.choice([rng.randint(1, 60), round(rng.uniform(0.5, 20), 1)])


def num(value: float) -> str:
    return f"{value:g}"


def a_date(rng: random.Random, start: int = 2020, end: int = 2027) -> str:
    first = date(start, 1, 1)
    return (first + timedelta(days=rng.randrange((date(end, 1, 1) - first).days))).isoformat()


def and_list(items: list[str]) -> str:
    """Items joined as a person lists them: "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" and {items[-1]}"


def pick(rng: random.Random, *phrasings: str) -> str:
    return rng.choice(phrasings)


def result_of(index: int, key: str) -> Callable[[list[Any]], Any]:
    return lambda results: results[index][key]


# -- single ---------------------------------------------------------------------------------------
def single_calculate(rng: random.Random) -> Plan:
    a, b, c = rng.randint(2, 999), rng.randint(2, 99), rng.randint(2, 30)
    expression = rng.choice(
        [f"{a} * {b}", f"({a} + {b}) * {c}", f"{a} / {c}", f"{a} - {b} * {c}", f"{b} ** 3"]
    )
    task = pick(rng, f"What is {expression}?", f"Please calculate {expression}.",
                f"Can you work out {expression} for me?")  # fmt: skip
    return Plan("single_calculate", "single", task, ["calculator"],
                [call("calculate", expression=expression)], result_of(0, "result"))  # fmt: skip


def single_convert(rng: random.Random) -> Plan:
    source, target = rng.choice(UNIT_PAIRS)
    value = amount_of(rng, source)
    task = pick(
        rng,
        f"How many {unit_text(target)} is {num(value)} {unit_text(source, value)}?",
        f"Convert {num(value)} {unit_text(source, value)} to {unit_text(target)}.",
        f"I have {num(value)} {unit_text(source, value)}; what is that in {unit_text(target)}?",
    )
    steps = [call("convert_units", value=value, from_unit=source, to_unit=target)]
    return Plan("single_convert", "single", task, ["units"], steps, result_of(0, "value"))


def single_weekday(rng: random.Random) -> Plan:
    day = a_date(rng)
    task = pick(rng, f"What day of the week is {day}?", f"Which weekday falls on {day}?")
    return Plan("single_weekday", "single", task, ["dates"], [call("day_of_week", date=day)],
                result_of(0, "weekday"))  # fmt: skip


def single_days_between(rng: random.Random) -> Plan:
    start, end = sorted([a_date(rng), a_date(rng)])
    task = pick(rng, f"How many days are there from {start} to {end}?",
                f"Count the days between {start} and {end}.")  # fmt: skip
    return Plan("single_days_between", "single", task, ["dates"],
                [call("days_between", start_date=start, end_date=end)], result_of(0, "days"))  # fmt: skip


def single_add_to_date(rng: random.Random) -> Plan:
    start, unit = a_date(rng), rng.choice(["days", "weeks", "months", "years"])
    amount = rng.randint(1, {"days": 400, "weeks": 60, "months": 30, "years": 10}[unit])
    task = pick(rng, f"What is the date {amount} {unit} after {start}?",
                f"If I start on {start}, what date is it {amount} {unit} later?")  # fmt: skip
    return Plan("single_add_to_date", "single", task, ["dates"],
                [call("add_to_date", date=start, amount=amount, unit=unit)], result_of(0, "date"))  # fmt: skip


# -- multiple (sequential: a call uses an earlier result) -----------------------------------------
def multiple_distance_total(rng: random.Random) -> Plan:
    miles, days = round(rng.uniform(1, 15), 1), rng.randint(2, 14)
    task = (f"I ran {num(miles)} miles every day for {days} days. How many kilometers did I run "
            "in total?")  # fmt: skip
    steps: list[Step] = [
        call("convert_units", value=miles, from_unit="mile", to_unit="kilometer"),
        lambda r: call("calculate", expression=f"{r[0]['value']} * {days}"),
    ]
    return Plan("multiple_distance_total", "multiple", task, ["units", "calculator"], steps,
                result_of(1, "result"))  # fmt: skip


def multiple_temperature_gap(rng: random.Random) -> Plan:
    fahrenheit, celsius = rng.randint(20, 100), rng.randint(-5, 35)
    task = (f"It is {fahrenheit} degrees Fahrenheit in Boston and {celsius} degrees Celsius in "
            "Madrid. How many degrees Celsius warmer is Madrid than Boston?")  # fmt: skip
    steps: list[Step] = [
        call("convert_units", value=fahrenheit, from_unit="fahrenheit", to_unit="celsius"),
        lambda r: call("calculate", expression=f"{celsius} - ({r[0]['value']})"),
    ]
    return Plan("multiple_temperature_gap", "multiple", task, ["units", "calculator"], steps,
                result_of(1, "result"))  # fmt: skip


def multiple_deadline_gap(rng: random.Random) -> Plan:
    start, weeks, other = a_date(rng, 2024, 2025), rng.randint(2, 20), a_date(rng, 2026, 2027)
    task = (f"My project starts on {start} and takes {weeks} weeks. How many days are there "
            f"between its end and {other}?")  # fmt: skip
    steps: list[Step] = [
        call("add_to_date", date=start, amount=weeks, unit="weeks"),
        lambda r: call("days_between", start_date=r[0]["date"], end_date=other),
    ]
    return Plan("multiple_deadline_gap", "multiple", task, ["dates"], steps,
                result_of(1, "days"))  # fmt: skip


def multiple_weekday_later(rng: random.Random) -> Plan:
    start, months = a_date(rng), rng.randint(1, 18)
    task = (f"My lease starts on {start} and the first inspection is {months} months later. "
            "What day of the week is the inspection?")  # fmt: skip
    steps: list[Step] = [
        call("add_to_date", date=start, amount=months, unit="months"),
        lambda r: call("day_of_week", date=r[0]["date"]),
    ]
    return Plan("multiple_weekday_later", "multiple", task, ["dates"], steps,
                result_of(1, "weekday"))  # fmt: skip


# -- parallel (independent calls) -----------------------------------------------------------------
def parallel_conversions(rng: random.Random) -> Plan:
    pairs = rng.sample(UNIT_PAIRS, rng.randint(2, 3))
    values = [amount_of(rng, source) for source, _ in pairs]
    asks = [
        f"{num(v)} {unit_text(s, v)} to {unit_text(t)}"
        for v, (s, t) in zip(values, pairs, strict=True)
    ]
    task = f"Convert {and_list(asks)}."
    steps: list[Step] = [
        call("convert_units", value=v, from_unit=s, to_unit=t)
        for v, (s, t) in zip(values, pairs, strict=True)
    ]
    return Plan("parallel_conversions", "parallel", task, ["units"], steps,
                lambda r: [item["value"] for item in r])  # fmt: skip


def parallel_weekdays(rng: random.Random) -> Plan:
    days = sorted({a_date(rng) for _ in range(rng.randint(2, 3))})
    task = f"On which days of the week do {and_list(days)} fall?"
    return Plan("parallel_weekdays", "parallel", task, ["dates"],
                [call("day_of_week", date=d) for d in days],
                lambda r: [item["weekday"] for item in r])  # fmt: skip


def parallel_mixed(rng: random.Random) -> Plan:
    a, b = rng.randint(10, 999), rng.randint(2, 60)
    day, miles = a_date(rng), rng.randint(1, 40)
    task = (f"Three quick ones: what is {a} * {b}, what weekday is {day}, and how many "
            f"kilometers are {miles} miles?")  # fmt: skip
    steps: list[Step] = [
        call("calculate", expression=f"{a} * {b}"),
        call("day_of_week", date=day),
        call("convert_units", value=miles, from_unit="mile", to_unit="kilometer"),
    ]
    return Plan("parallel_mixed", "parallel", task, ["calculator", "dates", "units"], steps,
                lambda r: [r[0]["result"], r[1]["weekday"], r[2]["value"]])  # fmt: skip


# -- none (answerable without a tool; the tools are offered anyway) -------------------------------
def none_capital(rng: random.Random) -> Plan:
    country = rng.choice(sorted(COUNTRIES))
    answer = COUNTRIES[country]
    return Plan("none_capital", "none", f"What is the capital of {country}?",
                [rng.choice(["calculator", "dates", "units"])], answer=lambda _r: answer)  # fmt: skip


def none_spelling(rng: random.Random) -> Plan:
    word = rng.choice(WORDS)
    if rng.random() < 0.5:
        task, answer = f"How many letters are in the word '{word}'?", len(word)
    else:
        task, answer = f"Write the word '{word}' backwards.", word[::-1]
    return Plan("none_spelling", "none", task, [rng.choice(["calculator", "notes"])],
                answer=lambda _r: answer)  # fmt: skip


def none_larger(rng: random.Random) -> Plan:
    a, b = rng.sample(range(10, 1000), 2)
    answer = max(a, b)
    return Plan("none_larger", "none", f"Which number is larger, {a} or {b}?", ["calculator"],
                answer=lambda _r: answer)  # fmt: skip


# -- stateful -------------------------------------------------------------------------------------
_PACKS = {"sticky notes": "pad", "headphones": "pair"}  # products only sold by the pad/pair


def _count(quantity: int, product: str) -> str:
    """A quantity of a product in words: "a pen", "3 mugs", "2 pairs of headphones"."""
    if product in _PACKS:
        unit = _PACKS[product]
        return f"a {unit} of {product}" if quantity == 1 else f"{quantity} {unit}s of {product}"
    return f"a {product}" if quantity == 1 else f"{quantity} {product}s"


def stateful_cart_checkout(rng: random.Random) -> Plan:
    products = rng.sample(sorted(CATALOGUE), rng.randint(2, 4))
    quantities = [rng.randint(1, 3) for _ in products]
    which = rng.randrange(len(products))
    removed, held = products[which], quantities[which]
    dropped = f"the {removed}" if held == 1 else f"all {_count(held, removed)}"
    listing = ", ".join(_count(q, p) for q, p in zip(quantities[:-1], products[:-1], strict=True))
    task = (f"Add {listing} and {_count(quantities[-1], products[-1])} to my cart, then remove "
            f"{dropped} and check out. What did I pay?")  # fmt: skip
    steps: list[Step] = [
        call("add_item", product=p, quantity=q) for p, q in zip(products, quantities, strict=True)
    ]
    steps += [call("remove_item", product=removed), call("checkout")]
    return Plan("stateful_cart_checkout", "stateful", task, ["cart"], steps,
                lambda r: r[-1]["total"], expects_state=True)  # fmt: skip


def stateful_cart_total(rng: random.Random) -> Plan:
    product, quantity = rng.choice(sorted(CATALOGUE)), rng.randint(1, 5)
    task = f"Put {_count(quantity, product)} in my cart and tell me the cart total."
    steps = [call("add_item", product=product, quantity=quantity), call("view_cart")]
    return Plan("stateful_cart_total", "stateful", task, ["cart"], steps,
                lambda r: r[-1]["total"], expects_state=True)  # fmt: skip


def stateful_notes(rng: random.Random) -> Plan:
    title, items = rng.choice(NOTE_TOPICS)
    first, *more = rng.sample(items, rng.randint(2, min(4, len(items))))
    added = and_list([f"'{item}'" for item in more])
    task = (f"Create a note called '{title}' containing '{first}', then add {added} to it, "
            "one per line.")  # fmt: skip
    steps: list[Step] = [call("create_note", title=title, content=first)]
    steps += [call("append_note", title=title, text=item) for item in more]
    return Plan("stateful_notes", "stateful", task, ["notes"], steps, expects_state=True)


def stateful_notes_cleanup(rng: random.Random) -> Plan:
    (old, old_items), (keep, keep_items) = rng.sample(NOTE_TOPICS, 2)
    extra = rng.choice(keep_items)
    initial = {"notes": {"notes": {old: "\n".join(old_items[:2]), keep: keep_items[0]}}}
    task = f"Delete my '{old}' note and add '{extra}' to my '{keep}' note."
    steps = [call("delete_note", title=old), call("append_note", title=keep, text=extra)]
    return Plan("stateful_notes_cleanup", "stateful", task, ["notes"], steps,
                initial_state=initial, expects_state=True)  # fmt: skip


def stateful_kv(rng: random.Random) -> Plan:
    facts = rng.sample(KV_FACTS, 3)
    values = [rng.choice(options) for _, options in facts]
    forget = facts[rng.randrange(3)][0]
    saves = "; ".join(f"my {k} is {v}" for (k, _), v in zip(facts, values, strict=True))
    task = f"Remember these: {saves}. Then forget my {forget}."
    steps: list[Step] = [
        call("kv_set", key=k, value=v) for (k, _), v in zip(facts, values, strict=True)
    ]
    steps.append(call("kv_delete", key=forget))
    return Plan("stateful_kv", "stateful", task, ["kv_store"], steps, expects_state=True)


def stateful_calendar_move(rng: random.Random) -> Plan:
    day = a_date(rng, 2026, 2027)
    first, second, new = rng.sample(EVENTS, 3)
    initial = {"calendar": {"events": [
        {"id": "evt-1", "title": first, "date": day, "start": "09:00", "duration_minutes": 30},
        {"id": "evt-2", "title": second, "date": day, "start": "14:00", "duration_minutes": 60},
    ], "next_id": 3}}  # fmt: skip
    cancelled = rng.choice([first, second])
    start = rng.choice(["10:00", "11:30", "16:00"])
    task = (f"Cancel my '{cancelled}' on {day} and put '{new}' in my calendar that day at {start} "
            "for 45 minutes.")  # fmt: skip
    steps: list[Step] = [
        call("list_events", date=day),
        lambda r: call("cancel_event", event_id=next(
            e["id"] for e in r[0]["events"] if e["title"] == cancelled)),
        call("add_event", title=new, date=day, start=start, duration_minutes=45),
    ]  # fmt: skip
    return Plan("stateful_calendar_move", "stateful", task, ["calendar"], steps,
                initial_state=initial, expects_state=True)  # fmt: skip


def stateful_calendar_day(rng: random.Random) -> Plan:
    day = a_date(rng, 2026, 2027)
    titles = rng.sample(EVENTS, rng.randint(2, 3))
    starts = ["08:30", "12:00", "17:15"]
    bookings = and_list([f"'{t}' at {s}" for t, s in zip(titles, starts, strict=False)])
    task = f"Book {bookings} on {day}, each for an hour."
    steps: list[Step] = [
        call("add_event", title=t, date=day, start=s, duration_minutes=60)
        for t, s in zip(titles, starts, strict=False)
    ]
    return Plan("stateful_calendar_day", "stateful", task, ["calendar"], steps,
                expects_state=True)  # fmt: skip


TEMPLATES: dict[str, list[Callable[[random.Random], Plan]]] = {
    "single": [single_calculate, single_convert, single_weekday, single_days_between,
               single_add_to_date],
    "multiple": [multiple_distance_total, multiple_temperature_gap, multiple_deadline_gap,
                 multiple_weekday_later],
    "parallel": [parallel_conversions, parallel_weekdays, parallel_mixed],
    "none": [none_capital, none_spelling, none_larger],
    "stateful": [stateful_cart_checkout, stateful_cart_total, stateful_notes,
                 stateful_notes_cleanup, stateful_kv, stateful_calendar_move,
                 stateful_calendar_day],
}  # fmt: skip
TASK_TYPES = tuple(TEMPLATES)
