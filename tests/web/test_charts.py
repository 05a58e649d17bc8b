"""The server-side SVG charts: downsampling, steps, axes and accessibility hooks."""

from __future__ import annotations

import datetime as dt
import math
import re
import xml.etree.ElementTree as ET

from scoring.calibration import CalibrationBin
from web import charts

UTC = dt.UTC
T0 = dt.datetime(2025, 1, 1, tzinfo=UTC)


def series(n: int, *, seconds: float = 60.0):
    return [(T0 + dt.timedelta(seconds=i * seconds), (i % 97) / 100 + 0.005) for i in range(n)]


def test_short_series_is_kept_whole():
    pts = series(100)
    assert charts.downsample_steps(pts) == pts


def test_long_series_is_thinned_to_the_limit_keeping_first_and_last():
    pts = series(100_000)
    out = charts.downsample_steps(pts)
    assert len(out) <= charts.MAX_POINTS
    assert out[0] == pts[0]
    assert out[-1] == pts[-1]
    assert [p[0] for p in out] == sorted(p[0] for p in out)


def test_downsampling_keeps_only_values_the_series_took_at_bucket_ends():
    # A burst of events followed by a long quiet period: the quiet value must survive.
    burst = [(T0 + dt.timedelta(seconds=i), 0.1 + (i % 50) / 100) for i in range(5000)]
    quiet = [(T0 + dt.timedelta(days=30), 0.9)]
    out = charts.downsample_steps(burst + quiet, max_points=50)
    assert out[-1] == quiet[0]
    assert set(out) <= set(burst + quiet)


def test_identical_times_collapse_to_first_and_last():
    pts = [(T0, 0.1 * (i % 9) + 0.05) for i in range(1000)]
    assert charts.downsample_steps(pts) == [pts[0], pts[-1]]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg))


def test_question_chart_is_valid_accessible_svg_with_step_line():
    crowd = [(t, p, p, p) for t, p in series(2000, seconds=3600)]
    svg = charts.question_chart(
        start=T0, end=T0 + dt.timedelta(days=90), crowd=crowd, own=[(T0, 0.4), (T0, None)]
    )
    root = parse(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("role") == "img"
    assert root.find(f"{ns}title").text == "Crowd forecast over time"
    path = next(p for p in root.iter(f"{ns}path") if p.get("class") == "line crowd")
    d = path.get("d")
    assert d.startswith("M") and "V" in d and "H" in d  # horizontal, then vertical: steps
    assert len(re.findall(r"V", d)) < charts.MAX_POINTS


def test_question_chart_holds_the_last_value_to_the_end():
    end = T0 + dt.timedelta(days=10)
    svg = str(charts.question_chart(start=T0, end=end, crowd=[(T0, 0.5, None, None)]))
    d = re.search(r'class="line crowd" d="([^"]+)"', svg).group(1)
    assert d.endswith("H740")  # the right edge of the plot


def test_withdrawn_crowd_breaks_the_line():
    crowd = [
        (T0, 0.5, 0.5, 0.5),
        (T0 + dt.timedelta(days=1), None, None, None),
        (T0 + dt.timedelta(days=2), 0.7, 0.7, 0.7),
    ]
    svg = str(charts.question_chart(start=T0, end=T0 + dt.timedelta(days=3), crowd=crowd))
    assert len(re.findall(r'<path class="line crowd"', svg)) == 2


def test_milestone_chart_draws_benchmark_axis_and_threshold():
    milestone = charts.Milestone(
        name="METR",
        unit="minutes",
        results=[
            (T0 - dt.timedelta(days=300), 40.0, "o1"),
            (T0 + dt.timedelta(days=20), 700.0, "x"),
        ],
        threshold=6000,
        comparator="≥",
    )
    svg = str(
        charts.question_chart(
            start=T0,
            end=T0 + dt.timedelta(days=60),
            crowd=[(T0, 0.2, 0.2, 0.2)],
            milestone=milestone,
        )
    )
    parse(svg)
    assert 'class="threshold"' in svg
    assert "threshold ≥ 6,000" in svg
    assert 'class="line bench"' in svg
    assert "x: 700 minutes" in svg


def test_hidden_crowd_chart_says_why():
    svg = str(
        charts.question_chart(
            start=T0, end=T0 + dt.timedelta(days=1), crowd_hidden_reason="Make your forecast first."
        )
    )
    assert "Make your forecast first." in svg
    assert '<path class="line crowd"' not in svg


def test_text_is_escaped():
    svg = str(
        charts.benchmark_chart(
            name="<b>", unit="%", results=[(T0, 50.0, "<script>alert(1)</script>")]
        )
    )
    assert "<script>" not in svg
    parse(svg)


def test_benchmark_chart_uses_log_axis_for_wide_ranges_but_never_for_percent():
    wide = [(T0 + dt.timedelta(days=100 * i), 0.5 * 10**i, f"s{i}") for i in range(5)]
    assert "log scale" in str(charts.benchmark_chart(name="m", unit="minutes", results=wide))
    pct = [(T0 + dt.timedelta(days=100 * i), v, f"s{i}") for i, v in enumerate([2, 20, 90])]
    assert "log scale" not in str(charts.benchmark_chart(name="s", unit="% resolved", results=pct))


def test_frontier_keeps_each_new_best():
    results = [(T0, 1.0, "a"), (T0, 3.0, "b"), (T0, 2.0, "c"), (T0, 5.0, "d")]
    assert [s for _, _, s in charts.frontier(results)] == ["a", "b", "d"]
    assert [s for _, _, s in charts.frontier(results, higher_is_better=False)] == ["a"]


def test_calibration_chart_draws_points_and_intervals():
    bins = [
        CalibrationBin(0.0, 0.1, 0, math.nan, math.nan, 0.0, 1.0),
        CalibrationBin(0.2, 0.3, 10, 0.25, 0.3, 0.1, 0.6),
        CalibrationBin(0.8, 0.9, 4, 0.85, 1.0, 0.5, 1.0),
    ]
    svg = str(charts.calibration_chart(bins))
    parse(svg)
    assert svg.count('class="dot calib"') == 2
    assert svg.count('class="interval"') == 6  # one bar and two caps per bin
    assert "Calibration over 14 resolved forecasts" in svg
