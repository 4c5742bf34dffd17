"""The facts at the top of a dataset card: its YAML front matter, licence, sources and fields.

The dataset's licence is the one the publisher states (``synthpipe publish --license``);
without one it is derived conservatively from the licences of the *input* data
(files whose content flows into the records): one shared, known licence carries over; anything
else (no input data, an unknown licence, several different licences) gives ``other``, flagged
in the card for the publisher to resolve. Reference and evaluation sets are attributed but do
not license the data: the records are not made from them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import yaml

from synthpipe.data.provenance import UNKNOWN, Source
from synthpipe.report.format import markdown_cell as _md
from synthpipe.report.hub_metadata import size_category

OTHER_NAME = "unverified"  # the Hub asks a name for `license: other`
ROLE_NOTE = ("Roles: *input* data flows into the records (its licence binds them); *reference* data is only "
             "measured against (audit, decontamination); *evaluation* data only scores the experiment.")


@dataclass(frozen=True)
class LicenseChoice:
    id: str
    reason: str
    flagged: bool  # the publisher must look at it before publishing


def choose_license(sources: Sequence[Source], explicit: str | None = None) -> LicenseChoice:
    """The dataset's licence: `explicit` when given, else derived from the input sources."""
    if explicit:
        return LicenseChoice(explicit, "stated by the publisher", False)
    inputs = [s for s in sources if s.role == "input"]
    if not inputs:
        return LicenseChoice(
            "other", "no input data with a known licence: the records come from generators and models only. "
            "Choose a licence (`synthpipe publish --license`) after checking the models' terms", True)  # fmt: skip
    ids = sorted({s.license for s in inputs})
    if len(ids) == 1 and ids[0] not in (UNKNOWN, "other"):
        names = ", ".join(f"`{s.ref}`" for s in inputs)
        return LicenseChoice(ids[0], f"the licence of the input data ({names})", False)
    listed = ", ".join(f"`{s.ref}` ({s.license})" for s in inputs)
    return LicenseChoice(
        "other", f"the input data's licences do not settle it: {listed}. Check them and state the licence "
        "(`synthpipe publish --license`) before publishing", True)  # fmt: skip


def task_categories(fields: Sequence[str], label_field: str | None) -> list[str]:
    """Hub task categories from the record shape: labelled texts classify, the rest generate."""
    names = set(fields)
    if {"chosen", "rejected"} <= names or names & {"messages", "conversations", "instruction", "response",
                                                     "prompt", "completion", "question", "answer"}:  # fmt: skip
        return ["text-generation"]
    if label_field and label_field in names:
        return ["text-classification"]
    return ["text-generation"]


def front_matter(
    *,
    license: LicenseChoice,
    sources: Sequence[Source],
    n_records: int | None,
    fields: Sequence[str],
    label_field: str | None,
    pretty_name: str,
    data_files: str | None,
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """The card's metadata, in the Hub's field names (see :mod:`synthpipe.report.hub_metadata`)."""
    inputs = [s for s in sources if s.role == "input"]
    languages = sorted({lang for s in inputs for lang in s.language})
    meta: dict[str, Any] = {"license": license.id}
    if license.id == "other":
        meta["license_name"] = OTHER_NAME
    if languages:
        meta["language"] = languages
        meta["multilinguality"] = "monolingual" if len(languages) == 1 else "multilingual"
    meta["annotations_creators"] = ["machine-generated"]
    meta["language_creators"] = ["machine-generated"]
    meta["task_categories"] = task_categories(fields, label_field)
    if n_records is not None:
        meta["size_categories"] = [size_category(n_records)]
    hub_ids = sorted({s.hub_id for s in inputs if s.hub_id})
    meta["source_datasets"] = [f"extended|{h}" for h in hub_ids] if hub_ids else (["extended"] if inputs else ["original"])
    meta["tags"] = list(dict.fromkeys(["synthetic", "synthpipe", *tags]))
    meta["pretty_name"] = pretty_name
    if data_files:
        meta["configs"] = [{"config_name": "default", "data_files": [{"split": "train", "path": data_files}]}]
    return meta


def yaml_block(meta: dict[str, Any]) -> list[str]:
    text = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)
    return ["---", text.rstrip("\n"), "---", ""]


FIELD_NOTES = {
    "id": "record id, unique in the dataset",
    "_lineage": "JSON text: how the record was made (technique, template or seed, model)",
    "label_fine": "fine-grained label",
}


def arrow_type_name(t: pa.DataType) -> str:
    """A short type name as the Hub's viewer shows it (string, int64, list<string>, struct)."""
    if pa.types.is_large_string(t) or pa.types.is_string(t):
        return "string"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"list<{arrow_type_name(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct"
    if pa.types.is_floating(t):
        return f"float{t.bit_width}"
    return "bool" if pa.types.is_boolean(t) else str(t)


def fields_section(
    schema: pa.Schema, records: Sequence[dict] | None, *, text_field: str | None, label_field: str | None,
    json_columns: Sequence[str] = (),
) -> list[str]:
    """## Fields: one row per column of the data, its type and an example (or what it holds)."""
    notes = {**FIELD_NOTES}
    if text_field:
        notes[text_field] = "the text (the field the audit measured)"
    if label_field:
        notes[label_field] = "the label"
    rows = []
    for f in schema:
        kind = "string (JSON)" if f.name in json_columns and f.name != "_lineage" else arrow_type_name(f.type)
        rows.append([f"`{f.name}`", kind, notes.get(f.name, ""), _example(records, f.name)])
    head = ["field", "type", "description", "example"]
    lines = ["## Fields", "", f"{len(schema)} columns, from the data's schema.", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md(c) if i else c for i, c in enumerate(row)) + " |" for row in rows]
    return [*lines, ""]


def _example(records: Sequence[dict] | None, name: str) -> str:
    for record in records or ():
        value = record.get(name)
        if value not in (None, "", [], {}):
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
            text = " ".join(str(text).split())
            text = text[:77] + "..." if len(text) > 80 else text
            return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # shown, never rendered
    return ""


def sources_section(sources: Sequence[Source], license: LicenseChoice) -> list[str]:
    """## Source data and licence: the dataset's licence and why, then each source's licence and citation."""
    lines = ["## Source data and licence", ""]
    flag = " **Check before publishing:** " if license.flagged else " "
    lines.append(f"Licence of this dataset: `{license.id}`:{flag}{license.reason}.")
    lines.append("")
    if not sources:
        lines += ["No data files are recorded (no seeds, reference or recipe given): the records' origin "
                  "beyond the generators is not documented here.", ""]  # fmt: skip
        return lines
    lines += ["| source | files (role) | licence | attribution |", "|---|---|---|---|"]
    for group in _grouped(sources):
        s = group[0]
        files = ", ".join(f"`{g.ref}` ({g.role})" for g in group)
        licence = "unknown: state it before publishing" if s.license == UNKNOWN else s.license
        bits = [s.citation or "", f"<{s.homepage}>" if s.homepage else "", f"Hub: `{s.hub_id}`" if s.hub_id else "",
                s.note or ""]  # fmt: skip
        lines.append(f"| {_md(s.name)} | {files} | {_md(licence)} | " + _md("; ".join(b for b in bits if b)) + " |")
    return [*lines, "", ROLE_NOTE, ""]


def _grouped(sources: Sequence[Source]) -> list[list[Source]]:
    """Sources sharing a name and licence (files of one bundled set) in one row, first seen first."""
    groups: dict[tuple, list[Source]] = {}
    for s in sources:
        groups.setdefault((s.name, s.license, s.citation), []).append(s)
    return list(groups.values())


__all__ = ["LicenseChoice", "arrow_type_name", "choose_license", "fields_section", "front_matter",
           "sources_section", "task_categories", "yaml_block"]  # fmt: skip
