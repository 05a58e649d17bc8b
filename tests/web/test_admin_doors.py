"""Issue 12, case 1: the admin offers no side door around the services.

Setting a resolved question back to Open, or an open one to Resolved, through the change form;
deleting forecast events; adding or editing crowd points, crowd states, scores and leaderboard
entries: none of it changes a row. Status moves only through services, each with an audit
record.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import ProtectedError
from django.urls import reverse
from django.utils import timezone

from forecasts.models import CrowdPoint, CrowdState, Forecast, FrozenWeights, TrackRecordWeight
from forecasts.services import forecast_submit
from markets.models import AuditRecord, Question
from markets.resolution.manual import question_resolve
from scoring.models import LeaderboardEntry, Score
from tests.factories import ForecasterFactory, QuestionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.org", "pw-12345678")
    client.force_login(user)
    return client


def open_question_with_forecasts(*probabilities: float) -> Question:
    now = timezone.now()
    question = QuestionFactory(
        open_time=now - dt.timedelta(days=1),
        close_time=now + dt.timedelta(days=30),
        status=Question.Status.OPEN,
    )
    for p in probabilities:
        forecast_submit(question_id=question.pk, forecaster=ForecasterFactory(), probability=p)
    return question


def change_form_data(question: Question, **overrides) -> dict:
    data = {
        "tournament": question.tournament_id,
        "key": question.key,
        "title": question.title,
        "description": question.description,
        "resolution_criteria": question.resolution_criteria,
        "open_time_0": question.open_time.strftime("%Y-%m-%d"),
        "open_time_1": question.open_time.strftime("%H:%M:%S"),
        "close_time_0": question.close_time.strftime("%Y-%m-%d"),
        "close_time_1": question.close_time.strftime("%H:%M:%S"),
        "comparator": "",
        "threshold": "",
        "deadline": "",
        "grace_days": question.grace_days,
        "audit-TOTAL_FORMS": "0",
        "audit-INITIAL_FORMS": "0",
        "audit-MIN_NUM_FORMS": "0",
        "audit-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    data.update(overrides)
    return data


def test_the_question_form_cannot_set_a_status(admin_client):
    question = open_question_with_forecasts(0.6, 0.5)
    question_resolve(question_id=question.pk, outcome="yes", reason="")
    question.refresh_from_db()
    assert question.status == Question.Status.RESOLVED
    url = reverse("admin:markets_question_change", args=[question.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert b'name="status"' not in page.content  # shown, not editable
    admin_client.post(url, change_form_data(question, status="open"))
    question.refresh_from_db()
    assert question.status == Question.Status.RESOLVED
    assert not question.is_open_at(timezone.now())

    unresolved = open_question_with_forecasts(0.3)
    url = reverse("admin:markets_question_change", args=[unresolved.pk])
    admin_client.post(url, change_form_data(unresolved, status="resolved", title="Renamed"))
    unresolved.refresh_from_db()
    assert unresolved.title == "Renamed"  # the form works; only the status is not its to set
    assert unresolved.status == Question.Status.OPEN
    assert not AuditRecord.objects.filter(question=unresolved).exists()


def test_forecast_events_cannot_be_deleted_and_the_crowd_keeps_them(admin_client):
    question = open_question_with_forecasts(0.6, 0.5, 0.01)
    before = CrowdState.objects.get(question=question).probability
    events = list(Forecast.objects.filter(question=question).values_list("pk", flat=True))
    changelist = reverse("admin:forecasts_forecast_changelist")
    page = admin_client.get(changelist)
    assert b"delete_selected" not in page.content
    admin_client.post(
        changelist,
        {"action": "delete_selected", "_selected_action": events[-1:], "post": "yes"},
    )
    delete = admin_client.post(
        reverse("admin:forecasts_forecast_delete", args=[events[-1]]), {"post": "yes"}
    )
    assert delete.status_code == 403
    assert Forecast.objects.filter(question=question).count() == 3
    assert CrowdState.objects.get(question=question).probability == before
    # A forecaster with forecasts cannot be deleted either, nor the user behind one.
    forecaster = Forecast.objects.get(pk=events[-1]).forecaster
    assert (
        admin_client.post(
            reverse("admin:forecasts_forecaster_delete", args=[forecaster.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    user = UserFactory()
    forecaster.user = user
    forecaster.save()
    with pytest.raises(ProtectedError):
        user.delete()


@pytest.mark.parametrize(
    "model",
    [
        "forecasts.crowdpoint",
        "forecasts.crowdstate",
        "forecasts.trackrecordweight",
        "forecasts.frozenweights",
    ],
)
def test_derived_crowd_rows_are_read_only(admin_client, model):
    question = open_question_with_forecasts(0.6, 0.5)
    app, name = model.split(".")
    assert admin_client.get(reverse(f"admin:{app}_{name}_add")).status_code == 403
    row = {
        "crowdpoint": CrowdPoint.objects.filter(question=question).first,
        "crowdstate": CrowdState.objects.filter(question=question).first,
        "trackrecordweight": lambda: TrackRecordWeight.objects.create(
            forecaster=ForecasterFactory(), tournament=question.tournament, weight=2.0
        ),
        "frozenweights": lambda: FrozenWeights.objects.create(question=question, weights={}),
    }[name]()
    change = reverse(f"admin:{app}_{name}_change", args=[row.pk])
    assert admin_client.get(change).status_code == 200  # staff may look
    assert admin_client.post(change, {"probability": "0.99", "weight": "3"}).status_code == 403
    assert (
        admin_client.post(
            reverse(f"admin:{app}_{name}_delete", args=[row.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert type(row).objects.filter(pk=row.pk).exists()


def test_scores_and_leaderboards_are_read_only(admin_client):
    question = open_question_with_forecasts(0.6, 0.5)
    resolution = question_resolve(question_id=question.pk, outcome="yes")
    from scoring.leaderboard import leaderboard_rebuild
    from scoring.services import question_score

    question_score(question_id=question.pk, resolution_id=resolution.pk)
    leaderboard_rebuild(tournament_id=question.tournament_id)
    scores = list(Score.objects.order_by("pk").values_list("pk", "score"))
    for model, row in (
        ("score", Score.objects.first()),
        ("leaderboardentry", LeaderboardEntry.objects.first()),
    ):
        assert row is not None
        assert admin_client.get(reverse(f"admin:scoring_{model}_add")).status_code == 403
        change = reverse(f"admin:scoring_{model}_change", args=[row.pk])
        assert admin_client.post(change, {"score": "100"}).status_code == 403
        assert (
            admin_client.post(
                reverse(f"admin:scoring_{model}_delete", args=[row.pk]), {"post": "yes"}
            ).status_code
            == 403
        )
    assert list(Score.objects.order_by("pk").values_list("pk", "score")) == scores


def test_a_question_with_forecasts_cannot_be_deleted(admin_client):
    question = open_question_with_forecasts(0.4)
    url = reverse("admin:markets_question_delete", args=[question.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    empty = QuestionFactory()
    url = reverse("admin:markets_question_delete", args=[empty.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Question.objects.filter(pk=empty.pk).exists()


def test_re_resolving_in_the_admin_keeps_the_effective_time(admin_client):
    """Issue 12, case 2: open Jan 1–31, forecasts 0.3 and 0.6 from Jan 2, YES effective Jan 11:
    coverage 9/30 = 0.3 and peer ∓100·ln 2 · 0.3 = ∓20.794415. Re-resolving NO in the admin
    keeps Jan 11 (coverage stays 0.3); re-resolving NO again changes nothing."""
    from scoring.services import question_score

    jan = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    question = QuestionFactory(
        open_time=jan, close_time=jan + dt.timedelta(days=30), status=Question.Status.OPEN
    )
    fa, fb = ForecasterFactory(), ForecasterFactory()
    for who, p in ((fa, 0.3), (fb, 0.6)):
        forecast_submit(
            question_id=question.pk, forecaster=who, probability=p, at=jan + dt.timedelta(days=1)
        )
    eleventh = jan + dt.timedelta(days=10)

    def act(action: str, **fields) -> None:
        admin_client.post(
            reverse("admin:markets_question_changelist"),
            {"action": action, "_selected_action": [question.pk], "apply": "1", **fields},
        )

    def peer(who) -> tuple[float, float]:
        s = Score.objects.get(question=question, forecaster=who, rule="peer")
        return round(s.score, 6), round(s.coverage, 6)

    act(
        "resolve_yes",
        reason="Announced on Jan 11",
        resolved_at="2025-01-11 00:00:00",
    )
    yes = question.resolutions.get(state="final")
    assert yes.resolved_at == eleventh
    question_score(question_id=question.pk, resolution_id=yes.pk)
    assert peer(fa) == (-20.794415, 0.3) and peer(fb) == (20.794415, 0.3)

    act("resolve_no", reason="The source corrected the result")
    no = question.resolutions.get(state="final")
    assert (no.outcome, no.version, no.resolved_at) == ("no", 2, eleventh)
    question_score(question_id=question.pk, resolution_id=no.pk)
    # NO: p_o 0.7 against 0.4, peer ±100·ln(0.7/0.4)·0.3 = ±16.788474, still over 9 of 30 days.
    assert peer(fa) == (16.788474, 0.3) and peer(fb) == (-16.788474, 0.3)

    page = admin_client.post(
        reverse("admin:markets_question_changelist"),
        {
            "action": "resolve_no",
            "_selected_action": [question.pk],
            "apply": "1",
            "reason": "again",
        },
        follow=True,
    )
    assert "already resolved No with that effective time" in page.content.decode()
    assert question.resolutions.count() == 2
    assert AuditRecord.objects.filter(question=question, action="reresolved").count() == 1


def test_a_settled_question_headlines_the_crowd_its_scores_used(client, django_user_model):
    """Issue 12, case 7: forecasts made after the effective time (while a proposal was pending,
    say) stay in the log, but the settled headline — page, list and API — is the crowd at the
    scoring cutoff: for staff the log pool of 0.3, 0.6, 0.5 and 0.8, not with 0.95 too.
    Issue 13: everyone else sees the public series' point at or before the cutoff, the pool
    of the first three (the fourth forecast alone never makes a public point)."""
    from forecasts.pooling import log_pool

    jan = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    question = QuestionFactory(
        open_time=jan, close_time=jan + dt.timedelta(days=30), status=Question.Status.OPEN
    )
    for p, day in ((0.3, 1), (0.6, 1), (0.5, 2), (0.8, 3), (0.95, 14)):
        forecast_submit(
            question_id=question.pk,
            forecaster=ForecasterFactory(),
            probability=p,
            at=jan + dt.timedelta(days=day),
        )
    question_resolve(
        question_id=question.pk, outcome="yes", resolved_at=jan + dt.timedelta(days=10)
    )
    assert CrowdState.objects.get(question=question).forecasters == 5  # the log keeps all
    staff = django_user_model.objects.create_user("desk", password="x", is_staff=True)
    for viewer, forecasts in ((staff, [0.3, 0.6, 0.5, 0.8]), (None, [0.3, 0.6, 0.5])):
        client.logout()
        if viewer is not None:
            client.force_login(viewer)
        expected = log_pool(forecasts)
        page = client.get(reverse("question-detail", args=[question.pk]))
        assert page.context["crowd"].probability == pytest.approx(expected, abs=1e-12)
        assert page.context["crowd"].forecasters == len(forecasts)
        listing = client.get(reverse("tournament-detail", args=[question.tournament.slug]))
        row = next(r for r in listing.context["rows"] if r.question.pk == question.pk)
        assert row.crowd_probability == pytest.approx(expected, abs=1e-12)
        api = client.get(f"/api/v1/questions/{question.pk}/").json()
        assert api["crowd"]["probability"] == pytest.approx(expected, abs=1e-12)
        assert api["crowd"]["forecasters"] == len(forecasts)
