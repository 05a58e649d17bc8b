"""Crowd engine for continuous questions (issue 14): O(1) submissions, the 100k-event recompute,
and scoring a 100,000-forecast question.

Prints figures, asserts nothing. Usage:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/takeoff_bench_types \\
        .venv/bin/python bench/bench_typed_crowd.py [--events N] [--submissions S]
    DATABASE_URL=sqlite:////tmp/bench_types.sqlite3 .venv/bin/python bench/bench_typed_crowd.py

(the PostgreSQL database is created when missing; ``migrate`` runs first; every row the script
creates belongs to the tournament ``bench-typed`` and its forecasters, deleted at the end unless
``--keep``.)

Setup: continuous questions (range 0–100, closed lower and open upper bound: 202 PMF buckets,
201 in the support), forecasters and Forecast rows COPYed (bulk INSERT on SQLite):
two questions with one forecast (a standardised CDF at 201 points) from each of 1,000 and of
100,000 forecasters, and one with an N-event history (default 100,000 events from 10,000
forecasters over a year, 5% withdrawals: the log of ``bench_vector_history_math.make_log``);
``crowd_recompute`` once per question.

(a) ``forecast_submit(values=cdf)`` — the service every entry point calls — timed call by call on
    the 1k and 100k questions (and the 100k-event one), S submissions from new forecasters and S
    replacing an existing forecaster's forecast, interleaved so background load hits all alike.
    Each call is its own transaction (row lock, insert, O(k) sums, point, commit).
(b) ``crowd_recompute`` of the 100k-event question, database to database, in a fresh child
    process (its peak RSS is the recompute's own), phases timed by wrapping the functions it
    calls; the math alone (``pool_history_vectors`` with the continuous summaries, best of 3,
    wall and CPU, peak traced memory); baselines in the same run: the ORM read of the log (the
    path SQLite takes, and PostgreSQL's before the binary COPY), and the naive history
    (re-pool every active forecast at each event) on a prefix, extrapolated in proportion to
    Σ active forecasters.
(c) ``scoring.services.question_score`` database to database after ``question_resolve``: the
    100,000-event question (10,000 forecasters, as the yes/no scoring bench) three times, and
    the 100,000-forecaster question once (``--no-score`` skips both).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import subprocess
import sys
import time
import tracemalloc
from itertools import repeat
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Phases,
    Timer,
    analyze,
    cleanup,
    current_rss_mib,
    fmt_ms,
    machine_line,
    make_forecasters,
    make_question,
    make_tournament,
    median,
    peak_rss_mib,
    percentile,
    progress,
    setup_django,
    table,
)
from bench_vector_history_math import make_log, naive

SLUG = "bench-typed"
WARMUP = 10
HALF_LIFE_DAYS = 7.0


def continuous_fields() -> dict:
    from markets.models import Question

    return {
        "type": Question.Type.NUMERIC,
        "range_min": 0.0,
        "range_max": 100.0,
        "open_lower_bound": False,
        "open_upper_bound": True,
    }


def random_cdfs(rng: np.random.Generator, n: int) -> np.ndarray:
    """n standardised CDFs (closed lower, open upper bound), docs/methods.md §12.2."""
    grid = np.linspace(0.0, 1.0, 201)
    centre = rng.uniform(0.2, 0.8, n)
    scale = rng.uniform(0.03, 0.2, n)
    g = 1.0 / (1.0 + np.exp(-(grid[None, :] - centre[:, None]) / scale[:, None]))
    g = (g - g[:, :1]) / (g[:, -1:] - g[:, :1])
    return 0.989 * g + 0.01 * grid


def insert_vector_forecasts(
    question_id: int, times: np.ndarray, forecaster_ids: np.ndarray, cdfs: np.ndarray, desc: str
) -> int:
    """COPY a continuous log (rows of NaN = withdrawals) into Forecast rows, in time order."""
    from _common import iso_times

    from config.bulk import bulk_insert
    from forecasts.models import Forecast

    n = len(times)
    withdrawal = np.isnan(cdfs[:, 0])
    blobs = (
        None if w else np.ascontiguousarray(row, dtype="<f8").tobytes()
        for w, row in zip(withdrawal.tolist(), cdfs, strict=True)
    )
    rows = zip(
        repeat(question_id),
        np.asarray(forecaster_ids).tolist(),
        np.where(withdrawal, "withdrawal", "forecast").tolist(),
        blobs,
        iso_times(times),
        repeat(""),
        repeat(1.0),
    )
    return bulk_insert(
        Forecast,
        ("question_id", "forecaster_id", "kind", "values", "time", "rationale",
         "track_record_weight"),
        progress(rows, n, desc),
    )  # fmt: skip


def own_peak_rss_mib() -> float:
    """This process's resident-set high-water mark since its exec (VmHWM): unlike ru_maxrss,
    not inherited from the parent that forked it."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


# --- (b) in a child process ----------------------------------------------------------------------


def child_recompute(question_id: int) -> None:
    """One instrumented crowd_recompute; prints a JSON line with times and memory."""
    setup_django(migrate=False)
    import django.db.models.query as query_mod

    import forecasts.services as services
    import forecasts.store as store_mod
    import forecasts.vector_pooling as vp
    from forecasts.models import CrowdPoint

    phases = Phases()
    store_mod.load_vector_events = phases.wrap("read the log", store_mod.load_vector_events)
    vp.pool_history_vectors = phases.wrap("math", vp.pool_history_vectors)
    store_mod.write_vector_points = phases.wrap("write points", store_mod.write_vector_points)
    real_delete = query_mod.QuerySet.delete

    def timed_delete(self):
        if self.model is CrowdPoint:
            return phases.wrap("delete old points", real_delete)(self)
        return real_delete(self)

    query_mod.QuerySet.delete = timed_delete
    from django.db import connection, transaction

    base = current_rss_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    with transaction.atomic():
        points = services.crowd_recompute(question_id=question_id)
        t_commit = time.perf_counter()
    phases.add("COMMIT", time.perf_counter() - t_commit)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    connection.close()
    print(
        json.dumps(
            {
                "points": points,
                "wall": wall,
                "cpu": cpu,
                "line": phases.line(wall, "rest (lock, sums, state)"),
                "baseline_rss": base,
                "peak_rss": own_peak_rss_mib(),
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


# --- setup ---------------------------------------------------------------------------------------


def build(args: argparse.Namespace):
    from django.utils import timezone

    from forecasts.models import CrowdPoint, CrowdState, Forecast, Forecaster
    from forecasts.services import crowd_recompute

    tournament = make_tournament(SLUG, half_life_hours=HALF_LIFE_DAYS * 24)
    now = timezone.now()
    start = now - dt.timedelta(days=367)
    open_time, close_time = start - dt.timedelta(days=1), now + dt.timedelta(days=365)
    n_new = 3 * (args.submissions + WARMUP)
    fids = make_forecasters(SLUG, 100_000 + n_new)
    new_pool = fids[100_000:]
    rng = np.random.default_rng(args.seed)

    times, who, values, _ = make_log(args.events, args.history_forecasters, args.seed + 1)
    cdfs = np.cumsum(values[:, :-1], axis=1)  # the CDF at the 201 points (NaN rows stay NaN)
    big = make_question(tournament, "history", open_time, close_time, **continuous_fields())
    insert_vector_forecasts(
        big.pk, start.timestamp() + times, fids[who], cdfs, f"{args.events:,} forecasts"
    )
    small = {}
    for size in (1_000, 100_000):
        q = make_question(tournament, f"forecasters-{size}", open_time, close_time,
                          **continuous_fields())  # fmt: skip
        t = np.sort(rng.uniform(0.0, 365 * 86400.0, size))
        insert_vector_forecasts(
            q.pk, start.timestamp() + t, fids[rng.permutation(size)], random_cdfs(rng, size),
            f"{size:,} forecasts",
        )  # fmt: skip
        small[size] = q
    analyze(Forecast, Forecaster)
    setup_times = {}
    for label, q in (("1k", small[1_000]), ("100k", small[100_000])):
        with Timer() as tm:
            crowd_recompute(question_id=q.pk)
        setup_times[label] = tm.wall
    analyze(CrowdPoint, CrowdState)
    existing_big = np.unique(fids[who])
    return big, small, fids, new_pool, existing_big, setup_times


# --- (a) ------------------------------------------------------------------------------------------


def submissions(questions: dict[str, tuple], new_pool: np.ndarray, n: int, seed: int):
    """Interleaved timed submissions; returns {(label, kind): [seconds]} and queries per call."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from tqdm import tqdm

    from forecasts.models import Forecaster
    from forecasts.services import forecast_submit

    rng = random.Random(seed)
    cdf_rng = np.random.default_rng(seed)
    pool = iter(new_pool.tolist())
    plan = []
    for i in range(WARMUP + n):
        for label, (qid, existing) in questions.items():
            plan.append((label, qid, next(pool), "new", i < WARMUP))
            plan.append(
                (label, qid, int(existing[rng.randrange(len(existing))]), "existing", i < WARMUP)
            )
    objs = Forecaster.objects.in_bulk(list({p[2] for p in plan}))
    cdfs = random_cdfs(cdf_rng, len(plan))
    out: dict[tuple[str, str], list[float]] = {}
    queries: dict[str, int] = {}
    for i, (label, qid, fid, kind, warm) in enumerate(
        tqdm(plan, desc="submissions", leave=False, file=sys.stderr)
    ):
        cdf = cdfs[i].tolist()
        if warm and kind == "new" and label not in queries:
            with CaptureQueriesContext(connection) as ctx:
                forecast_submit(question_id=qid, forecaster=objs[fid], values=cdf)
            queries[label] = len(ctx.captured_queries)
            continue
        t0 = time.perf_counter()
        forecast_submit(question_id=qid, forecaster=objs[fid], values=cdf)
        elapsed = time.perf_counter() - t0
        if not warm:
            out.setdefault((label, kind), []).append(elapsed)
    return out, queries


# --- (c) ------------------------------------------------------------------------------------------


def score_phase(question_id: int, label: str, runs: int) -> str:
    """Resolve a continuous question (value 42 on the 0–100 range) and score it database to
    database with ``scoring.services.question_score`` — read the log, score every forecaster,
    the crowd and the mean (CRPS and log scores), write the Score rows, COMMIT — ``runs`` times
    (the scores deleted between runs, untimed). One line of figures."""
    from markets.resolution.manual import question_resolve
    from scoring.models import Score
    from scoring.services import question_score

    resolution = question_resolve(question_id=question_id, outcome="value", value=42.0)
    times = []
    written = 0
    for _ in range(runs):
        Score.objects.filter(question_id=question_id).delete()
        with Timer() as t:  # its own transaction: the COMMIT (deferred FK checks) is timed too
            written = question_score(question_id=question_id, resolution_id=resolution.pk)
        times.append(t.wall)
    return (
        f"    {label}: median {median(times):.2f} s (runs "
        f"{', '.join(f'{x:.2f}' for x in times)} s), {written:,} Score rows"
    )


def only_score(args: argparse.Namespace) -> None:
    """``--only-score``: the 100,000-event question alone, then its part of (c)."""
    from django.utils import timezone

    from forecasts.models import CrowdPoint, CrowdState, Forecast, Forecaster
    from forecasts.services import crowd_recompute

    try:
        with Timer() as tm:
            tournament = make_tournament(SLUG, half_life_hours=HALF_LIFE_DAYS * 24)
            now = timezone.now()
            start = now - dt.timedelta(days=367)
            open_time, close_time = start - dt.timedelta(days=1), now + dt.timedelta(days=365)
            fids = make_forecasters(SLUG, args.history_forecasters)
            times, who, values, _ = make_log(args.events, args.history_forecasters, args.seed + 1)
            cdfs = np.cumsum(values[:, :-1], axis=1)
            big = make_question(tournament, "history", open_time, close_time,
                                **continuous_fields())  # fmt: skip
            insert_vector_forecasts(
                big.pk, start.timestamp() + times, fids[who], cdfs, f"{args.events:,} forecasts"
            )
            analyze(Forecast, Forecaster)
            crowd_recompute(question_id=big.pk)
            analyze(CrowdPoint, CrowdState)
        print(f"setup: {tm.wall:.1f} s ({args.events:,} continuous forecasts written)")
        print(
            "(c) scoring.services.question_score on a continuous question, database to "
            "database (target < 5 s):"
        )
        label = f"{args.events:,} forecasts from {args.history_forecasters:,} forecasters"
        print(score_phase(big.pk, label, args.score_runs))
    finally:
        if not args.keep:
            cleanup(SLUG)


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--history-forecasters", type=int, default=10_000)
    parser.add_argument("--submissions", type=int, default=200, help="per question and kind")
    parser.add_argument("--prefix", type=int, default=1_000, help="events for the naive method")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-score", action="store_true", help="skip (c)")
    parser.add_argument("--keep", action="store_true", help="keep the bench rows")
    parser.add_argument(
        "--only-score", action="store_true", help="build the history question, run only (c) on it"
    )
    parser.add_argument("--score-runs", type=int, default=3, help="runs of (c) per question")
    parser.add_argument("--child-recompute", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_recompute:
        child_recompute(args.child_recompute)
        return

    setup_django()
    from forecasts import store
    from forecasts.services import vector_history, vector_log
    from markets.models import Question

    print(f"bench_typed_crowd · {machine_line()}")
    cleanup(SLUG)
    if args.only_score:
        only_score(args)
        return
    started = time.perf_counter()
    scored = "(c) not run"
    try:
        with Timer() as tm:
            big, small, fids, new_pool, existing_big, setup_times = build(args)
        print(
            f"setup: {tm.wall:.1f} s ({args.events:,} + 101,000 continuous forecasts written, "
            f"recompute of the 1k / 100k questions {setup_times['1k']:.2f} / "
            f"{setup_times['100k']:.2f} s)"
        )

        # (b) database to database, in a child process: building, then replacing the points.
        first = run_child(big.pk)
        second = run_child(big.pk)

        # (b) the log read: binary COPY (PostgreSQL) against the ORM query, same rows.
        question = Question.objects.get(pk=big.pk)
        with Timer() as t_read:
            ev = vector_log(question)
        with Timer() as t_orm:
            orm_ev = store._load_vector_events_orm(big.pk, 201)
        same_read = bool(
            np.array_equal(orm_ev.values, ev.values, equal_nan=True)
            and np.array_equal(orm_ev.times, ev.times)
            and list(orm_ev.stamps) == list(ev.stamps)
        )
        orm_ev = None

        # (b) the math alone, on the arrays crowd_recompute reads.
        runs = []
        for _ in range(3):
            with Timer() as t:
                hist = vector_history(question, ev)
            runs.append((t.wall, t.cpu))
        tracemalloc.start()
        vector_history(question, ev)
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        math_wall, math_cpu = min(r[0] for r in runs), min(r[1] for r in runs)

        # (b) naive: re-pool every active forecast at each event, on a prefix.
        from forecasts import typed

        outcomes = typed.outcomes(question, ev.values)
        support = typed.support(question)
        m = min(args.prefix, len(ev.ids))
        with Timer() as t_naive:
            naive(ev.times, ev.forecaster, outcomes, support, HALF_LIFE_DAYS * 86400.0, m)
        counts = hist.forecasters.astype(np.float64)
        naive_full = t_naive.wall * counts.sum() / max(counts[:m].sum(), 1.0)
        n_events = len(ev.ids)
        ev = outcomes = hist = None

        # (a) submissions.
        questions = {
            "1,000 forecasters": (small[1_000].pk, fids[:1_000]),
            "100,000 forecasters": (small[100_000].pk, fids[:100_000]),
            f"{n_events:,}-event history": (big.pk, existing_big),
        }
        timings, queries = submissions(questions, new_pool, args.submissions, args.seed)

        # (c) scoring: the 100,000-event question (10,000 forecasters, as the yes/no scoring
        # bench), then the 100,000-forecaster one once (8 Score rows per forecaster: 800k rows).
        if not args.no_score:
            scored = "\n".join(
                [
                    "(c) scoring.services.question_score on continuous questions, database to "
                    "database (target < 5 s):",
                    score_phase(big.pk, f"{n_events:,} forecasts from "
                                f"{args.history_forecasters:,} forecasters", 3),
                    score_phase(small[100_000].pk, "100,000 forecasts from 100,000 forecasters",
                                1),
                ]
            )  # fmt: skip
    finally:
        if args.keep:
            print(f"kept tournament {SLUG!r}")
        else:
            with Timer() as t_clean:
                cleanup(SLUG)
            print(f"cleanup: {t_clean.wall:.1f} s")

    print()
    print(
        f"(a) forecast_submit(values=CDF) on continuous questions, one transaction each, "
        f"{args.submissions} timed per cell (after {WARMUP} warm-up rounds), interleaved:"
    )
    rows = []
    for label in questions:
        for kind in ("new", "existing"):
            xs = timings[(label, kind)]
            rows.append(
                (
                    label,
                    "new forecaster" if kind == "new" else "update (replace terms)",
                    fmt_ms(median(xs)),
                    fmt_ms(percentile(xs, 95)),
                    fmt_ms(max(xs)),
                    queries.get(label, "") if kind == "new" else "",
                )
            )
    print(table(("question", "submission", "median", "p95", "max", "queries"), rows))
    for kind in ("new", "existing"):
        a = median(timings[("1,000 forecasters", kind)])
        b = median(timings[("100,000 forecasters", kind)])
        c = median(timings[(list(questions)[2], kind)])
        print(
            f"    ratio of medians 100k / 1k ({kind}): {b / a:.2f}   "
            f"({n_events:,}-event history / 1k: {c / a:.2f})   target < 1.5"
        )

    print()
    print(f"(b) recompute of the {n_events:,}-event continuous history (202 PMF buckets):")
    print(
        f"    math (pool_history_vectors + continuous summaries, best of 3): {math_wall:.2f} s "
        f"wall, {math_cpu:.2f} s CPU; peak traced memory {traced / 2**20:.0f} MiB   target < 2 s"
    )
    for name, run in (("building the history", first), ("replacing the points", second)):
        print(
            f"    crowd_recompute database to database ({name}): {run['wall']:.2f} s wall, "
            f"{run['cpu']:.2f} s CPU, {run['points']:,} points; peak RSS {run['peak_rss']:.0f} MiB "
            f"(baseline after django.setup {run['baseline_rss']:.0f} MiB)   "
            f"targets < 20 s, < 1536 MiB"
        )
        print(f"      phases: {run['line']}")
    print(
        f"    log read: load_vector_events {t_read.wall:.2f} s vs the ORM query "
        f"{t_orm.wall:.2f} s ({t_orm.wall / t_read.wall:.1f}x; same arrays: {same_read})"
    )
    print(
        f"    naive re-pool of every active forecast per event: {t_naive.wall:.2f} s for the "
        f"first {m:,} events; extrapolated (∝ Σ active forecasters) {naive_full:,.0f} s = "
        f"{naive_full / math_wall:,.0f}x the vectorised math"
    )
    print()
    print(scored)
    print(
        f"\ntotal run {time.perf_counter() - started:.0f} s; parent peak RSS "
        f"{peak_rss_mib():.0f} MiB"
    )


if __name__ == "__main__":
    main()
