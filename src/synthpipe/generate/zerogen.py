"""ZeroGen-style label-conditioned generation of classification data, with attribute diversity.

Ye, Gao, Li, Feng, Wu, Yu and Kong. 2022. "ZeroGen: Efficient Zero-shot Learning via Dataset
Generation". EMNLP 2022. arXiv:2202.07922. With few-shot seeds and randomly sampled attributes
as in Yu, Zhuang, Zhang, Meng, Ratner, Krishna, Shen and Zhang. 2023. "Large Language Model as
Attributed Training Data Generator: A Tale of Diversity and Bias". NeurIPS 2023.
arXiv:2306.15895.

An LLM source step (``zerogen``), the LLM counterpart of the ``slot_template`` baseline: it
plugs into the same recipe (``recipes/quickstart_llm.yaml``) and emits the same fields.

Algorithm
1. Labels: `labels`, else every label of the seed file and of `label_descriptions`. Without
   `seeds`, generation is zero-shot (ZeroGen proper) and needs `label_descriptions` or `labels`.
2. Records per label: the same for every label (``balanced``) or in the seed file's
   proportions (``seed_proportional``), summing to `n`; each label's records are split into
   requests of `per_request` examples; the requests are shuffled (seeded) so batches mix labels.
   The plan is made for ``PLAN_BLOCK`` records at a time (block k has its own counts and
   shuffle), so memory does not grow with `n` and a run of any size starts at once.
3. Each request shows the label, its description (a label-descriptive prompt, as in ZeroGen),
   `few_shot` seed examples of that label sampled per request, and one value per attribute in
   `attributes` sampled per request (AttrPrompt), and asks for a numbered list of
   `per_request` examples.
4. The reply is parsed as a numbered (or bullet) list; each item becomes a record ``{text,
   label}``. With ``reply_format: lines`` every non-empty line is an item (list markers
   stripped), for small models that mark lines inconsistently; ``prompt_style: small`` uses a short
   prompt such models follow (``zerogen_small.jinja2``). Nothing is lost silently: a reply with no list, or a request that gave up,
   yields one dropped record (``parse_error`` / ``llm_error``, with the raw reply, id of the
   request's first slot); an item equal to a seed example (ignoring case, spaces and
   punctuation) is dropped as ``copied_seed`` (with `keep_seeds_out`); items beyond
   `per_request` are dropped as ``extra_item`` (ids ``zerogen-<first>-extra<k>``). Replies with fewer items give fewer records (the run's count shows it).

Output records: ``id`` (``zerogen-<index>``: request r's items take indexes from the sum of
the sizes of the requests before it, so ids never depend on other replies), ``text``,
``label``, and ``_lineage[<step>]`` with technique, template hash, request seed, request number,
``attributes`` and ``few_shot`` (ids of the seed examples shown).

Determinism and resume: the plan (labels, attributes, few-shot examples, seeds of every
request) depends only on (seed, config), so batch b can be made without the earlier ones:
resume skips finished batches without any request.

Deviations from the papers: ZeroGen prompts a causal LM with one label-descriptive prefix per
example and decodes with top-k; here a chat model writes `per_request` examples per request
(cheaper, and list-level diversity). AttrPrompt generates attribute values with the LLM;
here they come from the config.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from synthpipe.data.records import ID, Batch, Record, add_lineage, drop, is_dropped
from synthpipe.data.sampling import label_counts, mix_seed
from synthpipe.errors import UsageError
from synthpipe.generate.parsing import clean_item, parse_numbered_list, strip_fences, strip_preamble
from synthpipe.generate.task import LLMSource, LLMTaskConfig, ParseError, drop_failed, record_seed
from synthpipe.llm.types import LLMError, TruncatedReply
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepContext

PLAN_BLOCK = 100_000  # records planned at once (a run of at most this many is one block)

class ZeroGenConfig(LLMTaskConfig):
    """Options of the `zerogen` generator."""

    seeds: str | None = Field(
        "bundled:trec/seeds.jsonl",
        description="labelled seed examples (jsonl/csv/parquet or bundled:...) shown as few-shot "
        "examples; None for zero-shot generation from label descriptions",
    )
    text_field: str = Field("text", description="field of a seed record holding its text")
    label_field: str = Field("label", description="field of a seed record holding its label")
    labels: list[str] | None = Field(
        None,
        description="labels to generate; default: every label of the seeds and of label_descriptions",
    )
    label_descriptions: dict[str, str] = Field(
        {},
        description="what each label means, shown in the prompt (e.g. ABBR: questions asking for an abbreviation)",
    )
    text_kind: str = Field(
        "short text", description="what one example is, e.g. 'question', 'movie review'"
    )
    task_description: str = Field(
        "", description="optional sentence about the classification task or domain"
    )
    n: int = Field(2000, gt=0, description="examples to ask for in total")
    per_label: Literal["balanced", "seed_proportional"] = Field(
        "balanced",
        description="'balanced': as many per label; 'seed_proportional': like the seed file",
    )
    per_request: int = Field(
        5, ge=1, le=50, description="examples asked for per request (a numbered list)"
    )
    few_shot: int = Field(3, ge=0, description="seed examples of the label shown per request")
    attributes: dict[str, list[str]] = Field(
        {},
        description="attribute -> values; one value per attribute is sampled per request, e.g. "
        "{topic: [...], length: [short, medium], style: [...]}",
    )
    prompt_style: Literal["default", "small"] = Field(
        "default",
        description="bundled prompt: 'default' (label description, attributes and rules), or "
        "'small' (zerogen_small.jinja2: one short turn that a ~100M-parameter model follows; "
        "`template` replaces either)",
    )
    reply_format: Literal["numbered", "lines"] = Field(
        "numbered",
        description="'numbered': items of a numbered (or bullet) list; 'lines': every non-empty "
        "line is one item, list markers stripped (small models number, bullet, letter or do "
        "not mark their lines; chatter lines are left to curation filters)",
    )
    keep_seeds_out: bool = Field(
        True, description="drop generated examples equal to a seed example"
    )
    temperature: float = Field(1.0, ge=0, le=2, description="sampling temperature (diversity)")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling")
    max_tokens: int = Field(512, ge=1, description="longest reply")
    seed: int | None = Field(None, description="random seed; defaults to the run's seed")

    @model_validator(mode="after")
    def _needs_labels(self) -> ZeroGenConfig:
        if self.seeds is None and not (self.labels or self.label_descriptions):
            raise ValueError(
                "zero-shot zerogen (seeds: null) needs `labels` or `label_descriptions`"
            )
        for name, values in self.attributes.items():
            if not values:
                raise ValueError(f"attribute {name!r} has no values")
        return self


@dataclass(frozen=True)
class Request:
    number: int  # position in the shuffled plan
    label: str
    size: int  # examples asked for
    start: int  # index of its first record
    attributes: dict[str, str]
    few_shot: list[Record]
    seed: int


# A line's list marker, possibly repeated ("1. 1. What ...?"): a number, a bullet, a letter
# ("A: ", "b) "), or a label ("Question:", "A question:", "Q:", "Example 3:").
_LINE_MARKER = re.compile(
    r"^\s*(?:(?:\d{1,3}\s*[.):\]]|[-*•]|[A-Ea-e]\s*[.):]|\(\d{1,3}\)"
    r"|(?:(?:a|new|another)\s+)?(?:question|example|q)\s*\d{0,3}\s*[:.)])\s*)+",
    re.IGNORECASE,
)


def parse_lines(reply: str) -> list[str]:
    """Every non-empty line of `reply` as one item, list markers stripped (see `_LINE_MARKER`).

    Only a first line of chatter that introduces the list ("Here are five questions:") is
    skipped, as text before a numbered list is; every other line is an item, chatter
    included, for curation to judge with a reason."""
    items = []
    for line in strip_preamble(strip_fences(reply)).splitlines():
        text = clean_item(_LINE_MARKER.sub("", line, count=1))
        if text:
            items.append(text)
    return items


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


@register_step("zerogen")
class ZeroGen(LLMSource):
    """Label-conditioned classification examples from an LLM, with few-shot seeds and attributes.

    The LLM counterpart of ``slot_template``; the algorithm (labels, per-label counts,
    requests, parsing) is in the module docstring.

    Input columns: none (a source; `text_field` and `label_field` name the seed file's fields).
    Output columns: ``text``, ``label`` (and ``id``, ``_lineage``).
    Drop reasons: ``parse_error`` (a reply with no list), ``llm_error`` (a request gave up),
    ``truncated`` (a reply cut at max_tokens keeps its complete items and drops its last one
    with this reason; a cut reply with fewer than two items drops whole), ``copied_seed``
    (equal to a seed example, with `keep_seeds_out`),
    ``extra_item`` (items beyond `per_request`).
    References: Ye et al. (2022), "ZeroGen: Efficient Zero-shot Learning via Dataset
    Generation", EMNLP 2022, arXiv:2202.07922; Yu et al. (2023), "Large Language Model as
    Attributed Training Data Generator: A Tale of Diversity and Bias", NeurIPS 2023,
    arXiv:2306.15895.
    """

    Config = ZeroGenConfig
    config: ZeroGenConfig
    template_file: ClassVar[str] = "zerogen.jinja2"
    template_variables: ClassVar[dict[str, tuple[str, ...]]] = {  # checked at recipe load
        "main": ("label", "description", "k", "text_kind", "task_description", "examples",
                 "attributes", "config"),
    }  # fmt: skip
    skips_resumed_batches: ClassVar[bool] = True
    drop_reasons = ("parse_error", "llm_error", "truncated", "copied_seed", "extra_item")

    def output_columns(self) -> set[str]:
        return {"text", "label"}

    def template_roles(self) -> dict[str, str]:
        small = self.config.prompt_style == "small"
        return {self.main_role: "zerogen_small.jinja2" if small else self.template_file}

    # -- inputs -----------------------------------------------------------------------------
    def _seeds_path(self) -> Path | None:
        from synthpipe.data.paths import resolve_data_path

        return Path(resolve_data_path(self.config.seeds)) if self.config.seeds else None

    def input_files(self) -> list[Path]:
        path = self._seeds_path()
        return [*super().input_files(), *([path] if path else [])]

    def expected_count(self) -> int:
        return self.config.n

    def estimate_requests(self, n_records: int | None) -> int:
        """Exact for --dry-run: one request per planned request."""
        return self.count_requests(0)

    @cached_property
    def seeds(self) -> list[Record]:
        """Seed examples {id, text, label}."""
        path = self._seeds_path()
        if path is None:
            return []
        from synthpipe.data.readers import read_all

        cfg = self.config
        rows = read_all(
            path,
            fields={"text": cfg.text_field, "label": cfg.label_field},
            required=["text", "label"],
        )
        seeds = [
            {
                ID: str(r.get(ID) or f"seed-{i}"),
                "text": str(r["text"]).strip(),
                "label": str(r["label"]),
            }
            for i, r in enumerate(rows)
            if str(r.get("text") or "").strip() and r.get("label") is not None
        ]
        if not seeds:
            raise UsageError(
                f"seed file {path} has no record with a {cfg.text_field!r} and a {cfg.label_field!r}; "
                "fix the field names or set `seeds: null` for zero-shot generation"
            )
        return seeds

    @cached_property
    def labels(self) -> list[str]:
        cfg = self.config
        if cfg.labels:
            return list(dict.fromkeys(cfg.labels))
        return sorted({s["label"] for s in self.seeds} | set(cfg.label_descriptions))

    # -- plan -------------------------------------------------------------------------------
    def plan(self, seed: int, ctx_name: str) -> list[Request]:
        """Every request of the run, in order; depends only on (seed, config)."""
        return list(self.iter_plan(seed, ctx_name))

    def iter_plan(self, seed: int, ctx_name: str, first: int = 0) -> Iterator[Request]:
        """The requests of the run from number `first` on, made one block at a time."""
        cfg = self.config
        by_label: dict[str, list[Record]] = defaultdict(list)
        for s in self.seeds:
            by_label[s["label"]].append(s)
        number = 0
        for block in range(self._blocks()):
            in_block = self._requests(seed, block)
            shapes = self._shapes(seed, block) if number + in_block > first else []
            start = block * PLAN_BLOCK
            for label, size in shapes:
                if number >= first:
                    r_rng = random.Random(mix_seed(seed, "request", number))
                    attributes = {
                        name: r_rng.choice(values) for name, values in sorted(cfg.attributes.items())
                    }
                    pool = by_label.get(label, [])
                    few_shot = r_rng.sample(pool, min(cfg.few_shot, len(pool)))
                    seed_ = record_seed(seed, ctx_name, "request", number)
                    yield Request(number, label, size, start, attributes, few_shot, seed_)
                number, start = number + 1, start + size
            if not shapes:
                number += in_block

    def count_requests(self, seed: int) -> int:
        """How many requests the run makes (without planning them)."""
        return sum(self._requests(seed, block) for block in range(self._blocks()))

    def _blocks(self) -> int:
        return -(-self.config.n // PLAN_BLOCK)

    def _counts(self, seed: int, block: int) -> tuple[dict[str, int], random.Random]:
        """Records per label in `block`, and the block's RNG (block 0 keeps the old seeding)."""
        cfg = self.config
        rng = random.Random(mix_seed(seed, "plan") if block == 0 else mix_seed(seed, "plan", block))
        size = min(PLAN_BLOCK, cfg.n - block * PLAN_BLOCK)
        seed_counts = Counter(s["label"] for s in self.seeds)
        return label_counts(self.labels, seed_counts, size, cfg.per_label, rng), rng

    def _shapes(self, seed: int, block: int) -> list[tuple[str, int]]:
        """(label, examples asked for) of each request of `block`, shuffled."""
        per = self.config.per_request
        counts, rng = self._counts(seed, block)
        shapes = [
            (label, min(per, counts[label] - k)) for label in self.labels for k in range(0, counts[label], per)
        ]
        rng.shuffle(shapes)
        return shapes

    def _requests(self, seed: int, block: int) -> int:
        """How many requests `block` makes."""
        counts, _rng = self._counts(seed, block)
        return sum(-(-c // self.config.per_request) for c in counts.values())

    def messages(self, request: Request) -> list[dict[str, str]]:
        cfg = self.config
        return self.render(
            label=request.label,
            description=cfg.label_descriptions.get(request.label, ""),
            k=request.size,
            text_kind=cfg.text_kind,
            task_description=cfg.task_description,
            examples=[s["text"] for s in request.few_shot],
            attributes=request.attributes,
            config=cfg,
        )

    # -- generation -------------------------------------------------------------------------
    async def aread(self, ctx: StepContext):  # type: ignore[override]
        cfg = self.config
        seed = cfg.seed if cfg.seed is not None else ctx.seed
        per_batch = max(1, ctx.batch_size // cfg.per_request)
        total = self.count_requests(seed)
        ctx.log.info("zerogen: %d requests over %d labels", total, len(self.labels))
        plan = self.iter_plan(seed, ctx.name, first=ctx.skip_batches * per_batch)
        for _b in range(ctx.skip_batches, -(-total // per_batch)):
            chunk = list(itertools.islice(plan, per_batch))
            results = await asyncio.gather(*(self._request(ctx, r) for r in chunk))
            yield [record for records in results for record in records]

    async def _request(self, ctx: StepContext, request: Request) -> Batch:
        lineage = {
            **self.lineage(ctx, request.seed),
            "request": request.number,
            "attributes": request.attributes,
            "few_shot": [s[ID] for s in request.few_shot],
        }
        cut: TruncatedReply | None = None
        try:
            try:
                reply, _raw = await self.ask(ctx, self.messages(request), request.seed)
            except TruncatedReply as exc:  # keep the items before the cut one (as Alpaca did)
                if not exc.text:
                    raise
                reply, cut = exc.text, exc
            items = self.parse(str(reply), request.label, self.config.reply_format)
            if cut is not None and len(items) < 2:
                raise cut
        except (LLMError, ParseError) as exc:
            record = self._record(f"zerogen-{request.start:06d}", "", request.label, ctx, lineage)
            return [drop_failed(record, ctx.name, exc)]
        records = self._records(ctx, request, lineage, items)
        if cut is not None and not is_dropped(records[-1]):  # it may stop mid-sentence
            drop(records[-1], ctx.name, "truncated", f"last item of a reply cut at max_tokens: {cut}")
        return records

    def _records(self, ctx: StepContext, request: Request, lineage: dict[str, Any], items: list[str]) -> Batch:
        seed_keys = {_norm(s["text"]) for s in self.seeds} if self.config.keep_seeds_out else set()
        records = []
        for j, text in enumerate(items):
            if j < request.size:
                rid = f"zerogen-{request.start + j:06d}"
            else:
                rid = f"zerogen-{request.start:06d}-extra{j - request.size + 1}"
            record = self._record(rid, text, request.label, ctx, lineage)
            if j >= request.size:
                drop(
                    record,
                    ctx.name,
                    "extra_item",
                    f"item {j + 1} of a reply asked for {request.size}",
                )
            elif _norm(text) in seed_keys:
                drop(record, ctx.name, "copied_seed", "identical to a seed example")
            records.append(record)
        return records

    def _record(
        self, rid: str, text: str, label: str, ctx: StepContext, lineage: dict[str, Any]
    ) -> Record:
        return add_lineage({ID: rid, "text": text, "label": label}, **{ctx.name: dict(lineage)})

    @staticmethod
    def parse(reply: str, label: str, reply_format: str = "numbered") -> list[str]:
        """Examples from a numbered/bullet list (or, with ``lines``, from every line); a
        trailing "(label)" annotation is removed."""
        items = parse_numbered_list(reply) if reply_format == "numbered" else parse_lines(reply)
        if not items:
            what = "numbered list" if reply_format == "numbered" else "non-empty line"
            raise ParseError("parse_error", f"no {what} in reply: {reply[:1000]}")
        tag = re.compile(
            rf"\s*(?:[(\[]\s*(?:(?:label|class)\s*:\s*)?{re.escape(label)}\s*[)\]]|[-–—|]\s*(?:label|class)\s*:\s*\S+)\s*$",
            re.IGNORECASE,
        )
        out = []
        for item in items:
            text = " ".join(clean_item(tag.sub("", item)).split())
            if text:
                out.append(text)
        if not out:
            raise ParseError("parse_error", f"the list has no non-empty item: {reply[:1000]}")
        return out
