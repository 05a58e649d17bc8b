"""Issue 14: the import's plain-row writes (``config.bulk.bulk_insert_new``: questions through
``questions_create_many``, forecasts, crowd states, resolutions and audit records, scores) store
in the database exactly what the per-question path stores through the ORM.

A small hostile file (quoted keys with commas and non-ASCII letters, clipped 0 and 1, undated
rows, an exact repeat, a forecast at the very close, a question nobody forecast, annulled and
unresolved questions) is imported; then the same questions are made one by one in a second
tournament through ``question_create``, ``Forecast.objects.create``, ``crowd_recompute``,
``question_resolve`` and ``question_score``. The raw rows of both, read with SQL (on SQLite the
stored text of every time, JSON and number), must be equal once ids and creation times are
set aside.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.models import Model

from forecasts.importer import ImportFailed, import_forecasts
from forecasts.models import CrowdPoint, CrowdState, Forecast, Forecaster
from forecasts.services import crowd_recompute
from markets.models import AuditRecord, Question, Resolution, Tournament
from markets.questions import question_create
from markets.resolution.manual import question_resolve
from scoring.models import Score
from scoring.services import question_score

pytestmark = pytest.mark.django_db

QUESTIONS = """\
question,title,resolution,open_time,close_time
"a,1","Will ""quoted"", commas survive?",YES,2021-01-01T00:00:00Z,2021-03-01
é-2,Ünïcödé title,NO,2021-01-05T06:07:08.123456+02:00,2021-02-01T00:00:00Z
empty,Nobody forecasts this,YES,2021-01-01,2021-01-10
ann,Annulled,ANNULLED,2021-01-01,2021-06-01
open,Not resolved,,2021-01-01,2021-06-01
"""
FORECASTS = """\
forecaster,question,probability,time
"x,y","a,1",0,2021-01-02T00:00:00Z
"x,y","a,1",0.5,2021-01-03T00:00:00.000001Z
zoë,"a,1",1,2021-01-03T00:00:00.000001Z
zoë,"a,1",1,2021-01-03T00:00:00.000001Z
zoë,"a,1",0.25,2021-03-02T00:00:00Z
w,é-2,0.7,
w,é-2,0.6,
"x,y",é-2,0.001,2021-02-01T00:00:00Z
w,ann,0.4,2021-02-01
w,open,0.9,2021-02-01
zoë,open,0.2,2021-02-01
"""


def rows(model: type[Model], where: str, params: list[Any]) -> list[dict[str, Any]]:
    """Every row of ``model``'s table matching ``where``, as stored (raw SQL)."""
    table = connection.ops.quote_name(model._meta.db_table)
    cols = [f.column for f in model._meta.concrete_fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(connection.ops.quote_name(c) for c in cols)} FROM {table} "
            f"WHERE {where}",
            params,
        )
        return [dict(zip(cols, row, strict=True)) for row in cursor.fetchall()]


def stored(slug: str) -> dict[str, list[str]]:
    """The tournament's rows of every table the import writes, with ids replaced by natural keys
    (question key, forecaster key, resolution version) and creation times dropped."""
    t = Tournament.objects.get(slug=slug)
    qkey = dict(Question.objects.filter(tournament=t).values_list("pk", "key"))
    fkey = dict(Forecaster.objects.values_list("pk", "key"))
    rkey = {
        pk: (qkey[q], v)
        for pk, q, v in Resolution.objects.filter(question__tournament=t).values_list(
            "pk", "question_id", "version"
        )
    }
    ids = ",".join(str(i) for i in qkey) or "0"
    out: dict[str, list[str]] = {}
    for model, drop in (
        (Question, {"id", "tournament_id", "created_at"}),
        (Forecast, {"id"}),
        (CrowdState, {"updated_at"}),
        (CrowdPoint, {"id", "forecast_id"}),
        (Resolution, {"id", "created_at", "finalized_at"}),
        (AuditRecord, {"id", "at"}),
        (Score, {"id", "computed_at"}),
    ):
        where = f"tournament_id = {t.pk}" if model is Question else f"question_id IN ({ids})"
        found = []
        for row in rows(model, where, []):
            for col in drop:
                row.pop(col)
            if "question_id" in row:
                row["question_id"] = qkey[row["question_id"]]
            if row.get("forecaster_id") is not None:
                row["forecaster_id"] = fkey[row["forecaster_id"]]
            if row.get("resolution_id") is not None:
                row["resolution_id"] = rkey[row["resolution_id"]]
            found.append(repr(sorted(row.items())))
        out[model.__name__] = sorted(found)
    return out


def test_fast_import_stores_the_rows_the_per_question_path_stores(
    tmp_path: Path, django_capture_on_commit_callbacks
):
    qpath, fpath = tmp_path / "questions.csv", tmp_path / "forecasts.csv"
    qpath.write_text(QUESTIONS, encoding="utf-8")
    fpath.write_text(FORECASTS, encoding="utf-8")
    Tournament.objects.create(slug="fast", name="Fast", extremize=1.5, half_life_hours=100.0)
    with django_capture_on_commit_callbacks(execute=True):
        report = import_forecasts(
            tournament_slug="fast", questions_path=qpath, forecasts_path=fpath, clip=True
        )
    assert (report.questions_created, report.forecasts_created, report.clipped) == (5, 10, 3)
    assert report.forecasts_existing == 0  # the exact repeat is the same forecast, dropped

    # The per-question path, through the ORM, in a tournament with the same settings.
    slow = Tournament.objects.create(slug="slow", name="Slow", extremize=1.5, half_life_hours=100.0)
    fast_questions = Question.objects.filter(tournament__slug="fast").order_by("pk")
    made: dict[int, Question] = {}
    for q in fast_questions:
        made[q.pk] = question_create(
            tournament=slow,
            key=q.key,
            title=q.title,
            open_time=q.open_time,
            close_time=q.close_time,
        )
    who: dict[int, Forecaster] = {}
    for f in Forecast.objects.filter(question__tournament__slug="fast").order_by("pk"):
        if f.forecaster_id not in who:
            who[f.forecaster_id] = Forecaster.objects.create(source="slow", key=f.forecaster.key)
        Forecast.objects.create(
            question=made[f.question_id],
            forecaster=who[f.forecaster_id],
            probability=f.probability,
            time=f.time,
        )
    with django_capture_on_commit_callbacks(execute=True):
        for q in fast_questions:
            crowd_recompute(question_id=made[q.pk].pk)
        for r in Resolution.objects.filter(question__tournament__slug="fast").order_by("pk"):
            question_resolve(
                question_id=made[r.question_id].pk,
                outcome=r.outcome,
                reason=r.reason,
                source=r.source,
                resolved_at=r.resolved_at,
                actor_label="import",
            )
    for r in Resolution.objects.filter(question__tournament=slow, state=Resolution.State.FINAL):
        Score.objects.filter(question_id=r.question_id).delete()
        question_score(question_id=r.question_id, resolution_id=r.pk)

    fast, slow_rows = stored("fast"), stored("slow")
    assert fast["Forecast"] and fast["Score"] and fast["AuditRecord"]
    assert fast == slow_rows


def _door_refusing(key: str):
    """``question_build`` that also refuses the question ``key`` (as the API's door would refuse
    a question its parser let through)."""
    from markets import questions
    from markets.errors import QuestionError

    real = questions.question_build

    def build(**kwargs: Any) -> Question:
        if kwargs.get("key") == key:
            raise QuestionError("refused by question_build", field="key")
        return real(**kwargs)

    return build


def test_the_native_import_creates_questions_through_the_one_door(tmp_path: Path, monkeypatch):
    """A question the door refuses is reported with its questions.csv line; nothing is
    written."""
    from markets import questions

    monkeypatch.setattr(questions, "question_build", _door_refusing("é-2"))
    qpath, fpath = tmp_path / "questions.csv", tmp_path / "forecasts.csv"
    qpath.write_text(QUESTIONS, encoding="utf-8")
    fpath.write_text(FORECASTS, encoding="utf-8")
    with pytest.raises(ImportFailed) as caught:
        import_forecasts(tournament_slug="t", questions_path=qpath, forecasts_path=fpath, clip=True)
    assert caught.value.errors == ["questions.csv line 3: refused by question_build"]
    assert not Question.objects.exists() and not Forecast.objects.exists()
    assert not Tournament.objects.exists()


def test_the_metaculus_import_creates_questions_through_the_one_door(tmp_path: Path, monkeypatch):
    """The Metaculus importer checks every new question with ``question_build`` and creates them
    with ``questions_create_many``: a refusal names the file's line; nothing is written."""
    from django.core.management import CommandError, call_command

    from forecasts import metaculus_import
    from markets import questions

    monkeypatch.setattr(questions, "question_build", _door_refusing("metaculus-102"))
    monkeypatch.setattr(metaculus_import, "question_build", _door_refusing("metaculus-102"))
    sample = Path(__file__).resolve().parents[2] / "data" / "metaculus-format" / "forecasts.csv"
    with pytest.raises(CommandError) as caught:
        call_command(
            "import_forecasts", "--format", "metaculus", str(sample), "--tournament", "m",
            "--no-progress",
        )  # fmt: skip
    assert "question 102: refused by question_build" in str(caught.value)
    assert "forecasts.csv line " in str(caught.value)
    assert not Question.objects.exists() and not Forecast.objects.exists()


def test_questions_create_many_refuses_what_question_create_refuses():
    from markets.questions import QuestionsRejected, questions_create_many

    t = Tournament.objects.create(slug="t", name="T")
    start = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    question_create(tournament=t, key="taken", title="Taken", open_time=start,
                    close_time=start + dt.timedelta(days=1))  # fmt: skip
    good = {"key": "new", "title": "New", "open_time": start, "close_time": start + dt.timedelta(1)}
    bad = [
        {**good, "key": "taken"},  # used in the tournament
        {**good, "title": "   "},  # no title
        {**good, "close_time": start},  # closes when it opens
        {**good, "key": "mc", "type": "multiple_choice", "options": ["only one"]},
        {**good, "key": "n", "type": "numeric", "range_min": 5.0, "range_max": 1.0},
        {**good, "key": "z", "bogus": 1},  # not a type setting
        good,  # twice: the second is refused
    ]
    with pytest.raises(QuestionsRejected) as caught:
        questions_create_many(tournament=t, questions=[good, *bad])
    refused = [index for index, _ in caught.value.errors]
    assert refused == [1, 2, 3, 4, 5, 6, 7]
    assert list(Question.objects.values_list("key", flat=True)) == ["taken"]

    made = questions_create_many(
        tournament=t,
        questions=[good, {**good, "key": "mc", "type": "multiple_choice", "options": ["a", "b"]}],
    )
    assert [q.key for q in made] == ["new", "mc"]
    assert all(q.pk for q in made)
    assert Question.objects.get(key="mc").options == ["a", "b"]
