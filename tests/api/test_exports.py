"""Crowd, raw-forecast and score exports: exact bytes, reproducibility, verification."""

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
from forecasts.models import CrowdPoint, Forecast
from forecasts.pseudonyms import pseudonym_for_id
from forecasts.services import crowd_recompute
from scoring.models import Rule, Score, Subject
from tests.api.conftest import T0, token_client

pytestmark = pytest.mark.django_db

AS_OF = "2025-06-01T00:00:00Z"


def _export(tmp_path, world, fmt, name="out", question=None, as_of=AS_OF):
    out = tmp_path / f"{name}.{fmt}"
    args = ["--tournament", "ai-public", "--format", fmt, "--output", str(out), "--no-progress"]
    args += ["--as-of", as_of] + (["--question", question] if question else [])
    call_command("export_crowd", *args, stdout=io.StringIO(), stderr=io.StringIO())
    return out, json.loads(exports.manifest_path(out).read_text())


def test_csv_export_has_the_documented_columns_formats_and_order(world, tmp_path):
    out, manifest = _export(tmp_path, world, "csv", question="metr-6000")
    lines = out.read_text().splitlines()
    assert lines[0] == "question,time,forecasters,probability,median,mean"
    assert lines[1] == "metr-6000,2025-01-01T00:01:00.000000Z,1,0.2,0.2,0.2"
    assert lines[2].startswith("metr-6000,2025-01-01T00:11:00.000000Z,2,")
    _, t, n, p, med, mean = lines[3].split(",")
    assert (t, n) == ("2025-01-01T00:21:00.000000Z", "3")
    assert float(p) == pytest.approx(0.6, abs=1e-12) and float(med) == 0.6
    assert repr(float(mean)) == mean  # repr: shortest round-trip form
    assert manifest["rows"] == 3 and manifest["question"] == "metr-6000"


def test_tournament_export_orders_questions_by_key(world, tmp_path):
    out, manifest = _export(tmp_path, world, "csv")
    keys = [line.split(",")[0] for line in out.read_text().splitlines()[1:]]
    assert keys == sorted(keys) and set(keys) == {"metr-6000", "rsi-2027", "swe-95"}
    assert manifest["questions"] == ["metr-6000", "rsi-2027", "swe-95"]
    assert manifest["rows"] == len(keys) == 9


def test_manifest_records_method_software_as_of_input_digest_and_output_digest(world, tmp_path):
    out, manifest = _export(tmp_path, world, "csv")
    assert manifest["method"]["name"] == "logarithmic pooling"
    assert manifest["method"]["parameters"]["extremize"] == 1.0
    assert manifest["software"]["takeoff"]
    assert manifest["as_of"] == "2025-06-01T00:00:00.000000Z"
    assert manifest["output"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert manifest["output"]["bytes"] == out.stat().st_size
    assert manifest["input"]["forecast_events"] == 9


def test_input_digest_follows_the_documented_canonical_form(world, tmp_path):
    _, manifest = _export(tmp_path, world, "csv", question="metr-6000")
    lines = []
    for f, p, minutes in zip(world.forecasters, (0.2, 0.6, 0.9), (1, 11, 21), strict=True):
        t = (T0 + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lines.append(json.dumps(["metr-6000", t, pseudonym_for_id(f.pk), p], separators=(",", ":")))
    expected = hashlib.sha256("".join(sorted(line + "\n" for line in lines)).encode()).hexdigest()
    assert manifest["input"]["sha256"] == expected


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_two_exports_are_identical_bytes_and_verify_matches(world, tmp_path, fmt):
    a, ma = _export(tmp_path, world, fmt, name="a")
    b, mb = _export(tmp_path, world, fmt, name="b")
    assert a.read_bytes() == b.read_bytes()
    assert ma["output"]["sha256"] == mb["output"]["sha256"]
    out = io.StringIO()
    call_command("verify_export", str(exports.manifest_path(a)), "--no-progress", stdout=out)
    assert out.getvalue().startswith("MATCH")


def test_json_and_parquet_carry_the_same_rows_as_csv(world, tmp_path):
    import pyarrow.parquet as pq

    csv_out, _ = _export(tmp_path, world, "csv")
    rows = [line.split(",") for line in csv_out.read_text().splitlines()[1:]]
    js, _ = _export(tmp_path, world, "json")
    data = json.loads(js.read_text())
    assert [(r["question"], r["time"], r["forecasters"]) for r in data] == [
        (q, t, int(n)) for q, t, n, *_ in rows
    ]
    assert [r["probability"] for r in data] == [float(r[3]) for r in rows]
    pq_out, _ = _export(tmp_path, world, "parquet")
    table = pq.read_table(pq_out)
    assert table.column_names == list(exports.COLUMNS)
    assert table.column("probability").to_pylist() == [float(r[3]) for r in rows]
    assert str(table.schema.field("time").type) == "timestamp[us, tz=UTC]"
    assert b"parquet-cpp-arrow" in pq_out.read_bytes()[-200:]


def test_changing_one_forecast_makes_verify_report_a_mismatch(world, tmp_path):
    out, _ = _export(tmp_path, world, "csv")
    changed = Forecast.objects.filter(question=world.open_q).order_by("time").first()
    Forecast.objects.filter(pk=changed.pk).update(probability=0.25)
    report = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command(
            "verify_export", str(exports.manifest_path(out)), "--no-progress", stdout=report
        )
    assert exc.value.returncode == 1
    assert "MISMATCH" in report.getvalue() and "input forecast set differs" in report.getvalue()
    # After the crowd is recomputed from the changed log, the bytes differ too.
    crowd_recompute(question_id=world.open_q.pk)
    report = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "verify_export", str(exports.manifest_path(out)), "--no-progress", stdout=report
        )
    assert "recomputed bytes differ" in report.getvalue()


def test_a_tampered_file_is_reported(world, tmp_path):
    out, _ = _export(tmp_path, world, "csv")
    out.write_bytes(out.read_bytes().replace(b"0.2", b"0.3", 1))
    result = exports.verify_manifest(exports.manifest_path(out))
    assert not result.ok and any("on disk" in p for p in result.problems)


def test_later_forecasts_do_not_change_an_export_as_of_an_earlier_time(world, tmp_path):
    out, _ = _export(tmp_path, world, "csv")
    token_client(world.outsider).post(
        "/api/v1/forecasts/", {"question": world.open_q.pk, "probability": 0.5}, format="json"
    )
    assert exports.verify_manifest(exports.manifest_path(out)).ok


def test_pending_medians_are_filled_before_export(world, tmp_path):
    CrowdPoint.objects.filter(question=world.open_q).update(median=None)
    out, _ = _export(tmp_path, world, "csv", question="metr-6000")
    assert ",," not in out.read_text()


def test_api_export_streams_the_same_bytes_as_the_command(world, tmp_path):
    out, manifest = _export(tmp_path, world, "csv")
    staff = token_client(world.staff)
    r = staff.get("/api/v1/tournaments/ai-public/crowd-export/", {"format": "csv", "as_of": AS_OF})
    assert r.status_code == 200 and r.streaming
    assert b"".join(r.streaming_content) == out.read_bytes()
    assert r["X-Takeoff-As-Of"] == "2025-06-01T00:00:00.000000Z"
    m = staff.get(
        "/api/v1/tournaments/ai-public/crowd-export/manifest/", {"format": "csv", "as_of": AS_OF}
    ).json()
    assert m["output"]["sha256"] == manifest["output"]["sha256"]
    assert m["input"] == manifest["input"] and m["series"] == manifest["series"] == "full"


def test_anonymous_api_export_is_the_public_series_and_verifies(world, tmp_path, api):
    """The public export holds only the points where three forecasters had joined (each
    question's third point); its manifest says ``public`` and ``verify_export`` replays it."""
    full, _ = _export(tmp_path, world, "csv")
    params = {"format": "csv", "as_of": AS_OF}
    r = api.get("/api/v1/tournaments/ai-public/crowd-export/", params)
    body = b"".join(r.streaming_content).decode()
    full_lines = full.read_text().splitlines()
    assert body.splitlines() == [full_lines[0]] + [
        line for line in full_lines[1:] if line.split(",")[2] == "3"
    ]
    manifest = api.get("/api/v1/tournaments/ai-public/crowd-export/manifest/", params).json()
    assert manifest["series"] == "public" and manifest["rows"] == 3
    path = tmp_path / manifest["output"]["file"]
    path.write_text(body)
    exports.manifest_path(path).write_bytes(exports.dump_manifest(manifest))
    assert exports.verify_manifest(exports.manifest_path(path)).ok


def test_api_question_export_in_parquet(world, api):
    r = api.get(f"/api/v1/questions/{world.open_q.pk}/crowd-export/", {"format": "parquet"})
    assert r.status_code == 200
    assert r["Content-Type"] == "application/vnd.apache.parquet"
    assert b"".join(r.streaming_content)[:4] == b"PAR1"


def test_api_export_rejects_unknown_format(world, api):
    r = api.get("/api/v1/tournaments/ai-public/crowd-export/", {"format": "xlsx"})
    assert r.status_code == 400


def test_api_export_leaves_out_questions_whose_crowd_is_hidden(world, api):
    world.public.hide_until_forecast = True
    world.public.save()
    # Settled questions are shown to everyone; open and closed ones only after forecasting.
    m = api.get("/api/v1/tournaments/ai-public/crowd-export/manifest/").json()
    assert m["questions"] == ["swe-95"]
    r = api.get(f"/api/v1/questions/{world.open_q.pk}/crowd-export/")
    assert r.status_code == 403


def test_raw_forecasts_export_is_for_staff_and_permitted_researchers(world, api):
    from django.contrib.auth.models import Permission

    url = "/api/v1/tournaments/ai-public/forecasts-export/"
    assert token_client(world.outsider).get(url).status_code == 403
    r = token_client(world.staff).get(url, {"as_of": AS_OF})
    assert r.status_code == 200
    lines = b"".join(r.streaming_content).decode().splitlines()
    assert lines[0] == "question,time,forecaster,kind,probability"
    assert len(lines) == 10
    # Pseudonyms keyed for the recipient: another recipient's file names people differently.
    first = world.forecasters[0].pk
    assert lines[1].split(",")[2] == pseudonym_for_id(first, recipient=world.staff.pk)
    assert pseudonym_for_id(first, recipient=world.staff.pk) != pseudonym_for_id(first)
    world.outsider.user_permissions.add(Permission.objects.get(codename="view_forecast"))
    r = token_client(world.outsider).get(url, {"as_of": AS_OF})
    assert r.status_code == 200
    theirs = b"".join(r.streaming_content).decode().splitlines()
    assert theirs[1].split(",")[2] == pseudonym_for_id(first, recipient=world.outsider.pk)
    assert {line.split(",")[2] for line in theirs[1:]}.isdisjoint(
        {line.split(",")[2] for line in lines[1:]}
    )


def test_pseudonyms_are_keyed(settings, world):
    fid = world.forecasters[0].pk
    plain = hashlib.sha256(str(fid).encode()).hexdigest()[:16]
    first = pseudonym_for_id(fid)
    assert first.startswith("f_") and len(first) == 18 and first[2:] != plain
    settings.PSEUDONYM_KEY = "another key"
    assert pseudonym_for_id(fid) != first


def test_imported_forecasters_keep_their_keys(db, tmp_path):
    questions = tmp_path / "questions.csv"
    forecasts = tmp_path / "forecasts.csv"
    questions.write_text("question,title,resolution\nq1,First,\n")
    forecasts.write_text(
        "forecaster,question,probability,time\n"
        "alice,q1,0.3,2025-01-01T00:00:00Z\nbob,q1,0.6,2025-01-01T01:00:00Z\n"
    )
    call_command(
        "import_forecasts",
        "--tournament",
        "acx",
        "--questions",
        str(questions),
        "--forecasts",
        str(forecasts),
        "--no-progress",
        stdout=io.StringIO(),
    )
    from markets.models import Tournament

    export = exports.crowd_export_plan(
        tournament=Tournament.objects.get(slug="acx"),
        fmt="csv",
        as_of=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    )
    names = [name for _, _, name, _, _ in exports.iter_events(export)]
    assert names == ["alice", "bob"]


def test_export_scores_writes_pseudonyms_and_crowd(world, tmp_path):
    resolution = world.resolved_q.resolutions.get(state="final")
    f = world.forecasters[1]
    Score.objects.create(
        question=world.resolved_q,
        resolution=resolution,
        subject=Subject.FORECASTER,
        forecaster=f,
        rule=Rule.BRIER,
        score=0.16,
        coverage=0.5,
    )
    Score.objects.create(
        question=world.resolved_q,
        resolution=resolution,
        subject=Subject.CROWD,
        rule=Rule.SPOT_LOG,
        score=None,
        coverage=0.0,
    )
    Score.objects.update(computed_at=T0)  # an export covers scores computed by its as_of
    out = tmp_path / "scores.csv"
    call_command(
        "export_scores", "--tournament", "ai-public", "--output", str(out), stdout=io.StringIO()
    )
    assert out.read_text().splitlines() == [
        "question,resolution_version,outcome,subject,forecaster,rule,score,coverage",
        "swe-95,1,yes,crowd,,spot_log,,0.0",
        f"swe-95,1,yes,forecaster,{pseudonym_for_id(f.pk)},brier,0.16,0.5",
    ]


def test_a_forecaster_keyed_crowd_is_not_mistaken_for_the_aggregate(tmp_path):
    """Issue 12: an imported forecaster whose key is ``crowd`` was indistinguishable from the
    crowd aggregate in export_scores."""
    q, f = tmp_path / "q.csv", tmp_path / "f.csv"
    q.write_text(
        "question,title,resolution,open_time,close_time\n"
        "q1,One?,YES,2025-01-01T00:00:00Z,2025-01-11T00:00:00Z\n"
    )
    f.write_text(
        "forecaster,question,probability,time\n"
        "crowd,q1,0.9,2025-01-01T00:00:00Z\nbob,q1,0.2,2025-01-01T00:00:00Z\n"
    )
    call_command(
        "import_forecasts", "--tournament", "keys", "--questions", str(q), "--forecasts", str(f),
        "--no-progress", stdout=io.StringIO(),
    )  # fmt: skip
    from markets.models import Question
    from scoring.services import question_score

    question = Question.objects.get(key="q1")
    Score.objects.filter(question=question).delete()
    question_score(
        question_id=question.pk, resolution_id=question.resolutions.get(state="final").pk
    )
    Score.objects.update(computed_at=T0)  # an export covers scores computed by its as_of
    out = tmp_path / "scores.csv"
    call_command(
        "export_scores", "--tournament", "keys", "--output", str(out), stdout=io.StringIO()
    )
    peer = [line.split(",") for line in out.read_text().splitlines() if ",peer," in line]
    assert [(subject, who) for _, _, _, subject, who, *_ in peer] == [
        ("crowd", ""),
        ("forecaster", "bob"),
        ("forecaster", "crowd"),
    ]


def test_float_and_time_formatting_is_the_same_on_every_database(world, tmp_path):
    """Edge values: PostgreSQL formats in SQL, SQLite in Python; both must give repr's text."""
    from forecasts.models import CrowdPoint

    point = CrowdPoint.objects.filter(question=world.open_q).order_by("seq").first()
    CrowdPoint.objects.filter(pk=point.pk).update(
        probability=1.0,
        median=1e-05,
        mean=0.30000000000000004,
        time=dt.datetime(2025, 1, 1, 0, 1, 0, 5, tzinfo=dt.UTC),
    )
    out, _ = _export(tmp_path, world, "csv", question="metr-6000")
    assert out.read_text().splitlines()[1] == (
        "metr-6000,2025-01-01T00:01:00.000005Z,1,1.0,1e-05,0.30000000000000004"
    )


def test_keys_that_need_csv_quoting_are_quoted(world, tmp_path):
    world.open_q.key = 'odd, "key"\\x'
    world.open_q.save()
    out, _ = _export(tmp_path, world, "csv", question='odd, "key"\\x')
    assert out.read_text().splitlines()[1].startswith('"odd, ""key""\\x",2025-01-01T00:01:00')


def test_events_at_the_same_instant_are_ordered_by_their_line(world, tmp_path):
    same = T0 + dt.timedelta(minutes=30)
    for f, p in zip(world.forecasters, (0.7, 0.1, 0.4), strict=True):
        Forecast.objects.create(question=world.open_q, forecaster=f, probability=p, time=same)
    crowd_recompute(question_id=world.open_q.pk)
    _, manifest = _export(tmp_path, world, "csv", question="metr-6000")
    events = [
        (f, p, T0 + dt.timedelta(minutes=m))
        for f, p, m in zip(world.forecasters, (0.2, 0.6, 0.9), (1, 11, 21), strict=True)
    ]
    events += [(f, p, same) for f, p in zip(world.forecasters, (0.7, 0.1, 0.4), strict=True)]
    lines = sorted(
        json.dumps(
            ["metr-6000", t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), pseudonym_for_id(f.pk), p],
            separators=(",", ":"),
        )
        + "\n"
        for f, p, t in events
    )
    assert manifest["input"]["sha256"] == hashlib.sha256("".join(lines).encode()).hexdigest()


def test_a_future_as_of_is_refused_because_it_could_not_be_reproduced(world, tmp_path, api):
    """Issue 12, case 8: the same URL gave different bytes after one more forecast, and the
    manifest stopped verifying. A future as_of is now a 400 (and a command error)."""
    future = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for path in ("crowd-export/", "crowd-export/manifest/"):
        r = api.get(f"/api/v1/tournaments/ai-public/{path}", {"format": "csv", "as_of": future})
        assert r.status_code == 400
        assert "in the future" in r.json()["as_of"][0]
    with pytest.raises(CommandError, match="in the future"):
        _export(tmp_path, world, "csv", as_of=future)
    # Without as_of the export names the (past) instant it covers, and that as_of reproduces it.
    r = api.get("/api/v1/tournaments/ai-public/crowd-export/", {"format": "csv"})
    first = b"".join(r.streaming_content)
    as_of = r["X-Takeoff-As-Of"]
    token_client(world.outsider).post(
        "/api/v1/forecasts/", {"question": world.open_q.pk, "probability": 0.5}, format="json"
    )
    again = api.get(
        "/api/v1/tournaments/ai-public/crowd-export/", {"format": "csv", "as_of": as_of}
    )
    assert b"".join(again.streaming_content) == first
