"""A run's full report: the verdict first, then the evidence.

The first screen says what was made (run name, recipe file, generator and models), how many
records were generated, kept and dropped, the experiment's verdict in one sentence with its
interval, and the audit's traffic lights. The details follow in this order: experiment, audit
summary, diversity, fidelity, label balance, lengths, embedding map, contamination, bias,
bias mitigation before/after (two or more audits), judge vs people,
trajectory checks (tool-use runs), funnel, drop reasons, the record viewer, LLM usage, notes,
samples. Every metric stands beside the reference's value, distributions of both sets share
their bins, and sections with too little data are folded with the reason in their summary line.

Everything is read from ``metrics`` (``audit``, ``experiment``, ``llm``) and the records, so a
finished run directory can be rendered again without running anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

import numpy as np

from synthpipe.data.writers import atomic_path
from synthpipe.report.audit_section import (
    audit_lights,
    label_drift_html,
    lengths_chart,
    report_sections,
    synthetic_ngrams,
)
from synthpipe.report.bias_compare_section import bias_compare_section
from synthpipe.report.experiment_section import experiment_section, verdict_sentence
from synthpipe.report.html import (
    Section,
    as_text,
    build_stats,
    distribution,
    drop_reasons_section,
    funnel_section,
    generated_count,
    header_html,
    labels_section,
    lengths_section,
    llm_usage_section,
    page_html,
    samples_section,
)
from synthpipe.report.judge_section import judge_section
from synthpipe.report.review_section import review_section
from synthpipe.report.trajectory_section import trajectory_section
from synthpipe.report.viewer import viewer_section

#: Where an audit's sections go: the run's own label and length sections follow these.
_BEFORE_LABELS = ("audit-summary", "diversity", "fidelity")


def render_run_report(
    metrics: dict,
    kept: list[dict],
    dropped: list[dict],
    *,
    text_field: str = "text",
    label_field: str = "label",
    sample_size: int = 5,
    models: Sequence[str] = (),
    notes: Sequence[tuple[str, str]] = (),
) -> str:
    """The report as one self-contained HTML string. ``models`` name the generating models
    for the first screen; ``notes`` are (title, trusted html) sections placed before the samples."""
    kept, dropped = list(kept), list(dropped)
    steps = [s for s in metrics.get("steps") or [] if isinstance(s, dict)]
    stats = build_stats(kept, text_field=text_field, label_field=label_field)
    audits = list((metrics.get("audit") or {}).items())
    experiment = metrics.get("experiment")
    verdict = _verdict(experiment) + _lights(audits)
    header = header_html(metrics, steps, metrics.get("kept", len(kept)), metrics.get("dropped", len(dropped)),
                         verdict=verdict, models=models)  # fmt: skip
    sections: list[Section] = []
    if experiment:
        title, body = experiment_section(experiment)
        sections.append(Section("experiment", title, body))
    sections += _audit_and_stats(audits, stats, kept, text_field)
    if (compare := bias_compare_section(metrics)) is not None:  # two or more audits
        sections.append(compare)
    if metrics.get("judge_agreement"):
        sections.append(judge_section(metrics["judge_agreement"]))
    if metrics.get("trajectories"):
        sections.append(trajectory_section(metrics["trajectories"]))
    sections.append(funnel_section(steps, generated_count(metrics, steps)))
    sections.append(drop_reasons_section(metrics, steps, dropped, text_field, sample_size))
    if metrics.get("reviews"):
        sections.append(review_section(metrics["reviews"]))
    totals = (metrics.get("kept", len(kept)), metrics.get("dropped", len(dropped)))  # kept/dropped are samples
    title, body = viewer_section(kept, dropped, text_field=text_field, label_field=label_field, totals=totals)
    sections.append(Section("browse", title, body))
    if metrics.get("llm"):
        sections.append(Section("llm-usage", *llm_usage_section(metrics["llm"])))
    sections += [Section(f"note-{i}", str(t), body) for i, (t, body) in enumerate(notes)]
    sections.append(samples_section(kept, stats, text_field, label_field, sample_size))
    return page_html(metrics, header, sections, script=MAP_JS if _has_map(audits) else "")


def write_run_report(run_dir: str | Path, metrics: dict, kept: list[dict], dropped: list[dict], **kw) -> Path:
    """Write ``run_dir/report.html`` atomically (see :func:`render_run_report` for ``kw``)."""
    target = Path(run_dir) / "report.html"
    page = render_run_report(metrics, kept, dropped, **kw)
    with atomic_path(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return target


def _verdict(experiment: dict | None) -> str:
    """The one-sentence answer, or how to get one."""
    sentence = verdict_sentence(experiment) if experiment else None
    if sentence is None:
        return ('<div id="verdict" class="verdict none"><p class="eyebrow">Does the synthetic data help?</p>'
                "<p>Not measured: add an <code>experiment:</code> section to the recipe to train on the "
                "data and compare with real data.</p></div>")  # fmt: skip
    tone = "good" if "better" in sentence else "bad" if "worse" in sentence else "same"
    return (f'<div id="verdict" class="verdict {tone}"><p class="eyebrow">Does the synthetic data help?</p>'
            f'<p>{escape(sentence)} <a href="#experiment">Details</a></p></div>')  # fmt: skip


def _lights(audits: list[tuple[str, dict]]) -> str:
    if not audits:
        return ""
    rows = []
    for name, audit in audits:
        suffix = _suffix(name, audits)
        tag = suffix.strip(" ()").replace(" ", "-")
        label = f'<span class="muted">{escape(name)}</span> ' if len(audits) > 1 else ""
        rows.append(f"<div>{label}{audit_lights(audit, 'audit-summary' + (f'-{tag}' if tag else ''))}</div>")
    return f'<div id="audit-lights" class="lights"><p class="eyebrow">Audit</p>{"".join(rows)}</div>'


def _suffix(name: str, audits: list[tuple[str, dict]]) -> str:
    return f" ({name})" if len(audits) > 1 else ""


def _audit_and_stats(audits: list[tuple[str, dict]], stats: dict, kept: list[dict], text_field: str) -> list[Section]:
    """Each audit's sections, with the label balance and lengths after the last audit's
    fidelity (the audit nearest the output describes the kept records)."""
    if not audits:
        return [s for s in (labels_section(stats), lengths_section(stats)) if s is not None]
    out: list[Section] = []
    for i, (name, audit) in enumerate(audits):
        if not audit.get("top_ngrams"):  # an audit made before the phrases were stored
            audit = {**audit, "top_ngrams": synthetic_ngrams([as_text(r.get(text_field)) for r in kept[:2000]])}
        sections = report_sections(audit, _suffix(name, audits))
        if i < len(audits) - 1:
            out += sections
            continue
        head = [s for s in sections if s.anchor.startswith(_BEFORE_LABELS)]
        rest = [s for s in sections if s not in head and not s.anchor.startswith("label-drift")]
        out += head + [s for s in (_labels(audit, stats), _lengths(audit, stats)) if s is not None] + rest
    return out


def _labels(audit: dict, stats: dict) -> Section | None:
    """The kept records' label shares beside the reference's and the seeds' when the audit
    has them, else the kept records' counts alone."""
    drift = audit.get("label_drift")
    if drift and (drift.get("reference") or drift.get("seeds")):
        n = len(drift["distribution"])
        return Section("labels", f"Label balance ({n} labels)", label_drift_html(drift))
    return labels_section(stats)


def _lengths(audit: dict, stats: dict) -> Section:
    lengths = audit.get("lengths") or {}
    chart = lengths_chart(lengths, (audit.get("embeddings") or {}).get("side"))
    if chart is None:
        return lengths_section(stats)
    ref = distribution(np.asarray(lengths["reference"], dtype=np.int64))
    syn = distribution(np.asarray(lengths["synthetic"], dtype=np.int64))
    return lengths_section(stats, chart, [("audited words, synthetic", syn), ("audited words, reference", ref)])


def _has_map(audits: list[tuple[str, dict]]) -> bool:
    return any(a.get("embedding_map") for _, a in audits)


# Wheel zooms about the pointer, drag pans, the button resets; hovering a point shows its text.
# Point radii shrink as the map zooms in so dense regions separate. ~1 KB, no library.
MAP_JS = """
document.querySelectorAll('.map').forEach(function (box) {
  var svg = box.querySelector('svg.zoomable'); if (!svg) return;
  var home = svg.getAttribute('viewBox').split(' ').map(Number), vb = home.slice();
  var dots = svg.querySelectorAll('circle'), r0 = dots.length ? +dots[0].getAttribute('r') : 2;
  var out = box.querySelector('.map-hover'), drag = null;
  function show() {
    svg.setAttribute('viewBox', vb.join(' '));
    var r = (r0 * Math.sqrt(vb[2] / home[2])).toFixed(2);
    dots.forEach(function (c) { c.setAttribute('r', r); });
  }
  function at(e) {
    var b = svg.getBoundingClientRect();
    return [vb[0] + (e.clientX - b.left) / b.width * vb[2], vb[1] + (e.clientY - b.top) / b.height * vb[3]];
  }
  svg.addEventListener('wheel', function (e) {
    e.preventDefault();
    var p = at(e), k = e.deltaY < 0 ? 0.8 : 1.25;
    vb = [p[0] - (p[0] - vb[0]) * k, p[1] - (p[1] - vb[1]) * k, vb[2] * k, vb[3] * k]; show();
  }, {passive: false});
  svg.addEventListener('pointerdown', function (e) { drag = [e.clientX, e.clientY, vb[0], vb[1]]; });
  window.addEventListener('pointerup', function () { drag = null; });
  svg.addEventListener('pointermove', function (e) {
    if (!drag) return;
    var b = svg.getBoundingClientRect();
    vb[0] = drag[2] - (e.clientX - drag[0]) / b.width * vb[2];
    vb[1] = drag[3] - (e.clientY - drag[1]) / b.height * vb[3]; show();
  });
  box.querySelector('.map-reset').addEventListener('click', function () { vb = home.slice(); show(); });
  svg.addEventListener('mouseover', function (e) {
    var c = e.target.closest('circle'), t = c && c.querySelector('title');
    if (t && out) out.textContent = t.textContent;
  });
});
"""
