"""The review app behind ``synthpipe review RUN_DIR``: a local aiohttp server and one page to
label a run's kept and dropped records (accept, reject, edit a field, note).

Bound to 127.0.0.1 unless told otherwise. Every request must carry the random token the
server prints in its URL: as ``?token=`` (the first page load, which also sets a cookie), the
cookie, or the ``X-Review-Token`` header; anything else gets 403. Labels go to
``RUN_DIR/reviews.jsonl`` through `synthpipe.run.reviews.append_review` (one fsync'd line per
label), so every browser sees every reviewer's labels on its next load.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from synthpipe.errors import DataError, UsageError
from synthpipe.run.review_queues import QUEUES, build_queue
from synthpipe.run.reviews import append_review, labels_by_record, make_review, read_reviews

COOKIE = "synthpipe_review"
HEADER = "X-Review-Token"
MAX_ITEMS = 5000  # records a queue sends to the page


@dataclass
class ReviewSettings:
    run_dir: Path
    reviewer: str = "reviewer"
    queue: str = "random"
    seed: int = 0
    threshold: float | None = None
    margin: float = 0.1
    label_field: str = "label"
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))


def run_records(run_dir: Path) -> list[tuple[str, dict]]:
    """(status, record) for every kept, then every dropped record of a finished run."""
    from synthpipe.data.readers import read_all

    metrics_path = run_dir / "metrics.json"
    if not metrics_path.exists():
        raise UsageError(f"{run_dir} has no metrics.json: review a finished run")
    output = json.loads(metrics_path.read_text(encoding="utf-8"))["output"]
    out = []
    for status in ("kept", "dropped"):
        path = run_dir / output[status]
        if path.exists():
            out += [(status, r) for r in read_all(path, format=output.get("format"), id_field="id")]
    return out


def make_app(settings: ReviewSettings) -> Any:
    """The aiohttp application (routes: ``/`` the page, ``/api/queue``, ``/api/label``)."""
    from aiohttp import web

    if settings.queue not in QUEUES:
        raise UsageError(f"unknown queue {settings.queue!r}: one of {', '.join(QUEUES)}")
    items = build_queue(run_records(settings.run_dir), settings.queue, seed=settings.seed,
                        threshold=settings.threshold, margin=settings.margin,
                        label_field=settings.label_field)[:MAX_ITEMS]  # fmt: skip
    payload = [{"id": str(r.get("id")), "status": status, "record": r} for status, r in items]
    statuses = {p["id"]: p["status"] for p in payload}

    @web.middleware
    async def require_token(request, handler):
        given = request.query.get("token") or request.headers.get(HEADER) or request.cookies.get(COOKIE) or ""
        if not secrets.compare_digest(given.encode(), settings.token.encode()):
            return web.Response(status=403, text="forbidden: open the URL with its token\n")
        response = await handler(request)
        if request.query.get("token"):
            response.set_cookie(COOKIE, settings.token, httponly=True, samesite="Strict")
        return response

    async def page(_request):
        return web.Response(text=page_html(settings), content_type="text/html")

    async def queue(_request):
        labels = labels_by_record(read_reviews(settings.run_dir))
        return web.json_response({"queue": settings.queue, "items": payload,
                                  "labels": {i: labels.get(i, []) for i in statuses}}, dumps=_dumps)  # fmt: skip

    async def label(request):
        body = await request.json()
        record_id = str(body.get("record_id"))
        if record_id not in statuses:
            return web.json_response({"error": f"no record {record_id!r} in this queue"}, status=400)
        try:
            review = make_review(record_id, body.get("verdict"), reviewer=str(body.get("reviewer") or settings.reviewer),
                                 status=statuses[record_id], queue=settings.queue,
                                 edit=body.get("edit"), note=body.get("note"))  # fmt: skip
        except DataError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        await asyncio.to_thread(append_review, settings.run_dir, review)
        labels = labels_by_record(read_reviews(settings.run_dir)).get(record_id, [])
        return web.json_response({"ok": True, "labels": labels}, dumps=_dumps)

    app = web.Application(middlewares=[require_token])
    app.router.add_get("/", page)
    app.router.add_get("/api/queue", queue)
    app.router.add_post("/api/label", label)
    return app


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)


def page_html(settings: ReviewSettings) -> str:
    """The page, self-contained: its CSS and JS inlined from the assets."""
    assets = files("synthpipe.run") / "assets"
    config = json.dumps({"token": settings.token, "reviewer": settings.reviewer, "queue": settings.queue})
    html = (assets / "review.html").read_text(encoding="utf-8")
    return (html.replace("/*CSS*/", (assets / "review.css").read_text(encoding="utf-8"))
            .replace("/*CONFIG*/", config.replace("<", "\\u003c"))
            .replace("/*JS*/", (assets / "review.js").read_text(encoding="utf-8")))  # fmt: skip


class ReviewServer:
    """The app served from a background thread: `url` to open, `close()` to stop."""

    def __init__(self, settings: ReviewSettings, host: str = "127.0.0.1", port: int = 0):
        self.settings, self.host = settings, host
        app = make_app(settings)  # a bad run directory or queue fails here, in the caller
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, args=(app, port), daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise UsageError(f"cannot serve on {host}:{port}: {self._error}")

    def _serve(self, app: Any, port: int) -> None:
        from aiohttp import web

        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(app, access_log=None)
        try:
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, port)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # the port picked for port 0
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?token={self.settings.token}"

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
