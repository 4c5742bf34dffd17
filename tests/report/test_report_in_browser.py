"""The run report in a real headless Chromium: renders, charts drawn, no console errors, screenshot.

Needs Debian's chromium (`.ci/run` installs it when apt is available); skipped without it.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from synthpipe.audit.step import Audit
from synthpipe.curate.exact_dedup import ExactDedup
from synthpipe.pipeline.sources import FromRecords
from synthpipe.report.browser import check_report, find_chromium
from synthpipe.run.api import Pipeline

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="chromium not installed (apt-get install chromium)")


def _audited_run(tmp_path: Path) -> Path:
    texts = [f"How many {w} live in the city of {c} ?" for w in ("cats", "dogs", "birds", "people")
             for c in ("Paris", "Lima", "Oslo", "Cairo", "Perth")] * 2  # fmt: skip
    records = [{"id": str(i), "text": t, "label": "NUM" if i % 2 else "LOC"} for i, t in enumerate(texts)]
    ref = tmp_path / "ref.jsonl"
    ref.write_text("".join(f'{{"text": "Who is the mayor of town {i} and her son ?"}}\n' for i in range(30)))
    steps = {"src": FromRecords(records=records), "dedup": ExactDedup(),
             "audit": Audit(embed=False, reference=str(ref))}  # fmt: skip
    Pipeline("browser", steps).run(tmp_path / "run")
    return tmp_path / "run" / "report.html"


def test_report_renders_in_chromium_with_charts_and_no_console_errors(tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    result = check_report(_audited_run(tmp_path), screenshot=shot)
    assert result.console_errors == []
    assert result.charts >= 5 and result.empty_charts == []
    assert result.sections >= 8  # audit summary, funnel, drops, labels, lengths, diversity, ..., samples
    assert result.title.startswith("browser")
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width == 1200 and height == result.height_px > 2000  # the whole page, not one screen


def test_a_script_error_is_reported(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<html><body><main><section><svg width='10' height='10'></svg></section>"
                    "<script>undefinedFunction()</script></main></body></html>")  # fmt: skip
    result = check_report(page)
    assert not result.ok and any("undefinedFunction" in e or "Uncaught" in e for e in result.console_errors)
