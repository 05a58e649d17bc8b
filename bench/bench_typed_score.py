"""Scoring a 100,000-forecast continuous question database to database (issue 14: < 5 s),
against an older version of the code in the same run.

Prints figures, asserts nothing. Usage (PostgreSQL; the database is created when missing and
migrated by this tree's code):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/takeoff_bench_types \\
        .venv/bin/python bench/bench_typed_score.py [--runs 5] [--baseline e437c7c]

Setup as ``bench_typed_crowd.py --only-score``: one continuous question (range 0–100, closed
lower and open upper bound) with the 100,000-event log of ``bench_vector_history_math.make_log``
(10,000 forecasters over a year, 5% withdrawals), COPYed, ``crowd_recompute`` once, then
``question_resolve(outcome="value", value=42)``.

Each run is one ``scoring.services.question_score`` in a fresh child process — read the log,
score every forecaster, the crowd and the mean (CRPS, log, baseline, peer and the spot forms),
delete and write the Score rows, COMMIT — timed with its COMMIT (the question's scores are
deleted before, untimed). Runs alternate between this tree and the ``--baseline`` commit
(extracted with ``git archive`` into a temporary directory; its schema is restored for its runs:
the two single-column Score indexes this tree dropped are created before each baseline run and
dropped after), so background load hits both alike. Per run: wall time, the child's CPU, the
database backend's CPU (from /proc), the load average. At the end the stored rows of the last
run of each version are compared bit for bit (score, coverage, forecast as float8 bits).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Timer, analyze, cleanup, machine_line, median, setup_django

ROOT = Path(__file__).resolve().parent.parent

SLUG = "bench-typed-score"
OLD_INDEXES = (  # dropped by scoring 0006; the baseline's schema has them
    ('"scoring_score_question_id_6ee4dd29"', '"question_id"'),
    ('"scoring_score_forecaster_id_206a1fdb"', '"forecaster_id"'),
)

CHILD = r"""
import json, os, sys, time
root, qid, rid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, root)
sys.path.insert(0, os.path.join(root, "bench"))
os.chdir(root)
from _common import backend_pid, process_cpu, setup_django
setup_django(migrate=False)
from scoring.models import Score
from scoring.services import question_score
Score.objects.filter(question_id=qid).delete()
pid = backend_pid()
load = os.getloadavg()[0]
s0, c0, t0 = process_cpu(pid), time.process_time(), time.perf_counter()
n = question_score(question_id=qid, resolution_id=rid)
wall = time.perf_counter() - t0
print(json.dumps({"wall": wall, "cpu": time.process_time() - c0,
                  "server": process_cpu(pid) - s0, "rows": n, "load": load}))
"""


def build(events: int, forecasters: int, seed: int) -> tuple[int, int]:
    """The question, its log and its resolution; (question id, resolution id)."""
    from _common import make_forecasters, make_question, make_tournament
    from bench_typed_crowd import HALF_LIFE_DAYS, continuous_fields, insert_vector_forecasts
    from bench_vector_history_math import make_log
    from django.utils import timezone

    from forecasts.models import CrowdPoint, CrowdState, Forecast, Forecaster
    from forecasts.services import crowd_recompute
    from markets.resolution.manual import question_resolve

    tournament = make_tournament(SLUG, half_life_hours=HALF_LIFE_DAYS * 24)
    now = timezone.now()
    start = now - dt.timedelta(days=367)
    open_time, close_time = start - dt.timedelta(days=1), now + dt.timedelta(days=365)
    fids = make_forecasters(SLUG, forecasters)
    times, who, values, _ = make_log(events, forecasters, seed)
    cdfs = np.cumsum(values[:, :-1], axis=1)
    question = make_question(tournament, "score", open_time, close_time, **continuous_fields())
    insert_vector_forecasts(
        question.pk, start.timestamp() + times, fids[who], cdfs, f"{events:,} forecasts"
    )
    analyze(Forecast, Forecaster)
    crowd_recompute(question_id=question.pk)
    analyze(CrowdPoint, CrowdState)
    resolution = question_resolve(question_id=question.pk, outcome="value", value=42.0)
    return question.pk, resolution.pk


def set_old_indexes(present: bool) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for name, column in OLD_INDEXES:
            if present:
                cursor.execute(f'CREATE INDEX IF NOT EXISTS {name} ON "scoring_score" ({column})')
            else:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")


def run(root: Path, qid: int, rid: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(qid), str(rid)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def stored_bits(qid: int) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT subject, coalesce(forecaster_id, 0), rule, float8send(score), "
            "float8send(coverage), float8send(forecast) FROM scoring_score "
            "WHERE question_id = %s ORDER BY 1, 2, 3",
            [qid],
        )
        return [tuple(bytes(x) if isinstance(x, memoryview) else x for x in r) for r in cursor]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--forecasters", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5, help="runs of each version")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline", default="e437c7c", help="git commit to compare with")
    parser.add_argument("--keep", action="store_true", help="keep the bench rows")
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("PostgreSQL only (set DATABASE_URL)")
    print(f"bench_typed_score · {machine_line()}")
    cleanup(SLUG)
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", args.baseline], cwd=ROOT, check=True,
            capture_output=True,
        )  # fmt: skip
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        try:
            with Timer() as tm:
                qid, rid = build(args.events, args.forecasters, args.seed)
            print(f"setup: {tm.wall:.1f} s ({args.events:,} forecasts, {args.forecasters:,} "
                  f"forecasters)")  # fmt: skip
            results: dict[str, list[dict]] = {"this tree": [], f"baseline {args.baseline}": []}
            bits: dict[str, list[tuple]] = {}
            for i in range(args.runs):
                order = list(results) if i % 2 == 0 else list(results)[::-1]
                for label in order:
                    baseline = label != "this tree"
                    set_old_indexes(baseline)
                    r = run(Path(tmp) if baseline else ROOT, qid, rid)
                    set_old_indexes(False)
                    results[label].append(r)
                    bits[label] = stored_bits(qid)
                    print(f"  {label:<18} wall {r['wall']:.2f} s  client CPU {r['cpu']:.2f} s  "
                          f"server CPU {r['server']:.2f} s  rows {r['rows']:,}  "
                          f"load {r['load']:.1f}")  # fmt: skip
        finally:
            set_old_indexes(False)
            if not args.keep:
                cleanup(SLUG)
    print()
    print("| version | wall, median (min–max) | client CPU, median | server CPU, median |")
    print("|---|---|---|---|")
    for label, rs in results.items():
        walls = [r["wall"] for r in rs]
        print(f"| {label} | {median(walls):.2f} s ({min(walls):.2f}–{max(walls):.2f}) | "
              f"{median([r['cpu'] for r in rs]):.2f} s | "
              f"{median([r['server'] for r in rs]):.2f} s |")  # fmt: skip
    new, old = (median([r["wall"] for r in rs]) for rs in results.values())
    print(f"ratio of wall medians, baseline / this tree: {old / new:.2f}x")
    new_cpu, old_cpu = (median([r["cpu"] + r["server"] for r in rs]) for rs in results.values())
    print(
        f"client + server CPU, medians: this tree {new_cpu:.2f} s, baseline {old_cpu:.2f} s "
        f"(ratio {old_cpu / new_cpu:.2f}x)"
    )
    same = bits["this tree"] == bits[f"baseline {args.baseline}"]
    print(f"stored rows identical (float8 bits of score, coverage, forecast): {same} "
          f"({len(bits['this tree']):,} rows)")  # fmt: skip


if __name__ == "__main__":
    main()
