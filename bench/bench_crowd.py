"""Crowd engine at scale on PostgreSQL (issue 3): O(1) submissions and the 1M-event recompute.

Prints figures, asserts nothing. Usage:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/takeoff_bench \\
        .venv/bin/python bench/bench_crowd.py [--events N] [--forecasters F] [--submissions S]

(``takeoff_bench`` is created when missing; ``migrate`` runs first; every row the script creates
belongs to the tournament ``bench-crowd`` and its forecasters, deleted at the end unless
``--keep``.)

Setup: forecasters with COPY; a question with N forecast events (default 1,000,000 from 100,000
forecasters over three years, 5% withdrawals, track-record factors in [0.5, 2] — the event log of
``bench_history_math.make_log``) and two questions with one forecast from each of 1,000 and of
100,000 forecasters, all COPYed as Forecast rows; ``crowd_recompute`` once per question builds
CrowdPoints and CrowdState; ANALYZE.

(a) ``forecast_submit`` — the service the web, API, admin and import call — timed call by call on
    the 1k and 100k questions (and the 1M-event one), S submissions from new forecasters and S
    replacing an existing forecaster's forecast, interleaved across questions so background
    load hits all alike. Each call is its own transaction (row lock, insert, O(1) sums, point,
    commit). The after-commit median fill is a debounced Celery task (one per question per
    window): here it is queued, not run, and timed separately with ``crowd_fill_medians``.
(b) ``crowd_recompute(question_id=...)`` of the 1M-event question, database to database, in a
    fresh child process so that its peak RSS is the recompute's own: once building the history
    (no points yet, as after an import) and once replacing 1M existing points (as after a
    settings change). Phases are timed by wrapping the functions it calls. The math alone
    (``pool_history`` on the same arrays, median included, and without the median) in-process.
(c) ``naive_history`` (re-pool every current forecast at each event) on a prefix of the same
    log, extrapolated to the whole log in proportion to Σ active forecasters over the events
    (the naive cost per event is linear in the active forecasters; the counts are exact).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    YEAR,
    Timer,
    analyze,
    backend_pid,
    cleanup,
    current_rss_mib,
    fmt_ms,
    fmt_s,
    insert_forecasts,
    machine_line,
    make_forecasters,
    make_question,
    make_tournament,
    median,
    peak_rss_mib,
    percentile,
    process_cpu,
    setup_django,
    table,
)
from bench_history_math import make_log

SLUG = "bench-crowd"
WARMUP = 20


# --- (b) in a child process ------------------------------------------------------------------


def child_recompute(question_id: int) -> None:
    """Run one instrumented crowd_recompute and print a JSON line with times and memory."""
    setup_django(migrate=False)
    import django.db.models.query as query_mod

    import forecasts.history as history_mod
    import forecasts.services as services
    import forecasts.store as store_mod
    from forecasts.models import CrowdPoint

    phases: dict[str, float] = {}
    rss: dict[str, float] = {}

    def wrap(name: str, fn):
        def inner(*args, **kwargs):
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - t0
            rss[name] = peak_rss_mib()  # high-water mark when the phase ended
            return out

        return inner

    store_mod.load_events = wrap("read Forecast rows (load_events)", store_mod.load_events)
    history_mod.pool_history = wrap("math (pool_history, with median)", history_mod.pool_history)
    store_mod.write_points = wrap("write CrowdPoints (COPY)", store_mod.write_points)
    services._rebuild_state = wrap("running sums + CrowdState", services._rebuild_state)
    real_delete = query_mod.QuerySet.delete

    def timed_delete(self):
        if self.model is CrowdPoint:
            return wrap("delete old CrowdPoints", real_delete)(self)
        return real_delete(self)

    query_mod.QuerySet.delete = timed_delete

    from django.db import connection, transaction

    backend = backend_pid()
    base = current_rss_mib()
    pg0 = process_cpu(backend)
    t0, c0 = time.perf_counter(), time.process_time()
    # crowd_recompute is atomic itself; the outer block only lets us time its COMMIT apart (the
    # inner block becomes a savepoint, released where the commit would have been).
    with transaction.atomic():
        points = services.crowd_recompute(question_id=question_id)
        t_commit = time.perf_counter()
    commit = time.perf_counter() - t_commit
    phases["COMMIT (deferred FK checks, WAL flush)"] = commit
    rss["COMMIT (deferred FK checks, WAL flush)"] = peak_rss_mib()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    pg_cpu = process_cpu(backend) - pg0
    connection.close()
    print(
        json.dumps(
            {
                "points": points,
                "wall": wall,
                "cpu": cpu,
                "pg_cpu": pg_cpu,
                "phases": phases,
                "rss_after": rss,
                "baseline_rss": base,
                "peak_rss": peak_rss_mib(),
            }
        )
    )


def run_child(question_id: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child-recompute", str(question_id)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- main --------------------------------------------------------------------------------------


def build(args: argparse.Namespace):
    from django.utils import timezone

    from forecasts.models import CrowdPoint, CrowdState, Forecast, Forecaster
    from forecasts.services import crowd_recompute

    tournament = make_tournament(SLUG)
    now = timezone.now()
    start = now - dt.timedelta(seconds=3 * YEAR + 2 * 86400)
    open_time, close_time = start - dt.timedelta(days=1), now + dt.timedelta(days=365)
    n_new = 3 * (args.submissions + WARMUP)
    fids = make_forecasters(SLUG, args.forecasters + n_new)
    new_pool = fids[args.forecasters :]

    times, who, probs, acc = make_log(args.events, args.forecasters, args.seed)
    log = {"times": times, "who": who, "probs": probs, "acc": acc}
    big = make_question(tournament, "history-1m", open_time, close_time)
    insert_forecasts(
        big.pk, start.timestamp() + times, fids[who], probs, acc, desc=f"{args.events:,} forecasts"
    )

    rng = np.random.default_rng(args.seed + 1)
    small = {}
    for size in (1_000, 100_000):
        q = make_question(tournament, f"forecasters-{size}", open_time, close_time)
        t = np.sort(rng.uniform(0.0, 3 * YEAR, size))
        insert_forecasts(
            q.pk,
            start.timestamp() + t,
            fids[rng.permutation(size)],
            np.round(rng.uniform(0.001, 0.999, size), 3),
            desc=f"{size:,} forecasts",
        )
        small[size] = q
    analyze(Forecast, Forecaster)
    setup_times = {}
    for label, q in (("1k", small[1_000]), ("100k", small[100_000])):
        with Timer() as tm:
            crowd_recompute(question_id=q.pk)
        setup_times[label] = tm.wall
    analyze(CrowdPoint, CrowdState)
    return big, small, fids, new_pool, log, setup_times


def submissions(questions: dict[str, tuple], new_pool: np.ndarray, n: int, seed: int):
    """Interleaved timed submissions; returns {(label, kind): [seconds]} and queries per call."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from forecasts.models import Forecaster
    from forecasts.services import forecast_submit

    rng = random.Random(seed)
    pool = iter(new_pool.tolist())
    needed = {}
    plan = []  # (label, question id, forecaster id, kind)
    for i in range(WARMUP + n):
        for label, (qid, existing) in questions.items():
            plan.append((label, qid, next(pool), "new", i < WARMUP))
            plan.append(
                (label, qid, int(existing[rng.randrange(len(existing))]), "existing", i < WARMUP)
            )
    needed = {p[2] for p in plan}
    objs = Forecaster.objects.in_bulk(list(needed))
    out: dict[tuple[str, str], list[float]] = {}
    queries: dict[str, int] = {}
    from tqdm import tqdm

    for label, qid, fid, kind, warm in tqdm(plan, desc="submissions", leave=False, file=sys.stderr):
        p = round(rng.uniform(0.01, 0.99), 3)
        if warm and kind == "new" and label not in queries:
            with CaptureQueriesContext(connection) as ctx:
                forecast_submit(question_id=qid, forecaster=objs[fid], probability=p)
            queries[label] = len(ctx.captured_queries)
            continue
        t0 = time.perf_counter()
        forecast_submit(question_id=qid, forecaster=objs[fid], probability=p)
        elapsed = time.perf_counter() - t0
        if not warm:
            out.setdefault((label, kind), []).append(elapsed)
    return out, queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--forecasters", type=int, default=100_000)
    parser.add_argument("--submissions", type=int, default=300, help="per question and kind")
    parser.add_argument("--prefix", type=int, default=5_000, help="events for the naive method")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the bench rows")
    parser.add_argument("--child-recompute", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_recompute:
        child_recompute(args.child_recompute)
        return

    setup_django()
    from forecasts.history import pool_history
    from forecasts.services import crowd_fill_medians
    from forecasts.store import load_events
    from tests.reference.history import naive_history

    print(f"bench_crowd · {machine_line()}")
    cleanup(SLUG)
    started = time.perf_counter()
    try:
        with Timer() as tm:
            big, small, fids, new_pool, log, setup_times = build(args)
        print(
            f"setup: {tm.wall:.1f} s ({args.events:,} + 101,000 forecasts COPYed, "
            f"recompute of the 1k / 100k questions {setup_times['1k']:.2f} / "
            f"{setup_times['100k']:.2f} s)"
        )

        # (b) database to database, in a child process.
        first = run_child(big.pk)
        second = run_child(big.pk)

        # (b) the math alone, on the arrays crowd_recompute reads.
        with Timer() as t_load:
            ev = load_events(big.pk)
        n = len(ev.ids)

        def math_run(with_median: bool):
            return pool_history(
                ev.times,
                ev.forecaster,
                ev.probs,
                track_record_weight=ev.track_record_weight,
                with_median=with_median,
            )

        math = {}
        for with_median in (True, False):
            runs = []
            for _ in range(3):
                with Timer() as t:
                    math_run(with_median)
                runs.append((t.wall, t.cpu))
            math[with_median] = (min(r[0] for r in runs), min(r[1] for r in runs))
        full = math_run(True)

        # (c) naive on a prefix, same log.
        m = min(args.prefix, n)
        sl = slice(0, m)
        with Timer() as t_naive:
            slow = naive_history(
                ev.times[sl],
                ev.forecaster[sl],
                ev.probs[sl],
                track_record_weight=ev.track_record_weight[sl],
            )
        diff = max(
            float(np.nanmax(np.abs(full.probability[sl] - slow.probability))),
            float(np.nanmax(np.abs(full.mean[sl] - slow.mean))),
            float(np.nanmax(np.abs(full.median[sl] - slow.median))),
        )
        naive_full = (
            t_naive.wall * float(full.forecasters.sum()) / float(slow.forecasters[:m].sum())
        )
        ev = full = slow = None  # free ~0.5 GB before the submissions

        # (a) submissions.
        from forecasts.models import Forecast

        existing_big = np.unique(fids[log["who"]])
        questions = {
            "1,000 forecasters": (small[1_000].pk, fids[:1_000]),
            "100,000 forecasters": (small[100_000].pk, fids[:100_000]),
            f"100,000 forecasters, {args.events:,}-event history": (big.pk, existing_big),
        }
        timings, queries = submissions(questions, new_pool, args.submissions, args.seed)
        fills = {}
        for label, (qid, _) in questions.items():
            with Timer() as t:
                filled = crowd_fill_medians(question_id=qid)
            fills[label] = (t.wall, filled)
        rows_total = Forecast.objects.filter(question__tournament__slug=SLUG).count()
    finally:
        if args.keep:
            print(f"kept tournament {SLUG!r}")
        else:
            with Timer() as t_clean:
                cleanup(SLUG)
            print(f"cleanup: {t_clean.wall:.1f} s")

    # --- report ---------------------------------------------------------------------------
    print()
    print(
        f"(a) forecast_submit, one transaction each, {args.submissions} timed per cell "
        f"(after {WARMUP} warm-up rounds), interleaved:"
    )
    rows = []
    for label in questions:
        for kind in ("new", "existing"):
            xs = timings[(label, kind)]
            rows.append(
                (
                    label,
                    "new forecaster" if kind == "new" else "update (replace term)",
                    fmt_ms(median(xs)),
                    fmt_ms(percentile(xs, 95)),
                    fmt_ms(max(xs)),
                    queries.get(label, "") if kind == "new" else "",
                )
            )
    print(table(("question", "submission", "median", "p95", "max", "queries"), rows))
    ratios = []
    for kind in ("new", "existing"):
        a = median(timings[("1,000 forecasters", kind)])
        b = median(timings[("100,000 forecasters", kind)])
        c = median(timings[(list(questions)[2], kind)])
        ratios.append((kind, b / a, c / a))
    for kind, r100k, r1m in ratios:
        print(
            f"    ratio of medians 100k / 1k ({kind}): {r100k:.2f}   "
            f"(1M-event history / 1k: {r1m:.2f})   target < 1.5"
        )
    for label, (secs, filled) in fills.items():
        print(
            f"    deferred median fill (crowd_fill_medians, once per debounce window) on "
            f"{label}: {secs:.2f} s for {filled} points"
        )

    print()
    print(f"(b) recompute of a {n:,}-event history from {args.forecasters:,} forecasters:")
    rows = [
        (
            "math: pool_history (pool, mean, count, exact median)",
            fmt_s(math[True][0]),
            fmt_s(math[True][1]),
            "< 1 s",
        ),
        ("math: pool_history without the median", fmt_s(math[False][0]), fmt_s(math[False][1]), ""),
        (
            "read only: load_events (in the parent, warm cache)",
            fmt_s(t_load.wall),
            fmt_s(t_load.cpu),
            "",
        ),
        (
            "crowd_recompute, no points yet (child process)",
            fmt_s(first["wall"]),
            fmt_s(first["cpu"]),
            "< 15 s",
        ),
        (
            "crowd_recompute, replacing the points (child)",
            fmt_s(second["wall"]),
            fmt_s(second["cpu"]),
            "< 15 s",
        ),
    ]
    print(table(("step", "wall", "CPU (this process)", "target"), rows))
    for name, run in (("no points yet", first), ("replacing", second)):
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in run["phases"].items())
        rest = run["wall"] - sum(run["phases"].values())
        print(f"    phases ({name}): {parts}; rest (lock, building the row lists) {rest:.2f} s")
        print(
            f"    CPU ({name}): Python process {run['cpu']:.1f} s + PostgreSQL backend "
            f"{run['pg_cpu']:.1f} s (they overlap a little during COPY) "
            f"for {run['wall']:.1f} s wall"
        )
        marks = ", ".join(f"after {k}: {v:.0f}" for k, v in run["rss_after"].items())
        print(
            f"    peak RSS ({name}): {run['peak_rss']:.0f} MiB (baseline after django.setup "
            f"{run['baseline_rss']:.0f} MiB; high-water mark in MiB {marks})   target < 1024 MiB"
        )

    print()
    work_ratio = naive_full / math[True][0]
    print(
        f"(c) naive_history on the first {m:,} events: {t_naive.wall:.2f} s "
        f"(max |difference| from pool_history {diff:.1e}); extrapolated to {n:,} events "
        f"(∝ Σ active forecasters): {naive_full:,.0f} s ≈ {naive_full / 3600:.1f} h — "
        f"{work_ratio:,.0f}x the vectorized math, "
        f"{naive_full / second['wall']:,.0f}x the database-to-database recompute"
    )
    print(
        f"\n{rows_total:,} forecast rows in the bench tournament at the end "
        "(deleted by the cleanup); "
        f"total run {time.perf_counter() - started:.0f} s; parent peak RSS {peak_rss_mib():.0f} MiB"
    )


if __name__ == "__main__":
    main()
