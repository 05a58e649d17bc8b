"""Cohort crowds (issue 18): what keeping the humans / bots / everyone states costs a submission.

Prints figures, asserts nothing. Usage:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/takeoff_bench \\
        .venv/bin/python bench/bench_cohorts.py [--forecasters F] [--bots B] [--submissions S]

Setup: a question with one forecast from each of F forecasters (default 100,000), B of them bots
(default 1,000), COPYed; ``crowd_recompute`` builds the default crowd and the cohort states.

(a) ``forecast_submit`` call by call (each its own transaction), S submissions replacing an
    existing forecaster's forecast, humans and bots alternating: the default crowd and the two
    cohort states it belongs to, O(1) each.
(b) The same with ``cohorts.cohort_apply`` switched off: the submission without cohort states.
    (a) − (b) is the per-submission cost of the cohorts.
(c) The naive way to keep cohort crowds current: rebuild them from the log after each
    submission (``cohorts.cohort_states_rebuild``: one read of the log, three pools).
Everything the script creates belongs to the tournament ``bench-cohorts`` (deleted at the end).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    analyze,
    cleanup,
    fmt_ms,
    insert_forecasts,
    machine_line,
    make_forecasters,
    make_question,
    make_tournament,
    setup_django,
)

SLUG = "bench-cohorts"
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--forecasters", type=int, default=100_000)
    parser.add_argument("--bots", type=int, default=1_000)
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--naive", type=int, default=10)
    args = parser.parse_args()
    setup_django()

    from forecasts import cohorts, services
    from forecasts.models import CohortState, CrowdPoint, CrowdState, Forecast, Forecaster
    from forecasts.services import crowd_recompute, forecast_submit
    from markets.models import Question

    print(machine_line())
    cleanup(SLUG)
    tournament = make_tournament(SLUG)
    question = make_question(tournament, "q", T0, T0 + dt.timedelta(days=3650))
    ids = make_forecasters(SLUG, args.forecasters)
    bot_ids = ids[: args.bots]
    Forecaster.objects.filter(pk__in=bot_ids.tolist()).update(is_bot=True)
    rng = np.random.default_rng(1)
    n = len(ids)
    times = T0.timestamp() + np.sort(rng.uniform(0, 86_400 * 30, n))
    insert_forecasts(question.pk, times, rng.permutation(ids), rng.uniform(0.01, 0.99, n))
    analyze(Forecast, Forecaster)
    t = time.perf_counter()
    crowd_recompute(question_id=question.pk)
    print(
        f"setup: {n:,} forecasters ({args.bots:,} bots); recompute {time.perf_counter() - t:.1f} s"
    )
    analyze(CrowdPoint, CrowdState, CohortState)

    humans = [f for f in Forecaster.objects.filter(source=SLUG, is_bot=False)[:500]]
    bots = [f for f in Forecaster.objects.filter(source=SLUG, is_bot=True)[:500]]
    pick = random.Random(2)
    clock = [T0 + dt.timedelta(days=60)]

    def submit_once() -> float:
        who = pick.choice(humans if pick.random() < 0.5 else bots)
        clock[0] += dt.timedelta(seconds=1)
        start = time.perf_counter()
        forecast_submit(
            question_id=question.pk,
            forecaster=who,
            probability=pick.uniform(0.05, 0.95),
            at=clock[0],
        )
        return time.perf_counter() - start

    def run(label: str, count: int) -> float:
        for _ in range(10):  # warm-up
            submit_once()
        times_ = [submit_once() for _ in range(count)]
        med = statistics.median(times_)
        print(f"{label}: median {fmt_ms(med)}, p90 {fmt_ms(float(np.percentile(times_, 90)))}")
        return med

    with_cohorts = run("(a) forecast_submit with cohort states", args.submissions)
    real_apply = cohorts.cohort_apply
    cohorts.cohort_apply = lambda *a, **k: None  # type: ignore[assignment]
    try:
        without = run("(b) forecast_submit without cohort states", args.submissions)
    finally:
        cohorts.cohort_apply = real_apply
    # (b) left the stored states behind the log: the first rebuild below catches them up.
    q = Question.objects.select_related("tournament").get(pk=question.pk)
    naive = []
    for _ in range(args.naive):
        start = time.perf_counter()
        cohorts.cohort_states_rebuild(q)
        naive.append(time.perf_counter() - start)
    naive_med = statistics.median(naive)
    print(f"(c) naive: rebuild the cohort states from the log: median {fmt_ms(naive_med)}")
    extra = max(with_cohorts - without, 1e-6)
    print(
        f"cohort cost per submission (a) − (b): {fmt_ms(with_cohorts - without)} "
        f"({(with_cohorts - without) / without:+.0%} of a submission); "
        f"naive rebuild / O(1) update: {naive_med / extra:,.0f}×; "
        f"naive rebuild / whole submission: {naive_med / with_cohorts:,.0f}×"
    )
    assert services.cohorts is cohorts
    cleanup(SLUG)


if __name__ == "__main__":
    main()
