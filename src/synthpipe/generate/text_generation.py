"""Generic text generation: one prompt template applied to every record.

The workhorse when no named technique fits: write a Jinja2 prompt over the record's fields
and get the reply in `output_field`; give `json_schema` to get validated structured output
(server-side guided decoding where supported, prompt + parse + validate + retry otherwise).

Input: whatever fields the prompt uses. Output: `output_field` (text, or the parsed JSON).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from synthpipe.data.records import Record
from synthpipe.generate.task import LLMTask, LLMTaskConfig, ParseError
from synthpipe.pipeline.registry import register_step


class TextGenerationConfig(LLMTaskConfig):
    prompt: str | None = Field(
        None, description="inline Jinja2 prompt over record fields, e.g. 'Answer: {{ question }}'"
    )
    system: str | None = Field(None, description="optional system message")
    output_field: str = Field("generation", description="field that receives the reply")
    json_schema: dict[str, Any] | None = Field(None, description="JSON schema: reply must be JSON matching it")
    strip: bool = Field(True, description="strip surrounding whitespace from text replies")
    min_chars: int = Field(1, ge=0, description="drop text replies shorter than this (reason empty_output)")

    @model_validator(mode="after")
    def _one_prompt(self) -> TextGenerationConfig:
        if (self.prompt is None) == (self.template is None):
            raise ValueError("give exactly one of `prompt` (inline) or `template` (a file)")
        return self


@register_step("llm_generate")
class TextGeneration(LLMTask):
    """Apply a prompt template to every record and store the LLM's reply.

    The workhorse when no named technique fits; with `json_schema` the reply is validated
    structured output.

    Input columns: whatever fields the prompt uses (not checked before the run).
    Output columns: `output_field` (default ``generation``): the text, or the parsed JSON.
    Drop reasons: ``llm_error``, ``truncated`` (a reply cut at max_tokens, also when asked
    again with a larger budget), ``parse_error`` (JSON that stays invalid), ``empty_output``
    (a text reply shorter than `min_chars`).
    References: none: a synthpipe technique.
    """

    Config = TextGenerationConfig
    config: TextGenerationConfig
    drop_reasons = ("llm_error", "truncated", "parse_error", "empty_output")

    def output_columns(self) -> set[str]:
        return {self.config.output_field}

    def __init__(self, config=None, /, **kwargs):
        super().__init__(config, **kwargs)
        self.output_schema = self.config.json_schema  # instance attribute: per-config schema

    @cached_property
    def template_texts(self) -> dict[str, str]:
        cfg = self.config
        body = cfg.prompt if cfg.prompt is not None else Path(cfg.template).read_text(encoding="utf-8")
        return {self.main_role: f"=== system ===\n{cfg.system}\n=== user ===\n{body}" if cfg.system else body}

    def input_files(self) -> list[Path]:
        return [Path(self.config.template)] if self.config.template else []

    def format_output(self, reply: Any, record: Record) -> dict[str, Any]:
        if isinstance(reply, str):
            text = reply.strip() if self.config.strip else reply
            if len(text) < self.config.min_chars:
                raise ParseError("empty_output", f"reply of {len(text)} chars")
            return {self.config.output_field: text}
        return {self.config.output_field: reply}
