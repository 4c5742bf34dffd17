"""The longitudinal report of a self-improvement loop (``DIR/loop_report.html``) and its flags.

One self-contained page (inline CSS and SVG): per-iteration accuracy on the real test set,
diversity (distinct-2), fidelity to the reference (the audit's precision, recall, MAUVE) and
label balance (total variation distance from iteration 1's labels), then the flags:

- **model collapse**: diversity or recall falls at every iteration and by more than the
  tolerance in all. Training on a model's own output loses the tails of the distribution
  first, then its variety (Shumailov et al. 2023, "The Curse of Recursion: Training on
  Generated Data Makes Models Forget", arXiv:2305.17493).
- **mode collapse**: an iteration's audit shows the mode-collapse signature in red (few
  templates repeated), one label takes more than 80% of an iteration's records, or labels of
  iteration 1 are gone (self-training's pseudo-labels drifting onto fewer classes).
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from synthpipe.data.writers import atomic_path
from synthpipe.report.audit_section import status_cell
from synthpipe.report.format import format_value
from synthpipe.report.html import Section, html_table, page_html
from synthpipe.report.svg import line_chart

TOP_LABEL_MAX = 0.8  # one label above this share of an iteration's records is mode collapse
FALLING = (("distinct_2", "diversity (distinct-2)"), ("recall", "recall (fidelity)"))


def collapse_flags(rows: list[dict], tolerance: float = 0.01) -> list[dict]:
    """The flags raised by a loop's iterations: ``{"name", "status", "metric", "explanation"}``
    (status "red" when raised, "green" when checked and clear)."""
    return [_falling(rows, key, label, tolerance) for key, label in FALLING] + [
        _mode_collapse(rows)
    ]


def _falling(rows: list[dict], key: str, label: str, tolerance: float) -> dict:
    points = [(r["iteration"], r[key]) for r in rows if r.get(key) is not None]
    flag = {"name": "model collapse", "metric": key, "status": "green"}
    if len(points) < 2:
        return {
            **flag,
            "status": "n/a",
            "explanation": f"{label}: fewer than 2 iterations measured it.",
        }
    values = [v for _, v in points]
    steps_down = all(b <= a for a, b in zip(values, values[1:], strict=False))
    fall = values[0] - values[-1]
    trail = " -> ".join(f"{v:.3f}" for v in values)
    if steps_down and fall > tolerance:
        return {**flag, "status": "red", "explanation": (
            f"{label} fell at every iteration ({trail}; -{fall:.3f} in all, tolerance {tolerance}). "
            "Training on its own output, the loop is losing the variety of its data: the early sign "
            "of model collapse (Shumailov et al. 2023). Mix real or fresh seed data back in, or stop here.")}  # fmt: skip
    return {
        **flag,
        "explanation": f"{label}: {trail}; not falling at every iteration by more than {tolerance}.",
    }


def _mode_collapse(rows: list[dict]) -> dict:
    hits = []
    first = set((rows[0].get("labels") or {}) if rows else ())
    for r in rows:
        if r.get("labels") is not None and (lost := sorted(first - set(r["labels"]))):
            hits.append(
                f"iteration {r['iteration']}: labels {', '.join(lost)} of iteration 1 are gone"
            )
        if r.get("mode_collapse") == "red":
            hits.append(f"iteration {r['iteration']}: the audit's mode-collapse signature is red")
        if (share := r.get("top_label_share")) is not None and share > TOP_LABEL_MAX:
            top = max((r.get("labels") or {}).items(), key=lambda kv: kv[1], default=("?", share))[
                0
            ]
            hits.append(f"iteration {r['iteration']}: label {top} takes {share:.0%} of the records")
    flag = {"name": "mode collapse", "metric": "mode_collapse / top_label_share"}
    if all(r.get("mode_collapse") is None and r.get("labels") is None for r in rows):
        return {**flag, "status": "n/a", "explanation": "neither an audit nor labels measured it."}
    if hits:
        return {**flag, "status": "red", "explanation": "; ".join(hits) + (
            ". The data concentrates on a few templates or one class: a model trained on it "
            "learns that mode and little else.")}  # fmt: skip
    return {
        **flag,
        "status": "green",
        "explanation": f"no red mode-collapse signature, no label above {TOP_LABEL_MAX:.0%}.",
    }


def write_loop_report(data: dict, path: str | Path) -> Path:
    """Write the report of `data` (the content of loop.json) to `path`."""
    path = Path(path)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(loop_report_html(data), encoding="utf-8")
    return path


def loop_report_html(data: dict) -> str:
    rows = data.get("iterations") or []
    sections = [
        Section("flags", "Flags", _flags_html(data.get("flags") or collapse_flags(rows))),
        Section(
            "accuracy",
            "Accuracy on the real test set",
            _chart(rows, [("accuracy", "accuracy")], "accuracy"),
        ),
        Section(
            "diversity", "Diversity", _chart(rows, [("distinct_2", "distinct-2")], "distinct-2")
        ),
        Section(
            "fidelity",
            "Fidelity to the reference",
            _chart(
                rows,
                [("precision", "precision"), ("recall", "recall"), ("mauve", "MAUVE")],
                "score",
            ),
        ),  # fmt: skip
        Section(
            "labels",
            "Label balance",
            _chart(rows, [("label_tv", "TV from iteration 1")], "TV distance")
            + _chart(rows, [("top_label_share", "largest label's share")], "share"),
        ),  # fmt: skip
        Section("iterations", "Iterations", _table(rows)),
    ]
    name = data.get("name") or "loop"
    header = (f"<header><h1>{escape(name)} · self-improvement loop</h1><p>{len(rows)} iteration(s) of "
              f"generate → curate → train → regenerate ({escape(str(data.get('kind', '')))}), each scored on "
              f"{escape(str(data.get('test', 'the test set')))}.</p></header>")  # fmt: skip
    return page_html({"run": {"name": f"{name} loop"}}, header, sections)


def _flags_html(flags: list[dict]) -> str:
    rows = [
        [status_cell(f["status"]), escape(f["name"]), escape(f["metric"]), escape(f["explanation"])]
        for f in flags
    ]
    return (html_table(["status", "flag", "metric", "explanation"], rows, "loop-flags") + f"<p class=\"muted\">Model collapse: diversity or recall falling at every "
            "iteration beyond the tolerance (Shumailov et al. 2023). Mode collapse: the audit's "
            f"mode-collapse signature red, one label above {TOP_LABEL_MAX:.0%} of an iteration's records, or labels of iteration 1 gone.</p>")  # fmt: skip


def _chart(rows: list[dict], keys: list[tuple[str, str]], y_label: str) -> str:
    series = [
        (label, [(r["iteration"], r[key], None) for r in rows if r.get(key) is not None])
        for key, label in keys
    ]
    if not any(points for _, points in series):
        return (
            '<p class="muted">Not measured (add an audit step with a reference for fidelity).</p>'
        )
    return line_chart(series, title=y_label, x_label="iteration", y_label=y_label)


COLUMNS = ("iteration", "generated", "kept", "accuracy", "distinct_2", "recall", "mauve", "label_tv",
           "top_label_share", "mode_collapse", "trained", "generator")  # fmt: skip


def _table(rows: list[dict]) -> str:
    body = [[escape(_cell(r.get(c))) for c in COLUMNS] for r in rows]
    return html_table(list(COLUMNS), body)


def _cell(value: Any) -> str:
    return format_value(value)


__all__ = ["collapse_flags", "loop_report_html", "write_loop_report"]
