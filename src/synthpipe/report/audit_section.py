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

_LEXICAL_KEYS = ("distinct_1", "distinct_2", "distinct_3", "self_bleu", "compression_ratio", "homogenization")
_EMBEDDING_KEYS = ("vendi", "vendi_per_text", "vendi_sample")


def audit_sections(audit: dict) -> list[tuple[str, str]]:
    """(title, html) sections for :func:`~synthpipe.report.html.write_report`: the summary
    first (a report leads with it), then diversity and whatever else was measured."""
    sections = [("Audit summary", _summary(audit)), ("Diversity", _diversity(audit.get("diversity") or {}))]
    if audit.get("label_drift"):
        sections.append(("Label drift", _label_drift(audit["label_drift"])))
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
    if emb.get("used") and emb.get("side") and audit.get("fidelity"):
        emb_note += f"; fidelity embedded {escape(emb['side'])}"
    s = audit.get("sample") or {}
    return (
        html_table(["signature", "status", "value", "threshold", "explanation"], rows, "audit-summary")
        + f'<p class="muted">Measured on {escape(format_value(s.get("size")))} of '
        f"{escape(format_value(s.get('of')))} records ({escape(str(s.get('method', '')))}). "
        f"{emb_note}.</p>"
    )


def _diversity(div: dict) -> str:
    """Length-controlled figures, each next to the reference's (same window, same number of
    texts) when there is one, then the whole-text values and the embedding metrics."""
    if not div:
        return '<p class="muted">Not measured.</p>'
    window = div.get("window")
    ref = div.get("reference")
    intro = (f"On the opening {escape(format_value(window))} words of each text "
             f"({escape(format_value(div.get('truncated')))} of {escape(format_value(div.get('n_texts')))} "
             "texts were longer), so longer texts are not called repetitive for their length.")  # fmt: skip
    if ref:
        intro += (f" The reference is measured the same way, both sets at n = "
                  f"{escape(format_value(ref['n']))}; the collapse verdict compares the two.")  # fmt: skip
        rows = [[escape(k), escape(format_value(ref["synthetic"][k])), escape(format_value(ref["reference"][k]))]
                for k in _LEXICAL_KEYS]  # fmt: skip
        if div.get("vendi_vs_reference"):
            v = div["vendi_vs_reference"]
            rows.append([escape(f"vendi_per_text (n = {v['n']})"), escape(format_value(v["synthetic"])),
                         escape(format_value(v["reference"]))])  # fmt: skip
        body = html_table(["metric", "synthetic", "reference"], rows, "diversity-vs-reference")
        body += kv_table([(k, v) for k, v in ref["relative"].items()])
    else:
        intro += " No reference: the collapse verdict uses absolute thresholds."
        body = kv_table([(k, div[k]) for k in ("n_texts", *_LEXICAL_KEYS) if k in div])
    whole = div.get("whole_text") or {}
    if whole:
        body += ("<h3>Whole texts (not length-controlled)</h3>"
                 + kv_table([(k, v) for k, v in whole.items()]))  # fmt: skip
    if any(k in div for k in _EMBEDDING_KEYS):
        body += "<h3>Embeddings</h3>" + kv_table([(k, div[k]) for k in _EMBEDDING_KEYS if k in div])
    body = f'<p class="muted">{intro}</p>' + body
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
    if "frechet_distance" in fid:
        pairs.append(("frechet distance", fid["frechet_distance"]))
    if "mauve" in fid:
        pairs.append(("mauve", mauve_text(fid)))
    pairs += [(k, v) for k, v in (fid.get("prdc") or {}).items()]
    shared = fid.get("shared_prompts")
    if shared:
        pairs.append((f"shared prompts (`{shared['field']}`)", f"{shared['shared']:,} of {shared['of']:,}"))
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


def mauve_text(fid: dict) -> str:
    """MAUVE as ``mean ± sd (min-max over k seeds)``, or the bare value of an older audit."""
    spread = fid.get("mauve_spread")
    if not spread:
        return format_value(fid.get("mauve"))
    return (f"{spread['mean']:.3f} ± {spread['std']:.3f} "
            f"({spread['min']:.3f}-{spread['max']:.3f} over {len(spread['values'])} seeds)")  # fmt: skip


def _label_drift(d: dict) -> str:
    """Label shares of the kept records next to the seeds' and the reference's."""
    anchors = [k for k in ("seeds", "reference") if d.get(k)]
    labels = sorted(set(d["distribution"]).union(*(d[k]["distribution"] for k in anchors)))
    head = ["label", f"kept (n = {d['n']:,})"] + [f"{k} (n = {d[k]['n']:,})" for k in anchors]
    rows = [[escape(lab), escape(f"{d['distribution'].get(lab, 0.0):.1%}")]
            + [escape(f"{d[k]['distribution'].get(lab, 0.0):.1%}") for k in anchors] for lab in labels]  # fmt: skip
    tvs = kv_table([(f"total variation vs {k}", d[k]["tv"]) for k in anchors])
    return html_table(head, rows, "label-drift") + tvs


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
