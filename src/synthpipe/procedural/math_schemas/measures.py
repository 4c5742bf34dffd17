"""Frames with units and rates: minutes and hours, pages, kilometers, liters, grams, kilograms."""

from __future__ import annotations

from synthpipe.procedural.math_schemas.events import relation
from synthpipe.procedural.math_schemas.registry import schema
from synthpipe.procedural.math_schemas.story import (
    FRACTION_WORDS,
    TIMES_WORDS,
    Infeasible,
    Story,
    article,
    plural,
)

MINUTE_CHUNKS = (10, 15, 20, 30, 40, 45, 60, 90)


@schema("practice_time", 2, 5, needs=("multiply",))
def practice_time(s: Story, steps: int) -> None:
    parts = s.fit(
        steps - 1, [("weekend", 2, "add"), ("weeks", 1, "multiply"), ("hours", 1, "divide")]
    )
    p, activity = s.person(), s.pick(s.lex["activities"])
    per_day, days = s.pick([m for m in MINUTE_CHUNKS if m <= 60]), s.small(2, 5)
    if "hours" in parts:  # make whole hours likely
        per_day = s.pick((30, 60, 90, 120))
        days = s.pick((2, 4)) if per_day % 60 else days
    s.say(f"{p.name} spends {per_day} minutes {activity} on each of {days} weekdays.")
    week = s.calc(f"{per_day}*{days}", f"On weekdays {p.he} spends", "minutes.")
    if "weekend" in parts:
        if s.allows("multiply") and s.chance(0.5):
            k = s.small(2, 3)
            s.say(f"On Saturday {p.he} spends {TIMES_WORDS[k]} as long as on a weekday.")
            sat = s.calc(f"{per_day}*{k}", "On Saturday that is", "minutes.")
        else:
            k = s.pick((5, 10, 15, 20, 30))
            s.say(f"On Saturday {p.he} spends {k} minutes more than on a weekday.")
            sat = s.calc(f"{per_day}+{k}", "On Saturday that is", "minutes.")
        week = s.calc(f"{week}+{sat}", "In a week that makes", "minutes.")
    unit = "week"
    if "weeks" in parts:
        weeks = s.small(2, 4)
        s.say(f"{p.He} keeps this up for {weeks} weeks.")
        week = s.calc(f"{week}*{weeks}", f"In {weeks} weeks that is", "minutes.")
        unit = f"{weeks} weeks"
    if "hours" in parts:
        s.ask(
            f"How many hours does {p.name} spend {activity} in "
            f"{'a ' if unit == 'week' else ''}{unit}?"
        )
        s.calc(f"{week}/60", "That is", "hours.")
    else:
        s.ask(
            f"How many minutes does {p.name} spend {activity} in "
            f"{'a ' if unit == 'week' else ''}{unit}?"
        )


@schema("movie_marathon", 2, 7, needs=("add",))
def movie_marathon(s: Story, steps: int) -> None:
    plans = [
        (n, rel, brk, hrs)
        for n in (2, 3, 4)
        for rel in range(n - 1)
        for brk in (0, 2)
        for hrs in (0, 1)
        if rel + 1 + brk + hrs == steps
    ]
    n, rel, brk, hrs = s.pick(plans)
    p, show = s.person(), s.pick(s.lex["shows"])
    linked = set(s.sample(range(1, n - 1), rel))  # the last length stays free to make whole hours
    pause = s.pick((5, 10, 15, 20)) if brk else 0
    lengths = [s.pick((30, 40, 45, 60, 75, 80, 90, 100, 120))]
    s.say(f"{p.name} watches {n} {show[1]} in a row. The first is {lengths[0]} minutes long.")
    for i in range(1, n):
        which = ("second", "third", "fourth")[i - 1]
        if i in linked:
            phrase, code, op = relation(
                s,
                lengths[-1],
                "{k} minutes longer than",
                "{k} minutes shorter than",
                "{t} as long as",
            )
            s.say(f"The {which} is {phrase} the one before.")
            lengths.append(s.calc(code, f"The {which} lasts", "minutes.", op=op))
            continue
        options = [
            m
            for m in range(20, 181, 5)
            if i < n - 1 or not hrs or (sum(lengths) + m + pause * (n - 1)) % 60 == 0
        ]
        lengths.append(s.pick(options))
        s.say(f"The {which} lasts {lengths[-1]} minutes.")
    total = s.calc("+".join(map(str, lengths)), f"The {show[1]} last", "minutes in total.")
    if brk:
        s.say(f"{p.He} takes a {pause}-minute break between each {show[0]} and the next.")
        breaks = s.calc(f"{n - 1}*{pause}", "The breaks take", "minutes.")
        total = s.calc(f"{total}+{breaks}", "Altogether that is", "minutes.")
    what = "from the start of the first to the end of the last" if brk else "watching"
    if hrs:
        s.ask(f"How many hours does {p.name} spend {what}?")
        s.calc(f"{total}/60", "That is", "hours.")
    else:
        s.ask(f"How many minutes does {p.name} spend {what}?")


@schema("reading_book", 2, 5, needs=("multiply",))
def reading_book(s: Story, steps: int) -> None:
    plans = [
        (extra, left, finish)
        for extra in (0, 2)
        for left in (0, 1)
        for finish in (0, 1)
        if (left or not finish) and 1 + extra + left + finish == steps
    ]
    extra, left, finish = s.pick(plans)
    p = s.person()
    rate, days = s.num(5, 40), s.small(2, 7)
    facts = [f"{p.name} reads {rate} pages a day for {days} days."]
    read = s.calc(f"{rate}*{days}", f"In {days} days {p.he} reads", "pages.")
    if extra:
        phrase, code, op = relation(
            s, rate, "{k} more pages than", "{k} fewer pages than", "{t} as many pages as"
        )
        facts.append(f"The next day {p.he} reads {phrase} on each of the days before.")
        more = s.calc(code, f"The next day {p.he} reads", "pages.", op=op)
        read = s.calc(f"{read}+{more}", f"{p.He} has read", "pages in all.")
    # the page count is chosen last, so that what is left divides evenly when that is asked
    if finish:
        per, more_days = s.num(5, 40), s.small(2, 6)
        pages = read + per * more_days
    else:
        pages = read + s.num(1, 120) if left else read + s.num(0, 120)
    s.say(f"A book has {pages} pages.", *facts)
    if not left:
        s.ask(f"How many pages has {p.name} read?")
        return
    rest = s.calc(f"{pages}-{read}", "There are", "pages left.")
    if finish:
        s.ask(
            f"If {p.he} reads {per} pages a day from now on, how many more days will {p.he} need "
            "to finish the book?"
        )
        s.calc(f"{rest}/{per}", f"{p.He} needs", "more days.")
    else:
        s.ask(f"How many pages does {p.name} still have to read?")


@schema("commute", 2, 4, needs=("add", "multiply"))
def commute(s: Story, steps: int) -> None:
    parts = s.fit(steps - 2, [("weeks", 1, "multiply"), ("hours", 1, "divide")])
    p = s.person()
    legs = [s.pick((5, 8, 10, 12, 15)), s.pick((10, 15, 20, 25, 30, 35, 40)), s.pick((3, 5, 7, 10))]
    s.say(
        f"To get to work, {p.name} walks {legs[0]} minutes to the station, rides the train for "
        f"{legs[1]} minutes, and then walks {legs[2]} minutes."
    )
    one_way = s.calc("+".join(map(str, legs)), "One way takes", "minutes.")
    days = s.small(3, 6)
    s.say(f"{p.He} makes the same trip back home, and works {days} days a week.")
    trips = s.calc(f"{one_way}*2*{days}", f"Going there and back on {days} days takes", "minutes.")
    period = "a week"
    if "weeks" in parts:
        weeks = s.small(2, 4)
        period = f"{weeks} weeks"
        trips = s.calc(f"{trips}*{weeks}", f"In {weeks} weeks that is", "minutes.")
    if "hours" in parts:
        s.ask(f"How many hours does {p.name} spend commuting in {period}?")
        s.calc(f"{trips}/60", "That is", "hours.")
    else:
        s.ask(f"How many minutes does {p.name} spend commuting in {period}?")


@schema("road_trip", 2, 7, needs=("multiply",))
def road_trip(s: Story, steps: int) -> None:
    plans = [
        (legs, back, end)
        for legs in (1, 2, 3)
        for back in (0, 1)
        for end, cost in (("total", 0), ("remaining", 1), ("fuel", 1), ("cost", 2))
        if legs + (legs > 1) + back + cost == steps and (legs > 1 or back or cost)
    ]
    legs, back, end = s.pick(plans)
    p, place = s.person(), s.pick(s.lex["destinations"])
    s.say(f"{p.name} drives to {place}.")
    dists = []
    for i in range(legs):
        hours, speed = (
            s.small(1, 4),
            s.pick(
                [v for v in (40, 50, 60, 70, 80, 90, 100) if v <= s.max_number] or [s.max_number]
            ),
        )
        text = f"{hours} {plural(('hour', 'hours'), hours)} at {speed} kilometers per hour"
        if legs > 1:
            s.say(f"{('First', 'Then', 'Finally')[i]}, {p.he} drives {text}.")
        else:
            s.say(f"The drive takes {text}.")
        dists.append(s.calc(f"{hours}*{speed}", f"{p.He} drives", "kilometers."))
    dist = (
        dists[0] if legs == 1 else s.calc("+".join(map(str, dists)), "The drive is", "kilometers.")
    )
    if back:
        s.say(f"{p.He} drives back home the same way.")
        dist = s.calc(f"{dist}*2", "There and back is", "kilometers.")
    if end == "total":
        s.ask(f"How many kilometers does {p.name} drive?")
    elif end == "remaining":
        more = s.num(5, 200)
        s.say(f"{p.His} whole trip is {dist + more} kilometers long.")
        s.ask(f"How many more kilometers does {p.name} have to drive?")
        s.calc(f"{dist + more}-{dist}", f"{p.He} has", "kilometers left.")
    else:
        per = s.divisor(dist, 5, 20)
        s.say(f"{p.His} car uses 1 liter of fuel for every {per} kilometers.")
        liters = s.calc(f"{dist}/{per}", "The car uses", "liters of fuel.")
        if end == "fuel":
            s.ask("How many liters of fuel does the car use?")
        else:
            price = s.small(1, 3)
            s.ask(f"Fuel costs ${price} per liter. How much does {p.name} spend on fuel?")
            s.calc(f"{liters}*{price}", f"{p.He} spends", "on fuel.", money=True)


@schema("training_goal", 2, 5, needs=("add",))
def training_goal(s: Story, steps: int) -> None:
    rest = steps >= 3 and s.allows("subtract") and s.chance(0.6)
    weeks = steps - rest  # week values linked to the one before, plus the total
    if weeks > 4:
        raise Infeasible("too many weeks")
    p, sport = s.person(), s.pick(s.lex["sports"])
    dist = [s.num(5, 40)]
    s.say(f"{p.name} {sport} {dist[0]} kilometers in the first week of the month.")
    for i in range(1, weeks):
        which = ("second", "third", "fourth")[i - 1]
        phrase, code, op = relation(
            s, dist[-1], "{k} kilometers more than", "{k} kilometers less than", "{t} as far as"
        )
        s.say(f"In the {which} week, {p.he} covers {phrase} in the week before.")
        dist.append(s.calc(code, f"In the {which} week {p.he} covers", "kilometers.", op=op))
    total = s.calc("+".join(map(str, dist)), "Altogether", "kilometers.")
    if rest:
        goal = total + s.num(5, 60)
        s.ask(
            f"{p.His} goal is {goal} kilometers this month. How many more kilometers does {p.he} "
            "need to reach it?"
        )
        s.calc(f"{goal}-{total}", f"{p.He} needs", "more kilometers.")
    else:
        s.ask(f"How many kilometers does {p.name} cover in these {weeks} weeks?")


@schema("water_tank", 2, 6, needs=("multiply", "add"))
def water_tank(s: Story, steps: int) -> None:
    plans = [
        (start, leak, end)
        for start in (0, 1)
        for leak in (0, 1)
        for end, cost in (("now", 0), ("space", 1), ("minutes", 2))
        if start + 2 + leak + cost == steps
    ]
    start, leak, end = s.pick(plans)
    tank = s.pick(s.lex["liquid_holders"])
    rate = s.small(2, 12)
    cap = s.friendly(100, 1000) if start else None
    if start:
        a, b = s.fraction(cap, unit_only=True)
        s.say(f"{tank.capitalize()} holds {cap} liters and is {FRACTION_WORDS[(a, b)]} full.")
        water = s.calc(f"{cap}/{b}", "It has", "liters in it.", op="fraction")
    else:
        water = s.num(10, 90)
        s.say(f"{tank.capitalize()} has {water} liters of water in it.")
    minutes = s.small(3, 20) if cap is None else s.num(1, min(20, (cap - water - 1) // rate))
    s.say(f"A hose adds {rate} liters per minute for {minutes} minutes.")
    added = s.calc(f"{rate}*{minutes}", "The hose adds", "liters.")
    water = s.calc(f"{water}+{added}", "Then it has", "liters.")
    if leak:
        used = s.num(1, water - 1) if water > 1 else 0
        if not used:
            raise Infeasible("nothing to use")
        s.say(f"Then {used} liters are used to water the garden.")
        water = s.calc(f"{water}-{used}", "That leaves", "liters.")
    if end == "now":
        s.ask(f"How many liters of water are in {tank} now?")
        return
    if cap is None:
        more_min = s.small(2, 10)
        cap = water + (rate * more_min if end == "minutes" else s.num(5, 200))
        s.say(f"{tank.capitalize()} holds {cap} liters when full.")
    if cap <= water:
        raise Infeasible("tank overflows")
    space = s.calc(f"{cap}-{water}", "It needs", "more liters to be full.")
    if end == "space":
        s.ask(f"How many more liters are needed to fill {tank}?")
    else:
        s.ask(f"How many more minutes must the hose run to fill {tank}?")
        s.calc(f"{space}/{rate}", "The hose needs", "more minutes.")


@schema("recipe_scaling", 2, 4, needs=("multiply",))
def recipe_scaling(s: Story, steps: int) -> None:
    parts = s.fit(
        steps - 1, [("batches", 1, "divide"), ("second", 2, "multiply add"), ("bags", 1, "divide")]
    )
    if {"second", "bags"} <= parts:
        parts = {"batches", "second"} if steps == 4 else {"second"}
    p, baked = s.person(), s.pick(s.lex["baked_goods"])
    first = s.pick(s.lex["ingredients"])
    second = s.pick([i for i in s.lex["ingredients"] if i[1] == first[1] and i != first])
    makes, amount, k = (
        s.pick((6, 8, 10, 12, 20, 24)),
        s.num(2, 400, mult=s.pick((1, 5, 10, 25))),
        s.small(2, 6),
    )
    line = f"A recipe for {makes} {baked[1]} uses {amount} {first[1]} of {first[0]}"
    amount2 = s.num(2, 300, mult=s.pick((1, 5, 10))) if "second" in parts else 0
    if "second" in parts:
        line += f" and {amount2} {second[1]} of {second[0]}"
    s.say(line + ".")
    if "batches" in parts:
        s.say(f"{p.name} wants to make {makes * k} {baked[1]}.")
        k = s.calc(f"{makes * k}/{makes}", f"{p.He} needs to make", "batches.")
    else:
        s.say(f"{p.name} makes {k} batches.")
    need = s.calc(f"{amount}*{k}", f"{p.He} needs", f"{first[1]} of {first[0]}.")
    what = f"{first[1]} of {first[0]}"
    if "second" in parts:
        need2 = s.calc(f"{amount2}*{k}", f"{p.He} also needs", f"{second[1]} of {second[0]}.")
        need = s.calc(f"{need}+{need2}", "Together that is", f"{first[1]}.")
        what = f"{first[1]} of {first[0]} and {second[0]} together"
    if "bags" in parts:
        size = s.divisor(need, 2, 1000)
        if size == need:
            raise Infeasible("a single bag")
        s.ask(
            f"If {first[0]} is sold in {size}-{first[1][:-1]} packs, "
            f"how many packs does {p.name} need?"
        )
        s.calc(f"{need}/{size}", f"{p.He} needs", "packs.")
    else:
        s.ask(f"How many {what} does {p.name} need?")


@schema("animal_feed", 2, 6, needs=("multiply",))
def animal_feed(s: Story, steps: int) -> None:
    plans = [
        (second, days, bags, cost)
        for second in (0, 1)
        for days in (0, 1)
        for bags in (0, 1)
        for cost in (0, 1)
        if (bags or not cost)
        and 1 + 2 * second + days + bags + cost == steps
        and (s.allows("add") or not second)
        and (s.allows("divide") or not bags)
    ]
    second, days, bags, cost = s.pick(plans)
    parts = {
        name
        for name, on in (("second", second), ("days", days), ("bags", bags), ("cost", cost))
        if on
    }
    p = s.person()
    animals = s.sample(s.lex["animals"], 2)
    feed, bag, bags = s.pick(s.lex["feeds"])
    n, eats = s.num(2, 30), s.small(2, 6)
    s.say(f"{p.name} keeps {n} {animals[0][1]}. Each one eats {eats} kilograms of {feed} a day.")
    daily = s.calc(f"{n}*{eats}", f"The {animals[0][1]} eat", "kilograms a day.")
    if "second" in parts:
        n2, eats2 = s.num(2, 30), s.small(2, 6)
        s.say(f"{p.He} also keeps {n2} {animals[1][1]} that eat {eats2} kilograms each a day.")
        more = s.calc(f"{n2}*{eats2}", f"The {animals[1][1]} eat", "kilograms a day.")
        daily = s.calc(f"{daily}+{more}", "Together they eat", "kilograms a day.")
    period = "a day"
    if "days" in parts:
        days = s.pick((5, 7, 10, 14, 30))
        period = f"in {days} days"
        daily = s.calc(f"{daily}*{days}", f"In {days} days they eat", "kilograms.")
    if "bags" not in parts:
        s.ask(f"How many kilograms of {feed} do {p.name}'s animals eat {period}?")
        return
    size = s.divisor(daily, 2, 50)
    s.say(f"{feed.capitalize()} comes in {size}-kilogram {bags}.")
    count = s.calc(f"{daily}/{size}", f"{p.He} needs", f"{bags}.")
    if "cost" in parts:
        price = s.num(3, 40)
        s.ask(f"Each {bag} costs ${price}. How much does {p.name} spend on {feed} {period}?")
        s.calc(f"{count}*{price}", f"{p.He} spends", ".", money=True)
    else:
        s.ask(f"How many {bags} of {feed} does {p.name} need {period}?")


@schema("shipping_load", 2, 5, needs=("multiply", "subtract"))
def shipping_load(s: Story, steps: int) -> None:
    parts = s.fit(steps - 2, [("second", 2, "multiply add"), ("fit", 1, "divide")])
    carrier, loads = s.pick(s.lex["carriers"]), s.sample(s.lex["loads"], 2)
    n, w = s.num(2, 40), s.num(5, 60)
    s.say(
        f"{article(carrier).capitalize()} is loaded with {n} {loads[0][1]} "
        f"that weigh {w} kilograms each."
    )
    weight = s.calc(f"{n}*{w}", f"The {loads[0][1]} weigh", "kilograms.")
    if "second" in parts:
        n2, w2 = s.num(2, 40), s.num(5, 60)
        s.say(f"It also carries {n2} {loads[1][1]} of {w2} kilograms each.")
        more = s.calc(f"{n2}*{w2}", f"The {loads[1][1]} weigh", "kilograms.")
        weight = s.calc(f"{weight}+{more}", "The load weighs", "kilograms.")
    if "fit" in parts:
        extra_w = s.num(5, 60)
        cap = weight + extra_w * s.small(2, 12)
        s.say(f"The {carrier} can carry at most {cap} kilograms.")
        room = s.calc(f"{cap}-{weight}", "It can take", "more kilograms.")
        s.ask(f"How many more boxes of {extra_w} kilograms each can it carry?")
        s.calc(f"{room}/{extra_w}", "It can carry", "more boxes.")
    else:
        cap = weight + s.num(1, 300)
        s.say(f"The {carrier} can carry at most {cap} kilograms.")
        s.ask("How many more kilograms can it carry?")
        s.calc(f"{cap}-{weight}", "It can take", "more kilograms.")
