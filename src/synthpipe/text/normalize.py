"""Text normalisation shared by dedup and decontamination."""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel, ConfigDict, Field

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")


class Normalization(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    unicode: str | None = Field("NFKC", description="unicodedata form, or null for none")
    lowercase: bool = True
    strip_punctuation: bool = True
    collapse_whitespace: bool = True


DEFAULT = Normalization()


def normalize(text: str, how: Normalization = DEFAULT) -> str:
    if how.unicode:
        text = unicodedata.normalize(how.unicode, text)
    if how.lowercase:
        text = text.lower()
    if how.strip_punctuation:
        text = _PUNCT.sub(" ", text)
    if how.collapse_whitespace:
        text = _SPACE.sub(" ", text).strip()
    return text
