"""Receivers of the lower layers' signals."""

from __future__ import annotations

from typing import Any

from django.db import transaction


def follow_on_forecast(sender: Any, forecast: Any, **kwargs: Any) -> None:
    """A site user who forecasts follows the question, after the submission commits.

    After commit, so the submission's question lock is never held for it: one
    INSERT … ON CONFLICT DO NOTHING (bench: negligible next to the submission itself).
    """
    user_id = forecast.forecaster.user_id
    if user_id is None:  # an imported forecaster: nobody to notify
        return
    from community.services import follow_on_forecast as follow

    question_id = forecast.question_id
    transaction.on_commit(lambda: follow(user_id=user_id, question_id=question_id))
