"""Server-side SVG charts of multiple-choice and continuous questions (the yes/no ones are in
``web.charts``, whose scales, axes, legend and ``<svg>`` wrapper these reuse).

- ``options_chart``: each option's crowd probability over time (multiple choice).
- ``fan_chart``: the crowd's median with its 50% and 90% bands over time (continuous), from the
  history points' summaries (quantile locations at 5, 25, 50, 75 and 95%, docs/architecture.md,
  "Crowd history points"); a benchmark's results on the same value and time axes.
- ``density_chart``: distributions over the question's range (the crowd's, yours, a preview),
  as probability density on the question's own scale (linear, log or dates); for a date
  question on a benchmark, the benchmark's results on the same time axis.

Continuous values are drawn at their internal location x ∈ [0, 1] (docs/methods.md §12.1), so a
log-scaled question gets a log axis and a date question a time axis without a second code path.
Every chart carries ``data-series`` for the pointer and keyboard read-out of
``static/js/takeoff.js``, a ``<title>``/``<desc>``, and the page shows the numbers as a table.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np
from django.utils.safestring import SafeString

from forecasts import distributions
from forecasts.typed_crowd import question_scale
from markets.models import Question
from web.charts import (
    WIDE,
    Legend,
    Size,
    TimeScale,
    ValueScale,
    _edge_anchor,
    _fmt_value,
    _line,
    _n,
    _step_paths,
    _svg,
    _text,
    _time_axis,
    clip_steps,
    downsample_steps,
    frontier,
    responsive,
    value_scale,
)

OPTION_CLASSES = 8  # CSS classes opt-0 … opt-7 (static/css/takeoff.css), reused beyond eight


@dataclass(frozen=True)
class Bench:
    """A benchmark's results for a question's chart: (time, value, system) sorted by time, in
    ``unit``; ``threshold`` the milestone level when the question has one."""

    name: str
    unit: str
    results: Sequence[tuple[dt.datetime, float, str]]
    threshold: float | None = None
    higher_is_better: bool = True


class ValueAxis:
    """A continuous question's values on its internal scale: ``loc(value)`` ∈ [0, 1] inside the
    range, ``text(value)`` in words, ``ticks()`` (location, label) pairs."""

    def __init__(self, question: Question) -> None:
        self.scale = question_scale(question)
        self.is_date = question.type == Question.Type.DATE

    def loc(self, value: float) -> float:
        return float(self.scale.location(float(value)))

    def value(self, location: float) -> float:
        return float(self.scale.value(float(location)))

    def text(self, value: float) -> str:
        if self.is_date:
            if not math.isfinite(value):
                return "—"
            return dt.datetime.fromtimestamp(value, tz=dt.UTC).strftime("%-d %b %Y")
        return _fmt_value(value)

    def ticks(self, max_ticks: int) -> list[tuple[float, str]]:
        lo, hi = self.scale.range_min, self.scale.range_max
        if self.is_date:
            ts = TimeScale(
                dt.datetime.fromtimestamp(lo, tz=dt.UTC),
                dt.datetime.fromtimestamp(hi, tz=dt.UTC),
                0.0,
                1.0,
            )
            out = [(self.loc(t.timestamp()), label) for t, label in ts.ticks()]
        elif self.scale.zero_point is None:
            axis = value_scale([lo, hi], 0.0, 1.0, allow_log=False)
            out = [(self.loc(v), label) for v, label in axis.ticks() if lo <= v <= hi]
        else:
            # A log scale: round evenly spaced locations' values to two significant digits.
            out = []
            for x in np.linspace(0.0, 1.0, 6):
                v = self.value(float(x))
                if v != 0:
                    digits = 1 - math.floor(math.log10(abs(v)))
                    v = round(v, digits)
                out.append((self.loc(v), _fmt_value(v)))
        if len(out) > max_ticks:
            out = out[:: math.ceil(len(out) / max_ticks)]
        return [(x, label) for x, label in out if -1e-9 <= x <= 1 + 1e-9]


def _pct(p: float) -> str:
    return f"{p * 100:.1f}%" if p < 0.995 or p == 1 else f"{p * 100:.2f}%"


# --- multiple choice: each option over time ---------------------------------------------------


def options_chart(
    *,
    labels: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    crowd: Sequence[tuple[dt.datetime, Sequence[float] | None]] = (),
    own: Sequence[tuple[dt.datetime, Sequence[float] | None]] = (),
    hidden_reason: str = "",
    uid: str = "mchart",
    size: Size = WIDE,
) -> SafeString:
    """Each option's crowd probability (log pool) over time as a step line of its own colour,
    with the viewer's forecasts as markers. ``crowd``/``own`` rows: (time, probabilities in
    option order, or None when nobody is active / for a withdrawal); probabilities in [0, 1]."""
    W, H = size.width, size.height
    crowd = downsample_steps(clip_steps(list(crowd), start))
    own = clip_steps(list(own), start) if own else []
    legend = Legend()
    for k, label in enumerate(labels):
        legend.add(f"line opt opt-{k % OPTION_CLASSES}", label)
    if own:
        legend.add("dot own", "your forecasts")
    left, right = (40 if W < 500 else 52), W - 20
    top, bottom = 20 + Legend.ROW * legend.rows(left, W - 8), H - 34
    xs = TimeScale(start, end, left, right)
    ys = ValueScale(0.0, 1.0, bottom, top)
    body: list[str] = []
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        y = ys(v)
        body.append(_line("grid", left, y, right, y))
        body.append(_text("tick", left - 6, y, f"{int(v * 100)}%", anchor="end", dy="4"))
    body += _time_axis(xs, top, bottom, width=W, max_ticks=size.max_ticks)
    readout: list[str] = []
    if crowd:
        for k in range(len(labels)):
            series = [(t, None if ps is None else float(ps[k])) for t, ps in crowd]
            for d in _step_paths(series, xs, ys, end):
                body.append(f'<path class="line opt opt-{k % OPTION_CLASSES}" d="{d}"/>')
        for t, ps in crowd:
            if ps is None:
                continue
            lead = int(np.argmax(ps))
            words = ", ".join(f"{lab} {_pct(float(p))}" for lab, p in zip(labels, ps, strict=True))
            readout.append(f"{_n(xs(t))} {_n(ys(float(ps[lead])))} {t:%d %b %Y}: {words}")
    elif hidden_reason:
        body.append(
            _text(
                "chart-note",
                (left + right) / 2,
                (top + bottom) / 2,
                "The crowd forecast is hidden for now.",
                anchor="middle",
            )
        )
    for t, ps in own:
        if ps is None:
            continue
        words = ", ".join(f"{lab} {_pct(float(p))}" for lab, p in zip(labels, ps, strict=True))
        for k, p in enumerate(ps):
            body.append(
                f'<circle class="dot own opt-ring opt-{k % OPTION_CLASSES}" cx="{_n(xs(t))}" '
                f'cy="{_n(ys(float(p)))}" r="4"><title>You on {t:%d %b %Y %H:%M} UTC: '
                f"{escape(words)}</title></circle>"
            )
    body += legend.svg(left, 18, W - 8)
    last = next((ps for _, ps in reversed(crowd) if ps is not None), None)
    desc = f"Crowd forecast of each option from {start:%d %b %Y} to {end:%d %b %Y}" + (
        ": now " + ", ".join(f"{lab} {_pct(float(p))}" for lab, p in zip(labels, last, strict=True))
        if last is not None
        else "."
    )
    return _svg(W, H, uid, "Crowd forecast of each option over time", desc, body, series=readout)


# --- continuous: the fan chart over time ------------------------------------------------------


def _band_polygons(
    rows: Sequence[tuple[dt.datetime, tuple[float, float] | None]],
    xs: TimeScale,
    ys: ValueScale,
    end: dt.datetime,
) -> list[str]:
    """Polygon point lists of a piecewise-constant band (low, high) held to ``end``; None
    breaks it."""
    out: list[str] = []
    upper: list[tuple[float, float]] = []
    lower: list[tuple[float, float]] = []

    def close() -> None:
        if upper:
            pts = upper + lower[::-1]
            out.append(" ".join(f"{_n(x)},{_n(y)}" for x, y in pts))
        upper.clear()
        lower.clear()

    for i, (t, band) in enumerate(rows):
        if band is None:
            close()
            continue
        x0 = xs(t)
        x1 = xs(rows[i + 1][0] if i + 1 < len(rows) else max(end, t))
        lo, hi = band
        upper.extend([(x0, ys(hi)), (x1, ys(hi))])
        lower.extend([(x0, ys(lo)), (x1, ys(lo))])
    close()
    return out


def fan_chart(
    *,
    question: Question,
    start: dt.datetime,
    end: dt.datetime,
    crowd: Sequence[tuple[dt.datetime, Sequence[float] | None]] = (),
    own: Sequence[tuple[dt.datetime, Sequence[float] | None]] = (),
    bench: Bench | None = None,
    hidden_reason: str = "",
    uid: str = "fchart",
    size: Size = WIDE,
) -> SafeString:
    """The crowd's median and its 50% (25–75th percentile) and 90% (5–95th) bands over time on
    the question's value axis. ``crowd`` rows: (time, the history point's quantile locations at
    5, 25, 50, 75, 95% on the internal scale, or None); ``own``: (time, the same five locations
    of your forecast, or None for a withdrawal). ``bench`` (a numeric question on a benchmark):
    its results as dots and its best-so-far as a step line, on the same axes."""
    axis = ValueAxis(question)
    W, H = size.width, size.height
    crowd = downsample_steps(clip_steps(list(crowd), start))
    own = clip_steps(list(own), start) if own else []
    legend = Legend()
    if crowd:
        legend.add("band90", "90% of the crowd")
        legend.add("band50", "50%")
        legend.add("line crowd", "median")
    if own:
        legend.add("dot own", "your median")
    if bench is not None:
        legend.add("dot bench", f"{bench.name} result")
    left, right = (58 if W < 500 else 76), W - 16
    top, bottom = 20 + Legend.ROW * legend.rows(left, W - 8), H - 34
    xs = TimeScale(start, end, left, right)
    ys = ValueScale(0.0, 1.0, bottom, top)
    body: list[str] = []
    for x, label in axis.ticks(6):
        y = ys(x)
        body.append(_line("grid", left, y, right, y))
        body.append(_text("tick", left - 6, y, label, anchor="end", dy="4"))
    body += _time_axis(xs, top, bottom, width=W, max_ticks=size.max_ticks)
    readout: list[str] = []
    if crowd:
        for css, lo_i, hi_i in (("band band90", 0, 4), ("band band50", 1, 3)):
            rows = [(t, None if s is None else (float(s[lo_i]), float(s[hi_i]))) for t, s in crowd]
            for pts in _band_polygons(rows, xs, ys, end):
                body.append(f'<polygon class="{css}" points="{pts}"/>')
        median = [(t, None if s is None else float(s[2])) for t, s in crowd]
        for d in _step_paths(median, xs, ys, end):
            body.append(f'<path class="line crowd" d="{d}"/>')
        for t, s in crowd:
            if s is None:
                continue
            words = [axis.text(axis.value(float(x))) for x in s[:5]]
            readout.append(
                f"{_n(xs(t))} {_n(ys(float(s[2])))} {t:%d %b %Y}: median {words[2]}, "
                f"50% {words[1]} to {words[3]}, 90% {words[0]} to {words[4]}"
            )
    elif hidden_reason:
        body.append(
            _text(
                "chart-note",
                (left + right) / 2,
                (top + bottom) / 2,
                "The crowd forecast is hidden for now.",
                anchor="middle",
            )
        )
    if bench is not None:
        inside = [(t, v, s) for t, v, s in bench.results if start <= t <= end]
        fr = frontier(bench.results, bench.higher_is_better)
        before = [r for r in fr if r[0] <= start]
        steps = ([(start, before[-1][1])] if before else []) + [
            (t, v) for t, v, _ in fr if start < t <= end
        ]
        clipped = [(t, min(max(axis.loc(v), -0.02), 1.02)) for t, v in steps]
        for d in _step_paths(clipped, xs, ys, end):
            body.append(f'<path class="line bench" d="{d}"/>')
        for t, v, system in inside:
            body.append(
                f'<circle class="dot bench" cx="{_n(xs(t))}" '
                f'cy="{_n(ys(min(max(axis.loc(v), -0.02), 1.02)))}" r="3.5"><title>'
                f"{escape(system)}: {escape(_fmt_value(v))} {escape(bench.unit)} "
                f"({t:%d %b %Y})</title></circle>"
            )
    for t, s in own:
        if s is None:
            continue
        mine = [axis.text(axis.value(float(x))) for x in s[:5]]
        body.append(
            f'<circle class="dot own" cx="{_n(xs(t))}" cy="{_n(ys(float(s[2])))}" r="4.5">'
            f"<title>You on {t:%d %b %Y %H:%M} UTC: median {escape(mine[2])}, 90% "
            f"{escape(mine[0])} to {escape(mine[4])}</title></circle>"
        )
    body += legend.svg(left, 18, W - 8)
    last = next((s for _, s in reversed(crowd) if s is not None), None)
    desc = f"Crowd forecast from {start:%d %b %Y} to {end:%d %b %Y}" + (
        f": median now {axis.text(axis.value(float(last[2])))}, 90% between "
        f"{axis.text(axis.value(float(last[0])))} and {axis.text(axis.value(float(last[4])))}."
        if last is not None
        else "."
    )
    if bench is not None:
        desc += f" {bench.name} results drawn on the same axes."
    return _svg(W, H, uid, "Crowd forecast over time", desc, body, series=readout)


# --- continuous: distributions over the range -------------------------------------------------


@dataclass(frozen=True)
class Curve:
    """One distribution on a density chart: CSS class, legend label, its CDF (float64[201])."""

    css: str
    label: str
    cdf: np.ndarray


def density_chart(
    *,
    question: Question,
    curves: Sequence[Curve],
    bench: Bench | None = None,
    uid: str = "dchart",
    size: Size = WIDE,
) -> SafeString:
    """Probability density over the question's range of each curve (the first filled, the
    others as lines); the mass below/above an open bound is written in the legend. The density
    is per unit of the internal scale (so a log-scaled question reads on its log axis). With
    ``bench`` (a date question on a benchmark) the results are drawn at their dates on the same
    time axis, against a right-hand axis of the benchmark's values, with the threshold."""
    axis = ValueAxis(question)
    W, H = size.width, size.height
    legend = Legend()
    for c in curves:
        tails = []
        if question.open_lower_bound:
            tails.append(f"{_pct(float(c.cdf[0]))} below")
        if question.open_upper_bound:
            tails.append(f"{_pct(1.0 - float(c.cdf[-1]))} above")
        legend.add(c.css, c.label + (f" ({', '.join(tails)})" if tails else ""))
    lo_x = 0.0
    if bench is not None and bench.results:
        legend.add("dot bench", f"{bench.name} ({bench.unit})")
        first = axis.loc(bench.results[0][0].timestamp()) if axis.is_date else 0.0
        lo_x = min(0.0, first - 0.02)
    left, right = (16 if bench is None else 44), W - (16 if bench is None else 52)
    top, bottom = 20 + Legend.ROW * legend.rows(left, W - 8), H - 34
    xs = ValueScale(lo_x, 1.0, left, right)
    densities = [
        np.diff(np.asarray(c.cdf, dtype=np.float64)) * distributions.INBOUND_BUCKETS for c in curves
    ]
    peak = max((float(d.max()) for d in densities), default=1.0) or 1.0
    ys = ValueScale(0.0, peak * 1.08, bottom, top)
    body: list[str] = [_line("axis", left, bottom, right, bottom)]
    for x, label in axis.ticks(size.max_ticks):
        px = xs(x)
        body.append(_line("grid", px, top, px, bottom))
        body.append(_text("tick", px, bottom + 16, label, anchor=_edge_anchor(px, label, W)))
    if lo_x < 0:
        px = xs(0.0)
        body.append(_line("range-edge", px, top, px, bottom))
        body.append(_text("tick halo", px + 4, top + 12, "range starts", anchor="start"))
    edges = distributions.LOCATIONS
    for c, dens in zip(curves, densities, strict=True):
        d = f"M{_n(xs(0.0))} {_n(ys(0.0))}"
        for i, h in enumerate(dens):
            d += f"V{_n(ys(float(h)))}H{_n(xs(float(edges[i + 1])))}"
        if "area" in c.css:
            body.append(f'<path class="{c.css}" d="{d}V{_n(ys(0.0))}Z"/>')
        else:
            body.append(f'<path class="{c.css}" d="{d}"/>')
    readout: list[str] = []
    if curves:
        step = 5
        for i in range(0, distributions.INBOUND_BUCKETS + 1, step):
            x = float(edges[i])
            value = axis.text(axis.value(x))
            words = "; ".join(f"{c.label} {_pct(float(c.cdf[i]))}" for c in curves)
            h = float(densities[0][min(i, distributions.INBOUND_BUCKETS - 1)])
            readout.append(f"{_n(xs(x))} {_n(ys(h))} P(below {value}): {words}")
    if bench is not None and bench.results and axis.is_date:
        vs = value_scale(
            [v for _, v, _ in bench.results],
            bottom,
            top,
            extra=[bench.threshold] if bench.threshold is not None else [],
            allow_log="%" not in bench.unit,
        )
        for v, label in vs.ticks():
            body.append(_text("tick bench", right + 5, vs(v), label, dy="4"))
        if bench.threshold is not None:
            ty = vs(bench.threshold)
            body.append(_line("threshold", left, ty, right, ty))
            body.append(
                _text(
                    "tick threshold-label halo",
                    left + 4,
                    ty,
                    f"threshold {_fmt_value(bench.threshold)}",
                    dy="-5" if ty - top > 14 else "13",
                )
            )
        fr = frontier(bench.results, bench.higher_is_better)
        path = ""
        for t, v, _ in fr:
            bx, by = _n(xs(axis.loc(t.timestamp()))), _n(vs(v))
            path = f"M{bx} {by}" if not path else f"{path}H{bx}V{by}"
        if path:
            body.append(f'<path class="line bench" d="{path}"/>')
        for t, v, system in bench.results:
            body.append(
                f'<circle class="dot bench" cx="{_n(xs(axis.loc(t.timestamp())))}" '
                f'cy="{_n(vs(v))}" r="3.5"><title>{escape(system)}: {escape(_fmt_value(v))} '
                f"{escape(bench.unit)} ({t:%d %b %Y})</title></circle>"
            )
    body += legend.svg(left, 18, W - 8)
    parts = []
    for c in curves:
        q = distributions.quantiles(c.cdf, [0.05, 0.5, 0.95], axis.scale)
        parts.append(
            f"{c.label}: median {axis.text(float(q[1]))}, 90% between {axis.text(float(q[0]))} "
            f"and {axis.text(float(q[2]))}"
        )
    desc = ("; ".join(parts) or "No distribution to show") + "."
    return _svg(W, H, uid, "Distribution over the range", desc, body, series=readout)


def preview_chart(question: Question, cdf: np.ndarray) -> SafeString:
    """Both sizes of the density chart of a previewed forecast (not saved)."""
    return responsive(
        density_chart,
        uid="preview",
        question=question,
        curves=[Curve("area preview", "your preview", cdf)],
    )


__all__ = [
    "Bench",
    "Curve",
    "ValueAxis",
    "density_chart",
    "fan_chart",
    "options_chart",
    "pit_chart",
    "preview_chart",
]


# --- calibration of continuous forecasts --------------------------------------------------------


def pit_chart(
    *,
    edges: Sequence[float],
    counts: Sequence[int],
    frequency: Sequence[float],
    wilson_low: Sequence[float],
    wilson_high: Sequence[float],
    uid: str = "pit",
) -> SafeString:
    """The PIT histogram (docs/methods.md §5.6): the share of outcomes in each bin of the
    forecast's own CDF, with 95% Wilson intervals, against 1/K (the dashed line) that calibrated
    forecasts give. Bars too tall on the edges: intervals too narrow (overconfident); in the
    middle: too wide."""
    S, H = 360, 300
    left, right, top, bottom = 48, S - 14, 14, H - 40
    n_bins = len(counts)
    n = sum(counts)
    top_value = max([*(w for w in wilson_high if math.isfinite(w)), 2.0 / max(n_bins, 1)])
    ys = ValueScale(0.0, min(1.0, top_value * 1.1), bottom, top)
    xs = ValueScale(0.0, 1.0, left, right)
    body: list[str] = []
    for v, _label in ys.ticks():
        y = ys(v)
        body.append(_line("grid", left, y, right, y))
        body.append(_text("tick", left - 6, y, f"{v * 100:.0f}%", anchor="end", dy="4"))
    for k in range(n_bins):
        x0, x1 = xs(edges[k]), xs(edges[k + 1])
        f = frequency[k] if math.isfinite(frequency[k]) else 0.0
        tip = (
            f"PIT {edges[k]:.1f} to {edges[k + 1]:.1f}: {counts[k]} of {n} outcomes "
            f"({f * 100:.1f}%, 95% interval {wilson_low[k] * 100:.1f} to "
            f"{wilson_high[k] * 100:.1f}%)"
        )
        body.append(
            f'<rect class="bar-spread" x="{_n(x0 + 2)}" y="{_n(ys(f))}" width="{_n(x1 - x0 - 4)}" '
            f'height="{_n(bottom - ys(f))}"><title>{escape(tip)}</title></rect>'
        )
        if n:
            xm = (x0 + x1) / 2
            body.append(_line("interval", xm, ys(wilson_low[k]), xm, ys(wilson_high[k])))
    for k in range(0, n_bins + 1, 2 if n_bins > 5 else 1):
        body.append(_text("tick", xs(edges[k]), bottom + 16, f"{edges[k]:.1f}", anchor="middle"))
    if n_bins:
        y = ys(1.0 / n_bins)
        body.append(_line("diagonal", left, y, right, y))
    body.append(_line("axis", left, bottom, right, bottom))
    body.append(_text("axis-label", (left + right) / 2, H - 6, "PIT: F(outcome)", anchor="middle"))
    if not n:
        body.append(
            _text(
                "chart-note",
                (left + right) / 2,
                (top + bottom) / 2,
                "No resolved forecasts yet.",
                anchor="middle",
            )
        )
    desc = f"PIT histogram of {n} continuous forecasts at close in {n_bins} bins: " + ", ".join(
        f"{edges[k]:.1f}–{edges[k + 1]:.1f}: {counts[k]}" for k in range(n_bins)
    )
    return _svg(S, H, uid, "PIT histogram", desc + ".", body)
