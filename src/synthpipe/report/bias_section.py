"""The "Bias and representation" section of the audit report.

Renders ``audit["bias"]`` (:func:`~synthpipe.audit.bias.bias_report`) compactly: the
gendered-word shares, HELM scores, one table of the HolisticBias axes with enough mentions
(each axis's chart folded under it), the axes hidden for too few mentions folded with the
reason, and the descriptor skew and group sentiment folded. All text is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from synthpipe.audit.intervals import wilson_interval
from synthpipe.report import svg
from synthpipe.report.format import format_value
from synthpipe.report.html import html_table, kv_table

#: Buckets drawn per HolisticBias axis chart (the table below it lists them all).
AXIS_BARS = 12
#: Descriptors listed as over- or under-represented need this many mentions in both sets together.
MIN_DESCRIPTOR_MENTIONS = 5
#: Below this many gendered words (and with no axis shown) the section folds away.
MIN_GENDERED = 20


def bias_section(b: dict) -> tuple[str, str | None]:
    """The section body for one ``bias_report`` dict, and why it is folded away (too few
    gendered words and no HolisticBias axis with enough mentions) or None."""
    body = "".join([_intro(b), _gender(b), _helm(b), *_axes(b), _more(b)])
    floor = b.get("min_axis_mentions") or MIN_GENDERED
    shown = [a for a, counts in (b.get("holistic_bias") or {}).items() if _shown(a, counts, b)]
    gendered = sum(((b.get("gender") or {}).get(g) or {}).get("total", 0) or 0 for g in ("male", "female"))
    if not shown and gendered < MIN_GENDERED:
        return body, (f"too few mentions to compare: {gendered} gendered words, no HolisticBias axis "
                      f"with {floor} person mentions")  # fmt: skip
    return body, None


def bias_html(b: dict) -> str:
    """The whole section body for one ``bias_report`` dict."""
    return bias_section(b)[0]


def _shown(axis: str, counts: dict[str, int], b: dict) -> bool:
    axes = (b.get("representation_skew") or {}).get("axes") or {}
    has_ref = _reference(b) is not None
    return _mentioned(counts, axes.get(axis)) and _comparable(axis, b, axes, has_ref)


def _more(b: dict) -> str:
    """Descriptor skew and group sentiment, folded: detail most readers skip."""
    inner = "".join(_skewed_descriptors(b)) + _sentiment(b)
    return f"<details><summary>Descriptors and group sentiment</summary>{inner}</details>" if inner else ""


def _reference(b: dict) -> dict | None:
    """The reference half of the report, or None when no reference was given."""
    return (b.get("reference") or {}) if "reference" in b else None


def _intro(b: dict) -> str:
    ref = _reference(b)
    ws = b.get("word_sense") or {}
    sense = ""
    if ws.get("matches"):
        examples = "; ".join(ws.get("ignored_examples") or [])
        sense = (f" Of {ws['matches']:,} descriptor matches in the synthetic texts, {ws['about_people']:,} "
                 f"refer to a person and count; {ws['ignored']:,} do not (e.g. {examples or '–'}).")  # fmt: skip
    return (
        f'<p class="muted">Measured on {escape(format_value(b.get("n_texts")))} synthetic texts'
        + (f" and {escape(format_value(ref.get('n_texts')))} reference texts" if ref is not None else "")
        + ". Lexicon matching (HolisticBias descriptors, gendered words): counts mentions, "
        "not how the text treats them. A descriptor counts only where it refers to a person "
        f"(\"a black woman\", not \"black pepper\").{escape(sense)} Shares carry 95% Wilson "
        "intervals.</p>"
    )


def _gender(b: dict) -> str:
    """Male / female counts per kind of gendered word, for each set."""
    ref = _reference(b)
    sets = [("synthetic", b.get("gender"))] + ([("reference", ref.get("gender"))] if ref is not None else [])
    rows = []
    for label, gc in sets:
        for g in ("male", "female"):
            c = (gc or {}).get(g) or {}
            rows.append([escape(f"{label}: {g}")]
                        + [escape(format_value(c.get(k))) for k in ("terms", "pronouns", "names", "total")])  # fmt: skip
    bars = _gender_bars(b.get("demographic_representation"),
                        ref.get("demographic_representation") if ref is not None else None)  # fmt: skip
    head = ["group", "terms", "pronouns", "names", "total"]
    table = html_table(head, rows, "bias-gender")
    return f"<h3>Gendered words</h3>{bars}<details><summary>counts by kind of word</summary>{table}</details>"


def _gender_bars(syn: dict | None, ref: dict | None) -> str:
    """Male/female shares of gendered terms and pronouns: the HELM demographic-representation
    distributions the bias signature is computed from (names are counted in the table only)."""
    ps, pr = ((d or {}).get("distribution") for d in (syn, ref))
    if not ps and not pr:
        return ""
    bars = [(g, (ps or {}).get(g, 0.0), None if not pr else pr.get(g, 0.0)) for g in ("male", "female")]
    return ('<p class="muted">Share of gendered terms and pronouns (the numbers the bias '
            "signature uses; names are in the table).</p>"
            + svg.paired_bars(bars, title="share of gendered terms and pronouns: male vs female"))  # fmt: skip


def _helm(b: dict) -> str:
    """HELM demographic representation (each set, and the gap) and stereotypical associations."""
    ref = _reference(b)
    dr = b.get("demographic_representation") or {}
    sa = b.get("stereotypical_associations") or {}
    skew = b.get("representation_skew") or {}
    pairs: list[tuple[str, Any]] = [("demographic representation (synthetic)", dr.get("tvd"))]
    if ref is not None:
        pairs.append(("demographic representation (reference)",
                      (ref.get("demographic_representation") or {}).get("tvd")))  # fmt: skip
        pairs.append(("gender TVD synthetic vs reference", (skew.get("gender") or {}).get("tvd")))
    for k in ("professions", "adjectives"):
        r = sa.get(k) or {}
        pairs.append((f"stereotypical associations: {k} ({format_value(r.get('n_targets'))} targets)",
                      r.get("score")))  # fmt: skip
    return ("<h3>HELM bias scores</h3>"
            '<p class="muted">TVD from uniform over male/female: 0 = balanced, 0.5 = one group only.</p>'
            + kv_table(pairs))  # fmt: skip


def _axes(b: dict) -> list[str]:
    """One table of the mentioned axes (the per-axis TVD beside it), each shown axis's chart
    folded under it, and the axes hidden for too few mentions folded with the reason."""
    has_ref = _reference(b) is not None
    axes = (b.get("representation_skew") or {}).get("axes") or {}
    hb = b.get("holistic_bias") or {}
    floor = b.get("min_axis_mentions", 0)
    mentioned = [a for a in sorted(hb) if _mentioned(hb[a], axes.get(a))]
    hidden = [a for a in mentioned if not _comparable(a, b, axes, has_ref)]
    shown = [a for a in mentioned if a not in hidden]
    silent = len(hb) - len(mentioned)
    parts = ["<h3>HolisticBias axes</h3>"]
    if shown:
        head = ["axis", "synthetic mentions"] + (["reference mentions", "TVD vs reference"] if has_ref else [])
        rows = []
        for a in sorted(shown, key=lambda a: -((axes.get(a) or {}).get("tvd") or 0)):
            row = [escape(a), escape(format_value(sum(hb[a].values())))]
            if has_ref:
                row += [escape(format_value((axes.get(a) or {}).get("n_reference", 0))),
                        escape(format_value((axes.get(a) or {}).get("tvd")))]  # fmt: skip
            rows.append(row)
        parts.append(html_table(head, rows, "bias-axes"))
        parts += [_axis(a, hb[a], axes.get(a) or {}, has_ref) for a in shown]
    else:
        parts.append('<p class="muted">No HolisticBias axis has enough person mentions to show.</p>')
    if hidden:
        counts = ", ".join(_hidden_counts(a, hb[a], axes.get(a) or {}, has_ref) for a in hidden)
        either = " in either set" if has_ref else ""
        parts.append(f"<details><summary>{len(hidden)} axes hidden: fewer than {floor} person mentions"
                     f"{either}</summary><p class=\"muted\">{escape(counts)}.</p></details>")  # fmt: skip
    if silent:
        parts.append(f'<p class="muted">{silent} axes not mentioned at all.</p>')
    return parts


def _mentioned(syn_counts: dict[str, int], a: dict | None) -> bool:
    return bool(sum(syn_counts.values()) or (a or {}).get("n_reference"))


def _comparable(axis: str, b: dict, axes: dict, has_ref: bool) -> bool:
    """An axis is shown when both sets (or, without a reference, the synthetic set) have
    enough person mentions on it; audits made before this rule show every axis."""
    if has_ref:
        return (axes.get(axis) or {}).get("comparable", True)
    return ((b.get("axes") or {}).get(axis) or {}).get("shown", True)


def _hidden_counts(axis: str, syn_counts: dict[str, int], a: dict, has_ref: bool) -> str:
    n = sum(syn_counts.values())
    return f"{axis} ({n} synthetic" + (f", {a.get('n_reference', 0)} reference)" if has_ref else ")")


def _share(dist: dict | None, key: str) -> str:
    return "–" if dist is None else f"{dist.get(key, 0.0):.1%}"


def _share_ci(counts: dict[str, int], key: str) -> str:
    """``12.5% [8.1%-18.7%]``: a bucket's share of its axis with a 95% Wilson interval."""
    n = sum(counts.values())
    if not n:
        return "–"
    low, high = wilson_interval(counts[key], n)
    return f"{counts[key] / n:.1%} [{low:.1%}-{high:.1%}]"


def _axis(axis: str, syn_counts: dict[str, int], a: dict, has_ref: bool) -> str:
    """Chart and table of one HolisticBias axis; empty when neither set mentions it."""
    n_syn = sum(syn_counts.values())
    n_ref = a.get("n_reference", 0)
    if not n_syn and not n_ref:
        return ""
    ps = {k: v / n_syn for k, v in syn_counts.items()} if n_syn else None
    pr = a.get("reference")
    buckets = [k for k in syn_counts if syn_counts[k] or (pr or {}).get(k)]
    buckets.sort(key=lambda k: (-(ps or {}).get(k, 0.0), -(pr or {}).get(k, 0.0), k))
    head = ["bucket", "synthetic mentions", "synthetic share (95% CI)"] + (["reference share"] if has_ref else [])
    rows = []
    for k in buckets:
        row = [escape(k), escape(format_value(syn_counts[k])), escape(_share_ci(syn_counts, k))]
        if has_ref:
            row.append(escape(_share(pr, k)))
        rows.append(row)
    caption = f"{axis}: {n_syn:,} synthetic mentions"
    if has_ref:
        caption += f", {n_ref:,} reference mentions, TVD {format_value(a.get('tvd'))}"
    bars = [(k, None if ps is None else ps.get(k, 0.0), (pr or {}).get(k, 0.0) if has_ref else None)
            for k in buckets[:AXIS_BARS]]  # fmt: skip
    chart = svg.paired_bars(bars, title=f"{axis}: share of mentions per bucket")
    table = html_table(head, rows, "bias-axis")
    return f"<details><summary>{escape(caption)}</summary>{chart}{table}</details>"


def _skewed_descriptors(b: dict) -> list[str]:
    """Tables of the descriptors whose rate differs most from the reference's."""
    skew = b.get("representation_skew") or {}
    parts = []
    for key, label in (("over_represented", "over-represented"),
                       ("under_represented", "under-represented")):  # fmt: skip
        items = [r for r in skew.get(key) or [] if r["synthetic"] + r["reference"] >= MIN_DESCRIPTOR_MENTIONS]
        if items:
            rows = [[escape(r["descriptor"]), escape(format_value(r["ratio"])),
                     escape(format_value(r["synthetic"])), escape(format_value(r["reference"]))]
                    for r in items]  # fmt: skip
            parts.append(f"<h3>Descriptors {escape(label)} vs reference</h3>"
                         + html_table(["descriptor", "rate ratio", "synthetic", "reference"], rows))  # fmt: skip
    return parts


def _sentiment(b: dict) -> str:
    """VADER sentiment per group, or why it was skipped (vaderSentiment not installed)."""
    gs = b.get("group_sentiment")
    if isinstance(gs, dict) and "skipped" in gs:
        return f'<p class="muted">Group sentiment skipped: {escape(str(gs["skipped"]))}</p>'
    if not gs:
        return ""
    rows = [[escape(axis), escape(bucket), escape(format_value(v["mean"])), escape(format_value(v["n"]))]
            for axis, buckets in sorted(gs.items()) for bucket, v in sorted(buckets.items())]  # fmt: skip
    return ("<h3>Group sentiment (VADER compound, sentences mentioning a group)</h3>"
            + html_table(["axis", "bucket", "mean", "sentences"], rows))  # fmt: skip
