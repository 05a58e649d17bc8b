"""Issue 20, case 3: a re-import follows the source's resolution, never silently.

m1 is imported resolved YES and scored. Before the fix, re-importing the same files with m1's
resolution cell now empty printed "Nothing to change" and m1 stayed final YES with its scores.
The import is the source of truth for the resolutions it recorded: an emptied cell un-resolves
m1 through the resolution service (an audit record; its scores go, the leaderboard follows), a
changed outcome re-resolves it, and the report names the line either way. A resolution decided
by staff is not the import's to change: the report says the file disagrees and keeps it.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from django.core.management import call_command

from markets.errors import ResolutionError
from markets.models import AuditRecord, Question, Resolution, Tournament
from markets.resolution.manual import question_resolve, question_unresolve
from scoring.models import LeaderboardEntry, Rule, Score

pytestmark = pytest.mark.django_db

WINDOW = "2025-01-01T00:00:00Z,2025-01-11T00:00:00Z"
AT_OPEN = "2025-01-01T00:00:00Z"
FORECASTS = (
    "forecaster,question,probability,time\n"
    f"fa,m1,0.8,{AT_OPEN}\nfb,m1,0.3,{AT_OPEN}\n"
    f"fa,m2,0.2,{AT_OPEN}\nfb,m2,0.6,{AT_OPEN}\n"
)


def questions(m1: str) -> str:
    return (
        "question,title,resolution,open_time,close_time\n"
        f"m1,Milestone one?,{m1},{WINDOW}\n"
        f"m2,Milestone two?,NO,{WINDOW}\n"
    )


@pytest.fixture
def inline(monkeypatch, django_capture_on_commit_callbacks):
    """Scoring and the leaderboard rebuild run after the import commits, in-process."""
    from django.db import transaction

    from scoring.leaderboard import leaderboard_rebuild
    from scoring.services import question_score
    from scoring.tasks import question_score_task

    def later(question_id: int, resolution_id: int) -> None:
        transaction.on_commit(
            lambda: question_score(question_id=question_id, resolution_id=resolution_id)
        )

    monkeypatch.setattr(question_score_task, "delay_on_commit", later)
    monkeypatch.setattr(
        "scoring.services._after_scoring",
        lambda tournament_id: leaderboard_rebuild(tournament_id=tournament_id),
    )
    return django_capture_on_commit_callbacks


def run(tmp_path: Path, m1: str, capsys, inline) -> str:
    q, f = tmp_path / "questions.csv", tmp_path / "forecasts.csv"
    q.write_text(questions(m1))
    f.write_text(FORECASTS)
    with inline(execute=True):
        call_command(
            "import_forecasts",
            "--tournament",
            "t",
            "--questions",
            str(q),
            "--forecasts",
            str(f),
            "--no-progress",
        )
    return capsys.readouterr().out


def m1() -> Question:
    return Question.objects.get(key="m1")


def versions(question: Question) -> list[tuple[str, str]]:
    return list(question.resolutions.order_by("version").values_list("outcome", "state"))


def leaderboard() -> dict[str, int]:
    tournament = Tournament.objects.get(slug="t")
    return {
        entry.forecaster.key: entry.questions
        for entry in LeaderboardEntry.objects.filter(
            tournament=tournament, forecaster__isnull=False
        ).select_related("forecaster")
    }


def brier(question: Question, forecaster: str) -> float:
    return Score.objects.get(question=question, rule=Rule.BRIER, forecaster__key=forecaster).score


def test_an_emptied_resolution_cell_un_resolves_the_question(tmp_path, capsys, inline):
    run(tmp_path, "YES", capsys, inline)
    assert versions(m1()) == [("yes", "final")]
    assert Score.objects.filter(question=m1()).exists()
    assert leaderboard() == {"fa": 2, "fb": 2}

    out = run(tmp_path, "", capsys, inline)

    assert "Nothing to change" not in out
    assert "questions.csv line 2: m1 un-resolved (was YES)" in out
    question = m1()
    assert versions(question) == [("yes", "withdrawn")]
    assert question.status == Question.Status.CLOSED  # its window ended in 2025
    assert not question.resolutions.filter(state=Resolution.State.FINAL).exists()
    record = question.audit.get(action=AuditRecord.Action.UNRESOLVED)
    assert "questions.csv line 2" in record.reason
    assert record.resolution == question.resolutions.get()
    assert record.evidence == {"previous_version": 1, "previous_outcome": "yes"}
    # Scores always belong to the current final resolution: m1 has none, so no scores.
    assert not Score.objects.filter(question=question).exists()
    assert Score.objects.filter(question__key="m2").exists()
    assert leaderboard() == {"fa": 1, "fb": 1}

    # The same files again: now there is nothing to change.
    out = run(tmp_path, "", capsys, inline)
    assert "Nothing to change" in out
    assert question.audit.filter(action=AuditRecord.Action.UNRESOLVED).count() == 1

    # The source resolves it again: a new final version, scored again.
    out = run(tmp_path, "YES", capsys, inline)
    assert "questions.csv line 2: m1 resolved YES" in out
    assert versions(m1()) == [("yes", "withdrawn"), ("yes", "final")]
    assert brier(m1(), "fa") == pytest.approx((1 - 0.8) ** 2)
    assert leaderboard() == {"fa": 2, "fb": 2}


def test_a_changed_outcome_re_resolves_through_the_same_service(tmp_path, capsys, inline):
    run(tmp_path, "YES", capsys, inline)
    assert brier(m1(), "fa") == pytest.approx((1 - 0.8) ** 2)

    out = run(tmp_path, "NO", capsys, inline)

    assert "questions.csv line 2: m1 re-resolved YES → NO" in out
    question = m1()
    assert versions(question) == [("yes", "superseded"), ("no", "final")]
    final = question.resolutions.get(state=Resolution.State.FINAL)
    record = question.audit.filter(action=AuditRecord.Action.IMPORTED).last()
    assert record.resolution == final and "questions.csv line 2" in record.reason
    assert record.reason.endswith(": the file now says NO, was YES")  # the trail says what changed
    assert record.evidence == {"previous_version": 1, "previous_outcome": "yes"}
    assert set(Score.objects.filter(question=question).values_list("resolution", flat=True)) == {
        final.pk
    }
    assert brier(question, "fa") == pytest.approx(0.8**2)
    assert brier(question, "fb") == pytest.approx(0.3**2)
    assert "Nothing to change" in run(tmp_path, "NO", capsys, inline)


def test_a_resolution_decided_by_staff_is_kept_and_the_disagreement_reported(
    tmp_path, capsys, inline
):
    run(tmp_path, "", capsys, inline)
    with inline(execute=True):
        question_resolve(question_id=m1().pk, outcome="yes", reason="Known from the news")
    # The file never resolved m1: staff's resolution stands, the same files change nothing.
    assert "Nothing to change" in run(tmp_path, "", capsys, inline)
    assert versions(m1()) == [("yes", "final")]

    out = run(tmp_path, "NO", capsys, inline)
    assert (
        "questions.csv line 2: m1 is resolved YES by staff but the file says NO: kept "
        "(re-resolve it by hand if the file is right)"
    ) in out
    assert versions(m1()) == [("yes", "final")]
    assert math.isclose(brier(m1(), "fa"), (1 - 0.8) ** 2)


def test_un_resolving_refuses_without_a_reason_or_a_final_resolution(tmp_path, capsys, inline):
    run(tmp_path, "YES", capsys, inline)
    with pytest.raises(ResolutionError, match="needs a reason"):
        question_unresolve(question_id=m1().pk, reason="  ")
    assert versions(m1()) == [("yes", "final")]
    question_unresolve(question_id=m1().pk, reason="The source retracted it")
    with pytest.raises(ResolutionError, match="nothing to un-resolve"):
        question_unresolve(question_id=m1().pk, reason="Again")
    assert versions(m1()) == [("yes", "withdrawn")]
    assert m1().audit.filter(action=AuditRecord.Action.UNRESOLVED).count() == 1


def test_a_staff_un_resolution_is_kept_when_the_same_file_is_imported_again(
    tmp_path, capsys, inline
):
    """Found by a new-user probe: the unchanged file re-resolved m1 YES after staff had
    un-resolved it (a new import version, scores recreated)."""
    run(tmp_path, "YES", capsys, inline)
    with inline(execute=True):
        question_unresolve(question_id=m1().pk, reason="The source retracted it", user=None)
    out = run(tmp_path, "YES", capsys, inline)
    assert "m1 was un-resolved by staff but the file says YES: kept unresolved" in out
    assert versions(m1()) == [("yes", "withdrawn")]
    assert not Score.objects.filter(question=m1()).exists()
