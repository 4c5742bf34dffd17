"""Judge vs people in the report: how often each LLM judge step agreed with the human review
labels (accuracy with its interval, Cohen's kappa read on the Landis & Koch scale, the
confusion matrix) and, for pairwise judges, how often the verdict depended on the order.
Read from ``metrics["judge_agreement"]`` (:mod:`synthpipe.evaluate.judge_agreement`)."""

from __future__ import annotations

from html import escape

from synthpipe.report.html import Section, html_table

TITLE = "Judge vs people"


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.1f}%"


def _agreement_html(block: dict | None, what: str, min_labels: int) -> str:
    """One comparison: the sentence, the too-few note, the confusion matrix."""
    if not block or not block.get("n"):
        return f"<p class=\"muted\">{escape(what)}: no labelled record has this judge's verdict.</p>"
    interval = block.get("interval") or {}
    kappa = block.get("kappa")
    reading = f" ({escape(block['kappa_reading'])} agreement)" if block.get("kappa_reading") else ""
    kappa_text = "undefined (one label only)" if kappa is None else f"{kappa:.2f}{reading}"
    lead = (f"<p><b>{escape(what)}</b>: the judge agreed with people on {_pct(block['accuracy'])} of "
            f"{block['n']:,} labelled records (95% interval {_pct(interval.get('low'))}–{_pct(interval.get('high'))}); "
            f"Cohen's kappa {kappa_text}, which corrects for agreement by chance.</p>")  # fmt: skip
    if block.get("unjudged"):
        lead += f'<p class="muted">{block["unjudged"]:,} labelled records carry no verdict of this judge.</p>'
    if block.get("too_few"):
        lead += (f'<p class="muted"><b>Too few labels to trust:</b> {block["n"]:,} labelled records, fewer than '
                 f"{min_labels}; label more before relying on these numbers.</p>")  # fmt: skip
    labels = block["labels"]
    rows = [[f"people: {escape(label)}", *(f'<span class="num">{c:,}</span>' for c in row)]
            for label, row in zip(labels, block["confusion"], strict=True)]  # fmt: skip
    return lead + html_table(["", *(f"judge: {label}" for label in labels)], rows)


def _bias_html(bias: dict | None) -> str:
    if not bias or not bias.get("pairs"):
        return ""
    return (f"<p><b>Position bias</b> (both orders, no people needed): the verdict changed when the order was "
            f"swapped for {_pct(bias['position_bias_rate'])} of {bias['pairs']:,} pairs; "
            f"{_pct(bias['first_position_rate'])} picked whichever response was shown first both times, "
            f"{_pct(bias['second_position_rate'])} whichever was shown second.</p>")  # fmt: skip


def _judge_html(judge: dict, min_labels: int) -> str:
    head = f"<h3>{escape(judge['step'])} <span class=\"muted\">({escape(judge['kind'])})</span></h3>"
    if judge["kind"] == "judge_score":
        what = f"accept when judge_score ≥ {judge['threshold']:g} ({judge['threshold_from'].replace('_', ' ')})"
        return head + _agreement_html(judge.get("agreement"), what, min_labels)
    body = _agreement_html(judge.get("preference"), "preferred response", min_labels) if judge.get("preference") else ""
    body += _agreement_html(judge.get("agreement"), "kept vs accepted", min_labels) if judge.get("agreement") else ""
    return head + body + _bias_html(judge.get("position_bias"))


def judge_section(summary: dict) -> Section:
    """The section (too few labels are said in the open, not folded: the warning is the point)."""
    min_labels = int(summary.get("min_labels", 20))
    labels = summary.get("labels") or {}
    lead = (f"<p>{labels.get('records', 0):,} records reviewed by {labels.get('reviewers', 0):,} "
            f"reviewer(s); each record counts with the majority of its reviewers' latest labels.")  # fmt: skip
    ties = labels.get("ties_excluded", 0) + labels.get("preference_ties_excluded", 0)
    lead += f" {ties:,} records were left out because their reviewers were split evenly.</p>" if ties else "</p>"
    judges = summary.get("judges") or []
    body = lead + "".join(_judge_html(j, min_labels) for j in judges)
    return Section("judge-agreement", TITLE, body, None if judges else "no judge step in this run")
