"""import_forecasts: the researcher CSV formats (docs/researcher-guide.md), validation,
idempotency."""

from __future__ import annotations

import datetime as dt
import math
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from forecasts.models import CrowdPoint, Forecast, Forecaster
from markets.models import AuditRecord, Question, Resolution, Tournament

pytestmark = pytest.mark.django_db

QUESTIONS = "question,title,resolution\nq1,First?,YES\nq2,Second?,\nq3,Third?,NO\n"


def write(tmp_path: Path, questions: str, forecasts: str) -> tuple[Path, Path]:
    q, f = tmp_path / "questions.csv", tmp_path / "forecasts.csv"
    q.write_text(questions)
    f.write_text(forecasts)
    return q, f


def run(q: Path, f: Path, *extra: str, slug: str = "t") -> None:
    call_command(
        "import_forecasts",
        "--tournament",
        slug,
        "--questions",
        str(q),
        "--forecasts",
        str(f),
        "--no-progress",
        *extra,
    )


def counts() -> tuple[int, ...]:
    return (
        Tournament.objects.count(),
        Question.objects.count(),
        Forecaster.objects.count(),
        Forecast.objects.count(),
        Resolution.objects.count(),
        CrowdPoint.objects.count(),
    )


def test_import_creates_tournament_questions_forecasts_and_final_resolutions(tmp_path):
    q, f = write(
        tmp_path, QUESTIONS, "forecaster,question,probability\na,q1,0.7\nb,q1,0.4\na,q2,0.2\n"
    )
    run(q, f)
    t = Tournament.objects.get(slug="t")
    assert t.questions.count() == 3
    assert Forecast.objects.count() == 3
    q1 = t.questions.get(key="q1")
    res = q1.resolutions.get()
    assert (res.outcome, res.state, res.source) == ("yes", "final", "import")
    assert q1.status == Question.Status.RESOLVED
    assert AuditRecord.objects.filter(question=q1, action="imported").count() == 1
    # The crowd history was rebuilt: one point per event, in file order.
    points = list(q1.crowd_points.order_by("seq"))
    assert [p.forecasters for p in points] == [1, 2]
    # Geometric mean of odds: sqrt(7/3 · 2/3) = 1.2472 → 0.555006
    assert points[-1].probability == pytest.approx(0.555006, abs=1e-6)


def test_reimporting_the_same_files_changes_nothing(tmp_path, capsys):
    q, f = write(tmp_path, QUESTIONS, "forecaster,question,probability\na,q1,0.7\nb,q3,0.1\n")
    run(q, f)
    before = counts()
    run(q, f)
    assert counts() == before
    assert "Nothing to change" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("a,q1,1.5", "probability 1.5 is outside [0.001, 0.999]"),
        ("a,q1,abc", "probability 'abc' is not a number"),
        ("a,q1,NaN", "probability 'NaN' is not a finite number"),
        ("a,nope,0.5", "unknown question 'nope'"),
        ("a,q1,0", "probability 0 is outside [0.001, 0.999] (--clip clips values within [0, 1])"),
        (",q1,0.5", "empty forecaster"),
    ],
)
def test_a_bad_row_is_reported_with_its_line_and_nothing_is_imported(tmp_path, row, reason):
    q, f = write(
        tmp_path, QUESTIONS, f"forecaster,question,probability\na,q1,0.5\nb,q2,0.5\n{row}\n"
    )
    before = counts()
    with pytest.raises(CommandError) as err:
        run(q, f)
    assert f"forecasts.csv line 4: {reason}" in str(err.value)
    assert "nothing was imported" in str(err.value)
    assert counts() == before


def test_bad_rows_leave_an_existing_tournament_untouched(tmp_path):
    q, f = write(tmp_path, QUESTIONS, "forecaster,question,probability\na,q1,0.5\n")
    run(q, f)
    before = counts()
    q2, f2 = write(tmp_path, QUESTIONS, "forecaster,question,probability\nc,q2,0.3\nd,q2,1.5\n")
    with pytest.raises(CommandError):
        run(q2, f2)
    assert counts() == before


def test_every_problem_is_listed_not_only_the_first(tmp_path):
    q, f = write(tmp_path, QUESTIONS, "forecaster,question,probability\na,q1,x\nb,q1,2\nc,q9,0.5\n")
    with pytest.raises(CommandError) as err:
        run(q, f)
    message = str(err.value)
    assert "3 problem(s)" in message
    for line in (2, 3, 4):
        assert f"line {line}:" in message


def test_question_file_errors_are_reported(tmp_path):
    q, f = write(
        tmp_path,
        "question,title,resolution\nq1,First?,MAYBE\nq1,Again?,\n",
        "forecaster,question,probability\n",
    )
    with pytest.raises(CommandError) as err:
        run(q, f)
    assert "questions.csv line 2: resolution 'MAYBE'" in str(err.value)
    assert "questions.csv line 3: question 'q1' already defined on line 2" in str(err.value)


def test_missing_columns_are_reported(tmp_path):
    q, f = write(tmp_path, QUESTIONS, "who,question,p\na,q1,0.5\n")
    with pytest.raises(CommandError) as err:
        run(q, f)
    assert "forecasts.csv line 1: missing column(s) forecaster, probability" in str(err.value)


def test_clip_brings_zero_and_one_into_range_and_reports_the_count(tmp_path, capsys):
    q, f = write(tmp_path, QUESTIONS, "forecaster,question,probability\na,q1,0\nb,q1,1\nc,q1,0.5\n")
    run(q, f, "--clip")
    assert sorted(Forecast.objects.values_list("probability", flat=True)) == [0.001, 0.5, 0.999]
    assert "Clipped 2 probabilities" in capsys.readouterr().out


def test_clip_still_rejects_values_outside_zero_one(tmp_path):
    q, f = write(tmp_path, QUESTIONS, "forecaster,question,probability\na,q1,1.2\n")
    with pytest.raises(CommandError, match=r"line 2: probability 1\.2 is outside"):
        run(q, f, "--clip")


def test_explicit_times_are_kept_and_order_the_history(tmp_path):
    q, f = write(
        tmp_path,
        "question,title,resolution,open_time,close_time\nq1,First?,,2024-01-01T00:00:00Z,2025-01-01T00:00:00Z\n",
        "forecaster,question,probability,time\n"
        "a,q1,0.8,2024-03-01T00:00:00Z\nb,q1,0.2,2024-02-01T00:00:00Z\n",
    )
    run(q, f)
    question = Question.objects.get()
    assert question.open_time.isoformat() == "2024-01-01T00:00:00+00:00"
    points = list(question.crowd_points.order_by("seq"))
    assert [p.time.month for p in points] == [2, 3]
    assert points[0].probability == pytest.approx(0.2)


def test_changed_resolution_on_reimport_is_a_new_audited_version(tmp_path):
    q, f = write(tmp_path, QUESTIONS, "forecaster,question,probability\na,q1,0.5\n")
    run(q, f)
    q.write_text(QUESTIONS.replace("q1,First?,YES", "q1,First?,NO"))
    run(q, f)
    question = Question.objects.get(key="q1")
    versions = list(question.resolutions.order_by("version").values_list("outcome", "state"))
    assert versions == [("yes", "superseded"), ("no", "final")]


def test_acx_2023_imports_50_questions_and_150720_forecasts_once(tmp_path, data_dir):
    src = data_dir / "acx2023"
    q, f = tmp_path / "questions.csv", tmp_path / "forecasts.csv"
    shutil.copy(src / "questions.csv", q)
    shutil.copy(src / "forecasts.csv", f)
    run(q, f, slug="acx-2023")
    t = Tournament.objects.get(slug="acx-2023")
    assert t.questions.count() == 50
    assert Forecast.objects.filter(question__tournament=t).count() == 150_720
    # Keys run to acx3295 but three numbers are unused: 3,292 distinct forecasters.
    assert Forecaster.objects.filter(source="acx-2023").count() == 3_292
    assert Resolution.objects.filter(question__tournament=t, state="final").count() == 50
    before = counts()
    run(q, f, slug="acx-2023")
    assert counts() == before


# --- Issue 12, cases 3–5: rescoring, conflicting rows, time windows -------------------------

Q1 = (
    "question,title,resolution,open_time,close_time\n"
    "q1,One?,YES,2025-01-01T00:00:00Z,2025-01-11T00:00:00Z\n"
)
AT_OPEN = "2025-01-01T00:00:00Z"


def forecasts(*rows: tuple[str, float, str]) -> str:
    return "forecaster,question,probability,time\n" + "".join(
        f"{who},q1,{p},{time}\n" for who, p, time in rows
    )


@pytest.fixture
def scoring_inline(monkeypatch, django_capture_on_commit_callbacks):
    """Scoring runs after the import commits, in-process (CI has a broker but no worker)."""
    from django.db import transaction

    from scoring.services import question_score
    from scoring.tasks import question_score_task

    def later(question_id: int, resolution_id: int) -> None:
        transaction.on_commit(
            lambda: question_score(question_id=question_id, resolution_id=resolution_id)
        )

    monkeypatch.setattr(question_score_task, "delay_on_commit", later)
    monkeypatch.setattr("scoring.services._after_scoring", lambda tournament_id: None)
    return django_capture_on_commit_callbacks


def peers() -> dict[str, float]:
    from scoring.models import Rule, Score

    rows = Score.objects.filter(rule=Rule.PEER, resolution__state="final")
    return {
        (s.forecaster.key if s.forecaster else s.subject): round(s.score, 4)
        for s in rows.select_related("forecaster")
    }


def test_importing_into_a_resolved_question_rescores_it(tmp_path, scoring_inline):
    q, f = write(tmp_path, Q1, forecasts(("fa", 0.6, AT_OPEN), ("fb", 0.5, AT_OPEN)))
    with scoring_inline(execute=True):
        run(q, f)
    assert peers()["fa"] == pytest.approx(100 * math.log(0.6 / 0.5), abs=1e-4)
    f.write_text(forecasts(("fc", 0.9, AT_OPEN), ("fd", 0.1, AT_OPEN)))
    with scoring_inline(execute=True):
        run(q, f)
    question = Question.objects.get(key="q1")
    assert question.crowd.probability == pytest.approx(0.5253198926, abs=1e-9)
    assert peers() == {
        "fa": 52.2872,
        "fb": 27.9777,
        "fc": 106.3492,
        "fd": -186.6141,
        "crowd": 25.9232,
        "median": peers()["median"],
        "mean": peers()["mean"],
    }
    assert Resolution.objects.filter(question=question).count() == 1  # rescored, not re-resolved


def test_conflicting_rows_in_one_file_are_refused_naming_both_lines(tmp_path):
    q, f = write(
        tmp_path,
        Q1.replace("YES", ""),
        forecasts(("fa", 0.6, AT_OPEN), ("fb", 0.2, AT_OPEN), ("fb", 0.8, AT_OPEN)),
    )
    with pytest.raises(CommandError) as error:
        run(q, f)
    assert "forecasts.csv line 4" in str(error.value) and "0.2 on line 3" in str(error.value)
    assert counts() == (0, 0, 0, 0, 0, 0)
    # An exact repeat is the same forecast, not a conflict.
    f.write_text(forecasts(("fa", 0.6, AT_OPEN), ("fb", 0.8, AT_OPEN), ("fb", 0.8, AT_OPEN)))
    run(q, f)
    assert Forecast.objects.count() == 2


def test_a_row_contradicting_an_imported_forecast_is_refused(tmp_path, capsys):
    q, f = write(
        tmp_path, Q1.replace("YES", ""), forecasts(("fa", 0.6, AT_OPEN), ("fb", 0.2, AT_OPEN))
    )
    run(q, f)
    f.write_text(forecasts(("fa", 0.6, AT_OPEN), ("fb", 0.8, AT_OPEN)))
    with pytest.raises(
        CommandError,
        match=r"line 3: 'fb' on 'q1' .* is 0.8, but the forecast already imported there is 0.2",
    ):
        run(q, f)
    assert list(Forecast.objects.order_by("probability").values_list("probability", flat=True)) == [
        0.2,
        0.6,
    ]


@pytest.mark.parametrize(
    ("time", "reason"),
    [
        ("2024-12-31T23:59:59Z", "before the question opened"),
        ("2025-01-11T00:00:00.000001Z", "after the question closed"),
        ("2025-02-01T00:00:00Z", "after the question closed"),
        ("2990-01-01T00:00:00Z", "in the future"),
        ("9999-01-01T00:00:00Z", "not before the year 3000"),
        ("1969-12-31", "before 1970"),  # a bare date too
        ("0001-01-01", "before 1970"),
        ("0001-01-01T00:00:00Z", "before 1970"),
    ],
)
def test_forecasts_outside_the_window_are_refused(tmp_path, time, reason):
    q, f = write(tmp_path, Q1, forecasts(("fa", 0.6, AT_OPEN), ("fb", 0.5, time)))
    with pytest.raises(CommandError, match=reason):
        run(q, f)
    assert counts() == (0, 0, 0, 0, 0, 0)


def test_a_forecast_after_an_early_resolution_is_refused(tmp_path):
    q, f = write(tmp_path, Q1.replace("YES", ""), forecasts(("fa", 0.6, AT_OPEN)))
    run(q, f)
    from markets.resolution.manual import question_resolve

    question = Question.objects.get(key="q1")
    question_resolve(
        question_id=question.pk, outcome="yes", resolved_at=dt.datetime(2025, 1, 5, tzinfo=dt.UTC)
    )
    f.write_text(forecasts(("fb", 0.1, "2025-01-06T00:00:00Z")))
    with pytest.raises(CommandError, match="after the question was resolved"):
        run(q, f)


def test_a_window_is_derived_from_the_data_and_bare_dates_are_whole_days(tmp_path):
    questions = (
        "question,title,resolution,open_time,close_time\n"
        "q1,One?,,,\nq2,Two?,,2025-03-01,2025-03-10\n"
    )
    rows = (
        "forecaster,question,probability,time\n"
        + "".join(f"f{i},q1,0.5,2025-01-{day:02d}T00:00:00Z\n" for i, day in enumerate((1, 5, 20)))
        + "g,q2,0.4,2025-03-10T23:00:00Z\n"
    )
    q, f = write(tmp_path, questions, rows)
    run(q, f)
    q1, q2 = Question.objects.get(key="q1"), Question.objects.get(key="q2")
    assert q1.open_time == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert q1.close_time > dt.datetime(2025, 1, 20, tzinfo=dt.UTC)  # every forecast inside
    assert q2.open_time == dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    assert q2.close_time == dt.datetime(2025, 3, 11, tzinfo=dt.UTC)  # 10 March inclusive
    assert Forecast.objects.count() == 4


# --- Found by a new-user probe: dates at the edges, undated rows ------------------------------


def test_a_close_date_at_the_end_of_the_calendar_is_an_error_with_its_line(tmp_path):
    q, f = write(
        tmp_path,
        "question,title,resolution,open_time,close_time\nz1,Z?,,2025-01-01,9999-12-31\n",
        "forecaster,question,probability,time\na,z1,0.5,2025-01-02T00:00:00Z\n",
    )
    with pytest.raises(CommandError, match=r"questions.csv line 2: .*not before the year 3000"):
        run(q, f)
    assert counts() == (0, 0, 0, 0, 0, 0)


def test_undated_rows_cannot_land_in_a_question_that_has_not_opened(tmp_path):
    q, f = write(
        tmp_path,
        "question,title,resolution,open_time,close_time\nu1,Later?,,2990-01-01,2991-01-01\n",
        "forecaster,question,probability\na,u1,0.5\nb,u1,0.3\n",
    )
    with pytest.raises(CommandError, match=r"line 2: 'a' on 'u1' has no time.*in the future"):
        run(q, f)
    assert counts() == (0, 0, 0, 0, 0, 0)


def test_reimporting_undated_rows_after_a_row_was_added_before_them_adds_nothing(tmp_path):
    """Undated rows are placed at open + (row index) µs; a row added above them moved every
    placement, so the re-import saw new times and doubled b1's log."""
    questions = (
        "question,title,resolution,open_time,close_time\n"
        "b1,B1?,,2025-01-01T00:00:00Z,2025-02-01T00:00:00Z\n"
        "b2,B2?,,2025-01-01T00:00:00Z,2025-02-01T00:00:00Z\n"
    )
    q, f = write(tmp_path, questions, "forecaster,question,probability\nA,b1,0.6\nB,b1,0.3\n")
    run(q, f)
    f.write_text("forecaster,question,probability\nC,b2,0.5\nA,b1,0.6\nB,b1,0.3\n")
    run(q, f)
    assert Forecast.objects.filter(question__key="b1").count() == 2
    assert Forecast.objects.filter(question__key="b2").count() == 1
    f.write_text("forecaster,question,probability\nC,b2,0.5\nA,b1,0.7\nB,b1,0.3\n")
    with pytest.raises(CommandError, match=r"line 3: 'A' on 'b1' .* is 0.7, but .* is 0.6"):
        run(q, f)
