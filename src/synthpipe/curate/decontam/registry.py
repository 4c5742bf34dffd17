"""Benchmark test sets to decontaminate against: the bundled registry and user-supplied files.

Every set loads as records ``{"id", "question", "answer", ...}``. ``question`` and ``answer``
(plus a set's ``extra_fields``) are the texts the detectors index; other fields ride along.

Bundled sets (``resources/benchmarks/<name>/``, each with ``LICENSE`` and ``SOURCE.md``;
regenerate with ``scripts/bundle_benchmarks.py``):

=========  =====  ==========================================================================
name       items  indexed texts
=========  =====  ==========================================================================
gsm8k      1319   test split: question; answer (with and without ``<<..>>`` annotations)
humaneval  164    prompt; canonical_solution (the unit tests are not indexed)
mbpp       974    all tasks (prompt, test, validation and train splits): text; code
mbpp-test  500    the test split only (tasks 11-510), for data built from MBPP's other splits
mmlu       14042  test split: stem + lettered choices; ``<letter>. <correct choice>``
trec       500    test split (read from ``resources/data/trec/test.jsonl``): the question
sst2       1821   sentence-level test split: the sentence
=========  =====  ==========================================================================

User files (JSONL, JSONL.gz, CSV, Parquet, HF dataset dir) become sets with
:meth:`BenchmarkSet.from_file`, naming the field(s) that hold the question and the answer.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from synthpipe.data.records import Record
from synthpipe.errors import UsageError
from synthpipe.pipeline.registry import suggest

_ID_COPY = "__benchmark_item_id"
_LOADED: dict[tuple[str, str], list[Record]] = {}  # (name, content hash) -> records


def resources_root() -> Path:
    return Path(str(importlib.resources.files("synthpipe") / "resources"))


def _as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class BenchmarkSet:
    """One benchmark's items: where they live and which fields hold the indexed texts.

    `question_fields` and `answer_fields` are joined with newlines into ``question`` and
    ``answer``; `extra_fields` are further answer-like texts indexed as they are (e.g.
    GSM8K's solution without calculator annotations). `id_field` None numbers the items.
    """

    name: str
    path: Path
    question_fields: tuple[str, ...] = ("question",)
    answer_fields: tuple[str, ...] = ("answer",)
    extra_fields: tuple[str, ...] = ()
    id_field: str | None = "id"
    format: str | None = None
    description: str = ""
    license: str = ""
    splits: tuple[str, ...] = ()  # keep only items whose `split` field is one of these (all if empty)
    bundled: bool = field(default=False, compare=False)

    @classmethod
    def from_file(
        cls,
        name: str,
        path: str | Path,
        question_field: str | Sequence[str],
        answer_field: str | Sequence[str] | None = None,
        *,
        id_field: str | None = "id",
        format: str | None = None,
    ) -> BenchmarkSet:
        """A user-supplied benchmark: `path` plus the names of its question/answer field(s)."""
        from synthpipe.data.paths import resolve_data_path

        if not _as_tuple(question_field):
            raise UsageError(f"benchmark {name!r}: question_field must name at least one field")
        resolved = resolve_data_path(str(path))
        if not resolved.exists():
            raise UsageError(f"benchmark {name!r}: file not found: {resolved}")
        return cls(name=name, path=resolved, question_fields=_as_tuple(question_field),
                   answer_fields=_as_tuple(answer_field), id_field=id_field, format=format,
                   description=f"user file {resolved}")  # fmt: skip

    def content_hash(self) -> str:
        """sha256 of the data file (and of the field mapping): keys caches of derived data."""
        digest = hashlib.sha256(self.path.read_bytes())
        mapping = [self.question_fields, self.answer_fields, self.extra_fields, self.id_field]
        if self.splits:  # appended only when set, so existing cache keys stay valid
            mapping.append(list(self.splits))
        digest.update(json.dumps(mapping).encode())
        return digest.hexdigest()

    def load(self) -> list[Record]:
        """The items as ``{"id", "question", "answer", ...}``; cached per process by content."""
        key = (self.name, self.content_hash())
        if key not in _LOADED:
            rows = self._raw_rows()
            if self.splits:
                rows = [r for r in rows if r.get("split") in self.splits]
            _LOADED[key] = [self._normalise(i, r) for i, r in enumerate(rows)]
        return _LOADED[key]

    def _raw_rows(self) -> list[Record]:
        suffix = "".join(self.path.suffixes[-2:])
        if self.bundled and suffix.endswith((".jsonl", ".jsonl.gz")):
            opener = gzip.open if self.path.suffix == ".gz" else open
            with opener(self.path, "rt", encoding="utf-8") as fh:
                return [json.loads(line) for line in fh if line.strip()]
        from synthpipe.data.readers import read_all

        # the reader overwrites `id` with its own line ids: carry the item ids under another name
        copy = {_ID_COPY: self.id_field} if self.id_field else None
        rows = read_all(self.path, format=self.format, id_field=None, fields=copy)
        for row in rows:
            row.pop("id", None)
            if self.id_field and _ID_COPY in row:
                row[self.id_field] = row.pop(_ID_COPY)
        return rows

    def _normalise(self, index: int, row: Record) -> Record:
        missing = [f for f in self.question_fields if f not in row]
        if missing:
            raise UsageError(
                f"benchmark {self.name!r} ({self.path}) item {index}: no field {missing[0]!r}"
            )
        item_id = row.get(self.id_field) if self.id_field else None
        out = {k: v for k, v in row.items() if not k.startswith("_")}
        out["id"] = str(item_id) if item_id is not None else f"{self.name}-{index}"
        out["question"] = _join(row, self.question_fields)
        out["answer"] = _join(row, self.answer_fields)
        return out

    def texts(self, record: Record) -> tuple[list[str], list[str]]:
        """(question-like texts, answer-like texts) of one loaded item, empty ones left out."""
        questions = [record["question"]] if record.get("question") else []
        answers = [
            record[f]
            for f in ("answer", *self.extra_fields)
            if isinstance(record.get(f), str) and record[f]
        ]
        return questions, answers


def _join(row: Record, fields: tuple[str, ...]) -> str:
    parts = []
    for name in fields:
        value = row.get(name)
        if value is None:
            continue
        parts.append(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return "\n".join(p for p in parts if p)


def _bundled(name: str, rel: str, description: str, license: str, **kwargs) -> BenchmarkSet:
    return BenchmarkSet(name=name, path=resources_root() / rel, description=description,
                        license=license, bundled=True, **kwargs)  # fmt: skip


@cache
def _bundled_sets() -> dict[str, BenchmarkSet]:
    sets = [
        _bundled("gsm8k", "benchmarks/gsm8k/test.jsonl.gz", "GSM8K test (Cobbe et al. 2021)", "MIT",
                 extra_fields=("answer_plain",)),
        _bundled("humaneval", "benchmarks/humaneval/test.jsonl", "HumanEval (Chen et al. 2021)", "MIT"),
        _bundled("mbpp", "benchmarks/mbpp/all.jsonl", "MBPP, all 974 tasks (Austin et al. 2021)", "CC-BY-4.0"),
        _bundled("mbpp-test", "benchmarks/mbpp/all.jsonl", "MBPP test split, tasks 11-510 (Austin et al. 2021)",
                 "CC-BY-4.0", splits=("test",)),
        _bundled("mmlu", "benchmarks/mmlu/test.jsonl.gz", "MMLU test (Hendrycks et al. 2021)", "MIT"),
        _bundled("trec", "data/trec/test.jsonl", "TREC question classification test (Li & Roth 2002)",
                 "research data (vendor repo MIT)", question_fields=("text",), answer_fields=()),
        _bundled("sst2", "benchmarks/sst2/test.jsonl", "SST-2 sentence-level test (Socher et al. 2013)",
                 "research data (vendor repo MIT)"),
    ]  # fmt: skip
    return {s.name: s for s in sets}


def list_benchmarks() -> list[str]:
    """Names of the bundled benchmark sets, sorted."""
    return sorted(_bundled_sets())


def get_benchmark(name: str) -> BenchmarkSet:
    """The bundled set called `name`; an unknown name raises with the valid ones."""
    sets = _bundled_sets()
    if name not in sets:
        raise UsageError(unknown_benchmark(name))
    return sets[name]


def unknown_benchmark(name: str) -> str:
    """One line for a name that is no bundled set: the closest names, then all of them."""
    names = list_benchmarks()
    hint = suggest(name, names)
    close = hint if hint.startswith("; did you mean") else ""  # the full list follows anyway
    return f"unknown benchmark {name!r}{close} (bundled benchmarks: {', '.join(names)})"


def load_benchmark(name: str | BenchmarkSet) -> list[Record]:
    """Items of a bundled set (by name) or of any :class:`BenchmarkSet`."""
    return (name if isinstance(name, BenchmarkSet) else get_benchmark(name)).load()


def resolve_benchmarks(names: Sequence[str] | str) -> list[BenchmarkSet]:
    """``"all"`` or a list of bundled names -> sets, in the given order, without repeats."""
    chosen = list_benchmarks() if names == "all" else list(dict.fromkeys(names))
    return [get_benchmark(n) for n in chosen]
