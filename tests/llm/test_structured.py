"""Structured output: a pydantic model's JSON schema is built once, not per request."""

from __future__ import annotations

import pydantic

from synthpipe.llm.structured import StructuredOutput


def test_a_models_json_schema_is_built_once(monkeypatch) -> None:
    model = pydantic.create_model("Verdict", label=(str, ...), score=(int, ...))
    built = model.model_json_schema()
    calls = 0

    def counted(*args, **kwargs):
        nonlocal calls
        calls += 1
        return built

    monkeypatch.setattr(model, "model_json_schema", counted)
    outputs = [StructuredOutput(model, "verdict") for _ in range(3)]  # one per request
    assert calls == 1
    assert all(o.schema == built and o.response_format()["json_schema"]["schema"] == built for o in outputs)
    assert outputs[0].parse('{"label": "ok", "score": 3}') == ({"label": "ok", "score": 3}, None)
