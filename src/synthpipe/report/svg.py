"""Tiny inline-SVG chart helpers for the run report (no plotting library needed).

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
