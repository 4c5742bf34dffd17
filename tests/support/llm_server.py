"""A real OpenAI-compatible HTTP server for tests and benchmarks, with scripted answers and
deterministic fault injection.

In tests (import by path: ``sys.path.insert(0, str(<tests dir> / "support"))``)::

    with ScriptedOpenAIServer(latency_s=0.01, faults=FaultPlan(rate_limit=0.2, seed=1)) as server:
        LLMConfig(model="test-model", base_url=server.base_url)

Standalone, for benchmarks (prints the base URL, serves until killed)::

    python tests/support/llm_server.py --port 0 --latency 0.05

An endpoint nothing listens on (connections refused), for unreachable-server tests::

    with refused_base_url() as base_url:
        LLMConfig(model="test-model", base_url=base_url)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import inspect
import json
import signal
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any

from aiohttp import web

# A reply is a text, or a message dict ({"content": ..., "tool_calls": [...]}: an assistant that
# calls tools, answered with finish_reason "tool_calls"); a list gives one per sample (n).
Reply = "str | dict[str, Any]"
Responder = Callable[[dict[str, Any]], "Reply | list[Reply] | Awaitable[Reply | list[Reply]]"]

# Order matters: a draw in [0, 1) walks these cumulatively (see FaultPlan.draw); new kinds go
# last, so a plan without them draws what it drew before.
FAULT_KINDS = (
    "rate_limit", "server_error", "unavailable", "reset", "timeout", "malformed", "bad_schema",
    "length", "cut_json", "ignore_response_format",
)  # fmt: skip
BAD_SCHEMA_TEXT = "Sure! here you go: {oops"
MALFORMED_BODY = '{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": [{"index": 0, "mess'


@dataclass
class FaultPlan:
    """Which attempts fail, and how. Each kind is a probability per attempt; a fault is decided
    by hashing (seed, request key, attempt number), so it does not depend on arrival order."""

    rate_limit: float = 0.0  # 429 with Retry-After: retry_after_s
    server_error: float = 0.0  # 500
    unavailable: float = 0.0  # 503
    reset: float = 0.0  # connection dropped without a response
    timeout: float = 0.0  # answer only after hang_s (longer than the client waits)
    malformed: float = 0.0  # 200 with a truncated, non-JSON body
    bad_schema: float = 0.0  # 200 with valid OpenAI JSON whose content is not the JSON asked for
    length: float = 0.0  # 200, the reply cut in half with finish_reason "length" (see reply_tokens)
    cut_json: float = 0.0  # 200 whose body stops mid-JSON: the connection closes before Content-Length
    ignore_response_format: float = 0.0  # requests with response_format are answered as if without it
    seed: int = 0
    retry_after_s: float = 0.05
    hang_s: float = 5.0
    max_failures_per_key: int | None = None  # after this many faults for one request, always succeed
    fail_keys: set[str] | None = None  # only requests whose last user message contains one of these
    always: bool = False  # every attempt of an eligible request faults (kind drawn by the weights)
    # `length` faults spare requests whose max_tokens is at least this: the reply's true length,
    # so asking again with a larger budget succeeds. None: every drawn `length` fault cuts.
    reply_tokens: int | None = None

    def __post_init__(self) -> None:
        for kind in FAULT_KINDS:
            if not 0.0 <= getattr(self, kind) <= 1.0:
                raise ValueError(f"FaultPlan.{kind} must be in [0, 1], got {getattr(self, kind)}")
        if not self.always and self.total > 1.0 + 1e-9:
            raise ValueError(f"FaultPlan probabilities sum to {self.total} > 1")

    @property
    def total(self) -> float:
        return sum(getattr(self, kind) for kind in FAULT_KINDS)

    def applies_to(self, last_user: str) -> bool:
        return self.fail_keys is None or any(k in last_user for k in self.fail_keys)

    def draw(self, key: str, attempt: int) -> str | None:
        """The fault for this attempt, ignoring max_failures_per_key and fail_keys."""
        digest = hashlib.sha256(f"{self.seed}:{key}:{attempt}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        if self.always:
            if self.total == 0:
                return "server_error"
            u *= self.total  # rescale so the walk below always lands on some kind
        for kind in FAULT_KINDS:
            u -= getattr(self, kind)
            if u < 0:
                return kind
        return None

    def fault_for(
        self, key: str, attempt: int, last_user: str = "", body: dict[str, Any] | None = None
    ) -> str | None:
        """The fault injected into `attempt` (1-based) of request `key`, or None to answer.
        Counting earlier faults from the draws (not from live state) keeps the cap
        deterministic even when attempts of one key race each other. `body` (the request)
        lets faults that need it pass: `length` when the budget fits, `ignore_response_format`
        when none was asked for."""
        if not self.applies_to(last_user):
            return None

        def strike(a: int) -> str | None:
            fault = self.draw(key, a)
            return fault if body is None or self._can_strike(fault, body) else None

        if self.max_failures_per_key is not None:
            earlier = sum(strike(a) is not None for a in range(1, attempt))
            if earlier >= self.max_failures_per_key:
                return None
        return strike(attempt)

    def _can_strike(self, fault: str | None, body: dict[str, Any]) -> bool:
        if fault == "length" and self.reply_tokens is not None:
            return int(body.get("max_tokens") or 0) < self.reply_tokens
        if fault == "ignore_response_format":
            return "response_format" in body
        return True


@contextlib.contextmanager
def refused_base_url(host: str = "127.0.0.1") -> Iterator[str]:
    """A base URL whose port refuses connections: a socket is bound to it (so no other test
    takes the port) but never listens, so a connect gets an immediate RST."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        yield f"http://{host}:{sock.getsockname()[1]}/v1"
    finally:
        sock.close()


def request_key(body: dict[str, Any]) -> str:
    """Content key of a request: equal bodies (messages, params, seed, ...) share a key."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def last_user_content(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def echo_responder(body: dict[str, Any]) -> list[str]:
    last = last_user_content(body)
    return [f"echo {i}: {last}" for i in range(body.get("n", 1))]


def _words(text: str) -> int:
    return len(text.split())


def _choice(index: int, reply: str | dict[str, Any], finish_reason: str) -> dict[str, Any]:
    """One choice; a dict reply is the message (tool_calls given: finish_reason "tool_calls")."""
    if isinstance(reply, str):
        return {"index": index, "message": {"role": "assistant", "content": reply}, "finish_reason": finish_reason}
    message = {"role": "assistant", "content": None, **reply}
    reason = "tool_calls" if message.get("tool_calls") and finish_reason == "stop" else finish_reason
    return {"index": index, "message": message, "finish_reason": reason}


def _error(status: int, message: str, **headers: str) -> web.Response:
    payload = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    return web.json_response(payload, status=status, headers=headers or None)


def _validate(body: dict[str, Any]) -> str | None:
    """Why the body is not a chat request, or None. Minimal, like a lenient server."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "'model' is required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list"
    for i, m in enumerate(messages):
        calls = isinstance(m, dict) and m.get("role") == "assistant" and m.get("tool_calls")
        if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)) and not (
            calls and m.get("content") is None  # an assistant turn that only called tools
        ):
            return f"messages[{i}] must be an object with string 'role' and 'content'"
    if "tools" in body and not isinstance(body["tools"], list):
        return "'tools' must be a list"
    n = body.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        return "'n' must be a positive integer"
    return None


def _reset_connection(request: web.Request) -> None:
    """Drop the connection with a TCP RST so the client sees a reset, not a clean close."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class ScriptedOpenAIServer:
    """An aiohttp server on 127.0.0.1 in a background thread with its own event loop.

    Observations (safe to read from the test thread; written under a lock):
    - requests: each chat body received, plus "key" (request_key), "attempt" (1-based count of
      bodies with that key so far) and "fault" (the injected fault kind or None)
    - count_by_key / successes_by_key: requests received / genuine (non-faulted) 200s per key
    - faults_injected: by kind; in_flight / max_in_flight: chat requests being handled at once

    After stop() the port is kept, so start() again serves the same base_url (restart tests).
    """

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        latency_s: float = 0.0,
        faults: FaultPlan | None = None,
        api_key: str | None = None,
        supports_response_format: bool = True,
        model: str = "test-model",
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.responder = responder or echo_responder
        self.latency_s = latency_s
        self.faults = faults
        self.api_key = api_key
        self.supports_response_format = supports_response_format
        self.model = model
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.count_by_key: Counter[str] = Counter()
        self.successes_by_key: Counter[str] = Counter()
        self.faults_injected: Counter[str] = Counter()  # by fault kind
        self.in_flight = 0
        self.max_in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._startup_error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> ScriptedOpenAIServer:
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="scripted-openai", daemon=True)
        self._thread.start()
        ready.wait(30)
        if self._startup_error is not None:
            self._thread.join(5)
            raise RuntimeError("scripted OpenAI server failed to start") from self._startup_error
        return self

    def stop(self) -> None:
        loop, runner, thread = self._loop, self._runner, self._thread
        if loop is None or thread is None:
            return
        if runner is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.count_by_key.clear()
            self.successes_by_key.clear()
            self.faults_injected.clear()
            self.max_in_flight = self.in_flight

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced by start()
            self._startup_error = exc
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        # handler_cancellation: a client that gave up (timeout) frees its hanging handler;
        # a short shutdown_timeout keeps stop() fast when handlers are still sleeping.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.2)
        await runner.setup()
        # The default backlog (128) makes a burst of 256+ connects wait for SYN retransmits.
        site = web.TCPSite(runner, self.host, self.port, backlog=4096)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    # -- handlers --------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid or missing API key")
        model = {"id": self.model, "object": "model", "created": 0, "owned_by": "synthpipe-tests"}
        return web.json_response({"object": "list", "data": [model]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _authorized(self, request: web.Request) -> bool:
        return self.api_key is None or request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _error(401, "invalid or missing API key")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object")
        key, attempt, entry = self._record(body)
        problem = _validate(body)
        if problem:
            return _error(400, problem)
        if "response_format" in body and not self.supports_response_format:
            return _error(400, "response_format is not supported by this server")
        fault = self.faults.fault_for(key, attempt, last_user_content(body), body) if self.faults else None
        if fault:
            with self._lock:
                self.faults_injected[fault] += 1
                entry["fault"] = fault
        if fault == "timeout":
            assert self.faults is not None
            await asyncio.sleep(self.faults.hang_s)
            fault = None  # a client patient enough gets the real answer
        elif self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        if fault:
            return await self._fault_response(fault, request, body, key, attempt)
        return await self._success(body, key, attempt)

    def _record(self, body: dict[str, Any]) -> tuple[str, int, dict[str, Any]]:
        """Log the body; its attempt number counts earlier requests with the same content."""
        key = request_key(body)
        with self._lock:
            self.count_by_key[key] += 1
            attempt = self.count_by_key[key]
            entry = {**body, "key": key, "attempt": attempt, "fault": None}
            self.requests.append(entry)
        return key, attempt, entry

    async def _fault_response(
        self, fault: str, request: web.Request, body: dict[str, Any], key: str, attempt: int
    ) -> web.StreamResponse:
        assert self.faults is not None
        if fault == "rate_limit":
            return _error(429, "rate limit exceeded", **{"Retry-After": str(self.faults.retry_after_s)})
        if fault == "server_error":
            return _error(500, "internal server error (injected)")
        if fault == "unavailable":
            return _error(503, "service unavailable (injected)")
        if fault == "reset":
            _reset_connection(request)
            raise asyncio.CancelledError  # nothing left to write to; aiohttp drops it quietly
        if fault == "malformed":
            return web.Response(text=MALFORMED_BODY, content_type="application/json")
        if fault == "bad_schema":
            texts = [BAD_SCHEMA_TEXT] * body.get("n", 1)
            return web.json_response(self._completion(body, texts, key, attempt))
        if fault == "ignore_response_format":  # the responder never sees what was asked for
            plain = {k: v for k, v in body.items() if k != "response_format"}
            return await self._success(plain, key, attempt, count=False)
        texts = await self._texts(body)
        if isinstance(texts, web.Response):
            return texts
        if fault == "length":
            cut = [t[: len(t) // 2] for t in texts]  # half of it, often mid-word or mid-JSON
            completion = self._completion(body, cut, key, attempt, finish_reason="length")
            completion["usage"]["completion_tokens"] = int(body.get("max_tokens") or 0) * len(cut)
            return web.json_response(completion)
        if fault == "cut_json":
            return await self._cut_body(request, self._completion(body, texts, key, attempt))
        raise ValueError(f"unknown fault {fault!r}")

    @staticmethod
    async def _cut_body(request: web.Request, completion: dict[str, Any]) -> web.StreamResponse:
        """Promise the whole body (Content-Length), send half of it, close the connection."""
        raw = json.dumps(completion).encode()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(raw)
        await response.prepare(request)
        await response.write(raw[: len(raw) // 2])
        if request.transport is not None:
            request.transport.close()  # a clean FIN: the client sees a short body, not a reset
        raise asyncio.CancelledError  # nothing left to write to; aiohttp drops it quietly

    async def _success(self, body: dict[str, Any], key: str, attempt: int, *, count: bool = True) -> web.Response:
        texts = await self._texts(body)
        if isinstance(texts, web.Response):
            return texts
        if count:
            with self._lock:
                self.successes_by_key[key] += 1
        return web.json_response(self._completion(body, texts, key, attempt))

    async def _texts(self, body: dict[str, Any]) -> list[str] | web.Response:
        """The responder's n texts, or the 500 a broken responder earns (a test bug: loud)."""
        n = body.get("n", 1)
        try:
            result = self.responder(body)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            return _error(500, f"responder raised {type(exc).__name__}: {exc}")
        texts = [result] * n if isinstance(result, str | dict) else list(result)
        if len(texts) != n:
            return _error(500, f"responder returned {len(texts)} texts for n={n}")
        return texts

    def _completion(
        self, body: dict[str, Any], texts: list[str], key: str, attempt: int, finish_reason: str = "stop"
    ) -> dict[str, Any]:
        prompt_tokens = sum(_words(m["content"] or "") for m in body["messages"])
        completion_tokens = sum(_words(t if isinstance(t, str) else json.dumps(t)) for t in texts)
        choices = [_choice(i, t, finish_reason) for i, t in enumerate(texts)]
        return {
            "id": f"chatcmpl-{key}-{attempt}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Scripted OpenAI-compatible server (echo responder)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = let the OS choose")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--model", default="test-model")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--no-response-format", action="store_true", help="reject response_format")
    for f in fields(FaultPlan):
        if f.name in FAULT_KINDS:
            parser.add_argument(f"--{f.name.replace('_', '-')}", type=float, default=0.0, metavar="P")
    parser.add_argument("--fault-seed", type=int, default=0)
    parser.add_argument("--max-failures-per-key", type=int, default=None)
    args = parser.parse_args(argv)

    probabilities = {kind: getattr(args, kind) for kind in FAULT_KINDS}
    plan = FaultPlan(**probabilities, seed=args.fault_seed, max_failures_per_key=args.max_failures_per_key)
    server = ScriptedOpenAIServer(
        latency_s=args.latency,
        faults=plan if plan.total > 0 else None,
        api_key=args.api_key,
        supports_response_format=not args.no_response_format,
        model=args.model,
        host=args.host,
        port=args.port,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # run stop() on `kill`, too
    server.start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()


def run_once(backend: Any, request: Any) -> Any:
    """One backend attempt in a fresh event loop: the response, or the LLMError it raised."""
    from synthpipe.llm.types import LLMError

    async def go() -> Any:
        try:
            return await backend.chat(request)
        except LLMError as exc:
            return exc
        finally:
            await backend.aclose()

    return asyncio.run(go())


if __name__ == "__main__":
    main()

