"""The admin workflow (actions with an intermediate reason page) and the staff resolution desk."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from markets.benchmarks.ingest import feed_ingest
from markets.models import AuditRecord, Benchmark, BenchmarkResult, Question, Resolution
from markets.resolution.manual import question_resolve
from markets.resolution.milestones import question_evaluate_milestone
from tests.markets.conftest import METR_SAMPLE, milestone_question, sample

pytestmark = pytest.mark.django_db

MARCH = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
State = Resolution.State


@pytest.fixture
def staff(django_user_model, client):
    user = django_user_model.objects.create_superuser("boss", "boss@example.org", "pw-12345678")
    client.force_login(user)
    return user


@pytest.fixture
def proposal() -> Resolution:
    question = milestone_question(threshold=600, title="METR 600 minutes?")
    with time_machine.travel(MARCH, tick=False):
        feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
        result = question_evaluate_milestone(question_id=question.pk)
    assert result is not None
    return result


def changelist(model: str) -> str:
    return reverse(f"admin:markets_{model}_changelist")


def test_resolving_from_the_admin_asks_for_a_reason_first(client, staff, scoring_calls):
    question = milestone_question(title="Manual question")
    url = changelist("question")
    page = client.post(url, {"action": "resolve_yes", "_selected_action": [question.pk]})
    assert page.status_code == 200
    assert b"Manual question" in page.content and b'name="reason"' in page.content
    assert not Resolution.objects.exists()

    missing = client.post(
        url, {"action": "resolve_yes", "_selected_action": [question.pk], "apply": "1"}
    )
    assert missing.status_code == 200 and b"This field is required" in missing.content
    assert not Resolution.objects.exists()

    done = client.post(
        url,
        {
            "action": "resolve_yes",
            "_selected_action": [question.pk],
            "apply": "1",
            "reason": "Announced by the lab and verified",
        },
    )
    assert done.status_code == 302
    resolution = Resolution.objects.get()
    assert (resolution.outcome, resolution.state, resolution.decided_by) == ("yes", "final", staff)
    assert resolution.reason == "Announced by the lab and verified"
    assert scoring_calls == [(question.pk, resolution.pk)]

    client.post(
        url,
        {
            "action": "resolve_annulled",
            "_selected_action": [question.pk],
            "apply": "1",
            "reason": "The announcement was retracted",
        },
    )
    question.refresh_from_db()
    assert question.status == Question.Status.ANNULLED
    audit = question.audit.order_by("pk").last()
    assert (audit.action, audit.actor, audit.reason) == (
        AuditRecord.Action.RERESOLVED,
        staff,
        "The announcement was retracted",
    )
    assert audit.evidence == {"previous_version": 1, "previous_outcome": "yes"}


def test_un_resolving_from_the_admin_goes_through_the_service(client, staff, monkeypatch):
    """Issue 20, case 3: the staff door to ``question_unresolve`` (the import's is in
    tests/forecasts/test_import_resolution_changes.py)."""
    withdrawn: list[int] = []
    monkeypatch.setattr(
        "scoring.services.question_scores_withdraw",
        lambda *, question_id: withdrawn.append(question_id) or set(),
    )
    question = milestone_question(title="Manual question")
    question_resolve(question_id=question.pk, outcome="yes", reason="Announced")
    url = changelist("question")
    missing = client.post(
        url, {"action": "unresolve", "_selected_action": [question.pk], "apply": "1"}
    )
    assert missing.status_code == 200 and b"This field is required" in missing.content
    assert question.resolutions.get().state == State.FINAL

    with time_machine.travel(MARCH, tick=False):
        done = client.post(
            url,
            {
                "action": "unresolve",
                "_selected_action": [question.pk],
                "apply": "1",
                "reason": "The announcement was retracted",
            },
        )
    assert done.status_code == 302
    question.refresh_from_db()
    assert question.resolutions.get().state == State.WITHDRAWN
    assert question.status == Question.Status.OPEN  # its window runs to the end of 2026
    audit = question.audit.order_by("pk").last()
    assert (audit.action, audit.actor, audit.reason) == (
        AuditRecord.Action.UNRESOLVED,
        staff,
        "The announcement was retracted",
    )
    assert withdrawn == [question.pk]  # scoring was told, in the transaction

    again = client.post(
        url,
        {
            "action": "unresolve",
            "_selected_action": [question.pk],
            "apply": "1",
            "reason": "Once more",
        },
        follow=True,
    )
    assert "has no final resolution: nothing to un-resolve" in again.content.decode()
    assert question.audit.filter(action=AuditRecord.Action.UNRESOLVED).count() == 1


def test_confirm_and_reject_proposals_from_the_admin(client, staff, proposal, scoring_calls):
    url = changelist("resolution")
    listing = client.get(url).content.decode()
    assert 'value="confirm_proposals"' in listing and 'value="reject_proposals"' in listing
    questions = client.get(changelist("question")).content.decode()
    assert 'value="resolve_no"' in questions and 'value="clear_review"' in questions
    client.post(
        url,
        {
            "action": "confirm_proposals",
            "_selected_action": [proposal.pk],
            "apply": "1",
            "reason": "",
        },
    )
    proposal.refresh_from_db()
    assert proposal.state == State.FINAL
    assert scoring_calls == [(proposal.question_id, proposal.pk)]

    response = client.post(
        url,
        {
            "action": "reject_proposals",
            "_selected_action": [proposal.pk],
            "apply": "1",
            "reason": "Too late",
        },
        follow=True,
    )
    assert "nothing to reject" in response.content.decode()


def test_staff_desk_lists_proposals_and_flagged_questions(client, staff, proposal):
    flagged = milestone_question(title="Flagged question", needs_review=True)
    question_resolve(question_id=flagged.pk, outcome="no", reason="x")
    Question.objects.filter(pk=flagged.pk).update(needs_review=True)
    AuditRecord.objects.create(
        question=flagged, action=AuditRecord.Action.FLAGGED, reason="Evidence revised: 870 -> 719"
    )

    page = client.get(reverse("staff:resolutions"))

    assert page.status_code == 200
    html = page.content.decode()
    assert f'id="proposal-{proposal.pk}"' in html
    assert "Claude Opus 4.6 = 718.807 minutes" in html
    assert f'Snapshot <a href="/admin/markets/feedsnapshot/{proposal.evidence_snapshot_id}/' in html
    assert f'id="flagged-{flagged.pk}"' in html
    assert "Evidence revised: 870 -&gt; 719" in html


def test_staff_desk_confirm_reject_and_clear(client, staff, proposal):
    reject = reverse("staff:resolution-reject", args=[proposal.pk])
    assert client.post(reject, {"reason": ""}).status_code == 302
    proposal.refresh_from_db()
    assert proposal.state == State.PROPOSED  # a rejection needs a reason

    client.post(reject, {"reason": "Leaked test set"})
    proposal.refresh_from_db()
    assert proposal.state == State.REJECTED
    assert proposal.audit.get(action="rejected").actor == staff

    confirm = client.post(reverse("staff:resolution-confirm", args=[proposal.pk]), follow=True)
    assert "nothing to confirm" in confirm.content.decode()

    flagged = milestone_question(needs_review=True)
    client.post(reverse("staff:question-review-clear", args=[flagged.pk]), {"reason": "Fine"})
    flagged.refresh_from_db()
    assert flagged.needs_review is False


def test_staff_desk_is_for_staff_only(client, django_user_model, proposal):
    assert client.get(reverse("staff:resolutions")).status_code == 302  # to the admin login
    user = django_user_model.objects.create_user("forecaster", password="pw-12345678")
    client.force_login(user)
    assert client.get(reverse("staff:resolutions")).status_code == 302
    client.post(reverse("staff:resolution-confirm", args=[proposal.pk]))
    proposal.refresh_from_db()
    assert proposal.state == State.PROPOSED
    assert client.get(reverse("staff:resolution-confirm", args=[proposal.pk])).status_code in (
        302,
        405,
    )


def test_staff_without_resolve_permission_cannot_decide(client, django_user_model, proposal):
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    client.force_login(viewer)
    response = client.post(reverse("staff:resolution-confirm", args=[proposal.pk]))
    assert response.status_code == 403
    proposal.refresh_from_db()
    assert proposal.state == State.PROPOSED


def test_a_result_added_in_the_admin_is_recorded_like_a_feed_result(client, staff):
    bench = Benchmark.objects.create(slug="core-bench-hard", name="CORE-Bench Hard", unit="%")
    add = reverse("admin:markets_benchmarkresult_add")
    data = {
        "benchmark": bench.pk,
        "system": "Claude Code + Opus 4.5",
        "value": "78",
        "achieved_on": "2025-12-03",
        "source_url": "",
        "extra": "{}",
    }
    assert client.post(add, data).status_code == 302
    assert client.post(add, {**data, "value": "95"}).status_code == 302
    first, second = BenchmarkResult.objects.order_by("pk")
    assert (first.value, first.is_current, first.entered_by) == (78.0, False, staff)
    assert (second.value, second.is_current, second.revision_of) == (95.0, True, first)
    change = client.get(reverse("admin:markets_benchmarkresult_change", args=[second.pk]))
    assert change.status_code == 200 and b'name="value"' not in change.content  # read-only


def test_an_effective_time_in_the_future_is_refused_and_changes_nothing():
    """Found by a new-user probe: staff could resolve a question with resolved_at in 2099, and
    its scores then treated forecasts as held until a close that has not happened."""
    from django.utils import timezone

    from markets.errors import ResolutionError
    from tests.factories import QuestionFactory

    question = QuestionFactory()
    with pytest.raises(ResolutionError, match="cannot be in the future"):
        question_resolve(
            question_id=question.pk,
            outcome=Resolution.Outcome.YES,
            resolved_at=timezone.now() + dt.timedelta(days=1),
            reason="staff",
        )
    assert not Resolution.objects.filter(question=question).exists()
    assert not AuditRecord.objects.filter(question=question).exists()
