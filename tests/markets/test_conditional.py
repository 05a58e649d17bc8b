"""Conditional questions (docs/methods.md §14): creation through ``conditional_create``, and the
branches following their parent and child through every door of the resolution service."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from markets.benchmarks.ingest import benchmark_result_record
from markets.errors import ConditionalError, ResolutionError
from markets.models import AuditRecord, Conditional, Question, Resolution
from markets.questions import conditional_create
from markets.resolution.conditional import conditional_reconcile
from markets.resolution.finality import resolution_confirm
from markets.resolution.manual import (
    question_resolve,
    question_unresolve,
    questions_resolve_many,
)
from markets.resolution.milestones import question_evaluate_milestone
from tests.factories import QuestionFactory, TournamentFactory, UserFactory
from tests.markets.conftest import milestone_question

pytestmark = pytest.mark.django_db

UTC = dt.UTC
Outcome = Resolution.Outcome
State = Resolution.State
NOW = dt.datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def pair(**kwargs) -> Conditional:
    tournament = TournamentFactory()
    parent = QuestionFactory(tournament=tournament, title="Will SWE-bench reach 95%?")
    child = QuestionFactory(tournament=tournament, title="Will RSI happen by 2028?")
    return conditional_create(
        parent=parent, child=child, open_time=dt.datetime(2026, 1, 1, tzinfo=UTC), **kwargs
    )


def final(question: Question) -> Resolution | None:
    return question.resolutions.filter(state=State.FINAL).first()


def outcome(question: Question) -> str | None:
    found = final(question)
    return found.outcome if found is not None else None


def resolve(question: Question, result: str, when: dt.datetime, reason: str = "", **kw):
    return question_resolve(
        question_id=question.pk, outcome=result, resolved_at=when, reason=reason, **kw
    )


def branches(c: Conditional) -> tuple[Question, Question]:
    return (Question.objects.get(pk=c.if_yes_id), Question.objects.get(pk=c.if_no_id))


T1 = dt.datetime(2026, 3, 1, tzinfo=UTC)
T2 = dt.datetime(2026, 4, 1, tzinfo=UTC)
T3 = dt.datetime(2026, 5, 1, tzinfo=UTC)


# --- creation ------------------------------------------------------------------------------


def test_create_makes_two_open_branches_asking_the_child_in_the_parents_tournament():
    c = pair()
    yes, no = branches(c)
    for branch, side in ((yes, "YES"), (no, "NO")):
        assert branch.tournament_id == c.parent.tournament_id
        assert branch.type == Question.Type.BINARY
        assert branch.status == Question.Status.OPEN
        assert branch.close_time == c.child.close_time
        assert (
            branch.title
            == f"If “Will SWE-bench reach 95%?” resolves {side}: Will RSI happen by 2028?"
        )
    assert yes.key.endswith("-if-yes") and no.key.endswith("-if-no")
    assert c.branch_side(yes.pk) == "yes" and c.branch_side(no.pk) == "no"


def test_branches_copy_a_multiple_choice_childs_options():
    tournament = TournamentFactory()
    parent = QuestionFactory(tournament=tournament)
    child = QuestionFactory(
        tournament=tournament, type=Question.Type.MULTIPLE_CHOICE, options=["A", "B", "C"]
    )
    c = conditional_create(parent=parent, child=child, key="mc")
    yes, no = branches(c)
    assert (yes.type, yes.options, no.options) == (
        "multiple_choice",
        ["A", "B", "C"],
        ["A", "B", "C"],
    )
    assert (yes.key, no.key) == ("mc-if-yes", "mc-if-no")


def test_a_parent_resolved_before_creation_is_propagated_at_once():
    tournament = TournamentFactory()
    parent = QuestionFactory(tournament=tournament)
    child = QuestionFactory(tournament=tournament)
    resolve(parent, Outcome.NO, T1)
    c = conditional_create(
        parent=parent, child=child, open_time=dt.datetime(2026, 1, 1, tzinfo=UTC)
    )
    yes, no = branches(c)
    assert (outcome(yes), outcome(no)) == ("annulled", None)


# --- propagation ---------------------------------------------------------------------------


def test_parent_yes_annuls_the_no_branch_and_the_yes_branch_follows_the_child():
    c = pair()
    yes, no = branches(c)
    resolve(c.parent, Outcome.YES, T1)
    assert (outcome(yes), outcome(no)) == (None, "annulled")
    assert final(no).resolved_at == T1
    assert final(no).source == Resolution.Source.CONDITIONAL
    resolve(c.child, Outcome.NO, T2)
    assert (outcome(yes), outcome(no)) == ("no", "annulled")
    assert final(yes).resolved_at == T2  # the later of the two: when the branch became known
    audit = AuditRecord.objects.get(question=yes)
    assert audit.action == AuditRecord.Action.RESOLVED
    assert audit.who == "conditional"
    assert audit.evidence["parent_question"] == c.parent_id
    assert audit.evidence["child_question"] == c.child_id


def test_parent_no_annuls_the_yes_branch_and_the_no_branch_follows_the_child():
    c = pair()
    yes, no = branches(c)
    resolve(c.child, Outcome.YES, T1)  # the child first: nothing to follow yet
    assert (outcome(yes), outcome(no)) == (None, None)
    resolve(c.parent, Outcome.NO, T2)
    assert (outcome(yes), outcome(no)) == ("annulled", "yes")
    assert final(no).resolved_at == T2


def test_parent_annulled_annuls_both_branches():
    c = pair()
    resolve(c.child, Outcome.YES, T1)
    resolve(c.parent, Outcome.ANNULLED, T2)
    yes, no = branches(c)
    assert (outcome(yes), outcome(no)) == ("annulled", "annulled")
    assert yes.status == no.status == Question.Status.ANNULLED


def test_child_annulled_annuls_both_branches_even_before_the_parent_resolves():
    c = pair()
    resolve(c.child, Outcome.ANNULLED, T1)
    yes, no = branches(c)
    assert (outcome(yes), outcome(no)) == ("annulled", "annulled")
    resolve(c.parent, Outcome.YES, T2)  # still annulled, and nothing re-written
    assert (outcome(yes), outcome(no)) == ("annulled", "annulled")
    assert yes.resolutions.count() == no.resolutions.count() == 1


def test_child_revised_after_the_parent_re_resolves_the_taken_branch():
    c = pair()
    resolve(c.parent, Outcome.YES, T1)
    resolve(c.child, Outcome.YES, T2)
    resolve(c.child, Outcome.NO, T3, reason="The source corrected itself.")
    yes, no = branches(c)
    assert (outcome(yes), outcome(no)) == ("no", "annulled")
    assert final(yes).resolved_at == T3
    assert list(yes.resolutions.order_by("version").values_list("outcome", "state")) == [
        ("yes", "superseded"),
        ("no", "final"),
    ]
    assert list(yes.audit.values_list("action", flat=True)) == ["resolved", "reresolved"]
    assert no.resolutions.count() == 1  # the untaken branch is left alone


def test_child_withdrawn_un_resolves_the_taken_branch():
    c = pair()
    resolve(c.parent, Outcome.NO, T1)
    resolve(c.child, Outcome.YES, T2)
    question_unresolve(question_id=c.child_id, reason="Resolved by mistake.")
    yes, no = branches(c)
    assert (outcome(yes), outcome(no)) == ("annulled", None)
    assert no.status == Question.Status.OPEN
    assert list(no.audit.values_list("action", flat=True)) == ["resolved", "unresolved"]


def test_parent_re_resolved_swaps_the_branches():
    c = pair()
    resolve(c.parent, Outcome.YES, T1)
    resolve(c.child, Outcome.YES, T2)
    resolve(c.parent, Outcome.NO, T1, reason="Misread the leaderboard.")
    yes, no = branches(c)
    assert (outcome(yes), outcome(no)) == ("annulled", "yes")
    assert final(yes).resolved_at == T1
    assert final(no).resolved_at == T2
    assert list(yes.audit.values_list("action", flat=True)) == ["resolved", "reresolved"]


def test_parent_un_resolved_un_resolves_both_branches():
    c = pair()
    resolve(c.parent, Outcome.YES, T1)
    resolve(c.child, Outcome.NO, T2)
    question_unresolve(question_id=c.parent_id, reason="Premature.")
    yes, no = branches(c)
    assert (outcome(yes), outcome(no)) == (None, None)


def test_a_multiple_choice_child_passes_its_option_to_the_taken_branch():
    tournament = TournamentFactory()
    parent = QuestionFactory(tournament=tournament)
    child = QuestionFactory(
        tournament=tournament, type=Question.Type.MULTIPLE_CHOICE, options=["A", "B", "C"]
    )
    c = conditional_create(
        parent=parent, child=child, open_time=dt.datetime(2026, 1, 1, tzinfo=UTC)
    )
    resolve(parent, Outcome.YES, T1)
    question_resolve(question_id=child.pk, outcome=Outcome.OPTION, option=2, resolved_at=T2)
    yes, _ = branches(c)
    assert (final(yes).outcome, final(yes).option) == ("option", 2)


def test_reconciling_again_changes_nothing():
    """A task retried, or run late: the branches are in place, so nothing is written."""
    c = pair()
    resolve(c.parent, Outcome.YES, T1)
    resolve(c.child, Outcome.YES, T2)
    before = (Resolution.objects.count(), AuditRecord.objects.count())
    assert conditional_reconcile(conditional_id=c.pk) == 0
    assert conditional_reconcile(conditional_id=c.pk) == 0
    assert (Resolution.objects.count(), AuditRecord.objects.count()) == before


def test_branch_resolutions_are_announced_for_scoring(scoring_calls):
    c = pair()
    resolve(c.parent, Outcome.YES, T1)
    resolve(c.child, Outcome.YES, T2)
    yes, no = branches(c)
    assert (yes.pk, final(yes).pk) in scoring_calls
    assert (no.pk, final(no).pk) in scoring_calls


def test_a_milestone_parent_confirmed_by_staff_carries_the_branches(settings):
    settings.RESOLUTION_REVIEW_HOURS = 48
    parent = milestone_question(threshold=600)
    child = QuestionFactory(tournament=parent.tournament)
    c = conditional_create(
        parent=parent, child=child, open_time=dt.datetime(2026, 1, 1, tzinfo=UTC)
    )
    benchmark_result_record(
        benchmark_id=parent.benchmark_id,
        system="Model X",
        value=900.0,
        achieved_on=dt.date(2026, 5, 1),
    )
    proposal = question_evaluate_milestone(question_id=parent.pk, trigger="test")
    assert proposal is not None and proposal.state == State.PROPOSED
    yes, no = branches(c)
    assert (outcome(yes), outcome(no)) == (None, None)  # a proposal is not a resolution
    resolution_confirm(resolution_id=proposal.pk, user=UserFactory(is_staff=True))
    assert (outcome(yes), outcome(no)) == (None, "annulled")


def test_a_milestone_child_finalized_by_the_sweep_carries_the_taken_branch(settings):
    """The Celery door: the periodic sweep makes the rule's proposal final after the review
    window, and a second sweep (a retried task) changes nothing."""
    from markets.resolution.sweep import markets_sweep

    settings.RESOLUTION_REVIEW_HOURS = 48
    child = milestone_question(threshold=600)
    parent = QuestionFactory(tournament=child.tournament)
    c = conditional_create(
        parent=parent, child=child, open_time=dt.datetime(2026, 1, 1, tzinfo=UTC)
    )
    resolve(parent, Outcome.YES, T1)
    benchmark_result_record(
        benchmark_id=child.benchmark_id,
        system="Model X",
        value=900.0,
        achieved_on=dt.date(2026, 5, 1),
    )
    assert question_evaluate_milestone(question_id=child.pk, trigger="test") is not None
    later = NOW + dt.timedelta(hours=49)
    with time_machine.travel(later, tick=False):
        markets_sweep(now=later)
        yes, no = branches(c)
        assert (outcome(yes), outcome(no)) == ("yes", "annulled")
        before = (Resolution.objects.count(), AuditRecord.objects.count())
        markets_sweep(now=later)
        assert (Resolution.objects.count(), AuditRecord.objects.count()) == before


def test_an_import_resolving_the_parent_carries_the_branches():
    c = pair()
    resolve(c.child, Outcome.NO, T1)
    questions_resolve_many(resolutions=[(c.parent_id, Outcome.NO, "imported", T2)])
    yes, no = branches(c)
    assert (outcome(yes), outcome(no)) == ("annulled", "no")


def test_a_branch_cannot_be_resolved_by_hand():
    c = pair()
    with pytest.raises(ResolutionError, match="branch of the conditional"):
        resolve(c.if_yes, Outcome.YES, T1)
    with pytest.raises(ResolutionError, match="branch of the conditional"):
        questions_resolve_many(resolutions=[(c.if_no_id, Outcome.NO, "", T1)])
    assert not Resolution.objects.exists()


def test_a_nested_conditional_follows_a_branch_as_its_child():
    c = pair()
    outer_parent = QuestionFactory(tournament=c.parent.tournament)
    outer = conditional_create(
        parent=outer_parent, child=c.if_yes, open_time=dt.datetime(2026, 1, 1, tzinfo=UTC)
    )
    resolve(outer_parent, Outcome.YES, T1)
    resolve(c.parent, Outcome.YES, T1)
    resolve(c.child, Outcome.YES, T2)
    outer_yes, outer_no = branches(outer)
    assert (outcome(outer_yes), outcome(outer_no)) == ("yes", "annulled")


# --- bad input -----------------------------------------------------------------------------


def _two(**child_kwargs) -> tuple[Question, Question]:
    tournament = TournamentFactory()
    return QuestionFactory(tournament=tournament), QuestionFactory(
        tournament=tournament, **child_kwargs
    )


def test_a_parent_that_is_not_yes_no_is_refused():
    tournament = TournamentFactory()
    parent = QuestionFactory(
        tournament=tournament, type=Question.Type.MULTIPLE_CHOICE, options=["A", "B"]
    )
    child = QuestionFactory(tournament=tournament)
    with pytest.raises(ConditionalError, match="must be a yes/no question") as error:
        conditional_create(parent=parent, child=child)
    assert error.value.field == "parent"
    assert Question.objects.count() == 2 and not Conditional.objects.exists()


def test_a_question_conditional_on_itself_is_refused():
    parent, _ = _two()
    with pytest.raises(ConditionalError, match="cannot be conditional on itself"):
        conditional_create(parent=parent, child=parent)


def test_a_branch_equal_to_the_parent_is_refused():
    parent, child = _two()
    other = QuestionFactory(tournament=parent.tournament)
    with pytest.raises(ConditionalError, match="cannot be the parent or the child"):
        conditional_create(parent=parent, child=child, if_yes=parent, if_no=other)
    with pytest.raises(ConditionalError, match="must be different questions"):
        conditional_create(parent=parent, child=child, if_yes=other, if_no=other)


def test_a_child_or_branch_from_another_tournament_is_refused():
    parent, child = _two()
    elsewhere = QuestionFactory()
    with pytest.raises(ConditionalError, match="another tournament") as error:
        conditional_create(parent=parent, child=elsewhere)
    assert error.value.field == "child"
    mine = QuestionFactory(tournament=parent.tournament)
    with pytest.raises(ConditionalError, match="another tournament") as error:
        conditional_create(parent=parent, child=child, if_yes=mine, if_no=elsewhere)
    assert error.value.field == "if_no"
    assert not Conditional.objects.exists()


def test_a_cycle_is_refused():
    """C follows P (as its YES branch); a conditional whose branch is P, on a parent that is C,
    would make C follow itself."""
    p, child = _two()
    c = conditional_create(parent=p, child=child)
    other = QuestionFactory(tournament=p.tournament)
    with pytest.raises(ConditionalError, match="a cycle") as error:
        conditional_create(
            parent=c.if_yes, child=other, if_yes=p, if_no=QuestionFactory(tournament=p.tournament)
        )
    assert error.value.field == "if_yes"
    assert Conditional.objects.count() == 1


def test_a_branch_that_asks_something_else_or_is_resolved_is_refused():
    parent, child = _two()
    mc = QuestionFactory(
        tournament=parent.tournament, type=Question.Type.MULTIPLE_CHOICE, options=["A", "B"]
    )
    plain = QuestionFactory(tournament=parent.tournament)
    with pytest.raises(ConditionalError, match="must ask what the child asks"):
        conditional_create(parent=parent, child=child, if_yes=plain, if_no=mc)
    done = QuestionFactory(tournament=parent.tournament)
    resolve(done, Outcome.YES, T1)
    with pytest.raises(ConditionalError, match="already resolved"):
        conditional_create(parent=parent, child=child, if_yes=plain, if_no=done)


def test_existing_branches_are_used_as_given():
    parent, child = _two()
    yes, no = (QuestionFactory(tournament=parent.tournament) for _ in range(2))
    c = conditional_create(parent=parent, child=child, if_yes=yes, if_no=no)
    assert (c.if_yes_id, c.if_no_id) == (yes.pk, no.pk)
    with pytest.raises(ConditionalError, match="already exists"):
        conditional_create(parent=parent, child=child)


def test_a_window_that_closes_before_it_opens_writes_nothing():
    from markets.errors import QuestionError

    parent, child = _two()
    with pytest.raises(QuestionError, match="close after it opens"):
        conditional_create(
            parent=parent, child=child, close_time=dt.datetime(2020, 6, 1, tzinfo=UTC)
        )
    assert Question.objects.count() == 2
