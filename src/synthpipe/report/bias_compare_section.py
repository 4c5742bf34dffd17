"""The "Bias mitigation: before and after" section: two or more audits side by side.

Shown when a run has at least two ``audit`` steps (e.g. one before ``counterfactual_augment``
or ``rebalance`` and one after): per audit, the female share of gendered words with its 95%
Wilson interval and the bias-amplification signature; the target share the mitigation steps
aimed at; and what each mitigation step did (records added and removed, share before and after,
from ``metrics["bias_mitigation"]`` and the step counts). All text is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from synthpipe.report import svg
from synthpipe.report.audit_section import status_cell
from synthpipe.report.html import Section, html_table

#: Registry names of the steps whose counts the section lists as mitigation.
MITIGATION_STEPS = ("counterfactual_augment", "rebalance")


def bias_compare_section(metrics: dict) -> Section | None:
    """The section (folded when no audit saw a gendered word), or None with fewer than two audits."""
    audits = list((metrics.get("audit") or {}).items())
    if len(audits) < 2:
        return None
    facts = metrics.get("bias_mitigation") or {}
    target = _target(facts)
    rows = [_audit_row(name, audit) for name, audit in audits]
    body = html_table(["audit step", "records", "gendered words", "female share (95% CI)", "bias amplification",
                       "explanation"], rows, "bias-compare")  # fmt: skip
    body += _target_note(target) + _chart(audits, target) + _steps(metrics, facts)
    folded = None if any(_female(a) is not None for _, a in audits) else "no gendered words in any audit"
    return Section("bias-mitigation", "Bias mitigation: before and after", body, folded)


def _demographic(audit: dict) -> dict:
    return (audit.get("bias") or {}).get("demographic_representation") or {}


def _female(audit: dict) -> float | None:
    return (_demographic(audit).get("distribution") or {}).get("female")


def _audit_row(name: str, audit: dict) -> list[str]:
    dr = _demographic(audit)
    share, ci = _female(audit), dr.get("female_ci")
    words = sum((dr.get("counts") or {}).values())
    shown = "–" if share is None else _pct(share) + (f" ({_pct(ci[0])}–{_pct(ci[1])})" if ci else "")
    row = next((r for r in audit.get("signatures") or [] if r.get("name") == "bias amplification"), None)
    status = status_cell(row["status"]) if row else status_cell("n/a")
    return [f"<strong>{escape(name)}</strong>", f'<span class="num">{audit.get("n_records", "–")}</span>',
            f'<span class="num">{words}</span>', f'<span class="num">{shown}</span>', status,
            escape((row or {}).get("explanation", "Bias not measured."))]  # fmt: skip


def _target(facts: dict[str, Any]) -> float | None:
    """The female share the last gender-axis mitigation step aimed at, if any."""
    shares = [(f.get("target") or {}).get("female") for f in facts.values() if f.get("axis") == "gender"]
    shares = [s for s in shares if s is not None]
    return shares[-1] if shares else None


def _target_note(target: float | None) -> str:
    if target is None:
        return '<p class="muted">No gender target set by a mitigation step.</p>'
    return f"<p>Target female share of gendered words: <strong>{_pct(target)}</strong>.</p>"


def _chart(audits: list[tuple[str, dict]], target: float | None) -> str:
    items = [(name, share) for name, a in audits if (share := _female(a)) is not None]
    if not items:
        return ""
    if target is not None:
        items.append(("target", target))
    return "<h3>Female share of gendered words</h3>" + svg.bar_chart(
        items, title="Female share of gendered words", value_labels=[_pct(v) for _, v in items]
    )


def _steps(metrics: dict, facts: dict[str, Any]) -> str:
    """One row per mitigation step: records in, added, removed, and its axis' shares."""
    steps = [s for s in metrics.get("steps") or [] if s.get("name") in facts or s.get("step") in MITIGATION_STEPS]
    if not steps:
        return '<p class="muted">No mitigation step between the audits.</p>'
    rows = []
    for s in steps:
        f = facts.get(s.get("name"), {})
        added = f.get("added", max(0, (s.get("out") or 0) - (s.get("in") or 0)))
        removed = f.get("removed", s.get("dropped", 0))
        rows.append([f"<strong>{escape(str(s.get('name')))}</strong>", f"<code>{escape(str(s.get('step')))}</code>",
                     escape(f"{f.get('axis', '–')} ({f.get('unit', '')})" if f else "–"),
                     f'<span class="num">{s.get("in", "–")}</span>', f'<span class="num">+{added}</span>',
                     f'<span class="num">−{removed}</span>', escape(_shares(f.get("before"))),
                     escape(_shares(f.get("after"))), escape(_shares(f.get("target")))])  # fmt: skip
    head = ["step", "type", "axis", "records in", "added", "removed", "before", "after", "target"]
    return "<h3>Mitigation steps</h3>" + html_table(head, rows, "mitigation-steps")


def _shares(shares: dict | None) -> str:
    if not shares:
        return "–"
    return ", ".join(f"{g} {_pct(v)}" for g, v in shares.items() if g != "words")


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"
