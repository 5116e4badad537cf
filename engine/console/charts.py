"""Charts as plain SVG, drawn on the server: a bar chart with a y axis (ticks, unit), x labels,
a title, and each bar's value on hover (``<title>``). Pure: values in, markup out; every
label is escaped here. The SVG scales to its container (``viewBox``), so it fits a phone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

Format = Callable[[float], str]


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n that is at least ``value`` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def plain(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def usd(value: float) -> str:
    if value == 0:
        return "$0"
    return f"${value:,.2f}" if value >= 1 else f"${value:.5f}".rstrip("0")


def bar_chart(
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    unit: str,
    fmt: Format = plain,
    size: tuple[int, int] = (720, 260),
    css_class: str = "chart",
) -> str:
    """``points``: (x label, value) in order. ``unit`` names the y axis (e.g. "requests");
    ``size``: the drawing's (width, height) in its own units."""
    width, height = size
    left, right, top, bottom = 84, 12, 28, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = nice_ceiling(max((v for _, v in points), default=0.0))
    if fmt is plain and peak < 5:  # counts: whole-number ticks
        peak = 5.0
    parts = [
        f'<svg class="{escape(css_class)}" role="img" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">',
        f'<text class="chart-title" x="{left}" y="16">{escape(title)}</text>',
    ]
    for i in range(6):  # y grid and ticks: 0, 1/5 ... peak (a 1-2-2.5-5 peak gives round fifths)
        value = peak * i / 5
        y = top + plot_h - plot_h * i / 5
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>')
    parts.append(
        f'<text class="axis-label" transform="translate(12 {top + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{escape(unit)}</text>'
    )
    parts.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}"/>')
    parts.append(f'<line class="axis" x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    if not points:
        middle = f'x="{left + plot_w / 2}" y="{top + plot_h / 2}"'
        parts.append(f'<text class="empty" {middle} text-anchor="middle">no data yet</text>')
    slot = plot_w / max(len(points), 1)
    every = max(1, math.ceil(len(points) / max(2, plot_w // 80)))  # an x label per 80 units at most
    for index, (label, value) in enumerate(points):
        bar_h = plot_h * value / peak
        x = left + index * slot + slot * 0.15
        y = top + plot_h - bar_h
        text = f"{label}: {fmt(value)} {unit}"
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{bar_h:.1f}">'
            f"<title>{escape(text)}</title></rect>"
        )
        if len(points) <= 12 and value > 0:
            parts.append(
                f'<text class="value" x="{x + slot * 0.35:.1f}" y="{y - 4:.1f}" text-anchor="middle">'
                f"{escape(fmt(value))}</text>"
            )
        if index % every == 0:
            parts.append(
                f'<text class="tick" x="{x + slot * 0.35:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    parts.append(
        f'<text class="axis-label" x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">day (UTC)</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def responsive_bar_chart(points: Sequence[tuple[str, float]], *, title: str, unit: str, fmt: Format = plain) -> str:
    """Two drawings of one chart: a wide one, and a narrow one the stylesheet shows on phones
    instead (the same text scaled down into a phone's width would be too small to read)."""
    wide = bar_chart(points, title=title, unit=unit, fmt=fmt, css_class="chart chart-wide")
    narrow = bar_chart(points, title=title, unit=unit, fmt=fmt, size=(400, 240), css_class="chart chart-narrow")
    return wide + narrow
