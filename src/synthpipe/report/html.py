"""The run report's building blocks: one self-contained HTML file (inline CSS, SVG and a
little inline JS; no URLs, nothing fetched).

``build_stats`` summarises the kept records; the section functions (header, funnel, drop
reasons, labels, lengths, samples) and ``page_html`` assemble a page. ``render_report`` /
``write_report`` make the run-statistics page (e.g. for an experiment alone); a run's full
report, verdict first, is :mod:`synthpipe.report.run_report`. Everything that comes from data
or config is HTML-escaped; only ``extra_sections`` bodies are trusted HTML.

Charts are inline SVG with a ``<title>`` on every bar, bin and point (the browser shows the
value on hover, no script needed); the embedding map zooms and pans with ~1.5 KB of inline JS
(:data:`synthpipe.report.run_report.MAP_JS`). A vendored Vega-Lite runtime was measured and
not chosen: ``vega.min.js`` + ``vega-lite.min.js`` (5.33 / 5.23) add 767 KB to every report
(the whole quickstart report is 261 KB), and drawing only the map and the length histogram
with them took 590-860 ms in headless Chromium, against a median of about 200 ms to load the
whole SVG report on the same (shared, noisy) machine. See docs/report.md.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from synthpipe.data.sampling import evenly_spaced
from synthpipe.data.writers import atomic_path
from synthpipe.report import svg
from synthpipe.report.format import METRIC_LABELS, format_value
from synthpipe.text.ngrams import ngram_counts

QUANTILES = {"min": 0, "p5": 5, "p25": 25, "median": 50, "p75": 75, "p95": 95, "max": 100}
MISSING_LABEL = "(missing)"
EXAMPLE_CHARS = 300  # dropped examples: enough to see why, short enough to skim
SAMPLE_CHARS = 2000  # kept samples: keeps the file small even with long documents
MAX_BARS = 30  # charts beyond this stop being readable; the rest are summarised
MAX_SAMPLE_LABELS = 20
MIN_RECORDS = 20  # below this a histogram or a share chart shows noise: such sections fold away
# distinct-n counts the words of evenly spaced records up to about this many words: its cost
# stays bounded on long texts, and as distinct-n falls with corpus size, runs compare alike.
DISTINCT_WORDS = 200_000


# --------------------------------------------------------------------------- stats


def as_text(value: Any) -> str:
    """Text of a record field; non-strings (chat lists, numbers) are shown as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # e.g. circular structures
        return str(value)


def _label_key(record: dict, field: str) -> str:
    value = record.get(field)
    return MISSING_LABEL if value is None else as_text(value)


def has_labels(records: Iterable[dict], field: str) -> bool:
    return any(r.get(field) is not None for r in records)


def distribution(values: np.ndarray) -> dict[str, Any]:
    """Quantiles (numpy's default linear interpolation), mean and integer histogram bins."""
    if values.size == 0:
        stats: dict[str, Any] = dict.fromkeys(QUANTILES)
        return {**stats, "mean": None, "hist": {"edges": [], "counts": []}}
    qs = np.percentile(values, list(QUANTILES.values()))
    stats = {name: float(q) for name, q in zip(QUANTILES, qs, strict=True)}
    edges, counts = svg.integer_bins(values)
    return {**stats, "mean": float(values.mean()), "hist": {"edges": edges, "counts": counts}}


def _distinct_n(texts: list[str]) -> tuple[float | None, float | None]:
    """Corpus-level distinct-1/2: unique n-grams / total n-grams; bigrams stay in a record."""
    counts = ngram_counts(texts, (1, 2))
    (u1, n1), (u2, n2) = counts[1], counts[2]
    return (u1 / n1 if n1 else None, u2 / n2 if n2 else None)


def distinct_sample(words: np.ndarray, budget: int = DISTINCT_WORDS) -> list[int]:
    """Evenly spaced indexes of records holding about `budget` words in all (every record
    when they hold no more): the records distinct-n is counted over."""
    total = int(words.sum())
    if total <= budget:
        return list(range(words.size))
    return evenly_spaced(words.size, max(1, words.size * budget // total))


def _label_stats(kept: list[dict], field: str) -> dict[str, Any] | None:
    if not has_labels(kept, field):
        return None
    counts = Counter(_label_key(r, field) for r in kept)
    ordered = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    total = len(kept)
    return {"counts": ordered, "fractions": {k: v / total for k, v in ordered.items()}}


def build_stats(
    kept: list[dict], *, text_field: str = "text", label_field: str = "label"
) -> dict[str, Any]:
    """Count, label balance, length distributions and diversity of the kept records.

    ``labels`` is ``None`` when no record has the label field; distinct-n values are
    ``None`` when there are no n-grams to count. Lengths cover every record given, distinct-n
    an evenly spaced ``distinct_records`` of them (see :func:`distinct_sample`).
    """
    texts = [as_text(r.get(text_field)) for r in kept]
    words = np.fromiter((len(t.split()) for t in texts), dtype=np.int64, count=len(texts))
    chars = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    sample = distinct_sample(words)
    d1, d2 = _distinct_n([texts[i] for i in sample])
    return {
        "count": len(kept),
        "labels": _label_stats(kept, label_field),
        "length": {"words": distribution(words), "chars": distribution(chars)},
        "distinct_texts": len(set(texts)),
        "distinct_1": d1,
        "distinct_2": d2,
        "distinct_records": len(sample),
    }


# --------------------------------------------------------------------------- formatting


def _num(value: Any) -> str:
    if value is None:
        return "–"
    return svg.fmt_num(value) if isinstance(value, int | float) else escape(str(value))


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds >= 0.1 or seconds == 0 else f"{seconds * 1000:.0f} ms"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _date(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        return str(value) if value else "–"


def _clip(text: str, limit: int) -> str:
    # Truncate before escaping so an entity like &amp; is never cut in half.
    return text if len(text) <= limit else text[:limit] + "…"


def html_table(head: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """Rows are already-escaped HTML cells; header labels are escaped here."""
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def kv_table(pairs: Sequence[tuple[str, Any]]) -> str:
    """A two-column ``metric | value`` table; names (a raw metric key shown by its readable
    name) and values are escaped here."""
    rows = [[escape(METRIC_LABELS.get(k, k)), f'<span class="num">{escape(format_value(v))}</span>'] for k, v in pairs]
    return html_table(["metric", "value"], rows, "kv")


class Section(NamedTuple):
    """One report section; ``collapsed`` (a reason) folds it away, the reason in its summary."""

    anchor: str
    title: str
    body: str
    collapsed: str | None = None


def section_html(s: Section) -> str:
    """A ``<section>``; a collapsed one is a closed ``<details>`` whose summary says why."""
    head = f"<h2>{escape(s.title)}</h2>"
    if s.collapsed:
        return (f'<section id="{escape(s.anchor)}" class="collapsed"><details><summary>{head}'
                f'<span class="why">{escape(s.collapsed)}</span></summary>{s.body}</details></section>')  # fmt: skip
    return f'<section id="{escape(s.anchor)}">{head}{s.body}</section>'


def _nav(sections: Sequence[Section]) -> str:
    """In-page links (fragment-only hrefs, so still no external URLs)."""
    links = "".join(f'<a href="#{escape(s.anchor)}">{escape(s.title)}</a>' for s in sections)
    return f"<nav>{links}</nav>"


# --------------------------------------------------------------------------- sections


def generated_count(metrics: dict, steps: list[dict]) -> int:
    """Records that entered the pipeline: what sources produced, else what step 1 saw."""
    sources = [s for s in steps if s.get("kind") == "source"]
    if sources:
        return int(sum(s.get("out") or 0 for s in sources))
    if steps:
        return int(steps[0].get("in") or 0)
    return int((metrics.get("kept") or 0) + (metrics.get("dropped") or 0))


def _made_by(steps: list[dict], models: Sequence[str]) -> str | None:
    """What generated the records: the source steps' types, and the models when any."""
    made = ", ".join(dict.fromkeys(str(s.get("step")) for s in steps if s.get("kind") == "source" and s.get("step")))
    if models:
        made = (made + " with " if made else "") + ", ".join(models)
    return made or None


def header_html(
    metrics: dict, steps: list[dict], n_kept: int, n_dropped: int, *, verdict: str = "", models: Sequence[str] = ()
) -> str:
    """What was made (run name, recipe file name, generator, models), the record tiles, and
    ``verdict`` (trusted html, e.g. the verdict and audit lights) below them."""
    run = metrics.get("run") or {}
    recipe = run.get("recipe")
    facts = [
        ("Made by", _made_by(steps, models)),
        ("Target", _target(metrics.get("target"))),
        ("Recipe", Path(str(recipe)).name if recipe else None),  # a name: never the machine's path
        ("Started", _date(run.get("started")) if run.get("started") else None),
        ("Duration", None if run.get("duration_s") is None else _duration(run["duration_s"])),
        ("Executor", run.get("executor")),
        ("Seed", run.get("seed")),
        ("synthpipe", run.get("synthpipe_version")),
    ]
    meta = "".join(
        f"<div><dt>{escape(k)}</dt><dd>{escape(str(v))}</dd></div>"
        for k, v in facts
        if v is not None
    )
    generated = generated_count(metrics, steps)
    cards = [
        ("Generated", _num(generated), ""),
        ("Kept", _num(n_kept), "good"),
        ("Dropped", _num(n_dropped), "bad"),
        ("Quarantined", _num(metrics.get("quarantined", 0)), "warn"),
        ("Keep rate", _pct(n_kept or 0, generated), ""),
    ]
    tiles = "".join(
        f'<div class="card {cls}"><div class="big">{value}</div><div class="cap">{escape(cap)}</div></div>'
        for cap, value, cls in cards
    )
    name = escape(str(run.get("name") or "synthpipe run"))
    return (
        f'<header><p class="eyebrow">synthpipe run report</p><h1>{name}</h1>'
        f'<dl class="meta">{meta}</dl><div class="cards">{tiles}</div>{verdict}</header>'
    )


def _target(block: dict | None) -> str | None:
    """A `target:` run's outcome: kept of requested, rounds, and why it fell short."""
    if not block:
        return None
    made = f"{block['kept']:,} of {block['requested']:,} in {block['rounds']} round(s)"
    return made if block["reached"] else f"{made}, missed: {block['why']}"


def _top_reasons(reasons: dict, k: int = 3) -> str:
    top = sorted((reasons or {}).items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    more = len(reasons or {}) - len(top)
    cells = ", ".join(f"{escape(str(r))} <span class=num>({_num(n)})</span>" for r, n in top)
    return (cells + (f' <span class="muted">+{more} more</span>' if more > 0 else "")) or "–"


def funnel_section(steps: list[dict], generated: int) -> Section:
    if not steps:
        return Section("funnel", "Funnel", '<p class="muted">No steps recorded.</p>', "no steps recorded")
    rows = [
        [
            f"<strong>{escape(str(s.get('name', '?')))}</strong>",
            f"<code>{escape(str(s.get('step', '')))}</code>",
            escape(str(s.get("kind", ""))),
            f'<span class="num">{_num(s.get("in"))}</span>',
            f'<span class="num">{_num(s.get("kept", s.get("out")))}</span>',
            f'<span class="num">{_num(s.get("dropped"))}</span>',
            _top_reasons(s.get("reasons") or {}),
            f'<span class="num">{_duration(s.get("duration_s"))}</span>',
            '<span class="pill">yes</span>' if s.get("reused") else "no",
        ]
        for s in steps
    ]
    head = ["Step", "Type", "Kind", "In", "Kept", "Dropped", "Top reasons", "Time", "Reused"]
    remaining = [(str(s.get("name", "?")), float(s.get("kept", s.get("out")) or 0)) for s in steps]
    chart = svg.bar_chart(
        remaining,
        title="Records remaining after each step",
        value_labels=[f"{svg.fmt_num(v)} ({_pct(v, generated)})" for _, v in remaining],
    )
    body = (
        html_table(head, rows, "funnel")
        + '<h3>Records remaining after each step</h3><p class="muted">Percent of generated.</p>'
        + chart
    )
    return Section("funnel", "Funnel", body)


def _reason_counts(steps: list[dict], dropped: list[dict]) -> dict[tuple[str, str], int]:
    """Counts from metrics (authoritative), plus any reason seen only in the dropped file."""
    counts: dict[tuple[str, str], int] = {}
    for s in steps:
        for reason, n in (s.get("reasons") or {}).items():
            key = (str(s.get("name", "?")), str(reason))
            counts[key] = counts.get(key, 0) + int(n)
    seen = Counter(_drop_key(r) for r in dropped)
    for key, n in seen.items():
        counts.setdefault(key, n)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _drop_info(record: dict) -> dict:
    info = record.get("_drop")
    return info if isinstance(info, dict) else {}


def _drop_key(record: dict) -> tuple[str, str]:
    info = _drop_info(record)
    return str(info.get("step", "?")), str(info.get("reason", "?"))


def _examples(records: list[dict], text_field: str, k: int) -> str:
    items = []
    for i in evenly_spaced(len(records), k):
        r = records[i]
        detail = _drop_info(r).get("detail")
        rid = f'<span class="rid">{escape(as_text(r.get("id")))}</span> ' if "id" in r else ""
        det = (
            f'<div class="detail">{escape(_clip(as_text(detail), EXAMPLE_CHARS))}</div>'
            if detail
            else ""
        )
        text = (
            escape(_clip(as_text(r.get(text_field)), EXAMPLE_CHARS))
            or '<em class="muted">(empty)</em>'
        )
        items.append(f'<li>{rid}<span class="text">{text}</span>{det}</li>')
    return f'<ul class="examples">{"".join(items)}</ul>'


def drop_reasons_section(
    metrics: dict, steps: list[dict], dropped: list[dict], text_field: str, k: int
) -> Section:
    counts = _reason_counts(steps, dropped)
    quarantine = metrics.get("quarantine_reasons") or {}
    if not counts and not quarantine:
        return Section("drops", "Drop reasons", '<p class="muted">Nothing was dropped.</p>', "nothing was dropped")
    items = [(f"{step}:{reason}", float(n)) for (step, reason), n in counts.items()]
    body = svg.bar_chart(items[:MAX_BARS], title="Dropped records by reason", color=svg.VERMILLION)
    if len(items) > MAX_BARS:
        rest = sum(n for _, n in items[MAX_BARS:])
        body += f'<p class="muted">+{len(items) - MAX_BARS} more reasons ({_num(int(rest))} records).</p>'
    if quarantine:
        rows = [
            [escape(str(r)), f'<span class="num">{_num(n)}</span>'] for r, n in quarantine.items()
        ]
        body += "<h3>Quarantined</h3>" + html_table(["Reason", "Records"], rows, "kv")
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in dropped:
        groups[_drop_key(r)].append(r)
    if groups and k > 0:
        body += "<h3>Examples</h3>"
    for key in counts:
        if groups.get(key) and k > 0:
            title = f"{escape(key[0])}:{escape(key[1])}"
            body += (
                f"<details open><summary><code>{title}</code> "
                f'<span class="muted">{_num(counts[key])} dropped</span></summary>'
                f"{_examples(groups[key], text_field, k)}</details>"
            )
    return Section("drops", "Drop reasons", body)


def labels_section(stats: dict) -> Section | None:
    labels = stats["labels"]
    if not labels:
        return None
    items = [(k, float(v)) for k, v in labels["counts"].items()]
    shown = items[:MAX_BARS]
    chart = svg.bar_chart(
        shown,
        title="Kept records per label",
        value_labels=[f"{svg.fmt_num(v)} ({100 * labels['fractions'][k]:.1f}%)" for k, v in shown],
        color=svg.GREEN,
    )
    note = ""
    if len(items) > MAX_BARS:
        rest = sum(v for _, v in items[MAX_BARS:])
        note = f'<p class="muted">+{len(items) - MAX_BARS} more labels ({_num(int(rest))} records).</p>'
    return Section("labels", f"Label balance ({len(items)} labels)", chart + note, _too_few(stats["count"]))


def _too_few(count: int) -> str | None:
    """Why a distribution section is folded away: too few records to show a shape."""
    return f"only {count:,} records: too few for a distribution" if count < MIN_RECORDS else None


def quantile_table(rows: Sequence[tuple[str, dict]]) -> str:
    """Quantiles and mean, one row per ``(name, distribution)``."""
    cols = [*QUANTILES, "mean"]
    cells = [
        [escape(name)] + [f'<span class="num">{_num(_round(d[c]))}</span>' for c in cols]
        for name, d in rows
    ]
    return html_table(["", *cols], cells, "quantiles")


def lengths_section(stats: dict, chart: str | None = None, rows: Sequence[tuple[str, dict]] = ()) -> Section:
    """Length quantiles (and ``rows`` of other sets, e.g. the reference) under ``chart``
    (default: the kept records' histogram), then the kept records' distinct-n."""
    words, chars = stats["length"]["words"], stats["length"]["chars"]
    diversity = [
        ["Distinct texts", f"{_num(stats['distinct_texts'])} of {_num(stats['count'])}"],
        ["distinct-1 (unique words / words)", _ratio(stats["distinct_1"])],
        ["distinct-2 (unique bigrams / bigrams)", _ratio(stats["distinct_2"])],
    ]
    if chart is None:
        chart = svg.histogram_from_bins(
            words["hist"]["edges"],
            words["hist"]["counts"],
            title="Kept records by length in words",
            x_label="words per record",
        )
    body = (
        chart
        + quantile_table([("words", words), ("chars", chars), *rows])
        + "<h3>Diversity of the kept records</h3>"
        + html_table(["Measure", "Value"], ([escape(a), b] for a, b in diversity), "kv")
        + _distinct_note(stats)
    )
    return Section("lengths", "Length distribution", body, _too_few(stats["count"]))


def _distinct_note(stats: dict) -> str:
    """Which records distinct-n counts, when not all of them."""
    if stats["distinct_records"] >= stats["count"]:
        return ""
    return (
        f'<p class="muted">distinct-1 and distinct-2 count the words of an evenly spaced '
        f"{_num(stats['distinct_records'])} of these {_num(stats['count'])} records (about "
        f"{_num(DISTINCT_WORDS)} words: distinct-n falls as a corpus grows, so a fixed budget "
        f"keeps runs comparable).</p>"
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _ratio(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if value >= 0.001 else f"{value:.2e}"  # tiny on big corpora


def samples_section(kept: list[dict], stats: dict, text_field: str, label_field: str, k: int) -> Section:
    if not kept or k <= 0:
        note = "No kept records." if not kept else "Sampling disabled (sample_size=0)."
        return Section("samples", "Samples", f'<p class="muted">{note}</p>', note.rstrip(".").lower())
    if stats["labels"] is None:
        return Section(
            "samples",
            "Samples",
            _sample_list([kept[i] for i in evenly_spaced(len(kept), k)], text_field),
        )
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(kept):
        groups[_label_key(r, label_field)].append(i)
    body = ""
    for lab in list(stats["labels"]["counts"])[:MAX_SAMPLE_LABELS]:  # largest labels first
        idx = groups[lab]
        body += f"<h3>{escape(label_field)} = <code>{escape(lab)}</code></h3>"
        body += _sample_list([kept[idx[j]] for j in evenly_spaced(len(idx), k)], text_field)
    if len(groups) > MAX_SAMPLE_LABELS:
        body += (
            f'<p class="muted">Samples shown for the {MAX_SAMPLE_LABELS} largest labels only.</p>'
        )
    return Section("samples", "Samples", body)


def _sample_list(records: list[dict], text_field: str) -> str:
    items = []
    for r in records:
        rid = f'<div class="rid">{escape(as_text(r.get("id")))}</div>' if "id" in r else ""
        text = escape(_clip(as_text(r.get(text_field)), SAMPLE_CHARS))
        items.append(f'<li>{rid}<div class="text">{text or "<em>(empty)</em>"}</div></li>')
    return f'<ol class="samples">{"".join(items)}</ol>'


# --------------------------------------------------------------------------- page


def render_report(
    metrics: dict,
    kept: list[dict],
    dropped: list[dict],
    *,
    text_field: str = "text",
    label_field: str = "label",
    sample_size: int = 5,
    extra_sections: Sequence[tuple[str, str]] = (),
    lead_sections: Sequence[tuple[str, str]] = (),
) -> str:
    """A report of the run's own statistics as one HTML string: ``lead_sections`` first,
    ``extra_sections`` after the funnel, drops, labels and lengths, kept samples last; both
    are (title, trusted html). A run's full report (verdict first, audit and experiment
    beside the reference) is :func:`synthpipe.report.run_report.render_run_report`."""
    kept, dropped = list(kept), list(dropped)
    steps = [s for s in metrics.get("steps") or [] if isinstance(s, dict)]
    stats = build_stats(kept, text_field=text_field, label_field=label_field)
    sections: list[Section | None] = [Section(f"lead-{i}", str(t), body) for i, (t, body) in enumerate(lead_sections)]
    sections += [
        funnel_section(steps, generated_count(metrics, steps)),
        drop_reasons_section(metrics, steps, dropped, text_field, sample_size),
        labels_section(stats),
        lengths_section(stats),
    ]
    sections += [Section(f"extra-{i}", str(t), body) for i, (t, body) in enumerate(extra_sections)]
    sections.append(samples_section(kept, stats, text_field, label_field, sample_size))
    header = header_html(metrics, steps, metrics.get("kept", len(kept)), metrics.get("dropped", len(dropped)))
    return page_html(metrics, header, [s for s in sections if s is not None])


def page_html(metrics: dict, header: str, sections: Sequence[Section], script: str = "") -> str:
    """The HTML document: header, in-page nav, sections, footer, and an inline ``script``."""
    run = metrics.get("run") or {}
    version = run.get("synthpipe_version") or _package_version()
    title = escape(f"{run.get('name') or 'run'} · synthpipe report")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{CSS}</style></head><body><main>"
        + header
        + _nav(sections)
        + "".join(section_html(s) for s in sections)
        + f"<footer>generated by synthpipe {escape(str(version))}</footer></main>"
        + (f"<script>{script}</script>" if script else "")
        + "</body></html>\n"
    )


def _package_version() -> str:
    from synthpipe import __version__

    return __version__


def write_report(
    run_dir: Path, metrics: dict, kept: list[dict], dropped: list[dict], **kw: Any
) -> Path:
    """Write ``run_dir/report.html`` atomically (as every output: a reader or a crash never sees
    a half-written file, and its mode follows the umask like the other outputs)."""
    target = Path(run_dir) / "report.html"
    page = render_report(metrics, kept, dropped, **kw)
    with atomic_path(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return target


CSS = """
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f8fafc;--card:#fff;--accent:#0072B2}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1100px;margin:0 auto;padding:32px 24px 48px}
h1{font-size:28px;margin:0 0 8px}
h2{font-size:20px;margin:0 0 16px;padding-bottom:8px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:20px 0 8px}
.eyebrow{margin:0;color:var(--muted);text-transform:uppercase;letter-spacing:.08em;font-size:12px}
.meta{display:flex;flex-wrap:wrap;gap:4px 28px;margin:0 0 20px}
.meta dt{font-size:12px;color:var(--muted)}.meta dd{margin:0;font-weight:500;word-break:break-all}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px}
.card{background:var(--card);border:1px solid var(--line);border-top:4px solid var(--accent);border-radius:8px;padding:14px 16px}
.card.good{border-top-color:#009E73}.card.bad{border-top-color:#D55E00}.card.warn{border-top-color:#E69F00}
.big{font-size:28px;font-weight:650;font-variant-numeric:tabular-nums}.cap{color:var(--muted);font-size:13px}
nav{display:flex;flex-wrap:wrap;gap:8px;margin:24px 0}
nav a{color:var(--accent);text-decoration:none;border:1px solid var(--line);background:var(--card);border-radius:999px;padding:3px 12px;font-size:13px}
.verdict{margin:16px 0 0;background:var(--card);border:1px solid var(--line);border-left:6px solid var(--accent);border-radius:8px;padding:10px 16px}
.verdict p{margin:2px 0}.verdict.good{border-left-color:#009E73}.verdict.bad{border-left-color:#D55E00}.verdict.same{border-left-color:#E69F00}.verdict.none{border-left-color:#9ca3af}
.verdict p:last-child{font-size:17px;font-weight:550}.verdict a{font-size:13px;font-weight:400;color:var(--accent)}
.lights{margin:12px 0 0}.lights div{display:flex;flex-wrap:wrap;gap:6px 10px;align-items:center}
.light{display:inline-flex;align-items:center;gap:6px;border:1px solid var(--line);background:var(--card);border-radius:999px;padding:2px 10px;font-size:13px;color:var(--ink);text-decoration:none}
.light i{width:11px;height:11px;border-radius:50%;display:inline-block}.light b{font-weight:600;color:var(--muted)}
section.collapsed{padding:8px 24px}section.collapsed details{border:none;padding:0;margin:0}
section.collapsed summary h2{display:inline;border:none;font-size:17px;margin:0;padding:0}
.why{color:var(--muted);font-size:13px;margin-left:12px}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}.pair h4{margin:4px 0}
.map{position:relative}.map svg{cursor:grab;touch-action:none;border:1px solid var(--line);border-radius:6px}
.map-reset{position:absolute;right:0;top:0;font-size:12px;border:1px solid var(--line);background:var(--card);border-radius:6px;padding:2px 8px;cursor:pointer}
.map-hover{min-height:1.5em;font-size:13px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:20px 24px;margin:0 0 20px;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0 16px}
th{text-align:left;color:var(--muted);font-weight:600;border-bottom:2px solid var(--line);padding:6px 8px;white-space:nowrap}
td{border-bottom:1px solid var(--line);padding:6px 8px;vertical-align:top}
tbody tr:nth-child(even){background:#f9fafb}
.num{font-variant-numeric:tabular-nums;white-space:nowrap}
table.funnel td:nth-child(n+4):nth-child(-n+6),table.quantiles td:not(:first-child){text-align:right}
table.kv,table.quantiles{width:auto;min-width:50%}
table.quantiles td,table.quantiles th{padding:6px 14px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f5f9;padding:1px 4px;border-radius:4px}
.pill{background:#e0f2fe;color:#075985;border-radius:999px;padding:1px 8px;font-size:12px}
.muted{color:var(--muted)}
svg.chart{display:block;max-width:100%;height:auto;margin:8px 0}
details{margin:8px 0;border:1px solid var(--line);border-radius:6px;padding:6px 12px}
summary{cursor:pointer}
ul.examples,ol.samples{margin:8px 0;padding-left:20px}
ul.examples li,ol.samples li{margin:6px 0;padding:6px 0;border-bottom:1px dashed var(--line)}
.text{white-space:pre-wrap;word-break:break-word}
.rid{font:12px ui-monospace,Menlo,Consolas,monospace;color:var(--muted)}
.detail{font-size:12px;color:#9a3412;margin-top:2px}
footer{text-align:center;color:var(--muted);font-size:12px;margin-top:32px}
@media print{body{background:#fff}section{break-inside:avoid;border:none}nav{display:none}}
"""


def llm_usage_section(llm: dict) -> tuple[str, str]:
    """("LLM usage", html): requests, cache hits, retries, failures, truncated replies, tokens
    and cost per endpoint."""
    columns = ("requests", "cached", "cache_hit_rate", "retries", "failures", "truncated", "prompt_tokens",
               "completion_tokens", "cost", "requests_per_s", "tokens_per_s")  # fmt: skip
    rows = [
        [escape(name), *(_num(stats.get(c)) if stats.get(c) is not None else "-" for c in columns)]
        for name, stats in (llm.get("endpoints") or {}).items()
    ]
    spent = llm.get("budget") or {}
    note = (
        f"<p class=\"muted\">Run budget spent so far: {spent.get('spent_requests', 0)} requests, "
        f"{spent.get('spent_tokens', 0)} tokens, cost {spent.get('spent_cost', 0)}. Cached replies are free.</p>"
    )
    return "LLM usage", html_table(["endpoint", *(c.replace("_", " ") for c in columns)], rows) + note
