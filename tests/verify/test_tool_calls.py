"""Tool-call verification: registry and schema derivation, parsing, the three APIGen checks,
timeouts in both isolation modes, and the verify_tool_calls step on a realistic batch."""

from __future__ import annotations

import datetime
import json
import shutil
import time
from typing import Literal

import pytest

from synthpipe.errors import UsageError
from synthpipe.pipeline.step import StepContext
from synthpipe.tools import example_tools
from synthpipe.tools.calls import parse_tool_calls
from synthpipe.tools.registry import (
    BUNDLED_TOOLS,
    ToolRegistry,
    resolve_tools_path,
    schema_from_function,
)
from synthpipe.verify.tool_calls import (
    ToolCallError,
    ToolCallVerifier,
    ToolExecutor,
    VerifyToolCalls,
    compare_expected,
)

EXAMPLE = "bundled:example_tools.json"


def call_json(name: str, **arguments) -> str:
    """A call as a model writes it: one JSON object."""
    return json.dumps({"name": name, "arguments": arguments})


@pytest.fixture(scope="module")
def registry() -> ToolRegistry:
    return ToolRegistry.from_file(EXAMPLE)


@pytest.fixture(scope="module")
def verifier(registry):
    with ToolCallVerifier(registry, timeout_s=2) as checker:
        yield checker


# -- module-level tools: worker processes import them by name --------------------------------------
def spin(seconds: float) -> int:
    """Busy-loop in pure Python: only a process can be stopped while doing this."""
    end, count = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        count += 1
    return count


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


# -- registry --------------------------------------------------------------------------------------
def test_schema_derived_from_signature_and_docstring():
    tools = ToolRegistry()

    @tools.tool
    def book_table(
        restaurant: str,
        party_size: int,
        seating: Literal["indoor", "outdoor"] = "indoor",
        budget: float | None = None,
        tags: list[str] | None = None,
        limits: dict[str, int] | None = None,
        vip: bool = False,
    ) -> dict:
        """Book a table at a restaurant.

        Longer explanation that is not part of the description.

        Args:
            restaurant: name of the restaurant
            party_size (int): number of guests,
                children included
        """
        return {}

    tool = tools["book_table"]
    assert tool.function is book_table
    assert tool.description == "Book a table at a restaurant."
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "restaurant": {"type": "string", "description": "name of the restaurant"},
            "party_size": {"type": "integer", "description": "number of guests, children included"},
            "seating": {"enum": ["indoor", "outdoor"], "type": "string", "default": "indoor"},
            "budget": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None},
            "tags": {
                "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
                "default": None,
            },
            "limits": {
                "anyOf": [
                    {"type": "object", "additionalProperties": {"type": "integer"}},
                    {"type": "null"},
                ],
                "default": None,
            },
            "vip": {"type": "boolean", "default": False},
        },
        "required": ["restaurant", "party_size"],
        "additionalProperties": False,
    }
    assert tool.openai_schema()["type"] == "function"
    assert tools.schemas()[0]["function"]["name"] == "book_table"


def test_decorator_with_explicit_schema_and_name():
    tools = ToolRegistry()
    schema = {
        "type": "function",
        "function": {
            "description": "Sum.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
        },
    }
    tools.tool(add, name="sum_two", schema=schema)
    assert tools.names == ["sum_two"] and tools["sum_two"].function is add
    flat = {"type": "function", "name": "noop", "parameters": {"type": "object"}}  # Responses API
    tools.add_schema(flat)
    assert tools["noop"].openai_schema() == {
        "type": "function",
        "function": {"name": "noop", "description": "", "parameters": {"type": "object"}},
    }


def test_underivable_parameter_names_tool_and_parameter():
    from collections import OrderedDict

    def remind(when: datetime.datetime) -> None:
        """Remind me."""

    with pytest.raises(
        UsageError,
        match=r"tool 'remind': parameter 'when': no JSON schema for type .*datetime.*schema=",
    ):
        ToolRegistry().tool(remind)

    def tally(counts: OrderedDict) -> None:
        """Hint names a local import, which the module cannot resolve."""

    with pytest.raises(
        UsageError,
        match=r"tool 'tally': cannot resolve its type hints \(name 'OrderedDict' is not defined\)",
    ):
        ToolRegistry().tool(tally)


def test_bad_schemas_are_rejected_naming_the_tool():
    tools = ToolRegistry()
    with pytest.raises(
        UsageError,
        match=r"tool 'weather': invalid JSON schema at parameters.properties.unit.type: 'strng' is",
    ):
        tools.add_schema(
            {
                "name": "weather",
                "parameters": {"type": "object", "properties": {"unit": {"type": "strng"}}},
            }
        )
    with pytest.raises(
        UsageError, match=r"tool 'weather': unknown key 'parameter'; did you mean 'parameters'\?"
    ):
        tools.add_schema({"name": "weather", "parameter": {"type": "object"}})
    with pytest.raises(
        UsageError, match=r"tool 'weather': 'parameters' must be a schema of type 'object'"
    ):
        tools.add_schema({"name": "weather", "parameters": {"type": "array"}})
    with pytest.raises(UsageError, match="no valid 'name'"):
        tools.add_schema({"name": "get weather!", "parameters": {"type": "object"}})
    with pytest.raises(UsageError, match=r"tool 'sum': implementation add has no parameter\(s\) c"):
        tools.add_schema(
            {
                "name": "sum",
                "parameters": {"type": "object", "properties": {"a": {}, "b": {}, "c": {}}},
            },
            function=add,
        )
    with pytest.raises(
        UsageError,
        match=r"tool 'sum': implementation add needs b, which the schema does not define",
    ):
        tools.add_schema(
            {"name": "sum", "parameters": {"type": "object", "properties": {"a": {}}}}, function=add
        )
    tools.add_schema({"name": "sum", "parameters": {"type": "object"}})
    with pytest.raises(UsageError, match="registered twice"):
        tools.add_schema({"name": "sum"})


def test_registry_file_with_invalid_schema_names_the_tool(tmp_path):
    path = tmp_path / "tools.json"
    good = {"type": "function", "function": {"name": "ok", "parameters": {"type": "object"}}}
    bad = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"days": {"type": "integer", "minimum": "one"}},
            },
        },
    }
    path.write_text(json.dumps([good, bad]))
    with pytest.raises(UsageError) as info:
        ToolRegistry.from_file(path)
    assert str(info.value) == (
        f"{path}: tools[1]: tool 'get_weather': invalid JSON schema at "
        "parameters.properties.days.minimum: 'one' is not of type 'number'"
    )


def test_yaml_file_with_module_attr_implementations(tmp_path, monkeypatch):
    (tmp_path / "my_tools.py").write_text(
        "def _shout(text):\n    return text.upper()\n\nTOOLS = {'shout': _shout}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "tools.yaml"
    path.write_text(
        "tools:\n  - name: shout\n    description: Upper-case a text.\n    parameters:\n"
        "      type: object\n      properties: {text: {type: string}}\n      required: [text]\n"
    )
    tools = ToolRegistry.from_file(path, implementations="my_tools:TOOLS")
    assert (
        ToolCallVerifier(tools)
        .verify('{"name": "shout", "arguments": {"text": "hi"}}')
        .calls[0]
        .result
        == "HI"
    )
    assert ToolRegistry.from_file(path)["shout"].function is None  # schema only: validate-only
    with pytest.raises(UsageError, match=r"my_tools implements no function for tool\(s\) shout"):
        ToolRegistry.from_file(path, implementations="my_tools")
    with pytest.raises(UsageError, match="cannot import tool implementations 'no_such_mod'"):
        ToolRegistry.from_file(path, implementations="no_such_mod")


def test_bundled_paths():
    assert resolve_tools_path(EXAMPLE) == BUNDLED_TOOLS / "example_tools.json"
    with pytest.raises(
        UsageError,
        match=r"no bundled tool library 'nope.json'; bundled ones are: bundled:example_tools.json",
    ):
        resolve_tools_path("bundled:nope.json")


def test_example_library_schemas_agree_with_implementations(registry):
    assert len(registry) == 6
    for tool in registry:
        derived = schema_from_function(getattr(example_tools, tool.name))["parameters"]
        assert set(derived["properties"]) == set(tool.parameters["properties"]), tool.name
        assert derived["required"] == tool.parameters["required"], tool.name
        for name, prop in tool.parameters["properties"].items():
            assert prop.get("enum") == derived["properties"][name].get("enum"), (tool.name, name)


def test_calculator_is_safe():
    assert example_tools.calculate("(3 + 4) * 2.5 - sqrt(16) / 2") == 15.5
    for expression in ("__import__('os').system('true')", "(1).__class__", "[1, 2]", "9**9**9"):
        with pytest.raises(ValueError):
            example_tools.calculate(expression)


# -- parsing ---------------------------------------------------------------------------------------
WEATHER = {"name": "get_capital", "arguments": {"country": "Japan"}}
SHAPES = {
    "openai_tool_calls": [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_capital", "arguments": '{"country": "Japan"}'},
        }
    ],
    "openai_message": {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "type": "function",
                "function": {"name": "get_capital", "arguments": {"country": "Japan"}},
            }
        ],
    },
    "object": WEATHER,
    "object_text": json.dumps(WEATHER),
    "list_text": json.dumps([WEATHER]),
    "parameters_key": '{"name": "get_capital", "parameters": {"country": "Japan"}}',
    "hermes_tags": f"I'll look that up.\n<tool_call>\n{json.dumps(WEATHER)}\n</tool_call>",
    "fenced_json": f"Here is the call:\n```json\n{json.dumps(WEATHER, indent=2)}\n```\nDone.",
    "prose_then_json": f"Sure! Calling the tool: {json.dumps(WEATHER)}",
}


@pytest.mark.parametrize("shape", SHAPES)
def test_parse_shapes(shape):
    calls = parse_tool_calls(SHAPES[shape])
    assert [(c["name"], c["arguments"]) for c in calls] == [("get_capital", {"country": "Japan"})]


def test_parse_several_calls():
    tags = '<tool_call>{"name": "a", "arguments": {}}</tool_call>\n<tool_call>{"name": "b"}'
    assert [c["name"] for c in parse_tool_calls(tags)] == ["a", "b"]
    lines = '{"name": "a", "arguments": {"x": 1}}\n{"name": "b", "arguments": {"y": 2}}'
    assert [(c["name"], c["arguments"]) for c in parse_tool_calls(lines)] == [
        ("a", {"x": 1}),
        ("b", {"y": 2}),
    ]
    fences = '```json\n{"name": "a"}\n```\nthen\n```json\n[{"name": "b"}, {"name": "c"}]\n```'
    assert [c["name"] for c in parse_tool_calls(fences)] == ["a", "b", "c"]
    with pytest.raises(ToolCallError) as info:
        parse_tool_calls(42)
    assert (info.value.reason, info.value.message) == (
        "malformed_call",
        "expected text or JSON calls, got int",
    )


FAILURES = [
    ("I'm sorry, I can't help with that.", "no_calls", "the output holds no tool call"),
    ([], "no_calls", "the output holds no tool call"),
    (
        '{"name": "get_capital", "arguments": {"country": "Japan"',
        "invalid_json",
        "invalid JSON at line 1, column 57 (char 56): Expecting ',' delimiter",
    ),
    (
        "<tool_call>\n{'name': 'get_capital'}\n</tool_call>",
        "invalid_json",
        "<tool_call> block 1: invalid JSON at line 2, column 2 (char 2): "
        "Expecting property name enclosed in double quotes",
    ),
    (
        [
            {
                "type": "function",
                "function": {"name": "calculate", "arguments": '{"expression": 2+2}'},
            }
        ],
        "invalid_json",
        "call 1 (calculate): arguments: invalid JSON at line 1, column 17 (char 16): "
        "Expecting ',' delimiter",
    ),
    (
        '[{"arguments": {"country": "Japan"}}]',
        "malformed_call",
        "call 1: no tool name (expected a string 'name')",
    ),
    (
        '{"name": "get_capitol", "arguments": {"country": "Japan"}}',
        "unknown_tool",
        "call 1: unknown tool 'get_capitol'; did you mean 'get_capital'?",
    ),
    (
        '{"name": "send_email", "arguments": {}}',
        "unknown_tool",
        "call 1: unknown tool 'send_email'; known tools: convert_units, calculate, days_between, "
        "count_words, reverse_text, get_capital",
    ),
    (
        call_json("convert_units", value=3, from_unit="celsius", to_unit="rankine"),
        "schema_violation",
        "call 1 (convert_units): arguments.to_unit: 'rankine' is not one of "
        "['millimeter', 'centimeter', 'meter', 'kilometer', 'inch', 'foot', 'yard', 'mile', "
        "'gram', 'kilogram', 'ounce', 'pound', 'celsius', 'fahrenheit', 'kelvin']",
    ),
    (
        call_json("convert_units", value="3", from_unit="meter", to_unit="foot"),
        "schema_violation",
        "call 1 (convert_units): arguments.value: '3' is not of type 'number'",
    ),
    (
        '{"name": "get_capital", "arguments": {"country": "Japan", "lang": "en"}}',
        "schema_violation",
        "call 1 (get_capital): arguments: Additional properties are not allowed "
        "('lang' was unexpected)",
    ),
    (
        call_json("days_between", start_date="2024-02-30", end_date="2024-03-01"),
        "schema_violation",
        "call 1 (days_between): arguments.start_date: '2024-02-30' is not a 'date'",
    ),
    (
        '{"name": "get_capital", "arguments": "Japan"}',
        "invalid_json",
        "call 1 (get_capital): arguments: invalid JSON at line 1, column 1 (char 0): "
        "Expecting value",
    ),
    (
        '[{"name": "calculate", "arguments": {"expression": "1+1"}}, {"name": "days_between", '
        '"arguments": {"start_date": "2024-01-01", "unit": "days"}}]',
        "missing_required",
        "call 2 (days_between): arguments: 'end_date' is a required property (and 1 more)",
    ),
]


@pytest.mark.parametrize(("output", "reason", "message"), FAILURES)
def test_format_failures_are_precise(verifier, output, reason, message):
    verdict = verifier.verify(output)
    assert (verdict.passed, verdict.stage, verdict.reason, verdict.message) == (
        False,
        "format",
        reason,
        message,
    )
    assert verdict.checks == {"format": "failed", "execution": "skipped", "semantic": "skipped"}


def test_only_the_failing_call_carries_the_error(verifier):
    output = [
        {"name": "calculate", "arguments": {"expression": "1+1"}},
        {"name": "count_words", "arguments": {"txt": "a b"}},
    ]
    calls = verifier.verify(output).to_dict()["calls"]
    assert calls[0] == {"name": "calculate", "arguments": {"expression": "1+1"}}
    assert calls[1]["error"]["reason"] == "missing_required"


# -- execution -------------------------------------------------------------------------------------
def test_execution_success_records_results(verifier):
    first = call_json("convert_units", value=212, from_unit="fahrenheit", to_unit="celsius")
    second = call_json("reverse_text", text="one two three", unit="words")
    output = f"<tool_call>{first}</tool_call>\n<tool_call>{second}</tool_call>"
    verdict = verifier.verify(output)
    assert verdict.passed and verdict.stage == "ok"
    assert verdict.checks == {"format": "passed", "execution": "passed", "semantic": "skipped"}
    results = [c["result"] for c in verdict.to_dict()["calls"]]
    assert results[0] == pytest.approx(100.0) and results[1] == "three two one"


@pytest.mark.parametrize(
    ("output", "reason", "message"),
    [
        (
            '{"name": "get_capital", "arguments": {"country": "Atlantis"}}',
            "execution_error",
            "call 1 (get_capital): KeyError: unknown country 'Atlantis'",
        ),
        (
            '{"name": "calculate", "arguments": {"expression": "1 / (2 - 2)"}}',
            "execution_error",
            "call 1 (calculate): ZeroDivisionError: division by zero",
        ),
        (
            call_json("convert_units", value=1, from_unit="pound", to_unit="meter"),
            "execution_error",
            "call 1 (convert_units): ValueError: cannot convert pound to meter: "
            "different quantities",
        ),
    ],
)
def test_execution_errors(verifier, output, reason, message):
    verdict = verifier.verify(output)
    assert (verdict.stage, verdict.reason, verdict.message) == ("execution", reason, message)


def test_non_serialisable_results():
    tools = ToolRegistry()

    @tools.tool
    def tags(text: str) -> set:
        """Distinct words."""
        return set(text.split())

    @tools.tool
    def ratio(a: float, b: float) -> float:
        """a / b, NaN when undefined."""
        return a / b if b else float("nan")

    verdict = ToolCallVerifier(tools).verify('{"name": "tags", "arguments": {"text": "a b"}}')
    assert verdict.reason == "non_serialisable_result"
    assert verdict.message.startswith(
        "call 1 (tags): result of type set is not JSON: Object of type set"
    )
    assert (
        ToolCallVerifier(tools).verify('{"name": "ratio", "arguments": {"a": 1, "b": 0}}').reason
        == "non_serialisable_result"
    )


def test_execute_needs_implementations():
    schema_only = ToolRegistry([{"name": "lookup", "parameters": {"type": "object"}}])
    with pytest.raises(UsageError, match=r"tool\(s\) lookup have no implementation"):
        ToolCallVerifier(schema_only)
    verdict = ToolCallVerifier(schema_only, execute=False).verify(
        '{"name": "lookup", "arguments": {}}'
    )
    assert verdict.passed and verdict.checks == {
        "format": "passed",
        "execution": "skipped",
        "semantic": "skipped",
    }


def test_thread_timeout():
    tools = ToolRegistry()
    tools.tool(spin)
    checker = ToolCallVerifier(tools, timeout_s=0.2)
    start = time.monotonic()
    verdict = checker.verify('{"name": "spin", "arguments": {"seconds": 1.5}}')
    assert time.monotonic() - start < 1.0  # did not wait for the function
    assert (verdict.stage, verdict.reason, verdict.message) == (
        "execution",
        "timeout",
        "call 1 (spin): no result within 0.2 s",
    )
    assert checker.verify('{"name": "spin", "arguments": {"seconds": 0.01}}').passed


def test_process_isolation_kills_runaway_calls():
    tools = ToolRegistry()
    tools.tool(spin)
    tools.tool(add)
    with ToolCallVerifier(tools, timeout_s=0.5, isolation="process") as checker:
        assert checker.verify('{"name": "add", "arguments": {"a": 2, "b": 3}}', expected=5).passed
        workers = list(checker.executor._pool._pool)
        verdict = checker.verify('{"name": "spin", "arguments": {"seconds": 60}}')
        assert (verdict.reason, verdict.message) == (
            "timeout",
            "call 1 (spin): no result within 0.5 s",
        )
        for worker in workers:
            worker.join(5)
        assert not any(worker.is_alive() for worker in workers)  # killed, not abandoned
        verdict = checker.verify('{"name": "add", "arguments": {"a": 2, "b": 3}}')  # a fresh pool
        assert verdict.passed and verdict.calls[0].result == 5


def test_process_isolation_needs_picklable_functions():
    tools = ToolRegistry()
    tools.add_schema(
        {"name": "double", "parameters": {"type": "object", "properties": {"x": {}}}},
        function=lambda x: 2 * x,
    )
    with pytest.raises(
        UsageError,
        match="isolation='process' needs importable module-level functions; tool 'double'",
    ):
        ToolCallVerifier(tools, isolation="process")


def test_executor_rejects_unknown_isolation():
    with pytest.raises(UsageError, match="isolation must be"):
        ToolExecutor(isolation="docker")


# -- semantics -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expected", "results", "ok"),
    [
        (37.77777778, [37.77777777777778], True),
        (37.78, [37.77777777777778], False),
        ("42", [42], True),
        (42, ["42.0"], True),
        (True, [1], False),
        ("Paris", ["  paris. "], True),
        ("New  Delhi", ["new delhi"], True),
        ("Brasília", ["Brasilia"], False),
        ({"capital": "Tokyo"}, [{"country": "Japan", "capital": "tokyo"}], True),
        ({"capital": "Tokyo"}, [{"country": "Japan"}], False),
        ([14, "cba"], [14.0, "CBA"], True),
        ([14, "cba"], [14], False),
    ],
)
def test_compare_expected(expected, results, ok):
    assert compare_expected(expected, results)[0] is ok


def test_compare_expected_messages_and_tolerance():
    assert compare_expected(37.78, [37.7778]) == (False, "result: expected 37.78, got 37.7778")
    assert compare_expected(37.78, [37.7778], rel_tol=1e-3)[0]
    assert compare_expected({"capital": "Kyoto"}, [{"capital": "Tokyo"}]) == (
        False,
        'result.capital: expected "Kyoto", got "Tokyo"',
    )


def test_semantic_stage(registry):
    call = '{"name": "get_capital", "arguments": {"country": "Japan"}}'
    with ToolCallVerifier(registry) as checker:
        assert checker.verify(call, expected={"capital": "Tokyo"}).checks["semantic"] == "passed"
        verdict = checker.verify(call, expected={"capital": "Kyoto"})
        assert (verdict.passed, verdict.stage, verdict.reason) == (
            False,
            "semantic",
            "semantic_mismatch",
        )
        assert verdict.calls[0].result == {"country": "Japan", "capital": "Tokyo"}

    seen = []

    def asks_for_japan(query, calls, results):
        seen.append((query, calls, results))
        ok = calls[0]["arguments"]["country"].lower() in query.lower()
        return ok, "country named in the query" if ok else "the call asks about another country"

    with ToolCallVerifier(registry, semantic_check=asks_for_japan) as checker:
        verdict = checker.verify(call, query="What is the capital of France?")
        assert (verdict.reason, verdict.message) == (
            "semantic_mismatch",
            "the call asks about another country",
        )
        assert seen[0][1:] == (
            [{"name": "get_capital", "arguments": {"country": "Japan"}}],
            [{"country": "Japan", "capital": "Tokyo"}],
        )
        both = checker.verify(call, query="Capital of Japan?", expected={"capital": "Tokyo"})
        assert (
            both.passed
            and both.message == "matches the expected result; country named in the query"
        )


# -- the step --------------------------------------------------------------------------------------
def _openai(name: str, arguments: str) -> list[dict]:
    return [
        {"id": "call_0", "type": "function", "function": {"name": name, "arguments": arguments}}
    ]


BATCH = [
    {
        "id": "ok_capital",
        "query": "What is the capital of Kenya?",
        "tool_calls": f"<tool_call>\n{call_json('get_capital', country='Kenya')}\n</tool_call>",
        "expected_result": {"capital": "Nairobi"},
    },
    {
        "id": "ok_convert",
        "query": "How many kilometres is a marathon of 26.2 miles?",
        "tool_calls": _openai(
            "convert_units", '{"value": 26.2, "from_unit": "mile", "to_unit": "kilometer"}'
        ),
        "expected_result": 42.1648128,
    },
    {
        "id": "ok_days",
        "query": "How many days from 1 March 2024 to 1 January 2025?",
        "tool_calls": '```json\n{"name": "days_between", "arguments": {"start_date": "2024-03-01", '
        '"end_date": "2025-01-01"}}\n```',
        "expected_result": "306",
    },
    {
        "id": "ok_parallel",
        "query": "Count the words in 'the quick brown fox' and reverse 'stressed'.",
        "tool_calls": '[{"name": "count_words", "arguments": {"text": "the quick brown fox"}}, '
        '{"name": "reverse_text", "arguments": {"text": "stressed"}}]',
        "expected_result": [4, "desserts"],
    },
    {
        "id": "ok_no_expected",
        "query": "What is 17% of 240?",
        "tool_calls": '{"name": "calculate", "arguments": {"expression": "0.17 * 240"}}',
    },
    {
        "id": "bad_json",
        "query": "Capital of Peru?",
        "tool_calls": '{"name": "get_capital", "arguments": {"country": "Peru"}',
    },
    {
        "id": "bad_tool",
        "query": "What's the weather in Oslo?",
        "tool_calls": '{"name": "get_weather", "arguments": {"city": "Oslo"}}',
    },
    {
        "id": "bad_enum",
        "query": "Convert 300 kelvin to rankine.",
        "tool_calls": _openai(
            "convert_units", '{"value": 300, "from_unit": "kelvin", "to_unit": "rankine"}'
        ),
    },
    {
        "id": "bad_missing",
        "query": "How long until 2025-12-25?",
        "tool_calls": '{"name": "days_between", "arguments": {"end_date": "2025-12-25"}}',
    },
    {
        "id": "bad_exec",
        "query": "What is the capital of Atlantis?",
        "tool_calls": '{"name": "get_capital", "arguments": {"country": "Atlantis"}}',
    },
    {
        "id": "bad_semantic",
        "query": "What is 12 times 12?",
        "tool_calls": '{"name": "calculate", "arguments": {"expression": "12 + 12"}}',
        "expected_result": 144,
    },
    {
        "id": "bad_none",
        "query": "Tell me a joke.",
        "tool_calls": "Why did the chicken cross the road?",
    },
    {"id": "bad_field_missing", "query": "Reverse 'abc'."},
]
REASONS = {
    "bad_json": "invalid_json",
    "bad_tool": "unknown_tool",
    "bad_enum": "schema_violation",
    "bad_missing": "missing_required",
    "bad_exec": "execution_error",
    "bad_semantic": "semantic_mismatch",
    "bad_none": "no_calls",
    "bad_field_missing": "no_calls",
}


def test_step_end_to_end():
    step = VerifyToolCalls(tools=EXAMPLE)
    out = step.process(json.loads(json.dumps(BATCH)), StepContext(name="verify"))
    dropped = {r["id"]: r["_drop"]["reason"] for r in out if r.get("_drop")}
    assert dropped == REASONS
    assert all(r["_drop"]["step"] == "verify" for r in out if r.get("_drop"))
    kept = {r["id"]: r["verification"] for r in out if not r.get("_drop")}
    assert set(kept) == {"ok_capital", "ok_convert", "ok_days", "ok_parallel", "ok_no_expected"}
    assert all(v["passed"] and v["stage"] == "ok" for v in kept.values())
    assert kept["ok_capital"]["checks"]["semantic"] == "passed"
    assert kept["ok_no_expected"]["checks"]["semantic"] == "skipped"
    assert kept["ok_no_expected"]["calls"] == [
        {
            "name": "calculate",
            "arguments": {"expression": "0.17 * 240"},
            "result": pytest.approx(40.8),
        }
    ]
    semantic = next(r for r in out if r["id"] == "bad_semantic")
    assert semantic["_drop"]["detail"] == "result: expected 144, got 24"
    assert semantic["verification"]["stage"] == "semantic"
    assert json.loads(json.dumps(out)) == out  # records stay JSON


def test_step_config_without_execution_or_expected():
    step = VerifyToolCalls(tools=EXAMPLE, execute=False, expected_field=None, result_field="tc")
    out = step.process(json.loads(json.dumps(BATCH)), StepContext(name="verify"))
    dropped = {r["id"] for r in out if r.get("_drop")}
    assert dropped == {
        "bad_json",
        "bad_tool",
        "bad_enum",
        "bad_missing",
        "bad_none",
        "bad_field_missing",
    }
    assert next(r for r in out if r["id"] == "bad_exec")["tc"]["checks"]["execution"] == "skipped"


def test_step_semantic_check_from_config(tmp_path, monkeypatch):
    (tmp_path / "judge.py").write_text(
        "def same_number(query, calls, results):\n"
        "    return str(int(results[0])) in query, 'result appears in the query'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    step = VerifyToolCalls(tools=EXAMPLE, semantic_check="judge:same_number", expected_field=None)
    batch = [
        {
            "id": "a",
            "query": "Is 144 = 12*12?",
            "tool_calls": '{"name": "calculate", "arguments": {"expression": "12*12"}}',
        },
        {
            "id": "b",
            "query": "Is 144 = 12+12?",
            "tool_calls": '{"name": "calculate", "arguments": {"expression": "12+12"}}',
        },
    ]
    out = step.process(batch, StepContext(name="v"))
    assert [r.get("_drop") for r in out] == [
        None,
        {"step": "v", "reason": "semantic_mismatch", "detail": "result appears in the query"},
    ]
    assert tmp_path / "judge.py" in step.input_files()


def test_step_config_errors():
    with pytest.raises(ValueError):
        VerifyToolCalls(tools=EXAMPLE, timeout_s=0)
    with pytest.raises(ValueError):
        VerifyToolCalls(tools=EXAMPLE, isolation="docker")
    with pytest.raises(UsageError, match="no bundled tool library"):
        VerifyToolCalls(tools="bundled:missing.json").process([], StepContext(name="v"))


def test_fingerprint_follows_registry_file(tmp_path):
    path = tmp_path / "tools.json"
    shutil.copy(BUNDLED_TOOLS / "example_tools.json", path)
    step = VerifyToolCalls(tools=str(path))
    assert step.input_files()[0] == path
    assert step.input_files()[1].name == "example_tools.py"  # the implementations count too
    before = step.fingerprint()
    assert VerifyToolCalls(tools=str(path)).fingerprint() == before
    data = json.loads(path.read_text())
    data["tools"][1]["function"]["parameters"]["properties"]["expression"]["maxLength"] = 50
    path.write_text(json.dumps(data))
    assert step.fingerprint() != before


def test_step_in_a_pipeline_run(tmp_path):
    from synthpipe.pipeline.sources import FromRecords
    from synthpipe.run.api import Pipeline

    steps = {
        "seed": FromRecords(records=BATCH),
        "verify": VerifyToolCalls(tools=EXAMPLE, timeout_s=2),
    }
    result = Pipeline("tool_calls", steps).run(tmp_path / "run")
    assert sorted(r["id"] for r in result.kept) == [
        "ok_capital",
        "ok_convert",
        "ok_days",
        "ok_no_expected",
        "ok_parallel",
    ]
    assert {r["id"]: r["_drop"]["reason"] for r in result.dropped} == REASONS
