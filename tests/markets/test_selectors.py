"""Reads written once and shared by the web pages and the API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser

from markets.models import MAX_ID, Question
from tests.factories import QuestionFactory, TournamentFactory, UserFactory


@pytest.mark.django_db
def test_visible_one_hides_private_questions_and_bad_ids_alike() -> None:
    public = QuestionFactory()
    private = QuestionFactory(tournament=TournamentFactory(visibility="private"))
    member, outsider, staff = UserFactory(), UserFactory(), UserFactory(is_staff=True)
    private.tournament.members.add(member)
    anonymous = AnonymousUser()
    assert Question.objects.visible_one(anonymous, public.pk) == public
    assert Question.objects.visible_one(anonymous, str(public.pk)) == public
    for user in (anonymous, outsider):
        assert Question.objects.visible_one(user, private.pk) is None
    for user in (member, staff):
        assert Question.objects.visible_one(user, private.pk) == private
    for bad in (None, "", "abc", "1.5", 0, -1, MAX_ID + 1, 10**30):
        assert Question.objects.visible_one(staff, bad) is None, bad


@pytest.mark.django_db
def test_the_scoring_cutoff_is_the_earlier_of_close_and_resolution() -> None:
    import time_machine

    from markets.models import Resolution
    from markets.resolution.manual import question_resolve

    close = dt.datetime(2030, 1, 31, tzinfo=dt.UTC)
    early = QuestionFactory(close_time=close)
    late = QuestionFactory(close_time=close)
    at = dt.datetime(2030, 1, 11, tzinfo=dt.UTC)
    with time_machine.travel(close + dt.timedelta(days=10), tick=False):  # effective times past
        question_resolve(question_id=early.pk, outcome="yes", resolved_at=at)
        question_resolve(
            question_id=late.pk, outcome="no", resolved_at=close + dt.timedelta(days=3)
        )
    cutoffs = dict(
        Resolution.objects.scored_finals().with_cutoff().values_list("question_id", "cutoff")
    )
    assert cutoffs == {early.pk: at, late.pk: close}
    for r in Resolution.objects.select_related("question"):
        assert r.scoring_cutoff == cutoffs[r.question_id]
