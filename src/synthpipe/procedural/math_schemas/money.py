"""Money frames: shopping, saving, wages, fundraising, bills, sales, profit, subscriptions."""

from __future__ import annotations

from synthpipe.procedural.math_schemas.events import Holding, extend
from synthpipe.procedural.math_schemas.registry import schema
from synthpipe.procedural.math_schemas.story import (
    FRACTION_WORDS,
    TIMES_WORDS,
    Infeasible,
    Story,
    article,
)

MONEY = ("dollar", "dollars")
GOALS = ("a new bike", "a video game console", "a tablet", "a pair of running shoes", "a telescope",
         "a guitar", "a tent", "a keyboard", "a camera", "a skateboard")  # fmt: skip
PRODUCTS = (("cup of lemonade", "cups of lemonade", "pitcher", "pitchers"),
            ("bag of popcorn", "bags of popcorn", "batch", "batches"),
            ("friendship bracelet", "friendship bracelets", "kit", "kits"),
            ("cookie", "cookies", "tray", "trays"),
            ("candle", "candles", "box of wax", "boxes of wax"))  # fmt: skip
BILLS = (1, 2, 5, 10, 20)


def _price(s: Story, item: list) -> int:
    lo, hi = item[2], item[3]
    return s.num(min(lo, s.max_number), hi)


def _lines(s: Story, items: list[list], verbs: list[str]) -> list[int]:
    """'<verb> 3 mugs for $4 each' for each item; one step per item. Returns the costs."""
    costs = []
    for i, item in enumerate(items):
        q, price = s.small(2, 6), _price(s, item)
        s.say(f"{verbs[min(i, len(verbs) - 1)]} {q} {item[1]} for ${price} each.")
        costs.append(s.calc(f"{q}*{price}", f"The {item[1]} cost", ".", money=True))
    return costs


@schema("shopping_list", 2, 8, needs=("multiply",))
def shopping_list(s: Story, steps: int) -> None:
    plans = [
        (m, coupon, end)
        for m in (1, 2, 3, 4)
        for coupon in (0, 2)
        for end in ("", "change", "split")
        if m + (m > 1) + coupon + (end != "") == steps
    ]
    m, coupon, end = s.pick(plans)
    p = s.person()
    s.say(
        f"{p.name} goes to {s.pick(['the mall', 'a market', 'the corner shop', 'a craft fair'])}."
    )
    verbs = [
        s.pick([f"{p.He} buys", f"There, {p.he} buys"]),
        f"{p.He} also buys",
        f"Then {p.he} gets",
    ]
    costs = _lines(s, s.sample(s.lex["shop_items"], m), verbs)
    total = (
        costs[0]
        if m == 1
        else s.calc("+".join(map(str, costs)), f"{p.He} spends", "in total.", money=True)
    )
    if coupon:
        pct = s.percent(total)
        s.say(f"{p.He} has a coupon for {pct}% off the total.")
        off = s.calc(f"{total}*{pct}/100", "The coupon takes off", ".", op="percent", money=True)
        total = s.calc(f"{total}-{off}", f"{p.He} pays", ".", money=True)
    if end == "change":
        bill = next((b for b in (20, 50, 100) if b > total), None) or total + s.num(1, 50)
        s.say(f"{p.He} pays with ${bill}.")
        s.ask(f"How much change does {p.name} get?")
        s.calc(f"{bill}-{total}", f"{p.He} gets", "in change.", money=True)
    elif end == "split":
        k = s.divisor(total, 2, 6)
        s.ask(
            f"{p.He} splits the cost equally with {k - 1} {'friend' if k == 2 else 'friends'}. "
            "How much does each person pay?"
        )
        s.calc(f"{total}/{k}", "Each person pays", ".", money=True)
    else:
        s.ask(s.pick([f"How much does {p.name} pay?", f"How much money does {p.name} spend?"]))


@schema("savings_goal", 2, 8, needs=("add", "subtract"))
def savings_goal(s: Story, steps: int) -> None:
    p, goal = s.person(), s.pick(GOALS)
    weeks = steps >= 3 and s.allows("divide") and s.chance(0.5)
    budget = steps - 1 - weeks
    saved = s.num(5, 80)
    s.say(f"{p.name} is saving up for {goal}. {p.He} has ${saved} so far.")
    gifts: list[int] = []
    while budget > 0:
        kind = s.pick(
            [
                k
                for k, cost, op in (
                    ("gift", 1, "add"),
                    ("times", 2, "multiply"),
                    ("work", 2, "multiply"),
                )
                if cost <= budget and s.allows(op) and (k != "times" or gifts)
            ]
        )
        if kind == "gift":
            g = s.num(5, 60)
            s.say(f"{p.His} {s.pick(s.lex['relatives'])} gives {p.him} ${g}.")
            gifts.append(g)
        elif kind == "times":
            k = s.small(2, 3)
            s.say(f"{p.His} {s.pick(s.lex['relatives'])} gives {p.him} {TIMES_WORDS[k]} that much.")
            g = s.calc(f"{gifts[-1]}*{k}", "That gift is", ".", money=True)
            gifts.append(g)
        else:
            hours, rate = s.small(2, 8), s.num(5, 20)
            s.say(f"{p.He} also earns ${rate} an hour for {hours} hours {s.pick(s.lex['jobs'])}.")
            g = s.calc(f"{hours}*{rate}", f"{p.He} earns", ".", money=True)
        saved = s.calc(f"{saved}+{g}", f"{p.He} then has", ".", money=True)
        budget -= 1 + (kind != "gift")
    if weeks:
        per, count = s.num(5, 25), s.small(2, 8)
        price = saved + per * count
        s.say(f"The {goal.split(' ', 1)[1]} costs ${price}.")
        s.ask(
            f"If {p.he} saves ${per} a week from now on, "
            "how many weeks will it take to have enough?"
        )
        rest = s.calc(f"{price}-{saved}", f"{p.He} still needs", ".", money=True)
        s.calc(f"{rest}/{per}", "It will take", "weeks.")
    else:
        price = saved + s.num(1, 60)
        s.say(f"The {goal.split(' ', 1)[1]} costs ${price}.")
        s.ask(f"How much more money does {p.name} need?")
        s.calc(f"{price}-{saved}", f"{p.He} needs", "more.", money=True)


@schema("hourly_wage", 2, 10, needs=("multiply",))
def hourly_wage(s: Story, steps: int) -> None:
    p = s.person()
    hours, days, rate = s.small(2, 8), s.small(2, 6), s.num(8, 30)
    s.say(
        f"{p.name} works {hours} hours a day, {days} days a week "
        f"{s.pick(s.lex['jobs'])}, and earns "
        f"${rate} an hour."
    )
    weekly = s.calc(f"{hours}*{days}", f"{p.He} works", "hours a week.")
    pay = s.calc(f"{weekly}*{rate}", f"{p.He} earns", "a week.", money=True)
    budget = steps - 2
    if budget and s.chance(0.5):
        weeks = s.small(2, 4)
        s.say(f"{p.He} works like this for {weeks} weeks.")
        pay = s.calc(f"{pay}*{weeks}", f"In {weeks} weeks {p.he} earns", ".", money=True)
        budget -= 1
    if budget and s.allows("add") and s.chance(0.4):
        bonus = s.num(10, 100)
        s.say(f"{p.He} also gets a bonus of ${bonus}.")
        pay = s.calc(f"{pay}+{bonus}", "With the bonus that is", ".", money=True)
        budget -= 1
    extend(
        s, Holding(p, "money", MONEY, pay), budget, question=f"How much money does {p.name} earn?"
    )


@schema("allowance", 2, 10, needs=("multiply",))
def allowance(s: Story, steps: int) -> None:
    p = s.person()
    amount, weeks = s.num(3, 30), s.small(2, 10)
    s.say(
        s.pick(
            [
                f"{p.name} gets ${amount} of pocket money every week and saves all of it for "
                f"{weeks} weeks.",
                f"Every week {p.name}'s parents give {p.him} ${amount}. After {weeks} weeks {p.he} "
                "has not spent any of it.",
            ]
        )
    )
    total = s.calc(f"{amount}*{weeks}", f"{p.He} saves", ".", money=True)
    extend(s, Holding(p, "money", MONEY, total), steps - 1)


@schema("fundraiser", 2, 8, needs=("multiply",))
def fundraiser(s: Story, steps: int) -> None:
    plans = [
        (t, costs, donate, split)
        for t in (1, 2, 3)
        for costs in (0, 1)
        for donate in (0, 2)
        for split in (0, 1)
        if t + (t > 1) + costs + donate + split == steps
    ]
    kinds, costs, donate, split = s.pick(plans)
    club, event = s.pick(s.lex["clubs"]), s.pick(s.lex["fundraisers"])
    s.say(f"The {club} holds {event} to raise money.")
    tickets = s.sample(s.lex["ticket_types"], kinds)
    sales = []
    for ticket in tickets:
        n, price = s.num(5, 80), s.num(2, 15)
        s.say(f"They sell {n} {ticket[1]} at ${price} each.")
        sales.append(s.calc(f"{n}*{price}", f"The {ticket[1]} bring in", ".", money=True))
    total = (
        sales[0]
        if kinds == 1
        else s.calc("+".join(map(str, sales)), "They raise", "in total.", money=True)
    )
    question = "How much money does the club raise?"
    if costs:
        spent = s.num(5, total - 1) if total > 5 else 0
        if not spent:
            raise Infeasible("too little raised to pay costs")
        s.say(f"Supplies for the event cost ${spent}.")
        total = s.calc(f"{total}-{spent}", "After paying for supplies they have", ".", money=True)
        question = "How much money does the club have after paying for supplies?"
    if donate:
        pct = s.percent(total)
        s.say(f"They give {pct}% of what they have to a local charity.")
        gift = s.calc(f"{total}*{pct}/100", "They donate", ".", op="percent", money=True)
        total = s.calc(f"{total}-{gift}", "They keep", ".", money=True)
        question = "How much money does the club keep?"
    if split:
        members = s.divisor(total, 2, 12)
        s.say(f"The {club} has {members} members, and the money is shared equally for their trip.")
        question = "How much money does each member get?"
        s.calc(f"{total}/{members}", "Each member gets", ".", money=True)
    s.ask(question)


@schema("restaurant_bill", 2, 8, needs=("add",))
def restaurant_bill(s: Story, steps: int) -> None:
    plans = [
        (m, counted, tip, split)
        for m in (2, 3, 4)
        for counted in (0, 1)
        for tip in (0, 2)
        for split in (0, 1)
        if m * counted + 1 + tip + split == steps
    ]
    m, counted, tip, split = s.pick(plans)  # counted: each dish line is a multiplication
    friends = s.people(2)
    s.say(f"{friends[0].name} and {friends[1].name} go out for dinner with some friends.")
    dishes = s.sample(s.lex["menu_items"], m)
    costs = []
    for i, dish in enumerate(dishes):
        price, verb = _price(s, dish), ("They order", "They also get", "Then they add")[min(i, 2)]
        if counted:
            q = s.small(2, 4)
            s.say(f"{verb} {q} {dish[1]} at ${price} each.")
            costs.append(s.calc(f"{q}*{price}", f"The {dish[1]} cost", ".", money=True))
        else:
            s.say(f"{verb} {article(dish[0])} for ${price}.")
            costs.append(price)
    bill = s.calc("+".join(map(str, costs)), "The food costs", ".", money=True)
    question = "How much is the bill?"
    if tip:
        pct = s.percent(bill)
        s.say(f"They leave a {pct}% tip.")
        extra = s.calc(f"{bill}*{pct}/100", "The tip is", ".", op="percent", money=True)
        bill = s.calc(f"{bill}+{extra}", "Altogether they pay", ".", money=True)
        question = "How much do they pay in total, including the tip?"
    if split:
        size = s.divisor(bill, 3, 6)
        question = (
            f"There are {size} of them, and they split the cost equally. How much does each pay?"
        )
        s.calc(f"{bill}/{size}", "Each person pays", ".", money=True)
    s.ask(question)


@schema("sale_discount", 2, 10, needs=("subtract", "percent|fraction"))
def sale_discount(s: Story, steps: int) -> None:
    p, item = s.person(), s.pick(s.lex["shop_items"])
    price = s.friendly(max(10, item[2]), max(20, item[3] * 2))
    s.say(f"{p.name} wants to buy {article(item[0])}. It normally costs ${price}.")
    if s.allows("percent") and (s.chance(0.6) or not s.allows("fraction")):
        pct = s.percent(price)
        s.say(f"This week it is on sale for {pct}% off.")
        off = s.calc(f"{price}*{pct}/100", "The discount is", ".", op="percent", money=True)
    else:
        a, b = s.fraction(price, unit_only=True)
        s.say(f"This week it is {FRACTION_WORDS[(a, b)]} off.")
        off = s.calc(f"{price}/{b}", "The discount is", ".", op="fraction", money=True)
    sale = s.calc(f"{price}-{off}", "The sale price is", ".", money=True)
    budget = steps - 2
    if budget and s.allows("multiply") and s.chance(0.6):
        q = s.small(2, 5)
        s.say(f"{p.name} buys {q} of them.")
        sale = s.calc(f"{q}*{sale}", f"{p.He} pays", ".", money=True)
        budget -= 1
    if not budget:
        s.ask(f"How much does {p.name} pay?")
        return
    wallet = sale + s.num(5, 60)
    s.say(f"{p.name} went shopping with ${wallet}.")
    left = s.calc(f"{wallet}-{sale}", f"{p.He} has", "left.", money=True)
    extend(s, Holding(p, "money", MONEY, left, left=True), budget - 1)


@schema("lemonade_profit", 2, 6, needs=("multiply", "subtract"))
def lemonade_profit(s: Story, steps: int) -> None:
    plans = [
        (batches, unsold, split)
        for batches in (0, 2)
        for unsold in (0, 1)
        for split in (0, 1)
        if 2 + batches + unsold + split == steps
    ]
    batches, unsold, split = s.pick(plans)
    p = s.person()
    thing, things, unit, units = s.pick(PRODUCTS)
    if batches:
        n, per, cost = s.small(2, 8), s.num(4, 20), s.num(1, 15)
        s.say(
            f"{p.name} makes {things} in {units}. "
            f"Each {unit} makes {per} {things} and costs ${cost}. "
            f"{p.He} makes {n} {units}."
        )
        made = s.calc(f"{n}*{per}", f"{p.He} makes", f"{things}.")
        spent = s.calc(f"{n}*{cost}", "The supplies cost", ".", money=True)
    else:
        made, spent = s.num(10, 80), s.num(5, 60)
        s.say(f"{p.name} spends ${spent} on supplies and makes {made} {things}.")
    sold = made
    if unsold:
        left = s.num(1, made - 1)
        sold = made - left
    cheapest = spent // sold + 1  # the lowest price that makes a profit
    price = s.num(cheapest, cheapest + 4)
    if unsold:
        s.say(f"{p.He} sells all but {left} of them for ${price} each.")
        made = s.calc(f"{made}-{left}", f"{p.He} sells", f"{things}.")
    else:
        s.say(f"{p.He} sells all of them for ${price} each.")
    income = s.calc(f"{made}*{price}", f"{p.He} takes in", ".", money=True)
    if income <= spent:
        raise Infeasible("no profit")
    if split:
        s.ask(
            f"{p.He} shares the profit equally with {p.his} "
            f"{s.pick(s.lex['relatives'])}, who helped. "
            f"How much profit does each of them get?"
        )
        profit = s.calc(f"{income}-{spent}", "The profit is", ".", money=True)
        s.calc(f"{profit}/2", "Each gets", ".", money=True)
    else:
        s.ask(
            s.pick(
                [
                    f"How much profit does {p.name} make?",
                    f"How much money does {p.name} earn after paying for supplies?",
                ]
            )
        )
        s.calc(f"{income}-{spent}", "The profit is", ".", money=True)


@schema("subscription", 2, 6, needs=("multiply", "subtract"))
def subscription(s: Story, steps: int) -> None:
    plans = [
        (fee, other, split)
        for fee in (0, 1)
        for other in (0, 1, 2)
        for split in (0, 1)
        if 2 + fee + other + split == steps
    ]
    fee, other, split = s.pick(plans)
    p, plan = s.person(), s.pick(s.lex["subscriptions"])
    monthly, months = s.num(5, 60), s.pick([m for m in (6, 12, 12, 24) if m <= s.max_number])
    s.say(f"{article(plan).capitalize()} costs ${monthly} a month.")
    cost = s.calc(f"{monthly}*{months}", f"For {months} months that is", ".", money=True)
    if fee:
        extra = s.num(5, 50)
        s.say(f"It also has {s.pick(s.lex['fees'])} of ${extra}.")
        cost = s.calc(f"{cost}+{extra}", "The monthly plan costs", "in total.", money=True)
    if other == 0:
        offer = s.rng.randint(max(1, cost // 2), cost - 1) if cost > 2 else 0
        if not offer:
            raise Infeasible("plan too cheap to discount")
        s.say(f"{p.name} can instead pay ${offer} up front for {months} months.")
    elif other == 1:
        cheaper = s.num(1, monthly - 1) if monthly > 1 else 0
        if not cheaper:
            raise Infeasible("no cheaper plan")
        s.say(f"Another {plan} costs ${cheaper} a month with no other fees.")
        offer = s.calc(
            f"{cheaper}*{months}", f"For {months} months the other plan costs", ".", money=True
        )
    else:
        pct = s.percent(cost)
        s.say(f"If {p.name} pays up front, {p.he} gets {pct}% off that total.")
        off = s.calc(f"{cost}*{pct}/100", "The discount is", ".", op="percent", money=True)
        offer = s.calc(f"{cost}-{off}", "Paying up front costs", ".", money=True)
    if split:
        saved = s.calc(f"{cost}-{offer}", "The cheaper option saves", ".", money=True)
        k = s.divisor(saved, 2, 4)
        s.ask(
            f"{p.name} shares the cheaper option with {k - 1} "
            f"{'roommate' if k == 2 else 'roommates'}, "
            "splitting the savings equally. How much does each of them save?"
        )
        s.calc(f"{saved}/{k}", "Each saves", ".", money=True)
    else:
        s.ask(f"How much does {p.name} save over {months} months by choosing the cheaper option?")
        s.calc(f"{cost}-{offer}", f"{p.He} saves", ".", money=True)


@schema("piggy_bank", 3, 10, needs=("multiply", "add"))
def piggy_bank(s: Story, steps: int) -> None:
    kinds = s.pick([k for k in (2, 3, 4) if k + 1 <= steps])
    p = s.person()
    values = sorted(s.sample(BILLS, kinds))
    counts = [s.num(2, 25) for _ in values]
    words = [
        f"{c} ${v} {'coins' if v < 5 else 'bills'}" for c, v in zip(counts, values, strict=True)
    ]
    s.say(f"{p.name} opens {p.his} piggy bank and finds {', '.join(words[:-1])} and {words[-1]}.")
    sums = [
        s.calc(f"{c}*{v}", f"The ${v} {'coins' if v < 5 else 'bills'} are worth", ".", money=True)
        for c, v in zip(counts, values, strict=True)
    ]
    total = s.calc("+".join(map(str, sums)), f"{p.He} has", "in total.", money=True)
    extend(
        s,
        Holding(p, "money", MONEY, total),
        steps - kinds - 1,
        question=f"How much money is in {p.name}'s piggy bank?",
    )
