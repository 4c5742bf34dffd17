"""An endpoint that no request ever reaches (connection refused, DNS failure) stops the run
with its URL and the cause, instead of dropping every record as ``llm_error`` and exiting 0
(issue 13, item 2). Once an endpoint has answered, a failed connection drops only its record."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
from llm_server import ScriptedOpenAIServer, refused_base_url

from synthpipe import Pipeline
from synthpipe.errors import UsageError
from synthpipe.generate.text_generation import TextGeneration
from synthpipe.llm.backend import LLMBackend
from synthpipe.llm.client import LLMClient
from synthpipe.llm.config import LLMConfig
from synthpipe.llm.openai_backend import OpenAIBackend
from synthpipe.llm.types import ChatRequest, ChatResponse, RetryableError
from synthpipe.pipeline.sources import FromRecords

FAST = {"max_retries": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.02, "timeout_s": 5}


def config(base_url: str, **kw) -> LLMConfig:
    return LLMConfig(backend="openai", base_url=base_url, model="test-model", **{**FAST, **kw})


def test_refused_connections_stop_the_run_with_the_url_and_cause(tmp_path):
    records = [{"id": f"q{i}", "question": f"q {i}"} for i in range(20)]
    with refused_base_url() as base_url:
        pipe = Pipeline(
            "unreachable",
            {
                "questions": FromRecords(records=records),
                "answer": TextGeneration(prompt="Answer: {{ question }}", output_field="answer"),
            },
            llms={"default": config(base_url)},
            llm_cache=str(tmp_path / "cache.sqlite"),
            batch_size=8,
        )
        started = time.monotonic()
        with pytest.raises(UsageError, match="cannot be reached") as info:  # the CLI: one line, exit 2
            pipe.run(tmp_path / "run")
        assert time.monotonic() - started < 20
    message = str(info.value)
    assert type(info.value).__name__ == "EndpointUnreachable"
    assert base_url in message and "connection refused" in message and "'default'" in message
    assert not (tmp_path / "run" / "kept.jsonl").exists()  # no "kept 0" run


RECIPE = """\
name: unreachable
llms:
  default: {{backend: openai, base_url: "{url}", model: test-model, max_retries: 1, backoff_base_s: 0.01}}
llm_cache: "{cache}"
steps:
  questions: {{step: records, records: [{{id: a, question: hi}}, {{id: b, question: there}}]}}
  answer: {{step: llm_generate, prompt: "Answer: {{{{ question }}}}", output_field: answer}}
"""


def test_cli_exits_2_with_one_line_naming_the_endpoint(tmp_path):
    with refused_base_url() as base_url:
        recipe = tmp_path / "r.yaml"
        recipe.write_text(RECIPE.format(url=base_url, cache=tmp_path / "cache.sqlite"))
        done = subprocess.run(
            [sys.executable, "-m", "synthpipe.cli", "run", str(recipe), "--out", str(tmp_path / "run"), "-q"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "cannot be reached" in done.stderr and base_url in done.stderr and "connection refused" in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


def test_an_endpoint_that_answered_once_only_drops_the_failed_record():
    with ScriptedOpenAIServer() as server:
        client = LLMClient("default", config(server.base_url))
        request = ChatRequest([{"role": "user", "content": "hello"}])
        assert asyncio.run(client.chat(request)).texts == ["echo 0: hello"]
    # the server is gone now: an outage mid-run, not a wrong base_url
    with pytest.raises(RetryableError, match="gave up after 3 attempts.*connection refused"):
        asyncio.run(client.chat(request))


class _OneSlowSuccess(LLMBackend):
    """Request "slow" answers once "fast" has failed; the others go to a port that refuses."""

    def __init__(self, config: LLMConfig):
        super().__init__(config)
        self.refused = OpenAIBackend(config)
        self.failed = asyncio.Event()

    async def chat(self, request: ChatRequest) -> ChatResponse:
        if request.messages[0]["content"] == "slow":
            await self.failed.wait()
            return ChatResponse(["late but fine"], ["stop"])
        try:
            return await self.refused.chat(request)
        finally:
            self.failed.set()

    async def aclose(self) -> None:
        await self.refused.aclose()


def test_a_request_still_in_flight_keeps_the_run_going():
    with refused_base_url() as base_url:
        endpoint = config(base_url, max_retries=0)
        client = LLMClient("default", endpoint, backend=_OneSlowSuccess(endpoint))

        async def both() -> list:
            calls = [client.chat(ChatRequest([{"role": "user", "content": text}])) for text in ("slow", "fast")]
            try:
                return await asyncio.gather(*calls, return_exceptions=True)
            finally:
                await client.aclose()

        slow, fast = asyncio.run(both())
        assert slow.texts == ["late but fine"]
        assert type(fast) is RetryableError and "connection refused" in str(fast)  # dropped as llm_error
        with pytest.raises(RetryableError):  # and the endpoint is known to exist from now on
            asyncio.run(client.chat(ChatRequest([{"role": "user", "content": "fast"}])))
