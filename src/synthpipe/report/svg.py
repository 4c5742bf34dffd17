"""Tiny inline-SVG chart helpers for the run report (no plotting library needed).

Every bar, bin and point carries a ``<title>`` child: the browser shows its value on hover
with no script. The embedding map's zoom and pan is a few lines of inline JS in the page.

Charts are plain strings meant to be embedded in an HTML5 page: no ``xmlns`` attribute
(inline SVG doesn't need it, and the report must contain no external URLs), a ``viewBox``
so they scale with the page, and ``role="img"`` plus a ``<title>`` for screen readers.
Every label passes through :func:`html.escape` because labels come from user data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

import numpy as np

# Okabe-Ito colours: distinguishable under the common colour-vision deficiencies, and dark
# enough for >= 3:1 contrast against white (WCAG for graphics).
BLUE = "#0072B2"
VERMILLION = "#D55E00"
GREEN = "#009E73"
PURPLE = "#CC79A7"
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"

FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif\""
CHAR_W = 6.6  # rough width of one 12px character, enough to size label columns


def fmt_num(value: float) -> str:
    """Thousands separators for integers, 3 significant-ish digits otherwise."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.1f}"


def _clip(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _svg_open(width: float, height: float, title: str) -> str:
    t = escape(title)
    return (
        f'<svg class="chart" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'role="img" aria-label="{t}" {FONT} font-size="12"><title>{t}</title>'
    )


def _text_width(text: str) -> float:
    """Rough rendered width at 12px: capitals and digits are wider than lowercase."""
    return sum(CHAR_W * (1.35 if c.isupper() or c.isdigit() else 1.0) for c in text)


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str = "bar chart",
    value_labels: Sequence[str] | None = None,
    color: str = BLUE,
    width: int = 760,
    bar_height: int = 22,
    max_label_chars: int = 40,
) -> str:
    """Horizontal bars, one per ``(label, value)``; the value (or ``value_labels[i]``) is
    printed right of each bar so numbers stay readable without hovering."""
    if not items:
        return f'<p class="muted">No data to chart: {escape(title)}.</p>'
    labels = [_clip(str(label), max_label_chars) for label, _ in items]
    texts = list(value_labels) if value_labels is not None else [fmt_num(v) for _, v in items]
    label_w = max(_text_width(s) for s in labels) + 16
    value_w = max(_text_width(s) for s in texts) + 12
    plot_w = max(width - label_w - value_w, 80)
    top = max((v for _, v in items), default=0) or 1
    gap = 6
    height = len(items) * (bar_height + gap) + gap
    parts = [_svg_open(width, height, title)]
    for i, ((full, value), label, text) in enumerate(zip(items, labels, texts, strict=True)):
        y = gap + i * (bar_height + gap)
        w = max(plot_w * max(value, 0) / top, 1 if value > 0 else 0)
        mid = y + bar_height / 2 + 4  # +4 centres 12px text vertically
        parts.append(
            f"<g><title>{escape(str(full))}: {escape(text)}</title>"
            f'<text x="{label_w - 8:.1f}" y="{mid:.1f}" text-anchor="end" fill="{INK}">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w:.1f}" y="{y}" width="{w:.1f}" height="{bar_height}" rx="2" '
            f'fill="{color}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{mid:.1f}" fill="{INK}">{escape(text)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def integer_bins(values: np.ndarray, max_bins: int = 20) -> tuple[list[int], list[int]]:
    """Histogram of non-negative integer data with integer-aligned bins of equal width.

    Returns ``(edges, counts)`` with ``len(edges) == len(counts) + 1``; bin ``i`` holds
    ``edges[i] <= v < edges[i + 1]``. Integer edges make labels like "10-14 words" exact.
    """
    if values.size == 0:
        return [], []
    lo, hi = int(values.min()), int(values.max())
    step = max(1, math.ceil((hi - lo + 1) / max_bins))
    counts = np.bincount((values.astype(np.int64) - lo) // step)
    edges = [lo + i * step for i in range(len(counts) + 1)]
    return edges, counts.tolist()


def histogram(
    values: Sequence[float] | np.ndarray,
    bins: int = 20,
    *,
    title: str = "histogram",
    x_label: str = "value",
    color: str = BLUE,
) -> str:
    """Histogram of raw values (integer values get integer-aligned bins)."""
    arr = np.asarray(values, dtype=float)
    if arr.size and np.all(arr == np.round(arr)) and arr.min() >= 0:
        edges, counts = integer_bins(arr.astype(np.int64), bins)
    else:
        c, e = np.histogram(arr, bins=bins) if arr.size else ([], [])
        edges, counts = list(e), list(c)
    return histogram_from_bins(edges, counts, title=title, x_label=x_label, color=color)


def _edge_label(edges: Sequence[float], i: int) -> str:
    lo, hi = edges[i], edges[i + 1]
    integral = all(float(e).is_integer() for e in edges)
    if integral and hi - lo == 1:
        return fmt_num(lo)
    if integral:
        return f"{fmt_num(lo)}–{fmt_num(hi - 1)}"
    return f"{fmt_num(lo)}–{fmt_num(hi)}"


def histogram_from_bins(
    edges: Sequence[float],
    counts: Sequence[int],
    *,
    title: str = "histogram",
    x_label: str = "value",
    y_label: str = "records",
    color: str = BLUE,
    width: int = 760,
    height: int = 260,
    tick: Callable[[Sequence[float], int], str] = _edge_label,
) -> str:
    """Vertical bars from precomputed bins; counts are printed above bars when they fit."""
    if not counts:
        return f'<p class="muted">No data to chart: {escape(title)}.</p>'
    left, right, top_pad, bottom = 64, 12, 22, 52
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = max(counts) or 1
    slot = plot_w / len(counts)
    show_counts = slot >= 26  # below that, numbers collide; the <title> still has them
    label_every = max(1, math.ceil(len(counts) / (plot_w / 70)))  # ~70px per x label
    base = top_pad + plot_h
    parts = [_svg_open(width, height, title)]
    parts.append(_y_axis(left, top_pad, plot_w, plot_h, top))
    for i, n in enumerate(counts):
        x = left + i * slot + 1
        h = plot_h * n / top
        label = tick(edges, i)
        parts.append(
            f"<g><title>{escape(x_label)} {escape(label)}: {fmt_num(n)} {escape(y_label)}</title>"
            f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{max(slot - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{color}"/></g>'
        )
        cx = x + slot / 2 - 1
        if show_counts and n:
            parts.append(
                f'<text x="{cx:.1f}" y="{base - h - 4:.1f}" text-anchor="middle" '
                f'font-size="10" fill="{INK}">{fmt_num(n)}</text>'
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{cx:.1f}" y="{base + 15:.1f}" text-anchor="middle" font-size="10" '
                f'fill="{MUTED}">{escape(label)}</text>'
            )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 10}" text-anchor="middle" '
        f'fill="{INK}">{escape(x_label)}</text>'
        f'<text transform="translate(12 {top_pad + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" fill="{INK}">{escape(y_label)}</text></svg>'
    )
    return "".join(parts)


def nice_step(top: float, target_ticks: int = 4, minimum: float = 1) -> float:
    """A 1/2/5 x 10^k tick step giving about `target_ticks` gridlines up to `top`
    (never below `minimum`, so record counts don't get fractional ticks)."""
    raw = max(top / target_ticks, minimum)
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def _y_axis(left: float, top_pad: float, plot_w: float, plot_h: float, top: float) -> str:
    """Baseline plus gridlines at round values so bar heights can be read off."""
    out = []
    step = nice_step(top)
    for k in range(int(top // step) + 1):
        value = k * step
        y = top_pad + plot_h * (1 - value / top)
        out.append(
            f'<line x1="{left}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{INK if k == 0 else GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10" '
            f'fill="{MUTED}">{fmt_num(value)}</text>'
        )
    return "".join(out)


def _legend(x: float, y: float, entries: Sequence[tuple[str, str]]) -> str:
    out = []
    for label, color in entries:
        out.append(
            f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14:.1f}" y="{y:.1f}" fill="{INK}">{escape(label)}</text>'
        )
        x += _text_width(label) + 34
    return "".join(out)


SERIES_COLORS = (BLUE, VERMILLION, GREEN, PURPLE, "#E69F00", "#56B4E9")


def paired_bars(
    items: Sequence[tuple[str, float | None, float | None]],
    *,
    names: tuple[str, str] = ("synthetic", "reference"),
    title: str = "paired bars",
    width: int = 760,
    bar_height: int = 10,
    max_label_chars: int = 34,
    percent: bool = True,
) -> str:
    """Two horizontal bars per label (``(label, first, second)``; None = not measured, drawn
    as no bar and a dash), for comparing shares of two datasets side by side."""
    return grouped_bars([(label, [a, b]) for label, a, b in items], names=names, title=title, width=width,
                        bar_height=bar_height, max_label_chars=max_label_chars, percent=percent)  # fmt: skip


def grouped_bars(
    items: Sequence[tuple[str, Sequence[float | None]]],
    *,
    names: Sequence[str] = ("synthetic", "reference"),
    title: str = "grouped bars",
    width: int = 760,
    bar_height: int = 10,
    max_label_chars: int = 34,
    percent: bool = True,
) -> str:
    """One horizontal bar per series for each label (``(label, [value per series])``; None =
    not measured, drawn as no bar), on one scale; hovering a group shows all its values."""
    if not items:
        return f'<p class="muted">No data to chart: {escape(title)}.</p>'
    colors = SERIES_COLORS[: len(names)]

    def text(v: float | None) -> str:
        return "–" if v is None else (f"{v:.1%}" if percent else fmt_num(v))

    labels = [_clip(str(label), max_label_chars) for label, _ in items]
    label_w = max(_text_width(s) for s in labels) + 16
    value_w = 56
    plot_w = max(width - label_w - value_w, 80)
    top = max((v or 0 for _, vs in items for v in vs), default=0) or 1
    group = len(names) * bar_height + 10
    legend_h = 22
    height = legend_h + len(items) * group + 4
    parts = [_svg_open(width, height, title), _legend(label_w, 14, list(zip(names, colors, strict=True)))]
    for i, ((full, values), label) in enumerate(zip(items, labels, strict=True)):
        y = legend_h + i * group
        tip = ", ".join(f"{n} {text(v)}" for n, v in zip(names, values, strict=True))
        parts.append(
            f"<g><title>{escape(str(full))}: {escape(tip)}</title>"
            f'<rect x="0" y="{y - 2}" width="{width}" height="{group - 6}" fill="transparent"/>'
            f'<text x="{label_w - 8:.1f}" y="{y + len(names) * bar_height / 2 + 4:.1f}" text-anchor="end" '
            f'fill="{INK}">{escape(label)}</text>'
        )
        for j, (value, color) in enumerate(zip(values, colors, strict=True)):
            if value is None:
                continue
            by = y + j * bar_height
            w = max(plot_w * max(value, 0) / top, 1 if value > 0 else 0)
            parts.append(
                f'<rect x="{label_w:.1f}" y="{by}" width="{w:.1f}" height="{bar_height - 1}" '
                f'fill="{color}"/><text x="{label_w + w + 4:.1f}" y="{by + bar_height - 1}" '
                f'font-size="10" fill="{INK}">{text(value)}</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def overlaid_histogram(
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    title: str = "histogram",
    x_label: str = "value",
    max_bins: int = 20,
    width: int = 760,
    height: int = 280,
) -> str:
    """Histograms of several sets of non-negative integers on SHARED integer bins, as grouped
    bars of each set's share of its records (sets of different sizes compare alike)."""
    arrays = [(name, np.asarray(v, dtype=np.int64)) for name, v in series if len(v)]
    if not arrays:
        return f'<p class="muted">No data to chart: {escape(title)}.</p>'
    edges, _ = integer_bins(np.concatenate([a for _, a in arrays]), max_bins)
    lo, step = edges[0], edges[1] - edges[0]
    nbins = len(edges) - 1
    shares = [np.bincount((a - lo) // step, minlength=nbins) / a.size for _, a in arrays]
    left, right, top_pad, bottom = 64, 12, 30, 52
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = float(max(s.max() for s in shares)) or 1
    slot = plot_w / nbins
    bar_w = max((slot - 3) / len(arrays), 1)
    base = top_pad + plot_h
    colors = SERIES_COLORS
    parts = [_svg_open(width, height, title)]
    parts.append(_legend(left, 14, [(f"{n} ({a.size:,})", colors[i]) for i, (n, a) in enumerate(arrays)]))
    parts.append(_y_axis_share(left, top_pad, plot_w, plot_h, top))
    label_every = max(1, math.ceil(nbins / (plot_w / 70)))
    for i in range(nbins):
        x0 = left + i * slot + 1
        label = _edge_label(edges, i)
        tip = "; ".join(f"{n} {s[i]:.1%}" for (n, _), s in zip(arrays, shares, strict=True))
        parts.append(f"<g><title>{escape(x_label)} {escape(label)}: {escape(tip)}</title>"
                     f'<rect x="{x0:.1f}" y="{top_pad}" width="{slot - 1:.1f}" height="{plot_h}" fill="transparent"/>')  # fmt: skip
        for j, s in enumerate(shares):
            h = plot_h * float(s[i]) / top
            parts.append(f'<rect x="{x0 + j * bar_w:.1f}" y="{base - h:.1f}" width="{bar_w:.1f}" '
                         f'height="{h:.1f}" fill="{colors[j]}"/>')  # fmt: skip
        parts.append("</g>")
        if i % label_every == 0:
            parts.append(
                f'<text x="{x0 + slot / 2 - 1:.1f}" y="{base + 15:.1f}" text-anchor="middle" font-size="10" '
                f'fill="{MUTED}">{escape(label)}</text>'
            )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 10}" text-anchor="middle" '
        f'fill="{INK}">{escape(x_label)}</text>'
        f'<text transform="translate(12 {top_pad + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" fill="{INK}">share of records</text></svg>'
    )
    return "".join(parts)


def _y_axis_share(left: float, top_pad: float, plot_w: float, plot_h: float, top: float) -> str:
    """Gridlines at round percentages up to ``top`` (a share)."""
    out = []
    step = nice_step(top * 100, minimum=0.5) / 100
    for k in range(int(top / step + 1e-9) + 1):
        value = k * step
        y = top_pad + plot_h * (1 - value / top)
        out.append(
            f'<line x1="{left}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{INK if k == 0 else GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10" '
            f'fill="{MUTED}">{value:.0%}</text>'
        )
    return "".join(out)


def scatter(
    groups: Sequence[tuple[str, Sequence[Sequence[float]], str]],
    *,
    title: str = "scatter",
    width: int = 560,
    height: int = 420,
    radius: float = 2.4,
    snippets: Sequence[Sequence[str] | None] | None = None,
    zoomable: bool = False,
) -> str:
    """Points of several groups (``(name, [[x, y], ...], colour)``) on shared, equal-aspect
    axes, e.g. a 2-D projection of embeddings. Axis values carry no units, so none are drawn.
    ``snippets`` (per group, one text per point) become each point's hover title;
    ``zoomable`` marks the chart for the report's wheel-zoom and drag-pan script."""
    pts = [np.asarray(p, dtype=float).reshape(-1, 2) for _, p, _ in groups]
    if not pts or not sum(len(p) for p in pts):
        return f'<p class="muted">No data to chart: {escape(title)}.</p>'
    allp = np.vstack(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    span = float(max(hi - lo)) or 1.0  # one scale for both axes keeps distances honest
    pad, legend_h = 14, 24
    size = min(width, height - legend_h) - 2 * pad
    cx0 = (width - size) / 2
    parts = [_svg_open(width, height, title)]
    if zoomable:
        parts[0] = parts[0].replace('class="chart"', 'class="chart zoomable"', 1)
    parts.append(_legend(pad, 14, [(f"{name} ({len(p):,})", c) for (name, _, c), p in zip(groups, pts, strict=True)]))
    parts.append(
        f'<rect x="{cx0:.1f}" y="{legend_h + pad:.1f}" width="{size:.1f}" height="{size:.1f}" '
        f'fill="none" stroke="{GRID}"/>'
    )
    off = (span - (hi - lo)) / 2  # centre the shorter axis
    for g, ((name, _, color), p) in enumerate(zip(groups, pts, strict=True)):
        xs = cx0 + (p[:, 0] - lo[0] + off[0]) / span * size
        ys = legend_h + pad + size - (p[:, 1] - lo[1] + off[1]) / span * size
        texts = (snippets[g] if snippets is not None else None) or [None] * len(p)
        dots = "".join(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}">'
            + (f"<title>{escape(name)}: {escape(t)}</title>" if t is not None else "")
            + "</circle>"
            for x, y, t in zip(xs, ys, texts, strict=False)
        )
        parts.append(f'<g fill="{color}" fill-opacity="0.55">{dots}</g>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    series: Sequence[tuple[str, Sequence[tuple[float, float, float | None]]]],
    *,
    title: str = "line chart",
    x_label: str = "x",
    y_label: str = "y",
    log_x: bool = False,
    percent: bool = False,
    references: Sequence[tuple[str, float]] = (),
    width: int = 760,
    height: int = 320,
) -> str:
    """Lines with a shaded ±error band, one per ``(name, [(x, y, err or None), ...])``; e.g. a
    learning curve with mean ± std over seeds. Points are marked, x ticks sit at the data's x
    values, and ``references`` adds dashed horizontal lines ``(label, y)`` (e.g. a baseline).
    Colours follow the Okabe-Ito order; the legend names every series and reference."""
    colors = SERIES_COLORS
    pts = [
        (name, sorted((float(x), float(y), float(e or 0)) for x, y, e in points))
        for name, points in series
        if points
    ]
    if not pts or (log_x and any(x <= 0 for _, p in pts for x, _, _ in p)):
        return f'<p class="muted">No data to chart: {escape(title)}.</p>'

    def text(v: float) -> str:
        return f"{v:.1%}" if percent else fmt_num(v)

    xs = sorted({x for _, p in pts for x, _, _ in p})
    ys = [v for _, p in pts for _, y, e in p for v in (y - e, y + e)] + [y for _, y in references]
    y_lo, y_hi = min(ys), max(ys)
    step = nice_step((y_hi - y_lo) or abs(y_hi) or 1, 4, minimum=0) or 1
    y_lo, y_hi = math.floor(y_lo / step) * step, math.ceil(y_hi / step) * step
    if y_hi <= y_lo:
        y_hi = y_lo + step
    left, right, top_pad, bottom = 64, 28, 30, 48  # right: room for the last x label
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    fx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    x0, x1 = fx(xs[0]), fx(xs[-1])
    span = (x1 - x0) or 1

    def px(x: float) -> float:
        return left + (plot_w / 2 if x1 == x0 else (fx(x) - x0) / span * plot_w)

    def py(y: float) -> float:
        return top_pad + plot_h * (1 - (y - y_lo) / (y_hi - y_lo))

    def tick(v: float) -> str:  # whole percents when the grid step allows it
        return f"{v:.0%}" if percent and round(step * 100, 9).is_integer() else text(v)

    parts = [_svg_open(width, height, title)]
    legend = [(name, colors[i % len(colors)]) for i, (name, _) in enumerate(pts)]
    parts.append(_legend(left, 16, legend))
    x = left + sum(_text_width(name) + 34 for name, _ in legend)
    for label, _ in references:  # dashed swatches, like the lines they name
        parts.append(
            f'<line x1="{x:.1f}" x2="{x + 16:.1f}" y1="12" y2="12" stroke="{MUTED}" '
            f'stroke-width="2" stroke-dasharray="4 3"/>'
            f'<text x="{x + 20:.1f}" y="16" fill="{INK}">{escape(label)}</text>'
        )
        x += _text_width(label) + 40
    for k in range(int(round((y_hi - y_lo) / step)) + 1):
        value = y_lo + k * step
        y = py(value)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{INK if k == 0 else GRID}"/><text x="{left - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end" font-size="10" fill="{MUTED}">{escape(tick(value))}</text>'
        )
    label_every = max(1, math.ceil(len(xs) / max(plot_w / 60, 1)))  # ~60px per x label
    for i, x in enumerate(xs):
        if i % label_every == 0:
            parts.append(
                f'<text x="{px(x):.1f}" y="{top_pad + plot_h + 15}" text-anchor="middle" '
                f'font-size="10" fill="{MUTED}">{escape(fmt_num(x))}</text>'
            )
    for label, value in references:
        y = py(value)
        parts.append(
            f"<g><title>{escape(label)}: {escape(text(value))}</title>"
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{MUTED}" '
            f'stroke-dasharray="5 4"/></g>'
        )
    for (name, p), (_, color) in zip(pts, legend, strict=True):
        upper = " ".join(f"{px(x):.1f},{py(y + e):.1f}" for x, y, e in p)
        lower = " ".join(f"{px(x):.1f},{py(y - e):.1f}" for x, y, e in reversed(p))
        line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y, _ in p)
        parts.append(
            f'<polygon points="{upper} {lower}" fill="{color}" fill-opacity="0.15"/>'
            f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="2"/>'
        )
        for x, y, e in p:
            tip = f"{name}, {x_label} {fmt_num(x)}: {text(y)}" + (f" ± {text(e)}" if e else "")
            parts.append(
                f"<g><title>{escape(tip)}</title>"
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{color}"/></g>'
            )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 10}" text-anchor="middle" '
        f'fill="{INK}">{escape(x_label + (" (log scale)" if log_x else ""))}</text>'
        f'<text transform="translate(12 {top_pad + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" fill="{INK}">{escape(y_label)}</text></svg>'
    )
    return "".join(parts)
