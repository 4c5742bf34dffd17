"""Structured output: a pydantic model or a JSON schema per step.

When the server supports it, the schema travels as ``response_format`` (guided decoding);
otherwise the prompt carries the schema and the reply is parsed and validated here. Parsing
is not part of the cache key, so a better parser re-parses cached responses for free.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


class StructuredOutput:
    def __init__(self, schema: type[BaseModel] | dict[str, Any], name: str = "output"):
        self.model = schema if isinstance(schema, type) and issubclass(schema, BaseModel) else None
        self.schema = dict(model_schema(self.model)) if self.model else dict(schema)
        self.name = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64]

    def response_format(self) -> dict[str, Any]:
        return {"type": "json_schema", "json_schema": {"name": self.name, "schema": self.schema, "strict": False}}

    def instructions(self) -> str:
        return (
            "Reply with only a JSON value (no prose, no code fence) that matches this JSON schema:\n"
            + json.dumps(self.schema, ensure_ascii=False)
        )

    def parse(self, text: str) -> tuple[Any, str | None]:
        """Return (value, None) or (None, error message fit to show the model)."""
        try:
            data = extract_json(text)
        except ValueError as exc:
            return None, str(exc)
        if self.model is not None:
            try:
                return self.model.model_validate(data).model_dump(mode="json"), None
            except ValidationError as exc:
                return None, _short(exc)
        return _validate_schema(data, self.schema)


@lru_cache(maxsize=256)
def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema, built once per process: steps ask for it per request, and
    pydantic takes ~0.4 ms to build one (do not mutate the result)."""
    return model.model_json_schema()


def extract_json(text: str) -> Any:
    """The JSON in a reply: the whole text, a ```json fence, or the first balanced {...}/[...]."""
    candidates = [text.strip(), *(m.strip() for m in _FENCE.findall(text))]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            pass
    for opener in ("{", "["):
        start = text.find(opener)
        if start >= 0:
            try:
                value, _ = json.JSONDecoder().raw_decode(text[start:])
                return value
            except json.JSONDecodeError:
                continue
    raise ValueError("the reply contains no valid JSON")


def _validate_schema(data: Any, schema: dict) -> tuple[Any, str | None]:
    import jsonschema

    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        return None, f"at {where}: {exc.message}"
    return data, None


def _short(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
