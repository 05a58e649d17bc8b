"""Runs every ```bash and ```python example of docs/researcher-guide.md against a live server.

The examples are the documentation researchers copy from; if one stops working, this fails.
Each runs in a fresh directory with TAKEOFF (the live server), TOKEN (a forecaster's API token,
with the raw-forecasts permission), QUESTION (an open question's id), MC_QUESTION and
NUMERIC_QUESTION (a multiple-choice and a numeric question's) set.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "researcher-guide.md"
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def examples() -> list[tuple[str, str]]:
    return [(lang, code) for lang, code in BLOCK.findall(GUIDE.read_text())]


def _ids() -> list[str]:
    return [f"{lang}-{i}" for i, (lang, _) in enumerate(examples(), 1)]


@pytest.fixture
def guide_world(transactional_db, monkeypatch):
    """An 'ai-milestones' tournament like the demo's, small, with a resolved question and scores."""
    from django.contrib.auth.models import Permission
    from rest_framework.authtoken.models import Token

    from forecasts.services import forecast_submit, forecaster_for_user
    from markets.models import Resolution
    from markets.resolution.manual import question_resolve
    from scoring.models import Rule, Score, Subject
    from tests.factories import BenchmarkFactory, QuestionFactory, TournamentFactory, UserFactory

    monkeypatch.setattr("scoring.receivers.schedule_scoring", lambda **kw: None)
    t0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    tournament = TournamentFactory(slug="ai-milestones", min_forecasters=1)
    bench = BenchmarkFactory()
    open_q = QuestionFactory(
        tournament=tournament,
        key="metr-6000-2026",
        benchmark=bench,
        comparator=">=",
        threshold=6000,
        deadline=dt.date(2026, 12, 31),
        open_time=t0,
    )
    done = QuestionFactory(
        tournament=tournament,
        key="corebench-95-2026",
        open_time=t0,
        close_time=t0 + dt.timedelta(days=60),
    )
    extra = QuestionFactory(tournament=tournament, key="rsi-2028", open_time=t0)
    people = [forecaster_for_user(UserFactory(username=f"researcher{i}")) for i in range(4)]
    for n, q in enumerate((open_q, done, extra)):
        for i, f in enumerate(people):
            forecast_submit(
                question_id=q.pk,
                forecaster=f,
                probability=0.2 + 0.2 * i,
                # Not hours=q.pk: on PostgreSQL ids keep growing over a run, and past 1,440
                # the forecasts fell after the 60-day question's close.
                at=t0 + dt.timedelta(days=i, hours=n),
            )
    resolution = question_resolve(
        question_id=done.pk,
        outcome=Resolution.Outcome.YES,
        reason="Published result",
        resolved_at=t0 + dt.timedelta(days=30),
        actor_label="test",
    )
    for f in people:
        Score.objects.create(
            question=done,
            resolution=resolution,
            subject=Subject.FORECASTER,
            forecaster=f,
            rule=Rule.BRIER,
            score=0.1,
            coverage=0.9,
        )
    Score.objects.create(
        question=done,
        resolution=resolution,
        subject=Subject.CROWD,
        rule=Rule.BRIER,
        score=0.05,
        coverage=1.0,
    )
    # Scored in the past: a score export covers the scores computed by its as_of.
    Score.objects.update(computed_at=t0 + dt.timedelta(days=31))
    user = people[0].user
    user.user_permissions.add(Permission.objects.get(codename="view_forecast"))
    token = Token.objects.create(user=user)
    # Question types (the guide's "Question types" examples): a public batch of three forecasts
    # by the others, so the crowd and a history point are public. In a tournament of their own:
    # the other examples read yes/no crowds.
    types = TournamentFactory(slug="ai-types", min_forecasters=1)
    mc_q = QuestionFactory(
        tournament=types,
        key="top-lab-2026",
        type="multiple_choice",
        options=["Lab A", "Lab B", "Another lab"],
        open_time=t0,
    )
    numeric_q = QuestionFactory(
        tournament=types,
        key="metr-minutes-2026",
        type="numeric",
        range_min=10.0,
        range_max=10000.0,
        zero_point=0.0,
        open_upper_bound=True,
        open_time=t0,
    )
    from forecasts import distributions

    scale = distributions.Scale(10.0, 10000.0, False, True, 0.0)
    for i, f in enumerate(people[1:]):
        at = t0 + dt.timedelta(days=i, hours=5)
        forecast_submit(question_id=mc_q.pk, forecaster=f, values=[0.4, 0.4, 0.2], at=at)
        cdf = distributions.forecast_from_payload(
            {"percentiles": {"0.05": 50 * (i + 1), "0.25": 100 * (i + 1), "0.5": 200 * (i + 1),
                             "0.75": 400 * (i + 1), "0.95": 800 * (i + 1)}},
            question_type="numeric", scale=scale, n_options=None,
        )  # fmt: skip
        forecast_submit(question_id=numeric_q.pk, forecaster=f, values=cdf, at=at)
    return {
        "TOKEN": token.key,
        "QUESTION": str(open_q.pk),
        "MC_QUESTION": str(mc_q.pk),
        "NUMERIC_QUESTION": str(numeric_q.pk),
    }


def _run(lang: str, code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    if lang == "bash":
        cmd = ["bash", "-euo", "pipefail", "-c", code]
    else:
        cmd = [sys.executable, "-c", code]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_guide_has_curl_and_pandas_examples():
    langs = [lang for lang, _ in examples()]
    assert langs.count("bash") >= 4 and langs.count("python") >= 3
    assert all("curl" in code for lang, code in examples() if lang == "bash")
    assert all("pandas" in code for lang, code in examples() if lang == "python")


@pytest.mark.parametrize(("lang", "code"), examples(), ids=_ids())
def test_guide_example_runs(lang, code, live_server, guide_world, tmp_path):
    if lang == "python":
        try:
            import pandas  # noqa: F401
        except ImportError:
            pytest.fail("pandas is needed to test the guide's pandas examples: uv add --dev pandas")
    env = {**os.environ, "TAKEOFF": live_server.url, **guide_world}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = _run(lang, code, env, tmp_path)
    assert result.returncode == 0, (
        f"{lang} example failed:\n{code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    assert result.stdout.strip(), "an example should show something"
