"""Tool-use trajectories in the report: how many passed verification, per task type and per
check (format, turn limit, execution, outcome), from ``metrics["trajectories"]`` (written by
the ``verify_trajectory`` step)."""

from __future__ import annotations

from html import escape

from synthpipe.report import svg
from synthpipe.report.html import Section, html_table

TITLE = "Trajectory checks"


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.1f}%"


def trajectory_section(summary: dict) -> Section:
    """Pass rate per check (bars) and per task type (table with the reasons they failed)."""
    checks = [(name, c) for name, c in (summary.get("by_check") or {}).items() if c.get("checked")]
    chart = svg.bar_chart(
        [(name, 100 * (c["pass_rate"] or 0)) for name, c in checks],
        title="Pass rate per check (%)",
        value_labels=[f"{_pct(c['pass_rate'])} of {c['checked']:,}" for _, c in checks],
        color=svg.GREEN,
    )
    rows = [
        [escape(name), f'<span class="num">{t["trajectories"]:,}</span>', f'<span class="num">{t["passed"]:,}</span>',
         _pct(t["pass_rate"]), escape(", ".join(f"{r} ({n})" for r, n in (t.get("failed") or {}).items()) or "–")]
        for name, t in (summary.get("by_task_type") or {}).items()
    ]  # fmt: skip
    lead = (f"<p>{summary.get('passed', 0):,} of {summary.get('trajectories', 0):,} trajectories passed every "
            f"check ({_pct(summary.get('pass_rate'))}). A check counts the trajectories that reached it.</p>")  # fmt: skip
    body = lead + chart + html_table(["task type", "trajectories", "passed", "pass rate", "failed with"], rows)
    return Section("trajectories", TITLE, body)
