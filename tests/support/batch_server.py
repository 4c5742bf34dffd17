"""A local server for both providers' batch APIs (and their online endpoints), with scripted
answers and fault injection, for tests and benchmarks.

OpenAI: `POST /v1/files` (multipart, purpose=batch), `GET /v1/files/{id}/content`,
`POST /v1/batches`, `GET /v1/batches` (list), `GET /v1/batches/{id}`,
`POST /v1/batches/{id}/cancel`, plus `POST /v1/chat/completions` (ScriptedOpenAIServer).
Anthropic: `POST /v1/messages`, `POST /v1/messages/batches`, `GET /v1/messages/batches/{id}`,
`GET /v1/messages/batches/{id}/results`, `POST /v1/messages/batches/{id}/cancel`.

A batch is in progress for `delay_s` after it is created, then ends: each line is answered by
the responder (the same responder functions as llm_server.py), except lines drawn to fail
(`line_errors`: a fraction, decided by hashing the custom_id and its submission number, so a
resubmission can succeed; `line_error_submissions` caps how many submissions of one custom_id
fail, None = all) or to expire (`expire`: a fraction of lines, first submission only; the
batch then ends `expired`). `upload_failures`: that many first uploads answer 500.

Counters: `submitted` (custom_id -> how many created batches held it: a paid line is never
sent twice if every value is 1), `creates` (batch id -> its custom_ids), `uploads`, `polls`.

    with BatchServer(delay_s=0.2, line_errors=0.1) as server:
        LLMConfig(model="test-model", base_url=server.base_url, mode="batch")
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from llm_server import Responder, ScriptedOpenAIServer, _error, _words, echo_responder


@dataclass
class _Batch:
    id: str
    provider: str  # openai | anthropic
    lines: list[dict[str, Any]]
    created: float
    input_file_id: str | None = None
    cancelled: bool = False
    results: dict[str, Any] | None = None  # custom_id -> outcome, once ended
    output_file_id: str | None = None
    error_file_id: str | None = None
    status: str = "in_progress"
    numbers: dict[str, int] = field(default_factory=dict)  # custom_id -> its submission number
    counts: dict[str, int] = field(default_factory=dict)


class BatchServer(ScriptedOpenAIServer):
    def __init__(
        self,
        *,
        responder: Responder | None = None,
        delay_s: float = 0.0,
        line_errors: float = 0.0,
        line_error_submissions: int | None = 1,
        expire: float = 0.0,
        upload_failures: int = 0,
        seed: int = 0,
        api_key: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(responder=responder or echo_responder, api_key=api_key, **kwargs)
        self.delay_s = delay_s
        self.line_errors = line_errors
        self.line_error_submissions = line_error_submissions
        self.expire = expire
        self.upload_failures = upload_failures
        self.seed = seed
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, _Batch] = {}
        self.submitted: Counter[str] = Counter()
        self.creates: dict[str, list[str]] = {}
        self.uploads = 0
        self.polls = 0
        self.online_messages = 0
        self._ids = 0
        self._batch_lock = threading.Lock()

    async def _serve(self) -> None:
        app = web.Application(client_max_size=512 * 2**20)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{id}/content", self._content)
        app.router.add_post("/v1/batches", self._openai_create)
        app.router.add_get("/v1/batches", self._openai_list)
        app.router.add_get("/v1/batches/{id}", self._openai_get)
        app.router.add_post("/v1/batches/{id}/cancel", self._cancel)
        app.router.add_post("/v1/messages", self._message)
        app.router.add_post("/v1/messages/batches", self._anthropic_create)
        app.router.add_get("/v1/messages/batches/{id}", self._anthropic_get)
        app.router.add_get("/v1/messages/batches/{id}/results", self._anthropic_results)
        app.router.add_post("/v1/messages/batches/{id}/cancel", self._cancel)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=4096)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _new_id(self, prefix: str) -> str:
        with self._batch_lock:
            self._ids += 1
            return f"{prefix}{self._ids:06d}"

    def _anthropic_ok(self, request: web.Request) -> bool:
        return self.api_key is None or request.headers.get("x-api-key") == self.api_key

    # -- OpenAI ------------------------------------------------------------------------------
    async def _upload(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid or missing API key")
        with self._batch_lock:
            self.uploads += 1
            fail = self.upload_failures > 0
            self.upload_failures -= fail
        if fail:
            return _error(500, "upload failed (injected)")
        form = await request.post()
        if form.get("purpose") != "batch":
            return _error(400, "purpose must be 'batch'")
        upload = form.get("file")
        if upload is None or not hasattr(upload, "file"):
            return _error(400, "'file' is required")
        content = upload.file.read()
        file_id = self._new_id("file-")
        self.files[file_id] = content
        return web.json_response({"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                                  "filename": upload.filename, "purpose": "batch"})  # fmt: skip

    async def _content(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid or missing API key")
        content = self.files.get(request.match_info["id"])
        if content is None:
            return _error(404, "no such file")
        return web.Response(body=content, content_type="application/octet-stream")

    async def _openai_create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid or missing API key")
        body = await request.json()
        if body.get("endpoint") != "/v1/chat/completions" or body.get("completion_window") != "24h":
            return _error(400, "endpoint must be /v1/chat/completions and completion_window 24h")
        content = self.files.get(body.get("input_file_id"))
        if content is None:
            return _error(400, f"input file {body.get('input_file_id')!r} not found")
        lines = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
        if len({line["custom_id"] for line in lines}) != len(lines):
            return _error(400, "custom_id values must be unique within a batch")
        batch = self._register(lines, "openai", body["input_file_id"])
        return web.json_response(self._openai_view(batch))

    async def _openai_list(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid or missing API key")
        batches = sorted(self.batches.values(), key=lambda b: b.created, reverse=True)
        return web.json_response({"object": "list", "data": [self._openai_view(b) for b in batches if b.provider == "openai"]})

    async def _openai_get(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid or missing API key")
        batch = self.batches.get(request.match_info["id"])
        if batch is None:
            return _error(404, "no such batch")
        with self._batch_lock:
            self.polls += 1
        await self._advance(batch)
        return web.json_response(self._openai_view(batch))

    def _openai_view(self, batch: _Batch) -> dict[str, Any]:
        done = sum(1 for r in (batch.results or {}).values() if r["ok"])
        return {
            "id": batch.id, "object": "batch", "endpoint": "/v1/chat/completions", "errors": None,
            "input_file_id": batch.input_file_id, "completion_window": "24h", "status": batch.status,
            "output_file_id": batch.output_file_id, "error_file_id": batch.error_file_id,
            "created_at": int(batch.created),
            "request_counts": {"total": len(batch.lines), "completed": done,
                               "failed": len(batch.results or {}) - done},
        }  # fmt: skip

    # -- Anthropic ---------------------------------------------------------------------------
    async def _message(self, request: web.Request) -> web.Response:
        if not self._anthropic_ok(request):
            return _error(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return _error(400, "anthropic-version header is required")
        params = await request.json()
        if "max_tokens" not in params:
            return _error(400, "max_tokens: field required")
        with self._batch_lock:
            self.online_messages += 1
        text = await self._answer_text(_as_chat(params))
        return web.json_response(_message_body(params, text))

    async def _anthropic_create(self, request: web.Request) -> web.Response:
        if not self._anthropic_ok(request):
            return _error(401, "invalid x-api-key")
        body = await request.json()
        lines = body.get("requests") or []
        for line in lines:
            cid = line.get("custom_id") or ""
            if not (1 <= len(cid) <= 64 and all(c.isalnum() or c in "_-" for c in cid)) or "max_tokens" not in line.get("params", {}):
                return _error(400, f"invalid request {cid!r}: custom_id must match ^[a-zA-Z0-9_-]{{1,64}}$, max_tokens required")
        batch = self._register(lines, "anthropic", None)
        return web.json_response(self._anthropic_view(batch))

    async def _anthropic_get(self, request: web.Request) -> web.Response:
        if not self._anthropic_ok(request):
            return _error(401, "invalid x-api-key")
        batch = self.batches.get(request.match_info["id"])
        if batch is None:
            return _error(404, "no such batch")
        with self._batch_lock:
            self.polls += 1
        await self._advance(batch)
        return web.json_response(self._anthropic_view(batch))

    def _anthropic_view(self, batch: _Batch) -> dict[str, Any]:
        ended = batch.results is not None
        kinds = Counter(r["kind"] for r in (batch.results or {}).values())
        return {
            "id": batch.id, "type": "message_batch",
            "processing_status": "ended" if ended else ("canceling" if batch.cancelled else "in_progress"),
            "request_counts": {"processing": 0 if ended else len(batch.lines), "succeeded": kinds["succeeded"],
                               "errored": kinds["errored"], "canceled": kinds["canceled"], "expired": kinds["expired"]},
            "results_url": f"{self.root_url}/v1/messages/batches/{batch.id}/results" if ended else None,
            "created_at": batch.created,
        }  # fmt: skip

    async def _anthropic_results(self, request: web.Request) -> web.Response:
        if not self._anthropic_ok(request):
            return _error(401, "invalid x-api-key")
        batch = self.batches.get(request.match_info["id"])
        if batch is None or batch.results is None:
            return _error(404, "no results for this batch (yet)")
        out = []
        for cid, r in batch.results.items():
            if r["ok"]:
                result = {"type": "succeeded", "message": _message_body(r["params"], r["text"])}
            elif r["kind"] == "errored":
                result = {"type": "errored", "error": {"type": "error", "error": {"type": "api_error", "message": r["message"]}}}
            else:
                result = {"type": r["kind"]}
            out.append(json.dumps({"custom_id": cid, "result": result}))
        return web.Response(text="\n".join(out) + "\n", content_type="application/binary")

    # -- both --------------------------------------------------------------------------------
    async def _cancel(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None:
            return _error(404, "no such batch")
        batch.cancelled = True
        if batch.provider == "openai":
            batch.status = "cancelling"
        await self._advance(batch)
        view = self._openai_view if batch.provider == "openai" else self._anthropic_view
        return web.json_response(view(batch))

    def _register(self, lines: list[dict[str, Any]], provider: str, file_id: str | None) -> _Batch:
        prefix = "batch_" if provider == "openai" else "msgbatch_"
        batch = _Batch(self._new_id(prefix), provider, lines, time.monotonic(), file_id)
        if provider == "openai":
            batch.status = "validating"
        with self._batch_lock:
            ids = [line["custom_id"] for line in lines]
            self.creates[batch.id] = ids
            self.submitted.update(ids)
            batch.numbers = {cid: self.submitted[cid] for cid in ids}
            self.batches[batch.id] = batch
        return batch

    async def _advance(self, batch: _Batch) -> None:
        """End the batch once its delay passed (or it was cancelled): answer every line."""
        if batch.results is not None:
            return
        age = time.monotonic() - batch.created
        if not batch.cancelled and age < self.delay_s:
            if batch.provider == "openai":
                batch.status = "in_progress"
            return
        results: dict[str, Any] = {}
        for line in batch.lines:
            results[line["custom_id"]] = await self._outcome(batch, line)
        batch.results = results
        if batch.provider == "openai":
            self._openai_files(batch)

    async def _outcome(self, batch: _Batch, line: dict[str, Any]) -> dict[str, Any]:
        cid = line["custom_id"]
        submission = batch.numbers[cid]
        body = line["body"] if batch.provider == "openai" else _as_chat(line["params"])
        params = line.get("params") or {}
        if batch.cancelled:
            return {"ok": False, "kind": "canceled", "message": "batch cancelled", "code": "batch_cancelled"}
        if "response_format" in body and not self.supports_response_format:
            return {"ok": False, "kind": "errored", "status": 400, "code": "invalid_request_error",
                    "message": "response_format is not supported by this model"}  # fmt: skip
        if submission == 1 and _draw(self.seed, "expire", cid, 0) < self.expire:
            return {"ok": False, "kind": "expired", "message": "batch expired before this request ran", "code": "batch_expired"}
        errs = self.line_error_submissions
        if _draw(self.seed, "error", cid, 0) < self.line_errors and (errs is None or submission <= errs):
            return {"ok": False, "kind": "errored", "message": "The server had an error processing your request (injected)",
                    "code": "server_error"}  # fmt: skip
        text = await self._answer_text(body)
        return {"ok": True, "kind": "succeeded", "text": text, "body": body, "params": params}

    def _openai_files(self, batch: _Batch) -> None:
        assert batch.results is not None
        out, errors = [], []
        for cid, r in batch.results.items():
            if r["ok"]:
                completion = self._completion(r["body"], [r["text"]], cid[:16], batch.numbers[cid])
                out.append({"id": f"batch_req_{cid[:8]}", "custom_id": cid,
                            "response": {"status_code": 200, "request_id": cid[:12], "body": completion}, "error": None})  # fmt: skip
            elif r["kind"] == "errored":
                body = {"error": {"message": r["message"], "type": "server_error", "code": r["code"]}}
                status = r.get("status", 500)
                errors.append({"id": f"batch_req_{cid[:8]}", "custom_id": cid,
                               "response": {"status_code": status, "request_id": cid[:12], "body": body}, "error": None})  # fmt: skip
            else:
                errors.append({"id": f"batch_req_{cid[:8]}", "custom_id": cid, "response": None,
                               "error": {"code": r["code"], "message": r["message"]}})  # fmt: skip
        if out:
            batch.output_file_id = self._new_id("file-")
            self.files[batch.output_file_id] = _jsonl(out)
        if errors:
            batch.error_file_id = self._new_id("file-")
            self.files[batch.error_file_id] = _jsonl(errors)
        kinds = {r["kind"] for r in batch.results.values()}
        batch.status = "cancelled" if batch.cancelled else ("expired" if "expired" in kinds else "completed")

    async def _answer_text(self, body: dict[str, Any]) -> str:
        result = self.responder(body)
        if inspect.isawaitable(result):
            result = await result
        return result if isinstance(result, str) else list(result)[0]


def _as_chat(params: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages body as the chat body the responders read."""
    system = params.get("system")
    messages = ([{"role": "system", "content": system}] if system else []) + list(params.get("messages") or [])
    return {"model": params.get("model"), "messages": messages, "max_tokens": params.get("max_tokens"), "n": 1}


def _message_body(params: dict[str, Any], text: str) -> dict[str, Any]:
    chat = _as_chat(params)
    return {
        "id": f"msg_{hashlib.sha256(text.encode()).hexdigest()[:12]}", "type": "message", "role": "assistant",
        "model": params.get("model"), "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": sum(_words(m["content"]) for m in chat["messages"]), "output_tokens": _words(text)},
    }  # fmt: skip


def _draw(seed: int, what: str, cid: str, n: int) -> float:
    digest = hashlib.sha256(f"{seed}:{what}:{cid}:{n}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


if __name__ == "__main__":  # serve until killed, printing the base URL (for benchmarks)
    import sys

    server = BatchServer(delay_s=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0).start()
    print(server.base_url, flush=True)
    try:
        asyncio.run(asyncio.Event().wait())
    except KeyboardInterrupt:
        server.stop()
