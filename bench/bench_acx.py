"""How good is the pooled crowd on real data? The ACX 2023 Prediction Contest (issues 3 and 5).

Prints figures, asserts nothing. Usage:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/takeoff_bench \\
        .venv/bin/python bench/bench_acx.py [--keep]

1. Imports ``data/acx2023`` (3,295 forecasters × 50 questions, 150,720 forecasts, no times)
   with ``forecasts.importer.import_forecasts`` into the tournament ``bench-acx2023``: questions
   open 2023-01-01 and close 2024-01-01 UTC, forecasts in file order a microsecond apart from
   the open time (the importer's rule for files without times), resolutions recorded as final
   imported resolutions at the close. If the tournament already exists it is reused as it is
   (and then not deleted at the end).
2. Scores every question: ``question_score`` for each final resolution (a no-op for a question
   already scored for that resolution), then ``leaderboard_rebuild``.
3. Prints, for the log pool (the tournament's crowd forecast, d = 1), the median and the mean:
   - Brier: mean over the questions of the spot Brier at close (the forecast held when the
     question closed), and the mean of the time-averaged Brier;
   - the share of individual forecasters it beats by mean Brier: forecaster i is beaten when the
     aggregate's mean spot Brier over exactly the questions i answered is lower than i's mean
     spot Brier over them (paired; ties are not wins). The unpaired share (aggregate's mean over
     all questions vs i's mean over theirs) is printed next to it;
   - its place on the leaderboard by total peer score among the ranked forecasters
     (``scoring.leaderboard.crowd_rank``; ranked = answered at least 10% of the questions).
4. Extremizing: the final forecasts of each question pooled with ``forecasts.pooling.log_pool``
   at d = 1 (a check: equals the stored crowd), 1.5 and 2, scored the same way.

Brier convention: (p − o)², single outcome, 0 best, 0.25 for always saying 50%.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, Timer, cleanup, machine_line, setup_django, table

SLUG = "bench-acx2023"
DATA = ROOT / "data" / "acx2023"
OPEN = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
CLOSE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
EXTREMIZE = (1.0, 1.5, 2.0)


def import_contest() -> tuple[object, bool, float]:
    from tqdm import tqdm

    from forecasts.importer import import_forecasts
    from markets.models import Tournament

    existing = Tournament.objects.filter(slug=SLUG).first()
    if existing is not None:
        return existing, False, 0.0
    total = sum(1 for _ in (DATA / "forecasts.csv").open("rb")) - 1
    bar = tqdm(
        total=total,
        desc="validating ACX 2023",
        unit="row",
        unit_scale=True,
        leave=False,
        file=sys.stderr,
    )
    with Timer() as t:
        report = import_forecasts(
            tournament_slug=SLUG,
            tournament_name="Bench: ACX 2023 Prediction Contest",
            questions_path=DATA / "questions.csv",
            forecasts_path=DATA / "forecasts.csv",
            clip=True,
            default_open=OPEN,
            default_close=CLOSE,
            progress=bar.update,
            on_stage=lambda msg: bar.set_description(msg),
        )
    bar.close()
    print(
        f"imported: {report.questions_created} questions, {report.forecasters_created:,} "
        f"forecasters, {report.forecasts_created:,} forecasts, {report.resolutions_recorded} "
        f"resolutions ({report.clipped} probabilities clipped) in {t.wall:.1f} s"
    )
    return Tournament.objects.get(slug=SLUG), True, t.wall


def score_all(tournament) -> tuple[int, float, float]:
    from markets.models import Resolution
    from scoring.leaderboard import leaderboard_rebuild
    from scoring.services import question_score

    finals = list(
        Resolution.objects.filter(question__tournament=tournament, state=Resolution.State.FINAL)
    )
    with Timer() as t_score:
        written = sum(question_score(question_id=r.question_id, resolution_id=r.pk) for r in finals)
    with Timer() as t_board:
        leaderboard_rebuild(tournament_id=tournament.pk)
    return written, t_score.wall, t_board.wall


def brier_tables(tournament):
    """Per-question spot/time-averaged Brier for the aggregates and the forecasters."""
    from scoring.models import Rule, Score, Subject

    rows = Score.objects.filter(
        question__tournament=tournament, rule__in=[Rule.SPOT_BRIER, Rule.BRIER], score__isnull=False
    )
    aggregate: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    people: dict[int, dict[int, float]] = defaultdict(dict)
    for subject, forecaster, question, rule, score in rows.values_list(
        "subject", "forecaster_id", "question_id", "rule", "score"
    ):
        if subject == Subject.FORECASTER:
            if rule == Rule.SPOT_BRIER:
                people[forecaster][question] = score
        else:
            aggregate[(subject, rule)][question] = score
    return aggregate, people


def beaten(
    per_question: dict[int, float], people: dict[int, dict[int, float]]
) -> tuple[float, float, int]:
    """(paired share beaten, unpaired share beaten, forecasters) — see the module docstring."""
    overall = float(np.mean(list(per_question.values())))
    paired = unpaired = 0
    for answers in people.values():
        qs = [q for q in answers if q in per_question]
        if not qs:
            continue
        mine = float(np.mean([answers[q] for q in qs]))
        theirs = float(np.mean([per_question[q] for q in qs]))
        paired += theirs < mine
        unpaired += overall < mine
    n = len(people)
    return paired / n, unpaired / n, n


def final_forecasts(tournament) -> tuple[dict[int, list[float]], dict[int, int]]:
    """The forecasts held at close per question (latest per forecaster, withdrawals dropped)."""
    from forecasts.models import Forecast
    from markets.models import Resolution

    held: dict[int, dict[int, float | None]] = defaultdict(dict)
    for q, f, p in (
        Forecast.objects.filter(question__tournament=tournament, time__lte=CLOSE)
        .order_by("question_id", "time", "id")
        .values_list("question_id", "forecaster_id", "probability")
    ):
        held[q][f] = p  # later rows win; None = withdrawn
    outcomes = {
        q: 1 if o == Resolution.Outcome.YES else 0
        for q, o in Resolution.objects.filter(
            question__tournament=tournament,
            state=Resolution.State.FINAL,
            outcome__in=[Resolution.Outcome.YES, Resolution.Outcome.NO],
        ).values_list("question_id", "outcome")
    }
    return {q: [p for p in d.values() if p is not None] for q, d in held.items()}, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the imported tournament")
    args = parser.parse_args()

    setup_django()
    from forecasts.pooling import log_pool
    from scoring.leaderboard import crowd_rank
    from scoring.models import LeaderboardEntry, Rule, Subject

    print(f"bench_acx · {machine_line()}")
    started = time.perf_counter()
    tournament, created, import_s = import_contest()
    try:
        written, score_s, board_s = score_all(tournament)
        print(
            f"scoring: {written:,} Score rows written by question_score in {score_s:.1f} s "
            f"(0 = already scored); leaderboard_rebuild {board_s:.2f} s"
        )
        aggregate, people = brier_tables(tournament)
        ranks = {
            s: crowd_rank(tournament.pk, s) for s in (Subject.CROWD, Subject.MEDIAN, Subject.MEAN)
        }
        ranked = LeaderboardEntry.objects.filter(tournament=tournament, rank__isnull=False).count()
        finals, outcomes = final_forecasts(tournament)
    finally:
        if created and not args.keep:
            with Timer() as t_clean:
                cleanup(SLUG)
            print(f"cleanup: {t_clean.wall:.1f} s")
        elif args.keep:
            print(f"kept tournament {SLUG!r}")

    n_questions = len(aggregate[(Subject.CROWD, Rule.SPOT_BRIER)])
    answers = sum(len(a) for a in people.values())
    print()
    print(
        f"ACX 2023: {n_questions} scored questions, {len(people):,} forecasters, {answers:,} "
        f"forecaster-question pairs; Brier = (p − o)², lower is better"
    )
    rows = []
    labels = {
        Subject.CROWD: "log pool (the crowd forecast)",
        Subject.MEDIAN: "median",
        Subject.MEAN: "mean (linear pool)",
    }
    for subject, label in labels.items():
        spot = aggregate[(subject, Rule.SPOT_BRIER)]
        timed = aggregate[(subject, Rule.BRIER)]
        paired, unpaired, _ = beaten(spot, people)
        rank = ranks[subject]
        place = (
            "—" if rank is None else f"{rank[0]} of {rank[1]:,} ({1 - (rank[0] - 1) / rank[1]:.1%})"
        )
        rows.append(
            (
                label,
                f"{np.mean(list(spot.values())):.4f}",
                f"{np.mean(list(timed.values())):.4f}",
                f"{paired:.1%}",
                f"{unpaired:.1%}",
                place,
            )
        )
    print(
        table(
            (
                "aggregate",
                "Brier at close",
                "time-avg Brier",
                "beats (paired)",
                "beats (unpaired)",
                "leaderboard rank (beats)",
            ),
            rows,
        )
    )
    individual = [float(np.mean(list(a.values()))) for a in people.values()]
    print(
        f"    individual forecasters' mean Brier: median {np.median(individual):.4f}, best "
        f"{min(individual):.4f}; {ranked:,} forecasters ranked on the leaderboard "
        f"(total peer score; the crowd rows are reference rows, not ranked)"
    )

    print()
    print("extremized log pool of the final forecasts (forecasts.pooling.log_pool):")
    stored = aggregate[(Subject.CROWD, Rule.SPOT_BRIER)]
    rows = []
    for d in EXTREMIZE:
        per_q = {}
        for q, o in outcomes.items():
            p = log_pool(np.array(finals[q]), extremize=d)
            per_q[q] = (p - o) ** 2
        paired, unpaired, _ = beaten(per_q, people)
        note = ""
        if d == 1.0:
            diff = max(abs(per_q[q] - stored[q]) for q in per_q if q in stored)
            note = f"= the stored crowd (max |ΔBrier| {diff:.1e})"
        rows.append(
            (
                f"d = {d:g}",
                f"{np.mean(list(per_q.values())):.4f}",
                f"{paired:.1%}",
                f"{unpaired:.1%}",
                note,
            )
        )
    print(table(("extremizing", "Brier at close", "beats (paired)", "beats (unpaired)", ""), rows))
    print(
        f"\ntotal run {time.perf_counter() - started:.0f} s"
        + (f" (import {import_s:.1f} s)" if created else " (reused the imported tournament)")
    )


if __name__ == "__main__":
    main()
