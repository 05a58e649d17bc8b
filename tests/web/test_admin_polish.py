"""Admin and staff-desk polish (issue 19): plural names, linked titles, grouped imports, no
bulk delete where deletes are refused."""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from markets.models import AuditRecord
from markets.resolution.audit import audit_record
from tests.factories import BenchmarkFactory, QuestionFactory, TournamentFactory
from tests.web.test_admin_doors import open_question_with_forecasts

pytestmark = pytest.mark.django_db


def test_every_model_has_a_proper_plural_name():
    plurals = {m._meta.label: str(m._meta.verbose_name_plural) for m in admin.site._registry}
    assert plurals["scoring.LeaderboardEntry"] == "leaderboard entries"
    assert plurals["forecasts.FrozenWeights"] == "frozen weights"
    for label, plural in plurals.items():
        assert not plural.endswith(("ys", "ss")), f"{label}: {plural!r}"


def test_admin_index_shows_the_plurals(admin_client):
    body = admin_client.get(reverse("admin:index")).content.decode()
    assert "Leaderboard entries" in body and "Leaderboard entrys" not in body
    assert "Frozen weights" in body and "Frozen weightss" not in body


def test_no_bulk_delete_where_the_admin_refuses_deletes(admin_client):
    """Questions with forecasts and scores, tournaments with questions, forecasters with
    forecasts, benchmarks with questions: no "Delete selected" (deleting goes one by one
    through the guarded delete page, which refuses these)."""
    question = open_question_with_forecasts(0.3, 0.6)
    bench = BenchmarkFactory()
    QuestionFactory(
        tournament=question.tournament,
        benchmark=bench,
        key="m",
        comparator=">=",
        threshold=10,
        deadline=dt.date(2030, 1, 1),
    )
    for model in (
        "markets_question",
        "markets_tournament",
        "forecasts_forecaster",
        "markets_benchmark",
        "markets_benchmarkresult",
        "scoring_score",
        "scoring_leaderboardentry",
    ):
        page = admin_client.get(reverse(f"admin:{model}_changelist"))
        assert page.status_code == 200
        assert b"delete_selected" not in page.content, model
    # Nor does the action run when posted by hand.
    admin_client.post(
        reverse("admin:markets_benchmark_changelist"),
        {"action": "delete_selected", "_selected_action": [bench.pk], "post": "yes"},
    )
    assert apps.get_model("markets", "Benchmark").objects.filter(pk=bench.pk).exists()
    delete = admin_client.post(
        reverse("admin:markets_benchmark_delete", args=[bench.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403


def test_an_unused_benchmark_can_still_be_deleted_from_its_page(admin_client):
    bench = BenchmarkFactory()
    admin_client.post(reverse("admin:markets_benchmark_delete", args=[bench.pk]), {"post": "yes"})
    assert not apps.get_model("markets", "Benchmark").objects.filter(pk=bench.pk).exists()


def _imports(tournament, n, start):
    questions = []
    for i in range(n):
        q = QuestionFactory(tournament=tournament, key=f"imp-{i}", title=f"Imported question {i}")
        audit_record(
            question=q,
            action=AuditRecord.Action.IMPORTED,
            label="import",
            reason=f"questions.csv line {i + 2}",
            at=start + dt.timedelta(seconds=i),
        )
        questions.append(q)
    return questions


def test_staff_activity_links_titles_and_groups_consecutive_imports(admin_client):
    t = TournamentFactory(slug="acx")
    start = timezone.now() - dt.timedelta(hours=2)
    imported = _imports(t, 50, start)
    manual = QuestionFactory(tournament=t, key="manual", title="A question staff resolved")
    audit_record(
        question=manual,
        action=AuditRecord.Action.RESOLVED,
        label="staff",
        reason="Result published",
        at=start + dt.timedelta(hours=1),
    )
    body = admin_client.get(reverse("staff:resolutions")).content.decode()
    table = body[body.index("Recent resolution activity") :]
    # One line for the 50 imports, one for the manual resolution.
    table = table[: table.index("</table>")]
    assert table.count("<tr") == 3  # header + 2
    assert "50 questions" in table and "Imported ×50" in table
    assert f'<a href="{manual.get_absolute_url()}">A question staff resolved</a>' in table
    assert f'<a href="{imported[7].get_absolute_url()}">Imported question 7</a>' in table
    hidden = admin_client.get(reverse("staff:resolutions") + "?imports=hide").content.decode()
    table = hidden[hidden.index("Recent resolution activity") :]
    assert "Imported" not in table.replace("Imports hidden", "")
    assert "A question staff resolved" in table
