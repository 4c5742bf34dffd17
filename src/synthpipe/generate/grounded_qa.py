"""Document-grounded question answering, generate-then-verify (PAQ-style).

Two steps. ``grounded_qa`` asks the LLM for `num_questions` question-answer pairs about a
passage, each with an *evidence* quote copied from the passage, and turns every pair into its
own record. ``grounding_check`` then verifies each pair against the passage: a cheap lexical
check (the evidence quote must occur in the passage after normalisation; the answer's content
words should too) and an LLM judge (is the answer supported by the passage?). It writes
``grounding_score`` and drops unsupported pairs with reason ``not_grounded``.

This follows the generate-then-filter recipe of PAQ (Patrick Lewis, Yuxiang Wu, Linqing Liu,
Pasquale Minervini, Heinrich Küttler, Aleksandra Piktus, Pontus Stenetorp, Sebastian Riedel.
2021. "PAQ: 65 Million Probably-Asked Questions and What You Can Do With Them".
arXiv:2102.07033): generate questions from passages, then keep only those whose answer is
consistent with the passage. It also applies the factuality advice of the synthetic-data
survey of Ruibo Liu et al. 2024 ("Best Practices and Lessons Learned on Synthetic Data for
Language Models",
arXiv:2404.07503, section on factuality): ground generated claims in a source and verify them.

Deviations from PAQ: PAQ extracts answer spans with a trained span selector, generates one
question per span with a fine-tuned BART and filters with a retrieve-and-read QA model
(consistency filtering). Here one instruction-following LLM writes question, answer and an
evidence quote in one structured reply, and the filter is an LLM judge plus lexical checks
instead of a QA model. Answers may be abstractive rather than extracted spans.

``grounded_qa`` (`GroundedQA`)
    Input: ``document_field`` (default ``document``; set ``document_field: text`` for records
    from the ``read`` step). Output, one record per pair: ``question``, ``answer``,
    ``evidence``, ``qa_index`` (0-based position in the reply); the passage field is kept,
    the first pair keeps the record's id, later ones get ``<id>~<k>``. A reply without any
    usable pair drops the record with ``no_qa_pairs``; an unparseable one with ``parse_error``.

``grounding_check`` (`GroundingCheck`)
    Input: ``document_field``, ``question``, ``answer``, optional ``evidence``. Output:
    ``grounding_score`` (0-1), ``grounding_supported`` (the judge's verdict, None if the judge
    was skipped), ``grounding_reason``, ``evidence_overlap`` and ``answer_overlap`` (lexical,
    0-1 or None when not applicable). Drops with ``not_grounded`` when the evidence is not in
    the passage (the LLM is then not asked), the judge says unsupported, or the score is below
    `threshold`; the detail says which.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, field_validator, model_validator

from synthpipe.data.records import LINEAGE, Record, drop
from synthpipe.generate.parsing import rescale_unit
from synthpipe.generate.task import LLMTask, LLMTaskConfig, ParseError, judged
from synthpipe.llm.types import Message
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepContext
from synthpipe.text.normalize import normalize

# Small English stopword list: answer words that say nothing about grounding.
_STOPWORDS = frozenset(
    ["a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from", "as", "is", "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those", "there", "their", "they", "them", "he", "she", "his", "her", "we", "our", "you", "your", "i", "my", "me", "not", "no", "yes", "do", "does", "did", "done", "so", "than", "then", "too", "very", "can", "could", "should", "would", "will", "may", "might", "must", "about", "into", "over", "which", "who", "whom", "whose", "what", "when", "where", "why", "how", "all", "any", "some", "such", "only", "also", "just"]
)


# -- generation --------------------------------------------------------------------------
class QAPair(BaseModel):
    question: str = Field(description="a self-contained question answerable from the passage")
    answer: str = Field(description="the short, correct answer according to the passage")
    evidence: str = Field("", description="a verbatim quote from the passage supporting the answer")

    @field_validator("question", "answer", "evidence", mode="before")
    @classmethod
    def _to_text(cls, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return " ... ".join(value)  # several evidence quotes
        return value


class QAPairs(BaseModel):
    pairs: list[QAPair] = Field(description="the question-answer pairs")

    @model_validator(mode="before")
    @classmethod
    def _accept_variants(cls, data: Any) -> Any:
        """Accept a bare list or another obvious key ("qa_pairs", "questions", ...)."""
        if isinstance(data, list):
            return {"pairs": data}
        if isinstance(data, dict) and "pairs" not in data:
            lists = [v for v in data.values() if isinstance(v, list)]
            if len(lists) == 1:
                return {"pairs": lists[0]}
            if {"question", "answer"} <= data.keys():
                return {"pairs": [data]}
        return data


class GroundedQAConfig(LLMTaskConfig):
    document_field: str = Field("document", description="field holding the passage")
    num_questions: int = Field(3, ge=1, le=50, description="question-answer pairs to ask for per passage")
    max_tokens: int = Field(1024, ge=1, description="longest reply")


@register_step("grounded_qa")
class GroundedQA(LLMTask):
    """Question-answer pairs with evidence quotes from a passage (PAQ-style generate step).

    One record per pair: the first keeps the record's id, later ones get ``<id>~<k>``; the
    passage field is kept. Deviations from PAQ are in the module docstring.

    Input columns: `document_field` (default ``document``; ``text`` for records from ``read``).
    Output columns: ``question``, ``answer``, ``evidence``, ``qa_index``.
    Drop reasons: ``missing_input``, ``llm_error``, ``truncated``, ``parse_error``,
    ``no_qa_pairs`` (a reply without any usable pair).
    References: Lewis et al. (2021), "PAQ: 65 Million Probably-Asked Questions and What You
    Can Do With Them", arXiv:2102.07033; Liu et al. (2024), "Best Practices and Lessons Learned
    on Synthetic Data for Language Models", arXiv:2404.07503 (grounding and verifying claims).
    """

    Config = GroundedQAConfig
    config: GroundedQAConfig
    template_file = "grounded_qa.jinja2"
    output_schema = QAPairs
    inputs = ("document",)
    outputs = ("question", "answer", "evidence", "qa_index")
    drop_reasons = ("missing_input", "llm_error", "truncated", "parse_error", "no_qa_pairs")

    def __init__(self, config: Any = None, /, **kwargs: Any):
        super().__init__(config, **kwargs)
        self.outputs_per_record = float(self.config.num_questions)  # type: ignore[misc]  # dry-run estimates

    def format_input(self, record: Record) -> list[Message]:
        return self.render(
            document=str(record[self.config.document_field]),
            num_questions=self.config.num_questions,
            config=self.config,
        )

    def format_output(self, reply: Any, record: Record) -> list[dict[str, Any]]:
        pairs = reply["pairs"] if isinstance(reply, dict) else QAPairs.model_validate(reply).pairs
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for index, pair in enumerate(pairs):
            pair = pair if isinstance(pair, dict) else pair.model_dump()
            question, answer = _clean(pair["question"]), _clean(pair["answer"])
            key = normalize(question)
            if not question or not answer or key in seen:
                continue
            seen.add(key)
            evidence = _clean(pair.get("evidence") or "")
            rows.append({"question": question, "answer": answer, "evidence": evidence, "qa_index": index})
            if len(rows) == self.config.num_questions:
                break
        if not rows:
            raise ParseError("no_qa_pairs", f"the reply held no usable question-answer pair: {pairs!r}"[:1000])
        return rows

    def _merge(self, record: Record, fields: dict | list[dict], ctx: StepContext, seed: int) -> list[Record]:
        # LLMTask._merge gives the extra records the *same* `_lineage` dict as `record` when the
        # input already had one (e.g. from `read`); later steps would then write each other's
        # lineage. Give every record its own copy.
        extra = super()._merge(record, fields, ctx, seed)
        for new in extra:
            new[LINEAGE] = {k: dict(v) if isinstance(v, dict) else v for k, v in new[LINEAGE].items()}
        return extra


# -- verification ------------------------------------------------------------------------
class GroundingVerdict(BaseModel):
    supported: bool = Field(description="true if the passage supports the answer to the question")
    score: Annotated[float, BeforeValidator(rescale_unit)] = Field(  # a 0-10 or 0-100 answer -> 0-1
        description="confidence that the answer is supported, from 0 to 1"
    )
    reason: str = Field("", description="one sentence explaining the verdict")


class GroundingCheckConfig(LLMTaskConfig):
    document_field: str = Field("document", description="field holding the passage")
    threshold: float = Field(0.6, ge=0, le=1, description="drop pairs whose grounding_score is below this")
    llm_weight: float = Field(
        0.7, ge=0, le=1, description="weight of the judge's score in grounding_score; the rest is lexical"
    )
    require_supported: bool = Field(True, description="drop pairs the judge calls unsupported, whatever the score")
    min_evidence_overlap: float = Field(
        0.8,
        ge=0,
        le=1,
        description="share of the evidence quote's word trigrams that must occur in the passage "
        "(1.0 = verbatim after normalisation); checked before the LLM is asked",
    )
    temperature: float = Field(0.0, ge=0, le=2, description="sampling temperature (0: a deterministic judge)")
    max_tokens: int = Field(256, ge=1, description="longest reply")


@register_step("grounding_check")
class GroundingCheck(LLMTask):
    """Verify that each answer is supported by its passage (PAQ-style filter step).

    A cheap lexical check first (the evidence quote must occur in the passage; the LLM is not
    asked otherwise), then an LLM judge; ``grounding_score`` mixes both.

    Input columns: `document_field` (default ``document``), ``question``, ``answer``;
    ``evidence`` is read when present.
    Output columns: ``grounding_score``, ``grounding_supported``, ``grounding_reason``,
    ``evidence_overlap``, ``answer_overlap``.
    Drop reasons: ``not_grounded`` (detail: which check failed, and the judge's reason),
    ``missing_input``, ``llm_error``, ``truncated``, ``parse_error``.
    References: Lewis et al. (2021), "PAQ: 65 Million Probably-Asked Questions and What You
    Can Do With Them", arXiv:2102.07033; Liu et al. (2024), "Best Practices and Lessons Learned
    on Synthetic Data for Language Models", arXiv:2404.07503 (grounding and verifying claims).
    """

    Config = GroundingCheckConfig
    config: GroundingCheckConfig
    template_file = "grounding_check.jinja2"
    output_schema = GroundingVerdict
    inputs = ("document", "question", "answer")
    outputs = ("grounding_score", "grounding_supported", "grounding_reason", "evidence_overlap", "answer_overlap")
    drop_reasons = ("not_grounded", "missing_input", "llm_error", "truncated", "parse_error")

    def format_input(self, record: Record) -> list[Message]:
        return self.render(
            document=str(record[self.config.document_field]),
            question=str(record["question"]),
            answer=str(record["answer"]),
            evidence=str(record.get("evidence") or ""),
            config=self.config,
        )

    def lexical(self, record: Record) -> dict[str, float | None]:
        document = str(record.get(self.config.document_field) or "")
        evidence = str(record.get("evidence") or "")
        return {
            "evidence_overlap": evidence_overlap(evidence, document) if evidence.strip() else None,
            "answer_overlap": answer_overlap(str(record.get("answer") or ""), document),
        }

    def format_output(self, reply: Any, record: Record) -> dict[str, Any]:
        lexical = self.lexical(record)
        parts = [v for v in lexical.values() if v is not None]
        llm_score = float(reply["score"])
        if parts:
            lexical_score = sum(parts) / len(parts)
            score = self.config.llm_weight * llm_score + (1 - self.config.llm_weight) * lexical_score
        else:
            score = llm_score
        return {
            "grounding_score": round(score, 4),
            "grounding_supported": bool(reply["supported"]),
            "grounding_reason": str(reply.get("reason") or "").strip(),
            **lexical,
        }

    def reject(self, record: Record) -> tuple[str, str] | None:
        cfg = self.config
        problems = []
        if cfg.require_supported and not record["grounding_supported"]:
            problems.append("the judge says the passage does not support the answer")
        if record["grounding_score"] < cfg.threshold:
            problems.append(f"grounding_score {record['grounding_score']:.2f} < {cfg.threshold}")
        return judged("not_grounded", problems, record.get("grounding_reason"))

    async def _one(self, record: Record, ctx: StepContext) -> list[Record]:
        cfg = self.config
        if all(record.get(f) not in (None, "") for f in self.inputs):
            lexical = self.lexical(record)
            overlap = lexical["evidence_overlap"]
            if overlap is not None and overlap < cfg.min_evidence_overlap:  # cheap check first
                record.update(grounding_score=0.0, grounding_supported=None, grounding_reason="", **lexical)
                drop(record, ctx.name, "not_grounded",
                     f"evidence not found in the passage (overlap {overlap:.2f} < {cfg.min_evidence_overlap})")  # fmt: skip
                return []
        return await super()._one(record, ctx)


# -- lexical checks ----------------------------------------------------------------------
_ELLIPSIS = re.compile(r"\.\.\.|…|\[\.\.\.\]")


def evidence_overlap(evidence: str, document: str) -> float:
    """1.0 if the normalised quote occurs in the normalised passage, else the share of its
    word trigrams (words, for quotes under 3 words) that do. Ellipses split a quote."""
    doc = normalize(document)
    pieces = [normalize(p) for p in _ELLIPSIS.split(_strip_quotes(evidence))]
    pieces = [p for p in pieces if p]
    if not pieces:
        return 0.0
    if all(f" {p} " in f" {doc} " for p in pieces):
        return 1.0
    doc_words = doc.split()
    found = total = 0
    for piece in pieces:
        words = piece.split()
        n = 3 if len(words) >= 3 else 1
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        doc_grams = {tuple(doc_words[i : i + n]) for i in range(len(doc_words) - n + 1)}
        found += sum(g in doc_grams for g in grams)
        total += len(grams)
    return found / total if total else 0.0


def answer_overlap(answer: str, document: str) -> float | None:
    """Share of the answer's content words found in the passage; None if it has none ("Yes")."""
    words = [w for w in normalize(answer).split() if w not in _STOPWORDS and (len(w) > 1 or w.isdigit())]
    if not words:
        return None
    doc_words = set(normalize(document).split())
    return sum(w in doc_words for w in words) / len(words)


def _strip_quotes(text: str) -> str:
    return text.strip().strip("\"'“”‘’`").strip()


def _clean(text: Any) -> str:
    return " ".join(str(text or "").split())
