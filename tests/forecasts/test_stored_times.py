"""One stored representation of a time for every writer, on every database (issue 20, case 2).

SQLite has no time type: Django stores a datetime as UTC text ``YYYY-MM-DD HH:MM:SS[.ffffff]``
and compares times as text. A row written by another path in another format (the sqlite3
module's own ``2025-01-11 00:00:00+00:00``, say) sorts after the same instant written by the
ORM, so a point exactly at a boundary fell out of every ``time <= cutoff`` read.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.db import connection
from django.db.models import Model
from django.db.utils import ConnectionHandler
from rest_framework.test import APIClient

from api.scoring import calibration_inputs
from config.sqlite import normalize_times
from forecasts.models import CrowdPoint, Forecast
from markets.models import Question, Resolution, Tournament
from markets.resolution.manual import question_resolve
from scoring.models import LeaderboardEntry, Rule, Score, Subject

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# k2's forecast and the resolution's effective time: the scoring cutoff min(close, resolved_at)
# (docs/methods.md §4.5) is exactly the instant of the last history point.
BOUNDARY = dt.datetime(2025, 1, 11, tzinfo=UTC)
QUESTIONS = "question,title,resolution,open_time,close_time\nq1,Boundary?,,2025-01-01T00:00:00Z,2025-01-12T00:00:00Z\n"  # noqa: E501
FORECASTS = (
    "forecaster,question,probability,time\n"
    "k1,q1,0.2,2025-01-02T00:00:00Z\n"
    "k2,q1,0.9,2025-01-11T00:00:00Z\n"
)


def _import(tmp_path: Path, questions: str = QUESTIONS) -> Question:
    (tmp_path / "questions.csv").write_text(questions)
    (tmp_path / "forecasts.csv").write_text(FORECASTS)
    call_command(
        "import_forecasts",
        "--tournament",
        "edge",
        "--questions",
        str(tmp_path / "questions.csv"),
        "--forecasts",
        str(tmp_path / "forecasts.csv"),
        "--no-progress",
        stdout=io.StringIO(),
    )
    return Question.objects.get(key="q1")


def _researcher() -> APIClient:
    """A client with full resolution (staff): the issue's values are of the whole history; an
    anonymous client sees only the public series (docs/privacy.md), empty with two forecasters."""
    client = APIClient()
    client.force_authenticate(_staff())
    return client


def _staff():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get_or_create(
        username="researcher", defaults={"is_staff": True}
    )[0]


def _export_rows(as_of: str) -> list[dict[str, str]]:
    r = _researcher().get(
        "/api/v1/tournaments/edge/crowd-export/", {"format": "csv", "as_of": as_of}
    )
    assert r.status_code == 200, r.content
    return list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))


def test_a_point_exactly_at_the_cutoff_or_as_of_counts(
    tmp_path, django_capture_on_commit_callbacks
):
    """questions.csv q1 open 2025-01-01; k1 0.2 at 01-02, k2 0.9 at 01-11; resolved YES effective
    01-11 00:00, so the boundary is the resolution's effective time (the next test puts it at
    the close, as the issue's files do). Crowd at the cutoff: log pool of 0.2 and 0.9 = 0.6
    (logits −1.386 and 2.197 average to 0.405); Brier (1 − 0.6)² = 0.16. Before the fix SQLite
    saw 0.2 (Brier 0.64) and exports of 0 and 1 rows."""
    q = _import(tmp_path)
    with django_capture_on_commit_callbacks(execute=True):  # scoring runs in-process (eager)
        question_resolve(
            question_id=q.pk, outcome=Resolution.Outcome.YES, resolved_at=BOUNDARY, reason="edge"
        )
    assert q.crowd_points.order_by("seq").last().time == BOUNDARY

    tournament = Tournament.objects.get(slug="edge")
    probs, outcomes, questions = calibration_inputs(tournament, "crowd", _staff())
    calibration = _researcher().get("/api/v1/tournaments/edge/calibration/", {"subject": "crowd"})
    assert calibration.status_code == 200
    spot = Score.objects.get(question=q, subject=Subject.CROWD, rule=Rule.SPOT_BRIER)
    seen = {
        "crowd held at the cutoff": probs,
        "calibration Brier": round(calibration.json()["decomposition"]["bs"], 12),
        "spot Brier row": (round(spot.forecast, 12), round(spot.score, 12)),
        "export as of 01-02": [row["time"] for row in _export_rows("2025-01-02T00:00:00Z")],
        "export as of 01-11": [row["time"] for row in _export_rows("2025-01-11T00:00:00Z")],
    }
    assert seen == {
        "crowd held at the cutoff": [pytest.approx(0.6, abs=1e-12)],
        "calibration Brier": 0.16,
        "spot Brier row": (0.6, 0.16),
        "export as of 01-02": ["2025-01-02T00:00:00.000000Z"],
        "export as of 01-11": ["2025-01-02T00:00:00.000000Z", "2025-01-11T00:00:00.000000Z"],
    }
    assert (outcomes, questions) == ([1], 1)


def _stored(model: type[Model], column: str) -> list[Any]:
    """The column's values as the database returns them (text on SQLite), without converters."""
    qn = connection.ops.quote_name
    # On SQLite an expression has no declared type, so the sqlite3 module leaves the text alone.
    value = f"{qn(column)} || ''" if connection.vendor == "sqlite" else qn(column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {value} FROM {qn(model._meta.db_table)}")
        return [value for (value,) in cursor.fetchall()]


def test_every_writer_stores_times_as_the_orm_does(tmp_path, django_capture_on_commit_callbacks):
    """Import (forecasts through the ORM, history through the bulk path), scoring and the
    leaderboard (bulk path): every stored time is what the ORM's own preparation gives for the
    value read back, on SQLite as text, on PostgreSQL as a timestamp."""
    q = _import(tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        question_resolve(
            question_id=q.pk, outcome=Resolution.Outcome.YES, resolved_at=BOUNDARY, reason="edge"
        )
    written = {
        (CrowdPoint, "time"): 2,
        (Score, "computed_at"): Score.objects.count(),
        (LeaderboardEntry, "computed_at"): LeaderboardEntry.objects.count(),
        (Forecast, "time"): 2,
    }
    assert min(written.values()) > 0
    for (model, column), count in written.items():
        field = next(f for f in model._meta.concrete_fields if f.column == column)
        values = list(model.objects.values_list(field.name, flat=True))
        expected = sorted(field.get_db_prep_save(v, connection) for v in values)
        assert sorted(_stored(model, column)) == expected, (model, column)
        assert len(expected) == count


def _legacy_rows() -> dict[str, str]:
    """Times as the old SQLite bulk path (the sqlite3 module's adapter) spelled them, and
    their spelling in Django's format."""
    return {
        "2025-01-11 00:00:00+00:00": "2025-01-11 00:00:00",
        "2025-01-02 03:04:05.000006+00:00": "2025-01-02 03:04:05.000006",
        "2025-01-02T01:00:00-05:00": "2025-01-02 06:00:00",
        "2025-01-02T01:00:00Z": "2025-01-02 01:00:00",
        "2025-01-03 00:00:00": "2025-01-03 00:00:00",  # already Django's: left alone
        "2025-01-03 00:00:00.500000": "2025-01-03 00:00:00.500000",
    }


def test_normalize_times_rewrites_other_spellings_on_a_sqlite_database():
    """On its own SQLite database, whatever the suite runs on (CI: PostgreSQL)."""
    scratch = ConnectionHandler(
        {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    )
    db = scratch["default"]
    try:
        with db.cursor() as cursor:
            cursor.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, at TEXT NULL)")
            legacy = _legacy_rows()
            cursor.executemany("INSERT INTO t (at) VALUES (%s)", [(t,) for t in legacy])
            cursor.execute("INSERT INTO t (at) VALUES (NULL)")
        assert normalize_times(db, "t", "at") == 4
        with db.cursor() as cursor:
            cursor.execute("SELECT at FROM t ORDER BY id")
            assert [v for (v,) in cursor.fetchall()] == [*legacy.values(), None]
        assert normalize_times(db, "t", "at") == 0  # idempotent

        with db.cursor() as cursor:
            cursor.execute("INSERT INTO t (at) VALUES ('yesterday')")
        with pytest.raises(ValueError, match="'yesterday' is not a time"):
            normalize_times(db, "t", "at")
    finally:
        db.close()


@pytest.mark.skipif(
    "connection.vendor != 'sqlite'", reason="PostgreSQL stores timestamps, not text"
)
def test_the_migrations_rewrite_old_bulk_rows_of_every_time_column(
    tmp_path, django_capture_on_commit_callbacks
):
    """Rows left by the old bulk path (``…+00:00``) are found again by the boundary reads once
    the data migrations ran: the case-2 values come back."""
    q = _import(tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        question_resolve(
            question_id=q.pk, outcome=Resolution.Outcome.YES, resolved_at=BOUNDARY, reason="edge"
        )
    with connection.cursor() as cursor:  # what the old path wrote
        for model, column in ((CrowdPoint, "time"), (Score, "computed_at")):
            cursor.execute(f"UPDATE {model._meta.db_table} SET {column} = {column} || '+00:00'")
    assert _export_rows("2025-01-02T00:00:00Z") == []
    assert calibration_inputs(Tournament.objects.get(slug="edge"), "crowd", _staff())[0] == [
        pytest.approx(0.2)
    ]

    for name in ("forecasts.migrations.0009_normalize_sqlite_times",
                 "scoring.migrations.0002_normalize_sqlite_times"):  # fmt: skip
        # The migration uses only the editor's connection (a schema editor cannot open inside
        # the test's transaction on SQLite).
        editor = SimpleNamespace(connection=connection)
        importlib.import_module(name).normalize(django_apps, editor)

    assert all(not str(t).endswith("+00:00") for t in _stored(CrowdPoint, "time"))
    assert all(not str(t).endswith("+00:00") for t in _stored(Score, "computed_at"))
    assert len(_export_rows("2025-01-02T00:00:00Z")) == 1
    assert len(_export_rows("2025-01-11T00:00:00Z")) == 2
    assert calibration_inputs(Tournament.objects.get(slug="edge"), "crowd", _staff())[0] == [
        pytest.approx(0.6, abs=1e-12)
    ]


def test_the_issue_files_as_written_a_forecast_at_the_close_counts(
    tmp_path, django_capture_on_commit_callbacks
):
    """Issue 20 case 2 exactly: questions.csv q1 resolved YES in the file, open 2025-01-01,
    close 2025-01-11; k2's 0.9 at the close instant is in the window (closed at both ends, like
    the scoring cutoff) and counts: crowd at close 0.6, calibration Brier 0.16, exports as of
    01-02 and 01-11 of 1 and 2 rows."""
    questions = (
        "question,title,resolution,open_time,close_time\n"
        "q1,Boundary?,YES,2025-01-01T00:00:00Z,2025-01-11T00:00:00Z\n"
    )
    with django_capture_on_commit_callbacks(execute=True):  # scoring after the import commits
        _import(tmp_path, questions)
    q = Question.objects.get(key="q1")
    assert q.resolutions.get().resolved_at == BOUNDARY
    probs, outcomes, _ = calibration_inputs(Tournament.objects.get(slug="edge"), "crowd", _staff())
    calibration = _researcher().get("/api/v1/tournaments/edge/calibration/", {"subject": "crowd"})
    spot = Score.objects.get(question=q, subject=Subject.CROWD, rule=Rule.SPOT_BRIER)
    assert probs == [pytest.approx(0.6, abs=1e-12)] and outcomes == [1]
    assert round(calibration.json()["decomposition"]["bs"], 12) == 0.16
    assert (round(spot.forecast, 12), round(spot.score, 12)) == (0.6, 0.16)
    assert len(_export_rows("2025-01-02T00:00:00Z")) == 1
    assert len(_export_rows("2025-01-11T00:00:00Z")) == 2
