"""Shared pieces for LLM techniques with several prompts (and several output schemas).

`LLMTask`/`LLMSource` assume one template and one `output_schema` per step. Techniques such as
Self-Instruct (generate / classify / instance), Evol-Instruct (evolve / judge / respond) and GLAN
(disciplines -> subjects -> syllabus -> question) need several, so this module adds:

- :class:`MultiTemplate`, a mixin (put it before `LLMTask`/`LLMSource` in the bases) with
  `template_files = {role: bundled file}`, `render_role(role, **vars)`, one `template_hash`
  over all the step's templates (it enters `_lineage`), every template in `input_files()`
  (so editing a prompt invalidates checkpoints), and `ask_as(ctx, messages, seed, schema=...)`
  for a call with its own schema (or plain text) and sampling overrides;
- :class:`MultiTemplateConfig` with a `templates` option replacing bundled prompts by role;
- :func:`parse_numbered_list`, a forgiving parser for "1. ...", "Task 9: ...", "- ..." lists.
"""

from __future__ import annotations

import hashlib
import re
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from synthpipe.errors import UsageError
from synthpipe.generate.task import PROMPTS, LLMTaskConfig, ParseError, render_messages
from synthpipe.llm.structured import StructuredOutput
from synthpipe.llm.types import ChatRequest, Message
from synthpipe.pipeline.step import StepContext


class MultiTemplateConfig(LLMTaskConfig):
    templates: dict[str, str] = Field(
        {},
        description="replace bundled prompt files by role, e.g. {instance: my_instance.jinja2} "
        "(`template` replaces the first role's file)",
    )


class MultiTemplate:
    """Mixin: several named Jinja2 templates per step; the first role is the primary one."""

    template_files: ClassVar[dict[str, str]] = {}
    config: Any

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        unknown = sorted(
            set(getattr(self.config, "templates", {}) or {}) - set(self.template_files)
        )
        if unknown:
            raise UsageError(
                f"{type(self).__name__}: unknown template role(s) {unknown}; "
                f"roles are {sorted(self.template_files)}"
            )

    @property
    def primary_role(self) -> str:
        return next(iter(self.template_files))

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if cls.template_files:  # the primary template, for code that reads `template_file`
            cls.template_file = next(iter(cls.template_files.values()))  # type: ignore[attr-defined]

    def template_path(self, role: str) -> Path:
        overrides = getattr(self.config, "templates", {}) or {}
        if role in overrides:
            return Path(overrides[role])
        if role == self.primary_role and self.config.template:
            return Path(self.config.template)
        return PROMPTS / self.template_files[role]

    @cached_property
    def template_texts(self) -> dict[str, str]:
        return {
            role: self.template_path(role).read_text(encoding="utf-8")
            for role in self.template_files
        }

    @cached_property
    def template_text(self) -> str:
        return self.template_texts[self.primary_role]

    @cached_property
    def template_hash(self) -> str:
        digest = hashlib.sha256()
        for role in sorted(self.template_texts):
            digest.update(f"{role}\0{self.template_texts[role]}\0".encode())
        return digest.hexdigest()[:12]

    def input_files(self) -> list[Path]:
        return [self.template_path(role) for role in self.template_files]

    def render_role(self, role: str, **variables: Any) -> list[Message]:
        """Render the template of `role` (compiled once per template text)."""
        return render_messages(self.template_texts[role], **variables)

    async def ask_as(
        self,
        ctx: StepContext,
        messages: list[Message],
        seed: int,
        *,
        schema: type[BaseModel] | None = None,
        sample: int = 0,
        **params: Any,
    ) -> tuple[Any, str]:
        """Like `ask`, with an explicit schema (None: plain text) and sampling overrides.

        Raises LLMError when the request gives up, ParseError when a structured reply stays invalid.
        """
        client = ctx.llm(self.config.llm)
        sampling = self.params(seed)  # type: ignore[attr-defined]
        if params:
            sampling = sampling.model_copy(update=params)
        request = ChatRequest(messages, sampling)
        if schema is None:
            response = await client.chat(request, sample)
            text = response.texts[0] if response.texts else ""
            return text, text
        output = StructuredOutput(schema, schema.__name__)
        value, raw, error = await client.structured(
            request, output, sample_index=sample, max_attempts=self.config.max_parse_attempts
        )
        if error is not None:
            raise ParseError("parse_error", f"{error}; raw reply: {raw[:1000]}")
        return value, raw


# -- reply parsing ----------------------------------------------------------------------------
_FENCE_LINE = re.compile(r"^\s*```")
_NUMBERED = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:\*\*|__)?\s*(?:(?:task|example|item|question|instruction|sample)\s*)?#?"
    r"(\d{1,4})\s*(?:[.):\]]|\s-\s|-\s)\s*(?:\*\*|__)?\s*(.*)$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*[-*•]\s+(.*)$")
_LABEL = re.compile(
    r"^(?:\*\*|__)?\s*(?:new\s+)?(?:task|instruction|question|example|prompt|text|sentence)\s*(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*",
    re.IGNORECASE,
)
_QUOTES = ('"', "'", "“", "”", "‘", "’", "«", "»")


def clean_item(text: str) -> str:
    """Strip an item's label ("Instruction:"), bold markers, surrounding quotes and spaces."""
    text = _LABEL.sub("", text.strip()).strip()
    for mark in ("**", "__"):
        if text.startswith(mark) and text.endswith(mark) and len(text) > 4:
            text = text[2:-2].strip()
        elif text.count(mark) % 2 == 1 and text.endswith(mark):  # "**" opened before the number
            text = text[:-2].strip()
        elif text.count(mark) % 2 == 1 and text.startswith(mark):
            text = text[2:].strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


def parse_numbered_list(text: str) -> list[str]:
    """Items of a numbered list ("1. x", "2) y", "Task 3: z", "**4.** w"), else of a bullet list.

    Code-fence lines are ignored; text before the first item is ignored; a line right after an
    item continues it, but after a blank line an unnumbered line ends the list item (trailing
    chatter such as "Let me know if you need more" is not part of the last item).
    """
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if not _FENCE_LINE.match(line)]
    items = _collect(lines, _NUMBERED, group=2)
    if not items:
        items = _collect(lines, _BULLET, group=1)
    return [c for c in (clean_item(i) for i in items) if c]


def _collect(lines: list[str], pattern: re.Pattern[str], group: int) -> list[str]:
    items: list[list[str]] = []
    open_item, blank = False, False
    for line in lines:
        match = pattern.match(line)
        if match:
            items.append([match.group(group).strip()])
            open_item, blank = True, False
        elif not line.strip():
            blank = True
        elif open_item and not blank:
            items[-1].append(line.strip())
        else:
            open_item = False
    return ["\n".join(part for part in item if part).strip() for item in items]


def strip_fences(text: str) -> str:
    """The reply without code-fence lines and surrounding whitespace."""
    return "\n".join(
        line for line in text.strip().split("\n") if not _FENCE_LINE.match(line)
    ).strip()
