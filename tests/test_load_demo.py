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


def test_the_acx_import_announces_each_stage_and_shows_the_rows(
    tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    """Issue 19: the first run printed nothing for minutes while ACX imported. A small
    contest in place of ACX: every stage is announced in order, the rows with a progress bar."""
    import io

    acx = tmp_path / "acx2023"
    acx.mkdir()
    (acx / "questions.csv").write_text("question,title,resolution\n1,One?,YES\n2,Two?,\n")
    (acx / "forecasts.csv").write_text(
        "forecaster,question,probability\na,1,0.9\nb,1,0.6\na,2,0.2\nc,2,0.3\n"
    )
    from web.management.commands import load_demo

    for shipped in load_demo.DATA.iterdir():  # the benchmark files the demo also reads
        if shipped.name != "acx2023":
            (tmp_path / shipped.name).symlink_to(shipped)
    monkeypatch.setattr(load_demo, "DATA", tmp_path)
    out, err = io.StringIO(), io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", stdout=out, stderr=err)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("ACX 2023: ")]
    stages = [line.split("…")[0] for line in lines]
    assert stages == [
        "ACX 2023: writing",
        "ACX 2023: writing 4 forecasts",
        "ACX 2023: computing the crowd history of 2 questions",
        "ACX 2023: recording resolutions",
        "ACX 2023: scoring the resolved questions",
        "ACX 2023: 4 forecasts imported (0 already there).",
    ]
    assert all(line.endswith(" s so far)") for line in lines[:-1])
    assert "ACX 2023: validating forecasts" in err.getvalue()
    assert "100%" in err.getvalue() and "4.00/4.00" in err.getvalue()  # the rows bar ran
    assert Score.objects.filter(question__tournament__slug="acx-2023").exists()
