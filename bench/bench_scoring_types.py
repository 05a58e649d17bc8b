"""Scoring a continuous and a multiple-choice question at scale: the math only, no database.

Prints figures, asserts nothing. Usage:

    .venv/bin/python bench/bench_scoring_types.py [--forecasts N] [--forecasters F]

1. Continuous: N forecasts (default 100,000) by F forecasters (10,000) over a year, 2% of the
   events withdrawals, each a random 201-point CDF. Timed, best and median of 3 runs:
   - per-event values: validate every CDF, ln p_b at the outcome bucket and the CRPS
     (``continuous_log``, ``continuous_crps``: what a caller computes while streaming CDFs);
   - time averages: ``score_question_continuous`` (every rule, every forecaster) and
     ``score_series_continuous`` for a crowd series of N points with its CRPS;
   - the naive baseline for the CRPS: ``crps_cdf`` called one forecast at a time (a Python
     loop over rows) on 2,000 rows, extrapolated linearly to N; and the ratio.
2. Multiple choice (5 options): ``score_question_mc`` and ``score_series_mc`` on N forecasts.

Peak RSS of the process at the end.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from forecasts.distributions import Scale, resolution_bucket
from scoring.rules_types import (
    continuous_crps,
    continuous_log,
    crps_cdf,
    grid_values,
    score_question_continuous,
    score_question_mc,
    score_series_continuous,
    score_series_mc,
)

YEAR = 365 * 24 * 3600.0


def timed(fn: Callable[[], object], runs: int = 3) -> tuple[float, float]:
    """(best, median) wall time in seconds of ``runs`` calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def line(label: str, best_median: tuple[float, float]) -> None:
    best, med = best_median
    print(f"  {label:<58} best {best:8.3f} s   median {med:8.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--forecasts", type=int, default=100_000)
    ap.add_argument("--forecasters", type=int, default=10_000)
    args = ap.parse_args()
    n, n_f = args.forecasts, args.forecasters
    rng = np.random.default_rng(2026)
    times = np.sort(rng.uniform(0.0, YEAR, n))
    who = rng.integers(0, n_f, n)
    withdrawn = rng.random(n) < 0.02
    window = {"open_time": 0.0, "close_time": YEAR, "resolved_at": None}

    print(f"continuous question: {n:,} forecasts, {n_f:,} forecasters, 201-point CDFs")
    scale = Scale(1.0, 10_000.0, zero_point=0.0, open_lower=True, open_upper=True)
    pmf = rng.dirichlet(np.full(202, 0.5), size=n) * 0.99 + 0.01 / 202
    cdfs = np.cumsum(pmf, axis=1)[:, :201]
    del pmf
    cdfs[withdrawn] = np.nan
    value = 420.0
    bucket = resolution_bucket(value, scale)
    line("per-event ln p_b (validation included)", timed(lambda: continuous_log(cdfs, bucket)))
    line("per-event CRPS (validation included)", timed(lambda: continuous_crps(cdfs, value, scale)))
    lp = continuous_log(cdfs, bucket)
    crps = continuous_crps(cdfs, value, scale)
    bounds = {"bucket": bucket, "open_lower": True, "open_upper": True}
    line(
        "score_question_continuous (log, baseline, peer, CRPS)",
        timed(
            lambda: score_question_continuous(
                times, who, lp, crps=crps, n_forecasters=n_f, **bounds, **window
            )
        ),
    )
    crowd_lp = np.log(rng.uniform(0.001, 0.05, n))
    crowd_crps = rng.uniform(10.0, 500.0, n)
    line(
        "score_series_continuous (crowd, N points, with forecasts)",
        timed(
            lambda: score_series_continuous(
                times,
                crowd_lp,
                crps=crowd_crps,
                forecast_times=times,
                forecaster=who,
                forecast_log_po=lp,
                **bounds,
                **window,
            )
        ),
    )
    rows = min(2_000, n)
    grid = grid_values(scale)
    held = cdfs[~withdrawn][:rows]

    def naive() -> None:
        for row in held:
            crps_cdf(row, grid, value)

    best, _ = timed(naive, runs=1)
    fast_best, _ = timed(lambda: continuous_crps(held, value, scale))
    print(
        f"  naive CRPS, one row at a time: {rows:,} rows {best:.3f} s → {best * n / rows:.1f} s "
        f"for {n:,}; vectorised {fast_best:.4f} s for {rows:,}: ratio {best / fast_best:.0f}x"
    )

    print(f"multiple-choice question: {n:,} forecasts, 5 options")
    probs = rng.dirichlet(np.ones(5), size=n) * 0.995 + 0.001
    probs /= probs.sum(axis=1, keepdims=True)
    probs[withdrawn] = np.nan
    line(
        "score_question_mc (Brier, log, baseline, peer)",
        timed(lambda: score_question_mc(times, who, probs, outcome=2, n_forecasters=n_f, **window)),
    )
    crowd = rng.dirichlet(np.ones(5), size=n)
    line(
        "score_series_mc (crowd, N points, with forecasts)",
        timed(
            lambda: score_series_mc(
                times,
                crowd,
                outcome=2,
                forecast_times=times,
                forecaster=who,
                forecast_probs=probs,
                **window,
            )
        ),
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak RSS {peak:,.0f} MiB "
        f"(the {n:,} × 201 CDF array alone: {cdfs.nbytes / 2**20:,.0f} MiB)"
    )


if __name__ == "__main__":
    main()
