"""The two batch APIs behind one interface: build lines, upload, create, find, poll, read
results, cancel. HTTP goes through the endpoint's backend (its sessions, proxies and key).

OpenAI Batch API (https://platform.openai.com/docs/guides/batch,
https://platform.openai.com/docs/api-reference/batch): a JSONL file of
`{custom_id, method: "POST", url: "/v1/chat/completions", body}` lines is uploaded with
`POST /v1/files` (multipart, purpose=batch); `POST /v1/batches` {input_file_id, endpoint,
completion_window: "24h"} creates the batch; `GET /v1/batches/{id}` reports its status
(validating, in_progress, finalizing, completed, failed, expired, cancelling, cancelled),
request_counts, output_file_id and error_file_id; `GET /v1/files/{id}/content` gives lines
`{id, custom_id, response: {status_code, body}, error}`; `POST /v1/batches/{id}/cancel`.
Lines not done when a batch expires come back in the error file (code batch_expired).

Anthropic Message Batches API (https://docs.anthropic.com/en/docs/build-with-claude/batch-processing,
https://docs.anthropic.com/en/api/creating-message-batches,
https://docs.anthropic.com/en/api/retrieving-message-batch-results): `POST /v1/messages/batches`
{requests: [{custom_id, params}]} (custom_id matches `^[a-zA-Z0-9_-]{1,64}$`);
`GET /v1/messages/batches/{id}` (processing_status in_progress, canceling, ended;
request_counts; results_url); the results JSONL has lines `{custom_id, result: {type:
succeeded | errored | canceled | expired, message | error}}`; `POST .../{id}/cancel`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from synthpipe.llm.anthropic_backend import AnthropicBackend, message_params, parse_message
from synthpipe.llm.openai_backend import (
    _RESPONSE_FORMAT_WORDS,
    OpenAIBackend,
    _error_message,
    _parse_completion,
    parse_retry_after,
)
from synthpipe.llm.types import ChatRequest, ChatResponse, FatalError, LLMError, RetryableError

#: HTTP statuses of a batch line that no retry can fix (the request itself is wrong)
_FATAL_LINE_STATUS = {400, 401, 403, 404, 422}


@dataclass
class LineError:
    """Why one batch line has no reply; `retryable`: a new submission may get one."""

    message: str
    retryable: bool = True
    bad_format: bool = False  # the provider rejected response_format: the client prompts the schema instead


@dataclass
class BatchState:
    """A batch as last polled."""

    batch_id: str
    status: str  # the provider's word
    ended: bool
    counts: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


Results = dict[str, "ChatResponse | LineError"]


class _Http:
    """JSON / bytes calls through a backend's session, errors mapped like chat calls."""

    def __init__(self, backend: OpenAIBackend, headers: dict[str, str]):
        self.backend = backend
        self.headers = headers

    async def call(self, method: str, url: str, *, json_body: Any = None, data: Any = None) -> bytes:
        session = await self.backend._session()
        error: Exception | None = None
        try:
            async with session.request(
                method, url, json=json_body, data=data, headers=self.headers, allow_redirects=False, **self.backend._proxy
            ) as response:
                body = await response.read()
        except (aiohttp.ClientError, OSError) as exc:
            error = self.backend._request_error(exc)
        if error is not None:  # outside the except block: aiohttp errors can carry the headers
            raise error
        if not 200 <= response.status < 300:
            message = f"HTTP {response.status} from {method} {url}: {_error_message(body, response.reason)}"
            for secret in self.headers.values():
                if len(secret) > 12:  # keys, not version strings
                    message = message.replace(secret, "***")
            if response.status in (408, 409, 429) or response.status >= 500:
                raise RetryableError(message, status=response.status, retry_after=parse_retry_after(response.headers))
            raise FatalError(message, status=response.status)
        return body

    async def json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        body = await self.call(method, url, **kwargs)
        try:
            out = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RetryableError(f"malformed response from {method} {url}: not JSON ({exc})") from None
        if not isinstance(out, dict):
            raise RetryableError(f"malformed response from {method} {url}: not a JSON object")
        return out


class OpenAIBatches:
    name = "openai"
    statuses_ended = ("completed", "failed", "expired", "cancelled")

    def __init__(self, backend: OpenAIBackend):
        self.base = backend.base_url
        self.model = backend.config.model
        self.backend = backend
        key = backend._api_key()
        self.http = _Http(backend, {"Authorization": f"Bearer {key}"} if key else {})

    def line(self, custom_id: str, request: ChatRequest) -> dict[str, Any]:
        body = self.backend._payload(request)
        return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}

    async def upload(self, lines: list[dict[str, Any]]) -> str | None:
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        content = "".join(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines)
        name = f"synthpipe-{uuid.uuid4().hex[:12]}.jsonl"
        form.add_field("file", content.encode(), filename=name, content_type="application/jsonl")
        out = await self.http.json("POST", f"{self.base}/files", data=form)
        return _need(out, "id", "POST /files")

    async def create(self, lines: list[dict[str, Any]], file_id: str | None) -> BatchState:
        body = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        return self._state(await self.http.json("POST", f"{self.base}/batches", json_body=body))

    async def find(self, file_id: str) -> str | None:
        """The batch made from input file `file_id`, if the provider has one (a create whose
        answer was lost). Looks at the latest 100 batches."""
        out = await self.http.json("GET", f"{self.base}/batches?limit=100")
        for batch in out.get("data") or []:
            if isinstance(batch, dict) and batch.get("input_file_id") == file_id:
                return batch.get("id")
        return None

    async def poll(self, batch_id: str) -> BatchState:
        return self._state(await self.http.json("GET", f"{self.base}/batches/{batch_id}"))

    async def cancel(self, batch_id: str) -> BatchState:
        return self._state(await self.http.json("POST", f"{self.base}/batches/{batch_id}/cancel"))

    def _state(self, raw: dict[str, Any]) -> BatchState:
        status = str(raw.get("status"))
        return BatchState(_need(raw, "id", "batch"), status, status in self.statuses_ended,
                          raw.get("request_counts") or {}, raw)  # fmt: skip

    async def results(self, state: BatchState) -> Results:
        out: Results = {}
        for key in ("error_file_id", "output_file_id"):  # output last: a reply wins over an error
            if file_id := state.raw.get(key):
                raw = await self.http.call("GET", f"{self.base}/files/{file_id}/content")
                for line in _jsonl(raw):
                    if isinstance(cid := line.get("custom_id"), str):
                        out[cid] = _openai_line(line)
        return out


class AnthropicBatches:
    name = "anthropic"

    def __init__(self, backend: AnthropicBackend):
        self.base = backend.base_url
        self.config = backend.config
        self.http = _Http(backend, backend.headers())

    def line(self, custom_id: str, request: ChatRequest) -> dict[str, Any]:
        return {"custom_id": custom_id, "params": message_params(self.config, request)}

    async def upload(self, lines: list[dict[str, Any]]) -> str | None:
        return None  # the requests go in the create call

    async def create(self, lines: list[dict[str, Any]], file_id: str | None) -> BatchState:
        out = await self.http.json("POST", f"{self.base}/messages/batches", json_body={"requests": lines})
        return self._state(out)

    async def find(self, file_id: str) -> str | None:
        return None

    async def poll(self, batch_id: str) -> BatchState:
        return self._state(await self.http.json("GET", f"{self.base}/messages/batches/{batch_id}"))

    async def cancel(self, batch_id: str) -> BatchState:
        return self._state(await self.http.json("POST", f"{self.base}/messages/batches/{batch_id}/cancel"))

    def _state(self, raw: dict[str, Any]) -> BatchState:
        status = str(raw.get("processing_status"))
        return BatchState(_need(raw, "id", "message batch"), status, status == "ended", raw.get("request_counts") or {}, raw)

    async def results(self, state: BatchState) -> Results:
        url = state.raw.get("results_url") or f"{self.base}/messages/batches/{state.batch_id}/results"
        out: Results = {}
        for line in _jsonl(await self.http.call("GET", url)):
            if isinstance(cid := line.get("custom_id"), str):
                out[cid] = _anthropic_line(line.get("result") or {})
        return out


def missing_line(state: BatchState) -> LineError:
    """The error of a line a finished batch gave no result for (a batch that failed as a
    whole, or was cancelled or expired before the line ran)."""
    errors = (state.raw.get("errors") or {}).get("data") or []
    why = f": {errors[0].get('message')}" if errors and isinstance(errors[0], dict) else ""
    return LineError(f"batch {state.batch_id} ended {state.status} with no result for this line{why}")


def make_provider(backend: Any) -> OpenAIBatches | AnthropicBatches:
    if isinstance(backend, AnthropicBackend):
        return AnthropicBatches(backend)
    if isinstance(backend, OpenAIBackend):
        return OpenAIBatches(backend)
    raise FatalError(f"mode 'batch' needs an HTTP backend (openai or anthropic), not {type(backend).__name__}")


def _openai_line(line: dict[str, Any]) -> ChatResponse | LineError:
    response = line.get("response") or {}
    status = response.get("status_code")
    if status == 200 and not line.get("error"):
        try:
            return _parse_completion(json.dumps(response.get("body")).encode())
        except LLMError as exc:
            return LineError(str(exc))
    error = line.get("error") or {}
    body_error = ((response.get("body") or {}).get("error") or {}) if isinstance(response.get("body"), dict) else {}
    message = error.get("message") or body_error.get("message") or f"HTTP {status}"
    code = error.get("code") or body_error.get("code")
    text = f"{code}: {message}" if code else message
    bad_format = status in (400, 422) and any(word in text.lower() for word in _RESPONSE_FORMAT_WORDS)
    return LineError(f"HTTP {status}: {text}" if status else text, status not in _FATAL_LINE_STATUS, bad_format)


def _anthropic_line(result: dict[str, Any]) -> ChatResponse | LineError:
    kind = result.get("type")
    if kind == "succeeded":
        try:
            return parse_message(result.get("message"))
        except LLMError as exc:
            return LineError(str(exc))
    if kind == "errored":
        error = result.get("error") or {}
        inner = error.get("error") if isinstance(error.get("error"), dict) else error  # {type: error, error: {...}}
        etype = inner.get("type") or "error"
        return LineError(f"{etype}: {inner.get('message') or 'no message'}", retryable=etype != "invalid_request_error")
    return LineError(f"the request was {kind or 'not processed'} before it ran")


def _jsonl(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for text in raw.decode("utf-8", errors="replace").splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict):
            out.append(line)
    return out


def _need(body: dict[str, Any], key: str, what: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise RetryableError(f"malformed {what} response: no {key!r} in {json.dumps(body, default=str)[:200]}")
    return value
