"""JSON for records: orjson's speed with the standard library's results.

orjson parses and writes JSON 3-15x faster than `json`, but it differs on a few values, which
would change records silently: it reads integers beyond 64 bits as floats, writes NaN and
infinities as null, writes numpy values, enums, dataclasses and float subclasses its own way,
and refuses what `json` accepts (NaN literals, non-string keys, integers beyond 64 bits,
deep nesting). So orjson handles the plain values that both agree on, checked by one cheap
walk, and everything else takes `json` exactly as before: the values that come out are
always those of `json.loads` / `json.dumps`.

The bytes written differ from `json.dumps` in layout only: no space after ``,`` and ``:``
(what most JSONL writers emit), and floats in orjson's shortest form (``1e-05`` becomes
``0.00001``); every value reads back the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

# Floats at or beyond 2**63 may be integers orjson widened to float; json reads those as int.
_FLOAT_LIMIT = float(2**63)
# orjson reads up to 1024 levels and writes up to 254, json stops near 1000 (the recursion
# limit): a value nested deeper than this goes to json, which decides as it always did.
_MAX_DEPTH = 250


def is_plain(value: Any) -> bool:
    """True if `value` is made of dicts, lists, tuples, strings, ints, bools, None and finite
    floats below 2**63 in magnitude only (exact types, no subclass), nested at most 250 deep:
    the values orjson reads and writes exactly as `json` does."""
    try:
        return _plain(value, 0)
    except RecursionError:  # the caller's stack was nearly full: json will say so
        return False


def _plain(value: Any, depth: int) -> bool:
    # Type identity checks, most frequent first: this walk runs once per record.
    kind = type(value)
    if kind is dict or kind is list or kind is tuple:
        if depth >= _MAX_DEPTH:
            return False
        for item in value.values() if kind is dict else value:
            kind = type(item)
            if kind is str or kind is int or item is None or kind is bool:
                continue
            if kind is float:
                if not -_FLOAT_LIMIT < item < _FLOAT_LIMIT:  # NaN fails this too
                    return False
            elif not _plain(item, depth + 1):
                return False
        return True
    if kind is str or kind is int or value is None or kind is bool:
        return True
    return kind is float and -_FLOAT_LIMIT < value < _FLOAT_LIMIT


def loads(data: bytes | str) -> Any:
    """`json.loads(data)`: the same value, or the same exception."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        pass  # json decides: it may accept it (NaN, 1e400) and words its own error
    else:
        if is_plain(value):
            return value
    return json.loads(data)


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """`value` as compact UTF-8 JSON (non-ASCII as is), read back as `json.dumps` would have
    written it; `default` converts what JSON cannot hold, as in `json.dumps`."""
    data = _orjson(value)
    if data is not None:
        return data
    return _json(value, default).encode("utf-8")  # a lone surrogate fails here, as in a text file


def dumps_text(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """:func:`dumps` as a string (a lone surrogate stays in it, as `json.dumps` leaves it)."""
    data = _orjson(value)
    return _json(value, default) if data is None else data.decode("utf-8")


def _orjson(value: Any) -> bytes | None:
    """orjson's bytes where they read back as json's would, else None."""
    if is_plain(value):
        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError:  # a big int, non-string keys, deep nesting
            pass
    return None


def _json(value: Any, default: Callable[[Any], Any] | None) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default)
