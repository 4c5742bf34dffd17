"""Records as the table a dataset hub gets: the data fields, ``id`` first, ``_lineage`` as JSON text.

``_drop`` is left out (null for every kept record) and so is any other ``_``-prefixed field (the
pipeline's bookkeeping). ``_lineage`` stays, as JSON text: its shape differs between generators,
and a JSON column keeps every record's lineage exact. Shared by ``synthpipe publish`` and
``RunResult.to_hf()`` so that both give the same columns.
"""

from __future__ import annotations

import json

import pyarrow as pa

from synthpipe.data.arrow import JSON_COLUMNS_KEY, json_columns, records_to_table
from synthpipe.data.records import ID, LINEAGE, Record

KEPT_INTERNAL = (LINEAGE,)  # `_`-prefixed fields that are published (as JSON text)


def hub_table(records: list[Record]) -> pa.Table:
    """The kept records as one Arrow table for the Hub: ``_drop`` and bookkeeping fields dropped,
    ``_lineage`` kept as JSON text, ``id`` first."""
    table = records_to_table(records)
    internal = [c for c in table.column_names if c.startswith("_") and c not in KEPT_INTERNAL]
    table = table.drop_columns(internal)
    if ID in table.column_names:
        table = table.select([ID, *(c for c in table.column_names if c != ID)])
    encoded = sorted(json_columns(table.schema.metadata) & set(table.column_names))
    return table.replace_schema_metadata({JSON_COLUMNS_KEY: json.dumps(encoded).encode()})
