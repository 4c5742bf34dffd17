"""``seed_copy_filter``: generated texts that copy or nearly copy a seed (few-shot) example.

A generator shown a few seed examples per request repeats them, verbatim or with a word
changed ("What is the food of the Greek gods called?" for the seed "What was the food of the
Greek gods called ?"). Such a record adds no new example, and counting it as synthetic data
credits the generator with the seeds' own value. A record is a near-copy of a seed when

- ROUGE-L F between the two (word tokens, :mod:`synthpipe.text.rouge`) is at least
  ``rouge_threshold`` (default 0.85), or
- the Jaccard overlap of their content words (tokens minus question words, auxiliaries,
  articles and prepositions) is at least ``content_threshold`` (default 0.75) with at least
  ``min_content_words`` (2) content words in the seed.

Self-Instruct's novelty filter used ROUGE-L 0.7 between instructions; short questions that
share a frame are different questions ("What does NASA stand for ?" vs "What does LOL stand
for?": ROUGE-L 0.8, content overlap 0.33), hence the higher ROUGE-L threshold plus the
content-word test, which catches rewordings of the same question ("What is the difference
between a median and a median?" vs "... a median and a mean ?": content overlap 0.67, ROUGE-L
0.89). The detail names the seed: ``of <seed id> '<seed text>' (ROUGE-L 0.89, content 0.67)``.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field

from synthpipe.curate.filters.fields import read_text
from synthpipe.data.records import ID, Record
from synthpipe.errors import UsageError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import FilterResult, FilterStep, StepConfig
from synthpipe.text.rouge import rouge_l, tokenize

FUNCTION_WORDS = frozenset(
    {
        "what", "who", "whom", "whose", "which", "when", "where", "why", "how", "is", "are", "was",
        "were", "be", "been", "do", "does", "did", "can", "could", "would", "will", "should", "has",
        "have", "had", "the", "a", "an", "of", "in", "on", "at", "to", "for", "from", "by", "with",
        "and", "or", "s", "it", "its", "that", "this", "there", "you", "i", "name", "much", "many",
    }
)  # fmt: skip


def content_words(text: str) -> frozenset[str]:
    """Lower-case word tokens of `text` without question and function words."""
    return frozenset(t for t in tokenize(text) if t not in FUNCTION_WORDS)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


class SeedCopyFilterConfig(StepConfig):
    seeds: str = Field(
        "bundled:trec/seeds.jsonl", description="the seed examples the generator was shown (jsonl/csv/parquet)"
    )
    seed_text_field: str = Field("text", description="field of a seed record holding its text")
    text_field: str = Field("text", description="field of a record holding the generated text")
    rouge_threshold: float = Field(0.85, ge=0, le=1, description="ROUGE-L F at or above which a record copies a seed")
    content_threshold: float = Field(
        0.75, ge=0, le=1, description="content-word Jaccard at or above which a record copies a seed"
    )
    min_content_words: int = Field(2, ge=1, description="seeds with fewer content words get the ROUGE-L test only")


@register_step("seed_copy_filter")
class SeedCopyFilter(FilterStep):
    """Drops generated texts that copy or nearly copy a seed example (ROUGE-L or content words).

    The two tests and their thresholds are in the module docstring.

    Input columns: `text_field` (str); the seed file's `seed_text_field`.
    Output columns: none: marks records dropped.
    Drop reasons: ``copies_seed`` (detail: the seed's id and text, ROUGE-L and content-word
    overlap), ``missing_text``, ``not_text``.
    References: Wang et al. (2023), "Self-Instruct: Aligning Language Models with
    Self-Generated Instructions", ACL 2023, arXiv:2212.10560 (a new instruction is kept only
    when its ROUGE-L with every existing one is below 0.7); Lin (2004), "ROUGE: A Package for
    Automatic Evaluation of Summaries".
    """

    Config = SeedCopyFilterConfig
    config: SeedCopyFilterConfig
    cpu_bound = True
    drop_reasons = ("copies_seed", "missing_text", "not_text")

    def _seeds_path(self) -> Path:
        from synthpipe.data.paths import resolve_data_path

        return Path(resolve_data_path(self.config.seeds))

    def input_files(self) -> list[Path]:
        return [self._seeds_path()]

    def input_columns(self) -> set[str]:
        return {self.config.text_field}

    def output_columns(self) -> set[str]:
        return set()

    @cached_property
    def seeds(self) -> list[tuple[str, str, tuple[str, ...], frozenset[str]]]:
        """(id, text, tokens, content words) of every seed with a text."""
        from synthpipe.data.readers import read_all

        path, field = self._seeds_path(), self.config.seed_text_field
        if not path.exists():
            raise UsageError(f"seed_copy_filter: no such seed file {self.config.seeds!r} (resolved to {path})")
        rows = read_all(path)
        seeds = [
            (str(r.get(ID) or f"seed-{i}"), str(r[field]).strip())
            for i, r in enumerate(rows)
            if str(r.get(field) or "").strip()
        ]
        if not seeds:
            raise UsageError(
                f"seed_copy_filter: seed file {path} has no record with a {field!r}; set `seed_text_field`"
            )
        return [(sid, text, tuple(tokenize(text)), content_words(text)) for sid, text in seeds]

    def nearest(self, text: str) -> tuple[int, float, float]:
        """(seed index, ROUGE-L, content overlap) of the seed `text` copies most."""
        tokens, words = tokenize(text), content_words(text)
        best = (0, -1.0, -1.0)
        for i, (_sid, _text, seed_tokens, seed_words) in enumerate(self.seeds):
            rouge = rouge_l(tokens, seed_tokens) if tokens and seed_tokens else 0.0
            content = jaccard(words, seed_words) if len(seed_words) >= self.config.min_content_words else 0.0
            if max(rouge, content) > max(best[1], best[2]):
                best = (i, rouge, content)
        return best

    def keep(self, record: Record) -> FilterResult:
        text = read_text(record, self.config.text_field)
        if isinstance(text, tuple):  # missing or not text: the drop verdict
            return text
        i, rouge, content = self.nearest(text)
        cfg = self.config
        if rouge >= cfg.rouge_threshold or content >= cfg.content_threshold:
            sid, seed_text = self.seeds[i][0], self.seeds[i][1]
            return False, "copies_seed", f"of {sid} {seed_text!r} (ROUGE-L {rouge:.2f}, content {content:.2f})"
        return True
