"""Crowd exports of multiple-choice and continuous questions: rendering speed and the final CDF.

Prints figures, asserts nothing (STYLE: benchmarks print, tests assert). PostgreSQL by default
(``bench/_common.py``):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/takeoff_bench \\
        .venv/bin/python bench/bench_typed_export.py

Builds one yes/no, one multiple-choice (5 options) and one numeric question (open bounds) with N
forecast events each (``BENCH_POINTS``, default 50,000) from 1,000 imported forecasters, COPYed,
their crowd histories written by ``crowd_recompute``. Then:

1. CSV, JSON and Parquet of each question alone (``forecasts.exports.render``): wall time and
   rows/s, the typed questions as a ratio to the yes/no one (whose CSV has a SQL fast path).
2. The full pooled CDF at the last point (``forecasts.typed_exports.final_cdf``: the log read
   without vectors, then the active forecasts' vectors) against the naive baseline, the whole
   vector log loaded and replayed through ``forecasts.services.vector_history``: time and
   tracemalloc peak (numpy allocations included), and the largest difference of the two CDFs.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import tracemalloc
from itertools import repeat

import numpy as np
from _common import (
    analyze,
    cleanup,
    iso_times,
    machine_line,
    make_forecasters,
    make_question,
    make_tournament,
    progress,
    setup_django,
)

POINTS = int(os.environ.get("BENCH_POINTS", "50000"))
FORECASTERS = 1000
SLUG = "bench-typed-export"
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
GRID = np.linspace(0.0, 1.0, 201)


def vectors(kind: str, n: int, rng: np.random.Generator) -> list[bytes]:
    """n stored forecasts: 5 option probabilities, or standardised CDFs with open bounds."""
    out = []
    for _ in range(n):
        if kind == "mc":
            p = rng.dirichlet(np.ones(5)) * 0.95 + 0.01
            v = p / p.sum()
        else:
            g = np.concatenate([[0.0], np.cumsum(rng.dirichlet(np.full(200, 3.0)))])
            g[-1] = 1.0
            v = 0.988 * g + 0.01 * GRID + 0.001
        out.append(np.ascontiguousarray(v, dtype="<f8").tobytes())
    return out


def build() -> dict[str, int]:
    from django.db import transaction

    from config.bulk import bulk_insert
    from forecasts.models import CrowdPoint, Forecast
    from forecasts.services import crowd_recompute
    from markets.models import Question

    cleanup(SLUG)
    tournament = make_tournament(SLUG)
    people = make_forecasters(SLUG, FORECASTERS)
    rng = np.random.default_rng(2026)
    close = T0 + dt.timedelta(days=3650)
    questions = {
        "yes/no": make_question(tournament, "binary", T0, close),
        "multiple choice": make_question(
            tournament,
            "choice",
            T0,
            close,
            type=Question.Type.MULTIPLE_CHOICE,
            options=[f"option {i}" for i in range(5)],
        ),
        "numeric": make_question(
            tournament,
            "numeric",
            T0,
            close,
            type=Question.Type.NUMERIC,
            range_min=0.0,
            range_max=100.0,
            open_lower_bound=True,
            open_upper_bound=True,
        ),
    }
    times = T0.timestamp() + np.arange(POINTS) * 60.0 + rng.uniform(0, 59, POINTS)
    columns = ("question_id", "forecaster_id", "kind", "probability", "values", "time",
               "rationale", "track_record_weight")  # fmt: skip
    for name, q in questions.items():
        who = people[rng.integers(0, FORECASTERS, POINTS)].tolist()
        if q.type == Question.Type.BINARY:
            probs: list = np.round(rng.uniform(0.01, 0.99, POINTS), 3).tolist()
            blobs: list = [None] * POINTS
        else:
            probs = [None] * POINTS
            blobs = vectors("mc" if q.type == Question.Type.MULTIPLE_CHOICE else "cdf", POINTS, rng)
        rows = zip(repeat(q.pk), who, repeat("forecast"), probs, blobs, iso_times(times),
                   repeat(""), repeat(1.0))  # fmt: skip
        with transaction.atomic():
            bulk_insert(Forecast, columns, progress(rows, POINTS, name))
        crowd_recompute(question_id=q.pk)
    analyze(Forecast, CrowdPoint)
    return {name: q.pk for name, q in questions.items()}


def main() -> None:
    setup_django()
    from forecasts import exports, typed
    from forecasts.models import CrowdPoint
    from forecasts.services import vector_history, vector_log
    from forecasts.typed_exports import final_cdf
    from markets.models import Question, Tournament

    print(machine_line())
    ids = build()
    tournament = Tournament.objects.get(slug=SLUG)
    as_of = T0 + dt.timedelta(days=3650)
    print(f"\n{POINTS:,} points per question; export of each question alone\n")
    print(f"{'question':<16} {'format':<8} {'seconds':>8} {'rows/s':>10} {'vs yes/no':>10}")
    base: dict[str, float] = {}
    for name, qid in ids.items():
        key = Question.objects.get(pk=qid).key
        for fmt in exports.FORMATS:
            export = exports.crowd_export_plan(
                tournament=tournament, fmt=fmt, question_key=key, as_of=as_of
            )
            start = time.perf_counter()
            for _ in exports.render(export):
                pass
            seconds = time.perf_counter() - start
            base.setdefault(fmt, seconds)
            print(
                f"{name:<16} {fmt:<8} {seconds:>8.2f} {POINTS / seconds:>10,.0f} "
                f"{seconds / base[fmt]:>9.2f}x"
            )
    question = Question.objects.select_related("tournament").get(pk=ids["numeric"])
    last = CrowdPoint.objects.filter(question=question).order_by("-seq").first()
    tracemalloc.start()
    start = time.perf_counter()
    cdf = np.array(final_cdf(question, last.forecast_id))
    ours = time.perf_counter() - start
    _, ours_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    naive = vector_history(question, vector_log(question)).last
    naive_cdf = typed.crowd_vector(question, naive)
    naive_s = time.perf_counter() - start
    _, naive_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"\nfinal CDF of the numeric question after {POINTS:,} events")
    print(f"  active forecasts (final_cdf):  {ours:6.2f} s, peak {ours_peak / 2**20:8.1f} MiB")
    print(f"  whole log + vector_history:    {naive_s:6.2f} s, peak {naive_peak / 2**20:8.1f} MiB")
    print(
        f"  ratio: {naive_s / ours:.1f}x faster, {naive_peak / max(ours_peak, 1):.1f}x less memory;"
        f" max |difference| {np.max(np.abs(cdf - naive_cdf)):.2e}"
    )
    cleanup(SLUG)


if __name__ == "__main__":
    main()
