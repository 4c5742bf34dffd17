"""The ``decontaminate`` step: drop (or flag) records that contain benchmark test items.

Detectors, run over each record's ``text_fields``; each hit names its detector and evidence:

- ``ngram`` (on by default): GPT-3 style 13-gram overlap with a benchmark *question* (Brown et
  al. 2020, Appendix C); see :mod:`synthpipe.curate.decontam.ngram`.
- ``ngram_answer``: 13-gram overlap with a benchmark *answer* alone. Worked solutions share
  formulaic stretches (digits masked, "Tony's age now is 24 / 2 = <<24/2=12>>12 years old. In
  6 years he will be" matches the solution of "Jame will turn 27 in 5 years", a different
  problem), so such a match counts only when the question overlaps by a shorter window or the
  match is long and specific (:class:`~synthpipe.curate.decontam.ngram.AnswerRule`); the others
  are set aside, and the summary says how many records that spared.
- ``semantic`` (off by default): MiniLM cosine similarity to a benchmark question, at the
  benchmark's calibrated threshold (or a lower one when the record states the question's
  numbers); see :mod:`synthpipe.curate.decontam.semantic`.
- ``llm_judge`` (``llm_judge: <endpoint>``, needs ``semantic: true``): the semantic detector's
  nearest questions go to an LLM that says whether each pair is a rephrase, as in Yang et al.
  (2023); the judge then decides instead of the thresholds. See
  :mod:`synthpipe.curate.decontam.judge`.

A contaminated record is dropped with reason ``contaminated`` and a compact JSON detail listing
its hits, e.g. ``[{"benchmark":"gsm8k","item_id":"gsm8k-test-5","detector":"ngram",
"field":"text","span":"kylar went to the store to buy glasses for his new apartment one"}]``
(``ngram_answer`` hits add ``words`` and ``share``, semantic and judge hits carry
``similarity``, plus ``same_numbers`` or the judge's ``verdict``). With ``action: flag`` every
record is kept and gets a ``contamination`` field: the list of hits, or null when clean.

The run's numbers (records caught per detector and benchmark, what each detector means, the
matches set aside, the judge's verdicts) are logged and written to
``<run dir>/decontaminate_summary.json``; ``last_summary`` holds them too.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from synthpipe.curate.decontam import judge, ngram, registry, semantic
from synthpipe.curate.decontam.ngram import AnswerRule
from synthpipe.curate.decontam.registry import BenchmarkSet, list_benchmarks, resolve_benchmarks
from synthpipe.curate.decontam.semantic import SemanticHit, Thresholds
from synthpipe.data.records import Batch, Record, drop
from synthpipe.embeddings.minilm import embedder_requirements
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.rundir import write_step_summary
from synthpipe.pipeline.step import GlobalStep, StepConfig, StepContext

SUMMARY_FILE = "decontaminate_summary.json"
# records checked at once: the embedder sorts all their texts by length (padding ~1.06x the
# tokens instead of 2.2x in 250-record batches) and the n-gram kernel hashes them in one go
WINDOW = 8192
DETECTORS = ("ngram", "ngram_answer", "semantic", "llm_judge")
_ANSWERS = AnswerRule()
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
    answer_min_words: int = Field(
        _ANSWERS.min_words, ge=1, description="a match with a benchmark answer alone counts when the matched "
        "stretch holds this many distinct words (numbers not counted)..."
    )  # fmt: skip
    answer_min_share: float = Field(
        _ANSWERS.min_share, gt=0, le=1, description="... or covers this share of the answer's n-grams"
    )
    semantic: bool = Field(
        False, description="also flag paraphrases by embedding similarity (needs synthpipe[embed])"
    )
    semantic_threshold: float | dict[str, float] | None = Field(
        None, description="cosine similarity at or above which a text is a paraphrase of a benchmark "
        "question: one value, or {benchmark: value}; default: calibrated per benchmark (gsm8k 0.89, others 0.85)"
    )  # fmt: skip
    semantic_same_numbers: float | dict[str, float] | None = Field(
        None, description="lower similarity that counts when the text states the question's numbers (>= 2): "
        "one value or {benchmark: value}; default: calibrated (gsm8k 0.75, others off); 1 turns it off"
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
    llm_judge: str | None = Field(
        None, description="endpoint (recipe `llms:`) asked whether each nearest benchmark question is "
        "rephrased in the record; it then decides instead of the semantic thresholds (needs semantic: true)"
    )  # fmt: skip
    judge_threshold: float = Field(
        0.6, gt=0, le=1, description="similarity from which a nearest question goes to the judge"
    )
    judge_top_k: int = Field(1, ge=1, description="nearest questions per record sent to the judge")
    judge_template: str | None = Field(None, description="prompt file replacing the bundled judge prompt")
    judge_max_tokens: int = Field(16, ge=1, description="longest judge reply (one word is asked)")

    @field_validator("semantic_threshold", "semantic_same_numbers")
    @classmethod
    def _similarities(cls, value: float | dict[str, float] | None):
        values = value.values() if isinstance(value, dict) else [] if value is None else [value]
        if any(not 0 < v <= 1 for v in values):
            raise ValueError("similarity thresholds must be in (0, 1]")
        return value

    @field_validator("min_ngram_overlap")
    @classmethod
    def _overlap(cls, value: int | float) -> int | float:
        if isinstance(value, int) and value < 1:
            raise ValueError("an integer min_ngram_overlap counts n-grams: use 1 or more")
        if isinstance(value, float) and not 0 < value <= 1:
            raise ValueError("a fractional min_ngram_overlap must be in (0, 1]")
        return value

    @field_validator("benchmarks")
    @classmethod
    def _bundled(cls, value: list[str] | str) -> list[str] | str:
        if value != "all":
            unknown = [name for name in value if name not in list_benchmarks()]
            if unknown:
                raise ValueError("; ".join(registry.unknown_benchmark(name) for name in unknown))
        return value

    @property
    def llm(self) -> str | None:
        """The endpoint called (the name run estimates read on LLM-using steps)."""
        return self.llm_judge

    @property
    def max_tokens(self) -> int:
        return self.judge_max_tokens

    @model_validator(mode="after")
    def _some_detector(self) -> DecontaminateConfig:
        if self.ngram is None and not self.semantic:
            raise ValueError("both detectors are off: set `ngram` (e.g. 13) or `semantic: true`")
        if self.llm_judge and not self.semantic:
            raise ValueError("llm_judge reads the semantic detector's nearest questions: set `semantic: true`")
        names = ([] if self.benchmarks == "all" else self.benchmarks) + [
            b.name for b in self.extra_benchmarks
        ]
        if self.benchmarks != "all" and not names:  # checking nothing would pass every record as clean
            raise ValueError('no benchmarks to check: name bundled sets in `benchmarks` (or "all") '
                             "or add `extra_benchmarks`")  # fmt: skip
        if len(set(names)) != len(names):
            raise ValueError(f"benchmark names repeat: {names}")
        return self


@register_step("decontaminate")
class Decontaminate(GlobalStep):
    """Drops (or flags) records that overlap benchmark test items.

    Detectors (see the module docstring): 13-gram overlap with a benchmark question; with a
    benchmark answer alone, only when the match is long and specific; optionally embedding
    similarity at per-benchmark calibrated thresholds, and an LLM judge of each nearest pair.
    The run's summary counts the records each detector caught, and why (``last_summary``,
    ``decontaminate_summary.json``). Records without any text field pass untouched. One pass
    over the input, batches out in input order.

    Input columns: `text_fields` (default ``text``; strings, string lists and chat lists).
    Output columns: none: marks records dropped; with ``action: flag``, `flag_field` (default
    ``contamination``): the list of hits, or null.
    Drop reasons: ``contaminated`` (detail: a JSON list of hits with ``benchmark``,
    ``item_id``, ``detector`` (``ngram``, ``ngram_answer``, ``semantic``, ``llm_judge``),
    ``field`` and the evidence: ``span`` (+ ``words``, ``share``) | ``similarity``).
    References: Brown et al. (2020), "Language Models are Few-Shot Learners", arXiv:2005.14165,
    appendix C (13-gram overlap); Yang et al. (2023), "Rethinking Benchmark and Contamination
    for Language Models with Rephrased Samples", arXiv:2311.04850 (paraphrases; the LLM judge
    of nearest-neighbour pairs).
    """

    Config = DecontaminateConfig
    marks_only = True  # one output batch per input batch, drops marked
    config: DecontaminateConfig
    drop_reasons = ("contaminated",)
    distributed = "synthpipe.curate.decontam.distributed:decontaminate"
    last_summary: dict[str, Any] | None = None

    def input_columns(self) -> set[str]:
        return set(self.config.text_fields)

    def output_columns(self) -> set[str]:
        return {self.config.flag_field} if self.config.action == "flag" else set()

    def distributed_form(self) -> Callable[..., None] | None:
        """The n-gram detector runs distributed; the semantic one (a model per process) does not."""
        return None if self.config.semantic else super().distributed_form()

    # -- the LLM judge, as run/ sees LLM-using steps -------------------------------------------
    @property
    def uses_llm(self) -> bool:
        return bool(self.config.llm_judge)

    def llm_names(self) -> list[str]:
        return [self.config.llm_judge] if self.config.llm_judge else []

    def estimate_requests(self, n_records: int | None) -> int:
        """At most `judge_top_k` pairs per record (records the n-gram detector caught skip it)."""
        return (n_records or 0) * self.config.judge_top_k if self.config.llm_judge else 0

    def judge(self) -> judge.RephraseJudge:
        return judge.RephraseJudge(self.config.judge_template, self.config.judge_max_tokens)

    # -- inputs and fingerprint -----------------------------------------------------------------
    def benchmark_sets(self) -> list[BenchmarkSet]:
        cfg = self.config
        return resolve_benchmarks(cfg.benchmarks) + [b.to_set() for b in cfg.extra_benchmarks]

    def input_files(self) -> list[Path]:
        files = [s.path for s in self.benchmark_sets()]
        return files + ([self.judge().template_path] if self.config.llm_judge else [])

    def fingerprint_extra(self, env: dict[str, Any]) -> Any:
        """The detector modules' code (the step module's own is hashed by the base), the embedder
        and the judge's endpoint."""
        cfg = self.config
        code = {m.__name__: _source_hash(m) for m in (ngram, semantic, registry, judge)}
        llm = (env.get("llms") or {}).get(cfg.llm_judge) if cfg.llm_judge else None
        return {
            "code": code,
            "embedder": self._embedder().identity() if cfg.semantic else None,
            "judge": (llm.identity() if llm is not None else cfg.llm_judge) if cfg.llm_judge else None,
        }

    def requirements(self) -> tuple[str, ...]:
        return embedder_requirements(self.config.embedding_model) if self.config.semantic else ()

    def _embedder(self):
        from synthpipe.embeddings import get_embedder

        return get_embedder(self.config.embedding_model)

    def answer_rule(self) -> AnswerRule:
        return AnswerRule(self.config.answer_min_words, self.config.answer_min_share)

    def thresholds(self) -> dict[str, Thresholds]:
        """Each benchmark's semantic thresholds: calibrated, or as the config sets them."""
        cfg = self.config
        return {
            s.name: semantic.thresholds_for(
                s.name, _for(cfg.semantic_threshold, s.name), _for(cfg.semantic_same_numbers, s.name)
            )
            for s in self.benchmark_sets()
        }

    # -- the run ----------------------------------------------------------------------------------
    def only_marks_drops(self) -> bool:
        return self.config.action != "flag"  # flagging writes a field into the record

    def run(self, batches: Callable[[], Iterator[Batch]], ctx: StepContext) -> Iterator[Batch]:
        cfg = self.config
        sets = self.benchmark_sets()
        grams = self.ngram_index(sets)
        embedder = self._embedder() if cfg.semantic else None
        sem = (
            semantic.get_index(sets, embedder, mask=cfg.semantic_mask_numbers) if embedder else None
        )
        tally: Counter[str] = Counter()
        for window in _windows(batches(), WINDOW):  # checked together, yielded as they came
            tally.update(self.mark_batch([r for batch in window for r in batch], grams, sem, embedder, ctx))
            yield from window
        self.report(tally, ctx)

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
        batch's counts for the summary (see :meth:`report`)."""
        texts = [record_texts(r, self.config.text_fields) for r in batch]
        hits: list[list[dict]] = [[] for _ in texts]
        tally: Counter[str] = Counter(records=len(batch))
        spared = [False] * len(texts)
        if grams is not None:
            found = ngram.find_matches(grams, texts, self.config.min_ngram_overlap, self.answer_rule())
            for i, matches in enumerate(found):
                if matches.hits or matches.set_aside:  # most records: neither
                    hits[i].extend(h.as_dict() for h in matches.hits)
                    spared[i] = bool(matches.set_aside)
        if sem is not None:
            if self.config.llm_judge:
                self.judge_nearest(sem, embedder, texts, hits, ctx, tally)
            else:
                self.semantic_hits(sem, embedder, texts, hits)
        flagging = self.config.action == "flag"
        for record, found_hits, was_spared in zip(batch, hits, spared, strict=True):
            if found_hits or flagging:
                self.mark(record, found_hits[: self.config.max_hits], ctx)
            if found_hits or was_spared:  # a clean record adds nothing but its count
                tally.update(_counts(found_hits, was_spared))
        return tally

    def semantic_hits(self, sem, embedder, texts: list[dict[str, str]], hits: list[list[dict]]) -> None:
        todo = [i for i, t in enumerate(texts) if t]
        found = semantic.find_hits(sem, embedder, [texts[i] for i in todo], self.thresholds(), self.config.max_hits)
        for i, record_hits in zip(todo, found, strict=True):
            hits[i].extend(h.as_dict() for h in record_hits)

    def judge_nearest(self, sem, embedder, texts, hits, ctx: StepContext, tally: Counter[str]) -> None:
        """Ask the judge about each record's nearest questions (records already caught by the
        n-gram detector are not asked); a failed request falls back to the thresholds."""
        cfg = self.config
        todo = [i for i, t in enumerate(texts) if t and not hits[i]]
        near = semantic.neighbours(sem, embedder, [texts[i] for i in todo], cfg.judge_threshold, cfg.judge_top_k)
        asked: list[tuple[int, semantic.Neighbour]] = []
        for i, candidates in zip(todo, near, strict=True):
            seen: set[int] = set()
            for n in candidates:
                if n.row not in seen and len(seen) < cfg.judge_top_k:
                    seen.add(n.row)
                    asked.append((i, n))
        pairs = [judge.Pair(sem.owners[n.row][0], sem.questions[n.row], n.text) for _, n in asked]
        verdicts = self.judge().ask_all(ctx.llm(cfg.llm_judge), pairs) if pairs else []
        rules = self.thresholds()
        for (i, n), verdict in zip(asked, verdicts, strict=True):
            bench, item_id = sem.owners[n.row]
            tally["judge:pairs"] += 1
            if verdict.rephrase is None:
                tally["judge:errors"] += 1
                if not rules[bench].accepts(n.similarity, n.shared_numbers):
                    continue
                hit = SemanticHit(bench, item_id, n.field, n.similarity, evidence={"judge": "error"})
            elif verdict.rephrase:
                tally["judge:rephrase"] += 1
                hit = SemanticHit(bench, item_id, n.field, n.similarity, detector="llm_judge",
                                  evidence={"verdict": verdict.reply})  # fmt: skip
            else:
                tally["judge:not_rephrase"] += 1
                continue
            hits[i].append(hit.as_dict())

    def mark(self, record: Record, hits: list[dict], ctx: StepContext) -> None:
        """Drop `record` with its `hits` as detail (or flag it, with ``action: flag``)."""
        if self.config.action == "flag":
            record[self.config.flag_field] = hits or None
        elif hits:
            drop(record, ctx.name, "contaminated", hits_detail(hits))

    # -- the summary ------------------------------------------------------------------------------
    def summary(self, tally: Counter[str]) -> dict[str, Any]:
        """The run's numbers from the counts of :meth:`mark_batch`."""
        cfg = self.config
        on = self.detectors()
        out: dict[str, Any] = {
            "action": cfg.action,
            "records": tally["records"],
            "contaminated": tally["contaminated"],
            "by_detector": {d: tally[f"detector:{d}"] for d in on},
            "by_benchmark": {k.split(":", 1)[1]: v for k, v in sorted(tally.items()) if k.startswith("benchmark:")},
            "why": {d: self.rule_text(d) for d in on},
        }
        if cfg.ngram:
            out["spared_answer_only"] = tally["spared:ngram_answer"]
        if cfg.llm_judge:
            out["llm_judge"] = {"endpoint": cfg.llm_judge, "pairs": tally["judge:pairs"],
                                "rephrase": tally["judge:rephrase"], "not_rephrase": tally["judge:not_rephrase"],
                                "errors": tally["judge:errors"]}  # fmt: skip
        return out

    def detectors(self) -> list[str]:
        cfg = self.config
        on = ["ngram", "ngram_answer"] if cfg.ngram else []
        if cfg.semantic:
            on.append("semantic")
        return on + (["llm_judge"] if cfg.llm_judge else [])

    def rule_text(self, detector: str) -> str:
        """What a hit of `detector` means, with this config's numbers."""
        cfg = self.config
        if detector == "ngram":
            return f"shares a {cfg.ngram}-word span with a benchmark question (digits masked: {cfg.ngram_mask_numbers})"
        if detector == "ngram_answer":
            return (f"shares {cfg.ngram}-word spans with a benchmark answer alone, over >= {cfg.answer_min_words} "
                    f"distinct words or >= {cfg.answer_min_share:.0%} of the answer; shorter matches are set aside")  # fmt: skip
        if detector == "semantic":
            rules = ", ".join(f"{b} {t.similarity:g}" + (f" (same numbers {t.same_numbers:g})" if t.same_numbers else "")
                              for b, t in self.thresholds().items())  # fmt: skip
            extra = " (a judge request that failed)" if cfg.llm_judge else ""
            return f"embedding similarity to a benchmark question at least: {rules}{extra}"
        return (f"the LLM {cfg.llm_judge!r} judged a nearest benchmark question (similarity >= "
                f"{cfg.judge_threshold:g}, top {cfg.judge_top_k}) rephrased in the record")  # fmt: skip

    def report(self, tally: Counter[str], ctx: StepContext) -> None:
        """Keep the summary as `last_summary`, log it and write it to the run directory."""
        summary = self.summary(tally)
        self.last_summary = {"step": ctx.name, **summary}
        verb = "flagged" if self.config.action == "flag" else "dropped"
        detectors = ", ".join(f"{d} {n}" for d, n in summary["by_detector"].items())
        ctx.log.info("decontaminate: %d of %d records contaminated (%s): %s; %d spared (answer-only "
                     "n-gram matches too short or formulaic)", summary["contaminated"], summary["records"],
                     verb, detectors, summary.get("spared_answer_only", 0))  # fmt: skip
        if ctx.run_dir is None:
            return
        write_step_summary(ctx.run_dir, SUMMARY_FILE, ctx.name, self.last_summary)


def _windows(batches: Iterator[Batch], size: int) -> Iterator[list[Batch]]:
    """Consecutive batches grouped until they hold at least `size` records."""
    window: list[Batch] = []
    count = 0
    for batch in batches:
        window.append(batch)
        count += len(batch)
        if count >= size:
            yield window
            window, count = [], 0
    if window:
        yield window


def _for(value: float | dict[str, float] | None, name: str) -> float | None:
    return value.get(name) if isinstance(value, dict) else value


def _counts(hits: list[dict], spared: bool) -> Counter[str]:
    """One record's contribution to the summary counts."""
    if not hits:
        return Counter({"spared:ngram_answer": int(spared)})
    out = Counter({"contaminated": 1})
    out.update(f"detector:{d}" for d in {h["detector"] for h in hits})
    out.update(f"benchmark:{b}" for b in {h["benchmark"] for h in hits})
    return out


def _source_hash(module) -> str:
    return hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest()[:16]


def hits_detail(hits: list[dict]) -> list[dict]:
    """A record's hits as its drop detail: structured, so the ledger holds them as data."""
    return [dict(hit) for hit in hits]


def record_texts(record: Record, fields: list[str]) -> dict[str, str]:
    """``{field: text}`` of the record's non-empty text fields (strings, string lists, chat lists)."""
    out = {}
    for name in fields:
        text = _as_text(record.get(name))
        if text and not text.isspace():  # (no copy, unlike strip())
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
