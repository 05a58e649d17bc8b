"""Who may see a question's crowd forecast (docs/methods.md §9)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from forecasts.models import CrowdState, Forecast
from markets.models import Question


@dataclass(frozen=True)
class Reveal:
    visible: bool
    reason: str  # why it is hidden, for the viewer; empty when visible


def crowd_reveal(
    question: Question,
    user: Any,
    *,
    state: CrowdState | None = None,
    now: dt.datetime | None = None,
    has_forecast: bool | None = None,
) -> Reveal:
    """Staff always see the crowd; others once enough forecasters are in and the rules allow.

    Settled questions show their crowd to everyone who can see the question.
    """
    if getattr(user, "is_staff", False):
        return Reveal(True, "")
    tournament = question.tournament
    if question.is_settled:
        return Reveal(True, "")
    count = state.forecasters if state is not None else 0
    if count < tournament.min_forecasters:
        return Reveal(
            False,
            f"The crowd forecast appears once {tournament.min_forecasters} forecasters have "
            f"forecast ({count} so far).",
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
