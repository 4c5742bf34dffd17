"""Export records to training formats: OpenAI, TRL, ShareGPT, Alpaca, DPO, HF datasets.

``export_records(records, out, fmt, mapping)`` turns each record into one row of `fmt`
(``openai``, ``trl-messages``, ``trl-prompt-completion``, ``sharegpt``, ``alpaca``, ``dpo``,
or ``hf``: a ``datasets`` ``save_to_disk`` directory of rows shaped like ``mapping.shape``).
Row shapes are documented in :mod:`synthpipe.train.formats`; where fields come from is
:class:`ExportMapping` (fallback orders in :mod:`synthpipe.train.formats.sources`).

Every row is validated as written: roles alternate user/assistant after an optional system
message, SFT conversations end with the assistant, contents are non-blank strings, DPO
``chosen`` differs from ``rejected``. Records that fail are never dropped silently: each goes
to ``<out>.rejected.jsonl`` as ``{"id", "reason", "detail", "record"}`` (the record as read,
to fix and export again) and is counted per reason in the :class:`ExportSummary`. Reasons:
``missing_field``, ``not_text``, ``empty_content``, ``bad_messages``, ``bad_role``,
``roles_not_alternating``, ``last_not_assistant``, ``last_not_user`` (DPO prompt),
``multi_turn`` (the format holds one exchange),
``prompt_mismatch``, ``chosen_equals_rejected``, ``bad_weight``, ``dropped`` (a pipeline
filter marked the record), and from :func:`export_file` ``unreadable``/``duplicate_id``.
Tool-use trajectories go to ``openai-tools``, ``trl-tools`` or ``sharegpt-tools``
(:mod:`synthpipe.train.formats.tools`), which add the call checks of
:mod:`synthpipe.train.formats.trajectory` (``bad_tool_call``, ``bad_arguments``,
``unanswered_tool_call``, ``unknown_tool_call_id``, ``missing_tools``, ...).
The rejected file exists only when something was rejected: an export that rejects nothing
removes the one an earlier export to the same path left.

Turn contents are stripped of leading and trailing whitespace (a reply starting with a space
teaches the model to start with one). Both outputs are written atomically (temp file, then
rename): an interrupted export leaves neither a partial output nor a partial rejected file,
and an older output stays as it was.
Conversions are lossless where both formats can hold the data: openai -> sharegpt -> openai
gives identical files; ``weight`` exists only in openai, instruction/input are only kept
apart by alpaca (chat formats join them as ``instruction + join + input``; ``join`` is one
blank line, ``"\\n\\n"``, unless the mapping sets another). ``argilla`` writes a folder that
Argilla v2 imports (see :mod:`synthpipe.train.argilla`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthpipe.data.formats import import_datasets
from synthpipe.data.quarantine import Quarantine, reason_category
from synthpipe.data.readers import read_records
from synthpipe.data.records import DROP, ID, Record
from synthpipe.data.writers import atomic_path
from synthpipe.errors import DataError, UsageError
from synthpipe.train.formats import FORMATS, Format
from synthpipe.train.formats.base import ExportMapping, ExportReject

__all__ = [
    "EXPORT_FORMATS",
    "ExportMapping",
    "ExportReject",
    "ExportSummary",
    "export_file",
    "export_records",
    "read_export",
    "rejected_path",
    "to_alpaca",
    "to_dpo",
    "to_openai",
    "to_openai_tools",
    "to_prompt_completion",
    "to_sharegpt",
    "to_sharegpt_tools",
    "to_trl_messages",
    "to_trl_tools",
]

EXPORT_FORMATS = (*FORMATS, "hf", "argilla")
_FOLDER_FORMATS = ("hf", "argilla")  # write a directory, not a JSONL file
DEFAULT_HF_SHAPE = "trl-messages"
TOOL_SHAPES = ("openai-tools", "trl-tools", "sharegpt-tools")


@dataclass
class ExportSummary:
    """What an export wrote, what it rejected and why, and which fields it read."""

    format: str
    shape: str  # the row shape: `format`, or the `shape` of an hf export
    out: Path
    rejected_path: Path
    mapping: dict[str, Any]
    written: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # reason -> records
    fields_used: dict[str, Counter[str]] = field(default_factory=dict)  # role -> field -> rows

    @property
    def total_rejected(self) -> int:
        return sum(self.rejected.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "shape": self.shape,
            "out": str(self.out),
            "rejected_path": str(self.rejected_path) if self.total_rejected else None,
            "written": self.written,
            "rejected": dict(self.rejected.most_common()),
            "fields_used": {k: dict(v.most_common()) for k, v in self.fields_used.items()},
            "mapping": self.mapping,
        }

    def describe(self) -> str:
        """A few human-readable lines for the CLI."""
        kind = {"hf": "an HF dataset at ", "argilla": "an Argilla dataset at "}.get(self.format, "")
        lines = [f"wrote {self.written} {self.shape} rows to {kind}{self.out}"]
        for role, counts in self.fields_used.items():
            used = ", ".join(f"{name} ({n})" for name, n in counts.most_common())
            lines.append(f"  {role} from: {used}")
        if self.total_rejected:
            reasons = ", ".join(f"{r} {n}" for r, n in self.rejected.most_common())
            lines.append(f"rejected {self.total_rejected} ({reasons}); see {self.rejected_path}")
        else:
            lines.append("rejected none")
        return "\n".join(lines)


def rejected_path(out: str | os.PathLike[str]) -> Path:
    """Where the rejected records of an export to `out` go: ``<out>.rejected.jsonl``."""
    out = Path(out)
    return out.with_name(f"{out.name}.rejected.jsonl")


def export_records(
    records: Iterable[Record],
    out: str | os.PathLike[str],
    fmt: str,
    mapping: ExportMapping | None = None,
) -> ExportSummary:
    """Write `records` to `out` in format `fmt`; rejected records go beside it."""
    return _export(records, Path(out).expanduser(), fmt, mapping or ExportMapping(), None)


def export_file(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    fmt: str,
    *,
    input_format: str | None = None,
    **mapping: Any,
) -> ExportSummary:
    """Export the records of a JSONL/JSONL.gz/Parquet/CSV file or HF dataset directory.

    `mapping` holds :class:`ExportMapping` options (None values mean unset). Input lines that
    do not parse, or repeat an id, are reported as ``unreadable``/``duplicate_id`` rejections.
    """
    options = ExportMapping.from_options(mapping)
    unreadable = _Unreadable()
    batches = read_records(src, format=input_format, quarantine=unreadable)
    records = (record for batch in batches for record in batch)
    return _export(records, Path(out).expanduser(), fmt, options, unreadable)


def read_export(path: str | os.PathLike[str], fmt: str, *, shape: str | None = None) -> list[dict]:
    """Rows of an export, each in its format's canonical form (see the format modules).

    Chat SFT formats give ``{"messages": [...]}``; alpaca its row; dpo
    ``{"prompt": [turns], "chosen": str, "rejected": str}``; tool formats the canonical
    trajectory ``{"messages": [...], "tools": [...]}``. For ``hf`` the shape is `shape`,
    or guessed from the columns.
    """
    path = Path(path).expanduser()
    if fmt == "hf":
        ds = import_datasets().load_from_disk(str(path))
        spec = FORMATS[_check_shape(shape or _guess_shape(ds.column_names))]
        rows: Iterable[dict] = ds.with_format(None)
    else:
        spec = FORMATS[_check_shape(fmt)]
        with open(path, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
    try:
        return [spec.canonical(dict(row)) for row in rows]
    except ExportReject as exc:
        raise DataError(f"{path} does not hold {spec.name} rows: {exc}") from None


# -- one-record converters --------------------------------------------------------------
def to_openai(record: Record, mapping: ExportMapping | None = None) -> dict:
    return _convert_one("openai", record, mapping)


def to_trl_messages(record: Record, mapping: ExportMapping | None = None) -> dict:
    return _convert_one("trl-messages", record, mapping)


def to_prompt_completion(record: Record, mapping: ExportMapping | None = None) -> dict:
    return _convert_one("trl-prompt-completion", record, mapping)


def to_sharegpt(record: Record, mapping: ExportMapping | None = None) -> dict:
    return _convert_one("sharegpt", record, mapping)


def to_alpaca(record: Record, mapping: ExportMapping | None = None) -> dict:
    return _convert_one("alpaca", record, mapping)


def to_dpo(record: Record, mapping: ExportMapping | None = None) -> dict:
    return _convert_one("dpo", record, mapping)


def to_openai_tools(record: Record, mapping: ExportMapping | None = None) -> dict:
    return _convert_one("openai-tools", record, mapping)


def to_trl_tools(record: Record, mapping: ExportMapping | None = None) -> dict:
    return _convert_one("trl-tools", record, mapping)


def to_sharegpt_tools(record: Record, mapping: ExportMapping | None = None) -> dict:
    return _convert_one("sharegpt-tools", record, mapping)


def _convert_one(fmt: str, record: Record, mapping: ExportMapping | None) -> dict:
    """One validated row, or ExportReject naming the reason."""
    spec = FORMATS[fmt]
    row, _ = spec.convert(record, mapping or ExportMapping())
    spec.validate(row)
    return row


# -- the export loop --------------------------------------------------------------------
class _Unreadable(Quarantine):
    """Collects input lines the reader could not use, to report them as rejections."""

    def __init__(self) -> None:
        super().__init__(keep_in_memory=0)
        self.pending: deque[tuple[str, str, str]] = deque()

    def add(self, file: str, line: int | None, reason: str, raw: str | None = None) -> None:
        kind = "duplicate_id" if reason_category(reason) == "duplicate id" else "unreadable"
        self.pending.append((f"{Path(file).name}:{line}", kind, reason))


def _export(
    records: Iterable[Record],
    out: Path,
    fmt: str,
    mapping: ExportMapping,
    unreadable: _Unreadable | None,
) -> ExportSummary:
    spec = _resolve(fmt, mapping)
    _check_out(out, fmt)
    summary = ExportSummary(
        fmt, spec.name, out, rejected_path(out), mapping.model_dump(exclude_defaults=True)
    )
    with contextlib.ExitStack() as stack:
        rejects = _RejectFile(summary.rejected_path, stack)
        # Argilla reviews filter decisions: dropped records go there with their drop reason.
        rows = _rows(records, spec, mapping, summary, rejects, unreadable, fmt == "argilla")
        if fmt in _FOLDER_FORMATS:
            table = list(rows)
            if table:
                _save_folder(fmt, table, out, mapping)
        else:
            _save_jsonl(rows, out)
    if not summary.total_rejected:  # no empty file, and none left from an earlier export
        summary.rejected_path.unlink(missing_ok=True)
    if fmt in _FOLDER_FORMATS and not summary.written:  # an empty saved dataset cannot load
        raise DataError(
            f"nothing to export to {out}: all {summary.total_rejected} records were rejected; "
            f"see {summary.rejected_path}"
        )
    return summary


class _RejectFile:
    """``<out>.rejected.jsonl``, created (atomically, with the export) at the first rejection."""

    def __init__(self, path: Path, stack: contextlib.ExitStack) -> None:
        self.path, self._stack = path, stack
        self._fh: Any = None

    def write(self, line: dict) -> None:
        if self._fh is None:
            tmp = self._stack.enter_context(atomic_path(self.path))
            self._fh = self._stack.enter_context(open(tmp, "w", encoding="utf-8", newline="\n"))  # noqa: SIM115 (closed by the stack)
        self._fh.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")


def _rows(
    records: Iterable[Record],
    spec: Format,
    mapping: ExportMapping,
    summary: ExportSummary,
    rejects: _RejectFile,
    unreadable: _Unreadable | None,
    keep_dropped: bool = False,
) -> Iterator[dict]:
    def reject(record_id: Any, reason: str, detail: str, record: Record | None) -> None:
        summary.rejected[reason] += 1
        rejects.write({"id": record_id, "reason": reason, "detail": detail, "record": record})

    def drain() -> None:  # the reader reports bad lines while we iterate
        while unreadable is not None and unreadable.pending:
            reject(*unreadable.pending.popleft(), None)

    for position, record in enumerate(records, 1):
        drain()
        record_id = record.get(ID) or f"#{position}"  # ids from read_records; else position
        try:
            row, fields = _checked_row(record, spec, mapping, keep_dropped)
        except ExportReject as exc:
            reject(record_id, exc.reason, exc.detail, record)
            continue
        summary.written += 1
        for role, name in fields.items():
            summary.fields_used.setdefault(role, Counter())[name] += 1
        yield row
    drain()


def _checked_row(
    record: Record, spec: Format, mapping: ExportMapping, keep_dropped: bool = False
) -> tuple[dict, dict]:
    dropped = record.get(DROP)
    if dropped and not keep_dropped:  # training on what a filter dropped undoes the filter
        by = (
            f"{dropped.get('step')}: {dropped.get('reason')}"
            if isinstance(dropped, dict)
            else dropped
        )
        raise ExportReject("dropped", f"marked dropped by {by}")
    row, fields = spec.convert(record, mapping)
    spec.validate(row)
    return row, fields


def _save_jsonl(rows: Iterable[dict], out: Path) -> None:
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _save_folder(fmt: str, rows: list[dict], out: Path, mapping: ExportMapping) -> None:
    if fmt == "hf":
        _save_hf(rows, out, nested=(mapping.shape or "") in TOOL_SHAPES)
    else:
        from synthpipe.train.argilla import save_argilla

        save_argilla(rows, out, mapping)


def _save_hf(rows: list[dict], out: Path, nested: bool = False) -> None:
    datasets = import_datasets()
    names = list(dict.fromkeys(name for row in rows for name in row))  # alpaca's optional system
    columns = {name: [row.get(name) for row in rows] for name in names}
    ds = _tool_table(datasets, columns) if nested else datasets.Dataset.from_dict(columns)
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with atomic_path(out) as tmp:
            ds.save_to_disk(str(tmp))
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def _tool_table(datasets: Any, columns: dict[str, list]) -> Any:
    """Tool calls and schemas as JSON values: Arrow structs would give every call the argument
    keys of all the others (as nulls), which chat templates then render."""
    if not hasattr(datasets, "Json"):
        raise UsageError(
            "tool-use rows in an hf dataset need a datasets version with the Json feature "
            f"(installed: {datasets.__version__}); export JSONL instead"
        )
    return datasets.Dataset.from_dict(columns, on_mixed_types="use_json")


# -- option checks ----------------------------------------------------------------------
def _resolve(fmt: str, mapping: ExportMapping) -> Format:
    if fmt not in EXPORT_FORMATS:
        raise UsageError(
            f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}"
        )
    if fmt != "hf" and mapping.shape is not None:
        raise UsageError(f"shape applies to format 'hf' only; format {fmt!r} is its own shape")
    if fmt == "argilla":
        from synthpipe.train.argilla import ARGILLA

        return ARGILLA
    if fmt == "hf":
        import_datasets()  # fail before reading any input
    spec = FORMATS[_check_shape(mapping.shape or DEFAULT_HF_SHAPE) if fmt == "hf" else fmt]
    if mapping.conversational and not spec.takes_conversational:
        takers = ", ".join(name for name, f in FORMATS.items() if f.takes_conversational)
        raise UsageError(f"conversational applies to {takers}, not {spec.name}")
    if mapping.system and spec.takes_conversational and not mapping.conversational:
        raise UsageError(
            f"string {spec.name} rows have no place for a system prompt; "
            "set conversational=True or drop system"
        )
    return spec


def _check_shape(shape: str) -> str:
    if shape not in FORMATS:
        raise UsageError(f"unknown shape {shape!r}; choose one of {', '.join(FORMATS)}")
    return shape


def _guess_shape(columns: list[str]) -> str:
    if "tools" in columns:  # tool-use rows; checked first, they share the chat columns
        if "conversations" in columns:
            return "sharegpt-tools"
        return "openai-tools" if "parallel_tool_calls" in columns else "trl-tools"
    for column, shape in (
        ("conversations", "sharegpt"),
        ("chosen", "dpo"),
        ("instruction", "alpaca"),
        ("completion", "trl-prompt-completion"),
        ("messages", "trl-messages"),
    ):
        if column in columns:
            return shape
    raise UsageError(f"cannot tell the row shape from columns {columns}; pass shape=")


def _check_out(out: Path, fmt: str) -> None:
    if fmt in _FOLDER_FORMATS and out.is_file():
        raise UsageError(f"{out} is a file; format {fmt!r} writes a directory")
    if fmt not in _FOLDER_FORMATS and out.is_dir():
        raise UsageError(f"{out} is a directory; format {fmt!r} writes a JSONL file")
