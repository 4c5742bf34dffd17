"""Check a report in a real headless browser: it renders, its charts have a size, the page
logs no console errors, and a full-page screenshot is written.

Drives Debian's ``chromium`` over the DevTools protocol (a websocket, via aiohttp, which
synthpipe already depends on), so no Selenium/Playwright download is needed. Chromium is
started with the flags that keep it off the network (no background networking, updates
or sync) and a throwaway profile.

    python -m synthpipe.report.browser runs/quickstart/report.html --screenshot shot.png
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthpipe.errors import UsageError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--remote-debugging-port=0",
)  # fmt: skip
WIDTH = 1200

# What the page reports about itself once loaded: every chart must have a drawn size.
PROBE = """JSON.stringify({
  title: document.title,
  sections: document.querySelectorAll('main section').length,
  svgs: Array.from(document.querySelectorAll('svg')).map(s => {
    const r = s.getBoundingClientRect(); return [r.width, r.height, s.getAttribute('aria-label')];
  }),
  height: document.documentElement.scrollHeight,
})"""


@dataclass
class BrowserCheck:
    """What the browser saw. ``ok`` means no console errors and every chart drawn."""

    title: str
    sections: int
    charts: int
    empty_charts: list[str]
    console_errors: list[str]
    screenshot: Path | None
    height_px: int
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.console_errors and not self.empty_charts and self.charts > 0


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def check_report(
    html: str | Path,
    screenshot: str | Path | None = None,
    timeout_s: float = 60,
    probes: dict[str, str] | None = None,
) -> BrowserCheck:
    """Open ``html`` in headless Chromium and report what rendered (see :class:`BrowserCheck`).

    ``probes`` are JavaScript expressions run in order after load (a promise is awaited; the
    value must be JSON-serialisable), e.g. clicks followed by a read-out of the page; their
    values land in ``BrowserCheck.details`` under their names, and errors they raise or log
    land in ``console_errors``. The screenshot (of the whole page) is taken after the probes.
    """
    path = Path(html).resolve()
    if not path.is_file():
        raise UsageError(f"no such report: {html}")
    exe = find_chromium()
    if exe is None:
        raise UsageError("no Chromium found; on Debian: apt-get install chromium")
    return asyncio.run(asyncio.wait_for(_check(exe, path.as_uri(), screenshot, probes or {}), timeout_s))


def check_url(url: str, probes: dict[str, str] | None = None, timeout_s: float = 60) -> BrowserCheck:
    """`check_report` for a page served over HTTP (e.g. a local app), in a fresh profile."""
    exe = find_chromium()
    if exe is None:
        raise UsageError("no Chromium found; on Debian: apt-get install chromium")
    return asyncio.run(asyncio.wait_for(_check(exe, url, None, probes or {}), timeout_s))


async def _check(exe: str, url: str, screenshot: str | Path | None, probes: dict[str, str]) -> BrowserCheck:
    # ignore_cleanup_errors: a crash handler may still be writing the profile as it is removed
    with tempfile.TemporaryDirectory(prefix="synthpipe-chromium-", ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            port = await _devtools_port(Path(profile), proc)
            return await _drive(port, url, screenshot, probes)
        finally:
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    """Chromium forks renderer, GPU and crash-handler processes: stop them all, not just the
    parent, so none keeps writing into the profile being deleted."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


async def _devtools_port(profile: Path, proc: subprocess.Popen) -> int:
    """Chromium writes the port it picked (``--remote-debugging-port=0``) to its profile."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with code {proc.returncode} before it was ready")
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().splitlines()[0])
        await asyncio.sleep(0.05)
    raise TimeoutError("chromium did not open its DevTools port within 30 s")


class _Session:
    """One DevTools websocket: numbered commands, events collected as they arrive."""

    def __init__(self, ws):
        self.ws, self.next_id, self.events = ws, 0, []

    async def call(self, method: str, **params: Any) -> dict:
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            msg = json.loads((await self.ws.receive()).data)
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    async def until(self, event: str) -> None:
        while not any(e.get("method") == event for e in self.events):
            self.events.append(json.loads((await self.ws.receive()).data))


async def _drive(port: int, url: str, screenshot: str | Path | None, probes: dict[str, str]) -> BrowserCheck:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
            targets = await resp.json()
        page = next(t for t in targets if t.get("type") == "page")
        async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            s = _Session(ws)
            for domain in ("Page", "Runtime", "Log"):
                await s.call(f"{domain}.enable")
            await s.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=900,
                         deviceScaleFactor=1, mobile=False)  # fmt: skip
            await s.call("Page.navigate", url=url)
            await s.until("Page.loadEventFired")
            probe = json.loads((await s.call("Runtime.evaluate", expression=PROBE))["result"]["value"])
            details = {name: await _evaluate(s, expr) for name, expr in probes.items()}
            shot = None
            if screenshot is not None:
                shot = Path(screenshot)
                await s.call("Emulation.setDeviceMetricsOverride", width=WIDTH,
                             height=min(int(probe["height"]), 16000), deviceScaleFactor=1, mobile=False)  # fmt: skip
                data = (await s.call("Page.captureScreenshot", format="png"))["data"]
                import base64

                shot.parent.mkdir(parents=True, exist_ok=True)
                shot.write_bytes(base64.b64decode(data))
    return BrowserCheck(
        title=probe["title"],
        sections=probe["sections"],
        charts=len(probe["svgs"]),
        empty_charts=[str(label) for w, h, label in probe["svgs"] if not (w > 0 and h > 0)],
        console_errors=_errors(s.events),
        screenshot=shot,
        height_px=int(probe["height"]),
        details=details,
    )


async def _evaluate(s: _Session, expression: str) -> Any:
    """The JSON value of one probe; an exception it throws is kept as a console error."""
    reply = await s.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
    if "exceptionDetails" in reply:
        details = reply["exceptionDetails"]
        text = (details.get("exception") or {}).get("description") or details.get("text", "exception")
        s.events.append({"method": "Runtime.exceptionThrown", "params": {"exceptionDetails": {"text": text}}})
        return None
    return reply.get("result", {}).get("value")


def _errors(events: list[dict]) -> list[str]:
    out = []
    for e in events:
        method, p = e.get("method"), e.get("params") or {}
        if method == "Runtime.exceptionThrown":
            out.append(p.get("exceptionDetails", {}).get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif method == "Log.entryAdded" and (p.get("entry") or {}).get("level") == "error":
            out.append(p["entry"].get("text", "error"))
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="report.html to open")
    parser.add_argument("--screenshot", default=None, help="write a full-page PNG here")
    args = parser.parse_args(argv)
    result = check_report(args.report, args.screenshot)
    print(f"title: {result.title}\nsections: {result.sections}\ncharts: {result.charts} "
          f"({len(result.empty_charts)} empty)\nconsole errors: {len(result.console_errors)}")  # fmt: skip
    for line in result.console_errors + [f"empty chart: {c}" for c in result.empty_charts]:
        print(f"  {line}")
    if result.screenshot:
        print(f"screenshot: {result.screenshot} ({result.height_px} px tall)")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
