"""The server-side SVG charts: downsampling, steps, axes and accessibility hooks."""

from __future__ import annotations

import datetime as dt
import math
import re
import xml.etree.ElementTree as ET

import pytest

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


# --- issue 19: labels inside the chart, the latest value, read-out data, phone drawing -------

NS = "{http://www.w3.org/2000/svg}"


def texts(svg) -> list[ET.Element]:
    return list(parse(svg).iter(f"{NS}text"))


def extent(el: ET.Element) -> tuple[float, float]:
    """Estimated horizontal extent of a text element from its x, anchor and length."""
    x, w = float(el.get("x")), len(el.text or "") * charts.CHAR_W
    anchor = el.get("text-anchor") or "start"
    return {"start": (x, x + w), "middle": (x - w / 2, x + w / 2), "end": (x - w, x)}[anchor]


def test_time_labels_at_the_edges_stay_inside_the_chart():
    # A tick on 1 Jan 2026 falls at the right edge of the plot: centred, "Jan 2026" would run
    # past the chart's 760 units and be clipped ("Jan 202").
    start, end = dt.datetime(2025, 7, 2, tzinfo=UTC), dt.datetime(2026, 1, 1, 12, tzinfo=UTC)
    for size in (charts.WIDE, charts.NARROW):
        svg = charts.question_chart(
            start=start, end=end, crowd=[(start, 0.4, None, None)], size=size
        )
        ticks = [t for t in texts(svg) if t.get("class") == "tick" and "20" in (t.text or "")]
        assert ticks
        for t in ticks:
            lo, hi = extent(t)
            assert lo >= 0 and hi <= size.width, (t.text, lo, hi, size)
        if size == charts.WIDE:  # (the narrow drawing keeps every other month)
            assert any(t.text == "Jan 2026" and t.get("text-anchor") == "end" for t in ticks)


def test_narrow_drawing_keeps_at_most_four_time_labels():
    svg = charts.question_chart(
        start=T0, end=T0 + dt.timedelta(days=700), crowd=[(T0, 0.4, None, None)], size=charts.NARROW
    )
    dated = [t for t in texts(svg) if t.get("class") == "tick" and "%" not in (t.text or "")]
    assert 1 <= len(dated) <= charts.NARROW.max_ticks
    assert parse(svg).get("viewBox") == "0 0 400 300"


def test_latest_value_is_written_inside_the_plot_at_the_line_end():
    crowd = [(T0, 0.2, None, None), (T0 + dt.timedelta(days=5), 0.723, None, None)]
    for size in (charts.WIDE, charts.NARROW):
        svg = charts.question_chart(start=T0, end=T0 + dt.timedelta(days=9), crowd=crowd, size=size)
        (label,) = [t for t in texts(svg) if t.get("data-latest") is not None]
        assert label.text == "72.3%"
        lo, hi = extent(label)
        assert lo >= 0 and hi <= size.width - 20


def test_resolved_label_sits_low_and_inside_away_from_the_100_tick():
    end = T0 + dt.timedelta(days=100)
    svg = charts.question_chart(
        start=T0, end=end, crowd=[(T0, 0.5, None, None)], resolved_at=end - dt.timedelta(days=1)
    )
    (label,) = [t for t in texts(svg) if t.text == "resolved"]
    (hundred,) = [t for t in texts(svg) if t.text == "100%"]
    assert label.get("text-anchor") == "end"  # near the right edge: written to the left
    assert extent(label)[1] <= 740
    assert abs(float(label.get("y")) - float(hundred.get("y"))) > 100


def test_threshold_label_is_drawn_over_the_benchmark_dots_at_the_left():
    milestone = charts.Milestone(
        name="METR",
        unit="minutes",
        results=[(T0 + dt.timedelta(days=d), v, f"s{d}") for d, v in ((5, 100), (50, 5900))],
        threshold=6000,
        comparator="≥",
    )
    svg = str(charts.question_chart(start=T0, end=T0 + dt.timedelta(days=60), milestone=milestone))
    assert svg.index("threshold-label") > svg.rindex("</circle>")  # the result dots
    (label,) = [t for t in texts(svg) if "threshold-label" in (t.get("class") or "")]
    assert float(label.get("x")) < 100 and label.get("text-anchor") is None
    bench = charts.benchmark_chart(
        name="METR", unit="minutes", results=milestone.results, thresholds=[(6000, "≥ 6000")]
    )
    assert str(bench).index("threshold-label") > str(bench).rindex("</circle>")  # result dots


def test_crowd_points_ride_along_for_the_read_out_and_the_chart_takes_focus():
    crowd = [(T0, 0.25, None, None), (T0 + dt.timedelta(days=1), 0.5, None, None)]
    root = parse(charts.question_chart(start=T0, end=T0 + dt.timedelta(days=2), crowd=crowd))
    assert root.get("tabindex") == "0"
    points = [p.split(" ", 2) for p in root.get("data-series").split(";")]
    assert [p[2] for p in points] == [
        "Crowd 25.0% on 01 Jan 2025 00:00 UTC",
        "Crowd 50.0% on 02 Jan 2025 00:00 UTC",
    ]
    assert float(points[0][1]) > float(points[1][1])  # higher value, higher up (smaller y)
    hidden = parse(charts.question_chart(start=T0, end=T0 + dt.timedelta(days=2)))
    assert hidden.get("data-series") is None and hidden.get("tabindex") is None


def test_clip_steps_starts_with_the_value_in_force():
    pts = [(T0, 0.1), (T0 + dt.timedelta(days=10), 0.6), (T0 + dt.timedelta(days=20), 0.3)]
    start = T0 + dt.timedelta(days=15)
    assert charts.clip_steps(pts, start) == [(start, 0.6), pts[2]]
    assert charts.clip_steps(pts, T0) == pts
    assert charts.clip_steps(pts, T0 + dt.timedelta(days=30)) == [(T0 + dt.timedelta(days=30), 0.3)]


def test_responsive_draws_a_wide_and_a_narrow_chart():
    html = str(
        charts.responsive(charts.question_chart, uid="q", start=T0, end=T0 + dt.timedelta(days=2))
    )
    assert html.count("<svg") == 2
    assert '<div class="chart-wide"><svg class="chart" id="q" viewBox="0 0 760 340"' in html
    assert '<div class="chart-narrow"><svg class="chart" id="q-n" viewBox="0 0 400 300"' in html


def test_legend_wraps_on_the_narrow_drawing():
    milestone = charts.Milestone(
        name="METR time horizon (p50)", unit="minutes", results=[], threshold=60, comparator="≥"
    )
    kw = {"start": T0, "end": T0 + dt.timedelta(days=9), "crowd": [(T0, 0.5, 0.5, None)]}
    kw |= {"own": [(T0, 0.4)], "milestone": milestone}
    for size in (charts.WIDE, charts.NARROW):
        svg = charts.question_chart(**kw, size=size)
        legend = [t for t in texts(svg) if t.get("class") == "legend"]
        assert all(extent(t)[1] <= size.width for t in legend), size
    narrow = charts.question_chart(**kw, size=charts.NARROW)
    rows = {t.get("y") for t in texts(narrow) if t.get("class") == "legend"}
    assert len(rows) >= 2


def test_spread_chart_draws_one_bar_per_bin_with_its_count():
    counts = [0, 0, 1, 4, 2, 0, 0, 0, 0, 1]
    root = parse(charts.spread_chart(counts, at=T0))
    bars = [r for r in root.iter(f"{NS}rect") if r.get("class") == "bar-spread"]
    assert len(bars) == 10
    heights = [float(b.get("height")) for b in bars]
    assert heights[3] == max(heights) and heights[0] == 0
    assert heights[2] == pytest.approx(heights[3] / 4, abs=0.1)
    assert bars[3].find(f"{NS}title").text == "30 to 40%: 4 forecasters"
    assert "8 current forecasts on 01 Jan 2025 00:00 UTC" in root.find(f"{NS}desc").text
