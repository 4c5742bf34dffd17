"""Export records as a folder Argilla v2 imports with ``rg.Dataset.from_disk(path)``.

The layout is the one ``rg.Dataset.to_disk`` writes (argilla 2.x,
``argilla/datasets/_io/_disk.py``), so Argilla reads it back with its own code::

    <out>/.argilla/dataset.json    the dataset model: name, guidelines, status "draft"
    <out>/.argilla/settings.json   fields, questions, metadata, vectors, guidelines,
                                   allow_extra_metadata, distribution, mapping
    <out>/records.json             a JSON list of {"id", "fields", "metadata", "suggestions",
                                   "responses", "vectors", "status", "_server_id"}

Fields follow the records' shape, decided per record: a chat (``messages``/``conversations``)
becomes a ``chat`` field ``conversation``; a preference pair ``prompt`` (or ``conversation``),
``chosen`` and ``rejected``; an instruction/answer pair ``prompt`` (instruction and input
joined) and ``response`` (plus ``system`` when set); anything else one ``text`` field. Texts are
stripped of surrounding whitespace, as in every export.

Questions, with synthpipe's decision as a suggestion (agent ``synthpipe``) a reviewer confirms
or corrects: ``verdict`` (keep/drop: dropped records are exported too, with their reason),
``label`` (the data's labels, when it has two or more), ``preference`` (preference data),
``quality`` (a 1-5 rating) and ``correction`` (free text). Metadata, filterable in Argilla's UI:
``outcome`` (kept or dropped), ``drop_step``, ``drop_reason``, the lineage's ``model`` and ``technique``, and every
numeric field of the records (scores such as ``perplexity`` or ``judge_score``). A numeric list
field named ``embedding`` or ``vector`` becomes a vector (similarity search).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from synthpipe.data.records import DROP, ID, LINEAGE, RESERVED, Record
from synthpipe.data.writers import atomic_path
from synthpipe.train.formats.base import ExportMapping, ExportReject, Format, Message
from synthpipe.train.formats.sources import (
    MESSAGES_FIELDS,
    OUTPUT_FIELDS,
    chat_source,
    preference_source,
)

SETTINGS_FILE = ".argilla/settings.json"
DATASET_FILE = ".argilla/dataset.json"
RECORDS_FILE = "records.json"
AGENT = "synthpipe"
MAX_LABELS = 250  # more distinct values are no label set a reviewer can pick from
VECTOR_FIELDS = ("embedding", "vector")
RATING = (1, 2, 3, 4, 5)
GUIDELINES = (
    "Records made and curated by synthpipe. Each one carries synthpipe's decision as "
    "suggestions: `verdict` says whether a filter kept or dropped it (the metadata `drop_step` "
    "and `drop_reason` say why), `label` the label it was given. Confirm or correct them, rate "
    "the `quality` from 1 (unusable) to 5 (excellent), and write a `correction` when the text "
    "is nearly right."
)
_NAME = re.compile(r"[^a-z0-9_-]+")  # Argilla names: lowercase letters, digits, _ and -
_LINEAGE_TERMS = ("model", "technique")
_FIELD_ORDER = ("system", "conversation", "prompt", "response", "chosen", "rejected", "text")


# -- one record -------------------------------------------------------------------------
class _Review:
    """What one record contributes: its fields, label, metadata and vector."""

    def __init__(self, fields: dict[str, Any], sources: dict[str, str]) -> None:
        self.fields = fields
        self.sources = sources  # role -> record field, for the export summary


def _source(record: Record, mapping: ExportMapping) -> _Review:
    if (
        record.get(mapping.chosen_field) is not None
        and record.get(mapping.rejected_field) is not None
    ):
        pref = preference_source(record, mapping)
        fields = {**_prompt_fields(pref.prompt), "chosen": pref.chosen, "rejected": pref.rejected}
        return _Review(fields, pref.fields)
    if _has_answer(record, mapping):
        chat = chat_source(record, mapping)
        if "messages" in chat.fields:
            return _Review({"conversation": _chat(chat.messages)}, chat.fields)
        turns = chat.messages
        fields = {"system": turns[0]["content"]} if turns[0]["role"] == "system" else {}
        fields |= {"prompt": turns[-2]["content"], "response": turns[-1]["content"]}
        return _Review(fields, chat.fields)
    return _Review(*_text(record, mapping))


def _has_answer(record: Record, mapping: ExportMapping) -> bool:
    """Is this a conversation or an instruction/answer pair (else plain text)?"""
    names = (mapping.messages_field,) if mapping.messages_field else MESSAGES_FIELDS
    outputs = (mapping.output_field,) if mapping.output_field else OUTPUT_FIELDS
    return any(record.get(n) is not None for n in (*names, *outputs))


def _text(record: Record, mapping: ExportMapping) -> tuple[dict[str, Any], dict[str, str]]:
    field = mapping.instruction_field or "text"
    value = record.get(field)
    if value is None:
        raise ExportReject("missing_field", f"no field {field!r} (nor an answer or a chat)")
    if not isinstance(value, str):
        raise ExportReject("not_text", f"field {field!r} is {type(value).__name__}, not a string")
    if not value.strip():
        raise ExportReject("empty_content", f"field {field!r} is empty or whitespace")
    return {"text": value.strip()}, {"text": field}


def _prompt_fields(prompt: list[Message]) -> dict[str, Any]:
    if len(prompt) == 1:
        return {"prompt": prompt[0]["content"]}
    return {"conversation": _chat(prompt)}


def _chat(messages: list[Message]) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _build(review: _Review, mapping: ExportMapping) -> dict:
    return {"fields": review.fields}


def _convert(record: Record, mapping: ExportMapping) -> tuple[dict, dict[str, str]]:
    """The export row: the Argilla fields plus what settings and suggestions need."""
    review = _source(record, mapping)
    drop = record.get(DROP) if isinstance(record.get(DROP), dict) else None
    row = {
        "id": str(record.get(ID)) if record.get(ID) is not None else None,
        "fields": review.fields,
        "label": record.get(mapping.label_field),
        "dropped": bool(record.get(DROP)),
        "metadata": _metadata(record, drop, set(review.sources.values()) | {mapping.label_field}),
        "vectors": _vectors(record),
    }
    return row, review.sources


class _ArgillaFormat(Format):
    def convert(self, record: Record, mapping: ExportMapping) -> tuple[dict, dict[str, str]]:
        return _convert(record, mapping)


ARGILLA = _ArgillaFormat(
    "argilla", _source, _build, validate=lambda row: None, canonical=lambda row: row
)


def _metadata(record: Record, drop: dict | None, used: set[str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"outcome": "dropped" if record.get(DROP) else "kept"}
    if drop is not None:
        meta["drop_step"] = str(drop.get("step"))
        meta["drop_reason"] = str(drop.get("reason"))
    lineage = record.get(LINEAGE) if isinstance(record.get(LINEAGE), dict) else {}
    for key in _LINEAGE_TERMS:
        if isinstance(lineage.get(key), str) and lineage[key]:
            meta[key] = lineage[key]
    for key, value in record.items():
        if key in RESERVED or key in used or not _is_number(value):
            continue
        name = argilla_name(key)
        if name and name not in meta and name not in _RESERVED_NAMES:
            meta[name] = value
    return meta


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _vectors(record: Record) -> dict[str, list[float]]:
    out = {}
    for name in VECTOR_FIELDS:
        value = record.get(name)
        if isinstance(value, list) and value and all(_is_number(v) for v in value):
            out[name] = [float(v) for v in value]
    return out


def argilla_name(name: str) -> str:
    """`name` as Argilla accepts it for fields, questions and metadata."""
    return _NAME.sub("_", name.lower()).strip("_")


_QUESTIONS = ("verdict", "label", "preference", "quality", "correction")
_RESERVED_NAMES = {*_QUESTIONS, *_FIELD_ORDER, "outcome", "drop_step", "drop_reason"}


# -- the folder -------------------------------------------------------------------------
def save_argilla(rows: list[dict], out: Path, mapping: ExportMapping) -> None:
    """Write the Argilla folder for the converted `rows` atomically at `out`."""
    labels = _labels(rows)
    preference = any("chosen" in row["fields"] for row in rows)
    vectors = _vector_dims(rows)
    settings = {
        "guidelines": GUIDELINES,
        "questions": _questions(labels, preference),
        "fields": _fields(rows),
        "vectors": [_vector_setting(name, dims) for name, dims in vectors.items()],
        "metadata": _metadata_settings(rows),
        "allow_extra_metadata": False,
        "distribution": {"strategy": "overlap", "min_submitted": 1},
        "mapping": None,
    }
    records = [_record(row, labels, preference, vectors) for row in rows]
    dataset = {
        **_NO_SERVER_STATE,
        "name": argilla_name(out.name) or "synthpipe",
        "status": "draft",
        "guidelines": GUIDELINES,
        "allow_extra_metadata": False,
        "distribution": None,
        "workspace_id": None,
        "last_activity_at": None,
    }
    with atomic_path(out) as tmp:
        (tmp / ".argilla").mkdir(parents=True)
        _write_json(tmp / DATASET_FILE, dataset)
        _write_json(tmp / SETTINGS_FILE, settings)
        _write_json(tmp / RECORDS_FILE, records)


_NO_SERVER_STATE = {"id": None, "inserted_at": None, "updated_at": None}


def _write_json(path: Path, value: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(value, fh, ensure_ascii=False)


def _labels(rows: list[dict]) -> list[str]:
    values = {str(row["label"]) for row in rows if _is_label(row["label"])}
    return sorted(values) if 2 <= len(values) <= MAX_LABELS else []


def _is_label(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip() != ""


def _fields(rows: list[dict]) -> list[dict]:
    counts = {name: sum(name in row["fields"] for row in rows) for name in _FIELD_ORDER}
    out = []
    for name, count in counts.items():
        if not count:
            continue
        kind = "chat" if name == "conversation" else "text"
        out.append({
            **_NO_SERVER_STATE,
            "name": name,
            "settings": {"type": kind, "use_markdown": kind == "chat"},
            "title": name.capitalize(),
            "required": count == len(rows),
            "description": None,
            "dataset_id": None,
            "type": kind,
        })  # fmt: skip
    if not any(f["required"] for f in out):  # Argilla publishes no dataset without one
        most = max(out, key=lambda f: counts[f["name"]])
        most["required"] = True
    return out


def _question(name: str, title: str, settings: dict, required: bool, description: str) -> dict:
    return {
        **_NO_SERVER_STATE,
        "name": name,
        "settings": settings,
        "title": title,
        "description": description,
        "required": required,
        "dataset_id": None,
        "type": settings["type"],
    }


def _label_settings(options: list[tuple[str, str]]) -> dict:
    return {
        "type": "label_selection",
        "options": [{"value": value, "text": text} for value, text in options],
        "visible_options": len(options) if len(options) >= 3 else None,
    }


def _questions(labels: list[str], preference: bool) -> list[dict]:
    out = [
        _question("verdict", "Keep this record?", _label_settings([("keep", "Keep"), ("drop", "Drop")]),
                  True, "synthpipe's filters suggest keep or drop; see drop_reason"),
    ]  # fmt: skip
    if labels:
        out.append(_question("label", "Label", _label_settings([(v, v) for v in labels]), False,
                             "the label the record carries"))  # fmt: skip
    if preference:
        options = [
            ("chosen", "Chosen is better"),
            ("rejected", "Rejected is better"),
            ("tie", "Tie"),
        ]
        out.append(_question("preference", "Which answer is better?", _label_settings(options),
                             False, "the pair was built with chosen preferred"))  # fmt: skip
    out.append(_question("quality", "Quality", {"type": "rating", "options": [{"value": v} for v in RATING]},
                         False, "1 unusable, 5 excellent"))  # fmt: skip
    out.append(_question("correction", "Correction", {"type": "text", "use_markdown": False}, False,
                         "the corrected text, when the record is nearly right"))  # fmt: skip
    return out


def _metadata_settings(rows: list[dict]) -> list[dict]:
    kinds: dict[str, str] = {}
    for row in rows:
        for name, value in row["metadata"].items():
            kind = (
                "terms" if isinstance(value, str) else "integer" if type(value) is int else "float"
            )
            previous = kinds.setdefault(name, kind)
            if previous != kind:
                kinds[name] = "float" if {previous, kind} == {"integer", "float"} else "terms"
    out = []
    for name, kind in kinds.items():
        settings: dict[str, Any] = {"visible_for_annotators": True, "type": kind}
        settings |= {"values": None} if kind == "terms" else {"min": None, "max": None}
        out.append({**_NO_SERVER_STATE, "name": name, "settings": settings, "title": name,
                    "visible_for_annotators": True, "dataset_id": None})  # fmt: skip
    for row in rows:  # one type per property: a number among terms becomes text
        for name, value in row["metadata"].items():
            if kinds[name] == "terms" and not isinstance(value, str):
                row["metadata"][name] = str(value)
            elif kinds[name] == "float":
                row["metadata"][name] = float(value)
    return out


def _vector_dims(rows: list[dict]) -> dict[str, int]:
    dims: dict[str, int] = {}
    for name in VECTOR_FIELDS:
        sizes = {len(row["vectors"][name]) for row in rows if name in row["vectors"]}
        if len(sizes) == 1:  # vectors of different sizes cannot share one Argilla vector field
            dims[name] = sizes.pop()
    return dims


def _vector_setting(name: str, dims: int) -> dict:
    return {**_NO_SERVER_STATE, "name": name, "title": name, "dimensions": dims, "dataset_id": None}


def _record(row: dict, labels: list[str], preference: bool, vectors: dict[str, int]) -> dict:
    suggestions = {"verdict": _suggest("drop" if row["dropped"] else "keep")}
    if labels and _is_label(row["label"]) and str(row["label"]) in labels:
        suggestions["label"] = _suggest(str(row["label"]))
    if preference and "chosen" in row["fields"]:
        suggestions["preference"] = _suggest("chosen")
    return {
        "id": row["id"],
        "fields": row["fields"],
        "metadata": row["metadata"],
        "suggestions": suggestions,
        "responses": {},
        "vectors": {k: v for k, v in row["vectors"].items() if vectors.get(k) == len(v)},
        "status": "pending",
        "_server_id": None,
    }


def _suggest(value: str) -> dict:
    return {"value": value, "score": None, "agent": AGENT}
