"""What the forecast log tells the layers above it.

``log_changed`` is sent inside the transaction that wrote events into questions' logs in bulk
(an import), with ``question_ids``. Scoring subscribes (``scoring.receivers``): a question that
already has a final resolution is scored again after commit. Forecasts never imports scoring.

``forecast_recorded`` is sent for each forecast submitted (``forecast``), inside the
submission's transaction; receivers must defer work to after commit.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.dispatch import Signal

log_changed = Signal()
# Sent inside ``forecast_submit``'s transaction with ``forecast`` (the event just written):
# the community app follows the question for the forecaster's user after commit.
forecast_recorded = Signal()


def send_log_changed(*, question_ids: Iterable[int]) -> None:
    """Announce that these questions' logs changed (inside the caller's transaction)."""
    ids = sorted(set(question_ids))
    if ids:
        log_changed.send(sender="forecasts", question_ids=ids)
