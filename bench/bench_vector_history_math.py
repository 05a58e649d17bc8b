"""The vector crowd history's math (docs/methods.md §13.3): ``pool_history_vectors`` on a
continuous question's log, against a naive re-pool of the active forecasts at every event.

Prints figures, asserts nothing. Usage:

    .venv/bin/python bench/bench_vector_history_math.py [--events N] [--forecasters F]

The log: N events (default 100,000) from F forecasters (default 10,000) over a year, 5%
withdrawals, open upper bound (202 PMF buckets, 201 of them in the support), a 1-week recency
half-life. Reported: wall time and peak traced memory (``tracemalloc``) of the vectorised
history with the continuous summaries, and the naive O(Σ active · k) re-pool timed on a prefix
and extrapolated in proportion to Σ active forecasters over the events.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root

from forecasts import vector_pooling as vp


def make_log(n: int, forecasters: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0.0, 365 * 86400.0, n))
    who = rng.integers(0, forecasters, n)
    grid = np.linspace(0.0, 1.0, 201)
    centre = rng.uniform(0.2, 0.8, n)
    scale = rng.uniform(0.03, 0.2, n)
    g = 1.0 / (1.0 + np.exp(-(grid[None, :] - centre[:, None]) / scale[:, None]))
    g = (g - g[:, :1]) / (g[:, -1:] - g[:, :1])
    cdf = 0.989 * g + 0.01 * grid
    values = vp.buckets_from_cdf(cdf)
    values[rng.random(n) < 0.05] = np.nan
    support = np.ones(202, dtype=bool)
    support[0] = False
    return times, who, values, support


def naive(times, who, values, support, half_life, stop):
    active: dict[int, int] = {}
    for j in range(stop):
        if np.isnan(values[j, 0]):
            active.pop(int(who[j]), None)
        else:
            active[int(who[j])] = j
        if active:
            idx = np.fromiter(active.values(), dtype=np.int64)
            w = np.exp2(-(times[j] - times[idx]) / half_life)
            vp.continuous_summary(vp.log_pool(values[idx], w)[None, :])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--forecasters", type=int, default=10_000)
    parser.add_argument("--naive-prefix", type=int, default=2_000)
    args = parser.parse_args()
    times, who, values, support = make_log(args.events, args.forecasters)
    half_life = 7 * 86400.0
    tracemalloc.start()
    started = time.perf_counter()
    hist = vp.pool_history_vectors(
        times, who, values, support, summarize=vp.continuous_summary, half_life=half_life
    )
    fast = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"events {args.events:,}, forecasters {args.forecasters:,}, buckets 202")
    print(f"input values: {values.nbytes / 2**20:.0f} MiB")
    print(f"pool_history_vectors: {fast:.2f} s, peak traced memory {peak / 2**20:.0f} MiB")
    prefix = min(args.naive_prefix, args.events)
    started = time.perf_counter()
    naive(times, who, values, support, half_life, prefix)
    slow = time.perf_counter() - started
    counts = hist.forecasters.astype(np.float64)
    projected = slow * counts.sum() / max(counts[:prefix].sum(), 1.0)
    print(f"naive re-pool: {slow:.2f} s for {prefix:,} events; projected {projected:.0f} s")
    print(f"ratio naive / vectorised: {projected / fast:.0f}x")


if __name__ == "__main__":
    main()
