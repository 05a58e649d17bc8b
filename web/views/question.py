"""The question page: what is asked, the crowd over time, your forecast, the resolution."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone

from forecasts import typed
from forecasts.models import CrowdPoint, CrowdState, Forecast
from forecasts.privacy import full_history_access, public_threshold
from forecasts.reveal import crowd_reveal
from forecasts.selectors import CrowdAt, crowd_headlines, forecast_spread
from markets.benchmarks.models import plot_time
from markets.models import AuditRecord, BenchmarkResult, Question, Resolution
from scoring.bots import bot_forecasts_on
from scoring.models import Rule, Score, Subject
from scoring.visibility import scores_visible_to
from web import charts
from web.forms import ForecastForm
from web.views._common import question_state, viewer_forecaster
from web.views.conditional import conditionals_of
from web.views.typed import (
    forecast_text,
    outcome_text,
    own_view,
    range_text,
    typed_charts_for,
    typed_form_for,
    typed_view,
)

# Very long histories are pre-sampled by event index (seq is dense, 1..events), so a
# 100,000-event question reads ~500 rows through the (question, seq) index instead of all of
# them; ``charts.downsample_steps`` then thins by time for display.
PRESAMPLE = charts.MAX_POINTS
FRAGMENTS = ("summary", "chart", "panel", "history")
# The chart's time ranges (``?range=``): the last month, six months, year, or everything.
RANGES: dict[str, dt.timedelta | None] = {
    "1m": dt.timedelta(days=30),
    "6m": dt.timedelta(days=182),
    "1y": dt.timedelta(days=365),
    "all": None,
}
RANGE_LABELS = {"1m": "1M", "6m": "6M", "1y": "1Y", "all": "All"}


class BadRange(ValueError):
    """A ``range`` query parameter that is not one of ``RANGES``."""


def chart_range(value: str | None) -> str:
    """The chart range asked for: a key of ``RANGES`` ("all" when absent).

    Raises ``BadRange`` with a message for the viewer on any other value.
    """
    if value is None or value == "":
        return "all"
    if value not in RANGES:
        choices = ", ".join(RANGES)
        raise BadRange(f"Unknown chart range {value[:20]!r}: choose one of {choices}.")
    return value


SCORE_RULES = {
    Rule.BRIER: "Brier",
    Rule.LOG: "Log",
    Rule.BASELINE: "Baseline",
    Rule.PEER: "Peer",
    Rule.SPOT_BRIER: "Brier at close",
    Rule.MC_BRIER: "Brier (multiple choice, 0–2)",
    Rule.CRPS: "CRPS",
}
# Where the scoring page (web.views.scoring_help) explains each rule, and a one-line hint.
SCORE_HELP = {
    Rule.BRIER: ("brier", "(p − o)², time-averaged over your covered time; lower is better"),
    Rule.LOG: (
        "log",
        "ln of the probability given to the outcome, time-averaged; higher is better",
    ),
    Rule.BASELINE: ("baseline", "100 · (log₂ p_o + 1) over the whole window; 0 is a coin flip"),
    Rule.PEER: ("peer", "Your log score minus the others' mean, × 100, over the whole window"),
    Rule.SPOT_BRIER: ("spot", "(p − o)² of the forecast in force at the close"),
    Rule.MC_BRIER: (
        "brier",
        "Σ (p_k − o_k)² over the options, time-averaged; 0 to 2, lower is better",
    ),
    Rule.CRPS: (
        "brier",
        "Continuous ranked probability score in the question's units, time-averaged; lower is "
        "better",
    ),
}


def visible_question(request: HttpRequest, pk: int) -> Question:
    """The question, or a 404 page when it does not exist or is not visible."""
    question = Question.objects.visible_one(request.user, pk)
    if question is None:
        raise Http404("No such question.")
    return question


def question_detail(request: HttpRequest, pk: int) -> HttpResponse:
    question = visible_question(request, pk)
    try:
        span = chart_range(request.GET.get("range"))
    except BadRange as exc:
        return render(request, "400.html", {"message": str(exc)}, status=400)
    context = question_context(request, question, span=span)
    context["conditionals"] = conditionals_of(question)
    from web.views.trading import market_panel

    context["market"] = market_panel(request, question)
    return render(request, "markets/question_detail.html", context)


def crowd_series(
    question: Question,
    state: CrowdState | None,
    *,
    median: bool = True,
    mean: bool = False,
    public: bool = False,
    summary: bool = False,
) -> list[tuple]:
    """(time, pooled, median, mean) rows of the crowd history, pre-sampled when very long.

    ``public``: only the public series (docs/privacy.md), for viewers without full-history
    access; pre-sampled by its own dense numbering ``public_seq``. ``summary`` (multiple choice
    and continuous questions): (time, ``CrowdPoint.summary`` bytes or None) rows instead.
    """
    if state is None or not state.events:
        return []
    qs = CrowdPoint.objects.filter(question=question)
    column, n = "seq", state.events
    if public:
        threshold = public_threshold(question.tournament.min_forecasters)
        qs = qs.filter(public_seq__isnull=False, forecasters__gte=threshold)
        column, n = "public_seq", state.public_points
    if n > 2 * PRESAMPLE:
        stride = n / PRESAMPLE
        seqs = sorted({1 + int(i * stride) for i in range(PRESAMPLE)} | {n})
        if connection.vendor == "postgresql":
            # One array parameter: Django's IN (...) costs ~15 ms of per-value work for 500.
            qs = qs.extra(where=[f"{column} = ANY(%s)"], params=[seqs])
        else:
            qs = qs.filter(**{f"{column}__in": seqs})
    if summary:
        return list(qs.order_by("seq").values_list("time", "summary"))
    fields = ["time", "probability", "median" if median else "pk", "mean" if mean else "pk"]
    rows = qs.order_by("seq").values_list(*fields)
    if median and mean:
        return list(rows)
    return [(t, p, m if median else None, a if mean else None) for t, p, m, a in rows]


def _market_series(question: Question) -> list[tuple]:
    """(time, YES price) after each trade of the question's play-money market (§15), if any."""
    from trading.models import Trade

    rows = Trade.objects.filter(market__question=question).order_by("sequence")
    return [(t, prices[0]) for t, prices in rows.values_list("created_at", "prices")]


def _milestone(question: Question) -> charts.Milestone | None:
    if not question.has_milestone or question.threshold is None:
        return None  # a best-result rule (numeric, multiple choice) has no threshold to draw
    benchmark = question.benchmark
    results = []
    for system, value, achieved_on, first_seen in BenchmarkResult.objects.filter(
        benchmark=benchmark, is_current=True
    ).values_list("system", "value", "achieved_on", "first_seen"):
        results.append((plot_time(achieved_on, first_seen), value, system))
    results.sort(key=lambda r: r[0])
    return charts.Milestone(
        name=benchmark.name,
        unit=benchmark.unit,
        results=results,
        threshold=question.threshold,
        comparator=question.get_comparator_display(),
        higher_is_better=benchmark.higher_is_better,
    )


def _chart_window(question: Question, now: dt.datetime, crowd: list, own: list):
    start = question.open_time
    end = min(max(now, start + dt.timedelta(days=1)), question.close_time)
    if now < question.open_time:
        end = question.close_time
    last_times = [rows[-1][0] for rows in (crowd, own) if rows]
    if last_times:
        end = max(end, *last_times)
    return start, end


def question_context(
    request: HttpRequest,
    question: Question,
    *,
    form=None,
    span: str = "all",
    preview: Any = None,
) -> dict[str, Any]:
    """Everything the question page and its fragments show. ``span``: the chart's time range,
    a key of ``RANGES`` (``chart_range`` validates the query parameter). ``form``: the bound
    form to show again (the yes/no form, or a ``web.typed_forms`` form); ``preview``: the
    previewed distribution of a continuous form (``web.typed_charts.density_chart``)."""
    now = timezone.now()
    user = request.user
    state = CrowdState.objects.filter(question=question).first()
    forecaster = viewer_forecaster(user)
    events: list[Forecast] = []
    if forecaster is not None:
        events = list(
            Forecast.objects.filter(question=question, forecaster=forecaster).order_by("time", "id")
        )
    current = events[-1] if events and events[-1].kind == Forecast.Kind.FORECAST else None
    # The headline this viewer sees: the public series' latest point, or with full-history
    # access the live crowd (a settled question's: at its scoring cutoff). docs/privacy.md.
    full = full_history_access(user)
    headline = crowd_headlines([question], user).get(question.pk)
    reveal = crowd_reveal(
        question, user, state=state, now=now, has_forecast=bool(events), public=headline
    )

    resolutions = list(
        question.resolutions.select_related(
            "decided_by", "evidence_result__benchmark", "evidence_snapshot"
        )
        .defer("evidence_snapshot__raw")
        .order_by("-version")
    )
    final = next((r for r in resolutions if r.state == Resolution.State.FINAL), None)
    proposed = next((r for r in resolutions if r.state == Resolution.State.PROPOSED), None)
    status = question_state(question, now, proposed=proposed is not None)
    accepting = question.is_open_at(now)

    show_median = request.GET.get("median", "1") != "0"
    show_mean = request.GET.get("mean") == "1"
    crowd = (
        crowd_series(question, state, median=show_median, mean=show_mean, public=not full)
        if reveal.visible and question.is_binary
        else []
    )
    own = [(e.time, e.probability) for e in events]
    start, end = _chart_window(question, now, crowd, own)
    window = RANGES[span]
    if window is not None:
        start = max(start, end - window)
    typed_charts: dict[str, Any] = {}
    if typed.is_vector(question):
        rows = (
            crowd_series(question, state, public=not full, summary=True) if reveal.visible else []
        )
        t0, t1 = _chart_window(question, now, rows, [(e.time,) for e in events])
        if RANGES[span] is not None:
            t0 = max(t0, t1 - RANGES[span])
        for e in events:
            e.typed_text = forecast_text(question, e)  # type: ignore[attr-defined]
        typed_charts = typed_charts_for(
            question,
            start=t0,
            end=t1,
            crowd=rows,
            events=events,
            current=current,
            headline=headline if reveal.visible else None,
            hidden_reason="" if reveal.visible else reveal.reason,
        )
    chart = charts.responsive(
        charts.question_chart,
        uid="qchart",
        start=start,
        end=end,
        crowd=crowd,
        crowd_hidden_reason="" if reveal.visible else reveal.reason,
        own=own,
        market=_market_series(question) if question.is_binary else [],
        milestone=_milestone(question),
        show_median=show_median,
        show_mean=show_mean,
        resolved_at=final.resolved_at if final else None,
    )

    typed_form = None
    if typed.is_vector(question):
        typed_form = form if form is not None else typed_form_for(question, events)
        form = None
    if form is None:
        # Start from your own forecast: the current one, or after a withdrawal the last one you
        # made. Never from the crowd's (it would anchor you), nor from 50%: a first forecast
        # starts empty and the input is required, so an untouched form saves nothing.
        last = next((e for e in reversed(events) if e.kind == Forecast.Kind.FORECAST), None)
        initial = last.probability if last is not None else None
        form = ForecastForm(initial={"probability": ForecastForm.percent(initial)})

    return {
        # Bots' current forecasts (forecasts.bots), shown as bots, once the crowd is shown.
        "bot_forecasts": bot_forecasts_on(question) if reveal.visible else [],
        "question": question,
        "tournament": question.tournament,
        "now": now,
        "status": status,
        "accepting": accepting,
        "crowd": headline,
        "live_forecasters": state.forecasters if state is not None else 0,
        "reveal": reveal,
        "full_history": full,
        "public_min": public_threshold(question.tournament.min_forecasters),
        "chart": chart,
        "spread": _spread(question, headline, reveal.visible, now) if question.is_binary else None,
        "chart_range": span,
        "ranges": RANGE_LABELS,
        "show_mean": show_mean,
        "show_median": show_median,
        "events": list(reversed(events)),
        "current": current,
        "form": form,
        "final": final,
        "outcome_text": outcome_text(question, final),
        "typed": typed_view(question, headline) if reveal.visible else None,
        "typed_form": typed_form,
        "typed_own": own_view(question, current) if typed_form is not None else None,
        "preview": preview,
        "range_text": range_text(question),
        **typed_charts,
        "proposed": proposed,
        "resolutions": resolutions,
        # The latest version that an import wrote, if any: such a question came from a
        # researcher's data with its outcome, not from criteria written here.
        "imported": next((r for r in resolutions if r.source == Resolution.Source.IMPORT), None),
        "audit": list(
            AuditRecord.objects.filter(question=question)
            .select_related("actor", "resolution")
            .order_by("at", "id")
        ),
        "scores": _scores(question, final, forecaster, user),
    }


def _spread(question: Question, headline: Any, visible: bool, now: dt.datetime):
    """The histogram of current forecasts, or None: shown exactly when the crowd is and at
    least max(3, ``min_forecasters``) forecasters are counted in it, as of the crowd point the
    viewer is shown (the latest public point for most viewers: docs/privacy.md, "The spread of
    forecasts"); with full-history access, the live crowd's forecasts as of now."""
    if not visible or headline is None:
        return None
    if isinstance(headline, CrowdAt):
        at, events = headline.updated_at, headline.seq
    else:
        at, events = now, None
    counts = forecast_spread(question.pk, at, events=events)
    if sum(counts) < public_threshold(question.tournament.min_forecasters):
        return None
    return {
        "chart": charts.responsive(charts.spread_chart, uid="qspread", counts=counts, at=at),
        "at": at,
        "total": sum(counts),
    }


def _scores(
    question: Question, final: Resolution | None, forecaster, user: Any = None
) -> dict[str, Any] | None:
    """The viewer's and the crowd's scores on this question under its final resolution (the
    crowd's spot scores only where the viewer may see them: ``scoring.visibility``)."""
    if final is None or final.outcome == Resolution.Outcome.ANNULLED:
        return None
    mine: dict[str, Score] = {}
    crowd: dict[str, Score] = {}
    rows = Score.objects.filter(question=question, resolution=final, rule__in=list(SCORE_RULES))
    who = Q(subject=Subject.CROWD)
    if forecaster is not None:
        who |= Q(forecaster=forecaster)
    rows = scores_visible_to(user, rows.filter(who))
    for s in rows:
        (mine if s.forecaster_id else crowd)[s.rule] = s
    if not mine and not crowd:
        return {"pending": True, "rules": []}
    return {
        "pending": False,
        "rules": [
            {
                "rule": rule,
                "label": label,
                "anchor": SCORE_HELP[rule][0],
                "help": SCORE_HELP[rule][1],
                "mine": mine.get(rule),
                "crowd": crowd.get(rule),
            }
            for rule, label in SCORE_RULES.items()
            if rule in mine or rule in crowd
        ],
        # The time-averaged rows' coverage; the spot rows are stored with coverage 1.
        "coverage": next(
            (
                mine[r].coverage
                for r in (Rule.PEER, Rule.BRIER, Rule.BASELINE, Rule.LOG)
                if r in mine
            ),
            None,
        ),
        # Resolved before the scheduled close: the rest of the window counts as uncovered
        # (docs/methods.md §4.5), which the page explains next to the coverage.
        "early": final.resolved_at < question.close_time,
    }


def render_fragments(
    request: HttpRequest, context: dict[str, Any], *, oob: bool = False
) -> dict[str, str]:
    """The parts of the question page that change when the viewer forecasts."""
    return {
        name: render_to_string(
            f"markets/question/_{name}.html", {**context, "oob": oob}, request=request
        )
        for name in FRAGMENTS
    }
