"""UltraFeedback-style preference pairs: sample several responses, rate them, keep best vs worse.

Cite: Ganqu Cui, Lifan Yuan, Ning Ding, et al. 2023. "UltraFeedback: Boosting Language Models
with Scaled AI Feedback". ICML 2024. arXiv:2310.01377. The binarisation (highest mean rating is
`chosen`, a random lower-rated one is `rejected`) follows Lewis Tunstall et al. 2023, "Zephyr:
Direct Distillation of LM Alignment", arXiv:2310.16944.

For each record:

1. ``num_candidates`` (default 4) responses to the prompt are sampled. Candidate ``k`` comes from
   endpoint ``candidate_llms[k % len(candidate_llms)]`` (default: the step's ``llm``) with its
   own seed and sample index, so candidates from one endpoint differ. As in the paper, each
   candidate gets a system prompt stressing one principle (helpfulness, honesty, truthfulness,
   optionally verbalized calibration), drawn with a seeded RNG (``principles: []`` disables it).
2. The judge (``judge_llm``, default the step's ``llm``) rates each candidate on the four
   UltraFeedback aspects, instruction-following, honesty, truthfulness and helpfulness, 1-5
   each with a rationale (structured output); a candidate's score is the mean of the four.
3. ``chosen`` is the highest-scored candidate (the first one on ties); ``rejected`` is the
   lowest-scored (``rejected: lowest``) or a random strictly lower-scored one
   (``rejected: random_lower``, Zephyr's choice).

Input fields: ``instruction`` (name configurable), optional ``input`` (appended to the prompt).
Output fields: ``prompt`` (what the candidates answered), ``chosen``, ``rejected``,
``chosen_score``, ``rejected_score`` (floats, 1-5), ``candidates`` (list of
``{text, model, llm, principle, score, ratings, error}``; ``score`` is null and ``error`` set
when the judge's reply for that candidate could not be parsed).

Drops: ``llm_error`` (a request gave up; retried on the next run), ``empty_candidates`` (fewer
than two non-empty candidates), ``parse_error`` (fewer than two candidates could be rated),
``no_preference`` (every rated candidate has the same score; the candidates stay on the record).

Deviations from the paper: UltraFeedback samples the 4 candidates from 4 different models out
of a pool of 17 and has GPT-4 rate all four completions together, one prompt per aspect; here
candidates come from the endpoints you list (one endpoint at temperature > 0 works) and the judge
rates one candidate at a time on all four aspects in one structured reply, which is cheaper and
free of cross-candidate position effects but loses the side-by-side comparison. The 1-5 rubrics
are paraphrased from the paper's annotation templates.
"""

from __future__ import annotations

import asyncio
import random
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, Field, model_validator

from synthpipe.data.records import ID, Record, drop
from synthpipe.generate.parsing import coerce_int_score, normalize_keys
from synthpipe.generate.task import (
    LLMTask,
    LLMTaskConfig,
    ParseError,
    drop_failed,
    optional_text,
    record_seed,
)
from synthpipe.llm.types import LLMError, Message
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepContext

ASPECTS = ("instruction_following", "honesty", "truthfulness", "helpfulness")
Principle = Literal["helpfulness", "honesty", "truthfulness", "verbalized_calibration"]


# -- the rating schema ---------------------------------------------------------------------
class AspectRating(BaseModel):
    rationale: str = Field(description="one or two sentences justifying the rating")
    rating: Annotated[int, Field(ge=1, le=5), BeforeValidator(coerce_int_score)] = Field(
        description="integer from 1 (worst) to 5 (best)"
    )

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        data = normalize_keys(data, ("rationale", "rating"))
        if isinstance(data, dict) and "rating" not in data and "score" in data:
            data = {**data, "rating": data["score"]}
        return data


class UltraFeedbackRatings(BaseModel):
    instruction_following: AspectRating
    honesty: AspectRating
    truthfulness: AspectRating
    helpfulness: AspectRating

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("ratings"), dict):
            data = data["ratings"]
        return normalize_keys(data, ASPECTS)


# -- the step --------------------------------------------------------------------------------
class UltraFeedbackConfig(LLMTaskConfig):
    instruction_field: str = Field("instruction", description="field holding the instruction")
    input_field: str | None = Field(
        "input", description="optional field with the task's input, appended to the prompt if non-empty"
    )
    num_candidates: int = Field(4, ge=2, le=32, description="responses sampled per instruction")
    candidate_llms: list[str] | None = Field(
        None, description="endpoints the candidates come from, in turn (default: [llm])"
    )
    judge_llm: str | None = Field(None, description="endpoint that rates the candidates (default: llm)")
    temperature: float = Field(0.8, ge=0, le=2, description="sampling temperature of the candidates")
    max_tokens: int = Field(1024, ge=1, description="longest candidate")
    judge_temperature: float = Field(0.0, ge=0, le=2, description="sampling temperature of the judge")
    judge_max_tokens: int = Field(1024, ge=1, description="longest judge reply")
    principles: list[Principle] = Field(
        ["helpfulness", "honesty", "truthfulness"],
        description="principles drawn (seeded) for each candidate's system prompt; [] for none",
    )
    rejected: Literal["lowest", "random_lower"] = Field(
        "random_lower", description="rejected response: the lowest-scored, or a random lower-scored one"
    )
    generate_template: str | None = Field(
        None, description="Jinja2 file replacing the bundled candidate prompt (`template` replaces the rating prompt)"
    )

    @model_validator(mode="after")
    def _distinct_candidates(self) -> UltraFeedbackConfig:
        endpoints = self.candidate_llms or [self.llm]
        if len(set(endpoints)) == 1 and self.temperature == 0:
            raise ValueError(
                "candidates from one endpoint at temperature 0 are identical: raise temperature or "
                "list several candidate_llms"
            )
        if self.candidate_llms is not None and not self.candidate_llms:
            raise ValueError("candidate_llms is empty: list at least one endpoint or omit it")
        return self


@register_step("ultrafeedback")
class UltraFeedback(LLMTask):
    """Preference pairs from several sampled responses rated by an LLM judge (UltraFeedback).

    `num_candidates` responses (each with a principle system prompt) are rated on four
    aspects; the best is ``chosen`` and a lower-rated one ``rejected`` (see the module
    docstring for the sampling, the rating and the deviations from the paper).

    Input columns: `instruction_field` (default ``instruction``); `input_field` is read when
    present.
    Output columns: ``prompt``, ``chosen``, ``rejected``, ``chosen_score``,
    ``rejected_score``, ``candidates``.
    Drop reasons: ``llm_error`` (retried on the next run), ``truncated`` (a candidate or
    rating cut at max_tokens), ``empty_candidates`` (fewer than two non-empty candidates),
    ``parse_error`` (fewer than two could be rated),
    ``no_preference`` (all rated candidates tie), ``missing_input``.
    References: Cui et al. (2023), "UltraFeedback: Boosting Language Models with Scaled AI
    Feedback", ICML 2024, arXiv:2310.01377; Tunstall et al. (2023), "Zephyr: Direct
    Distillation of LM Alignment", arXiv:2310.16944 (the binarisation).
    """

    Config = UltraFeedbackConfig
    config: UltraFeedbackConfig
    main_role: ClassVar[str] = "rate"
    template_file: ClassVar[str] = "ultrafeedback_rate.jinja2"
    template_files: ClassVar[dict[str, str]] = {"generate": "ultrafeedback_generate.jinja2"}  # `generate_template`
    output_schema: ClassVar[type[BaseModel]] = UltraFeedbackRatings
    inputs: ClassVar[tuple[str, ...]] = ("instruction",)
    outputs: ClassVar[tuple[str, ...]] = (
        "prompt", "chosen", "rejected", "chosen_score", "rejected_score", "candidates",
    )  # fmt: skip
    drop_reasons = (
        "llm_error", "truncated", "empty_candidates", "parse_error", "no_preference", "missing_input",
    )  # fmt: skip

    # -- endpoints --------------------------------------------------------------------------
    @property
    def candidate_llms(self) -> list[str]:
        return list(self.config.candidate_llms or [self.config.llm])

    @property
    def judge_llm(self) -> str:
        return self.config.judge_llm or self.config.llm

    def llm_names(self) -> list[str]:
        return sorted({*self.candidate_llms, self.judge_llm})

    # -- dry-run estimates ------------------------------------------------------------------
    def estimate_requests(self, n_records: int | None) -> int:
        """Each record: num_candidates candidate requests + as many ratings (first attempts)."""
        return (n_records or 0) * 2 * self.config.num_candidates

    def format_input(self, record: Record) -> list[Message]:
        """The first request of a record (candidate 0), as `--dry-run` renders it."""
        principles = self.config.principles
        return self.candidate_messages(self.prompt_text(record), principles[0] if principles else None)

    # -- prompts ----------------------------------------------------------------------------
    def prompt_text(self, record: Record) -> str:
        cfg = self.config
        text = str(record[cfg.instruction_field]).strip()
        extra = optional_text(record, cfg.input_field)
        return f"{text}\n\n{extra}" if extra else text

    def candidate_messages(self, prompt: str, principle: str | None) -> list[Message]:
        return self.render_role("generate", prompt=prompt, principle=principle or "")

    def rating_messages(self, prompt: str, response: str) -> list[Message]:
        return self.render(instruction=prompt, response=response)

    # -- scoring ----------------------------------------------------------------------------
    @staticmethod
    def score(ratings: dict[str, Any]) -> float:
        return round(sum(ratings[a]["rating"] for a in ASPECTS) / len(ASPECTS), 4)

    def pick(self, candidates: list[dict[str, Any]], rng: random.Random) -> tuple[int, int] | None:
        """(chosen index, rejected index) among rated candidates, or None if all tie."""
        rated = [i for i, c in enumerate(candidates) if c["score"] is not None]
        best = max(candidates[i]["score"] for i in rated)
        lower = [i for i in rated if candidates[i]["score"] < best]
        if not lower:
            return None
        chosen = next(i for i in rated if candidates[i]["score"] == best)
        if self.config.rejected == "lowest":
            worst = min(candidates[i]["score"] for i in lower)
            rejected = next(i for i in lower if candidates[i]["score"] == worst)
        else:
            rejected = rng.choice(lower)
        return chosen, rejected

    # -- the record -------------------------------------------------------------------------
    async def _one(self, record: Record, ctx: StepContext) -> list[Record]:
        if self.drop_if_missing(record, ctx, blank=True):
            return []
        cfg, rid = self.config, record.get(ID)
        seed = record_seed(ctx.seed, ctx.name, rid)
        rng = random.Random(seed)
        principles = [rng.choice(cfg.principles) if cfg.principles else None for _ in range(cfg.num_candidates)]
        endpoints = [self.candidate_llms[k % len(self.candidate_llms)] for k in range(cfg.num_candidates)]
        prompt = self.prompt_text(record)
        try:
            texts = await asyncio.gather(*(
                self._candidate(ctx, endpoints[k], prompt, principles[k], record_seed(ctx.seed, ctx.name, rid, k), k)
                for k in range(cfg.num_candidates)
            ))  # fmt: skip
        except LLMError as exc:
            drop_failed(record, ctx.name, exc)
            return []
        candidates = [
            {"text": text.strip(), "model": self._model_name(ctx, endpoints[k]), "llm": endpoints[k],
             "principle": principles[k], "score": None, "ratings": None, "error": None}
            for k, text in enumerate(texts)
        ]  # fmt: skip
        fields: dict[str, Any] = {"prompt": prompt, "candidates": candidates}
        nonempty = [k for k, c in enumerate(candidates) if c["text"]]
        if len(nonempty) < 2:
            self._merge(record, fields, ctx, seed)
            drop(record, ctx.name, "empty_candidates", f"{len(nonempty)} of {len(candidates)} candidates are non-empty")
            return []
        try:
            ratings = await asyncio.gather(*(self._rate(ctx, prompt, candidates[k]["text"], rid, k) for k in nonempty))
        except LLMError as exc:
            drop_failed(record, ctx.name, exc)
            return []
        errors = []
        for k, (value, error) in zip(nonempty, ratings, strict=True):
            if error is not None:
                candidates[k]["error"] = error[:500]
                errors.append(f"candidate {k}: {error[:300]}")
                continue
            candidates[k]["ratings"] = value
            candidates[k]["score"] = self.score(value)
        rated = [c for c in candidates if c["score"] is not None]
        if len(rated) < 2:
            self._merge(record, fields, ctx, seed)
            drop(record, ctx.name, "parse_error", f"only {len(rated)} candidate(s) rated; " + "; ".join(errors))
            return []
        picked = self.pick(candidates, rng)
        if picked is None:
            self._merge(record, fields, ctx, seed)
            drop(record, ctx.name, "no_preference", f"all {len(rated)} rated candidates scored {rated[0]['score']:g}")
            return []
        chosen, rejected = candidates[picked[0]], candidates[picked[1]]
        fields.update(
            chosen=chosen["text"], rejected=rejected["text"],
            chosen_score=chosen["score"], rejected_score=rejected["score"],
        )  # fmt: skip
        return self._merge(record, fields, ctx, seed)

    async def _candidate(self, ctx: StepContext, llm: str, prompt: str, principle: str | None, seed: int, k: int) -> str:
        text, _raw = await self.ask(ctx, self.candidate_messages(prompt, principle), seed, k, schema=str, llm=llm)
        return text

    async def _rate(self, ctx: StepContext, prompt: str, response: str, rid: Any, k: int) -> tuple[Any, str | None]:
        """(ratings, None) or (None, parse error); LLMError propagates."""
        cfg = self.config
        seed = record_seed(ctx.seed, f"{ctx.name}/judge", rid, k)
        try:
            value, _raw = await self.ask(
                ctx, self.rating_messages(prompt, response), seed, k, llm=self.judge_llm,
                temperature=cfg.judge_temperature, max_tokens=cfg.judge_max_tokens,
            )  # fmt: skip
        except ParseError as exc:
            return None, exc.detail
        return value, None

    @staticmethod
    def _model_name(ctx: StepContext, llm: str) -> str:
        client = ctx.llm(llm)
        config = getattr(client, "config", None)
        return getattr(config, "model", llm)

    def lineage(self, ctx: StepContext, seed: int) -> dict[str, Any]:
        return {**super().lineage(ctx, seed), "candidate_llms": self.candidate_llms, "judge_llm": self.judge_llm}
