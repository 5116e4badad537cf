"""The server-drawn SVG charts: round axis ticks, units, every bar with its value, escaping."""

from __future__ import annotations

import re

import pytest

from engine.console.charts import bar_chart, nice_ceiling, responsive_bar_chart, usd


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1.0), (0.7, 1.0), (3, 5.0), (7, 10.0), (12, 20.0), (21, 25.0), (0.0027, 0.005)]
)
def test_nice_ceiling(value: float, ceiling: float) -> None:
    assert nice_ceiling(value) == pytest.approx(ceiling)


def test_a_chart_has_axes_units_labels_and_a_value_per_bar() -> None:
    svg = bar_chart([("12-01", 3.0), ("12-02", 0.0), ("12-03", 12.0)], title="Requests per day", unit="requests")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    ticks = re.findall(r'<text class="tick" [^>]*text-anchor="end">([^<]+)</text>', svg)
    assert ticks == ["0", "4", "8", "12", "16", "20"]
    assert ">requests</text>" in svg and ">day (UTC)</text>" in svg and ">Requests per day</text>" in svg
    assert re.findall(r"<title>([^<]+)</title>", svg) == [
        "12-01: 3 requests",
        "12-02: 0 requests",
        "12-03: 12 requests",
    ]
    heights = [float(h) for h in re.findall(r'<rect class="bar" [^>]*height="([0-9.]+)"', svg)]
    assert heights[1] == 0 and heights[2] == pytest.approx(heights[0] * 4)


def test_small_counts_get_whole_number_ticks_and_money_is_dollars() -> None:
    svg = bar_chart([("d", 1.0)], title="t", unit="requests")
    assert re.findall(r'text-anchor="end">([^<]+)</text>', svg) == ["0", "1", "2", "3", "4", "5"]
    assert usd(0.0025) == "$0.0025" and usd(12.5) == "$12.50" and usd(0) == "$0"


def test_labels_are_escaped_and_an_empty_chart_says_so() -> None:
    svg = bar_chart([("<b>x</b>", 1.0)], title="<script>", unit="a&b")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;b&gt;x&lt;/b&gt;" in svg and "a&amp;b" in svg
    assert "no data yet" in bar_chart([], title="t", unit="u")


def test_the_responsive_chart_draws_a_wide_and_a_narrow_version() -> None:
    both = responsive_bar_chart([("d", 2.0)], title="t", unit="u")
    assert both.count("<svg") == 2 and 'class="chart chart-wide"' in both and 'class="chart chart-narrow"' in both
    assert 'viewBox="0 0 400 240"' in both
