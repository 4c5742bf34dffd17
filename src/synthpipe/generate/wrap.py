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
import hashlib
import re
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from synthpipe.data.records import ID, LINEAGE, Record, drop
from synthpipe.generate.task import (
    PROMPTS,
    LLMTask,
    LLMTaskConfig,
    ParseError,
    record_seed,
    render_messages,
)
from synthpipe.llm.types import LLMError, Message
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import StepContext

STYLES = ("easy", "medium", "hard", "qa")
_FENCE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?```$", re.DOTALL)
_PREAMBLE = re.compile(  # chatter before the text: "Sure! Here's the paraphrase:" (a line ending in ':')
    r"^\s*(?:(?:sure|certainly|of course|okay|ok|absolutely)\b[^\n]*[:：]|(?:here(?:'s| is| are)|below is)\b[^\n]*[:：]"
    r"|(?:sure|certainly|of course|absolutely)[!.]?)\s*\n",
    re.IGNORECASE,
)
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

    See the module docstring for fields, reasons and the paper.
    """

    Config = WRAPConfig
    config: WRAPConfig
    template_file = "wrap_medium.jinja2"
    inputs = ("text",)
    outputs = ("rephrased", "style", "original")

    # -- templates: one per style -----------------------------------------------------------
    def template_path(self, style: str) -> Path:
        if style in self.config.templates:
            return Path(self.config.templates[style])
        if self.config.template:
            return Path(self.config.template)
        return PROMPTS / f"wrap_{style}.jinja2"

    def input_files(self) -> list[Path]:
        return [self.template_path(s) for s in self.config.styles]

    @property
    def outputs_per_record(self) -> float:  # type: ignore[override]  # for --dry-run estimates
        return len(self.config.styles)

    def estimate_requests(self, n_records: int | None) -> int:
        return (n_records or 0) * len(self.config.styles)

    @cached_property
    def _templates(self) -> dict[str, tuple[str, str]]:
        return {}

    def style_template(self, style: str) -> tuple[str, str]:
        """(text, hash) of the style's template, read once per step instance."""
        if style not in self._templates:
            text = self.template_path(style).read_text(encoding="utf-8")
            self._templates[style] = (text, hashlib.sha256(text.encode()).hexdigest()[:12])
        return self._templates[style]

    def format_input(self, record: Record, style: str | None = None) -> list[Message]:
        style = style or self.config.styles[0]
        text, _ = self.style_template(style)
        return render_messages(text, text=str(record["text"]), style=style, config=self.config)

    def format_output(self, reply: Any, record: Record, style: str | None = None) -> dict[str, Any]:
        style = style or self.config.styles[0]
        return {"rephrased": clean_rephrasing(str(reply), style), "style": style, "original": str(record["text"])}

    # -- one request per style ------------------------------------------------------------
    async def _one(self, record: Record, ctx: StepContext) -> list[Record]:
        if record.get("text") in (None, ""):
            drop(record, ctx.name, "missing_input", "empty or missing ['text']")
            return []
        base = dict(record)
        outcomes = await asyncio.gather(*(self._style(base, style, ctx) for style in self.config.styles))
        made: list[Record] = []
        for k, (style, seed, fields, failure) in enumerate(outcomes):
            target = record if k == 0 else {**base, ID: f"{base[ID]}~{style}"}
            target[LINEAGE] = dict(base.get(LINEAGE) or {})  # never share the dict between records
            if failure is not None:
                target.update(style=style, original=str(base["text"]))
                drop(target, ctx.name, failure[0], failure[1][:2000])
            else:
                target.update(fields)
                target[LINEAGE][ctx.name] = {**self.lineage(ctx, seed), "template": self.style_template(style)[1], "style": style}
            made.append(target)
        return made[1:]

    async def _style(self, record: Record, style: str, ctx: StepContext) -> tuple[str, int, dict, tuple | None]:
        seed = record_seed(ctx.seed, f"{ctx.name}:{style}", record.get(ID))
        try:
            reply, _raw = await self.ask(ctx, self.format_input(record, style), seed)
            return style, seed, self.format_output(reply, record, style), None
        except LLMError as exc:
            return style, seed, {}, ("llm_error", f"style {style}: {exc}")
        except ParseError as exc:
            return style, seed, {}, (exc.reason, f"style {style}: {exc.detail}")


def clean_rephrasing(reply: str, style: str) -> str:
    """The rephrased text: no code fence or chatty preamble; a qa reply must have its tags."""
    text = reply.strip()
    if fenced := _FENCE.match(text):
        text = fenced.group(1).strip()
    text = _PREAMBLE.sub("", text + "\n", count=1).strip()
    if not text:
        raise ParseError("parse_error", f"empty {style} rephrasing: {reply[:300]!r}")
    if style == "qa" and not (_QUESTION.search(text) and _ANSWER.search(text)):
        raise ParseError("parse_error", f"qa rephrasing without Question:/Answer: tags: {text[:500]!r}")
    return text
