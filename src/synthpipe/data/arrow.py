"""Records <-> Arrow tables, lossless for what JSON can express.

Parquet needs one type per column; records are free-form dicts. Reserved nested fields
(``_lineage``, ``_drop``), any column whose values Arrow cannot unify (an int in one row,
a string in the next) and any it would change (dicts with different keys, which a struct
fills with None; nesting deeper than Parquet reads back) are stored as JSON text and listed
in the schema metadata, so they come back exactly as they went in. One change is kept for
the sake of a native column: a column mixing ints and floats comes back all floats.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from synthpipe.data import json_codec
from synthpipe.data.records import DROP, LINEAGE, Record

JSON_COLUMNS_KEY = b"synthpipe.json_columns"
# Parquet readers refuse a schema nested about 100 nodes deep (a list level takes two), a limit
# the writer does not check: a column nested deeper than this is stored as JSON text instead.
MAX_NESTING = 32
_ALWAYS_JSON = (LINEAGE, DROP)


def records_to_table(records: Iterable[Record]) -> pa.Table:
    rows = list(records)
    columns: dict[str, list] = {}
    for i, row in enumerate(rows):
        for key in row:
            if key not in columns:
                columns[key] = [None] * i
        for key, values in columns.items():
            values.append(row.get(key))
    arrays, json_columns = {}, []
    for name, values in columns.items():
        if name in _ALWAYS_JSON:
            arrays[name] = pa.array([_to_json(v) for v in values], type=pa.string())
            json_columns.append(name)
            continue
        try:
            arrays[name] = pa.array(values)
            if pa.types.is_null(arrays[name].type):
                arrays[name] = arrays[name].cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            arrays[name] = None
        if arrays[name] is None or _lossy(arrays[name], values):
            arrays[name] = pa.array([_to_json(v) for v in values], type=pa.string())
            json_columns.append(name)
    if DROP not in arrays:  # every checkpoint carries it, and so the row count of `{}` rows
        arrays[DROP] = pa.nulls(len(rows), pa.string())
        json_columns.append(DROP)
    table = pa.table(arrays)
    meta = {JSON_COLUMNS_KEY: json.dumps(sorted(set(json_columns))).encode()}
    return table.replace_schema_metadata(meta)


def _lossy(array: pa.Array, values: list) -> bool:
    """Would the native column change its values, or fail to make a Parquet file? Parquet
    cannot write a struct without fields (an empty dict) nor read a deep one back; and Arrow
    coerces silently: dicts with different keys (a struct gives every row every key), a bool
    in a float column, a str in a bytes column."""
    depth, empty_struct = _shape(array.type)
    if depth > MAX_NESTING or empty_struct:
        return True
    if any(exact(array.type) for exact in _EXACT_TYPES):
        return False
    return any(map(_changed, array.to_pylist(), values))


_EXACT_TYPES = (  # Arrow types that no other Python type is silently coerced into
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_integer,
    pa.types.is_boolean,
    pa.types.is_null,
    pa.types.is_temporal,
)


def _changed(back: Any, original: Any) -> bool:
    """`back` (read from Arrow) is not `original`, an int that became a float aside."""
    if isinstance(original, dict):
        return (
            not isinstance(back, dict)
            or back.keys() != original.keys()
            or any(_changed(back[k], v) for k, v in original.items())
        )
    if isinstance(original, list | tuple):
        return (
            not isinstance(back, list)
            or len(back) != len(original)
            or any(map(_changed, back, original))
        )
    if isinstance(original, bool | str) or isinstance(back, bool | str):
        return type(back) is not type(original) or back != original
    if isinstance(original, float) and math.isnan(original):
        return not (isinstance(back, float) and math.isnan(back))
    if original is None or isinstance(original, int | float | bytes):
        return back != original
    return False  # numpy values, dates, decimals: Arrow's own types, trusted


def _shape(arrow_type: pa.DataType) -> tuple[int, bool]:
    """Levels of lists, structs and maps in `arrow_type`, and whether it holds a struct with
    no field (iterative: the type may be nested as deep as JSON allows)."""
    deepest, empty_struct, stack = 0, False, [(arrow_type, 0)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        empty_struct = empty_struct or (pa.types.is_struct(current) and current.num_fields == 0)
        stack.extend((current.field(i).type, depth + 1) for i in range(current.num_fields))
    return deepest, empty_struct


def json_columns(metadata: dict[bytes, bytes] | None) -> set[str]:
    """The columns a schema's metadata lists as JSON text; ValueError if the list is malformed."""
    names = json.loads((metadata or {}).get(JSON_COLUMNS_KEY, b"[]"))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{JSON_COLUMNS_KEY.decode()} is not a list of column names")
    return set(names)


def table_to_records(table: pa.Table) -> list[Record]:
    json_columns_ = json_columns(table.schema.metadata)
    rows = table.to_pylist()
    for row in rows:
        for name in json_columns_:
            if name in row:
                row[name] = _from_json(row[name])
    return rows


def _to_json(value) -> str | None:
    return None if value is None else json_codec.dumps_text(value, str)


def _from_json(text: str | None):
    return None if text is None else json_codec.loads(text)
