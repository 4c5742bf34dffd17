"""WRAP: rephrase documents in several styles (easy, Wikipedia-like, hard, question-answer).

Pratyush Maini, Skyler Seto, He Bai, David Grangier, Yizhe Zhang, Navdeep Jaitly. 2024.
"Rephrasing the Web: A Recipe for Compute and Data-Efficient Language Modeling". ACL 2024.
arXiv:2401.16380.

Each input text is rephrased once per configured style, with one prompt template per style,
following the paper's four prompts (an instruction-tuned model, a chat system prompt, "for the
following paragraph give me a paraphrase ..."):

- ``easy``: very small vocabulary, extremely simple sentences a toddler would understand;
- ``medium``: a diverse paraphrase in high-quality English, like sentences on Wikipedia;
- ``hard``: terse, abstruse language only an erudite scholar would understand;
- ``qa``: a conversation of ``Question:`` / ``Answer:`` pairs.

Input: ``text``. Output, one record per style: ``rephrased``, ``style``, ``original`` (the
input text); the first style keeps the record's id, the others get ``<id>~<style>``. Each
style is its own request (its own seed and cache entry) and succeeds or fails on its own: a
failed request drops that style's record with ``llm_error``, an empty reply (or a ``qa`` reply
without ``Question:``/``Answer:`` tags) with ``parse_error``. ``_lineage`` names the style and
the hash of its template.

Config: ``styles`` (any of the four; others may be added with ``templates``, a map from style
to a Jinja2 file; ``template`` replaces the bundled template of every style, and receives the
style as ``style``).

Deviations from the paper: the paper rephrases C4 in chunks of at most 300 tokens with
Mistral-7B-Instruct and trains on real and synthetic data mixed 1:1; chunking, the choice of
model and the mixing are left to the recipe (feed passages of about 300 tokens for the paper's
setting). The prompts ask for the paraphrase only (no preamble) and to keep all information,
and leftover preambles ("Sure! Here is ...:") and code fences are stripped.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from synthpipe.data.records import ID, LINEAGE, Record, drop
from synthpipe.generate.parsing import strip_preamble, unwrap_fence
from synthpipe.generate.task import (
    LLMTask,
    LLMTaskConfig,
    ParseError,
    failure,
    record_seed,
    text_hash,
)
from synthpipe.llm.types import LLMError, Message
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepContext

STYLES = ("easy", "medium", "hard", "qa")
_QUESTION = re.compile(r"^\W*(?:question|q)\s*\d*\s*\W*[:：]", re.IGNORECASE | re.MULTILINE)
_ANSWER = re.compile(r"^\W*(?:answer|a)\s*\d*\s*\W*[:：]", re.IGNORECASE | re.MULTILINE)


class WRAPConfig(LLMTaskConfig):
    styles: list[str] = Field(list(STYLES), min_length=1, description="styles to rephrase into, one record each")
    templates: dict[str, str] = Field(
        {}, description="style -> Jinja2 prompt file, replacing a bundled style or adding a new one"
    )
    max_tokens: int = Field(1024, ge=1, description="longest reply (a rephrasing is about as long as its input)")

    @model_validator(mode="after")
    def _known_styles(self) -> WRAPConfig:
        if len(set(self.styles)) != len(self.styles):
            raise ValueError(f"styles repeat: {self.styles}")
        unknown = [s for s in self.styles if s not in STYLES and s not in self.templates and not self.template]
        if unknown:
            raise ValueError(f"unknown style(s) {unknown}: use {list(STYLES)} or give a template in `templates`")
        return self


@register_step("wrap")
class WRAP(LLMTask):
    """Rephrase each text in the configured styles, one record per style (Maini et al. 2024).

    Styles ``easy``, ``medium``, ``hard`` and ``qa`` follow the paper's prompts; `templates`
    may add others. The first style keeps the record's id, the others get ``<id>~<style>``;
    each style succeeds or fails on its own.

    Input columns: ``text``.
    Output columns: ``rephrased``, ``style``, ``original`` (the input text).
    Drop reasons: ``llm_error``, ``truncated``, ``parse_error`` (an empty reply, or a ``qa``
    reply without ``Question:``/``Answer:`` tags), ``missing_input``.
    References: Maini et al. (2024), "Rephrasing the Web: A Recipe for Compute and
    Data-Efficient Language Modeling", ACL 2024, arXiv:2401.16380.
    """

    Config = WRAPConfig
    config: WRAPConfig
    inputs = ("text",)
    outputs = ("rephrased", "style", "original")
    drop_reasons = ("llm_error", "truncated", "parse_error", "missing_input")

    # -- templates: one role per style ------------------------------------------------------
    @property
    def main_role(self) -> str:  # type: ignore[override]
        return self.config.styles[0]

    def template_roles(self) -> dict[str, str]:
        return {style: f"wrap_{style}.jinja2" for style in self.config.styles}

    def check_template_roles(self) -> None:
        """`templates` may add styles; the config checks that every style has a template."""

    def template_path(self, style: str) -> Path:
        if style not in self.config.templates and self.config.template:  # one template for every style
            return Path(self.config.template)
        return super().template_path(style)

    def style_hash(self, style: str) -> str:
        """The hash of the style's template (its records' `_lineage` names it)."""
        return text_hash(self.template_texts[style])

    @property
    def outputs_per_record(self) -> float:  # type: ignore[override]  # for --dry-run estimates
        return len(self.config.styles)

    def estimate_requests(self, n_records: int | None) -> int:
        return (n_records or 0) * len(self.config.styles)

    def format_input(self, record: Record, style: str | None = None) -> list[Message]:
        style = style or self.config.styles[0]
        return self.render_role(style, text=str(record["text"]), style=style, config=self.config)

    def format_output(self, reply: Any, record: Record, style: str | None = None) -> dict[str, Any]:
        style = style or self.config.styles[0]
        return {"rephrased": clean_rephrasing(str(reply), style), "style": style, "original": str(record["text"])}

    # -- one request per style ------------------------------------------------------------
    async def _one(self, record: Record, ctx: StepContext) -> list[Record]:
        if self.drop_if_missing(record, ctx):
            return []
        base = dict(record)
        outcomes = await asyncio.gather(*(self._style(base, style, ctx) for style in self.config.styles))
        made: list[Record] = []
        for k, (style, seed, fields, problem) in enumerate(outcomes):
            target = record if k == 0 else {**base, ID: f"{base[ID]}~{style}"}
            target[LINEAGE] = dict(base.get(LINEAGE) or {})  # never share the dict between records
            if problem is not None:
                target.update(style=style, original=str(base["text"]))
                drop(target, ctx.name, problem[0], problem[1][:2000])
            else:
                target.update(fields)
                target[LINEAGE][ctx.name] = {**self.lineage(ctx, seed), "template": self.style_hash(style), "style": style}
            made.append(target)
        return made[1:]

    async def _style(self, record: Record, style: str, ctx: StepContext) -> tuple[str, int, dict, tuple | None]:
        seed = record_seed(ctx.seed, f"{ctx.name}:{style}", record.get(ID))
        try:
            reply, _raw = await self.ask(ctx, self.format_input(record, style), seed)
            return style, seed, self.format_output(reply, record, style), None
        except (LLMError, ParseError) as exc:
            reason, detail = failure(exc)
            return style, seed, {}, (reason, f"style {style}: {detail}")


def clean_rephrasing(reply: str, style: str) -> str:
    """The rephrased text: no code fence or chatty preamble; a qa reply must have its tags."""
    text = strip_preamble(unwrap_fence(reply))
    if not text:
        raise ParseError("parse_error", f"empty {style} rephrasing: {reply[:300]!r}")
    if style == "qa" and not (_QUESTION.search(text) and _ANSWER.search(text)):
        raise ParseError("parse_error", f"qa rephrasing without Question:/Answer: tags: {text[:500]!r}")
    return text
