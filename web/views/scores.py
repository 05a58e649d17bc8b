"""Leaderboards and track records (a forecaster's, and the crowd's own)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from forecasts.models import Forecast, Forecaster
from forecasts.privacy import full_history_access
from forecasts.selectors import crowd_at_cutoff, forecasts_held_at
from markets.models import Question, Resolution, Tournament
from scoring.calibration import brier_decomposition, calibration_bins
from scoring.leaderboard import STANDINGS_ORDER, would_rank
from scoring.models import LeaderboardEntry, Rule, Score, Subject
from scoring.visibility import scores_visible_to
from web import charts
from web.views._common import FAR_FROM_CROWD, STALE_AFTER, active_forecasts
from web.views.typed_scores import typed_calibration_section

LEADERBOARD_PAGE = 100
TABLE_RULES = [Rule.BRIER, Rule.LOG, Rule.BASELINE, Rule.PEER, Rule.SPOT_BRIER]
# Multiple choice and continuous: their own Brier (0..2) and CRPS, and the spot log row whose
# ``forecast`` is the probability held on what happened (docs/methods.md §4.16).
TYPED_TABLE_RULES = [Rule.MC_BRIER, Rule.CRPS, Rule.SPOT_LOG]
CALIBRATION_BINS = 10


def leaderboard(request: HttpRequest, slug: str) -> HttpResponse:
    tournament = get_object_or_404(Tournament.objects.visible_to(request.user), slug=slug)
    entries = LeaderboardEntry.objects.filter(tournament=tournament).select_related(
        "forecaster__user"
    )
    reference = list(entries.filter(forecaster__isnull=True).order_by("subject"))
    ranks, n_ranked = would_rank(tournament.pk, reference)
    for entry in reference:
        entry.would_rank = ranks[entry.subject]
    people = entries.filter(forecaster__isnull=False).order_by(*STANDINGS_ORDER)
    page = Paginator(people, LEADERBOARD_PAGE).get_page(request.GET.get("page"))
    mine = None
    if request.user.is_authenticated:
        mine = people.filter(forecaster__user=request.user).first()
    computed_at = max((e.computed_at for e in [*reference, *page.object_list]), default=None)
    return render(
        request,
        "markets/leaderboard.html",
        {
            "tournament": tournament,
            "reference": reference,
            "page": page,
            "mine": mine,
            "mine_on_page": mine is not None and mine in page.object_list,
            "computed_at": computed_at,
            "n_ranked": n_ranked,
            # Only the empty-board message uses it.
            "n_resolved": (
                tournament.questions.filter(status=Question.Status.RESOLVED).count()
                if not reference and not page.object_list
                else 0
            ),
        },
    )


# --- track records ----------------------------------------------------------------------------


@dataclass
class QuestionScore:
    question: Question
    resolution: Resolution
    outcome: int | None  # 1 YES, 0 NO; None for the other question types (``outcome_text``)
    cutoff: dt.datetime  # the scheduled close, or the resolution when that came first
    # In force at the cutoff: the probability of YES; for the other types the probability held
    # on what happened (the spot rows' ``forecast``, docs/methods.md §4.16).
    forecast: float | None = None
    scores: dict[str, float | None] = field(default_factory=dict)
    coverage: float | None = None

    @property
    def scored(self) -> bool:
        return bool(self.scores)

    @property
    def outcome_text(self) -> str:
        """What happened, for a question that is not yes/no: the option's label, the value
        (a date for date questions), or below / above the range."""
        r, q = self.resolution, self.question
        if r.outcome == Resolution.Outcome.OPTION and r.option is not None:
            return str(q.options[r.option]) if r.option < len(q.options) else f"option {r.option}"
        if r.outcome == Resolution.Outcome.VALUE and r.value is not None:
            if q.type == Question.Type.DATE:
                return dt.datetime.fromtimestamp(r.value, tz=dt.UTC).date().isoformat()
            return f"{r.value:g}"
        return {"below": "below the range", "above": "above the range"}.get(r.outcome, r.outcome)


def _resolved(
    request: HttpRequest, tournament: Tournament | None, *, forecaster: Forecaster | None = None
) -> list[QuestionScore]:
    """Resolved questions of every type (not annulled) that the viewer may see (and the
    forecaster forecast).

    Built from resolutions rather than from scores, so calibration shows as soon as a question
    resolves and the table says which scores are still being computed.
    """
    finals = (
        Resolution.objects.filter(state=Resolution.State.FINAL)
        .exclude(outcome=Resolution.Outcome.ANNULLED)
        .filter(question__in=Question.objects.visible_to(request.user))
    )
    if tournament is not None:
        finals = finals.filter(question__tournament=tournament)
    if forecaster is not None:
        finals = finals.filter(
            question__in=Forecast.objects.filter(forecaster=forecaster).values("question_id")
        )
    finals = finals.with_cutoff()
    if forecaster is None:
        # The crowd forecast in force at each cutoff, in the same query: the public series'
        # point there for viewers without full-history access (docs/privacy.md).
        finals = finals.annotate(held=crowd_at_cutoff(public=not full_history_access(request.user)))
    rows = [
        QuestionScore(
            question=r.question,
            resolution=r,
            outcome=r.outcome_value,
            cutoff=r.cutoff,
            forecast=getattr(r, "held", None),
        )
        for r in finals.select_related("question__tournament").order_by(
            "-resolved_at", "question_id"
        )
    ]
    if forecaster is not None:
        _attach_forecaster_probs(rows, forecaster)
    return rows


def _attach_scores(rows: list[QuestionScore], who: Q, viewer: Any = None) -> list[QuestionScore]:
    """Scores of ``who`` on the rows' resolutions; with ``viewer``, only those they may see
    (``scoring.visibility``)."""
    by_resolution = {r.resolution.pk: r for r in rows}
    scores = Score.objects.filter(
        who, resolution_id__in=by_resolution, rule__in=[*TABLE_RULES, *TYPED_TABLE_RULES]
    )
    if viewer is not None:
        scores = scores_visible_to(viewer, scores)
    for resolution_id, rule, score, coverage, held in scores.values_list(
        "resolution_id", "rule", "score", "coverage", "forecast"
    ):
        row = by_resolution[resolution_id]
        row.scores[rule] = score
        if rule in (Rule.BRIER, Rule.LOG, Rule.BASELINE, Rule.PEER):  # one coverage for all
            row.coverage = coverage
        if rule == Rule.SPOT_LOG and not row.question.is_binary:
            row.forecast = held
    return rows


def _reference(subject: str) -> Q:
    """The crowd's, median's or mean's rows: those without a forecaster, read from the partial
    index ``score_reference_rows`` rather than among every forecaster's scores."""
    return Q(subject=subject, forecaster__isnull=True)


def _attach_forecaster_probs(rows: list[QuestionScore], forecaster: Forecaster) -> None:
    held = forecasts_held_at(
        {r.question.pk: r.cutoff for r in rows}, Forecast.objects.filter(forecaster=forecaster)
    )
    for row in rows:
        if row.question.is_binary:
            row.forecast = held[row.question.pk].get(forecaster.pk)


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return sum(vals) / len(vals) if vals else None


def _summary(rows: list[QuestionScore]) -> dict[str, Any]:
    """Totals over the rows. Peer, baseline and coverage are comparable across question types
    and averaged over all; the Brier and log means are per type (docs/methods.md §4.16): yes/no
    (Brier on [0, 1]) and multiple choice (Brier on [0, 2]); a continuous log score is of a
    1/200-wide bucket, not comparable with either."""
    scored = [r for r in rows if r.scored]
    binary = [r for r in scored if r.question.is_binary]
    peers = [r.scores.get(Rule.PEER) for r in scored]
    return {
        "questions": len(rows),
        "scored": len(scored),
        "mean_brier": _mean([r.scores.get(Rule.BRIER) for r in binary]),
        "mean_mc_brier": _mean([r.scores.get(Rule.MC_BRIER) for r in scored]),
        "mean_log": _mean([r.scores.get(Rule.LOG) for r in binary]),
        "mean_baseline": _mean([r.scores.get(Rule.BASELINE) for r in scored]),
        "mean_peer": _mean(peers),
        "total_peer": sum(p for p in peers if p is not None) if scored else None,
        "mean_coverage": _mean([r.coverage for r in scored]),
    }


def _calibration(rows: list[QuestionScore]) -> dict[str, Any]:
    pairs = [
        (r.forecast, r.outcome) for r in rows if r.forecast is not None and r.outcome is not None
    ]
    probs = [p for p, _ in pairs]
    outcomes = [o for _, o in pairs]
    bins = calibration_bins(probs, outcomes, CALIBRATION_BINS)
    return {
        "n": len(pairs),
        "bins": [b for b in bins if b.count],
        "chart": charts.calibration_chart(bins),
        "decomposition": (
            brier_decomposition(probs, outcomes, CALIBRATION_BINS) if pairs else None
        ),
    }


def _tournaments_filter(request: HttpRequest) -> tuple[list[Tournament], Tournament | None]:
    """The tournaments the viewer can see, and the one ``?tournament=SLUG`` chose (None without
    the parameter). Raises Http404 for a slug that names no tournament the viewer can see,
    rather than quietly showing every tournament."""
    tournaments = list(Tournament.objects.visible_to(request.user).order_by("name"))
    slug = request.GET.get("tournament")
    chosen = next((t for t in tournaments if t.slug == slug), None)
    if slug and chosen is None:
        raise Http404("No such tournament.")
    return tournaments, chosen


def track_record(request: HttpRequest, pk: int) -> HttpResponse:
    """A forecaster's track record (docs/privacy.md). It exists for a viewer only where the
    forecaster has forecast on a question the viewer can see (else 404, as for an id that does
    not exist); per-question forecasts, scores and calibration are shown to the forecaster and
    to viewers with full-history access, the summary (the leaderboard's kind of figures) to
    everyone."""
    forecaster = get_object_or_404(Forecaster.objects.select_related("user"), pk=pk)
    is_me = request.user.is_authenticated and forecaster.user_id == request.user.pk
    if not is_me and not _visible_anywhere(request, forecaster):
        # Activity only in tournaments the viewer cannot see: the account stays unknown.
        raise Http404("No such forecaster.")
    tournaments, chosen = _tournaments_filter(request)
    rows = _attach_scores(
        _resolved(request, chosen, forecaster=forecaster), Q(forecaster=forecaster)
    )
    crowd_rows = _attach_scores(
        [QuestionScore(r.question, r.resolution, r.outcome, r.cutoff) for r in rows],
        _reference(Subject.CROWD),
        request.user,
    )
    detail = is_me or full_history_access(request.user)
    return render(
        request,
        "markets/track_record.html",
        {
            "who": forecaster.display_name,
            "forecaster": forecaster,
            "is_me": is_me,
            "detail": detail,
            "is_crowd": False,
            "rows": rows,
            "summary": _summary(rows),
            "crowd_summary": _summary(crowd_rows),
            "calibration": _calibration(rows) if detail else None,
            "typed_calibration": (
                typed_calibration_section(
                    [chosen] if chosen else tournaments, "me", forecaster_ids={forecaster.pk}
                )
                if detail
                else None
            ),
            "tournaments": tournaments,
            "chosen": chosen,
            # Your own open forecasts against the crowd you see, "needs update" first.
            "active": active_forecasts(request.user) if is_me else None,
            "stale_days": STALE_AFTER.days,
            "far_points": round(FAR_FROM_CROWD * 100),
        },
    )


def _visible_anywhere(request: HttpRequest, forecaster: Forecaster) -> bool:
    return Forecast.objects.filter(
        forecaster=forecaster, question__in=Question.objects.visible_to(request.user)
    ).exists()


def crowd_track_record(request: HttpRequest) -> HttpResponse:
    tournaments, chosen = _tournaments_filter(request)
    viewer = request.user
    rows = _attach_scores(_resolved(request, chosen), _reference(Subject.CROWD), viewer)
    comparators = []
    others: dict[str, list[QuestionScore]] = {}
    for subject in (Subject.MEDIAN, Subject.MEAN, Subject.MARKET):
        others[subject] = other = _attach_scores(
            [QuestionScore(r.question, r.resolution, r.outcome, r.cutoff) for r in rows],
            _reference(subject),
            viewer,
        )
        summary = _summary(other)
        if summary["scored"]:
            comparators.append((Subject(subject).label, summary))
    return render(
        request,
        "markets/track_record.html",
        {
            "who": "The crowd",
            "is_crowd": True,
            "detail": True,
            "rows": rows,
            "summary": _summary(rows),
            "comparators": comparators,
            "market_comparison": _market_comparison(rows, others),
            "calibration": _calibration(rows),
            "typed_calibration": typed_calibration_section(
                [chosen] if chosen else tournaments,
                "crowd",
                public=not full_history_access(viewer),
            ),
            "tournaments": tournaments,
            "chosen": chosen,
        },
    )


def _market_comparison(
    crowd: list[QuestionScore], others: dict[str, list[QuestionScore]]
) -> list[tuple[str, dict[str, Any]]]:
    """Log pool, median and market price over the same questions: those where the market was
    scored (docs/methods.md §15.8), as (label, ``_summary``) rows; [] when there is none."""
    market = others[Subject.MARKET]
    keep = [i for i, r in enumerate(market) if r.scored]
    if not keep:
        return []
    subjects = ((Subject.CROWD, crowd), (Subject.MEDIAN, others[Subject.MEDIAN]))
    return [
        (Subject(subject).label, _summary([rows[i] for i in keep]))
        for subject, rows in (*subjects, (Subject.MARKET, market))
    ]


@login_required
def my_track_record(request: HttpRequest) -> HttpResponse:
    forecaster = Forecaster.objects.filter(user=request.user).first()
    if forecaster is None:
        return render(request, "markets/track_record_empty.html", {})
    url = redirect("track-record", pk=forecaster.pk).url
    query = request.GET.urlencode()
    return redirect(f"{url}?{query}" if query else url)


# --- calibration ------------------------------------------------------------------------------
