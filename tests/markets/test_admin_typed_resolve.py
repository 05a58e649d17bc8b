"""Staff resolve multiple-choice, numeric, date and discrete questions from the admin through
``question_resolve``: the option or value on an intermediate form, a new final version with its
audit record and scoring, re-resolution; bad input shows a clear error and writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from markets.models import AuditRecord, Question, Resolution
from tests.factories import QuestionFactory

pytestmark = pytest.mark.django_db

URL = "admin:markets_question_changelist"
JAN_2025 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
JAN_2027 = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def staff(django_user_model, client):
    user = django_user_model.objects.create_superuser("boss", "boss@example.org", "pw-12345678")
    client.force_login(user)
    return user


def mc() -> Question:
    return QuestionFactory(
        type=Question.Type.MULTIPLE_CHOICE, options=["OpenAI", "Anthropic", "Google DeepMind"]
    )


def numeric(open_lower: bool = False, open_upper: bool = False, **kw) -> Question:
    kw.setdefault("type", Question.Type.NUMERIC)
    kw.setdefault("range_min", 0.0)
    kw.setdefault("range_max", 100.0)
    return QuestionFactory(open_lower_bound=open_lower, open_upper_bound=open_upper, **kw)


def post(client, questions, **fields):
    ids = [q.pk for q in questions]
    return client.post(reverse(URL), {"action": "resolve_typed", "_selected_action": ids, **fields})


def apply(client, question, **fields):
    return post(client, [question], apply="1", **fields)


def test_multiple_choice_resolves_to_the_chosen_option(client, staff, scoring_calls):
    question = mc()
    page = post(client, [question])
    assert page.status_code == 200
    assert b"Anthropic" in page.content and b'name="option"' in page.content
    assert not Resolution.objects.exists()

    done = apply(client, question, option="1", reason="The lab's announcement")
    assert done.status_code == 302
    resolution = Resolution.objects.get()
    assert (resolution.outcome, resolution.option, resolution.value) == ("option", 1, None)
    assert (resolution.state, resolution.decided_by, resolution.version) == ("final", staff, 1)
    question.refresh_from_db()
    assert question.status == Question.Status.RESOLVED
    audit = question.audit.get()
    assert (audit.action, audit.actor, audit.reason) == (
        AuditRecord.Action.RESOLVED,
        staff,
        "The lab's announcement",
    )
    assert scoring_calls == [(question.pk, resolution.pk)]

    # Re-resolution: a new version, the old one superseded, the audit says so.
    apply(client, question, option="2", reason="The leaderboard was corrected")
    final = question.resolutions.get(state="final")
    assert (final.option, final.version) == (2, 2)
    assert question.resolutions.get(version=1).state == Resolution.State.SUPERSEDED
    record = question.audit.order_by("pk").last()
    assert record.action == AuditRecord.Action.RERESOLVED
    assert record.evidence == {"previous_version": 1, "previous_outcome": "option"}


@pytest.mark.parametrize("option", ["3", "-1", "Anthropic", ""])
def test_an_option_not_in_the_list_is_refused(client, staff, option):
    question = mc()
    page = apply(client, question, option=option, reason="x")
    assert page.status_code == 200
    assert b"Select a valid choice" in page.content or b"This field is required" in page.content
    assert not Resolution.objects.exists()


def test_numeric_resolves_to_a_value(client, staff, scoring_calls):
    question = numeric()
    page = post(client, [question])
    assert b'name="value"' in page.content and b"from 0 to 100" in page.content
    done = apply(client, question, outcome="value", value=" 42.5 ", reason="Published")
    assert done.status_code == 302
    resolution = Resolution.objects.get()
    assert (resolution.outcome, resolution.value, resolution.option) == ("value", 42.5, None)
    assert len(scoring_calls) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"outcome": "value", "value": "forty"}, b"Enter a number, not"),
        ({"outcome": "value", "value": "nan"}, b"Enter a finite number"),
        ({"outcome": "value", "value": ""}, b"Enter the value that happened"),
        ({"outcome": "value", "value": "150"}, b"upper bound 100 is closed"),
        ({"outcome": "value", "value": "-0.5"}, b"lower bound 0 is closed"),
        ({"outcome": "above"}, b"Select a valid choice"),  # a closed bound offers no "above"
        ({"outcome": "yes"}, b"Select a valid choice"),
    ],
)
def test_bad_values_are_refused_with_a_clear_error(client, staff, fields, message):
    question = numeric()
    page = apply(client, question, reason="x", **fields)
    assert page.status_code == 200 and message in page.content
    assert not Resolution.objects.exists()
    question.refresh_from_db()
    assert question.status == Question.Status.OPEN


def test_open_bounds_resolve_below_and_above(client, staff):
    question = numeric(open_lower=True, open_upper=True)
    refused = apply(client, question, outcome="below", value="3", reason="x")
    assert b"Leave the value empty" in refused.content and not Resolution.objects.exists()
    apply(client, question, outcome="below", reason="Before the range")
    assert question.resolutions.get(state="final").outcome == "below"
    apply(client, question, outcome="above", reason="Corrected")
    final = question.resolutions.get(state="final")
    assert (final.outcome, final.value, final.version) == ("above", None, 2)
    # An exact value beyond an open bound is a value.
    apply(client, question, outcome="value", value="250", reason="The exact figure")
    assert question.resolutions.get(state="final").value == 250.0


def test_date_question_takes_an_iso_date(client, staff):
    question = numeric(
        type=Question.Type.DATE, range_min=JAN_2025.timestamp(), range_max=JAN_2027.timestamp()
    )
    bad = apply(client, question, outcome="value", value="next spring", reason="x")
    assert b"Enter a date as 2026-03-01" in bad.content and not Resolution.objects.exists()
    apply(client, question, outcome="value", value="2026-03-01T12:00:00Z", reason="Reached")
    moment = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    assert question.resolutions.get(state="final").value == moment.timestamp()


def test_discrete_question_resolves_to_a_value(client, staff):
    question = numeric(type=Question.Type.DISCRETE, range_min=0.0, range_max=10.0)
    apply(client, question, outcome="value", value="7", reason="Counted")
    assert question.resolutions.get(state="final").value == 7.0


def test_one_typed_question_at_a_time(client, staff):
    one, two = mc(), numeric()
    page = post(client, [one, two], apply="1", option="1", reason="x")
    assert page.status_code == 302
    binary = QuestionFactory()
    page = post(client, [binary], apply="1", reason="x")
    assert page.status_code == 302
    listing = client.get(reverse(URL))
    assert b"Select exactly one multiple-choice" in listing.content
    assert not Resolution.objects.exists()


def test_yes_no_actions_refuse_a_typed_question(client, staff):
    question = mc()
    client.post(
        reverse(URL),
        {"action": "resolve_yes", "_selected_action": [question.pk], "apply": "1", "reason": "x"},
    )
    assert not Resolution.objects.exists()


def test_staff_without_the_change_permission_cannot_resolve(client, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw-12345678")
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.add(Permission.objects.get(codename="view_question"))
    client.force_login(viewer)
    question = mc()
    page = apply(client, question, option="1", reason="x")
    assert page.status_code in (200, 302, 403)
    assert not Resolution.objects.exists()


def test_the_review_desk_names_the_option_or_value(client, staff):
    question = mc()
    apply(client, question, option="1", reason="The lab's announcement")
    other = numeric(open_upper=True)
    apply(client, other, outcome="above", reason="Not reached")
    desk = client.get(reverse("staff:resolutions"))
    assert desk.status_code == 200
    assert b"OPTION 1 (ANTHROPIC)" in desk.content
    assert b"ABOVE THE RANGE (OVER 100)" in desk.content
