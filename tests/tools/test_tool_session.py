"""ToolSession: each trajectory gets its own state, calls are validated, and a tool that
raises, hangs or kills its process fails that one call with the right kind."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any

import pytest

from synthpipe.errors import UsageError
from synthpipe.tools.environments.base import Environment, tool
from synthpipe.tools.session import ToolSession, environments, register_environment


class Hostile(Environment):
    """Module-level so the worker process can import it."""

    name = "hostile"
    stateful = True

    def default_state(self) -> dict[str, Any]:
        return {"calls": 0}

    @tool
    def count(self) -> int:
        """Count calls."""
        self.data["calls"] += 1
        return self.data["calls"]

    @tool
    def hang(self, seconds: float) -> None:
        """Busy-loop: only killing the process stops it."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass

    @tool
    def explode(self) -> None:
        """Raise after changing the state: the change must not stick."""
        self.data["calls"] = 99
        raise RuntimeError("the tool broke")

    @tool
    def die(self) -> None:
        """End the worker process abruptly."""
        os._exit(3)


register_environment("hostile", Hostile)


def test_bundled_environments_are_registered():
    assert {"calculator", "units", "dates", "kv_store", "calendar", "cart", "notes"} <= set(
        environments()
    )


def test_schemas_are_in_the_openai_format():
    schemas = ToolSession(["calculator", "notes"]).schemas()
    names = [s["function"]["name"] for s in schemas]
    assert names[0] == "calculate" and "search_notes" in names
    first = schemas[0]
    assert first["type"] == "function"
    assert first["function"]["parameters"]["required"] == ["expression"]
    assert first["function"]["description"].startswith("Evaluate an arithmetic expression")


def test_sessions_do_not_share_state():
    with ToolSession("cart") as one, ToolSession("cart") as two:
        assert one.call("add_item", {"product": "pen", "quantity": 3}).ok
        assert one.state()["cart"]["cart"] == {"pen": 3}
        assert two.state()["cart"]["cart"] == {}
        assert json.loads(two.call("view_cart", {}).content) == {"items": [], "total": 0.0}


def test_initial_state_is_used_and_copied():
    initial = {"notes": {"notes": {"todo": "milk"}}}
    with ToolSession("notes", initial_state=initial) as session:
        assert json.loads(session.call("read_note", {"title": "todo"}).content)["content"] == "milk"
        session.call("append_note", {"title": "todo", "text": "eggs"})
        assert session.state() == {"notes": {"notes": {"todo": "milk\neggs"}}}
    assert initial == {"notes": {"notes": {"todo": "milk"}}}
    with pytest.raises(UsageError, match="not in the session"):
        ToolSession("notes", initial_state={"cart": {}})


def test_unknown_tool_names_close_matches():
    result = ToolSession("calculator").call("calculat", {"expression": "1"})
    assert (result.ok, result.kind) == (False, "unknown_tool")
    assert "did you mean 'calculate'?" in result.error
    assert json.loads(result.content) == {"error": result.error}


def test_bad_arguments_carry_the_schema_message():
    session = ToolSession("cart")
    wrong_type = session.call("add_item", {"product": "pen", "quantity": "two"})
    assert wrong_type.kind == "bad_arguments"
    assert wrong_type.error == "add_item: arguments.quantity: 'two' is not of type 'integer'"
    assert session.call("add_item", {}).error == (
        "add_item: arguments: 'product' is a required property"
    )
    assert session.call("add_item", {"product": "pen", "colour": "red"}).kind == "bad_arguments"
    assert session.call("add_item", "{not json").kind == "bad_arguments"


def test_a_raising_tool_is_a_tool_error_and_leaves_the_state_alone():
    with ToolSession("hostile") as session:
        assert session.call("count").content == "1"
        result = session.call("explode")
        assert (result.kind, result.error) == ("tool_error", "the tool broke")
        assert session.state() == {"hostile": {"calls": 1}}


def test_a_hanging_tool_times_out_and_the_next_call_works():
    with ToolSession("hostile", timeout_s=0.5) as session:
        session.call("count")
        start = time.monotonic()
        result = session.call("hang", {"seconds": 30})
        assert result.kind == "timeout" and "0.5 s" in result.error
        assert time.monotonic() - start < 5
        assert session.call("count").content == "2"  # state kept, a fresh worker runs it


def test_a_tool_that_kills_its_process_fails_one_call():
    with ToolSession("hostile") as session:
        result = session.call("die")
        assert (result.kind, result.error) == ("tool_error", "die: the tool's process died")
        assert session.call("count").ok


def test_sessions_in_threads_are_not_timed_out_by_a_neighbour_that_hangs():
    from concurrent.futures import ThreadPoolExecutor

    def quick(n: int) -> list[str]:
        with ToolSession("hostile", timeout_s=1.0) as session:
            return [session.call("count").kind for _ in range(n)]

    def hang() -> str:
        return ToolSession("hostile", timeout_s=1.0).call("hang", {"seconds": 30}).kind

    with ThreadPoolExecutor(4) as threads:
        hung = threads.submit(hang)
        others = [threads.submit(quick, 50) for _ in range(3)]
        assert hung.result() == "timeout"
        assert [Counter(f.result()) for f in others] == [Counter(ok=50)] * 3


def test_environment_names_are_checked():
    with pytest.raises(UsageError, match="unknown tool environment 'shop'; known: .*cart"):
        ToolSession("shop")
    with pytest.raises(UsageError, match="'hostile' is registered twice"):
        register_environment("hostile", type("Other", (Hostile,), {}))
    with pytest.raises(UsageError, match="tool 'count' is in both 'hostile' and 'hostile'"):
        ToolSession(["hostile", "hostile"])
