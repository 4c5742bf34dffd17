"""The ``decontaminate`` step: drop (or flag) records that contain benchmark test items.

Two detectors, run over each record's ``text_fields``:

- ``ngram`` (on by default): GPT-3 style 13-gram overlap with the benchmarks' questions and
  answers (Brown et al. 2020, Appendix C); see :mod:`synthpipe.curate.decontam.ngram`.
- ``semantic`` (off by default): MiniLM cosine similarity >= ``semantic_threshold`` to a
  benchmark question, for paraphrases (Yang et al. 2023); see
  :mod:`synthpipe.curate.decontam.semantic`.

A contaminated record is dropped with reason ``contaminated`` and a compact JSON detail listing
its hits, e.g. ``[{"benchmark":"gsm8k","item_id":"gsm8k-test-5","detector":"ngram",
"field":"text","span":"kylar went to the store to buy glasses for his new apartment one"}]``
(semantic hits carry ``"similarity"`` instead of ``"span"``). With ``action: flag`` every
record is kept and gets a ``contamination`` field: the list of hits, or null when clean.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from synthpipe.curate.decontam import ngram, registry, semantic
from synthpipe.curate.decontam.registry import BenchmarkSet, list_benchmarks, resolve_benchmarks
from synthpipe.curate.decontam.semantic import DEFAULT_THRESHOLD
from synthpipe.data.records import Batch, Record, drop
from synthpipe.embeddings.minilm import embedder_requirements
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import GlobalStep, StepConfig, StepContext


class ExtraBenchmark(BaseModel):
    """A user-supplied benchmark file (JSONL, JSONL.gz, CSV, Parquet or HF dataset dir)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(description="name reported in hits, e.g. my_eval")
    path: str = Field(description='file path; "bundled:<relative>" for data shipped with synthpipe')
    question_field: str | list[str] = Field(
        description="field(s) holding the question / prompt text"
    )
    answer_field: str | list[str] | None = Field(
        None, description="field(s) holding the reference answer, if any"
    )
    id_field: str | None = Field(
        "id", description="field holding item ids; items without one are numbered"
    )
    format: str | None = Field(
        None, description="jsonl, jsonl.gz, csv, parquet or hf; default from the suffix"
    )

    def to_set(self) -> BenchmarkSet:
        return BenchmarkSet.from_file(self.name, self.path, self.question_field, self.answer_field,
                                      id_field=self.id_field, format=self.format)  # fmt: skip


class DecontaminateConfig(StepConfig):
    benchmarks: list[str] | Literal["all"] = Field(
        "all",
        description=f'bundled benchmark sets to check against, or "all" ({", ".join(list_benchmarks())})',
    )
    extra_benchmarks: list[ExtraBenchmark] = Field([], description="user-supplied benchmark files")
    text_fields: list[str] = Field(
        ["text"], min_length=1, description="record fields to scan (e.g. [instruction, response]); "
        "strings, lists of strings and chat message lists ({content: ...}) are read"
    )  # fmt: skip
    ngram: int | None = Field(
        13, ge=1, description="n-gram length in words (GPT-3: 13); null turns the detector off"
    )
    min_ngram_overlap: int | float = Field(
        1, description="an int: distinct shared n-grams with one benchmark text to count as a hit (GPT-3: 1); "
        "a float in (0, 1]: the fraction of that benchmark text's n-grams that must be shared"
    )  # fmt: skip
    min_span_tokens: int = Field(
        8, ge=1, description="benchmark questions shorter than `ngram` but at least this long match as a whole "
        "span anywhere in a text; shorter ones (>= 3 tokens) only match a text equal to them"
    )  # fmt: skip
    ngram_mask_numbers: bool = Field(
        True, description="replace digits by 0 before n-gramming (benchmarks and records alike), so "
        "copies with other numbers still match (as datatrove's decontamination does)"
    )  # fmt: skip
    semantic: bool = Field(
        False, description="also flag paraphrases by embedding similarity (needs synthpipe[embed])"
    )
    semantic_threshold: float = Field(
        DEFAULT_THRESHOLD, gt=0, le=1,
        description="cosine similarity at or above which a text is a paraphrase of a benchmark question",
    )  # fmt: skip
    semantic_mask_numbers: bool = Field(
        True, description="replace numbers by N before embedding (both sides)"
    )
    embedding_model: str | None = Field(
        None, description="local embedding model dir [default: bundled all-MiniLM-L6-v2]"
    )
    action: Literal["drop", "flag"] = Field(
        "drop", description="drop contaminated records, or keep and flag them"
    )
    flag_field: str = Field(
        "contamination", description="field added by action=flag: list of hits, or null"
    )
    max_hits: int = Field(
        5, ge=1, description="hits listed per record in the drop detail / flag field"
    )

    @field_validator("min_ngram_overlap")
    @classmethod
    def _overlap(cls, value: int | float) -> int | float:
        if isinstance(value, int) and value < 1:
            raise ValueError("an integer min_ngram_overlap counts n-grams: use 1 or more")
        if isinstance(value, float) and not 0 < value <= 1:
            raise ValueError("a fractional min_ngram_overlap must be in (0, 1]")
        return value

    @model_validator(mode="after")
    def _some_detector(self) -> DecontaminateConfig:
        if self.ngram is None and not self.semantic:
            raise ValueError("both detectors are off: set `ngram` (e.g. 13) or `semantic: true`")
        names = ([] if self.benchmarks == "all" else self.benchmarks) + [
            b.name for b in self.extra_benchmarks
        ]
        if len(set(names)) != len(names):
            raise ValueError(f"benchmark names repeat: {names}")
        if self.benchmarks != "all":
            unknown = sorted(set(self.benchmarks) - set(list_benchmarks()))
            if unknown:
                raise ValueError(f"unknown benchmark(s) {unknown}; bundled: {list_benchmarks()}")
        return self


@register_step("decontaminate")
class Decontaminate(GlobalStep):
    """Drops (or flags) records that overlap benchmark test items.

    Two detectors (13-gram overlap, and optionally embedding similarity for paraphrases; see
    the module docstring). Records without any text field pass untouched. One pass over the
    input, batches out in input order.

    Input columns: `text_fields` (default ``text``; strings, string lists and chat lists).
    Output columns: none: marks records dropped; with ``action: flag``, `flag_field` (default
    ``contamination``): the list of hits, or null.
    Drop reasons: ``contaminated`` (detail: a JSON list of hits with ``benchmark``,
    ``item_id``, ``detector``, ``field``, ``span`` | ``similarity``).
    References: Brown et al. (2020), "Language Models are Few-Shot Learners", arXiv:2005.14165,
    appendix C (13-gram overlap); Yang et al. (2023), "Rethinking Benchmark and Contamination
    for Language Models with Rephrased Samples", arXiv:2311.04850 (paraphrases).
    """

    Config = DecontaminateConfig
    config: DecontaminateConfig
    drop_reasons = ("contaminated",)

    def input_columns(self) -> set[str]:
        return set(self.config.text_fields)

    def output_columns(self) -> set[str]:
        return {self.config.flag_field} if self.config.action == "flag" else set()
    distributed = "synthpipe.curate.decontam.distributed:decontaminate"

    def distributed_form(self) -> Callable[..., None] | None:
        """The n-gram detector runs distributed; the semantic one (a model per process) does not."""
        return None if self.config.semantic else super().distributed_form()

    def benchmark_sets(self) -> list[BenchmarkSet]:
        cfg = self.config
        return resolve_benchmarks(cfg.benchmarks) + [b.to_set() for b in cfg.extra_benchmarks]

    def input_files(self) -> list[Path]:
        return [s.path for s in self.benchmark_sets()]

    def fingerprint_extra(self, env: dict[str, Any]) -> Any:
        """The detector modules' code (the step module's own is hashed by the base) and the embedder."""
        code = {m.__name__: _source_hash(m) for m in (ngram, semantic, registry)}
        return {
            "code": code,
            "embedder": self._embedder().identity() if self.config.semantic else None,
        }

    def requirements(self) -> tuple[str, ...]:
        return embedder_requirements(self.config.embedding_model) if self.config.semantic else ()

    def _embedder(self):
        from synthpipe.embeddings import get_embedder

        return get_embedder(self.config.embedding_model)

    def run(self, batches: Callable[[], Iterator[Batch]], ctx: StepContext) -> Iterator[Batch]:
        cfg = self.config
        sets = self.benchmark_sets()
        grams = self.ngram_index(sets)
        embedder = self._embedder() if cfg.semantic else None
        sem = (
            semantic.get_index(sets, embedder, mask=cfg.semantic_mask_numbers) if embedder else None
        )
        tally: Counter[str] = Counter()
        for batch in batches():
            tally.update(self.mark_batch(batch, grams, sem, embedder, ctx))
            yield batch
        self.log_tally(tally, ctx)

    def ngram_index(self, sets: list[BenchmarkSet] | None = None) -> ngram.NgramIndex | None:
        """The n-gram index of the benchmark `sets` (built once per process), or None when the
        n-gram detector is off."""
        cfg = self.config
        if not cfg.ngram:
            return None
        return ngram.get_index(self.benchmark_sets() if sets is None else sets, n=cfg.ngram,
                               min_span=cfg.min_span_tokens, mask_numbers=cfg.ngram_mask_numbers)  # fmt: skip

    def mark_batch(self, batch: Batch, grams, sem, embedder, ctx: StepContext) -> Counter[str]:
        """Check `batch` and drop (or flag) its contaminated records in place; returns the
        contaminated records per benchmark."""
        texts = [record_texts(r, self.config.text_fields) for r in batch]
        tally: Counter[str] = Counter()
        for record, hits in zip(batch, self.detect(texts, grams, sem, embedder), strict=True):
            self.mark(record, hits, ctx)
            tally.update({h["benchmark"] for h in hits})
        return tally

    @staticmethod
    def log_tally(tally: Counter[str], ctx: StepContext) -> None:
        if tally:
            ctx.log.info("contaminated records per benchmark: %s", dict(sorted(tally.items())))

    def detect(self, texts: list[dict[str, str]], grams, sem, embedder) -> list[list[dict]]:
        """Each record's hits (`texts`: its ``{field: text}``), at most ``max_hits``."""
        cfg = self.config
        found: list[list[dict]] = [[] for _ in texts]
        if grams is not None:
            for out, hits in zip(
                found, ngram.find_hits(grams, texts, cfg.min_ngram_overlap), strict=True
            ):
                out.extend(h.as_dict() for h in hits)
        if sem is not None:
            todo = [i for i, t in enumerate(texts) if t]
            sem_hits = semantic.find_hits(
                sem, embedder, [texts[i] for i in todo], cfg.semantic_threshold, cfg.max_hits
            )
            for i, hits in zip(todo, sem_hits, strict=True):
                found[i].extend(h.as_dict() for h in hits)
        return [hits[: cfg.max_hits] for hits in found]

    def mark(self, record: Record, hits: list[dict], ctx: StepContext) -> None:
        """Drop `record` with its `hits` as detail (or flag it, with ``action: flag``)."""
        if self.config.action == "flag":
            record[self.config.flag_field] = hits or None
        elif hits:
            drop(record, ctx.name, "contaminated", hits_detail(hits))


def _source_hash(module) -> str:
    return hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest()[:16]


def hits_detail(hits: list[dict]) -> str:
    """The compact JSON of a record's hits used as the drop detail."""
    return json.dumps(hits, ensure_ascii=False, separators=(",", ":"))


def record_texts(record: Record, fields: list[str]) -> dict[str, str]:
    """``{field: text}`` of the record's non-empty text fields (strings, string lists, chat lists)."""
    out = {}
    for name in fields:
        text = _as_text(record.get(name))
        if text and text.strip():
            out[name] = text
    return out


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [
            v if isinstance(v, str) else v.get("content") if isinstance(v, dict) else None
            for v in value
        ]
        return "\n".join(p for p in parts if isinstance(p, str)) or None
    return None
