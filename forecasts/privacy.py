"""Who sees the crowd history at full resolution, and which points are public
(docs/privacy.md, docs/methods.md §9.2).

Every forecast event writes a crowd point. Published one by one, two consecutive points differ
by one forecaster's event, and inverting the pool gives that forecast:
(n+1)·mean₁ − n·mean₀, or with equal weights (n+1)·logit p₁ − n·logit p₀. So the public
series is released in **batches**: a point is public when

1. at least ``BATCH`` distinct forecasters have had an event (a forecast, an update or a
   withdrawal) since the previous public point (the start of the log for the first), and
2. at least ``BATCH`` forecasters are active at that point.

The difference of any two public points then mixes the events of at least ``BATCH``
forecasters, and no public point is the pool of fewer than ``BATCH`` forecasts. Pages, the API
and exports show everyone else only public points with at least ``max(BATCH,
min_forecasters)`` active forecasters (``public_threshold``); staff and researchers holding the
``forecasts.view_forecast`` permission see every point (``full_history_access``).

A forecaster "counts" towards the open batch at an event when their previous event on the
question is older than the last public point (or they have none). On a tie of times the
forecaster is not counted again: a conservative rule (it can only delay a public point), and
one that needs only the previous event's time, which the O(1) write path already reads.

The rule is causal — whether a point is public depends only on the events up to it — so the
O(1) write path (``batch_step``) and a full recompute (``public_series``) give the same flags, and
an export ``as_of`` a past time is a prefix of the same series. It does not depend on the
tournament's ``min_forecasters``, so changing that setting shows or hides public points but never
moves a batch boundary (which would let a saved old series be differenced against a new one).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

BATCH = 3
"""k: distinct forecasters per batch, and the smallest group a public point pools. Three: the
mean and the log pool are two sums, which together determine a batch of two forecasts (as a
pair); three or more unknowns are not determined by them."""

FULL_HISTORY_PERMISSION = "forecasts.view_forecast"


def full_history_access(user: Any) -> bool:
    """Staff, or a researcher granted ``forecasts.view_forecast`` (admin: user permissions):
    the full-resolution crowd history and the individual-level research exports."""
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and (user.is_staff or user.has_perm(FULL_HISTORY_PERMISSION))
    )


def public_threshold(min_forecasters: int) -> int:
    """Fewest active forecasters a point shown to the public pools: max(BATCH, min_forecasters)."""
    return max(BATCH, int(min_forecasters))


def counts_toward_batch(previous_time: dt.datetime | None, batch_since: dt.datetime | None) -> bool:
    """Whether an event whose forecaster's previous event on the question was at
    ``previous_time`` (None: their first) adds a new forecaster to the open batch, which began
    after the public point at ``batch_since`` (None: no public point yet)."""
    if previous_time is None:
        return True
    return batch_since is not None and previous_time < batch_since


def batch_step(
    state: Any, previous_time: dt.datetime | None, event_time: dt.datetime
) -> int | None:
    """Advance ``state``'s batch by one event, O(1); returns the new point's ``public_seq``.

    ``state`` carries ``public_points``, ``batch_since``, ``batch_forecasters`` and
    ``forecasters`` (the active count after the event); they are updated in place.
    """
    if counts_toward_batch(previous_time, state.batch_since):
        state.batch_forecasters += 1
    if state.batch_forecasters >= BATCH and state.forecasters >= BATCH:
        state.public_points += 1
        state.batch_since = event_time
        state.batch_forecasters = 0
        return int(state.public_points)
    return None


@dataclass(frozen=True)
class PublicSeries:
    """``public_seq`` of every point of a log (int64, 0 for a private point), and the batch
    state after its last event (``batch_since`` in epoch seconds, None before any public
    point)."""

    seq: np.ndarray
    public_points: int
    batch_since: float | None
    batch_forecasters: int


def public_series(times: np.ndarray, forecaster: np.ndarray, active: np.ndarray) -> PublicSeries:
    """The public points of a whole log, as ``batch_step`` would mark them event by event (a
    test holds the two equal).

    ``times`` (float64 epoch seconds), ``forecaster`` (int64 ids) and ``active`` (forecasters
    active after each event) are parallel arrays in event order. Each forecaster's previous
    event comes from one stable sort; the batches are one Python pass, O(n): about one second
    per million events, next to the several seconds of the rest of such a recompute.
    """
    n = len(times)
    out = np.zeros(n, dtype=np.int64)
    order = np.argsort(forecaster, kind="stable")  # event order within each forecaster
    previous = np.full(n, np.nan)
    if n > 1:
        same = forecaster[order][1:] == forecaster[order][:-1]
        previous[order[1:][same]] = times[order[:-1][same]]
    prev_list = previous.tolist()
    time_list = times.tolist()
    active_list = active.tolist()
    since = -math.inf
    batch = 0
    published = 0
    for i in range(n):
        p = prev_list[i]
        if p != p or p < since:  # NaN: the forecaster's first event
            batch += 1
        if batch >= BATCH and active_list[i] >= BATCH:
            published += 1
            out[i] = published
            since = time_list[i]
            batch = 0
    return PublicSeries(
        seq=out,
        public_points=published,
        batch_since=None if published == 0 else since,
        batch_forecasters=batch,
    )
