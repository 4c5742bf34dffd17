"""The bundled environments behave like the real tools they stand for (tested in-process:
the session only adds the worker and the validation around these same methods)."""

from __future__ import annotations

import pytest

from synthpipe.tools.environments.base import ToolError
from synthpipe.tools.environments.calculator import Calculator
from synthpipe.tools.environments.calendar_env import Calendar
from synthpipe.tools.environments.cart import Cart
from synthpipe.tools.environments.dates import Dates
from synthpipe.tools.environments.kv_store import KVStore
from synthpipe.tools.environments.notes import Notes
from synthpipe.tools.environments.units import Units


def test_calculator_evaluates_arithmetic_without_eval():
    calc = Calculator()
    assert calc.calculate("(3 + 4) * 2.5 - sqrt(16) / 2")["result"] == 15.5
    assert calc.calculate("2 ** 10")["result"] == 1024
    assert calc.calculate("10 / 4")["result"] == 2.5
    assert calc.calculate("7 / 3")["result"] == pytest.approx(2.3333333333)
    for bad in ("__import__('os')", "1 / 0", "2 ** 100000", "x + 1"):
        with pytest.raises(ToolError):
            calc.calculate(bad)


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        (5, "mile", "kilometer", 8.04672),
        (2, "kilogram", "pound", 4.409245),
        (100, "celsius", "fahrenheit", 212.0),
        (32, "fahrenheit", "kelvin", 273.15),
        (3, "cup", "milliliter", 709.764709),
        (90, "minute", "hour", 1.5),
        (1, "week", "day", 7.0),
    ],
)
def test_unit_conversions(value, source, target, expected):
    assert Units().convert_units(value, source, target) == {"value": expected, "unit": target}


def test_units_refuse_other_quantities_and_unknown_units():
    with pytest.raises(ToolError, match="cannot convert length"):
        Units().convert_units(1, "meter", "gram")
    with pytest.raises(ToolError, match="unknown unit 'parsec'"):
        Units().convert_units(1, "parsec", "meter")


def test_date_arithmetic():
    dates = Dates()
    assert dates.add_to_date("2024-01-31", 1, "months") == {
        "date": "2024-02-29",
        "weekday": "Thursday",
    }
    assert dates.add_to_date("2024-02-29", 1, "years")["date"] == "2025-02-28"
    assert dates.add_to_date("2024-03-01", -1, "days")["date"] == "2024-02-29"
    assert dates.add_to_date("2024-01-01", 2, "weeks")["date"] == "2024-01-15"
    assert dates.day_of_week("2026-12-08")["weekday"] == "Tuesday"
    assert dates.days_between("2024-01-01", "2025-01-01") == {"days": 366}
    assert dates.days_between("2024-01-10", "2024-01-01") == {"days": -9}
    with pytest.raises(ToolError, match="not an ISO date"):
        dates.day_of_week("08/12/2026")


def test_kv_store():
    kv = KVStore()
    assert kv.kv_set("colour", "blue") == {"key": "colour", "value": "blue", "replaced": False}
    assert kv.kv_set("colour", "red")["replaced"] is True
    kv.kv_set("city", "Oslo")
    assert kv.kv_get("colour")["value"] == "red"
    assert kv.kv_list() == {"keys": ["city", "colour"]}
    assert kv.kv_list("ci") == {"keys": ["city"]}
    kv.kv_delete("city")
    assert kv.state() == {"items": {"colour": "red"}}
    with pytest.raises(ToolError, match="no key 'city'"):
        kv.kv_get("city")


def test_calendar_refuses_overlaps_and_cancels_by_id():
    cal = Calendar()
    first = cal.add_event("standup", "2025-03-03", "09:00", 30)["added"]
    assert first["id"] == "evt-1"
    cal.add_event("review", "2025-03-03", "09:30", 60)  # starts when standup ends: no overlap
    with pytest.raises(ToolError, match="conflicts with evt-2 \\('review' at 09:30\\)"):
        cal.add_event("lunch", "2025-03-03", "10:00", 45)
    cal.add_event("lunch", "2025-03-04", "10:00", 45)
    assert [e["title"] for e in cal.list_events("2025-03-03")["events"]] == ["standup", "review"]
    assert cal.cancel_event("evt-1")["cancelled"]["title"] == "standup"
    assert [e["id"] for e in cal.list_events()["events"]] == ["evt-2", "evt-3"]
    with pytest.raises(ToolError, match="no event 'evt-1'"):
        cal.cancel_event("evt-1")
    with pytest.raises(ToolError, match="end the same day"):
        cal.add_event("night", "2025-03-05", "23:30", 60)


def test_cart_stock_prices_and_checkout():
    cart = Cart()
    cart.add_item("Notebook", 2)
    cart.add_item("pen", 1)
    assert cart.remove_item("pen") == {"product": "pen", "quantity_in_cart": 0}
    cart.add_item("desk lamp")
    view = cart.view_cart()
    assert view["total"] == 31.99 and [i["product"] for i in view["items"]] == [
        "desk lamp",
        "notebook",
    ]
    order = cart.checkout()
    assert (order["order_id"], order["total"]) == ("order-1", 31.99)
    state = cart.state()
    assert state["cart"] == {} and state["catalogue"]["notebook"]["stock"] == 38
    with pytest.raises(ToolError, match="the cart is empty"):
        cart.checkout()
    with pytest.raises(ToolError, match="only 5 headphones in stock, 6 requested"):
        cart.add_item("headphones", 6)
    with pytest.raises(ToolError, match="no product 'laptop'"):
        cart.add_item("laptop")


def test_notes():
    notes = Notes()
    notes.create_note("groceries", "milk")
    notes.append_note("groceries", "eggs")
    notes.create_note("ideas", "a garden with MILK thistle")
    assert notes.read_note("groceries")["content"] == "milk\neggs"
    assert notes.search_notes("milk") == {"titles": ["groceries", "ideas"]}
    with pytest.raises(ToolError, match="already exists"):
        notes.create_note("ideas", "x")
    notes.delete_note("ideas")
    assert notes.state() == {"notes": {"groceries": "milk\neggs"}}
    with pytest.raises(ToolError, match="no note titled 'ideas'"):
        notes.read_note("ideas")


def test_stateless_environments_have_no_state():
    assert Calculator().state() == Units().state() == Dates().state() == {}
