"""A populated database for the schema fuzzer: real imported data and every question state.

- **ACX 2023**, imported by ``manage.py import_forecasts`` from the shipped files
  (``data/acx2023``): all 50 questions, resolved as the contest resolved, with the forecasts of
  its first ``ACX_FORECASTERS`` forecasters (keys in file order). The whole contest (3,292
  forecasters, 150,720 forecasts) takes minutes to import and score and makes every export
  endpoint seconds slow; this subset keeps the real data, its shape and its resolutions.
- **The API tests' world** (``tests.api.conftest.build_world``): a public tournament with open,
  closed and resolved questions, a private tournament, and one forecast each.
- In the world's public tournament, a question with a **proposed** resolution (the milestone
  rule's, from a benchmark result) and an **annulled** one.
- Question types (docs/methods.md §13), in the same tournament: a **multiple-choice** and a
  **numeric** (log scale, open upper bound) question with a public batch of three forecasts,
  and a **date** question with a single forecast (its crowd hidden from the public).

Every final YES/NO resolution is scored and each tournament's leaderboard built, through the
services the Celery tasks call.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

from django.core.management import call_command

from markets.models import BenchmarkResult, Conditional, Question, Resolution, Tournament
from markets.questions import conditional_create
from tests.api.conftest import T0, World, build_world
from tests.factories import QuestionFactory

DATA = Path(__file__).resolve().parents[2] / "data" / "acx2023"
ACX_SLUG = "acx-2023"
ACX_FORECASTERS = 200
ACX_WINDOW = ("2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z")  # as load_demo imports it


@dataclass
class Populated:
    world: World
    acx: Tournament
    proposed_q: Question
    annulled_q: Question
    mc_q: Question
    numeric_q: Question
    date_q: Question
    conditional: Conditional


def _typed_questions(world: World) -> tuple[Question, Question, Question]:
    """The multiple-choice, numeric and date questions, with their forecasts (submitted
    through the service, as the API does)."""
    from forecasts import distributions
    from forecasts.services import forecast_submit

    mc_q = QuestionFactory(
        tournament=world.public,
        key="top-lab",
        title="Which lab leads at the end of 2026?",
        type=Question.Type.MULTIPLE_CHOICE,
        options=["Lab A", "Lab B", "Another lab"],
        open_time=T0,
    )
    numeric_q = QuestionFactory(
        tournament=world.public,
        key="metr-minutes",
        title="METR p50 time horizon at the end of 2026 (minutes)?",
        type=Question.Type.NUMERIC,
        range_min=10.0,
        range_max=10000.0,
        zero_point=0.0,
        open_upper_bound=True,
        open_time=T0,
    )
    date_q = QuestionFactory(
        tournament=world.public,
        key="swe-90-date",
        title="When will a model reach 90% on SWE-bench Verified?",
        type=Question.Type.DATE,
        range_min=distributions.parse_date_value("2025-01-01"),
        range_max=distributions.parse_date_value("2032-01-01"),
        open_lower_bound=True,
        open_upper_bound=True,
        open_time=T0,
    )
    scale = distributions.Scale(10.0, 10000.0, False, True, 0.0)
    date_scale = distributions.Scale(date_q.range_min, date_q.range_max, True, True)
    for i, (forecaster, probs, median) in enumerate(
        zip(
            world.forecasters,
            ([0.5, 0.3, 0.2], [0.4, 0.4, 0.2], [0.2, 0.3, 0.5]),
            (200.0, 400.0, 900.0),
            strict=True,
        )
    ):
        at = T0 + dt.timedelta(hours=i + 1)
        forecast_submit(
            question_id=mc_q.pk, forecaster=forecaster, values=probs, at=at, rationale="mc"
        )
        cdf = distributions.forecast_from_payload(
            {"percentiles": {"0.05": median / 4, "0.25": median / 2, "0.5": median,
                             "0.75": median * 2, "0.95": median * 4}},
            question_type="numeric", scale=scale, n_options=None,
        )  # fmt: skip
        forecast_submit(question_id=numeric_q.pk, forecaster=forecaster, values=cdf, at=at)
    cdf = distributions.forecast_from_payload(
        {"components": [[1.0, "2027-06-01", 0.1]]},
        question_type="date", scale=date_scale, n_options=None,
    )  # fmt: skip
    forecast_submit(question_id=date_q.pk, forecaster=world.forecasters[0], values=cdf, at=T0)
    return mc_q, numeric_q, date_q


def acx_subset(directory: Path, forecasters: int = ACX_FORECASTERS) -> tuple[Path, Path]:
    """The contest's questions file, and its forecasts file cut to the first ``forecasters``
    forecasters (every row of theirs, in file order), written into ``directory``."""
    questions = directory / "questions.csv"
    questions.write_bytes((DATA / "questions.csv").read_bytes())
    kept: set[str] = set()
    out = io.StringIO()
    with (DATA / "forecasts.csv").open(newline="") as fh:
        reader = csv.reader(fh)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(next(reader))
        for row in reader:
            if row[0] not in kept:
                if len(kept) == forecasters:
                    continue
                kept.add(row[0])
            writer.writerow(row)
    forecasts = directory / "forecasts.csv"
    forecasts.write_text(out.getvalue())
    return questions, forecasts


def build_populated(directory: Path) -> Populated:
    """Write the populated database's rows (see the module). The caller keeps scoring from
    being enqueued (``scoring.receivers.schedule_scoring``) and the leaderboard rebuild from
    being debounced (``scoring.services._after_scoring``): both run here, in-process."""
    from markets.resolution.manual import question_resolve
    from markets.resolution.milestones import question_evaluate_milestone
    from scoring.leaderboard import leaderboard_rebuild
    from scoring.services import question_score

    world = build_world()
    questions, forecasts = acx_subset(directory)
    call_command(
        *("import_forecasts", "--tournament", ACX_SLUG, "--name", "ACX 2023 Prediction Contest"),
        *("--questions", str(questions), "--forecasts", str(forecasts)),
        *("--open-time", ACX_WINDOW[0], "--close-time", ACX_WINDOW[1], "--no-progress"),
        stdout=io.StringIO(),
    )
    acx = Tournament.objects.get(slug=ACX_SLUG)

    proposed_q = QuestionFactory(
        tournament=world.public,
        key="metr-600",
        title="Will METR p50 reach 600 minutes?",
        benchmark=world.open_q.benchmark,
        comparator=">=",
        threshold=600,
        deadline=dt.date(2026, 12, 31),
        open_time=T0,
    )
    BenchmarkResult.objects.create(
        benchmark=world.open_q.benchmark,
        system="frontier-agent",
        value=719.0,
        achieved_on=dt.date(2025, 6, 1),
        first_seen=T0 + dt.timedelta(days=160),
    )
    proposal = question_evaluate_milestone(
        question_id=proposed_q.pk, now=T0 + dt.timedelta(days=161), trigger="populated"
    )
    assert proposal is not None and proposal.state == Resolution.State.PROPOSED

    annulled_q = QuestionFactory(
        tournament=world.public,
        key="annulled-q",
        title="A question whose premise failed",
        open_time=T0,
        close_time=T0 + dt.timedelta(days=30),
    )
    question_resolve(
        question_id=annulled_q.pk,
        outcome=Resolution.Outcome.ANNULLED,
        reason="The premise failed.",
        user=world.staff,
        resolved_at=T0 + dt.timedelta(days=10),
    )

    mc_q, numeric_q, date_q = _typed_questions(world)
    # A conditional pair on the resolved question (its branches carried along at once) with the
    # multiple-choice question as the child.
    conditional = conditional_create(parent=world.resolved_q, child=mc_q, open_time=T0)

    for resolution in Resolution.objects.scored_finals():
        question_score(question_id=resolution.question_id, resolution_id=resolution.pk)
    for tournament in (world.public, world.private, acx):
        leaderboard_rebuild(tournament_id=tournament.pk)
    proposed_q.refresh_from_db()
    annulled_q.refresh_from_db()
    return Populated(
        world=world,
        acx=acx,
        proposed_q=proposed_q,
        annulled_q=annulled_q,
        mc_q=mc_q,
        numeric_q=numeric_q,
        date_q=date_q,
        conditional=conditional,
    )
