"""Issue 14: the import batches its work per file, not per question, and writes the same rows.

A random file (times, updates, one-forecast questions, YES/NO/annulled/unresolved) is imported
through the batched services (``crowd_recompute_many``, ``questions_resolve_many``,
``questions_score_many``); then every question is rebuilt and scored again through the
per-question services (``crowd_recompute``, ``question_score``) and every crowd point, crowd
state and score must be identical, to the last bit. Recency, extremizing and track-record
weighting are on, so every input of the arithmetic is exercised.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from django.core.management import call_command

from forecasts.bulk import crowd_recompute_many
from forecasts.importer import import_forecasts
from forecasts.models import CrowdPoint, CrowdState, Forecast
from forecasts.services import crowd_recompute
from markets.errors import ResolutionError
from markets.models import AuditRecord, Question, Resolution, Tournament
from markets.resolution.manual import questions_resolve_many
from scoring.models import Score
from scoring.services import question_score, questions_score_many

pytestmark = pytest.mark.django_db

START = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def random_files(tmp_path: Path, seed: int, n_questions: int = 25) -> tuple[Path, Path]:
    rng = random.Random(seed)
    q_lines = ["question,title,resolution,open_time,close_time"]
    f_lines = ["forecaster,question,probability,time"]
    for i in range(n_questions):
        opened = START + dt.timedelta(days=rng.randrange(0, 300), seconds=rng.randrange(86400))
        closed = opened + dt.timedelta(days=rng.randrange(2, 200))
        outcome = rng.choice(["YES", "NO", "YES", "NO", "ANNULLED", ""])
        q_lines.append(f"q{i},Question {i}?,{outcome},{opened.isoformat()},{closed.isoformat()}")
        n = 1 if i % 4 == 0 else rng.randrange(2, 12)
        span = int((closed - opened).total_seconds())
        for at in sorted(rng.sample(range(span), n)):
            who = f"f{rng.randrange(0, 9)}"  # few forecasters: updates on the same question
            p = rng.choice([0.001, 0.999, round(rng.uniform(0.01, 0.99), 3)])
            f_lines.append(f"{who},q{i},{p},{(opened + dt.timedelta(seconds=at)).isoformat()}")
    qpath, fpath = tmp_path / "questions.csv", tmp_path / "forecasts.csv"
    qpath.write_text("\n".join(q_lines) + "\n")
    fpath.write_text("\n".join(f_lines) + "\n")
    return qpath, fpath


def points() -> list[tuple]:
    return list(
        CrowdPoint.objects.order_by("question_id", "seq").values_list(
            "question_id", "seq", "time", "forecasters", "probability", "median", "mean",
            "forecast_id", "public_seq",
        )
    )  # fmt: skip


def states() -> list[tuple]:
    fields = [f.name for f in CrowdState._meta.concrete_fields if f.name != "updated_at"]
    return list(CrowdState.objects.order_by("question_id").values_list(*fields))


def scores() -> list[tuple]:
    return list(
        Score.objects.order_by("question_id", "subject", "forecaster_id", "rule").values_list(
            "question_id", "resolution_id", "subject", "forecaster_id", "rule", "score",
            "coverage", "forecast",
        )
    )  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2])
def test_the_batched_import_writes_what_the_per_question_services_write(
    tmp_path, seed, django_capture_on_commit_callbacks
):
    Tournament.objects.create(
        slug="t", name="T", extremize=1.7, half_life_hours=240.0, track_record_weighting=True
    )
    qpath, fpath = random_files(tmp_path, seed)
    with django_capture_on_commit_callbacks(execute=True):
        report = import_forecasts(tournament_slug="t", questions_path=qpath, forecasts_path=fpath)
    assert report.questions_created == 25
    batched = (points(), states(), scores())
    assert len(batched[0]) == Forecast.objects.count() > 25
    assert len(batched[1]) == 25
    resolved = Resolution.objects.filter(state=Resolution.State.FINAL)
    assert len(batched[2]) > 0 and resolved.count() == report.resolutions_recorded > 0

    # The same through the per-question services.
    with django_capture_on_commit_callbacks(execute=True):
        for q in Question.objects.order_by("pk"):
            crowd_recompute(question_id=q.pk)
        for r in resolved.order_by("question_id"):
            Score.objects.filter(question_id=r.question_id).delete()
            question_score(question_id=r.question_id, resolution_id=r.pk)
    assert (points(), states(), scores()) == batched

    # One audit record per resolution, as question_resolve writes it.
    audits = AuditRecord.objects.filter(action=AuditRecord.Action.IMPORTED)
    assert sorted(audits.values_list("resolution_id", flat=True)) == sorted(
        resolved.values_list("pk", flat=True)
    )
    assert set(audits.values_list("actor_label", flat=True)) == {"import"}
    annulled = Question.objects.filter(resolutions__outcome=Resolution.Outcome.ANNULLED)
    assert set(annulled.values_list("status", flat=True)) <= {Question.Status.ANNULLED}
    call_command("verify_crowd", "--no-progress")

    # Re-importing the same files changes nothing.
    with django_capture_on_commit_callbacks(execute=True):
        again = import_forecasts(tournament_slug="t", questions_path=qpath, forecasts_path=fpath)
    assert not again.changed
    assert (points(), states(), scores()) == batched


def test_bulk_resolution_refuses_bad_input_and_writes_nothing(tmp_path):
    qpath, fpath = random_files(tmp_path, 3, n_questions=3)
    import_forecasts(tournament_slug="t", questions_path=qpath, forecasts_path=fpath)
    free = list(Question.objects.filter(resolutions__isnull=True))
    assert free, "the seed leaves a question unresolved"
    q = free[0]
    before = (Resolution.objects.count(), AuditRecord.objects.count())
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    early = q.open_time - dt.timedelta(seconds=1)
    cases = [
        ([(q.pk, "yes", "r", future)], "future"),
        ([(q.pk, "yes", "r", early)], "before the question opened"),
        ([(q.pk, "MAYBE", "r", q.close_time)], "Unknown outcome"),
        ([(q.pk, "yes", "r", q.close_time)] * 2, "given twice"),
    ]
    final = Resolution.objects.filter(state=Resolution.State.FINAL).first()
    if final is not None:
        cases.append(([(final.question_id, "no", "r", q.close_time)], "already has a final"))
    for items, message in cases:
        with pytest.raises(ResolutionError, match=message):
            questions_resolve_many(resolutions=items, actor_label="import")
        assert (Resolution.objects.count(), AuditRecord.objects.count()) == before


def test_bulk_scoring_skips_a_superseded_version_and_an_unknown_question_is_refused(tmp_path):
    qpath, fpath = random_files(tmp_path, 4, n_questions=6)
    import_forecasts(tournament_slug="t", questions_path=qpath, forecasts_path=fpath)
    final = Resolution.objects.filter(state=Resolution.State.FINAL, outcome="yes").first()
    if final is None:
        final = Resolution.objects.filter(state=Resolution.State.FINAL).first()
    assert final is not None
    Resolution.objects.filter(pk=final.pk).update(state=Resolution.State.SUPERSEDED)
    assert questions_score_many(pairs=[(final.question_id, final.pk)]) == 0
    assert not Score.objects.filter(resolution=final).exists()
    with pytest.raises(Question.DoesNotExist):
        crowd_recompute_many(question_ids=[10**9])


def test_the_command_shows_a_progress_bar_for_each_writing_stage(tmp_path, capsys):
    qpath, fpath = random_files(tmp_path, 5, n_questions=4)
    call_command(
        "import_forecasts", "--tournament", "t", "--questions", str(qpath),
        "--forecasts", str(fpath),
    )  # fmt: skip
    err = capsys.readouterr().err
    for label in ("Writing", "Crowd history of 4 questions", "Resolutions of 4 questions"):
        assert label in err
    call_command(
        "import_forecasts", "--tournament", "u", "--questions", str(qpath),
        "--forecasts", str(fpath), "--no-progress",
    )  # fmt: skip
    assert "Crowd history" not in capsys.readouterr().err
