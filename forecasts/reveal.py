"""Who may see a question's crowd forecast, and which one (docs/methods.md §9, docs/privacy.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from forecasts.models import CrowdState, Forecast
from forecasts.privacy import BATCH, full_history_access, public_threshold
from forecasts.selectors import CrowdAt, public_crowds
from markets.models import Question


@dataclass(frozen=True)
class Reveal:
    visible: bool
    reason: str  # why it is hidden, for the viewer; empty when visible


_LOOK_UP = object()


def crowd_reveal(
    question: Question,
    user: Any,
    *,
    state: CrowdState | None = None,
    now: dt.datetime | None = None,
    has_forecast: bool | None = None,
    public: CrowdAt | object | None = _LOOK_UP,
) -> Reveal:
    """Staff always see the crowd; others once enough forecasters are in and the rules allow.

    ``state`` is the question's live crowd state. Viewers without full-history access
    (``forecasts.privacy.full_history_access``) see only the public series: ``public`` is the
    headline they would see (``forecasts.selectors.public_crowds``; None when the question has
    no public point yet), looked up when not given. Settled questions show their crowd to
    everyone who can see the question, if one was published.
    """
    if getattr(user, "is_staff", False):
        return Reveal(True, "")
    tournament = question.tournament
    live = state.forecasters if state is not None else 0
    full = full_history_access(user)
    if not full and public is _LOOK_UP:
        public = public_crowds([question]).get(question.pk)
    if question.is_settled:
        if full or public is not None or live == 0:
            return Reveal(True, "")
        return Reveal(
            False,
            f"Fewer than {public_threshold(tournament.min_forecasters)} forecasters took part: "
            "the crowd forecast of this question was not published.",
        )
    threshold = tournament.min_forecasters if full else public_threshold(tournament.min_forecasters)
    if live < threshold and (full or public is None):
        return Reveal(
            False,
            f"The crowd forecast appears once {threshold} forecasters have forecast "
            f"({live} so far).",
        )
    if not full and public is None:
        return Reveal(
            False,
            f"The crowd forecast is published in batches: it appears once {BATCH} forecasters "
            "have forecast since the last update.",
        )
    now = now or timezone.now()
    if tournament.reveal_time is not None and now < tournament.reveal_time:
        return Reveal(
            False, f"The crowd forecast is revealed on {tournament.reveal_time:%Y-%m-%d %H:%M} UTC."
        )
    if tournament.hide_until_forecast:
        if has_forecast is None:
            has_forecast = bool(
                getattr(user, "is_authenticated", False)
                and Forecast.objects.filter(question=question, forecaster__user=user).exists()
            )
        if not has_forecast:
            return Reveal(False, "Make your forecast to see the crowd's.")
    return Reveal(True, "")
