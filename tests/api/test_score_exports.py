"""Score export (issue 19): as_of, outcome and resolution-version columns, the manifest, and
verification by ``verify_export`` (server pseudonyms, and an API download's own)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from forecasts import exports
from forecasts.pseudonyms import pseudonym_for_id
from markets.models import Resolution
from markets.resolution.manual import question_resolve
from scoring.models import Score
from scoring.services import question_score
from tests.api.conftest import token_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SCORED_AT = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)


def _score(world, at=SCORED_AT):
    """Score the resolved question for real, as if the task had run at ``at``."""
    resolution = world.resolved_q.resolutions.get(state="final")
    question_score(question_id=world.resolved_q.pk, resolution_id=resolution.pk)
    Score.objects.filter(resolution=resolution).update(computed_at=at)
    return resolution


def _export(tmp_path, *extra, name="scores.csv"):
    out = tmp_path / name
    call_command(
        "export_scores",
        "--tournament",
        "ai-public",
        "--output",
        str(out),
        *extra,
        stdout=io.StringIO(),
    )
    return out, json.loads(exports.manifest_path(out).read_text())


def _verify(manifest, *extra):
    report = io.StringIO()
    call_command("verify_export", str(manifest), "--no-progress", *extra, stdout=report)
    return report.getvalue()


def test_rows_carry_the_resolution_version_and_outcome(world, tmp_path):
    resolution = _score(world)
    out, manifest = _export(tmp_path)
    lines = out.read_text().splitlines()
    assert lines[0] == (
        "question,resolution_version,outcome,subject,forecaster,rule,score,coverage"
    )
    f0 = pseudonym_for_id(world.forecasters[0].pk)
    # f0 held 0.2 on a YES question from minute 1 to the cutoff (day 20): Brier (1-0.2)^2.
    brier = [line for line in lines if line.startswith(f"swe-95,1,yes,forecaster,{f0},brier,")]
    assert len(brier) == 1
    assert float(brier[0].split(",")[6]) == pytest.approx(0.64, abs=1e-12)
    assert {line.split(",")[:3].__repr__() for line in lines[1:]} == {
        repr(["swe-95", str(resolution.version), "yes"])
    }
    # 3 forecasters and the crowd, 8 rules each
    assert manifest["rows"] == len(lines) - 1 == 4 * 8


def test_manifest_describes_the_file_and_the_resolutions_behind_it(world, tmp_path):
    _score(world)
    out, manifest = _export(tmp_path, "--as-of", "2025-06-01T00:00:00Z")
    assert manifest["kind"] == "scores"
    assert manifest["as_of"] == "2025-06-01T00:00:00.000000Z"
    assert manifest["pseudonyms"] == "server"
    assert manifest["columns"][:3] == ["question", "resolution_version", "outcome"]
    assert manifest["questions"] == ["swe-95"]
    assert manifest["resolutions"] == [
        {
            "question": "swe-95",
            "version": 1,
            "outcome": "yes",
            "resolved_at": "2025-01-21T00:00:00.000000Z",
        }
    ]
    line = json.dumps(["swe-95", 1, "yes", "2025-01-21T00:00:00.000000Z"], separators=(",", ":"))
    assert manifest["input"]["sha256"] == hashlib.sha256((line + "\n").encode()).hexdigest()
    data = out.read_bytes()
    assert manifest["output"] == {
        "file": "scores.csv",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def test_as_of_leaves_out_scores_computed_later_and_refuses_the_future(world, tmp_path):
    _score(world)
    out, manifest = _export(tmp_path, "--as-of", "2025-02-01T00:00:00Z", name="early.csv")
    assert out.read_text().splitlines()[1:] == []
    assert manifest["rows"] == 0 and manifest["resolutions"] == []
    later, _ = _export(tmp_path, "--as-of", "2025-03-01T00:00:00Z", name="later.csv")
    assert len(later.read_text().splitlines()) == 1 + 32  # computed_at == as_of counts
    future = (timezone.now() + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(CommandError, match="in the future"):
        _export(tmp_path, "--as-of", future, name="future.csv")
    assert not (tmp_path / "future.csv").exists()


def test_two_exports_are_the_same_bytes_and_verify_matches(world, tmp_path):
    _score(world)
    a, ma = _export(tmp_path, "--as-of", "2025-06-01T00:00:00Z", name="a.csv")
    b, mb = _export(tmp_path, "--as-of", "2025-06-01T00:00:00Z", name="b.csv")
    assert a.read_bytes() == b.read_bytes() and ma["output"] == {**mb["output"], "file": "a.csv"}
    report = _verify(exports.manifest_path(a))
    assert report.startswith("MATCH: a.csv — 32 rows") and "1 resolutions" in report


def test_verify_names_a_re_resolved_question(world, tmp_path, monkeypatch):
    _score(world)
    out, _ = _export(tmp_path, "--as-of", "2025-06-01T00:00:00Z")
    question_resolve(
        question_id=world.resolved_q.pk,
        outcome=Resolution.Outcome.NO,
        reason="Result retracted",
        user=world.staff,
    )
    _score(world)  # the new version's scores (version 2), computed "before" as_of
    report = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command(
            "verify_export", str(exports.manifest_path(out)), "--no-progress", stdout=report
        )
    assert exc.value.returncode == 1
    text = report.getvalue()
    assert "MISMATCH" in text
    assert "swe-95: resolution version 2 (no), the manifest has version 1 (yes)" in text
    assert "recomputed bytes differ" in text


def test_verify_reports_a_file_changed_on_disk(world, tmp_path):
    _score(world)
    out, _ = _export(tmp_path, "--as-of", "2025-06-01T00:00:00Z")
    out.write_bytes(out.read_bytes().replace(b"yes", b"no!", 1))
    with pytest.raises(CommandError):
        _verify(exports.manifest_path(out))


def test_api_download_verifies_with_its_manifest_and_its_recipient(world, tmp_path):
    _score(world)
    researcher = UserFactory(username="researcher", is_staff=True)
    client = token_client(researcher)
    url = "/api/v1/tournaments/ai-public/scores-export/"
    r = client.get(url)
    assert r.status_code == 200
    as_of = r["X-Takeoff-As-Of"]
    data = b"".join(r.streaming_content)
    m = client.get(f"{url}manifest/", {"as_of": as_of})
    assert m.status_code == 200
    manifest = m.json()
    assert manifest["pseudonyms"] == "recipient" and manifest["as_of"] == as_of
    assert manifest["output"]["sha256"] == hashlib.sha256(data).hexdigest()
    # Per-recipient pseudonyms: not the server's.
    f0 = world.forecasters[0].pk
    assert pseudonym_for_id(f0, recipient=researcher.pk).encode() in data
    assert pseudonym_for_id(f0).encode() not in data
    # The same as_of again: the same bytes.
    again = client.get(url, {"as_of": as_of})
    assert b"".join(again.streaming_content) == data
    # verify_export replays it with the recipient's pseudonyms, and needs to be told whose.
    (tmp_path / "ai-public-scores.csv").write_bytes(data)
    path = tmp_path / "ai-public-scores.csv.manifest.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(CommandError, match="--recipient USERNAME"):
        _verify(path)
    assert _verify(path, "--recipient", "researcher").startswith("MATCH")
    with pytest.raises(CommandError):
        _verify(path, "--recipient", "admin")  # someone else's pseudonyms: different bytes


def test_api_score_export_refuses_a_future_as_of_and_non_researchers(world):
    _score(world)
    staff = token_client(world.staff)
    future = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    for path in ("scores-export/", "scores-export/manifest/"):
        r = staff.get(f"/api/v1/tournaments/ai-public/{path}", {"as_of": future})
        assert r.status_code == 400 and "future" in r.json()["as_of"][0]
        r = token_client(world.outsider).get(f"/api/v1/tournaments/ai-public/{path}")
        assert r.status_code == 403


def test_verify_names_a_question_rescored_after_as_of(world, tmp_path):
    resolution = _score(world)
    out, _ = _export(tmp_path, "--as-of", "2025-06-01T00:00:00Z")
    # Rescored now (more forecasts imported, crowd parameters changed): same version, new rows.
    Score.objects.filter(resolution=resolution).delete()
    question_score(question_id=world.resolved_q.pk, resolution_id=resolution.pk)
    report = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "verify_export", str(exports.manifest_path(out)), "--no-progress", stdout=report
        )
    assert "swe-95: no scores as of the manifest's time any more" in report.getvalue()
    assert "row count 0 (manifest: 32)" in report.getvalue()


def test_verify_refuses_a_manifest_of_an_unknown_kind_and_an_unknown_recipient(world, tmp_path):
    _score(world)
    out, manifest = _export(tmp_path, "--as-of", "2025-06-01T00:00:00Z")
    path = exports.manifest_path(out)
    with pytest.raises(CommandError, match="No user 'nobody'"):
        _verify(path, "--recipient", "nobody")
    path.write_text(json.dumps({**manifest, "kind": "bogus"}))
    with pytest.raises(CommandError, match="unknown export kind 'bogus'"):
        _verify(path)
