"""Present an experiment result (:func:`synthpipe.evaluate.experiment.run_experiment`).

- :func:`experiment_section`: ``(title, html)`` for the run report's ``extra_sections``: a
  results table, the learning curve as inline SVG, and a plain-language reading of the numbers.
- :func:`verdict_sentence`: the answer in one sentence with its interval, for the report's
  first screen.
- :func:`format_table`: the same table (and the learning curve) as plain text for a terminal.
- Selections (``result["selection"]``): the selected records vs random subsets of the same
  size, one row each, with the runner's verdict.

The reading is generated from the numbers only: a gap is called real when the paired-bootstrap
interval of the difference excludes 0, and "no detectable difference" otherwise, with the
interval's width saying how large a difference could have gone unseen.
"""

from __future__ import annotations

from html import escape
from typing import Any

from synthpipe.report.html import html_table
from synthpipe.report.svg import line_chart

TITLE = "Does the synthetic data help?"
_LABELS = {"accuracy": "accuracy", "macro_f1": "macro-F1", "answered": "answered"}


def _metric_name(key: str) -> str:
    return _LABELS.get(key, key)


def _metrics(result: dict[str, Any]) -> list[str]:
    """Metric keys shown: the primary one first, then the others the variants report."""
    primary = result["primary_metric"]
    keys: list[str] = [primary]
    for variant in result["variants"].values():
        keys += [k for k in variant["summary"] if k not in keys]
    return keys


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _mean_std(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "–"
    std = summary.get("std")
    return _pct(summary["mean"]) + ("" if std is None else f" ± {100 * std:.1f}")


def _pts(value: float) -> str:
    return f"{100 * value:+.1f}".replace("-", "−")


def _diff(diff: dict[str, Any] | None) -> str:
    if not diff:
        return "–"
    return f"{_pts(diff['diff'])} pts [{_pts(diff['low'])}, {_pts(diff['high'])}]"


def _excludes_zero(diff: dict[str, Any]) -> bool:
    return diff["low"] > 0 or diff["high"] < 0


def _rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    metrics = _metrics(result)
    level = _ci_level(result)
    head = ["variant", "n train"]
    head += [f"{_metric_name(m)} (mean ± std)" for m in metrics]
    head += [f"{_metric_name(metrics[0])} {level} CI", f"Δ vs {result['reference']} [{level} CI]"]
    rows = []
    for name, v in result["variants"].items():
        ci = v.get("ci") or {}
        row = [name, f"{v['n_train']:,}"]
        row += [_mean_std(v["summary"].get(m)) for m in metrics]
        row.append(f"{_pct(ci.get('low'))} – {_pct(ci.get('high'))}" if ci else "–")
        row.append("reference" if name == result["reference"] else _diff(v["diff_vs_reference"]))
        rows.append(row)
    return head, rows


def _ci_level(result: dict[str, Any]) -> str:
    level = (result.get("config") or {}).get("ci", 0.95)
    return f"{100 * level:g}%"


# -- the plain-language reading ---------------------------------------------------------------
def _verdict(diff: dict[str, Any], n_test: int, level: str) -> str:
    interval = f"[{_pts(diff['low'])}, {_pts(diff['high'])}] points"
    if _excludes_zero(diff):
        return (
            f"the {level} interval of the difference, {interval}, excludes 0, so the gap is "
            "unlikely to be test-set noise"
        )
    width = max(abs(diff["low"]), abs(diff["high"]))
    return (
        f"the {level} interval of the difference, {interval}, includes 0: no detectable "
        f"difference at this test size (n={n_test:,}); gaps up to {100 * width:.1f} points "
        "could go unnoticed"
    )


def _versus(name: str, v: dict, ref_name: str, ref: dict, result: dict) -> str:
    primary = result["primary_metric"]
    mine, theirs = v["summary"][primary]["mean"], ref["summary"][primary]["mean"]
    size = (
        "at equal size"
        if v["n_train"] == ref["n_train"]
        else f"with {v['n_train']:,} vs {ref['n_train']:,} training records"
    )
    share = f"{mine / theirs:.0%} of the {ref_name} {_metric_name(primary)}" if theirs else ""
    lead = f"<b>{escape(name)}</b> reaches {escape(share)} {size} ({_pct(mine)} vs {_pct(theirs)})"
    verdict = _verdict(v["diff_vs_reference"], result["test"]["n"], _ci_level(result))
    return f"{lead}; {escape(verdict)}."


def _extra(comp: dict[str, Any], result: dict[str, Any]) -> str:
    question = escape(comp["question"][:1].upper() + comp["question"][1:])
    a, b = escape(comp["a"]), escape(comp["b"])
    verdict = _verdict(comp, result["test"]["n"], _ci_level(result))
    return f"{question} {a} minus {b}: {_pts(comp['diff'])} points; {escape(verdict)}."


def _worth(result: dict[str, Any]) -> str | None:
    """Where the full synthetic set's score falls on the real learning curve."""
    curve = result.get("learning_curve") or {}
    real = (curve.get("series") or {}).get("real") or []
    syn = result["variants"].get("synthetic")
    if not real or not syn:
        return None
    score = syn["summary"][result["primary_metric"]]["mean"]
    n = syn["n_train"]
    real = sorted(real, key=lambda p: p["size"])
    first_above = next((i for i, p in enumerate(real) if p["mean"] > score), None)
    lead = f"On the learning curve, all {n:,} synthetic records ({_pct(score)}) are worth "
    if first_above is None:
        return lead + f"at least {real[-1]['size']:,} real records (the largest size tried)."
    hi = real[first_above]
    if first_above == 0:
        return lead + f"fewer than {hi['size']:,} real records (the smallest size tried)."
    lo = real[first_above - 1]
    return (
        lead + f"between {lo['size']:,} and {hi['size']:,} real records "
        f"({_pct(lo['mean'])} and {_pct(hi['mean'])} there)."
    )


def _noise_note(result: dict[str, Any]) -> str:
    n_seeds = len(result.get("seeds") or [])
    fixed = [
        name
        for name, v in result["variants"].items()
        if (v["summary"][result["primary_metric"]].get("std") or 0) == 0
    ]
    text = (
        f"± is the standard deviation over {n_seeds} training seed(s); the intervals cover "
        "test-set sampling (which items happen to be in the test set), from a paired bootstrap "
        "over per-item correctness averaged over seeds."
    )
    if fixed and n_seeds > 1:
        text += (
            f" A std of 0 ({', '.join(fixed)}) means the training set is the same for every "
            "seed and the trainer is deterministic given its data."
        )
    return text


def interpretation(result: dict[str, Any]) -> list[str]:
    """Paragraphs (HTML) reading the numbers; nothing here is decided in advance."""
    out = []
    test, primary = result["test"], result["primary_metric"]
    ref_name = result["reference"]
    ref = result["variants"].get(ref_name)
    base = f"Scored on {test['n']:,} real test items from {escape(str(test['source']))}"
    if "majority_baseline" in test:
        base += (
            f"; always predicting the most common label scores {_pct(test['majority_baseline'])}"
        )
    if ref:
        ref_score = _pct(ref["summary"][primary]["mean"])
        base += (
            f". The reference, <b>{escape(ref_name)}</b> ({ref['n_train']:,} records), scores "
            f"{ref_score} {escape(_metric_name(primary))}"
        )
    out.append(base + ".")
    if ref:
        for name, v in result["variants"].items():
            if name != ref_name and v.get("diff_vs_reference"):
                out.append(_versus(name, v, ref_name, ref, result))
    for comp in result.get("comparisons") or []:
        if comp["b"] != ref_name and comp["a"] != ref_name:
            out.append(_extra(comp, result))
    worth = _worth(result)
    if worth:
        out.append(escape(worth))
    out.append(escape(_noise_note(result)))
    return out


def _headline_variant(result: dict[str, Any]) -> str | None:
    """The variant the verdict is about: ``synthetic`` when it was compared, else the first
    variant compared with the reference."""
    compared = [n for n, v in result["variants"].items() if n != result["reference"] and v.get("diff_vs_reference")]
    return "synthetic" if "synthetic" in compared else next(iter(compared), None)


def verdict_sentence(result: dict[str, Any]) -> str | None:
    """The experiment's answer in one plain-text sentence with its interval, e.g. "Training
    on synthetic (1,592 records) scores 56.6% accuracy vs 86.9% with real: −30.1 points (95%
    CI −34.7 to −25.4), worse beyond test-set noise." None when no variant was compared."""
    name = _headline_variant(result)
    ref = result["variants"].get(result["reference"])
    if name is None or ref is None:
        return None
    v, primary = result["variants"][name], result["primary_metric"]
    diff = v["diff_vs_reference"]
    if not _excludes_zero(diff):
        reading = f"no detectable difference on {result['test']['n']:,} test items"
    else:
        reading = ("better" if diff["diff"] > 0 else "worse") + " beyond test-set noise"
    return (
        f"Training on {name} ({v['n_train']:,} records) scores {_pct(v['summary'][primary]['mean'])} "
        f"{_metric_name(primary)} vs {_pct(ref['summary'][primary]['mean'])} with {result['reference']}: "
        f"{_pts(diff['diff'])} points ({_ci_level(result)} CI {_pts(diff['low'])} to {_pts(diff['high'])}), "
        f"{reading}."
    )


# -- selections -------------------------------------------------------------------------------
_SELECTION_NOTE = (
    "Each selection trains on its k records and on random subsets of the same size from the "
    "same pool; Δ is selected minus the random mean, with an interval over test items, the "
    'random draws and the selected subset\'s own subset noise. "no detectable difference" '
    "means the interval includes 0."
)


def _picks(s: dict[str, Any]) -> str:
    if s.get("kind") == "filter":
        return f"kept {s['k']:,} of {s['pool_size']:,} ({s['pool']})"
    per = f" per {s['stratify']}" if s.get("stratify") else ""
    return f"top {s['k']:,} of {s['pool_size']:,} {s['pool']} by {s['direction']} {s['score']}{per}"


def _selection_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    metric = _metric_name(result["primary_metric"])
    head = ["selection", "picks", f"selected {metric}", f"random {metric} (over draws)"]
    head += [f"Δ [{_ci_level(result)} CI]", "verdict"]
    rows = []
    for name, s in result["selection"].items():
        selected = _mean_std(s["selected"]["summary"].get(result["primary_metric"]))
        rand = _mean_std(s["random"]["summary"].get(result["primary_metric"]))
        rows.append([name, _picks(s), selected, rand, _diff(s["diff"]), s["verdict"]])
    return head, rows


def _selection_html(result: dict[str, Any]) -> str:
    if not result.get("selection"):
        return ""
    head, rows = _selection_rows(result)
    cells = [[escape(c) for c in row] for row in rows]
    return (
        "<h3>Does this selection help?</h3>"
        + html_table(head, cells, "experiment")
        + f'<p class="muted">{escape(_SELECTION_NOTE)}</p>'
    )


# -- html ---------------------------------------------------------------------------------------
def _table_html(head: list[str], rows: list[list[str]]) -> str:
    cells = [[escape(c) if i == 0 else f'<span class="num">{escape(c)}</span>' for i, c in enumerate(row)]
             for row in rows]  # fmt: skip
    return html_table(head, cells, "experiment")


def _chart(result: dict[str, Any]) -> str:
    curve = result.get("learning_curve")
    if not curve or not curve.get("series"):
        return ""
    series = [
        (name, [(p["size"], p["mean"], p["std"]) for p in points])
        for name, points in curve["series"].items()
    ]
    sizes = [p["size"] for _, points in curve["series"].items() for p in points]
    refs = []
    syn = result["variants"].get("synthetic")
    if syn:
        score = syn["summary"][curve["metric"]]["mean"]
        refs.append((f"synthetic, all {syn['n_train']:,} records", score))
    metric = _metric_name(curve["metric"])
    svg = line_chart(
        series,
        title=f"Learning curve: {metric} by number of training records",
        x_label="training records",
        y_label=f"{metric} (mean ± std over seeds)",
        log_x=max(sizes) >= 10 * min(sizes),
        percent=True,
        references=refs,
    )
    return f"<h3>Learning curve</h3>{svg}"


def experiment_section(result: dict[str, Any]) -> tuple[str, str]:
    """``(title, html)`` for ``render_report(extra_sections=[...])``."""
    head, rows = _rows(result)
    paragraphs = "".join(f"<p>{p}</p>" for p in interpretation(result))
    parts = [_table_html(head, rows), paragraphs, _chart(result), _selection_html(result)]
    notes = [escape(n) for n in result.get("notes") or []]
    if notes:
        parts.append('<ul class="muted">' + "".join(f"<li>{n}</li>" for n in notes) + "</ul>")
    wall = result.get("wall_time_s")
    if wall is not None:
        parts.append(f'<p class="muted">Experiment wall time: {wall:.1f} s.</p>')
    return TITLE, "".join(parts)


# -- terminal -----------------------------------------------------------------------------------
def _plain(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [head, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def format_table(result: dict[str, Any]) -> str:
    """The results table (and the learning curve, if any) as plain text."""
    head, rows = _rows(result)
    out = [_plain(head, rows)]
    curve = result.get("learning_curve")
    if curve and curve.get("series"):
        names = list(curve["series"])
        sizes = sorted({p["size"] for pts in curve["series"].values() for p in pts})
        by = {(n, p["size"]): p for n in names for p in curve["series"][n]}
        cells = [[f"{s:,}"] + [_mean_std(by.get((n, s))) for n in names] for s in sizes]
        out.append(
            f"\nlearning curve ({_metric_name(curve['metric'])}, mean ± std over seeds):\n"
            + _plain(["records", *names], cells)
        )
    if result.get("selection"):
        out.append(
            "\nselection vs random subsets of the same size:\n" + _plain(*_selection_rows(result))
        )
    return "\n".join(out)


__all__ = ["TITLE", "experiment_section", "format_table", "interpretation", "verdict_sentence"]
