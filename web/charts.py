"""Server-side SVG charts: the crowd forecast over time, benchmark trajectories, calibration.

Everything here is plain Python over plain values (datetimes and floats) and returns SVG markup,
so the pages load nothing from another host and a chart is testable without a browser. Colours
and strokes come from CSS classes (``static/css/takeoff.css``); the markup carries a ``<title>``
and ``<desc>`` so screen readers get a summary, and every page also offers the numbers as a table.

Forecast histories are piecewise constant: a value holds until the next event. Long histories
are downsampled for display (``downsample_steps``): the time axis is cut into buckets and each
bucket keeps the value in force at its end, so a quiet period stays flat, no value is invented,
and the last point is always kept.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from django.utils.safestring import SafeString, mark_safe

from scoring.calibration import CalibrationBin

MAX_POINTS = 500

Point = tuple[dt.datetime, float | None]


# --- downsampling ------------------------------------------------------------------------------


def downsample_steps(points: Sequence[tuple], max_points: int = MAX_POINTS) -> list[tuple]:
    """At most ``max_points`` of a piecewise-constant series, keeping the first and last point.

    ``points`` are tuples whose first item is the time (sorted ascending); the other items ride
    along. The span is cut into equal time buckets; each keeps its last point, i.e. the value in
    force at the bucket's end, so the step chart never shows a value the series did not take.
    """
    n = len(points)
    if n <= max_points or max_points < 2:
        return list(points)
    t_first = points[0][0].timestamp()
    t_last = points[-1][0].timestamp()
    span = t_last - t_first
    if span <= 0:
        return [points[0], points[-1]]
    buckets = max_points - 1  # the first point takes one slot
    kept: list[tuple] = [points[0]]
    last_bucket = -1
    for i in range(1, n):
        b = min(int((points[i][0].timestamp() - t_first) / span * buckets), buckets - 1)
        if b != last_bucket:
            kept.append(points[i])
            last_bucket = b
        else:
            kept[-1] = points[i]
    # The last point falls in the last bucket and replaced whatever was kept there.
    return kept


# --- scales and ticks -------------------------------------------------------------------------


@dataclass
class TimeScale:
    start: dt.datetime
    end: dt.datetime
    x0: float
    x1: float

    def __post_init__(self) -> None:
        if self.end <= self.start:
            self.end = self.start + dt.timedelta(days=1)

    def __call__(self, t: dt.datetime) -> float:
        span = (self.end - self.start).total_seconds()
        f = (t - self.start).total_seconds() / span
        return self.x0 + max(0.0, min(1.0, f)) * (self.x1 - self.x0)

    def ticks(self) -> list[tuple[dt.datetime, str]]:
        days = (self.end - self.start).total_seconds() / 86400
        tz = self.start.tzinfo or dt.UTC
        if days > 365 * 3:
            step_months, fmt = 12, "%Y"
        elif days > 365 * 1.5:
            step_months, fmt = 6, "%b %Y"
        elif days > 200:
            step_months, fmt = 3, "%b %Y"
        elif days > 60:
            step_months, fmt = 1, "%b %Y"
        else:
            return self._day_ticks(days, tz)
        t = dt.datetime(self.start.year, 1, 1, tzinfo=tz)
        out = []
        while t <= self.end:
            if t >= self.start:
                out.append((t, t.strftime(fmt)))
            month = t.month - 1 + step_months
            t = t.replace(year=t.year + month // 12, month=month % 12 + 1)
        return out

    def _day_ticks(self, days: float, tz: dt.tzinfo) -> list[tuple[dt.datetime, str]]:
        step = next((s for s in (1, 2, 7, 14) if days / s <= 8), 30)
        t = dt.datetime(self.start.year, self.start.month, self.start.day, tzinfo=tz)
        if days < 2:
            hours = next((h for h in (1, 3, 6, 12) if days * 24 / h <= 8), 24)
            t = self.start.replace(minute=0, second=0, microsecond=0)
            out = []
            while t <= self.end:
                if t >= self.start and t.hour % hours == 0:
                    out.append((t, t.strftime("%d %b %H:%M")))
                t += dt.timedelta(hours=1)
            return out
        out = []
        while t <= self.end:
            if t >= self.start:
                out.append((t, t.strftime("%d %b")))
            t += dt.timedelta(days=step)
        return out


@dataclass
class ValueScale:
    lo: float
    hi: float
    y0: float  # pixel of lo (bottom)
    y1: float  # pixel of hi (top)
    log: bool = False

    def __call__(self, v: float) -> float:
        if self.log:
            v, lo, hi = math.log10(max(v, 1e-12)), math.log10(self.lo), math.log10(self.hi)
        else:
            lo, hi = self.lo, self.hi
        f = (v - lo) / (hi - lo) if hi > lo else 0.5
        return self.y0 + max(-0.02, min(1.02, f)) * (self.y1 - self.y0)

    def ticks(self) -> list[tuple[float, str]]:
        if self.log:
            out = []
            for e in range(math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi)) + 1):
                v = 10.0**e
                if self.lo <= v <= self.hi:
                    out.append((v, _fmt_value(v)))
            return out
        step = _nice_step((self.hi - self.lo) / 5)
        v = math.ceil(self.lo / step) * step
        out = []
        while v <= self.hi + step * 1e-9:
            out.append((v, _fmt_value(v)))
            v += step
        return out


def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    exp = math.floor(math.log10(raw))
    base = raw / 10**exp
    nice = 1 if base <= 1 else 2 if base <= 2 else 2.5 if base <= 2.5 else 5 if base <= 5 else 10
    return nice * 10**exp


def _fmt_value(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.3g}"
    return f"{v:.2g}"


def value_scale(
    values: Sequence[float],
    y0: float,
    y1: float,
    extra: Sequence[float] = (),
    *,
    allow_log: bool = True,
) -> ValueScale:
    """Linear scale from 0, or a log scale when positive values span more than a decade
    (time horizons grow exponentially; percentages never get a log axis: pass allow_log)."""
    vals = [v for v in (*values, *extra) if v is not None and math.isfinite(v)]
    if not vals:
        return ValueScale(0.0, 1.0, y0, y1)
    lo, hi = min(vals), max(vals)
    if allow_log and lo > 0 and hi / lo > 10:
        return ValueScale(
            10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi)), y0, y1, log=True
        )
    lo = min(0.0, lo)
    step = _nice_step((hi - lo) / 5 if hi > lo else 1.0)
    return ValueScale(lo, math.ceil(hi * 1.02 / step) * step or 1.0, y0, y1)


# --- SVG building blocks ----------------------------------------------------------------------


def _n(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _line(css: str, x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line class="{css}" x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}"/>'


def _text(css: str, x: float, y: float, content: str, *, anchor: str = "", dy: str = "") -> str:
    """A text element; ``content`` is escaped here."""
    extra = (f' text-anchor="{anchor}"' if anchor else "") + (f' dy="{dy}"' if dy else "")
    return f'<text class="{css}" x="{_n(x)}" y="{_n(y)}"{extra}>{escape(content)}</text>'


def _svg(width: int, height: int, uid: str, title: str, desc: str, body: list[str]) -> SafeString:
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{uid}-title {uid}-desc" xmlns="http://www.w3.org/2000/svg" '
        f'preserveAspectRatio="xMidYMid meet">'
        f'<title id="{uid}-title">{escape(title)}</title>'
        f'<desc id="{uid}-desc">{escape(desc)}</desc>' + "".join(body) + "</svg>"
    )


def _step_paths(
    pts: Sequence[Point], xs: TimeScale, ys, end: dt.datetime, *, log_ok: bool = False
) -> list[str]:
    """Path data of a piecewise-constant series, held to ``end``; None breaks the line."""
    paths: list[str] = []
    cur = ""
    for t, v in pts:
        x = _n(xs(t))
        if v is None or (log_ok and v <= 0):
            if cur:
                paths.append(f"{cur}H{x}")
                cur = ""
            continue
        y = _n(ys(v))
        cur = f"M{x} {y}" if not cur else f"{cur}H{x}V{y}"
    if cur:
        paths.append(f"{cur}H{_n(xs(max(end, pts[-1][0])))}")
    return paths


def _time_axis(xs: TimeScale, top: float, bottom: float) -> list[str]:
    out = []
    for t, label in xs.ticks():
        x = xs(t)
        out.append(_line("grid", x, top, x, bottom))
        out.append(_text("tick", x, bottom + 16, label, anchor="middle"))
    out.append(_line("axis", xs.x0, bottom, xs.x1, bottom))
    return out


@dataclass
class Legend:
    items: list[tuple[str, str]] = field(default_factory=list)  # (css class, label)

    def add(self, css: str, label: str) -> None:
        self.items.append((css, label))

    def svg(self, x: float, y: float) -> list[str]:
        out = []
        for css, label in self.items:
            if css.startswith("dot"):
                out.append(f'<circle class="{css}" cx="{_n(x + 7)}" cy="{_n(y - 4)}" r="4"/>')
            else:
                out.append(_line(css, x, y - 4, x + 16, y - 4))
            out.append(_text("legend", x + 21, y, label))
            x += 30 + 6.3 * len(label)
        return out


# --- the question chart -----------------------------------------------------------------------


@dataclass
class Milestone:
    """The benchmark trajectory and threshold drawn on a milestone question's chart."""

    name: str
    unit: str
    results: Sequence[tuple[dt.datetime, float, str]]  # (time, value, system), sorted by time
    threshold: float
    comparator: str  # display form, e.g. "≥"
    higher_is_better: bool = True


def _log_ok(unit: str) -> bool:
    return "%" not in unit and "percent" not in unit.lower()


def frontier(results: Sequence[tuple[dt.datetime, float, str]], higher_is_better: bool = True):
    """The state of the art over time: each result that beat every earlier one."""
    out = []
    best: float | None = None
    for t, v, system in results:
        if best is None or (v > best if higher_is_better else v < best):
            best = v
            out.append((t, v, system))
    return out


def question_chart(
    *,
    start: dt.datetime,
    end: dt.datetime,
    crowd: Sequence[tuple[dt.datetime, float | None, float | None, float | None]] = (),
    crowd_hidden_reason: str = "",
    own: Sequence[tuple[dt.datetime, float | None]] = (),
    milestone: Milestone | None = None,
    show_median: bool = True,
    show_mean: bool = False,
    resolved_at: dt.datetime | None = None,
    uid: str = "qchart",
) -> SafeString:
    """Crowd forecast (log pool; median and mean optional) over time, with the viewer's own
    forecasts as markers and, for milestone questions, the benchmark's state of the art on a
    secondary axis with the threshold line, all on one time axis.

    ``crowd`` rows are (time, pooled p, median, mean); ``own`` rows are (time, p or None for a
    withdrawal). Probabilities are in [0, 1].
    """
    W, H = 760, 340
    left, right, top, bottom = 52, (W - 70 if milestone else W - 20), 34, H - 34
    xs = TimeScale(start, end, left, right)
    ys = ValueScale(0.0, 1.0, bottom, top)
    crowd = downsample_steps(list(crowd))
    body: list[str] = []
    legend = Legend()

    for v in (0, 0.25, 0.5, 0.75, 1.0):
        y = ys(v)
        body.append(_line("grid mid" if v == 0.5 else "grid", left, y, right, y))
        body.append(_text("tick", left - 6, y, f"{int(v * 100)}%", anchor="end", dy="4"))
    body += _time_axis(xs, top, bottom)

    now_end = end
    if milestone is not None:
        fr = frontier(milestone.results, milestone.higher_is_better)
        # The level in force when the window opens, then each new best inside the window.
        before = [r for r in fr if r[0] <= start]
        inside = [r for r in fr if start < r[0] <= end]
        series = ([(start, before[-1][1])] if before else []) + [(t, v) for t, v, _ in inside]
        vs = value_scale(
            [v for _, v in series] or [milestone.threshold],
            bottom,
            top,
            extra=[milestone.threshold],
            allow_log=_log_ok(milestone.unit),
        )
        for v, label in vs.ticks():
            body.append(_text("tick bench", right + 6, vs(v), label, dy="4"))
        ty = vs(milestone.threshold)
        body.append(_line("threshold", left, ty, right, ty))
        label = f"threshold {milestone.comparator} {_fmt_value(milestone.threshold)}"
        body.append(_text("tick threshold-label", right - 4, ty, label, anchor="end", dy="-5"))
        for d in _step_paths(series, xs, vs, now_end, log_ok=vs.log):
            body.append(f'<path class="line bench" d="{d}"/>')
        for t, v, system in inside:
            body.append(
                f'<circle class="dot bench" cx="{_n(xs(t))}" cy="{_n(vs(v))}" r="3.5">'
                f"<title>{escape(system)}: {escape(_fmt_value(v))} {escape(milestone.unit)} "
                f"({t:%d %b %Y})</title></circle>"
            )
        mid = _n((top + bottom) / 2)
        body.append(
            f'<text class="axis-label bench" transform="translate({W - 8} {mid}) rotate(90)" '
            f'text-anchor="middle">{escape(milestone.name)} ({escape(milestone.unit)})</text>'
        )
        legend.add("line bench", f"{milestone.name}, best so far")
        legend.add("threshold", "threshold")

    if crowd:
        if show_median:
            for d in _step_paths([(r[0], r[2]) for r in crowd], xs, ys, now_end):
                body.append(f'<path class="line median" d="{d}"/>')
        if show_mean:
            for d in _step_paths([(r[0], r[3]) for r in crowd], xs, ys, now_end):
                body.append(f'<path class="line mean" d="{d}"/>')
        for d in _step_paths([(r[0], r[1]) for r in crowd], xs, ys, now_end):
            body.append(f'<path class="line crowd" d="{d}"/>')
        legend.items.insert(0, ("line crowd", "crowd (log pool)"))
        if show_median:
            legend.items.insert(1, ("line median", "median"))
        if show_mean:
            legend.items.insert(2 if show_median else 1, ("line mean", "mean"))
    elif crowd_hidden_reason:
        body.append(
            _text(
                "chart-note",
                (left + right) / 2,
                (top + bottom) / 2,
                "The crowd forecast is hidden for now.",
                anchor="middle",
            )
        )

    if own:
        for d in _step_paths(list(own), xs, ys, now_end):
            body.append(f'<path class="line own" d="{d}"/>')
        body.append('<g class="markers-own">')
        for t, p in own:
            if p is None:
                continue
            body.append(
                f'<circle class="dot own" cx="{_n(xs(t))}" cy="{_n(ys(p))}" r="4.5">'
                f"<title>You: {p * 100:.1f}% on {t:%d %b %Y %H:%M} UTC</title></circle>"
            )
        body.append("</g>")
        legend.add("dot own", "your forecasts")

    if resolved_at is not None and start <= resolved_at <= end:
        x = xs(resolved_at)
        body.append(_line("resolved-line", x, top, x, bottom))
        body.append(_text("tick", x + 4, top + 12, "resolved"))

    body += legend.svg(left, 18)
    last = next((r for r in reversed(crowd) if r[1] is not None), None)
    marked = len([o for o in own if o[1] is not None])
    desc = (
        f"Crowd forecast from {start:%d %b %Y} to {end:%d %b %Y}"
        + (f", last {last[1] * 100:.1f}%." if last else ".")
        + (f" {crowd_hidden_reason}" if crowd_hidden_reason and not crowd else "")
        + (f" {marked} forecasts of yours marked." if own else "")
        + (
            f" {milestone.name} on the right axis with the threshold {milestone.comparator} "
            f"{_fmt_value(milestone.threshold)} {milestone.unit}."
            if milestone
            else ""
        )
    )
    return _svg(W, H, uid, "Crowd forecast over time", desc, body)


# --- benchmark trajectory ---------------------------------------------------------------------


def _result_dot(css: str, x: float, y: float, tip: str) -> str:
    title = f"<title>{escape(tip)}</title>"
    return f'<circle class="{css}" cx="{_n(x)}" cy="{_n(y)}" r="4">{title}</circle>'


def benchmark_chart(
    *,
    name: str,
    unit: str,
    results: Sequence[tuple[dt.datetime, float, str]],
    revised: Sequence[tuple[dt.datetime, float, str]] = (),
    thresholds: Sequence[tuple[float, str]] = (),
    higher_is_better: bool = True,
    uid: str = "bchart",
) -> SafeString:
    """All current results as dots, the state of the art as a step line, superseded values as
    hollow dots, and question thresholds as dashed lines."""
    W, H = 760, 340
    left, right, top, bottom = 64, W - 20, 34, H - 34
    if not results:
        note = _text("chart-note", W / 2, H / 2, "No results recorded yet.", anchor="middle")
        return _svg(W, H, uid, f"{name} results", "No results recorded yet.", [note])
    times = [r[0] for r in (*results, *revised)]
    start, end = min(times), max(times)
    pad = (end - start) * 0.03 or dt.timedelta(days=15)
    xs = TimeScale(start - pad, end + pad, left, right)
    vs = value_scale(
        [r[1] for r in (*results, *revised)],
        bottom,
        top,
        extra=[t for t, _ in thresholds],
        allow_log=_log_ok(unit),
    )
    body: list[str] = []
    for v, label in vs.ticks():
        y = vs(v)
        body.append(_line("grid", left, y, right, y))
        body.append(_text("tick", left - 6, y, label, anchor="end", dy="4"))
    body += _time_axis(xs, top, bottom)
    axis = f"{unit} (log scale)" if vs.log else unit
    body.append(
        f'<text class="axis-label" transform="translate(14 {_n((top + bottom) / 2)}) rotate(-90)" '
        f'text-anchor="middle">{escape(axis)}</text>'
    )
    legend = Legend()
    for value, label in thresholds:
        y = vs(value)
        body.append(_line("threshold", left, y, right, y))
        body.append(_text("tick threshold-label", right - 4, y, label, anchor="end", dy="-5"))
    fr = frontier(results, higher_is_better)
    for d in _step_paths([(t, v) for t, v, _ in fr], xs, vs, xs.end, log_ok=vs.log):
        body.append(f'<path class="line bench" d="{d}"/>')
    for t, v, system in revised:
        tip = f"{system}: {_fmt_value(v)} {unit} (superseded by a revision)"
        body.append(_result_dot("dot revised", xs(t), vs(v), tip))
    frontier_keys = {(t, v, s) for t, v, s in fr}
    for t, v, system in results:
        css = "dot bench best" if (t, v, system) in frontier_keys else "dot bench"
        tip = f"{system}: {_fmt_value(v)} {unit} ({t:%d %b %Y})"
        body.append(_result_dot(css, xs(t), vs(v), tip))
    legend.add("line bench", "state of the art")
    legend.add("dot bench", "result")
    if revised:
        legend.add("dot revised", "superseded value")
    if thresholds:
        legend.add("threshold", "question threshold")
    body += legend.svg(left, 18)
    best = fr[-1]
    desc = (
        f"{len(results)} results from {start:%b %Y} to {end:%b %Y}; best {best[2]} with "
        f"{_fmt_value(best[1])} {unit} ({best[0]:%d %b %Y})."
    )
    return _svg(W, H, uid, f"{name} over time", desc, body)


# --- calibration ------------------------------------------------------------------------------


def _pct_range(lo: float, hi: float, decimals: int) -> str:
    return f"{lo * 100:.{decimals}f} to {hi * 100:.{decimals}f}%"


def calibration_chart(bins: Sequence[CalibrationBin], *, uid: str = "calib") -> SafeString:
    """Observed frequency against forecast probability per bin, with 95% Wilson intervals."""
    S = 360
    left, right, top, bottom = 48, S - 14, 14, S - 40
    xs = ValueScale(0.0, 1.0, left, right)
    ys = ValueScale(0.0, 1.0, bottom, top)
    body: list[str] = []
    for v in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        x, y = xs(v), ys(v)
        body.append(_line("grid", left, y, right, y))
        body.append(_line("grid", x, top, x, bottom))
        body.append(_text("tick", left - 6, y, f"{int(v * 100)}%", anchor="end", dy="4"))
        body.append(_text("tick", x, bottom + 16, f"{int(v * 100)}%", anchor="middle"))
    body.append(_line("diagonal", xs(0), ys(0), xs(1), ys(1)))
    mid_x, mid_y = (left + right) / 2, (top + bottom) / 2
    body.append(_text("axis-label", mid_x, S - 6, "forecast probability", anchor="middle"))
    body.append(
        f'<text class="axis-label" transform="translate(12 {_n(mid_y)}) rotate(-90)" '
        f'text-anchor="middle">observed frequency</text>'
    )
    # Empty bins carry NaN means; the scoring module's bins are drawn as they are.
    filled = [b for b in bins if b.count]
    max_count = max((b.count for b in filled), default=1)
    for b in filled:
        xf = b.mean_forecast
        x = xs(xf)
        tip = (
            f"{_pct_range(b.lower, b.upper, 0)}: {b.count} forecasts, mean {xf * 100:.1f}%, "
            f"observed {b.observed_frequency * 100:.1f}% "
            f"(95% interval {_pct_range(b.wilson_low, b.wilson_high, 1)})"
        )
        body.append(_line("interval", x, ys(b.wilson_low), x, ys(b.wilson_high)))
        for w in (b.wilson_low, b.wilson_high):
            body.append(_line("interval", x - 4, ys(w), x + 4, ys(w)))
        r = 3 + 5 * math.sqrt(b.count / max_count)
        body.append(
            f'<circle class="dot calib" cx="{_n(x)}" cy="{_n(ys(b.observed_frequency))}" '
            f'r="{_n(r)}">'
            f"<title>{escape(tip)}</title></circle>"
        )
    if not filled:
        body.append(
            _text("chart-note", mid_x, mid_y, "No resolved forecasts yet.", anchor="middle")
        )
    n = sum(b.count for b in bins)
    desc = (
        f"Calibration over {n} resolved forecasts in {len(filled)} bins; "
        "the diagonal is perfect calibration."
    )
    return _svg(S, S, uid, "Calibration", desc, body)
