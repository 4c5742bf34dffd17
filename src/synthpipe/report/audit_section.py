"""The audit in the HTML report: the traffic lights, the summary, and one section per
measurement, each metric next to the reference's value.

Renders an :func:`~synthpipe.audit.dataset.audit_dataset` dict; the rows come from
:func:`~synthpipe.audit.signatures.signatures`. Metric keys are shown by their readable
names (:data:`~synthpipe.report.format.METRIC_LABELS`). All data is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from synthpipe.audit.signatures import signatures
from synthpipe.report import svg
from synthpipe.report.bias_section import bias_section
from synthpipe.report.format import format_value, metric_label, readable_text
from synthpipe.report.html import MIN_RECORDS, Section, html_table, kv_table

STATUS_COLORS = {"green": "#009E73", "amber": "#E69F00", "red": "#D55E00", "n/a": "#9ca3af"}

_LEXICAL_KEYS = ("distinct_1", "distinct_2", "distinct_3", "self_bleu", "compression_ratio", "homogenization")
_EMBEDDING_KEYS = ("vendi", "vendi_per_text", "vendi_sample")
NGRAM_BARS = 12  # phrases charted per set


def audit_sections(audit: dict) -> list[tuple[str, str]]:
    """(title, html) of the audit's sections, as :func:`report_sections` orders them."""
    return [(s.title, s.body) for s in report_sections(audit)]


def report_sections(audit: dict, suffix: str = "") -> list[Section]:
    """The audit's sections in report order: summary, diversity, fidelity, label drift,
    embedding map, contamination, bias. ``suffix`` tells audits of one run apart."""
    def sec(anchor: str, title: str, body: str, collapsed: str | None = None) -> Section:
        tag = suffix.strip(" ()").replace(" ", "-")
        return Section(anchor + (f"-{tag}" if tag else ""), title + suffix, body, collapsed)

    out = [sec("audit-summary", "Audit summary", summary_html(audit)),
           sec("diversity", "Diversity", _diversity(audit.get("diversity") or {}, audit))]  # fmt: skip
    if audit.get("fidelity"):
        out.append(sec("fidelity", "Fidelity to the reference", _fidelity(audit["fidelity"])))
    if audit.get("label_drift"):
        out.append(sec("label-drift", "Label balance vs seeds and reference", label_drift_html(audit["label_drift"])))
    if audit.get("embedding_map"):
        m = audit["embedding_map"]
        n = len(m.get("synthetic") or []) + len(m.get("reference") or [])
        why = f"only {n} points: too few for a map" if n < MIN_RECORDS else None
        out.append(sec("embedding-map", "Embedding map", map_html(m), why))
    if audit.get("contamination"):
        body, why = _contamination(audit["contamination"])
        out.append(sec("contamination", "Contamination", body, why))
    if audit.get("bias"):
        body, why = bias_section(audit["bias"])
        out.append(sec("bias", "Bias and representation", body, why))
    return out


# -- lights and summary -----------------------------------------------------------------------
def status_cell(status: str) -> str:
    color = STATUS_COLORS.get(status, STATUS_COLORS["n/a"])
    return (
        f'<span class="status status-{escape(status.replace("/", ""))}" style="background:{color};'
        f'color:#fff;border-radius:999px;padding:1px 10px;font-weight:600">{escape(status)}</span>'
    )


def audit_lights(audit: dict, anchor: str = "audit-summary") -> str:
    """One compact light per failure signature (name and status; the explanation on hover),
    each a link to the summary row at ``anchor``."""
    return "".join(
        f'<a class="light" href="#{escape(anchor)}" data-status="{escape(r["status"])}" '
        f'title="{escape(readable_text(r["explanation"]))}"><i style="background:'
        f'{STATUS_COLORS.get(r["status"], STATUS_COLORS["n/a"])}"></i>{escape(r["name"])} '
        f"<b>{escape(r['status'])}</b></a>"
        for r in signatures(audit)
    )


def readable(value: Any) -> str:
    """A signature value or threshold as text, keys by their readable names."""
    if isinstance(value, dict):
        return "; ".join(f"{_key(k)} {format_value(v)}" for k, v in value.items()) or "–"
    return format_value(value)


def _key(key: str) -> str:
    base, paren, rest = key.partition(" (")
    for end in ("_below", "_above"):  # threshold keys: "recall_below" is the recall floor
        if base.endswith(end):
            return f"{metric_label(base.removesuffix(end))} {end[1:]}"
    return metric_label(base) + (f" ({rest}" if paren else "")


def summary_html(audit: dict) -> str:
    """One row per failure signature, then what was measured and whether embeddings were used."""
    rows = [
        [
            f"<strong>{escape(r['name'])}</strong>",
            status_cell(r["status"]),
            escape(readable(r["value"])),
            escape(readable(r["threshold"])),
            escape(readable_text(r["explanation"])),
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


# -- diversity --------------------------------------------------------------------------------
def _vs_table(rows: list[tuple[str, Any, Any]], ref_name: str = "real (reference)") -> str:
    cells = [[escape(name), f'<span class="num">{escape(format_value(a))}</span>',
              f'<span class="num">{escape(format_value(b))}</span>'] for name, a, b in rows]  # fmt: skip
    return html_table(["metric", "synthetic", ref_name], cells, "vs-reference")


def _diversity(div: dict, audit: dict) -> str:
    """Length-controlled figures in a synthetic | reference table (same window, same number of
    texts), the most common phrases of each set side by side, then whole-text and cluster figures."""
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
        rows = [(metric_label(k), ref["synthetic"].get(k), ref["reference"].get(k)) for k in _LEXICAL_KEYS]
        if div.get("vendi_vs_reference"):
            v = div["vendi_vs_reference"]
            rows.append((f"{metric_label('vendi_per_text')} (n = {v['n']})", v["synthetic"], v["reference"]))
        body = _vs_table(rows) + kv_table([(metric_label(k), v) for k, v in ref["relative"].items()])
    else:
        intro += " No reference: the collapse verdict uses absolute thresholds."
        body = _vs_table([(metric_label(k), div[k], None) for k in _LEXICAL_KEYS if k in div], "reference (none)")
    body = f'<p class="muted">{intro}</p>' + body + _ngrams(audit)
    whole = div.get("whole_text") or {}
    extra = ""
    if whole:
        extra += "<h3>Whole texts (not length-controlled)</h3>" + kv_table([(metric_label(k), v) for k, v in whole.items()])
    if any(k in div for k in _EMBEDDING_KEYS):
        extra += "<h3>Embeddings</h3>" + kv_table([(metric_label(k), div[k]) for k in _EMBEDDING_KEYS if k in div])
    if "clusters" in div:
        extra += kv_table([(f"clusters: {metric_label(k)}", v) for k, v in div["clusters"].items()
                           if not isinstance(v, (list, dict))])  # fmt: skip
    if extra:
        body += f"<details><summary>More diversity figures (whole texts, embeddings, clusters)</summary>{extra}</details>"
    return body


def _ngrams(audit: dict) -> str:
    """The phrases found in the most texts, synthetic and reference charts side by side; an
    audit made before these were stored shows the synthetic sample's own."""
    stored = audit.get("top_ngrams") or {}
    syn, ref = stored.get("synthetic"), stored.get("reference")
    if syn is None:
        return ""
    charts = []
    for name, top, color in (("synthetic", syn, svg.BLUE), ("real (reference)", ref, svg.VERMILLION)):
        if not top:
            continue
        items = [(g, float(v)) for g, v in top["top"][:NGRAM_BARS]]
        chart = svg.bar_chart(items, title=f"{name}: share of texts containing each phrase", color=color,
                              value_labels=[f"{v:.1%}" for _, v in items], width=460, bar_height=16,
                              max_label_chars=28)  # fmt: skip
        charts.append(f"<div><h4>{escape(name)} ({top['texts']:,} texts)</h4>{chart}</div>")
    n = syn.get("n", 3)
    missing = (" This audit predates stored reference phrases: audit the run again to see them."
               if ref is None and audit.get("reference") else "")  # fmt: skip
    return (f"<h3>Most common {n}-word phrases</h3>"
            f'<p class="muted">Share of texts containing each phrase; a template repeated by the '
            f"generator shows as a high share.{missing}</p><div class=\"pair\">{''.join(charts)}</div>")  # fmt: skip


def synthetic_ngrams(texts: list[str]) -> dict:
    """``top_ngrams`` entry for an audit that lacks one (made before they were stored)."""
    # lazy: the audit's imports would pull pandas into the one-shot commands
    from synthpipe.audit.diversity import top_ngrams

    return {"synthetic": top_ngrams(texts), "reference": None}


# -- fidelity ---------------------------------------------------------------------------------
_FIDELITY_MEANING = {
    "ks": "0 = same length distribution, 1 = disjoint",
    "tv": "0 = same length histogram, 1 = disjoint",
    "vocabulary_tv": "0 = same word frequencies, 1 = no word in common",
    "label_tv": "0 = same label shares",
    "frechet_distance": "0 = same embedding mean and spread",
    "mauve": "1 = indistinguishable, near 0 = easy to tell apart",
    "precision": "share of synthetic texts inside the real data's region",
    "recall": "share of real texts covered by the synthetic region",
    "density": "about 1 when synthetic sits where real data is dense",
    "coverage": "share of real texts with a synthetic neighbour",
}


def _fidelity(fid: dict) -> str:
    """Distances to the reference, each with what its range means; the mean lengths of both sets."""
    length = fid.get("length") or {}
    body = f'<p class="muted">{escape(fid.get("note", ""))}</p>'
    if "mean_a" in length:
        body += _vs_table([("mean length (words)", length["mean_a"], length.get("mean_b"))])
    rows: list[tuple[str, Any, str]] = [(metric_label("sample_size"), fid["sample_size"], "")]
    rows += [(metric_label(k), length[k], _FIDELITY_MEANING[k]) for k in ("ks", "tv") if k in length]
    rows.append((metric_label("vocabulary_tv"), fid["vocabulary_tv"], _FIDELITY_MEANING["vocabulary_tv"]))
    if "labels" in fid:
        rows.append(("label total variation", fid["labels"]["tv"], _FIDELITY_MEANING["label_tv"]))
    if "frechet_distance" in fid:
        rows.append((metric_label("frechet_distance"), fid["frechet_distance"], _FIDELITY_MEANING["frechet_distance"]))
    if "mauve" in fid:
        rows.append(("MAUVE", mauve_text(fid), _FIDELITY_MEANING["mauve"]))
    rows += [(metric_label(k), v, _FIDELITY_MEANING.get(k, "")) for k, v in (fid.get("prdc") or {}).items()]
    shared = fid.get("shared_prompts")
    if shared:
        rows.append((f"shared prompts (`{shared['field']}`)", f"{shared['shared']:,} of {shared['of']:,}",
                     "prompts found in both sets"))  # fmt: skip
    cells = [[escape(k), f'<span class="num">{escape(format_value(v))}</span>', f'<span class="muted">{escape(m)}</span>']
             for k, v, m in rows]  # fmt: skip
    return body + html_table(["distance to the reference", "value", "reading"], cells, "kv")


def mauve_text(fid: dict) -> str:
    """MAUVE as ``mean ± sd (min-max over k seeds)``, or the bare value of an older audit."""
    spread = fid.get("mauve_spread")
    if not spread:
        return format_value(fid.get("mauve"))
    return (f"{spread['mean']:.3f} ± {spread['std']:.3f} "
            f"({spread['min']:.3f}-{spread['max']:.3f} over {len(spread['values'])} seeds)")  # fmt: skip


# -- labels, lengths --------------------------------------------------------------------------
def label_drift_html(d: dict) -> str:
    """Label shares of the kept records next to the reference's and the seeds', as grouped
    bars on one scale, then the table and the total variation against each."""
    anchors = [k for k in ("reference", "seeds") if d.get(k)]
    labels = sorted(set(d["distribution"]).union(*(d[k]["distribution"] for k in anchors)),
                    key=lambda lab: -d["distribution"].get(lab, 0.0))  # fmt: skip
    names = [f"synthetic (n = {d['n']:,})"] + [f"{k} (n = {d[k]['n']:,})" for k in anchors]
    items = [(lab, [d["distribution"].get(lab, 0.0)] + [d[k]["distribution"].get(lab, 0.0) for k in anchors])
             for lab in labels[:30]]  # fmt: skip
    chart = svg.grouped_bars(items, names=names, title="label shares: synthetic vs " + " and ".join(anchors or ["nothing"]))
    rows = [[escape(lab)] + [escape(f"{v:.1%}") for v in values] for lab, values in items]
    tvs = kv_table([(f"total variation vs {k}", d[k]["tv"]) for k in anchors])
    return chart + f"<details><summary>table</summary>{html_table(['label', *names], rows, 'label-drift')}</details>" + tvs


def lengths_chart(lengths: dict, side: str | None = None) -> str | None:
    """Synthetic and reference lengths on shared bins (None without a reference)."""
    if not (lengths.get("synthetic") and lengths.get("reference")):
        return None
    note = f'<p class="muted">Words per text{f" ({escape(side)})" if side else ""}, both sets on the same bins, each as a share of its own records.</p>'
    return note + svg.overlaid_histogram(
        [("synthetic", lengths["synthetic"]), ("real (reference)", lengths["reference"])],
        title="length in words: synthetic vs reference", x_label="words per text",
    )  # fmt: skip


# -- map, contamination -----------------------------------------------------------------------
def map_html(m: dict) -> str:
    snippets = m.get("snippets") or {}
    groups = [("synthetic", m["synthetic"], svg.BLUE)]
    texts = [snippets.get("synthetic")]
    if m.get("reference"):
        groups.append(("reference", m["reference"], svg.VERMILLION))
        texts.append(snippets.get("reference"))
    ev = m.get("explained_variance") or [0.0, 0.0]
    hint = ("Scroll to zoom, drag to pan, hover a point for its text." if snippets
            else "Scroll to zoom, drag to pan.")  # fmt: skip
    return (
        f'<p class="muted">{escape(m["method"])}; the two axes explain {ev[0]:.1%} and {ev[1]:.1%} '
        "of the variance, so sets that overlap here may still differ along other directions "
        "(the fidelity numbers use all dimensions). A patch of one colour is a region only "
        f"that set covers. {hint}</p>"
        '<div class="map"><button type="button" class="map-reset">Reset zoom</button>'
        + svg.scatter(groups, title="embedding map (PCA)", snippets=texts, zoomable=True)
        + '<p class="map-hover muted" aria-live="polite">&nbsp;</p></div>'
    )


def _contamination(c: dict) -> tuple[str, str | None]:
    pairs = [("decontamination step ran", c.get("checked")), ("dropped as contaminated", c.get("dropped")),
             ("flagged but kept", c.get("flagged_kept"))]  # fmt: skip
    by = c.get("by_benchmark") or {}
    body = kv_table(pairs)
    if by:
        body += "<h3>Dropped per benchmark</h3>" + svg.bar_chart(
            sorted(by.items(), key=lambda kv: (-kv[1], kv[0])), title="contaminated records per benchmark",
            color=svg.VERMILLION)  # fmt: skip
    if not c.get("checked"):
        return body, "no decontamination step ran"
    if not c.get("dropped") and not c.get("flagged_kept"):
        return body, "checked: nothing contaminated"
    return body, None
