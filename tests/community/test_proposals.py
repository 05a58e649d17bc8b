"""Question proposals: the form, the staff queue (edit, approve, reject), the author's credit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from community import proposals
from community.errors import CommunityError, Conflict, NotAllowed, NotFound
from community.models import Proposal
from markets.models import Question
from tests.community.conftest import XSS, assert_inert, client_for

pytestmark = pytest.mark.django_db


def _form(world, **over):
    now = timezone.now()
    data = {
        "tournament": world.public.pk,
        "title": "Will a model pass test T by 2028?",
        "description": "Context",
        "resolution_criteria": "Resolves YES if the T leaderboard shows ≥ 90%.",
        "open_time": (now + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "close_time": (now + dt.timedelta(days=300)).strftime("%Y-%m-%dT%H:%M"),
    }
    data.update(over)
    return data


def _proposal(world, **over) -> Proposal:
    now = timezone.now()
    fields = {
        "author": world.alice,
        "tournament": world.public,
        "title": "Will X happen?",
        "resolution_criteria": "If X.",
        "open_time": now,
        "close_time": now + dt.timedelta(days=30),
    }
    fields.update(over)
    return proposals.proposal_submit(**fields)


def test_forecaster_proposes_and_staff_approve_creating_a_credited_question(world):
    c = client_for(world.alice)
    assert c.get("/proposals/new/").status_code == 200
    response = c.post("/proposals/new/", _form(world))
    assert response.status_code == 302
    proposal = Proposal.objects.get()
    assert proposal.state == Proposal.State.PENDING
    staff = client_for(world.staff)
    assert "Will a model pass test T" in staff.get("/staff/proposals/").content.decode()
    response = staff.post(f"/staff/proposals/{proposal.pk}/", {"action": "approve"})
    proposal.refresh_from_db()
    question = proposal.question
    assert response.status_code == 302 and response["Location"] == question.get_absolute_url()
    assert question.tournament == world.public and question.status == Question.Status.UPCOMING
    assert question.resolution_criteria.startswith("Resolves YES")
    page = client_for(world.bob).get(question.get_absolute_url()).content.decode()
    assert "Proposed by <strong>alice</strong>" in page
    with pytest.raises(Conflict):
        proposals.proposal_approve(proposal=proposal, reviewer=world.staff)


def test_staff_edit_then_reject_with_reason_seen_by_author(world):
    proposal = _proposal(world)
    staff = client_for(world.staff)
    edit = _form(world, title="Clearer title", action="edit")
    del edit["tournament"]
    assert staff.post(f"/staff/proposals/{proposal.pk}/", edit).status_code == 302
    proposal.refresh_from_db()
    assert proposal.title == "Clearer title"
    assert staff.post(f"/staff/proposals/{proposal.pk}/", {"action": "reject"}).status_code == 400
    staff.post(f"/staff/proposals/{proposal.pk}/", {"action": "reject", "reason": "Duplicate"})
    proposal.refresh_from_db()
    assert (
        proposal.state == Proposal.State.REJECTED
        and not Question.objects.filter(title="Clearer title").exists()
    )
    mine = client_for(world.alice).get("/proposals/").content.decode()
    assert "Reason: Duplicate" in mine


@pytest.mark.parametrize(
    "over",
    [
        {"title": ""},
        {"resolution_criteria": ""},
        {"close_time": "2001-01-01T00:00"},
        {"tournament": "999999"},
        {"open_time": "not a date"},
    ],
)
def test_bad_proposal_is_refused_and_saves_nothing(world, over):
    response = client_for(world.alice).post("/proposals/new/", _form(world, **over))
    assert response.status_code == 400
    assert not Proposal.objects.exists()


def test_private_tournament_proposal_by_outsider_is_not_found(world):
    with pytest.raises(NotFound):
        _proposal(world, tournament=world.private)


def test_only_staff_review(world):
    proposal = _proposal(world)
    assert client_for(world.alice).get(f"/staff/proposals/{proposal.pk}/").status_code == 404
    with pytest.raises(NotAllowed):
        proposals.proposal_approve(proposal=proposal, reviewer=world.alice)


def test_approving_a_duplicate_key_is_a_clear_error(world):
    first = _proposal(world, title="Same title")
    second = _proposal(world, title="Same title")
    proposals.proposal_approve(proposal=first, reviewer=world.staff)
    with pytest.raises(CommunityError, match="already has a question"):
        proposals.proposal_approve(proposal=second, reviewer=world.staff)
    second.refresh_from_db()
    assert second.state == Proposal.State.PENDING


@pytest.mark.parametrize("attack", XSS)
def test_xss_in_proposals_is_inert_in_queue_review_and_question(world, attack):
    proposal = _proposal(
        world, title=f"T {attack}"[:300], description=attack, resolution_criteria=attack
    )
    staff = client_for(world.staff)
    for url in ("/staff/proposals/", f"/staff/proposals/{proposal.pk}/"):
        html = staff.get(url).content.decode()
        assert_inert(html[html.index("<main") : html.index("</main>")])
    question = proposals.proposal_approve(proposal=proposal, reviewer=world.staff)
    html = client_for(world.bob).get(question.get_absolute_url()).content.decode()
    # The page has its own chart SVG and scripts: check the attack text itself is escaped.
    if "<" in attack:
        assert attack not in html
    assert 'href="javascript:' not in html.lower() and 'href="data:' not in html.lower()
    section = html[html.index('aria-labelledby="about-heading"') :]
    assert_inert(section[: section.index("</section>")])
