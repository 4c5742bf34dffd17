"""Screenshots of run reports for docs/screenshots/ (dev-time only), with size and load time.

For each ``NAME=RUN_DIR`` given, copies the finished run directory aside, renders its report
again with the current code (``synthpipe report``), opens it in headless Chromium and writes

- ``docs/screenshots/NAME-first-screen.png``: the first screen, 1200 x 900;
- ``docs/screenshots/NAME-full.png``: the whole page, scaled to 600 px wide and quantised to
  a 64-colour palette so the file stays under 600 KB;

then prints the report's size, its render time (best of 5) and its load time in the browser
(median of 5 loads: ``loadEventEnd`` of the navigation).

Usage::

    .venv/bin/synthpipe run quickstart --out runs/quickstart
    .venv/bin/python scripts/report_screenshots.py quickstart=runs/quickstart math=runs/math
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from synthpipe.report.browser import check_report
from synthpipe.run.report_again import report_again

OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
LOAD = {"load_ms": "performance.getEntriesByType('navigation')[0].loadEventEnd"}
MAX_BYTES = 600_000


def shoot(name: str, run_dir: Path, out: Path = OUT) -> dict:
    """Render ``run_dir``'s report again (in a copy) and write its two screenshots."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / run_dir.name
        shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("steps", ".lock"))
        times = []
        for _ in range(5):
            start = time.perf_counter()
            page = report_again(copy)
            times.append(time.perf_counter() - start)
        full = Path(tmp) / "full.png"
        check = check_report(page, screenshot=full)
        loads = [check_report(page, probes=LOAD).details["load_ms"] for _ in range(5)]
        size_kb = page.stat().st_size / 1024
        image = Image.open(full).convert("RGB")
        image.crop((0, 0, 1200, 900)).save(out / f"{name}-first-screen.png", optimize=True)
        _save_small(image, out / f"{name}-full.png")
    return {"name": name, "report_kb": round(size_kb), "rerender_ms": round(1000 * min(times)),
            "load_ms_median": round(statistics.median(loads)), "page_px": check.height_px,
            "console_errors": check.console_errors}  # fmt: skip


def _save_small(image: Image.Image, path: Path) -> None:
    """Half width, 64 colours; narrower again until the file is under MAX_BYTES."""
    width = 600
    while True:
        small = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
        small.quantize(colors=64).save(path, optimize=True)
        if path.stat().st_size < MAX_BYTES or width <= 300:
            return
        width -= 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR, e.g. quickstart=runs/quickstart")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    for item in args.runs:
        name, _, run_dir = item.partition("=")
        print(shoot(name, Path(run_dir), args.out))


if __name__ == "__main__":
    main()
