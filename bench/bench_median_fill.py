"""Submission latency while median fills run on a 1M-event question (issue 12).

Prints figures, asserts nothing. Usage:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/takeoff_bench \\
        .venv/bin/python bench/bench_median_fill.py [--events N] [--duration D] [--rounds R]

Setup (tournament ``bench-median-fill``, deleted at the end unless ``--keep``): one question with
N forecast events (default 1,000,000 from 100,000 forecasters, ``bench_history_math.make_log``),
COPYed, then ``crowd_recompute`` once (every point exact).

Each round submits to that question for D seconds, one ``forecast_submit`` call (one
transaction) starting every 20 ms, timing each call, in this process, under three conditions, in
turn:

- **idle**: nothing else touches the question;
- **fill**: a second process — as a Celery worker would be — runs ``crowd_fill_medians`` in a
  loop, each fill ``MEDIAN_FILL_DELAY`` (2 s, the production debounce) after the last one
  ended, picking up the points the submissions left empty meanwhile;
- **locked fill** (the naive baseline, the implementation before issue 12): the second process
  holds the question's row lock while it reads the whole log, computes every median and writes
  the pending ones, so each submission that arrives meanwhile waits for it. Same loop.

Reported per condition: p50/p95/p99 of submission latency over all rounds, the ratio of each to
idle, and the fill process's count and median duration of fills. Rounds interleave the three
conditions so that background load on the shared machine hits them alike.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    YEAR,
    analyze,
    cleanup,
    fmt_ms,
    insert_forecasts,
    machine_line,
    make_forecasters,
    make_question,
    make_tournament,
    median,
    percentile,
    setup_django,
    table,
)
from bench_history_math import make_log

SLUG = "bench-median-fill"
INTERVAL = 0.02  # seconds between two submissions' start: 50 per second


def locked_fill(question_id: int) -> int:
    """The median fill before issue 12 (the baseline): the whole fill under the question lock."""
    from django.db import transaction

    from forecasts import store
    from forecasts.history import median_history
    from forecasts.models import CrowdPoint, CrowdState
    from markets.models import Question

    with transaction.atomic():
        Question.objects.select_for_update(of=("self",)).filter(pk=question_id).first()
        missing = list(
            CrowdPoint.objects.filter(
                question_id=question_id, median__isnull=True, forecasters__gt=0
            )
        )
        if not missing:
            return 0
        ev = store.load_events(question_id)
        medians = median_history(ev.forecaster, ev.probs)
        index = {int(fid): i for i, fid in enumerate(ev.ids.tolist())}
        for point in missing:
            i = index.get(point.forecast_id)
            if i is not None:
                point.median = None if np.isnan(medians[i]) else float(medians[i])
        CrowdPoint.objects.bulk_update(missing, ["median"], batch_size=5000)
        last = CrowdPoint.objects.filter(question_id=question_id).order_by("-seq").first()
        CrowdState.objects.filter(question_id=question_id).update(median=last.median)
        return len(missing)


def child_fill(question_id: int, mode: str, stop_file: str) -> None:
    """Fill in a loop until ``stop_file`` exists; print one JSON line of fill durations."""
    setup_django(migrate=False)
    from forecasts.services import MEDIAN_FILL_DELAY, crowd_fill_medians

    fill = locked_fill if mode == "locked" else (lambda q: crowd_fill_medians(question_id=q))
    durations, points, filled = [], [], 0
    print("ready", flush=True)
    while not Path(stop_file).exists():
        t0 = time.perf_counter()
        n = fill(question_id)
        durations.append(time.perf_counter() - t0)
        filled += n
        points.append(n)
        time.sleep(MEDIAN_FILL_DELAY)
    print(json.dumps({"filled": filled, "durations": durations, "points": points}))


def submissions(question_id: int, forecasters: list, rng: np.random.Generator, seconds: float):
    """Submit every INTERVAL for ``seconds`` (later when a call overran); each call's latency."""
    from forecasts.services import forecast_submit

    out = []
    start = time.perf_counter()
    due = start
    while due - start < seconds:
        time.sleep(max(0.0, due - time.perf_counter()))
        who = forecasters[int(rng.integers(len(forecasters)))]
        p = round(float(rng.uniform(0.01, 0.99)), 3)
        t0 = time.perf_counter()
        forecast_submit(question_id=question_id, forecaster=who, probability=p)
        out.append(time.perf_counter() - t0)
        due = max(due + INTERVAL, time.perf_counter())
    return out


def run_condition(mode: str, question_id: int, forecasters, rng, seconds: float, tmp: Path):
    if mode == "idle":
        return submissions(question_id, forecasters, rng, seconds), None
    stop = tmp / f"stop-{mode}-{time.time_ns()}"
    command = [sys.executable, __file__, "--child", mode, "--question", str(question_id)]
    child = subprocess.Popen([*command, "--stop", str(stop)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    child.stdout.readline()  # "ready": Django is set up in the child
    latencies = submissions(question_id, forecasters, rng, seconds)
    stop.touch()
    out, _ = child.communicate(timeout=600)
    stop.unlink()
    return latencies, json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--forecasters", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per condition")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--child", choices=["fill", "locked"])
    parser.add_argument("--question", type=int)
    parser.add_argument("--stop")
    args = parser.parse_args()
    if args.child:
        child_fill(args.question, args.child, args.stop)
        return

    setup_django()
    from django.utils import timezone

    from forecasts.models import CrowdPoint, CrowdState, Forecast, Forecaster
    from forecasts.services import crowd_fill_medians, crowd_recompute

    print(machine_line())
    cleanup(SLUG)
    try:
        tournament = make_tournament(SLUG)
        now = timezone.now()
        start = now - dt.timedelta(seconds=3 * YEAR + 2 * 86400)
        question = make_question(
            tournament, "history-1m", start - dt.timedelta(days=1), now + dt.timedelta(days=365)
        )
        fids = make_forecasters(SLUG, args.forecasters + 2000)
        times, who, probs, acc = make_log(args.events, args.forecasters, args.seed)
        insert_forecasts(question.pk, start.timestamp() + times, fids[who], probs, acc)
        analyze(Forecast, Forecaster)
        crowd_recompute(question_id=question.pk)
        analyze(CrowdPoint, CrowdState)
        people = list(Forecaster.objects.filter(pk__in=fids[:: max(1, len(fids) // 2000)]))
        print(f"question: {args.events:,} events, {args.forecasters:,} forecasters")

        rng = np.random.default_rng(args.seed)
        tmp = Path("/tmp")
        lat: dict[str, list[float]] = {"idle": [], "fill": [], "locked": []}
        fills: dict[str, list[dict]] = {"fill": [], "locked": []}
        for r in range(args.rounds):
            for mode in ("idle", "fill", "locked"):
                crowd_fill_medians(question_id=question.pk)  # each condition starts filled
                got, child = run_condition(mode, question.pk, people, rng, args.duration, tmp)
                lat[mode] += got
                if child is not None:
                    fills[mode].append(child)
                print(f"  round {r + 1} {mode:>6}: p50 {fmt_ms(median(got))}, "
                      f"p99 {fmt_ms(percentile(got, 99))}", flush=True)  # fmt: skip

        idle = {q: percentile(lat["idle"], q) for q in (50, 95, 99)}
        rows = []
        for mode, label in (
            ("idle", "idle"),
            ("fill", "fill: no lock, compare-and-set"),
            ("locked", "naive: fill under the question lock"),
        ):
            qs = {q: percentile(lat[mode], q) for q in (50, 95, 99)}
            runs = fills.get(mode, [])
            durations = [  # fills that had points to fill
                d for run in runs for d, n in zip(run["durations"], run["points"], strict=True) if n
            ]
            rows.append([
                label,
                str(len(lat[mode])),
                *(f"{fmt_ms(qs[q])} ({qs[q] / idle[q]:.2f}×)" for q in (50, 95, 99)),
                str(len(durations)) if runs else "–",
                fmt_ms(median(durations)) if durations else "–",
            ])  # fmt: skip
        print()
        print(table(
            ["condition", "submissions", "p50 (× idle)", "p95 (× idle)", "p99 (× idle)",
             "fills", "fill median"],
            rows,
        ))  # fmt: skip
    finally:
        if not args.keep:
            cleanup(SLUG)


if __name__ == "__main__":
    main()
