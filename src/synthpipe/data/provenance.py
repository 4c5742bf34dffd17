"""Where a run's data came from: the data files a recipe names, their licences, portable paths.

A recipe names data as ``bundled:<set>/<file>`` (shipped with synthpipe) or as a path of the
user's. Each bundled set has a ``meta.json`` beside its ``SOURCE.md`` with a Hub licence id,
citation, homepage and Hub dataset id (``files`` overrides them per file, for sets that mix
sources). A user's file has no such record: its licence is unknown until the user states it.

Roles decide what a licence binds: ``input`` files (seeds, documents, a ``read`` path) flow into
the records; ``reference`` files (an audit's real data, a decontamination set) and
``evaluation`` files (an experiment's test and real-train sets) are only measured against.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from synthpipe.data.paths import BUNDLED_PREFIX, bundled_root

UNKNOWN = "unknown"
DATA_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet", ".csv", ".csv.gz", ".tsv", ".txt")
REFERENCE_KEYS = frozenset({"reference", "references", "benchmark", "benchmarks", "test", "real"})
ROLE_ORDER = {"input": 0, "reference": 1, "evaluation": 2}


@dataclass(frozen=True)
class Source:
    """One data file a recipe names, with what is known about its licence."""

    ref: str  # as written in the recipe, made portable: ``bundled:trec/seeds.jsonl``, ``seeds.jsonl``
    role: str  # input | reference | evaluation
    name: str
    license: str  # a Hub licence id, or "unknown"
    bundled: bool
    citation: str | None = None
    homepage: str | None = None
    hub_id: str | None = None
    note: str | None = None
    language: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "language": list(self.language)}


def bundled_meta(ref: str) -> dict[str, Any] | None:
    """The licence record of a ``bundled:<set>/<file>`` reference, or None when the set has none."""
    relative = PurePosixPath(ref[len(BUNDLED_PREFIX) :].lstrip("/"))
    if len(relative.parts) < 2:
        return None
    path = bundled_root() / relative.parts[0] / "meta.json"
    if not path.is_file():
        return None
    meta = json.loads(path.read_text(encoding="utf-8"))
    override = (meta.pop("files", None) or {}).get("/".join(relative.parts[1:]))
    return {**meta, **(override or {})}


def describe(ref: str, role: str, base_dir: Path | None = None) -> Source:
    """A :class:`Source` for one recipe reference (bundled, or a user's file: licence unknown)."""
    if ref.startswith(BUNDLED_PREFIX):
        meta = bundled_meta(ref)
        if meta is not None:
            return Source(
                ref=ref, role=role, name=meta.get("name") or ref, license=meta.get("license") or UNKNOWN,
                bundled=True, citation=meta.get("citation"), homepage=meta.get("homepage"),
                hub_id=meta.get("hub_id"), note=meta.get("note"), language=tuple(meta.get("language") or ()),
            )  # fmt: skip
        return Source(ref=ref, role=role, name=ref, license=UNKNOWN, bundled=True)
    shown = portable_path(ref, base_dir)
    return Source(ref=shown, role=role, name=shown, license=UNKNOWN, bundled=False,
                  note="a user file: state its licence before publishing")  # fmt: skip


def recipe_sources(recipe: dict[str, Any], base_dir: Path | None = None) -> list[Source]:
    """Every data file a recipe (as dumped to the run's ``recipe.yaml``) names, each once, with
    the strongest role it plays (input over reference over evaluation), inputs first."""
    found: dict[str, str] = {}
    for step in (recipe.get("steps") or {}).values():
        if isinstance(step, dict):
            for key, value in _strings(step):
                _note(found, value, "reference" if key in REFERENCE_KEYS else "input")
    for _, value in _strings(recipe.get("experiment") or {}):
        _note(found, value, "evaluation")
    ordered = sorted(found.items(), key=lambda kv: ROLE_ORDER[kv[1]])
    return [describe(ref, role, base_dir) for ref, role in ordered]


def _note(found: dict[str, str], value: str, role: str) -> None:
    if not is_data_ref(value):
        return
    if value not in found or ROLE_ORDER[role] < ROLE_ORDER[found[value]]:
        found[value] = role


def is_data_ref(value: str) -> bool:
    """A bundled reference, or a string that names a data file by its suffix."""
    return value.startswith(BUNDLED_PREFIX) or (
        "\n" not in value and len(value) < 4096 and value.lower().endswith(DATA_SUFFIXES)
    )


def _strings(obj: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(nearest mapping key, string) for every string inside `obj`."""
    if isinstance(obj, str):
        yield key, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(v, str(k))
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _strings(v, key)


def portable_path(value: str, base_dir: Path | None = None) -> str:
    """`value` without the machine's directories: relative to `base_dir` when inside it, else the
    file name alone; bundled references and relative paths stay as they are."""
    if value.startswith(BUNDLED_PREFIX) or not _is_absolute(value):
        return value
    path = Path(value).expanduser()
    if base_dir is not None:
        try:
            return path.resolve().relative_to(Path(base_dir).resolve()).as_posix()
        except ValueError:
            pass
    return path.name


def _is_absolute(value: str) -> bool:
    return value.startswith(("/", "~")) or bool(re.match(r"^[A-Za-z]:[\\/]", value))


def portable(obj: Any, base_dir: Path | None = None) -> Any:
    """`obj` (a recipe dict, a list, a string) with every absolute path made portable."""
    if isinstance(obj, str):
        return portable_path(obj, base_dir) if _looks_like_path(obj) else obj
    if isinstance(obj, dict):
        return {k: portable(v, base_dir) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [portable(v, base_dir) for v in obj]
    return obj


def _looks_like_path(value: str) -> bool:
    return _is_absolute(value) and "\n" not in value and " " not in value.strip()


def absolute_paths(obj: Any) -> list[str]:
    """Every absolute path (a whole string value) inside `obj`, e.g. a recipe's data files."""
    return sorted({v for _, v in _strings(obj) if _looks_like_path(v)})


# an absolute POSIX or home path inside prose: not part of a URL (``//``) nor a word (``a/b``)
ABSOLUTE_IN_TEXT = re.compile(r"(?<![\w:/.~-])(?:~|/)(?:[\w.@+-]+/)+[\w.@+-]*")


def scrub_paths(text: str) -> str:
    """Prose with each absolute path replaced by its last component (its file or folder name)."""
    return ABSOLUTE_IN_TEXT.sub(lambda m: PurePosixPath(m.group(0).rstrip("/")).name or m.group(0), text)


__all__ = ["Source", "absolute_paths", "bundled_meta", "describe", "is_data_ref", "portable", "portable_path",
           "recipe_sources", "scrub_paths"]  # fmt: skip
