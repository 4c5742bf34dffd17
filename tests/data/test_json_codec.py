"""The record JSON codec gives the values (and errors) of the standard library's json, with
orjson doing the work where the two agree; JSONL files keep what they held."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthpipe.data import json_codec
from synthpipe.data.readers import read_all
from synthpipe.data.writers import write_records

# Values JSON text can hold, including those orjson reads or writes differently from json:
# integers beyond 64 bits, NaN and infinities, deep nesting.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([2.0**63, -(2.0**63), 1e-5, 1e16, 1e300, -0.0, 5e-324])
    | st.text()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


def same(a: Any, b: Any) -> bool:
    """Equal, type for type (an int is no float), NaN equal to NaN, -0.0 not 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    return a == b


def outcome(parse, text: str | bytes) -> Any:
    try:
        return ("value", parse(text))
    except (ValueError, RecursionError) as e:
        return ("error", type(e).__name__, str(e))


def same_outcome(text: str | bytes) -> bool:
    want, got = outcome(json.loads, text), outcome(json_codec.loads, text)
    return want[0] == got[0] and (same(want[1], got[1]) if want[0] == "value" else want == got)


@settings(max_examples=300, deadline=None)
@given(value=VALUES, ascii_only=st.booleans())
def test_loads_reads_what_json_reads(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert same_outcome(text)
    assert same_outcome(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list('{}[]",:0123456789.eE+-tfnrulas \\\t\n') + ["\ud800"])
    )
)
def test_loads_fails_as_json_fails(text: str) -> None:
    assert same_outcome(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"n": 123456789012345678901234567890}',  # orjson alone would read a float
        '{"n": -9223372036854775809}',
        '{"n": 18446744073709551615}',
        '{"x": NaN, "y": Infinity, "z": -Infinity}',  # orjson alone refuses these
        '{"x": 1e400}',
        '{"x": "\\ud800"}',
        '{"a": 1, "a": 2}',
        "[" * 300 + "]" * 300,
        "[" * 2000 + "]" * 2000,
        '{"x": 1} x',
        "\ufeff{}",
    ],
)
def test_loads_edge_cases(text: str) -> None:
    assert same_outcome(text)


@settings(max_examples=300, deadline=None)
@given(value=VALUES)
def test_dumps_writes_what_json_writes(value: Any) -> None:
    try:
        want = json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 file can hold it, before or now
        with pytest.raises(UnicodeEncodeError):
            json_codec.dumps(value)
        return
    got = json_codec.dumps(value)
    assert same(json.loads(got), json.loads(want))
    if not _has_float(value):  # floats may be spelled differently (1e-05 / 0.00001)
        assert got == json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int


class Money(float):
    pass


def default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return list(value) if isinstance(value, set) else str(value)


@pytest.mark.parametrize(
    "value",
    [
        {"nan": float("nan"), "inf": [float("inf"), -math.inf]},
        {"np": np.float32(1.5), "arr": np.array([1.0, np.nan]), "i": np.int64(3)},
        {"big": 2**70, "keys": {1: "a", None: "b", False: "c", 2.5: "d"}},
        {"enum": Colour.RED, "point": Point(1), "when": datetime.datetime(2024, 1, 2, 3, 4, 5)},
        {"sub": Money(2.5), "set": {3}, "tuple": (1, "a")},
        {"deep": json.loads("[" * 300 + "]" * 300)},  # deeper than orjson writes
    ],
)
def test_dumps_non_json_values_as_json_did(value: Any) -> None:
    want = json.loads(json.dumps(value, ensure_ascii=False, default=default))
    assert same(json.loads(json_codec.dumps(value, default)), want)


def test_jsonl_round_trip_keeps_values_orjson_would_change(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"id": "a", "text": "big", "n": 123456789012345678901234567890, "x": NaN}\n'
        '{"id": "b", "text": "plain", "meta": {"k": [1, 2.5, "é"]}}\n',
        encoding="utf-8",
    )
    records = read_all(path)
    assert records[0]["n"] == 123456789012345678901234567890 and type(records[0]["n"]) is int
    assert math.isnan(records[0]["x"])
    write_records(records, tmp_path / "out.jsonl")
    back = read_all(tmp_path / "out.jsonl")
    assert same([{k: v for k, v in r.items() if k != "_lineage"} for r in back],
                [{k: v for k, v in r.items() if k != "_lineage"} for r in records])  # fmt: skip
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith(
        '{"id":"b","text":"plain","meta":{"k":[1,2.5,"é"]}'
    )  # compact, UTF-8


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(map(_has_float, value.values()))
    if isinstance(value, list):
        return any(map(_has_float, value))
    return False
