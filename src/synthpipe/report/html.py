"""The run report: one self-contained HTML file (inline CSS and SVG, no JS, no URLs).

``build_stats`` summarises the kept records, ``render_report`` turns metrics + records
into HTML, ``write_report`` puts it at ``run_dir/report.html`` atomically. Everything that
comes from data or config is HTML-escaped; only ``extra_sections`` bodies are trusted HTML.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from synthpipe.data.sampling import evenly_spaced
from synthpipe.data.writers import atomic_path
from synthpipe.report import svg
from synthpipe.report.format import format_value
from synthpipe.text.ngrams import ngram_counts

QUANTILES = {"min": 0, "p5": 5, "p25": 25, "median": 50, "p75": 75, "p95": 95, "max": 100}
MISSING_LABEL = "(missing)"
EXAMPLE_CHARS = 300  # dropped examples: enough to see why, short enough to skim
SAMPLE_CHARS = 2000  # kept samples: keeps the file small even with long documents
MAX_BARS = 30  # charts beyond this stop being readable; the rest are summarised
MAX_SAMPLE_LABELS = 20
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


def _distribution(values: np.ndarray) -> dict[str, Any]:
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
        "length": {"words": _distribution(words), "chars": _distribution(chars)},
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
    """A two-column ``metric | value`` table; names and values are escaped here."""
    rows = [[escape(k), f'<span class="num">{escape(format_value(v))}</span>'] for k, v in pairs]
    return html_table(["metric", "value"], rows, "kv")


Section = tuple[str, str, str]  # (anchor, plain-text title, html body)


def _section_html(anchor: str, title: str, body: str) -> str:
    return f'<section id="{escape(anchor)}"><h2>{escape(title)}</h2>{body}</section>'


def _nav(sections: list[Section]) -> str:
    """In-page links (fragment-only hrefs, so still no external URLs)."""
    links = "".join(f'<a href="#{escape(a)}">{escape(t)}</a>' for a, t, _ in sections)
    return f"<nav>{links}</nav>"


# --------------------------------------------------------------------------- sections


def _generated(metrics: dict, steps: list[dict]) -> int:
    """Records that entered the pipeline: what sources produced, else what step 1 saw."""
    sources = [s for s in steps if s.get("kind") == "source"]
    if sources:
        return int(sum(s.get("out") or 0 for s in sources))
    if steps:
        return int(steps[0].get("in") or 0)
    return int((metrics.get("kept") or 0) + (metrics.get("dropped") or 0))


def _header(metrics: dict, steps: list[dict], n_kept: int, n_dropped: int) -> str:
    run = metrics.get("run") or {}
    facts = [
        ("Recipe", run.get("recipe")),
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
    generated = _generated(metrics, steps)
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
        f'<dl class="meta">{meta}</dl><div class="cards">{tiles}</div></header>'
    )


def _top_reasons(reasons: dict, k: int = 3) -> str:
    top = sorted((reasons or {}).items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    more = len(reasons or {}) - len(top)
    cells = ", ".join(f"{escape(str(r))} <span class=num>({_num(n)})</span>" for r, n in top)
    return (cells + (f' <span class="muted">+{more} more</span>' if more > 0 else "")) or "–"


def _funnel(steps: list[dict], generated: int) -> Section:
    if not steps:
        return ("funnel", "Funnel", '<p class="muted">No steps recorded.</p>')
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
    return ("funnel", "Funnel", body)


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


def _drop_reasons(
    metrics: dict, steps: list[dict], dropped: list[dict], text_field: str, k: int
) -> Section:
    counts = _reason_counts(steps, dropped)
    quarantine = metrics.get("quarantine_reasons") or {}
    if not counts and not quarantine:
        return ("drops", "Drop reasons", '<p class="muted">Nothing was dropped.</p>')
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
    return ("drops", "Drop reasons", body)


def _labels(stats: dict) -> Section | None:
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
    return ("labels", f"Label balance ({len(items)} labels)", chart + note)


def _lengths(stats: dict) -> Section:
    words, chars = stats["length"]["words"], stats["length"]["chars"]
    cols = [*QUANTILES, "mean"]
    rows = [
        [escape(name)] + [f'<span class="num">{_num(_round(d[c]))}</span>' for c in cols]
        for name, d in (("words", words), ("chars", chars))
    ]
    diversity = [
        ["Distinct texts", f"{_num(stats['distinct_texts'])} of {_num(stats['count'])}"],
        ["distinct-1 (unique words / words)", _ratio(stats["distinct_1"])],
        ["distinct-2 (unique bigrams / bigrams)", _ratio(stats["distinct_2"])],
    ]
    chart = svg.histogram_from_bins(
        words["hist"]["edges"],
        words["hist"]["counts"],
        title="Kept records by length in words",
        x_label="words per record",
    )
    body = (
        chart
        + html_table(["", *cols], rows, "quantiles")
        + "<h3>Diversity</h3>"
        + html_table(["Measure", "Value"], ([escape(a), b] for a, b in diversity), "kv")
        + _distinct_note(stats)
    )
    return ("lengths", "Length distribution", body)


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


def _samples(kept: list[dict], stats: dict, text_field: str, label_field: str, k: int) -> Section:
    if not kept or k <= 0:
        note = "No kept records." if not kept else "Sampling disabled (sample_size=0)."
        return ("samples", "Samples", f'<p class="muted">{note}</p>')
    if stats["labels"] is None:
        return (
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
    return ("samples", "Samples", body)


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
    """The whole report as one HTML string. ``lead_sections`` (e.g. the audit summary) come
    first, ``extra_sections`` after the run's own statistics, kept samples last; both are
    (title, trusted html)."""
    kept, dropped = list(kept), list(dropped)
    steps = [s for s in metrics.get("steps") or [] if isinstance(s, dict)]
    stats = build_stats(kept, text_field=text_field, label_field=label_field)
    sections: list[Section | None] = [(f"lead-{i}", str(t), body) for i, (t, body) in enumerate(lead_sections)]
    sections += [
        _funnel(steps, _generated(metrics, steps)),
        _drop_reasons(metrics, steps, dropped, text_field, sample_size),
        _labels(stats),
        _lengths(stats),
    ]
    sections += [(f"extra-{i}", str(t), body) for i, (t, body) in enumerate(extra_sections)]
    sections.append(_samples(kept, stats, text_field, label_field, sample_size))
    shown = [s for s in sections if s is not None]
    run = metrics.get("run") or {}
    version = run.get("synthpipe_version") or _package_version()
    title = escape(f"{run.get('name') or 'run'} · synthpipe report")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{CSS}</style></head><body><main>"
        + _header(
            metrics, steps, metrics.get("kept", len(kept)), metrics.get("dropped", len(dropped))
        )
        + _nav(shown)
        + "".join(_section_html(*s) for s in shown)
        + f"<footer>generated by synthpipe {escape(str(version))}</footer></main></body></html>\n"
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
