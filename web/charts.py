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
from web.templatetags.takeoff import pct

MAX_POINTS = 500

Point = tuple[dt.datetime, float | None]


@dataclass(frozen=True)
class Size:
    """A chart's drawing box in SVG user units and how many time-axis labels fit in it."""

    width: int
    height: int
    max_ticks: int


# The wide variant is for desktops; the narrow one is drawn for phones (<= 640 px wide) so its
# 11-unit text stays legible instead of a 760-unit chart shrinking to half size.
WIDE = Size(760, 340, 9)
NARROW = Size(400, 300, 4)
CHAR_W = 6.2  # approximate width of an 11 px label character, for keeping labels inside


def responsive(render, *, uid: str, **kwargs) -> SafeString:
    """Both variants of a chart (``render(size=..., uid=..., **kwargs)``), the wide one shown on
    wide screens and the narrow one on phones (CSS ``.chart-wide`` / ``.chart-narrow``)."""
    wide = render(size=WIDE, uid=uid, **kwargs)
    narrow = render(size=NARROW, uid=f"{uid}-n", **kwargs)
    return mark_safe(
        f'<div class="chart-wide">{wide}</div><div class="chart-narrow">{narrow}</div>'
    )


def clip_steps(points: Sequence[tuple], start: dt.datetime) -> list[tuple]:
    """A piecewise-constant series restricted to times from ``start``: the value in force at
    ``start`` (the last point before it, moved to ``start``), then the points after it."""
    before = [p for p in points if p[0] < start]
    after = [p for p in points if p[0] >= start]
    if before and (not after or after[0][0] > start):
        return [(start, *before[-1][1:]), *after]
    return after


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


def _svg(
    width: int,
    height: int,
    uid: str,
    title: str,
    desc: str,
    body: list[str],
    *,
    series: Sequence[str] = (),
) -> SafeString:
    """The chart's ``<svg>``. ``series`` ("x y label" strings): points the page script reads
    out at the pointer and from the keyboard; the chart then takes focus (tabindex 0)."""
    data = ""
    if series:
        data = f' tabindex="0" data-series="{escape(";".join(series))}"'
    return mark_safe(
        f'<svg class="chart" id="{uid}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{uid}-title {uid}-desc" xmlns="http://www.w3.org/2000/svg" '
        f'preserveAspectRatio="xMidYMid meet"{data}>'
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


def _edge_anchor(x: float, label: str, width: float) -> str:
    """The text anchor that keeps a label centred on ``x`` inside [0, width]: "start" or "end"
    near an edge, where a centred label would be clipped."""
    half = len(label) * CHAR_W / 2
    if x + half > width - 2:
        return "end"
    if x - half < 2:
        return "start"
    return "middle"


def _time_axis(
    xs: TimeScale, top: float, bottom: float, *, width: float, max_ticks: int = 9
) -> list[str]:
    """Grid lines and date labels, thinned to at most ``max_ticks``; a label at either edge is
    anchored to stay inside the chart's ``width``."""
    ticks = xs.ticks()
    if len(ticks) > max_ticks:
        ticks = ticks[:: math.ceil(len(ticks) / max_ticks)]
    out = []
    for t, label in ticks:
        x = xs(t)
        out.append(_line("grid", x, top, x, bottom))
        out.append(_text("tick", x, bottom + 16, label, anchor=_edge_anchor(x, label, width)))
    out.append(_line("axis", xs.x0, bottom, xs.x1, bottom))
    return out


@dataclass
class Legend:
    items: list[tuple[str, str]] = field(default_factory=list)  # (css class, label)

    def add(self, css: str, label: str) -> None:
        self.items.append((css, label))

    ROW = 15.0

    def rows(self, x: float, max_x: float) -> int:
        """How many rows the legend takes from ``x`` when it wraps before ``max_x``."""
        return max(1, len({y for *_, y in self._placed(x, 0.0, max_x)}))

    def _placed(self, x: float, y: float, max_x: float) -> list[tuple[str, str, float, float]]:
        out = []
        x0 = x
        for css, label in self.items:
            w = 30 + 6.3 * len(label)
            if x > x0 and x + w - 9 > max_x:
                x, y = x0, y + self.ROW
            out.append((css, label, x, y))
            x += w
        return out

    def svg(self, x: float, y: float, max_x: float = math.inf) -> list[str]:
        """The legend's elements from (x, y), wrapping onto a new row before ``max_x``."""
        out = []
        for css, label, lx, ly in self._placed(x, y, max_x):
            if css.startswith("dot"):
                out.append(f'<circle class="{css}" cx="{_n(lx + 7)}" cy="{_n(ly - 4)}" r="4"/>')
            else:
                out.append(_line(css, lx, ly - 4, lx + 16, ly - 4))
            out.append(_text("legend", lx + 21, ly, label))
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


def _latest_label(x: float, y: float, text: str, *, top: float, css: str = "") -> list[str]:
    """The latest value written at the end of a line, inside the plot (anchored at its right
    end, above the point, or below it near the top), with a dot on the point."""
    dy = "14" if y - top < 16 else "-7"
    cls = f"latest-value halo {css}".strip()
    return [
        f'<circle class="{f"dot latest {css}".strip()}" cx="{_n(x)}" cy="{_n(y)}" r="3.5"/>',
        f'<text class="{cls}" data-latest="" x="{_n(x - 4)}" y="{_n(y)}" text-anchor="end" '
        f'dy="{dy}">{escape(text)}</text>',
    ]


def question_chart(
    *,
    start: dt.datetime,
    end: dt.datetime,
    crowd: Sequence[tuple[dt.datetime, float | None, float | None, float | None]] = (),
    crowd_hidden_reason: str = "",
    own: Sequence[tuple[dt.datetime, float | None]] = (),
    market: Sequence[tuple[dt.datetime, float | None]] = (),
    milestone: Milestone | None = None,
    show_median: bool = True,
    show_mean: bool = False,
    resolved_at: dt.datetime | None = None,
    uid: str = "qchart",
    size: Size = WIDE,
) -> SafeString:
    """Crowd forecast (log pool; median and mean optional) over time, with the viewer's own
    forecasts as markers and, for milestone questions, the benchmark's state of the art on a
    secondary axis with the threshold line, all on one time axis.

    ``crowd`` rows are (time, pooled p, median, mean); ``own`` rows are (time, p or None for a
    withdrawal); ``market`` rows are (time, YES price) of the play-money market, one per trade
    (docs/methods.md §15). Probabilities are in [0, 1]. Points before ``start`` are drawn as the
    value in force at ``start`` (``clip_steps``). The latest crowd value is written at the line's
    end (``data-latest``), and the crowd line's points ride along in ``data-series`` ("x y label"
    triples, ";"-separated) for the pointer and keyboard read-out of ``static/js/takeoff.js``.
    ``size``: ``WIDE`` or ``NARROW`` (``responsive`` draws both).
    """
    W, H = size.width, size.height
    crowd = downsample_steps(clip_steps(list(crowd), start))
    own = clip_steps(list(own), start) if own else []
    market = downsample_steps(clip_steps(list(market), start)) if market else []
    legend = Legend()
    if crowd:
        legend.add("line crowd", "crowd (log pool)")
        if show_median:
            legend.add("line median", "median")
        if show_mean:
            legend.add("line mean", "mean")
    if market:
        legend.add("line market", "market price")
    if milestone is not None:
        legend.add("line bench", f"{milestone.name}, best so far")
        legend.add("threshold", "threshold")
    if own:
        legend.add("dot own", "your forecasts")
    left, right = 40 if W < 500 else 52, (W - 58 if milestone else W - 20)
    top, bottom = 20 + Legend.ROW * legend.rows(left, W - 8), H - 34
    xs = TimeScale(start, end, left, right)
    ys = ValueScale(0.0, 1.0, bottom, top)
    body: list[str] = []
    labels: list[str] = []  # drawn last, over the lines and dots

    for v in (0, 0.25, 0.5, 0.75, 1.0):
        y = ys(v)
        body.append(_line("grid mid" if v == 0.5 else "grid", left, y, right, y))
        body.append(_text("tick", left - 6, y, f"{int(v * 100)}%", anchor="end", dy="4"))
    body += _time_axis(xs, top, bottom, width=W, max_ticks=size.max_ticks)

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
            body.append(_text("tick bench", right + 5, vs(v), label, dy="4"))
        ty = vs(milestone.threshold)
        body.append(_line("threshold", left, ty, right, ty))
        label = f"threshold {milestone.comparator} {_fmt_value(milestone.threshold)}"
        # At the left, where the trajectory is furthest from its target, and above the dots.
        below = ty - top < 14
        labels.append(
            _text("tick threshold-label halo", left + 4, ty, label, dy="13" if below else "-5")
        )
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
            f'<text class="axis-label bench" transform="translate({W - 6} {mid}) rotate(90)" '
            f'text-anchor="middle">{escape(milestone.name)} ({escape(milestone.unit)})</text>'
        )

    readout: list[str] = []
    if crowd:
        if show_median:
            for d in _step_paths([(r[0], r[2]) for r in crowd], xs, ys, now_end):
                body.append(f'<path class="line median" d="{d}"/>')
        if show_mean:
            for d in _step_paths([(r[0], r[3]) for r in crowd], xs, ys, now_end):
                body.append(f'<path class="line mean" d="{d}"/>')
        for d in _step_paths([(r[0], r[1]) for r in crowd], xs, ys, now_end):
            body.append(f'<path class="line crowd" d="{d}"/>')
        for t, p, *_ in crowd:
            if p is not None:
                readout.append(
                    f"{_n(xs(t))} {_n(ys(p))} Crowd {p * 100:.1f}% on {t:%d %b %Y %H:%M} UTC"
                )
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

    if market:
        for d in _step_paths(list(market), xs, ys, now_end):
            body.append(f'<path class="line market" d="{d}"/>')

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

    if resolved_at is not None and start <= resolved_at <= end:
        x = xs(resolved_at)
        body.append(_line("resolved-line", x, top, x, bottom))
        # Low in the plot, away from the 100% ticks, on the side of the line with room.
        rx, anchor = (x - 4, "end") if x > (left + right) / 2 else (x + 4, "start")
        labels.append(_text("tick halo", rx, bottom - 6, "resolved", anchor=anchor))

    last = next((r for r in reversed(crowd) if r[1] is not None), None)
    if last is not None and crowd[-1][1] is not None:
        labels += _latest_label(xs(max(now_end, last[0])), ys(last[1]), pct(last[1]), top=top)

    body += labels
    body += legend.svg(left, 18, W - 8)
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
    return _svg(W, H, uid, "Crowd forecast over time", desc, body, series=readout)


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
    size: Size = WIDE,
) -> SafeString:
    """All current results as dots, the state of the art as a step line, superseded values as
    hollow dots, and question thresholds as dashed lines (labelled at the left, over the dots).
    The best value so far is written at the line's end (``data-latest``)."""
    W, H = size.width, size.height
    left, right, top, bottom = (52 if W < 500 else 64), W - 16, 34.0, H - 34
    if not results:
        note = _text("chart-note", W / 2, H / 2, "No results recorded yet.", anchor="middle")
        return _svg(W, H, uid, f"{name} results", "No results recorded yet.", [note])
    legend = Legend()
    legend.add("line bench", "state of the art")
    legend.add("dot bench", "result")
    if revised:
        legend.add("dot revised", "superseded value")
    if thresholds:
        legend.add("threshold", "question threshold")
    top = 20 + Legend.ROW * legend.rows(left, W - 8)
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
    labels: list[str] = []
    for v, label in vs.ticks():
        y = vs(v)
        body.append(_line("grid", left, y, right, y))
        body.append(_text("tick", left - 6, y, label, anchor="end", dy="4"))
    body += _time_axis(xs, top, bottom, width=W, max_ticks=size.max_ticks)
    axis = f"{unit} (log scale)" if vs.log else unit
    body.append(
        f'<text class="axis-label" transform="translate(12 {_n((top + bottom) / 2)}) rotate(-90)" '
        f'text-anchor="middle">{escape(axis)}</text>'
    )
    for value, label in thresholds:
        y = vs(value)
        body.append(_line("threshold", left, y, right, y))
        dy = "13" if y - top < 14 else "-5"
        labels.append(_text("tick threshold-label halo", left + 4, y, label, dy=dy))
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
    best = fr[-1]
    labels += _latest_label(right, vs(best[1]), _fmt_value(best[1]), top=top, css="bench")
    body += labels
    body += legend.svg(left, 18, W - 8)
    desc = (
        f"{len(results)} results from {start:%b %Y} to {end:%b %Y}; best {best[2]} with "
        f"{_fmt_value(best[1])} {unit} ({best[0]:%d %b %Y})."
    )
    return _svg(W, H, uid, f"{name} over time", desc, body)


# --- the spread of current forecasts ----------------------------------------------------------


def spread_chart(
    counts: Sequence[int],
    *,
    at: dt.datetime,
    uid: str = "spread",
    size: Size = WIDE,
) -> SafeString:
    """A histogram of the forecasts held at ``at``: ``counts[i]`` forecasters in the i-th of
    ``len(counts)`` equal probability bins from 0 to 100%. Each bar carries its count above it
    and a ``<title>`` with its range."""
    W, H = size.width, (140 if size.width > 500 else 165)  # lower than the crowd chart
    left, right, top, bottom = 12, W - 12, 18, H - 24
    n = len(counts)
    total = sum(counts)
    peak = max(counts, default=0) or 1
    slot = (right - left) / max(n, 1)
    body: list[str] = [_line("axis", left, bottom, right, bottom)]
    for i, c in enumerate(counts):
        lo, hi = 100 * i / n, 100 * (i + 1) / n
        x = left + i * slot
        h = (bottom - top) * c / peak
        tip = f"{lo:.0f} to {hi:.0f}%: {c} forecaster{'s' if c != 1 else ''}"
        body.append(
            f'<rect class="bar-spread" x="{_n(x + 2)}" y="{_n(bottom - h)}" '
            f'width="{_n(slot - 4)}" height="{_n(h)}"><title>{escape(tip)}</title></rect>'
        )
        if c:
            body.append(_text("tick", x + slot / 2, bottom - h - 4, f"{c:,}", anchor="middle"))
    step = 1 if slot >= 48 else 2
    for i in range(0, n + 1, step):
        x = left + i * slot
        label = f"{100 * i // n}%"
        body.append(_text("tick", x, bottom + 15, label, anchor=_edge_anchor(x, label, W)))
    desc = (
        f"{total:,} current forecasts on {at:%d %b %Y %H:%M} UTC in {n} bins: "
        + ", ".join(f"{100 * i // n}–{100 * (i + 1) // n}%: {c}" for i, c in enumerate(counts))
        + "."
    )
    return _svg(W, H, uid, "Spread of current forecasts", desc, body)


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
