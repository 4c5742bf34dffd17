"""Shared fixtures of the technique tests: endpoints on the scripted OpenAI-compatible server
(tests/support/llm_server.py), and runs of steps or bundled recipes against it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from synthpipe import Pipeline
from synthpipe.llm.config import LLMConfig
from synthpipe.pipeline.sources import FromRecords

# the test modules import the scripted OpenAI-compatible server (`llm_server`) from tests/support
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.fixture
def scripted_llm() -> Callable[..., LLMConfig]:
    """`scripted_llm(server, model="test-model", **options)`: an endpoint on the scripted
    server that does not retry (`max_retries=0`) unless `options` say otherwise."""

    def make(server: Any, model: str = "test-model", **options: Any) -> LLMConfig:
        return LLMConfig(backend="openai", base_url=server.base_url, model=model, **{"max_retries": 0, **options})

    return make


@pytest.fixture
def run_steps(tmp_path: Path, scripted_llm: Callable[..., LLMConfig]) -> Callable[..., Any]:
    """`run_steps(server, steps, records=None, *, llms=None, out="run", **settings)`: run the
    steps (after a `records` source holding `records`, if given) against the scripted server,
    with a response cache in tmp_path, and return the RunResult. `llms` defaults to one
    `default` endpoint on `server`."""

    def run(
        server: Any,
        steps: dict[str, Any],
        records: list[dict] | None = None,
        *,
        llms: dict[str, LLMConfig] | None = None,
        out: str = "run",
        **settings: Any,
    ) -> Any:
        if records is not None:
            steps = {"records": FromRecords(records=records), **steps}
        pipeline = Pipeline(
            "test",
            steps,
            llms=llms or {"default": scripted_llm(server)},
            llm_cache=str(tmp_path / "cache.sqlite"),
            **settings,
        )
        return pipeline.run(tmp_path / out)

    return run


@pytest.fixture
def recipe_pipeline(tmp_path: Path) -> Callable[..., Pipeline]:
    """`recipe_pipeline(name, server, *overrides)`: the bundled recipe `recipes/<name>` with
    its default endpoint on the scripted server (no API key) and a response cache in tmp_path."""

    def load(name: str, server: Any, *overrides: str) -> Pipeline:
        return Pipeline.from_recipe(
            RECIPES / name,
            [
                f"llms.default.base_url={server.base_url}",
                "llms.default.api_key_env=null",  # a local server needs no key
                f"llm_cache={tmp_path / 'cache.sqlite'}",
                *overrides,
            ],
        )

    return load


@pytest.fixture
def estimated_requests(tmp_path: Path) -> Callable[..., list[int]]:
    """`estimated_requests(pipeline, server)`: the requests per step that `--dry-run` estimates
    for a run into tmp_path/run; checks that the dry run sent the server nothing."""

    def estimate(pipeline: Pipeline, server: Any) -> list[int]:
        rows = pipeline.dry_run(tmp_path / "run")["steps"]
        assert not server.requests  # a dry run calls no LLM
        return [row["requests"] for row in rows]

    return estimate
