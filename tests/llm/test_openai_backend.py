"""OpenAIBackend against a real HTTP server (tests/support/llm_server.py): success, auth,
error mapping for every injected fault, concurrency, and event-loop changes."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import pytest
from multidict import CIMultiDict

from synthpipe.llm.config import LLMConfig
from synthpipe.llm.openai_backend import OpenAIBackend, _parse_completion, parse_retry_after
from synthpipe.llm.types import (
    ChatRequest,
    FatalError,
    LLMError,
    RetryableError,
    SamplingParams,
    UnsupportedResponseFormat,
)

SUPPORT = Path(__file__).parents[1] / "support"
sys.path.insert(0, str(SUPPORT))

from llm_server import BAD_SCHEMA_TEXT, FaultPlan, ScriptedOpenAIServer, run_once  # noqa: E402

SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as s:
        yield s


def make_backend(base_url: str, **overrides: Any) -> OpenAIBackend:
    return OpenAIBackend(LLMConfig(model="test-model", base_url=base_url, **overrides))


def ask(text: str = "hello", **kwargs: Any) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], **kwargs)




# -- success ------------------------------------------------------------------------------


def test_n_samples_and_request_body(server: ScriptedOpenAIServer) -> None:
    params = SamplingParams(temperature=0.2, top_p=0.9, max_tokens=64, stop=("END",), seed=7)
    response = run_once(make_backend(server.base_url), ask("hi there", params=params, n=3))

    assert response.texts == ["echo 0: hi there", "echo 1: hi there", "echo 2: hi there"]
    assert response.finish_reasons == ["stop"] * 3
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (2, 12)
    assert response.model == "test-model"
    sent = server.requests[0]
    assert sent["n"] == 3 and sent["temperature"] == 0.2 and sent["top_p"] == 0.9
    assert sent["max_tokens"] == 64 and sent["stop"] == ["END"] and sent["seed"] == 7
    assert "response_format" not in sent


def test_response_format_is_forwarded() -> None:
    with ScriptedOpenAIServer(responder=lambda body: '{"ok": true}') as server:
        response = run_once(make_backend(server.base_url), ask(response_format=SCHEMA_FORMAT))
        assert response.texts == ['{"ok": true}']
        assert server.requests[0]["response_format"] == SCHEMA_FORMAT


# -- auth ---------------------------------------------------------------------------------


def test_api_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedOpenAIServer(api_key="sk-right") as server:
        backend = make_backend(server.base_url, api_key_env="TEST_LLM_KEY")
        monkeypatch.setenv("TEST_LLM_KEY", "sk-right")
        assert run_once(backend, ask()).texts == ["echo 0: hello"]

        monkeypatch.setenv("TEST_LLM_KEY", "sk-wrong")
        error = run_once(backend, ask())
        assert type(error) is FatalError and error.status == 401
        assert "sk-wrong" not in str(error)

        assert type(run_once(make_backend(server.base_url), ask())) is FatalError  # no key at all


def test_missing_env_var_is_fatal_and_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_LLM_KEY_UNSET", raising=False)
    with ScriptedOpenAIServer(api_key="sk-secret") as server:
        error = run_once(make_backend(server.base_url, api_key_env="TEST_LLM_KEY_UNSET"), ask())
        assert type(error) is FatalError
        assert "TEST_LLM_KEY_UNSET" in str(error) and server.base_url in str(error)
        assert "sk-secret" not in str(error)
        assert server.requests == []  # failed before sending anything


# -- error mapping ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "words"),
    [
        ("rate_limit", 429, "429"),
        ("server_error", 500, "500"),
        ("unavailable", 503, "503"),
        ("reset", None, "talking to"),
        ("malformed", None, "malformed response"),
    ],
)
def test_faults_are_retryable(fault: str, status: int | None, words: str) -> None:
    with ScriptedOpenAIServer(faults=FaultPlan(**{fault: 1.0})) as server:
        error = run_once(make_backend(server.base_url), ask())
    assert isinstance(error, RetryableError), error
    assert error.status == status and words in str(error)
    if fault == "rate_limit":
        assert error.retry_after == pytest.approx(0.05)


def test_hanging_server_times_out_as_retryable() -> None:
    with ScriptedOpenAIServer(faults=FaultPlan(timeout=1.0, hang_s=2.0)) as server:
        started = time.monotonic()
        error = run_once(make_backend(server.base_url, timeout_s=0.3), ask())
        assert isinstance(error, RetryableError) and "timeout after 0.3s" in str(error)
        assert time.monotonic() - started < 1.5


def test_bad_schema_is_a_success_for_the_backend() -> None:
    # Validating the JSON is the structured-output layer's job, not the backend's.
    with ScriptedOpenAIServer(faults=FaultPlan(bad_schema=1.0)) as server:
        response = run_once(make_backend(server.base_url), ask(response_format=SCHEMA_FORMAT))
        assert response.texts == [BAD_SCHEMA_TEXT]
        assert server.successes_by_key.total() == 0 and server.faults_injected["bad_schema"] == 1


def test_bad_request_is_fatal_with_server_message(server: ScriptedOpenAIServer) -> None:
    error = run_once(make_backend(server.base_url), ChatRequest(messages=[{"role": "user"}]))
    assert type(error) is FatalError and error.status == 400
    assert "messages[0] must be an object" in str(error)


def test_unsupported_response_format() -> None:
    with ScriptedOpenAIServer(supports_response_format=False) as server:
        backend = make_backend(server.base_url)
        error = run_once(backend, ask(response_format=SCHEMA_FORMAT))
        assert isinstance(error, UnsupportedResponseFormat) and error.status == 400
        assert run_once(backend, ask()).texts == ["echo 0: hello"]  # plain requests still work


def test_connection_refused_is_retryable() -> None:
    with ScriptedOpenAIServer() as server:
        url = server.base_url
    assert isinstance(run_once(make_backend(url), ask()), RetryableError)


def test_url_without_scheme_is_fatal() -> None:
    assert type(run_once(make_backend("localhost:8000/v1"), ask())) is FatalError


def test_non_http_url_is_fatal() -> None:
    assert type(run_once(make_backend("ftp://127.0.0.1:1/v1"), ask())) is FatalError


def raw_http(
    reply: bytes,
    key: str | None = None,
    base_url: str = "http://127.0.0.1:{port}/v1",
    on_port: Callable[[int], None] | None = None,
) -> tuple[Any, list[bytes]]:
    """One attempt against a bare TCP server that reads the request, then writes `reply`
    verbatim and closes: for the failures a real HTTP server will not produce. Returns the
    response (or LLMError) and the request heads the server saw. `on_port` is told the
    server's port before the backend is made (to point a proxy at it)."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        heads.append(head)
        length = next(
            (int(line.split(b":", 1)[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")),
            0,
        )
        await reader.readexactly(length)  # all of it, or closing would send a reset
        writer.write(reply)
        await writer.drain()
        writer.close()

    async def go() -> Any:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        if on_port is not None:
            on_port(port)
        backend = make_backend(base_url.format(port=port), api_key_env="TEST_RAW_KEY" if key else None)
        try:
            return await backend.chat(ask())
        except LLMError as exc:
            return exc
        finally:
            await backend.aclose()
            server.close()
            await server.wait_closed()

    return asyncio.run(go()), heads


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (b"", "ServerDisconnectedError"),  # closed before any response
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"choi", "ClientPayloadError"),  # body cut short
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"cho", "ClientPayloadError"),
        (b"NOT HTTP AT ALL\r\n\r\n", "talking to"),  # unparseable status line
    ],
)
def test_broken_connections_are_retryable_and_keep_the_key_out(
    reply: bytes, words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_RAW_KEY", "sk-raw-secret")
    error, _ = raw_http(reply, key="sk-raw-secret")
    assert type(error) is RetryableError, error
    assert words in str(error) and "sk-raw-secret" not in str(error)
    assert error.__context__ is None and error.__cause__ is None  # no aiohttp error (with headers) attached


_HI = json.dumps({"choices": [{"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}]}).encode()
_HI_AS_TEXT = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(_HI), _HI)


def test_json_body_is_parsed_whatever_its_content_type() -> None:
    assert raw_http(_HI_AS_TEXT)[0].texts == ["hi"]


def test_redirects_are_not_followed() -> None:
    reply = b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:1/x\r\nContent-Length: 0\r\n\r\n"
    error, _ = raw_http(reply)
    assert type(error) is FatalError and error.status == 307


_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def test_proxy_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)

    def proxy_at(port: int) -> None:  # the raw server stands in for the proxy
        monkeypatch.setenv("http_proxy", f"http://user:p%40ss@127.0.0.1:{port}")

    response, heads = raw_http(_HI_AS_TEXT, base_url="http://upstream.invalid/v1", on_port=proxy_at)
    assert response.texts == ["hi"]
    assert heads[0].startswith(b"POST http://upstream.invalid/v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\nProxy-Authorization: Basic dXNlcjpwQHNz\r\n" in heads[0]  # user:p@ss

    refused = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"

    def https_proxy_at(port: int) -> None:
        monkeypatch.setenv("https_proxy", f"http://user:p%40ss@127.0.0.1:{port}")

    error, heads = raw_http(refused, base_url="https://upstream.invalid/v1", on_port=https_proxy_at)
    assert heads[0].startswith(b"CONNECT upstream.invalid:443 HTTP/1.1\r\n")
    assert isinstance(error, RetryableError) and "407" in str(error)
    assert "p@ss" not in str(error) and "p%40ss" not in str(error)

    monkeypatch.setenv("no_proxy", "127.0.0.1")  # the server itself now, not as a proxy
    response, heads = raw_http(_HI_AS_TEXT, on_port=lambda port: monkeypatch.setenv("http_proxy", "http://127.0.0.1:1"))
    assert response.texts == ["hi"] and heads[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")


def test_completion_shapes() -> None:
    def parse(body: dict[str, Any]) -> Any:
        return _parse_completion(json.dumps(body).encode())

    ok = parse({"choices": [{"index": 0, "message": {"content": None}, "finish_reason": "length"}]})
    assert ok.texts == [""] and ok.finish_reasons == ["length"] and ok.usage.total == 0
    for bad in ({"choices": []}, {"choices": [{"message": {"role": "assistant"}}]}, {"x": 1}):
        with pytest.raises(RetryableError, match="malformed response"):
            parse(bad)


def test_parse_retry_after() -> None:  # aiohttp hands over a CIMultiDictProxy
    assert parse_retry_after(CIMultiDict({"Retry-After": "2.5"})) == 2.5
    assert parse_retry_after(CIMultiDict({"Retry-After-Ms": "250", "Retry-After": "9"})) == 0.25
    assert parse_retry_after(CIMultiDict({})) is None
    assert parse_retry_after(CIMultiDict({"Retry-After": "soon"})) is None
    in_30s = formatdate(time.time() + 30, usegmt=True)
    assert 25 < parse_retry_after(CIMultiDict({"Retry-After": in_30s})) <= 30


# -- concurrency and event loops ----------------------------------------------------------


def test_many_requests_in_flight_at_once() -> None:
    with ScriptedOpenAIServer(latency_s=0.05) as server:
        backend = make_backend(server.base_url, max_concurrency=256)

        async def go() -> list[Any]:
            try:
                return await asyncio.gather(*(backend.chat(ask(f"q{i}")) for i in range(200)))
            finally:
                await backend.aclose()

        responses = asyncio.run(go())
        assert [r.texts[0] for r in responses] == [f"echo 0: q{i}" for i in range(200)]
        assert len(server.requests) == 200 and len(server.count_by_key) == 200
        assert server.max_in_flight > 50


def test_backend_survives_successive_event_loops(server: ScriptedOpenAIServer) -> None:
    backend = make_backend(server.base_url)

    async def one(text: str) -> str:  # no aclose: the loop's shutdown must close the session
        return (await backend.chat(ask(text))).texts[0]

    assert asyncio.run(one("first")) == "echo 0: first"
    first_session = next(iter(backend._sessions.values()))
    assert first_session.closed
    assert asyncio.run(one("second")) == "echo 0: second"
    assert list(backend._sessions.values()) != [first_session]  # the stale session was dropped
    assert len(backend._sessions) == 1


def test_loop_shutdown_leaves_nothing_unclosed(server: ScriptedOpenAIServer, caplog: pytest.LogCaptureFixture) -> None:
    backend = make_backend(server.base_url, max_concurrency=32)

    async def burst() -> None:  # no aclose, and requests still running when the loop ends
        await asyncio.gather(*(backend.chat(ask(f"q{i}")) for i in range(32)))
        asyncio.get_running_loop().create_task(backend.chat(ask("abandoned")))
        await asyncio.sleep(0.001)

    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG, logger="asyncio"):
        warnings.simplefilter("always")
        for _ in range(3):
            asyncio.run(burst())
        gc.collect()  # the sessions of the first two loops, dropped by now
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert "nclosed" not in caplog.text


# -- the server's fault plan --------------------------------------------------------------


def test_fault_plan_is_deterministic_and_roughly_calibrated() -> None:
    plan = FaultPlan(rate_limit=0.2, server_error=0.1, reset=0.1, seed=3)
    draws = [plan.fault_for(f"key{i}", a) for i in range(500) for a in (1, 2)]
    assert draws == [plan.fault_for(f"key{i}", a) for i in range(500) for a in (1, 2)]
    assert 0.3 < sum(d is not None for d in draws) / len(draws) < 0.5
    assert draws != [FaultPlan(rate_limit=0.2, server_error=0.1, reset=0.1, seed=4).fault_for(
        f"key{i}", a) for i in range(500) for a in (1, 2)]
    with pytest.raises(ValueError):
        FaultPlan(rate_limit=0.7, server_error=0.7)


def test_same_plan_same_faults_over_http() -> None:
    def faults_seen() -> list[str | None]:
        plan = FaultPlan(server_error=0.3, unavailable=0.2, seed=11)
        with ScriptedOpenAIServer(faults=plan) as server:
            backend = make_backend(server.base_url)
            for i in range(20):
                run_once(backend, ask(f"q{i % 5}"))  # 5 keys, 4 attempts each
            return [(r["key"], r["attempt"], r["fault"]) for r in server.requests]

    assert faults_seen() == faults_seen()


def test_max_failures_per_key_bounds_retries() -> None:
    plan = FaultPlan(server_error=0.5, rate_limit=0.5, max_failures_per_key=2, seed=5)
    with ScriptedOpenAIServer(faults=plan) as server:
        backend = make_backend(server.base_url)
        for i in range(10):
            outcomes = [run_once(backend, ask(f"q{i}")) for _ in range(3)]
            assert isinstance(outcomes[0], RetryableError) and isinstance(outcomes[1], RetryableError)
            assert outcomes[2].texts == [f"echo 0: q{i}"]
        assert set(server.successes_by_key.values()) == {1}


def test_fail_keys_always_fail_only_those_records() -> None:
    plan = FaultPlan(server_error=1.0, fail_keys={"poison"}, always=True)
    with ScriptedOpenAIServer(faults=plan) as server:
        backend = make_backend(server.base_url)
        assert all(isinstance(run_once(backend, ask("a poison pill")), RetryableError) for _ in range(4))
        assert run_once(backend, ask("a fine record")).texts == ["echo 0: a fine record"]


def test_models_endpoint_and_standalone_mode() -> None:
    command = [sys.executable, str(SUPPORT / "llm_server.py"), "--port", "0", "--latency", "0.01"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
            models = httpx.get(f"{base_url}/models", timeout=5).json()
            assert models["data"][0]["id"] == "test-model"
            assert run_once(make_backend(base_url), ask()).texts == ["echo 0: hello"]
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0
