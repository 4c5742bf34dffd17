"""Which text of a record the fidelity embeddings see.

When synthetic and reference records are prompt/response pairs, or answer the same prompts,
embedding the whole record lets the shared prompts dominate: three very different models then
score MAUVE and precision/recall near 1 against the same reference. Fidelity therefore embeds
the response side: ``embed_field="auto"`` picks it, and the report says what was embedded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Fields that hold a response, in the order ``auto`` looks for them.
RESPONSE_FIELDS = ("response", "output", "completion", "answer", "chosen", "assistant", "target")
#: Fields that hold a prompt (for the shared-prompt check).
PROMPT_FIELDS = ("instruction", "prompt", "question", "query", "input")
_PRESENT = 0.5  # a field counts as present when at least half of the records have it


@dataclass(frozen=True)
class EmbedSide:
    """The fields whose text is embedded (joined by a blank line when several) and why."""

    fields: tuple[str, ...]
    description: str
    messages: bool = False  # the field holds chat messages: embed the assistant turns

    def text(self, record: dict) -> str:
        """The embedded text of one record."""
        if self.messages:
            return assistant_text(record.get(self.fields[0]))
        return "\n\n".join(_as_text(record.get(f)) for f in self.fields)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def is_messages(value: Any) -> bool:
    """A chat transcript: a list of ``{"role", "content"}`` dicts."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and "role" in m for m in value)
    )


def assistant_text(messages: Any) -> str:
    """The assistant turns of a chat transcript, joined by a blank line."""
    if not is_messages(messages):
        return _as_text(messages)
    return "\n\n".join(_as_text(m.get("content")) for m in messages if m.get("role") == "assistant")


def _present(records: Sequence[dict], field: str) -> bool:
    if not records:
        return False
    have = sum(1 for r in records if isinstance(r.get(field), str) and r[field].strip())
    return have >= _PRESENT * len(records)


def resolve_embed_side(
    records: Sequence[dict],
    text_field: str,
    embed_field: str = "auto",
    reference: Sequence[dict] | None = None,
) -> EmbedSide:
    """What fidelity embeds for ``records`` (and ``reference``, which uses the same fields).

    ``embed_field``: a field name, several joined with ``+`` (``instruction+output`` embeds
    the pair jointly), or ``auto``: the assistant turns when ``text_field`` holds chat
    messages; ``text_field`` itself when it is a response field; else the first of
    :data:`RESPONSE_FIELDS` that both sets have; else ``text_field``.
    """
    if embed_field != "auto":
        fields = tuple(f.strip() for f in embed_field.split("+") if f.strip())
        joint = " + ".join(f"`{f}`" for f in fields)
        return EmbedSide(
            fields, f"{joint} (set by embed_field)" + (" jointly" if len(fields) > 1 else "")
        )
    first = next((r.get(text_field) for r in records if r.get(text_field) is not None), None)
    if is_messages(first):
        return EmbedSide(
            (text_field,), f"the assistant turns of `{text_field}` (auto: chat messages)", True
        )
    if text_field in RESPONSE_FIELDS:
        return EmbedSide((text_field,), f"`{text_field}`, the audited text (a response field)")
    for field in RESPONSE_FIELDS:
        if _present(records, field) and (reference is None or _present(reference, field)):
            return EmbedSide((field,), f"the response field `{field}` (auto: prompts are not embedded, "
                                       "so shared prompts cannot make the sets look alike)")  # fmt: skip
    return EmbedSide((text_field,), f"`{text_field}`, the audited text")


def shared_prompts(records: Sequence[dict], reference: Sequence[dict]) -> dict[str, Any] | None:
    """How many synthetic prompts also occur in the reference (whitespace- and case-insensitive),
    for the first prompt field both sets have; None when they have none in common."""
    for field in PROMPT_FIELDS:
        if _present(records, field) and _present(reference, field):
            ref = {_norm(r.get(field)) for r in reference if isinstance(r.get(field), str)}
            mine = [_norm(r.get(field)) for r in records if isinstance(r.get(field), str)]
            shared = sum(1 for p in mine if p in ref)
            return {"field": field, "shared": shared, "of": len(mine),
                    "share": shared / len(mine) if mine else 0.0}  # fmt: skip
    return None


def _norm(text: Any) -> str:
    return " ".join(str(text).lower().split())
