"""The audit in the HTML report: the traffic-light summary and one section per measurement.

Renders an :func:`~synthpipe.audit.dataset.audit_dataset` dict; the rows come from
:func:`~synthpipe.audit.signatures.signatures`. All data is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np

from synthpipe.audit.signatures import signatures
from synthpipe.report import svg
from synthpipe.report.bias_section import bias_html
from synthpipe.report.format import format_value
from synthpipe.report.html import html_table, kv_table

STATUS_COLORS = {"green": "#009E73", "amber": "#E69F00", "red": "#D55E00", "n/a": "#9ca3af"}

_DIVERSITY_KEYS = ("n_texts", "distinct_1", "distinct_2", "distinct_3", "self_bleu", "compression_ratio",
                   "homogenization", "vendi", "vendi_per_text", "vendi_sample")  # fmt: skip


def audit_sections(audit: dict) -> list[tuple[str, str]]:
    """(title, html) sections for :func:`~synthpipe.report.html.write_report`: the summary
    first (a report leads with it), then diversity and whatever else was measured."""
    sections = [("Audit summary", _summary(audit)), ("Diversity", _diversity(audit.get("diversity") or {}))]
    if audit.get("fidelity"):
        sections.append(("Fidelity", _fidelity(audit["fidelity"], audit.get("lengths") or {})))
    if audit.get("embedding_map"):
        sections.append(("Embedding map", _map_html(audit["embedding_map"])))
    if audit.get("contamination"):
        sections.append(("Contamination", _contamination_html(audit["contamination"])))
    if audit.get("bias"):
        sections.append(("Bias and representation", bias_html(audit["bias"])))
    return sections


def _status_cell(status: str) -> str:
    color = STATUS_COLORS.get(status, STATUS_COLORS["n/a"])
    return (
        f'<span class="status status-{escape(status.replace("/", ""))}" style="background:{color};'
        f'color:#fff;border-radius:999px;padding:1px 10px;font-weight:600">{escape(status)}</span>'
    )


def _summary(audit: dict) -> str:
    """One row per failure signature, then what was measured and whether embeddings were used."""
    rows = [
        [
            f"<strong>{escape(r['name'])}</strong>",
            _status_cell(r["status"]),
            escape(format_value(r["value"])),
            escape(format_value(r["threshold"])),
            escape(r["explanation"]),
        ]
        for r in signatures(audit)
    ]
    emb = audit.get("embeddings") or {}
    emb_note = (
        "Embeddings: " + escape(format_value((emb.get("model") or {}).get("model", "MiniLM")))
        if emb.get("used")
        else "Embeddings not used" + (f" ({escape(str(emb['note']))})" if emb.get("note") else "")
    )
    s = audit.get("sample") or {}
    return (
        html_table(["signature", "status", "value", "threshold", "explanation"], rows, "audit-summary")
        + f'<p class="muted">Measured on {escape(format_value(s.get("size")))} of '
        f"{escape(format_value(s.get('of')))} records ({escape(str(s.get('method', '')))}). "
        f"{emb_note}.</p>"
    )


def _diversity(div: dict) -> str:
    body = kv_table([(k, div[k]) for k in _DIVERSITY_KEYS if k in div])
    if "clusters" in div:
        body += kv_table([(f"clusters: {k}", v) for k, v in div["clusters"].items()
                          if not isinstance(v, (list, dict))])  # fmt: skip
    return body


def _fidelity(fid: dict, lengths: dict) -> str:
    """Distances to the reference, then the length histograms of both sets."""
    pairs: list[tuple[str, Any]] = [("sample size (each)", fid["sample_size"])]
    pairs += [(f"length {k}", v) for k, v in fid["length"].items()]
    pairs.append(("vocabulary TV", fid["vocabulary_tv"]))
    if "labels" in fid:
        pairs.append(("label TV", fid["labels"]["tv"]))
    for k in ("frechet_distance", "mauve"):
        if k in fid:
            pairs.append((k.replace("_", " "), fid[k]))
    pairs += [(k, v) for k, v in (fid.get("prdc") or {}).items()]
    body = f'<p class="muted">{escape(fid.get("note", ""))}</p>' + kv_table(pairs)
    if lengths.get("synthetic") and lengths.get("reference"):
        body += "<h3>Length in words: synthetic</h3>" + svg.histogram(
            np.asarray(lengths["synthetic"]), title="synthetic length (words)", x_label="words"
        )
        body += "<h3>Length in words: reference</h3>" + svg.histogram(
            np.asarray(lengths["reference"]), title="reference length (words)", x_label="words",
            color=svg.VERMILLION,
        )  # fmt: skip
    return body


def _map_html(m: dict) -> str:
    groups = [("synthetic", m["synthetic"], svg.BLUE)]
    if m.get("reference"):
        groups.append(("reference", m["reference"], svg.VERMILLION))
    ev = m.get("explained_variance") or [0.0, 0.0]
    return (
        f'<p class="muted">{escape(m["method"])}; the two axes explain {ev[0]:.1%} and {ev[1]:.1%} '
        "of the variance, so sets that overlap here may still differ along other directions "
        "(the fidelity numbers use all dimensions). A patch of one colour is a region only "
        "that set covers.</p>" + svg.scatter(groups, title="embedding map (PCA)")
    )


def _contamination_html(c: dict) -> str:
    pairs = [("decontamination step ran", c.get("checked")), ("dropped as contaminated", c.get("dropped")),
             ("flagged but kept", c.get("flagged_kept"))]  # fmt: skip
    by = c.get("by_benchmark") or {}
    body = kv_table(pairs)
    if by:
        body += "<h3>Dropped per benchmark</h3>" + svg.bar_chart(
            sorted(by.items(), key=lambda kv: (-kv[1], kv[0])), title="contaminated records per benchmark",
            color=svg.VERMILLION)  # fmt: skip
    return body
