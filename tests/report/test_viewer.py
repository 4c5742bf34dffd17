"""The report's record viewer: which records are embedded, how safely, and that the page lets a
reader search, filter, page and expand them in a real browser."""

from __future__ import annotations

import base64
import gzip
import json
import math
import random
import re
from collections import Counter
from html import escape
from pathlib import Path

import numpy as np
import pytest

from synthpipe.report import viewer
from synthpipe.report.browser import check_report, find_chromium
from synthpipe.report.html import CSS
from synthpipe.report.viewer import sample_indexes, viewer_section

HOSTILE = "</script><img src=x onerror=alert(1)>"
DATA = re.compile(r'<script type="application/octet-stream" class="spv-data">([^<]*)</script>')


def _payload(html: str) -> dict:
    (data,) = DATA.findall(html)
    return json.loads(gzip.decompress(base64.b64decode(data)))  # strict JSON: no NaN


def _drop(step: str, reason: str, detail: object = None) -> dict:
    return {"step": step, "reason": reason, "detail": detail}


# --------------------------------------------------------------------------- sample


def test_the_sample_is_bounded_and_shows_every_drop_reason() -> None:
    keys = [("dedup", "duplicate")] * 3000 + [("judge", "low_score")] * 500
    keys += [("decontaminate", "contaminated")] * 2 + [("pii", "pii")]
    random.Random(0).shuffle(keys)
    kept, dropped = sample_indexes(10_000, keys, 500)
    assert len(kept) + len(dropped) == 500
    shown = Counter(keys[i] for i in dropped)
    assert shown[("pii", "pii")] == 1 and shown[("decontaminate", "contaminated")] == 2
    assert shown[("dedup", "duplicate")] > shown[("judge", "low_score")] >= 5
    assert len(dropped) >= 100 and len(kept) >= 100  # both sides at least a fifth
    assert len(set(kept)) == len(kept) and len(set(dropped)) == len(dropped)
    assert sample_indexes(10_000, keys, 500) == (kept, dropped)  # the same every time


def test_records_are_evenly_spaced_within_a_group() -> None:
    kept, dropped = sample_indexes(1000, [("dedup", "duplicate")] * 1000, 100)
    assert kept == list(range(0, 1000, 20)) and dropped == list(range(0, 1000, 20))


def test_small_runs_are_embedded_whole() -> None:
    assert sample_indexes(3, [("a", "b")] * 2, 5) == ([0, 1, 2], [0, 1])


def test_the_rare_side_keeps_its_share() -> None:
    kept, dropped = sample_indexes(50, [("filter", "too_short")] * 10_000, 1000)
    assert kept == list(range(50)) and len(dropped) == 950


def test_more_reasons_than_room_still_stays_bounded() -> None:
    keys = [(f"step{i}", "r") for i in range(50) for _ in range(10 + i)]
    kept, dropped = sample_indexes(1000, keys, 30)
    assert len(kept) + len(dropped) <= 30 and len(dropped) >= 6
    # the largest groups are the ones shown
    assert {keys[i][0] for i in dropped} <= {f"step{i}" for i in range(20, 50)}


# --------------------------------------------------------------------------- embedding


def test_hostile_text_cannot_leave_its_script_block() -> None:
    kept = [
        {"id": HOSTILE, "text": HOSTILE, "label": HOSTILE, HOSTILE: 1, "_lineage": {"t": HOSTILE}}
    ]
    dropped = [{"id": "d", "text": "x", "_drop": _drop(HOSTILE, HOSTILE, HOSTILE)}]
    _, html = viewer_section(kept, dropped, text_field=HOSTILE, label_field=HOSTILE)
    assert "<img" not in html and "onerror" not in html
    assert html.count("</script>") == 2  # the data block and the viewer's own code
    data = _payload(html)
    assert data["kept"][0]["text"] == HOSTILE and data["dropped"][0]["_drop"]["detail"] == HOSTILE
    assert data["text_field"] == HOSTILE  # settings travel in the data, not in markup


def test_values_embed_as_strict_json_with_long_ones_clipped() -> None:
    record = {
        "id": np.int64(7), "text": "a" * 5000, "score": float("nan"), "ppl": np.float32(2.5),
        "big": 2**60, "blob": b"\x00\x01", "turns": list(range(300)), "_drop": None,
    }  # fmt: skip
    title, html = viewer_section([record], [])
    (row,) = _payload(html)["kept"]
    assert title == "Browse records"
    assert (
        row["id"] == 7 and row["ppl"] == 2.5 and row["score"] == "nan" and row["big"] == str(2**60)
    )
    assert row["text"].startswith("a" * 2000) and "clipped: 5,000 chars" in row["text"]
    assert len(row["turns"]) == 101 and "200 more items" in row["turns"][-1]
    assert "Values longer than 2,000 characters are clipped" in html


def test_the_section_says_how_many_records_it_embeds() -> None:
    kept = [{"id": str(i), "text": f"t{i}"} for i in range(30)]
    dropped = [
        {"id": f"d{i}", "text": "x", "_drop": _drop("dedup", "duplicate")} for i in range(20)
    ]
    _, html = viewer_section(kept, dropped, max_records=10, totals=(3000, 2000))
    data = _payload(html)
    assert len(data["kept"]) + len(data["dropped"]) == 10
    assert "sample of 10 of 5,000 records" in html
    _, whole = viewer_section(kept, dropped)
    assert "All 50 records are embedded (30 kept, 20 dropped)" in whole


def test_the_embedded_data_stays_within_its_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(viewer, "MAX_EMBED_BYTES", 60_000)
    rng = random.Random(0)
    words = [f"w{rng.randrange(10**6)}" for _ in range(5000)]
    kept = [{"id": str(i), "text": " ".join(rng.choices(words, k=800))} for i in range(300)]
    _, html = viewer_section(kept, [])
    (data,) = DATA.findall(html)
    assert len(data) <= 60_000
    clip = _payload(html)["clip"]
    assert viewer.MIN_CLIP_CHARS <= clip < viewer.CLIP_CHARS
    assert f"longer than {clip} characters" in html
    assert "sample of" in html  # fewer records once clipping alone was not enough


def test_the_same_records_give_the_same_bytes() -> None:
    kept = [{"id": str(i), "text": f"text {i}"} for i in range(100)]
    assert viewer_section(kept, [], max_records=20) == viewer_section(kept, [], max_records=20)


def test_no_records_says_so() -> None:
    _, html = viewer_section([], [])
    assert "No records" in html and "<script" not in html


# --------------------------------------------------------------------------- in a browser


def _records() -> tuple[list[dict], list[dict]]:
    kept = [
        {"id": f"k{i:03d}", "text": f"kept question {i}" + (" needle" if i % 7 == 0 else ""),
         "label": "NUM" if i % 2 else "LOC", "judge_score": i % 10,
         "_lineage": {"technique": "slot_template", "seed": i}}
        for i in range(60)
    ]  # fmt: skip
    kept.append(
        {"id": "evil", "text": HOSTILE, "label": HOSTILE, "judge_score": 1, "_lineage": None}
    )
    dropped = [
        {"id": f"d{i:03d}", "text": f"dropped question {i}", "label": "LOC", "judge_score": 2,
         "_lineage": {"technique": "slot_template", "template": f"tpl-{i}"},
         "_drop": _drop("dedup", "duplicate", f"of k{i:03d}")}
        for i in range(30)
    ]  # fmt: skip
    dropped += [
        {"id": f"j{i}", "text": f"poor answer {i} needle", "label": "NUM", "judge_score": 1,
         "_lineage": {"technique": "judge", "model": "m"},
         "_drop": _drop("judge", "low_score", {"score": 1, "threshold": 5})}
        for i in range(8)
    ]  # fmt: skip
    return kept, dropped


def _page(tmp_path: Path, kept: list[dict], dropped: list[dict]) -> Path:
    title, body = viewer_section(kept, dropped)
    page = tmp_path / "viewer.html"
    page.write_text(
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>viewer</title>'
        f"<style>{CSS}</style></head><body><main><section><h2>{escape(title)}</h2>{body}"
        f"</section></main></body></html>",
        encoding="utf-8",
    )
    return page


# Each probe is awaited in turn; `v` finds the viewer, `show` reads what the page shows.
JS = """const v = document.querySelector('.spv');
const sel = (n, value) => { const s = v.querySelector(`select[name=${n}]`); s.value = value;
  s.dispatchEvent(new Event('change')); };
const show = () => ({
  count: v.querySelector('.spv-count').textContent,
  page: v.querySelector('.spv-page').textContent,
  ids: [...v.querySelectorAll('.spv-row .spv-id')].map(e => e.textContent),
  reasons: [...v.querySelectorAll('.spv-row .spv-reason')].map(e => e.textContent),
});
const later = (f) => new Promise(ok => setTimeout(() => ok(f()), 300));"""

PROBES = {
    "ready": """new Promise((ok) => { const t = setInterval(() => {
      const v = document.querySelector('.spv'); if (v.dataset.state !== 'loading') {
      clearInterval(t); ok({state: v.dataset.state, ms: Number(v.dataset.renderMs)}); } }, 10); })""",
    "first": "(() => { %s; return show(); })()",
    "search": """(() => { %s; const q = v.querySelector('input[name=q]'); q.value = 'NEEDLE';
      q.dispatchEvent(new Event('input')); return later(show); })()""",
    "reason": """(() => { %s; const q = v.querySelector('input[name=q]'); q.value = '';
      q.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'})); sel('reason', 'low_score');
      return show(); })()""",
    "expand": """(() => { %s; const d = v.querySelector('.spv-row details'); d.open = true;
      return new Promise(ok => setTimeout(() => ok({
        lineage: d.querySelector('.spv-lineage').textContent,
        detail: d.querySelector('.spv-detail').textContent,
        text: d.querySelector('.spv-fields').textContent}), 100)); })()""",
    "next": """(() => { %s; sel('reason', ''); v.querySelectorAll('.spv-pager button')[1].click();
      return show(); })()""",
    "score": """(() => { %s; sel('score', 'judge_score'); const lo = v.querySelector('input[name=min]');
      lo.value = '8'; lo.dispatchEvent(new Event('input')); sel('sort', 'high to low');
      return show(); })()""",
    "hostile": """(() => { %s; sel('score', ''); const q = v.querySelector('input[name=q]');
      q.value = 'onerror'; q.dispatchEvent(new Event('input'));
      return later(() => ({...show(), imgs: document.querySelectorAll('img').length,
        text: v.querySelector('.spv-row .spv-text').textContent})); })()""",
}


@pytest.mark.skipif(
    find_chromium() is None, reason="chromium not installed (apt-get install chromium)"
)
def test_the_viewer_searches_filters_pages_and_expands_in_a_browser(tmp_path: Path) -> None:
    kept, dropped = _records()
    probes = {k: v.replace("%s", JS) for k, v in PROBES.items()}
    result = check_report(_page(tmp_path, kept, dropped), probes=probes)
    d = result.details
    assert result.console_errors == []
    assert d["ready"]["state"] == "ready" and 0 < d["ready"]["ms"] < 5000
    total = len(kept) + len(dropped)
    assert len(d["first"]["ids"]) == 25 and d["first"]["ids"][0] == "k000"
    assert d["first"]["page"] == f"Page 1 of {math.ceil(total / 25)}"
    needles = sum("needle" in r["text"] for r in kept + dropped)
    assert d["search"]["count"] == f"{needles} of {total} embedded records match"
    assert d["reason"]["reasons"] == ["judge: low_score"] * 8 and d["reason"]["count"].startswith(
        "8 of"
    )
    assert '"technique": "judge"' in d["expand"]["lineage"]
    assert json.loads(d["expand"]["detail"]) == {"score": 1, "threshold": 5}  # structured detail
    assert "poor answer 0 needle" in d["expand"]["text"]
    assert d["next"]["page"].startswith("Page 2 of") and d["next"]["ids"][0] == "k025"
    high = sorted(
        (r for r in kept + dropped if r["judge_score"] >= 8), key=lambda r: -r["judge_score"]
    )
    assert d["score"]["count"].startswith(f"{len(high)} of")
    assert [int(i[1:]) % 10 for i in d["score"]["ids"]] == [r["judge_score"] for r in high]
    assert d["hostile"]["count"].startswith("1 of") and d["hostile"]["imgs"] == 0
    assert d["hostile"]["text"] == HOSTILE  # shown as text, not markup
