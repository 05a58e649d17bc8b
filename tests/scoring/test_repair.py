"""Issue 12, case 6: a crash (or a lost message) between a resolution's commit and its scoring
leaves the scores of the superseded version, or none. One sweep repairs it; the leaderboard
never counts superseded scores; a broker outage after commit is not a 500.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown

from forecasts.models import Forecast
from forecasts.services import forecast_submit
from markets.models import Question, Resolution
from markets.resolution.manual import question_resolve
from scoring.leaderboard import leaderboard_rebuild
from scoring.models import LeaderboardEntry, Rule, Score
from scoring.services import REPAIR_GRACE, question_score
from scoring.workflows import sweep
from tests.factories import ForecasterFactory, QuestionFactory

ROOT = Path(__file__).resolve().parents[2]
JAN = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def later() -> dt.datetime:
    """A sweep past the grace a fresh resolution's scoring task gets."""
    return timezone.now() + REPAIR_GRACE + dt.timedelta(seconds=1)


def scored_question() -> tuple[Question, list]:
    question = QuestionFactory(open_time=JAN, close_time=JAN + dt.timedelta(days=30))
    people = [ForecasterFactory(), ForecasterFactory()]
    for who, p in zip(people, (0.3, 0.6), strict=True):
        forecast_submit(
            question_id=question.pk, forecaster=who, probability=p, at=JAN + dt.timedelta(days=1)
        )
    return question, people


def snapshot(question: Question) -> list[tuple]:
    return sorted(
        Score.objects.filter(question=question).values_list(
            "resolution_id", "subject", "forecaster_id", "rule", "score", "coverage"
        )
    )


def fresh_recompute(question: Question) -> list[tuple]:
    """The scores a from-scratch scoring of the final version writes (then restores nothing)."""
    final = question.resolutions.get(state=Resolution.State.FINAL)
    with transaction.atomic():
        Score.objects.filter(question=question).delete()
        question_score(question_id=question.pk, resolution_id=final.pk)
        rows = snapshot(question)
        transaction.set_rollback(True)
    return rows


@pytest.fixture
def scoring_inline(monkeypatch):
    """Scoring tasks run on commit, in-process: what a worker would do."""
    from scoring.tasks import question_score_task

    def later(question_id: int, resolution_id: int) -> None:
        transaction.on_commit(
            lambda: question_score(question_id=question_id, resolution_id=resolution_id)
        )

    monkeypatch.setattr(question_score_task, "delay_on_commit", later)
    monkeypatch.setattr("scoring.services._after_scoring", lambda tournament_id: None)


@pytest.mark.django_db
def test_a_lost_scoring_after_a_re_resolution_is_repaired_by_one_sweep(
    monkeypatch, scoring_inline, django_capture_on_commit_callbacks
):
    question, people = scored_question()
    with django_capture_on_commit_callbacks(execute=True):
        yes = question_resolve(
            question_id=question.pk, outcome="yes", resolved_at=JAN + dt.timedelta(days=10)
        )
    assert {r for r, *_ in snapshot(question)} == {yes.pk}
    # The re-resolution commits; its scoring message is lost (the process died, or Redis).
    from scoring.tasks import question_score_task

    monkeypatch.setattr(question_score_task, "delay_on_commit", lambda *a: None)
    no = question_resolve(question_id=question.pk, outcome="no", reason="corrected")
    assert {r for r, *_ in snapshot(question)} == {yes.pk}  # stale
    leaderboard_rebuild(tournament_id=question.tournament_id)
    assert not LeaderboardEntry.objects.filter(questions__gt=0).exists()  # counts no stale score

    monkeypatch.undo()
    monkeypatch.setattr("scoring.services._after_scoring", lambda tournament_id: None)
    from scoring.tasks import question_score_task as task

    monkeypatch.setattr(
        task,
        "delay_on_commit",
        lambda q, r: transaction.on_commit(lambda: question_score(question_id=q, resolution_id=r)),
    )
    with django_capture_on_commit_callbacks(execute=True):
        report = sweep(now=later())
    assert report.scores.stale == 1
    rows = snapshot(question)
    assert {r for r, *_ in rows} == {no.pk}
    assert rows == fresh_recompute(question)
    peer = {
        s.forecaster_id: round(s.score, 6)
        for s in Score.objects.filter(question=question, rule=Rule.PEER, forecaster__isnull=False)
    }
    # NO, effective Jan 11 (kept from v1): 9 of 30 days, peer ±100·ln(0.7/0.4)·0.3.
    assert peer == {people[0].pk: 16.788474, people[1].pk: -16.788474}
    leaderboard_rebuild(tournament_id=question.tournament_id)
    entries = {e.forecaster_id: e for e in LeaderboardEntry.objects.filter(questions__gt=0)}
    assert round(entries[people[0].pk].total_peer, 6) == 16.788474
    # A second sweep finds nothing to do.
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep(now=later()).scores == type(report.scores)(stale=0, missing=0)


@pytest.mark.django_db
def test_a_final_resolution_never_scored_is_scored_by_the_sweep(
    monkeypatch, django_capture_on_commit_callbacks
):
    question, _ = scored_question()
    from scoring.tasks import question_score_task

    monkeypatch.setattr(question_score_task, "delay_on_commit", lambda *a: None)
    question_resolve(
        question_id=question.pk, outcome="yes", resolved_at=JAN + dt.timedelta(days=10)
    )
    assert not Score.objects.exists()
    assert sweep(now=timezone.now()).scores.missing == 0  # within the grace: its task may be queued
    monkeypatch.setattr(
        question_score_task,
        "delay_on_commit",
        lambda q, r: transaction.on_commit(lambda: question_score(question_id=q, resolution_id=r)),
    )
    monkeypatch.setattr("scoring.services._after_scoring", lambda tournament_id: None)
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep(now=later()).scores.missing == 1
    assert snapshot(question) == fresh_recompute(question)


@pytest.fixture
def broker_down(monkeypatch):
    """Every message send fails as it does with Redis down."""
    from celery.app.task import Task

    def refuse(self, *args, **kwargs):
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(Task, "apply_async", refuse)

    class DeadCache:
        def add(self, *a, **k):
            raise ConnectionError("Redis is down")

        def delete(self, *a, **k):
            raise ConnectionError("Redis is down")

    monkeypatch.setattr("django.core.cache.cache", DeadCache())


@pytest.mark.django_db
def test_broker_down_during_a_submission_and_a_staff_resolution_is_no_5xx(
    client, django_user_model, broker_down, django_capture_on_commit_callbacks, monkeypatch
):
    now = timezone.now()
    question = QuestionFactory(
        open_time=now - dt.timedelta(days=2),
        close_time=now + dt.timedelta(days=30),
        status=Question.Status.OPEN,
    )
    user = django_user_model.objects.create_user("ada", password="pw-12345678")
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(
            reverse("forecast-submit", args=[question.pk]),
            {"probability": "40"},
            HTTP_ACCEPT="application/json",
        )
    assert page.status_code == 200, page.content
    assert Forecast.objects.filter(question=question).count() == 1
    staff = django_user_model.objects.create_superuser("boss", "b@example.org", "pw-12345678")
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(
            reverse("admin:markets_question_changelist"),
            {
                "action": "resolve_yes",
                "_selected_action": [question.pk],
                "apply": "1",
                "reason": "announced",
            },
        )
    assert page.status_code == 302
    final = question.resolutions.get(state=Resolution.State.FINAL)
    assert not Score.objects.exists()
    # Redis is back: the next sweep catches up.
    monkeypatch.undo()
    from scoring.tasks import question_score_task

    monkeypatch.setattr(
        question_score_task,
        "delay_on_commit",
        lambda q, r: transaction.on_commit(lambda: question_score(question_id=q, resolution_id=r)),
    )
    monkeypatch.setattr("scoring.services._after_scoring", lambda tournament_id: None)
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep(now=timezone.now() + REPAIR_GRACE * 2).scores.missing == 1
    assert set(Score.objects.values_list("resolution_id", flat=True)) == {final.pk}


ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))

KILL_BETWEEN_COMMIT_AND_SCORING = textwrap.dedent(
    """
    import os, signal, sys
    import django
    django.setup()
    import scoring.services
    from markets.resolution.manual import question_resolve

    def die(**kwargs):  # scoring is about to start: the resolution has committed
        os.kill(os.getpid(), signal.SIGKILL)

    scoring.services.question_score = die
    question_resolve(question_id=int(sys.argv[1]), outcome="no", reason="corrected in a crash")
    print("not reached")
    """
)


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="needs DATABASE_URL=postgres://… (set in CI)")
@pytest.mark.django_db(transaction=True)
def test_sigkill_between_the_resolution_commit_and_scoring_then_one_sweep(
    scoring_inline, django_capture_on_commit_callbacks
):
    from tests.markets.celery_harness import database_url

    question, _ = scored_question()
    yes = question_resolve(
        question_id=question.pk, outcome="yes", resolved_at=JAN + dt.timedelta(days=10)
    )  # scored on commit (scoring_inline)
    assert {r for r, *_ in snapshot(question)} == {yes.pk}
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if k not in ("REDIS_URL", "CELERY_TASK_ALWAYS_EAGER")
        },
        "DATABASE_URL": database_url(connection.settings_dict),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CELERY_TASK_ALWAYS_EAGER": "true",  # scoring would run in this process, after commit
    }
    run = subprocess.run(
        [sys.executable, "-c", KILL_BETWEEN_COMMIT_AND_SCORING, str(question.pk)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    assert "not reached" not in run.stdout
    final = question.resolutions.get(state=Resolution.State.FINAL)
    assert final.outcome == "no" and final.version == 2  # committed before the kill
    assert {r for r, *_ in snapshot(question)} == {yes.pk}  # scores of the superseded version
    leaderboard_rebuild(tournament_id=question.tournament_id)
    assert not LeaderboardEntry.objects.filter(questions__gt=0).exists()

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep(now=later()).scores.stale == 1
    rows = snapshot(question)
    assert {r for r, *_ in rows} == {final.pk}
    assert rows == fresh_recompute(question)
    leaderboard_rebuild(tournament_id=question.tournament_id)
    total = sum(
        Score.objects.filter(
            question=question, rule=Rule.PEER, forecaster__isnull=False
        ).values_list("score", flat=True)
    )
    counted = sum(e.total_peer for e in LeaderboardEntry.objects.filter(forecaster__isnull=False))
    assert counted == pytest.approx(total)
