"""Human review in the report: how many records people labelled, what a rerun applied, and how
far reviewers agree (raw agreement and Cohen's or Fleiss' kappa), from ``metrics["reviews"]``
(written when a run applies ``reviews.jsonl``)."""

from __future__ import annotations

from html import escape

from synthpipe.report.html import Section, html_table

TITLE = "Human review"


def _num(value: object) -> str:
    return "–" if value is None else escape(f"{value:g}" if isinstance(value, float) else str(value))


def review_section(reviews: dict) -> Section:
    """Counts per verdict, the labels applied, and the agreement between reviewers."""
    verdicts = reviews.get("verdicts") or {}
    applied = reviews.get("applied") or {}
    agree = reviews.get("agreement") or {}
    people = ", ".join(reviews.get("reviewers") or []) or "none"
    lead = (f"<p>{reviews.get('records', 0):,} records labelled ({reviews.get('labels', 0):,} labels) by "
            f"{escape(people)}. This run dropped {applied.get('human_rejected', 0):,} as "
            f"<code>human_rejected</code> and applied edits to {applied.get('edit_labels', 0):,} "
            f"records. Rule: {escape(str(reviews.get('rule', '')))}.</p>")  # fmt: skip
    counts = html_table(["verdict", "records"], [[escape(v), f'<span class="num">{n:,}</span>'] for v, n in verdicts.items()])
    kind = {"cohen": "Cohen's kappa", "fleiss": "Fleiss' kappa"}.get(agree.get("kappa_kind") or "", "kappa")
    rows = [["reviewers", _num(agree.get("reviewers"))], ["records labelled by 2+ reviewers", _num(agree.get("shared_records"))],
            ["raw agreement", _num(agree.get("raw_agreement"))], [escape(kind), _num(agree.get("kappa"))]]  # fmt: skip
    note = "" if agree.get("shared_records") else "<p>No record was labelled by two reviewers: no agreement to show.</p>"
    return Section("human-review", TITLE, lead + counts + html_table(["inter-annotator agreement", "value"], rows) + note)
