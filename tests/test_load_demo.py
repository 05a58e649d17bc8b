"""The demo loader: AI milestones content, the CORE-Bench rule path, idempotent reruns."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from forecasts.models import CrowdPoint, Forecast, Forecaster
from markets.models import AuditRecord, BenchmarkResult, FeedSnapshot, Question, Resolution
from scoring.models import Score

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (
            get_user_model(), Forecaster, Question, Forecast, CrowdPoint, BenchmarkResult,
            FeedSnapshot, Resolution, AuditRecord, Score,
        )
    )  # fmt: skip


def test_demo_loads_once_and_a_second_run_duplicates_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", "--skip-acx")
    assert Question.objects.filter(tournament__slug="ai-milestones").count() == 7
    assert get_user_model().objects.filter(username="admin", is_staff=True).exists()
    core = Question.objects.get(key="corebench-95-2026")
    final = core.resolutions.get(state=Resolution.State.FINAL)
    # Proposed by the milestone rule with its evidence, then confirmed by the demo admin.
    assert (final.outcome, final.source) == ("yes", "rule")
    assert final.evidence_result.value == 95.0
    assert list(core.audit.values_list("action", flat=True)) == ["proposed", "confirmed"]
    assert Score.objects.filter(question=core).exists()
    before = counts()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", "--skip-acx")
    assert counts() == before
