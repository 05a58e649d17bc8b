"""Benchmark the vectorized crowd history (forecasts.history) against re-pooling every event.

Builds a random forecast log — by default 1,000,000 events from 100,000 forecasters over three
years, 5% of them withdrawals — and prints:

- ``pool_history`` without the median (pool, mean, count), with recency off and with a 1-hour
  half-life, and ``median_history`` alone: best and median of a few runs, after one warm-up;
- ``naive_history`` (log_pool at every event) on a prefix, the fast method on the same prefix,
  their agreement, and the naive time extrapolated to the whole log (its cost is proportional to
  Σ active forecasters over the events, which the counts give exactly);
- peak memory of one full ``pool_history`` call (tracemalloc) and the process's peak RSS.

Figures, no assertions (benchmarks print, tests never time). Usage:

    .venv/bin/python bench/bench_history_math.py [--events N] [--forecasters F] [--prefix P]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from forecasts.history import median_history, pool_history
from tests.reference.history import naive_history

YEAR = 365 * 24 * 3600.0


def make_log(
    n: int, n_forecasters: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0.0, 3 * YEAR, n))
    who = rng.integers(0, n_forecasters, n)
    probs = np.round(rng.uniform(0.001, 0.999, n), 6)  # ~1e6 distinct values: the worst case
    probs[rng.random(n) < 0.05] = np.nan
    track_record_weight = rng.uniform(0.5, 2.0, n)
    return times, who, probs, track_record_weight


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float, float]:
    """(first call, best, median) wall-clock seconds and the best CPU seconds.

    The first call also pays page faults for fresh memory. CPU time is printed too because on a
    shared machine the wall clock includes waiting for a core (numpy runs single-threaded here).
    """
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    runs, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        runs.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return first, min(runs), statistics.median(runs), min(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--forecasters", type=int, default=100_000)
    parser.add_argument("--prefix", type=int, default=5_000, help="events for the naive method")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    times, who, probs, track_record_weight = make_log(args.events, args.forecasters, args.seed)
    n = args.events
    withdrawals = int(np.isnan(probs).sum())
    print(f"log: {n:,} events, {args.forecasters:,} forecasters, {withdrawals:,} withdrawals")
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}")

    def pool_only(half_life: float | None) -> Callable[[], object]:
        return lambda: pool_history(
            times,
            who,
            probs,
            track_record_weight=track_record_weight,
            half_life=half_life,
            with_median=False,
        )

    best: dict[str, float] = {}
    for label, fn in [
        ("pool+mean+count, recency off ", pool_only(None)),
        ("pool+mean+count, half-life 1h", pool_only(3600.0)),
        ("median (exact)               ", lambda: median_history(who, probs)),
        ("median, probabilities to 0.01", lambda: median_history(who, np.round(probs, 2))),
        (
            "everything (pool_history)    ",
            lambda: pool_history(times, who, probs, track_record_weight=track_record_weight),
        ),
    ]:
        first, fastest, med, cpu = timed(fn, args.repeat)
        best[label.strip()] = fastest
        print(
            f"{label}: best {fastest:.3f} s, median {med:.3f} s, best CPU {cpu:.3f} s "
            f"(first call {first:.3f} s)"
        )

    tracemalloc.start()
    full = pool_history(times, who, probs, track_record_weight=track_record_weight)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    inputs = sum(a.nbytes for a in (times, who, probs, track_record_weight))
    print(
        f"peak traced memory of one pool_history call: {peak / 2**20:.0f} MiB "
        f"(inputs {inputs / 2**20:.0f} MiB, output {5 * n * 8 / 2**20:.0f} MiB)"
    )

    m = min(args.prefix, n)
    sl = slice(0, m)
    t0 = time.perf_counter()
    slow = naive_history(times[sl], who[sl], probs[sl], track_record_weight=track_record_weight[sl])
    naive_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = pool_history(times[sl], who[sl], probs[sl], track_record_weight=track_record_weight[sl])
    fast_s = time.perf_counter() - t0
    diff = max(
        float(np.nanmax(np.abs(fast.probability - slow.probability))),
        float(np.nanmax(np.abs(fast.mean - slow.mean))),
        float(np.nanmax(np.abs(fast.median - slow.median))),
    )
    # Naive cost ≈ c · Σ_k active_k: extrapolate with the exact sums from the full history.
    work_prefix = float(slow.forecasters.sum())
    work_full = float(full.forecasters.sum())
    naive_full = naive_s * work_full / work_prefix
    best_full = best["everything (pool_history)"]
    print(
        f"naive on the first {m:,} events: {naive_s:.2f} s; pool_history on the same: "
        f"{fast_s:.3f} s ({naive_s / fast_s:,.0f}x); max |difference| {diff:.1e}"
    )
    print(
        f"naive extrapolated to {n:,} events (∝ Σ active forecasters): {naive_full:,.0f} s "
        f"≈ {naive_full / 3600:.1f} h, {naive_full / best_full:,.0f}x the vectorized "
        f"{best_full:.2f} s"
    )
    print(f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
