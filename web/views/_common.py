"""What the list pages share: question rows with crowd, reveal and the viewer's own forecast."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from forecasts.models import CrowdState, Forecast, Forecaster
from forecasts.reveal import Reveal, crowd_reveal
from forecasts.selectors import CrowdAt, crowd_headlines
from markets.models import Question, Resolution
from web.views.typed import headline_text, own_view, typed_view

CLOSING_SOON = dt.timedelta(days=30)

FILTERS = [
    ("all", "All"),
    ("open", "Open"),
    ("closing", "Closing soon"),
    ("resolved", "Resolved"),
]


def viewer_forecaster(user: Any) -> Forecaster | None:
    """The viewer's forecaster row, without creating one on a page view."""
    if not user.is_authenticated:
        return None
    return Forecaster.objects.filter(user=user).first()


def crowd_of(question: Question) -> CrowdState | None:
    try:
        return question.crowd
    except CrowdState.DoesNotExist:
        return None


def question_state(question: Question, now: dt.datetime, *, proposed: bool = False) -> str:
    """What a forecaster can do, in a word: upcoming, open, closed, proposed, resolved or
    annulled."""
    if question.status == Question.Status.RESOLVED:
        return "resolved"
    if question.status == Question.Status.ANNULLED:
        return "annulled"
    if proposed:
        return "proposed"
    if question.is_open_at(now):
        return "open"
    if now < question.open_time:
        return "upcoming"
    return "closed"


def filter_questions(qs: QuerySet[Question], name: str, now: dt.datetime) -> QuerySet[Question]:
    accepting = Q(
        status__in=[Question.Status.UPCOMING, Question.Status.OPEN],
        open_time__lte=now,
        close_time__gt=now,
    )
    if name == "open":
        return qs.filter(accepting)
    if name == "closing":
        return qs.filter(accepting, close_time__lte=now + CLOSING_SOON)
    if name == "resolved":
        return qs.filter(status__in=[Question.Status.RESOLVED, Question.Status.ANNULLED]).order_by(
            "-close_time", "id"
        )
    return qs


def list_queryset(user: Any) -> QuerySet[Question]:
    """Visible questions with everything a list row shows, in one query."""
    final = Resolution.objects.filter(question=OuterRef("pk"), state=Resolution.State.FINAL)
    return (
        Question.objects.visible_to(user)
        .select_related("tournament", "crowd", "benchmark")
        .annotate(
            has_proposal=Exists(
                Resolution.objects.filter(question=OuterRef("pk"), state=Resolution.State.PROPOSED)
            ),
            final_outcome=Subquery(final.values("outcome")[:1]),
        )
    )


@dataclass
class QuestionRow:
    question: Question
    state: str
    crowd: CrowdState | CrowdAt | None  # the headline this viewer sees (docs/privacy.md)
    reveal: Reveal
    mine: Forecast | None  # the viewer's current forecast
    outcome: str | None
    closing_soon: bool = False
    live: CrowdState | None = None

    @property
    def forecasters(self) -> int:
        """Forecasters of the crowd shown, or, while it is hidden, active now."""
        if self.crowd is not None and self.reveal.visible:
            return self.crowd.forecasters
        return self.live.forecasters if self.live is not None else 0

    @property
    def crowd_probability(self) -> float | None:
        if self.crowd is None or not self.reveal.visible:
            return None
        return self.crowd.probability

    @property
    def crowd_text(self) -> str:
        """A multiple-choice or continuous crowd in a word or two (the leading option and its
        probability, or the median); "" for yes/no or when there is none to show."""
        if self.question.is_binary or self.crowd is None or not self.reveal.visible:
            return ""
        return headline_text(self.question, typed_view(self.question, self.crowd))

    @property
    def mine_text(self) -> str:
        """The viewer's current forecast of a question that is not yes/no, in a word or two."""
        if self.question.is_binary or self.mine is None:
            return ""
        return headline_text(self.question, own_view(self.question, self.mine))


def question_rows(questions: list[Question], user: Any, now: dt.datetime | None = None):
    """Rows for a list page: one extra query for the viewer's own forecasts, none per row."""
    now = now or timezone.now()
    forecaster = viewer_forecaster(user)
    latest: dict[int, Forecast] = {}
    if forecaster is not None and questions:
        for f in Forecast.objects.filter(
            forecaster=forecaster, question_id__in=[q.pk for q in questions]
        ).order_by("question_id", "time", "id"):
            latest[f.question_id] = f
    # The viewer's headline of every question in one batch: the public series' latest point, or
    # with full-history access the live crowd; a settled question's at its scoring cutoff.
    headlines = crowd_headlines(questions, user)
    rows = []
    for q in questions:
        crowd = headlines.get(q.pk)
        live = crowd_of(q)
        mine = latest.get(q.pk)
        reveal = crowd_reveal(
            q, user, state=live, now=now, has_forecast=q.pk in latest, public=crowd
        )
        rows.append(
            QuestionRow(
                question=q,
                state=question_state(q, now, proposed=getattr(q, "has_proposal", False)),
                crowd=crowd,
                reveal=reveal,
                mine=mine if mine is not None and mine.kind == Forecast.Kind.FORECAST else None,
                # yes/no in the badge; other types' outcomes are words on the question page
                outcome=(
                    getattr(q, "final_outcome", None)
                    if getattr(q, "final_outcome", None) in ("yes", "no")
                    else None
                ),
                closing_soon=q.is_open_at(now) and q.close_time <= now + CLOSING_SOON,
                live=live,
            )
        )
    return rows


# --- your active forecasts against the crowd (the "My record" page) ---------------------------

# A current forecast "needs update" when it is older than STALE_AFTER, or when it is at least
# FAR_FROM_CROWD (in probability, 0.20 = 20 percentage points) from the crowd forecast the
# viewer sees now. Either suggests that the forecast no longer reflects what you would say.
STALE_AFTER = dt.timedelta(days=30)
FAR_FROM_CROWD = 0.20


@dataclass
class ActiveForecast:
    """One of the viewer's current forecasts on an open question, with the crowd they see."""

    row: QuestionRow
    age: dt.timedelta
    stale: bool
    far: bool

    @property
    def needs_update(self) -> bool:
        return self.stale or self.far

    @property
    def difference(self) -> float | None:
        """Your forecast minus the crowd's shown, in probability; None while it is hidden."""
        crowd = self.row.crowd_probability
        if crowd is None or self.row.mine is None:
            return None
        return self.row.mine.probability - crowd


def active_forecasts(user: Any, now: dt.datetime | None = None) -> list[ActiveForecast]:
    """The viewer's current forecasts on questions open now, "needs update" first (older than
    ``STALE_AFTER`` or at least ``FAR_FROM_CROWD`` from the crowd shown), then by close time.

    The crowd is the headline this viewer may see (``forecasts.selectors.crowd_headlines``: for
    viewers without full-history access the public series' latest point, docs/privacy.md), and
    only where the reveal rules show it (``forecasts.reveal``); a hidden crowd is never compared.
    Three queries whatever the number of questions. Anonymous viewers get [].
    """
    now = now or timezone.now()
    forecaster = viewer_forecaster(user)
    if forecaster is None:
        return []
    held = Forecast.objects.filter(forecaster=forecaster).values("question_id")
    questions = list(filter_questions(list_queryset(user), "open", now).filter(pk__in=held))
    items = []
    for row in question_rows(questions, user, now):
        if row.mine is None:  # withdrawn
            continue
        age = now - row.mine.time
        crowd = row.crowd_probability
        items.append(
            ActiveForecast(
                row=row,
                age=age,
                stale=age > STALE_AFTER,
                # Rounded so that exactly 20 points counts (0.6 − 0.4 is 0.19999999999999996).
                far=crowd is not None
                and round(abs(row.mine.probability - crowd), 9) >= FAR_FROM_CROWD,
            )
        )
    items.sort(key=lambda a: (not a.needs_update, a.row.question.close_time, a.row.question.pk))
    return items
