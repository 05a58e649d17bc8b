"""Reference crowd history (docs/methods.md §2.6): replay the events and re-pool every current
forecast at each one. ``forecasts.history.pool_history`` is tested and benchmarked against it."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from forecasts.history import CrowdHistory, forecast_events
from forecasts.pooling import log_pool, mean_pool, median_pool, recency_weights


def naive_history(
    times: ArrayLike,
    forecaster: ArrayLike,
    probs: ArrayLike,
    *,
    track_record_weight: ArrayLike | None = None,
    extremize: float = 1.0,
    base_logit: float = 0.0,
    half_life: float | None = None,
) -> CrowdHistory:
    """Reference implementation: replay the events and re-pool every current forecast each time.

    O(active forecasters) per event (O(n²) overall): the baseline ``pool_history`` is tested and
    benchmarked against. Uses only ``log_pool``, ``mean_pool`` and ``median_pool``, with recency
    weights taken relative to the newest active forecast (the common factor cancels).
    """
    ev = forecast_events(times, forecaster, probs, track_record_weight)
    n = ev.times.shape[0]
    probability = np.full(n, np.nan)
    mean = np.full(n, np.nan)
    median = np.full(n, np.nan)
    count = np.zeros(n, dtype=np.int64)
    current: dict[int, tuple[float, float, float]] = {}
    for k in range(n):
        who = int(ev.forecaster[k])
        if ev.is_forecast[k]:
            current[who] = (
                float(ev.times[k]),
                float(ev.probs[k]),
                float(ev.track_record_weight[k]),
            )
        else:
            current.pop(who, None)
        count[k] = len(current)
        if not current:
            continue
        t, p, a = (np.array(column) for column in zip(*current.values(), strict=True))
        weights = a * recency_weights(t, float(t.max()), half_life)
        probability[k] = log_pool(p, weights, extremize=extremize, base_logit=base_logit)
        mean[k] = mean_pool(p)
        median[k] = median_pool(p)
    return CrowdHistory(ev.times.copy(), probability, count, mean, median)
