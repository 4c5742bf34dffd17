"""Persona-driven data synthesis: one task per persona, and personas inferred from texts.

Ge, Chan, Wang, Yu, Mi and Yu. 2024. "Scaling Synthetic Data Creation with 1,000,000,000
Personas". arXiv:2406.20094.

Two map steps:

``persona_generate`` (:class:`PersonaHub`): for each record's ``persona``, ask for a task of kind
`task_kind` written from that persona's point of view, with the paper's prompts (paraphrased):
"math problem" (challenging, specific to the persona, no solution), "instruction" / "user
prompt" ("guess a prompt that the persona may ask"), "knowledge-rich text" (an informative
article the persona would write or read), or any other kind ("Create a <kind> related to the
following persona"). `notes` add requirements. The reply must start with a fixed label
("Math problem:", "User prompt:", "Title:" or the kind itself), which is stripped.
Input: ``persona``. Output: `output_field` (default ``instruction``) and ``task_kind``.

``text_to_persona`` (:class:`PersonaFromText`), the paper's Text-to-Persona: "Who is likely
to <read | write | like | dislike> the following text?", giving a specific one-to-three
sentence persona description. Input: `text_field` (default ``text``; long texts are cut to
`max_text_chars`). Output: `output_field` (default ``persona``).

Both drop a record with ``parse_error`` when the reply is empty after cleaning (code fences,
the label), and with ``refusal`` when the model declines ("I'm sorry", "I cannot"...). A
request that gives up drops the record with ``llm_error``. ``_lineage`` has the template hash
and seed.

Deviations from the paper: the paper used a billion personas from web text and GPT-4; the
bundled persona list (``bundled:personas/personas.jsonl``, 64 personas) was written by hand for
synthpipe. Persona-to-Persona (expanding personas by interpersonal relations) is not included;
chain ``text_to_persona`` over generated texts for a similar expansion.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from synthpipe.data.records import Record
from synthpipe.generate.parsing import is_refusal, strip_fences, strip_label
from synthpipe.generate.task import LLMTask, LLMTaskConfig, ParseError
from synthpipe.llm.types import Message
from synthpipe.pipeline.registry import register_step

LABELS = {
    "math problem": "Math problem",
    "instruction": "User prompt",
    "user prompt": "User prompt",
    "knowledge-rich text": "Title",
}


def _check(text: str, raw: str, what: str) -> str:
    if not text:
        raise ParseError("parse_error", f"empty {what}; raw reply: {raw[:500]}")
    if is_refusal(text):
        raise ParseError("refusal", raw[:500])
    return text


class PersonaHubConfig(LLMTaskConfig):
    """Options of the `persona_generate` step."""

    task_kind: str = Field(
        "math problem",
        min_length=1,
        description="what to create from each persona: 'math problem', 'instruction', 'user prompt', "
        "'knowledge-rich text', or any other kind (e.g. 'logical reasoning problem', 'tool description')",
    )
    persona_field: str = Field("persona", description="input field holding the persona description")
    output_field: str = Field("instruction", description="output field for the generated task")
    notes: list[str] = Field([], description="extra requirements added to the prompt's notes")
    label: str | None = Field(
        None,
        description="prefix the reply must start with (stripped); default from task_kind "
        "('Math problem', 'User prompt', 'Title', else the kind capitalised)",
    )
    temperature: float = Field(0.8, ge=0, le=2, description="sampling temperature")
    max_tokens: int = Field(1024, ge=1, description="longest reply")


@register_step("persona_generate")
class PersonaHub(LLMTask):
    """Generate a task (math problem, instruction, text...) from each record's persona.

    The paper's prompts, paraphrased, per `task_kind` (see the module docstring); the reply's
    leading label is stripped.

    Input columns: `persona_field` (default ``persona``).
    Output columns: `output_field` (default ``instruction``), ``task_kind``.
    Drop reasons: ``parse_error`` (an empty reply), ``refusal``, ``missing_input``,
    ``llm_error``, ``truncated``.
    References: Ge et al. (2024), "Scaling Synthetic Data Creation with 1,000,000,000
    Personas", arXiv:2406.20094.
    """

    Config = PersonaHubConfig
    config: PersonaHubConfig
    template_file: ClassVar[str] = "persona_hub_generate.jinja2"
    template_variables: ClassVar[dict[str, tuple[str, ...]]] = {  # checked at recipe load
        "main": ("**record", "persona", "task_kind", "label", "notes", "config"),
    }
    inputs: ClassVar[tuple[str, ...]] = ("persona",)
    outputs: ClassVar[tuple[str, ...]] = ("instruction", "task_kind")
    drop_reasons = ("parse_error", "refusal", "missing_input", "llm_error", "truncated")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.outputs = (self.config.output_field, "task_kind")  # type: ignore[misc]

    @property
    def label(self) -> str:
        kind = self.config.task_kind.strip()
        return self.config.label or LABELS.get(kind.lower(), kind[:1].upper() + kind[1:])

    def format_input(self, record: Record) -> list[Message]:
        cfg = self.config
        variables = {k: v for k, v in record.items() if k.isidentifier()}
        variables.update(
            persona=str(record[cfg.persona_field]).strip(),
            task_kind=cfg.task_kind.strip().lower(),
            label=self.label,
            notes=cfg.notes,
            config=cfg,
        )
        return self.render(**variables)

    def format_output(self, reply: Any, record: Record) -> dict[str, Any]:
        text = strip_label(strip_fences(str(reply)), self.label)
        text = _check(text, str(reply), self.config.task_kind)
        return {self.config.output_field: text, "task_kind": self.config.task_kind}


class PersonaFromTextConfig(LLMTaskConfig):
    """Options of the `text_to_persona` step."""

    text_field: str = Field("text", description="input field holding the text")
    output_field: str = Field("persona", description="output field for the inferred persona")
    relation: Literal["read", "write", "like", "dislike"] = Field(
        "read", description="who is likely to <relation> the text (the paper uses all four)"
    )
    max_text_chars: int = Field(
        4000, ge=100, description="longer texts are cut to this many characters"
    )
    temperature: float = Field(0.7, ge=0, le=2, description="sampling temperature")
    max_tokens: int = Field(256, ge=1, description="longest reply")


@register_step("text_to_persona")
class PersonaFromText(LLMTask):
    """Text-to-Persona: infer who would read/write/like/dislike each record's text.

    "Who is likely to <relation> the following text?", answered with a one-to-three sentence
    persona; long texts are cut to `max_text_chars`.

    Input columns: `text_field` (default ``text``).
    Output columns: `output_field` (default ``persona``).
    Drop reasons: ``parse_error`` (an empty reply), ``refusal``, ``missing_input``,
    ``llm_error``, ``truncated``.
    References: Ge et al. (2024), "Scaling Synthetic Data Creation with 1,000,000,000
    Personas", arXiv:2406.20094.
    """

    Config = PersonaFromTextConfig
    config: PersonaFromTextConfig
    template_file: ClassVar[str] = "persona_hub_text_to_persona.jinja2"
    template_variables: ClassVar[dict[str, tuple[str, ...]]] = {"main": ("text", "relation", "config")}
    inputs: ClassVar[tuple[str, ...]] = ("text",)
    outputs: ClassVar[tuple[str, ...]] = ("persona",)
    drop_reasons = ("parse_error", "refusal", "missing_input", "llm_error", "truncated")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.outputs = (self.config.output_field,)  # type: ignore[misc]

    def format_input(self, record: Record) -> list[Message]:
        cfg = self.config
        text = str(record[cfg.text_field]).strip()
        if len(text) > cfg.max_text_chars:
            text = text[: cfg.max_text_chars].rsplit(" ", 1)[0] + " ..."
        return self.render(text=text, relation=cfg.relation, config=cfg)

    def format_output(self, reply: Any, record: Record) -> dict[str, Any]:
        text = strip_label(strip_fences(str(reply)), "Persona")
        text = " ".join(_check(text, str(reply), "persona").split())
        return {self.config.output_field: text}
