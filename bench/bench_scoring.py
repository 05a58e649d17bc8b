"""Scoring and leaderboards at scale on PostgreSQL (issue 5).

Prints figures, asserts nothing. Usage:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/takeoff_bench \\
        .venv/bin/python bench/bench_scoring.py [--forecasts N] [--forecasters F] ...

(``takeoff_bench`` is created when missing; ``migrate`` runs first; every row the script creates
belongs to the tournaments ``bench-scoring`` and ``bench-leaderboard`` and their forecasters,
deleted at the end unless ``--keep``.)

1. A question open for a year with N forecasts (default 100,000) from F forecasters (10,000) at
   uniform random times, 2% of the events withdrawals, COPYed as Forecast rows; its crowd history
   by ``crowd_recompute``; resolved YES at the scheduled close through ``question_resolve`` (the
   scoring task is queued, not run: Celery is not eager here).
   - computation: ``score_question`` (every rule, every forecaster) plus ``score_series`` for
     the crowd, its median and its mean — the four calls ``question_score`` makes — on arrays
     already in memory; best and median of 5 runs.
   - database to database: ``question_score`` end to end (read the log and the crowd history,
     score, COPY the Score rows, commit), three times: first scoring, then re-resolved NO (the
     old version's rows are deleted in the same transaction) and back to YES. Phases are timed by
     wrapping the functions it calls; the leaderboard rebuild it queues after commit is not run.
   - naive: ``naive_score_question`` (instant by instant, plain Python) on sub-questions made of
     the events of the first K forecasters (K = 50, 100, 200: the same events per forecaster), next
     to ``score_question`` on the same events; the ratio, and the naive time extrapolated to the
     full question with the growth exponent fitted on the sub-questions.
2. A leaderboard over Q questions × P forecasters (default 200 × 2,000, everyone on every
   question): the Score rows — 8 rules per forecaster and question, and the crowd, median and
   mean rows — COPYed directly, ANALYZE, then ``leaderboard_rebuild`` timed three times.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Phases,
    Timer,
    analyze,
    backend_pid,
    cleanup,
    fmt_s,
    insert_forecasts,
    machine_line,
    make_forecasters,
    make_question,
    make_tournament,
    median,
    peak_rss_mib,
    process_cpu,
    progress,
    setup_django,
    table,
)

SLUG = "bench-scoring"
BOARD_SLUG = "bench-leaderboard"
UTC = dt.UTC
OPEN = dt.datetime(2024, 1, 1, tzinfo=UTC)
CLOSE = dt.datetime(2025, 1, 1, tzinfo=UTC)
SUBSETS = (50, 100, 200)


def build_question(n: int, n_forecasters: int, seed: int):
    from forecasts.models import CrowdPoint, CrowdState, Forecast, Forecaster
    from forecasts.services import crowd_recompute
    from markets.models import Resolution
    from markets.resolution.manual import question_resolve

    tournament = make_tournament(SLUG)
    question = make_question(tournament, "scored", OPEN, CLOSE)
    fids = make_forecasters(SLUG, n_forecasters)
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(OPEN.timestamp(), CLOSE.timestamp(), n))
    who = rng.integers(0, n_forecasters, n)
    probs = np.round(rng.uniform(0.001, 0.999, n), 3)
    probs[rng.random(n) < 0.02] = np.nan
    insert_forecasts(question.pk, times, fids[who], probs, desc=f"{n:,} forecasts")
    analyze(Forecast, Forecaster)
    crowd_recompute(question_id=question.pk)
    analyze(CrowdPoint, CrowdState)
    resolution = question_resolve(
        question_id=question.pk, outcome=Resolution.Outcome.YES, resolved_at=CLOSE, reason="bench"
    )
    return question, resolution


def arrays(question_id: int):
    """What question_score feeds the math: the event log and the crowd history as arrays."""
    from forecasts.models import CrowdPoint
    from forecasts.store import load_events

    ev = load_events(question_id)
    ids, codes = np.unique(ev.forecaster, return_inverse=True)
    points = list(
        CrowdPoint.objects.filter(question_id=question_id)
        .order_by("seq")
        .values_list("time", "probability", "median", "mean")
    )
    pt = np.array([p[0].timestamp() for p in points])
    series = [np.array([np.nan if p[i] is None else p[i] for p in points]) for i in (1, 2, 3)]
    return ev, codes, len(ids), pt, series


def computation(ev, codes, n_f, pt, series, window) -> dict[str, float]:
    from scoring import rules

    out: dict[str, float] = {}
    with Timer() as t:
        rules.score_question(ev.times, codes, ev.probs, n_forecasters=n_f, **window)
    out["score_question"] = t.wall
    with Timer() as t:
        for s in series:
            rules.score_series(
                pt,
                s,
                forecast_times=ev.times,
                forecaster=codes,
                forecast_probs=ev.probs,
                **window,
            )
    out["score_series x3"] = t.wall
    out["total"] = out["score_question"] + out["score_series x3"]
    return out


def database_runs(question, first_resolution) -> list[dict]:
    """question_score three times: first scoring, re-resolved NO, back to YES."""
    from django.db import transaction

    import scoring.rules as rules_mod
    import scoring.services as services
    from markets.models import Resolution
    from markets.resolution.manual import question_resolve

    phases = Phases()
    services.load_events = phases.wrap("read Forecast rows", services.load_events)
    rules_mod.score_question = phases.wrap("score_question", rules_mod.score_question)
    rules_mod.score_series = phases.wrap("score_series x3", rules_mod.score_series)
    services._crowd_rows = phases.wrap("crowd rows (incl. CrowdPoint read)", services._crowd_rows)
    services._write_scores = phases.wrap("write Scores (COPY)", services._write_scores)

    runs = []
    resolution = first_resolution
    for label, outcome in (
        ("first scoring", None),
        ("re-resolved NO", "no"),
        ("back to YES", "yes"),
    ):
        if outcome is not None:
            resolution = question_resolve(
                question_id=question.pk,
                outcome=outcome,
                resolved_at=CLOSE,
                reason=f"bench: {label}",
            )
        phases.reset()
        backend = backend_pid()
        pg0 = process_cpu(backend)
        t0, c0 = time.perf_counter(), time.process_time()
        with transaction.atomic():  # only to time question_score's COMMIT apart
            rows = services.question_score(question_id=question.pk, resolution_id=resolution.pk)
            tc = time.perf_counter()
        phases.add("COMMIT", time.perf_counter() - tc)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        pg_cpu = process_cpu(backend) - pg0
        # score_series runs inside _crowd_rows: report the reading part of _crowd_rows alone.
        sec = dict(phases.seconds)
        sec["crowd rows (incl. CrowdPoint read)"] -= sec.get("score_series x3", 0.0)
        sec["read CrowdPoints, crowd rows"] = sec.pop("crowd rows (incl. CrowdPoint read)")
        runs.append(
            {
                "label": label,
                "rows": rows,
                "wall": wall,
                "cpu": cpu,
                "pg_cpu": pg_cpu,
                "phases": sec,
                "outcome": Resolution.objects.get(pk=resolution.pk).outcome,
            }
        )
    return runs


def naive_runs(ev, codes, window) -> list[tuple[int, int, float, float, float]]:
    from scoring import rules
    from tests.reference import scoring as reference

    out = []
    for k in SUBSETS:
        keep = codes < k
        t, f, p = ev.times[keep], codes[keep], ev.probs[keep]
        with Timer() as fast:
            a = rules.score_question(t, f, p, n_forecasters=k, **window)
        with Timer() as slow:
            b = reference.naive_score_question(t, f, p, n_forecasters=k, **window)
        diff = 0.0
        for field in ("brier", "log", "baseline", "peer", "coverage", "spot_peer"):
            x, y = getattr(a, field), getattr(b, field)
            both = ~(np.isnan(x) & np.isnan(y))
            if both.any():
                diff = max(diff, float(np.max(np.abs(x[both] - y[both]))))
        out.append((k, int(keep.sum()), fast.wall, slow.wall, diff))
    return out


def build_leaderboard(n_questions: int, n_forecasters: int, seed: int):
    from django.db import transaction
    from django.utils import timezone

    from config.bulk import bulk_insert
    from markets.models import Question, Resolution
    from scoring.models import Rule, Score, Subject

    tournament = make_tournament(BOARD_SLUG)
    fids = make_forecasters(BOARD_SLUG, n_forecasters).tolist()
    questions = Question.objects.bulk_create(
        [
            Question(
                tournament=tournament,
                key=f"q{i:04d}",
                title=f"Bench question {i}",
                open_time=OPEN,
                close_time=CLOSE,
                status=Question.Status.RESOLVED,
            )
            for i in range(n_questions)
        ]
    )
    rng = np.random.default_rng(seed)
    outcomes = rng.integers(0, 2, n_questions)
    resolutions = Resolution.objects.bulk_create(
        [
            Resolution(
                question=q,
                version=1,
                outcome="yes" if o else "no",
                state=Resolution.State.FINAL,
                source=Resolution.Source.IMPORT,
                resolved_at=CLOSE,
            )
            for q, o in zip(questions, outcomes.tolist(), strict=True)
        ]
    )
    rules = [r.value for r in Rule]
    now = timezone.now()

    def rows():
        for q, res in zip(questions, resolutions, strict=True):
            p = rng.uniform(0.001, 0.999, n_forecasters)
            brier = (p - (res.outcome == "yes")) ** 2
            peer = rng.normal(0.0, 40.0, n_forecasters)
            cov = rng.uniform(0.5, 1.0, n_forecasters)
            values = {
                "brier": brier,
                "log": -brier * 3,
                "baseline": 50 - 100 * brier,
                "peer": peer,
                "spot_brier": brier,
                "spot_log": -brier * 3,
                "spot_baseline": 50 - 100 * brier,
                "spot_peer": peer,
            }
            cols = {k: v.tolist() for k, v in values.items()}
            pl, cl = p.tolist(), cov.tolist()
            for j, fid in enumerate(fids):
                for rule in rules:
                    spot = rule.startswith("spot_")
                    yield (
                        q.pk,
                        res.pk,
                        Subject.FORECASTER,
                        fid,
                        rule,
                        cols[rule][j],
                        1.0 if spot else cl[j],
                        pl[j] if spot else None,
                        now,
                    )
            for subject in (Subject.CROWD, Subject.MEDIAN, Subject.MEAN):
                for rule in rules:
                    spot = rule.startswith("spot_")
                    yield (
                        q.pk,
                        res.pk,
                        subject,
                        None,
                        rule,
                        float(rng.normal(10, 20)),
                        1.0,
                        0.5 if spot else None,
                        now,
                    )

    total = n_questions * (n_forecasters + 3) * len(rules)
    with transaction.atomic():
        bulk_insert(
            Score,
            (
                "question_id",
                "resolution_id",
                "subject",
                "forecaster_id",
                "rule",
                "score",
                "coverage",
                "forecast",
                "computed_at",
            ),
            progress(rows(), total, "leaderboard Score rows"),
        )
    analyze(Score)
    return tournament, total


def leaderboard_runs(tournament_id: int, repeat_n: int = 3):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from scoring.leaderboard import crowd_rank, leaderboard_rebuild

    runs = []
    for _ in range(repeat_n):
        with CaptureQueriesContext(connection) as ctx:
            t0, c0 = time.perf_counter(), time.process_time()
            with transaction.atomic():
                entries = leaderboard_rebuild(tournament_id=tournament_id)
                tc = time.perf_counter()
            commit = time.perf_counter() - tc
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        sql = sorted(((float(q["time"]), q["sql"]) for q in ctx.captured_queries), reverse=True)
        runs.append(
            {
                "wall": wall,
                "cpu": cpu,
                "entries": entries,
                "commit": commit,
                "queries": len(sql),
                "sql_time": sum(s for s, _ in sql),
                "top": sql[:3],
            }
        )
    return runs, crowd_rank(tournament_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forecasts", type=int, default=100_000)
    parser.add_argument("--forecasters", type=int, default=10_000)
    parser.add_argument("--questions", type=int, default=200, help="leaderboard questions")
    parser.add_argument("--board-forecasters", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    setup_django()
    print(f"bench_scoring · {machine_line()}")
    cleanup(SLUG)
    cleanup(BOARD_SLUG)
    started = time.perf_counter()
    try:
        with Timer() as t_setup:
            question, resolution = build_question(args.forecasts, args.forecasters, args.seed)
        print(f"setup (question): {t_setup.wall:.1f} s")
        window = {
            "open_time": OPEN.timestamp(),
            "close_time": CLOSE.timestamp(),
            "resolved_at": CLOSE.timestamp(),
            "outcome": 1,
        }
        ev, codes, n_f, pt, series = arrays(question.pk)
        comp = [computation(ev, codes, n_f, pt, series, window) for _ in range(5)]
        db = database_runs(question, resolution)
        naive = naive_runs(ev, codes, window)
        with Timer() as t_board_setup:
            board, score_rows = build_leaderboard(args.questions, args.board_forecasters, args.seed)
        print(f"setup (leaderboard): {t_board_setup.wall:.1f} s for {score_rows:,} Score rows")
        board_runs, rank = leaderboard_runs(board.pk)
    finally:
        if args.keep:
            print(f"kept tournaments {SLUG!r}, {BOARD_SLUG!r}")
        else:
            with Timer() as t_clean:
                cleanup(SLUG)
                cleanup(BOARD_SLUG)
            print(f"cleanup: {t_clean.wall:.1f} s")

    print()
    n_events = len(ev.ids)
    print(
        f"1. a resolved question: {n_events:,} forecast events "
        f"({int(np.isnan(ev.probs).sum()):,} withdrawals) from {n_f:,} forecasters, "
        f"{len(pt):,} crowd history points"
    )
    rows = []
    for key in ("score_question", "score_series x3", "total"):
        xs = [c[key] for c in comp]
        rows.append(
            (
                f"computation: {key}",
                fmt_s(min(xs)),
                fmt_s(median(xs)),
                "< 2 s" if key == "total" else "",
            )
        )
    for run in db:
        rows.append(
            (
                f"question_score DB→DB, {run['label']} ({run['rows']:,} rows)",
                fmt_s(run["wall"]),
                "",
                "< 10 s",
            )
        )
    print(table(("step", "best / wall", "median of 5", "target"), rows))
    for run in db:
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in run["phases"].items())
        rest = run["wall"] - sum(run["phases"].values())
        print(
            f"    {run['label']}: {parts}; rest (lock, delete old version, building rows) "
            f"{rest:.2f} s · CPU: Python {run['cpu']:.2f} s, PostgreSQL backend "
            f"{run['pg_cpu']:.2f} s"
        )
    print()
    print("   naive_score_question (instant by instant) vs score_question on sub-questions:")
    rows = [
        (
            f"first {k} forecasters",
            f"{m:,}",
            fmt_s(fast),
            fmt_s(slow),
            f"{slow / fast:,.0f}x",
            f"{d:.1e}",
        )
        for k, m, fast, slow, d in naive
    ]
    print(table(("sub-question", "events", "score_question", "naive", "ratio", "max |diff|"), rows))
    (_, m1, _, s1, _), (_, m2, _, s2, _) = naive[-2], naive[-1]
    exponent = math.log(s2 / s1) / math.log(m2 / m1)
    full_naive = s2 * (n_events / m2) ** exponent
    best_total = min(c["total"] for c in comp)
    print(
        f"    naive time grows as events^{exponent:.2f} between the last two sub-questions; "
        f"extrapolated to {n_events:,} events: {full_naive:,.0f} s "
        f"≈ {full_naive / 86400:,.1f} days, "
        f"{full_naive / best_total:,.0f}x the vectorized computation "
        f"(score_question alone: {full_naive / min(c['score_question'] for c in comp):,.0f}x)"
    )
    print()
    print(
        f"2. leaderboard_rebuild over {args.questions} questions × {args.board_forecasters:,} "
        f"forecasters ({score_rows:,} Score rows in the tournament):"
    )
    rows = [
        (
            f"run {i + 1}",
            fmt_s(r["wall"]),
            fmt_s(r["cpu"]),
            fmt_s(r["sql_time"]),
            r["queries"],
            f"{r['entries']:,}",
            "< 10 s",
        )
        for i, r in enumerate(board_runs)
    ]
    print(table(("run", "wall", "Python CPU", "SQL time", "queries", "entries", "target"), rows))
    for secs, sql in board_runs[-1]["top"]:
        print(f"    {secs:.2f} s  {sql[:160]}")
    if rank:
        print(f"    crowd_rank on the synthetic scores: {rank[0]} of {rank[1]}")
    print(f"\ntotal run {time.perf_counter() - started:.0f} s; peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
