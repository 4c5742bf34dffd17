"""Records <-> Arrow tables, lossless for what JSON can express.

Parquet needs one type per column; records are free-form dicts. Reserved nested fields
(``_lineage``, ``_drop``) and any column whose values Arrow cannot unify (an int in one row,
a string in the next) are stored as JSON text and listed in the schema metadata, so they
come back exactly as they went in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pyarrow as pa

from synthpipe.data.records import DROP, LINEAGE, Record

JSON_COLUMNS_KEY = b"synthpipe.json_columns"
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
            arrays[name] = pa.array([_to_json(v) for v in values], type=pa.string())
            json_columns.append(name)
    table = pa.table(arrays) if arrays else pa.table({})
    if DROP not in table.column_names:  # every checkpoint carries the drop column
        table = table.append_column(DROP, pa.array([None] * table.num_rows, type=pa.string()))
        json_columns.append(DROP)
    meta = {JSON_COLUMNS_KEY: json.dumps(sorted(set(json_columns))).encode()}
    return table.replace_schema_metadata(meta)


def table_to_records(table: pa.Table) -> list[Record]:
    meta = table.schema.metadata or {}
    json_columns = set(json.loads(meta.get(JSON_COLUMNS_KEY, b"[]")))
    rows = table.to_pylist()
    for row in rows:
        for name in json_columns:
            if name in row:
                row[name] = _from_json(row[name])
    return rows


def _to_json(value) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _from_json(text: str | None):
    return None if text is None else json.loads(text)
