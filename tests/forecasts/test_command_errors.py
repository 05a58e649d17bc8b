"""Issue 13: the export and import commands answer bad arguments and files with one clear line
(``CommandError``), never a traceback, and change nothing.

``manage.py`` prints a ``CommandError`` as ``CommandError: message`` with exit status 1; any
other exception is a traceback. ``call_command`` raises the exception itself, so each test
checks its type and message.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from forecasts import exports
from forecasts.models import Forecast, Forecaster
from markets.models import Question, Tournament
from tests.factories import QuestionFactory, TournamentFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def tournament() -> Tournament:
    t = TournamentFactory(slug="ai-milestones")
    QuestionFactory(tournament=t, key="q1")
    return t


# --- export_crowd, export_scores: where the file goes ---------------------------------------


def test_export_crowd_into_a_missing_directory_is_a_command_error(tournament, tmp_path):
    """The issue's command: ``export_crowd --output`` into a directory that does not exist
    printed a FileNotFoundError traceback (after reading the whole export)."""
    target = tmp_path / "missing" / "crowd.csv"
    with pytest.raises(CommandError) as error:
        run(
            *("export_crowd", "--tournament", "ai-milestones", "--format", "csv"),
            *("--output", str(target), "--no-progress"),
        )
    assert str(error.value) == (
        f"Cannot write the export: directory {target.parent} does not exist: create it first."
    )
    assert not (tmp_path / "missing").exists()


def test_export_crowd_onto_a_directory_is_a_command_error(tournament, tmp_path):
    with pytest.raises(CommandError, match="is a directory: give the file's name"):
        run(
            *("export_crowd", "--tournament", "ai-milestones", "--format", "json"),
            *("--output", str(tmp_path), "--no-progress"),
        )
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_write_leaves_no_partial_file(tournament, tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exports, "build_manifest", full_disk)
    with pytest.raises(CommandError, match="No space left on device"):
        run(
            *("export_crowd", "--tournament", "ai-milestones", "--format", "csv"),
            *("--output", str(tmp_path / "crowd.csv"), "--no-progress"),
        )
    assert list(tmp_path.iterdir()) == []


def test_export_crowd_with_an_impossible_as_of_is_a_command_error(tournament, tmp_path):
    """Well formed but not a time (month 13): parse_datetime raised ValueError."""
    with pytest.raises(CommandError, match="is not an ISO 8601 time"):
        run(
            *("export_crowd", "--tournament", "ai-milestones", "--format", "csv"),
            *("--as-of", "2025-13-45T00:00:00Z", "--output", str(tmp_path / "c.csv")),
        )


@pytest.mark.parametrize("where", ["missing", "directory"])
def test_export_scores_to_a_bad_path_is_a_command_error(tournament, tmp_path, where):
    target = tmp_path / "missing" / "scores.csv" if where == "missing" else tmp_path
    with pytest.raises(CommandError, match="Cannot write the export"):
        run("export_scores", "--tournament", "ai-milestones", "--output", str(target))
    assert list(tmp_path.iterdir()) == []


def test_export_scores_still_writes_its_file(tournament, tmp_path):
    target = tmp_path / "scores.csv"
    assert "Wrote 0 scores" in run(
        "export_scores", "--tournament", "ai-milestones", "--output", str(target)
    )
    assert target.read_text() == (
        "question,resolution_version,outcome,subject,forecaster,rule,score,coverage\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "scores.csv",
        "scores.csv.manifest.json",
    ]


# --- verify_export: the manifest is a file from outside --------------------------------------


def good_manifest(tournament: Tournament, tmp_path: Path) -> Path:
    out = tmp_path / "crowd.csv"
    run(
        *("export_crowd", "--tournament", tournament.slug, "--format", "csv"),
        *("--output", str(out), "--as-of", "2025-01-01T00:00:00Z", "--no-progress"),
    )
    return exports.manifest_path(out)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("output"), "output is missing or not a JSON object"),
        (lambda m: m["input"].pop("sha256"), "input.sha256 must be text"),
        (lambda m: m.update(rows="3"), "rows is missing or not a JSON integer"),
        (lambda m: m["output"].update(file=5), "output.file, output.sha256"),
        (lambda m: m["output"].update(file="../x.csv"), "output.file '../x.csv' is not a file"),
        (lambda m: m.update(tournament="ai\x00milestones"), "a NUL character"),
        (lambda m: m.update(questions=["q\x001"]), "a NUL character"),
        (lambda m: m.update(questions="q1"), "questions is missing or not a JSON array"),
        (lambda m: m.update(as_of="2025-02-30T00:00:00Z"), "is not an ISO 8601 time"),
    ],
)
def test_a_damaged_manifest_is_a_command_error(tournament, tmp_path, change, message):
    path = good_manifest(tournament, tmp_path)
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(CommandError) as error:
        run("verify_export", str(path), "--no-progress")
    assert message in str(error.value)


def test_a_manifest_that_is_not_an_object_or_not_there_is_a_command_error(tournament, tmp_path):
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(CommandError, match="not a JSON object"):
        run("verify_export", str(tmp_path / "list.json"), "--no-progress")
    with pytest.raises(CommandError, match="No such file"):
        run("verify_export", str(tmp_path / "none.json"), "--no-progress")
    with pytest.raises(CommandError, match="Is a directory"):
        run("verify_export", str(tmp_path), "--no-progress")


def test_an_intact_manifest_still_matches(tournament, tmp_path):
    report = run("verify_export", str(good_manifest(tournament, tmp_path)), "--no-progress")
    assert report.startswith("MATCH")


# --- import_forecasts: files from outside ----------------------------------------------------

QUESTIONS = "question,title,resolution\nq1,First?,\n"
FORECASTS = "forecaster,question,probability\nalice,q1,0.4\n"


def write(tmp_path: Path, questions: str = QUESTIONS, forecasts: str = FORECASTS) -> list[str]:
    q, f = tmp_path / "questions.csv", tmp_path / "forecasts.csv"
    q.write_text(questions)
    f.write_text(forecasts)
    return ["--questions", str(q), "--forecasts", str(f)]


def counts() -> tuple[int, ...]:
    return (
        Tournament.objects.count(),
        Question.objects.count(),
        Forecaster.objects.count(),
        Forecast.objects.count(),
    )


def import_fails(*args: str) -> str:
    before = counts()
    with pytest.raises(CommandError) as error:
        run("import_forecasts", "--no-progress", *args)
    assert counts() == before
    return str(error.value)


def test_importing_a_directory_is_a_command_error(tmp_path):
    files = write(tmp_path)
    message = import_fails("--tournament", "t", "--questions", str(tmp_path), *files[2:])
    assert f"questions.csv: cannot read {tmp_path}: Is a directory" in message
    message = import_fails("--tournament", "t", *files[:2], "--forecasts", str(tmp_path))
    assert f"forecasts.csv: cannot read {tmp_path}: Is a directory" in message


def test_a_nul_character_in_an_imported_file_is_a_command_error(tmp_path):
    """PostgreSQL text cannot hold NUL: the import failed inside its transaction (DataError)."""
    files = write(tmp_path, QUESTIONS + "q\x002,Second?,\n", "forecaster,question,probability\n")
    assert "questions.csv line 3: a NUL character" in import_fails("--tournament", "t", *files)
    files = write(tmp_path, forecasts=FORECASTS + "b\x00b,q1,0.5\n")
    assert "forecasts.csv line 3: a NUL character" in import_fails("--tournament", "t", *files)


def test_texts_longer_than_their_columns_are_command_errors(tmp_path):
    """PostgreSQL refused them inside the import's transaction (value too long): a traceback."""
    key, title, who = "k" * 101, "t" * 301, "w" * 151
    files = write(
        tmp_path,
        f"question,title,resolution\n{key},{title},\n",
        f"forecaster,question,probability\n{who},{key},0.5\n",
    )
    message = import_fails("--tournament", "t", *files)
    assert "questions.csv line 2: question key is 101 characters long; at most 100" in message
    assert "questions.csv line 2: title is 301 characters long; at most 300" in message
    assert "forecasts.csv line 2: forecaster key is 151 characters long; at most 150" in message
    message = import_fails("--tournament", "t", "--name", "n" * 201, *write(tmp_path))
    assert "tournament: tournament name is 201 characters long; at most 200" in message


def test_a_tournament_slug_that_no_url_can_reach_is_a_command_error(tmp_path):
    message = import_fails("--tournament", "my contest!", *write(tmp_path))
    assert "tournament 'my contest!': a slug is letters, digits, hyphens and underscores" in message


def test_a_clean_import_still_imports(tmp_path):
    run("import_forecasts", "--no-progress", "--tournament", "t", *write(tmp_path))
    assert counts() == (1, 1, 1, 1)
