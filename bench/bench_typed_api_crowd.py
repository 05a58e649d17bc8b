"""Server time of the API's question detail and list for a continuous question, against a yes/no
question with a log of the same size (the baseline: a stored headline, no recompute).

The public crowd of a multiple-choice or continuous question, its CDF and its comparators are
recomputed from the log at the latest public point (``forecasts.typed_crowd.crowd_at``, O(n·k));
a yes/no question reads its stored point. This measures what that costs per request.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/takeoff_bench_typed_api \
        uv run python bench/bench_typed_api_crowd.py [--events N] [--forecasters F] [--runs R]

The log: N events (default 20,000) from F forecasters (default 2,000) over a year, no
withdrawals; the continuous question has an open upper bound. Prints the median and p95 over R
requests (default 10) per endpoint and viewer, and the ratio to the yes/no baseline. Asserts
nothing. The tournament ``bench-typed-api`` is deleted first and left in place after.

``crowd_at`` caches the crowd per point (``django.core.cache``; set REDIS_URL for Redis). The
cache is cleared before each row: "first" is the first request (a miss: computed and stored),
the median and p95 are over the R requests after it (hits). The "uncached" rows run the same
requests with the cache replaced by Django's DummyCache (every request recomputes, as before
the cache).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    cleanup,
    machine_line,
    make_forecasters,
    make_question,
    make_tournament,
    median,
    percentile,
    setup_django,
    table,
)

SLUG = "bench-typed-api"
UTC = dt.UTC
T0 = dt.datetime(2025, 1, 1, tzinfo=UTC)


def build(events: int, forecasters: int):
    from forecasts import typed
    from forecasts.models import Forecast
    from forecasts.services import crowd_recompute

    cleanup(SLUG)
    tournament = make_tournament(SLUG)
    close = T0 + dt.timedelta(days=400)
    binary = make_question(tournament, "binary", T0, close)
    numeric = make_question(
        tournament, "numeric", T0, close, type="numeric", range_min=0.0, range_max=100.0,
        open_upper_bound=True,
    )  # fmt: skip
    ids = make_forecasters(SLUG, forecasters)
    rng = np.random.default_rng(3)
    seconds = np.sort(rng.uniform(0, 365 * 86400.0, events))
    who = ids[rng.integers(0, forecasters, events)]
    grid = np.linspace(0.0, 1.0, 201)
    centre = rng.uniform(0.2, 0.8, events)
    width = rng.uniform(0.03, 0.2, events)
    g = 1.0 / (1.0 + np.exp(-(grid[None, :] - centre[:, None]) / width[:, None]))
    g = (g - g[:, :1]) / (g[:, -1:] - g[:, :1])
    cdf = 0.985 * g + 0.01 * grid  # open upper bound: 0.005 above the range
    times = [T0 + dt.timedelta(seconds=float(s)) for s in seconds]
    probs = rng.uniform(0.05, 0.95, events)
    Forecast.objects.bulk_create(
        [
            Forecast(question=binary, forecaster_id=int(f), probability=float(p), time=t)
            for f, p, t in zip(who, probs, times, strict=True)
        ],
        batch_size=5000,
    )
    Forecast.objects.bulk_create(
        [
            Forecast(question=numeric, forecaster_id=int(f), values=typed.to_bytes(c), time=t)
            for f, c, t in zip(who, cdf, times, strict=True)
        ],
        batch_size=2000,
    )
    for q in (binary, numeric):
        crowd_recompute(question_id=q.pk)
    return binary, numeric


def timed(client, url: str, runs: int) -> list[float]:
    """R + 1 request times: the first after clearing the cache, then R more."""
    from django.core.cache import cache

    cache.clear()
    out = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        response = client.get(url)
        out.append(time.perf_counter() - start)
        assert response.status_code == 200, response.content[:200]
    return out


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--forecasters", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/takeoff_bench")
    setup_django()
    from django.contrib.auth import get_user_model
    from django.test import Client

    binary, numeric = build(args.events, args.forecasters)
    staff, _ = get_user_model().objects.get_or_create(username="bench-staff", is_staff=True)
    anonymous, staff_client = Client(), Client()
    staff_client.force_login(staff)
    from django.core.cache.backends.dummy import DummyCache

    import forecasts.typed_crowd as typed_crowd

    rows = []
    real_cache = typed_crowd.cache
    for cached in (True, False):
        typed_crowd.cache = real_cache if cached else DummyCache("dummy", {})
        label = "" if cached else ", uncached"
        for viewer, client in (("anonymous", anonymous), ("staff", staff_client)):
            for name, path in (
                ("detail", "/api/v1/questions/{}/"),
                ("history", "/api/v1/questions/{}/history/"),
            ):
                if name == "history" and not cached:
                    continue  # no crowd_at in the history
                base = timed(client, path.format(binary.pk), args.runs)[1:]
                first, *typed_t = timed(client, path.format(numeric.pk), args.runs)
                rows.append(
                    (
                        f"{name}, {viewer}{label}",
                        f"{median(base) * 1000:.1f} ms",
                        f"{first * 1000:.1f} ms",
                        f"{median(typed_t) * 1000:.1f} ms",
                        f"{percentile(typed_t, 95) * 1000:.1f} ms",
                        f"{median(typed_t) / median(base):.1f}×",
                    )
                )
            both = timed(client, f"/api/v1/questions/?tournament={SLUG}", args.runs)[1:]
            rows.append(
                (f"list of both, {viewer}{label}", "", "", f"{median(both) * 1000:.1f} ms", "", "")
            )
    typed_crowd.cache = real_cache
    print(machine_line())
    print(f"{args.events:,} events per question, {args.forecasters:,} forecasters")
    print(
        table(
            (
                "request",
                "yes/no median",
                "continuous first",
                "continuous median",
                "continuous p95",
                "ratio of medians",
            ),
            rows,
        )
    )


if __name__ == "__main__":
    main()
