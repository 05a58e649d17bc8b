"""Crowd exports: the PostgreSQL fast path writes the bytes of the portable reference.

The reference here formats every row in Python from ORM values (``iso``, ``repr``, RFC 4180
quoting, formula neutralising) and computes the input digest from its definition in
``forecasts.exports``, so it shares no SQL with the code under test. On PostgreSQL the export
formats rows in SQL and reads the input digest on a second connection from the same snapshot; on
SQLite it formats in Python. Both must give these bytes: earlier exports are verified by
regenerating them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.db import connection, transaction
from rest_framework.test import APIClient

from forecasts import exports
from forecasts.models import CrowdPoint, Forecast, Forecaster
from forecasts.pseudonyms import pseudonym
from forecasts.services import (
    crowd_recompute,
    forecast_submit,
    forecast_withdraw,
    forecaster_for_user,
)
from markets.models import Tournament
from tests.factories import ForecasterFactory, QuestionFactory, TournamentFactory, UserFactory

UTC = dt.UTC
T0 = dt.datetime(2030, 1, 1, tzinfo=UTC)
AS_OF = T0 + dt.timedelta(days=1)
# A key a spreadsheet would run as a formula (neutralised with a leading ', then quoted).
KEYS = ("plain", 'odd, "key"', "ünï-ключ", "=SUM(1,2)")


def at(seconds: int, micros: int = 0) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds, microseconds=micros)


def build_history(slug: str = "fast-path") -> Tournament:
    """Four questions with the cases that shape the bytes.

    Times with and without microseconds; three forecasts at one instant; withdrawals, down to a
    point with no forecaster (empty probability, median and mean); imported forecasters whose
    keys need JSON escaping, at one instant; keys that need CSV quoting, formula neutralising or
    are not ASCII; a forecast after the as-of time; and a median left for the after-commit task
    (filled before the export reads).
    """
    tournament = Tournament.objects.create(slug=slug, name="Fast path", min_forecasters=1)
    people = [forecaster_for_user(UserFactory()) for _ in range(4)]
    for key in KEYS:
        q = QuestionFactory(tournament=tournament, key=key)

        def submit(who: Forecaster, p: float, when: dt.datetime, q=q) -> None:
            forecast_submit(question_id=q.pk, forecaster=who, probability=p, at=when)

        def withdraw(who: Forecaster, when: dt.datetime, q=q) -> None:
            forecast_withdraw(question_id=q.pk, forecaster=who, at=when)

        submit(people[0], 0.2, at(1))
        submit(people[1], 0.35, at(2, 7))
        for who, p in zip(people[:3], (0.9, 0.1, 1 / 3), strict=True):
            submit(who, p, at(3, 999_999))
        withdraw(people[1], at(4, 500_000))
        submit(people[3], 0.999, at(5, 1))
        for i, who in enumerate((people[0], people[2], people[3])):
            withdraw(who, at(6, 123_456 + i))
        submit(people[0], 0.001, at(7))
        submit(people[2], 0.6, at(86_400 * 2))  # after AS_OF
    first = tournament.questions.get(key=KEYS[0])
    for i, key in enumerate(('r "quoted"', "r,comma", "ïmpört", "back\\slash")):
        imported = Forecaster.objects.create(source="survey", key=key)
        Forecast.objects.create(
            question=first, forecaster=imported, probability=0.25 + i / 10, time=at(8)
        )
    crowd_recompute(question_id=first.pk)
    CrowdPoint.objects.filter(question=first, seq=2).update(median=None)
    return tournament


def plan(tournament: Tournament, fmt: str = "csv", **kwargs: Any) -> exports.CrowdExport:
    return exports.crowd_export_plan(tournament=tournament, fmt=fmt, as_of=AS_OF, **kwargs)


def _repr(value: float | None) -> str:
    return "" if value is None else repr(value)


def _csv_field(text: str) -> str:
    # docs/researcher-guide.md: a text cell starting with = + - @ TAB or CR gets a leading '.
    text = "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\r\n') else text


def reference_csv(export: exports.CrowdExport) -> bytes:
    lines = ["question,time,forecasters,probability,median,mean\n"]
    for qid, key in export.questions:
        points = CrowdPoint.objects.filter(question_id=qid, time__lte=export.as_of)
        if export.public:  # the public series only (docs/privacy.md)
            points = points.filter(
                public_seq__isnull=False, forecasters__gte=export.min_public_forecasters
            )
        points = points.order_by("seq").values_list(
            "time", "forecasters", "probability", "median", "mean"
        )
        lines += [
            f"{_csv_field(key)},{exports.iso(t)},{n},{_repr(p)},{_repr(m)},{_repr(a)}\n"
            for t, n, p, m, a in points
        ]
    return "".join(lines).encode()


def reference_digest(export: exports.CrowdExport) -> tuple[str, int]:
    events = []
    for qid, key in export.questions:
        for f in Forecast.objects.filter(question_id=qid, time__lte=export.as_of).select_related(
            "forecaster"
        ):
            name = pseudonym(
                f.forecaster_id, imported_key=f.forecaster.key, source=f.forecaster.source
            )
            line = json.dumps(
                [key, exports.iso(f.time), name, f.probability], separators=(",", ":")
            )
            events.append((key, f.time, line + "\n"))
    events.sort()
    data = "".join(line for _, _, line in events).encode()
    return hashlib.sha256(data).hexdigest(), len(events)


def fill_then_reference(export: exports.CrowdExport) -> tuple[bytes, tuple[str, int]]:
    exports.fill_pending_medians(export)
    return reference_csv(export), reference_digest(export)


def in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on another thread, hence on another database connection (then closed)."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # re-raised below
            out["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the SQL formatting and shared snapshots are PostgreSQL's; CI runs it")


@pytest.mark.django_db
def test_every_database_renders_the_reference_bytes():
    export = plan(build_history())
    expected, _ = fill_then_reference(export)
    assert b"".join(exports.render(export)) == expected
    text = expected.decode()
    # The cases are there: an empty point, a quoted key, microseconds both ways.
    assert ",0,,,\n" in text and '"odd, ""key""",' in text
    assert "T00:00:01.000000Z," in text and "T00:00:02.000007Z," in text


@pytest.mark.django_db
def test_every_database_computes_the_reference_input_digest():
    export = plan(build_history())
    _, expected = fill_then_reference(export)
    with exports.snapshot():
        assert exports.input_digest(export) == expected
    # Eleven events per question up to AS_OF, four imported.
    assert expected[1] == len(KEYS) * 11 + 4


@pytest.mark.django_db
def test_chunks_and_blocks_of_any_size_give_the_same_bytes(monkeypatch):
    """Chunk boundaries inside groups of equal times, and a gap in ``seq`` wider than a chunk."""
    tournament = build_history()
    export = plan(tournament)
    first = tournament.questions.get(key=KEYS[0])
    CrowdPoint.objects.filter(question=first, seq__in=range(3, 10)).delete()
    expected_csv, expected_digest = fill_then_reference(export)
    for rows in (1, 2, 3, 4, 7):
        monkeypatch.setattr(exports, "SQL_CHUNK", rows)
        monkeypatch.setattr(exports, "FETCH_ROWS", rows)
        assert b"".join(exports.render(export)) == expected_csv, rows
        with exports.snapshot():
            assert exports.input_digest(export) == expected_digest, rows


@pytest.mark.django_db(transaction=True)
def test_a_manifest_read_on_two_connections_equals_the_reference(monkeypatch, tmp_path):
    export = plan(build_history())
    expected_csv, (expected_sha, expected_count) = fill_then_reference(export)
    calls = []
    parallel = exports._input_digest_in_snapshot

    def spy(*args: Any) -> tuple[str, int]:
        calls.append(threading.get_ident())
        return parallel(*args)

    monkeypatch.setattr(exports, "_input_digest_in_snapshot", spy)
    manifest = exports.write_export(export, tmp_path / "crowd.csv")
    assert (tmp_path / "crowd.csv").read_bytes() == expected_csv
    assert manifest["input"]["sha256"] == expected_sha
    assert manifest["input"]["forecast_events"] == expected_count
    assert manifest["output"]["sha256"] == hashlib.sha256(expected_csv).hexdigest()
    on_postgres = connection.vendor == "postgresql"
    assert len(calls) == on_postgres and threading.get_ident() not in calls
    # Inside a caller's transaction the digest is read on the caller's connection: same manifest.
    with transaction.atomic():
        inner = exports.build_manifest(export, filename="crowd.csv")
    assert len(calls) == on_postgres
    assert inner == manifest
    assert exports.verify_manifest(exports.manifest_path(tmp_path / "crowd.csv")).ok


@pytest.mark.parametrize("fmt", ["json", "parquet"])
@pytest.mark.django_db(transaction=True)
def test_json_and_parquet_manifests_carry_the_reference_input_digest(fmt, tmp_path):
    export = plan(build_history(), fmt=fmt)
    _, (expected_sha, expected_count) = fill_then_reference(export)
    manifest = exports.write_export(export, tmp_path / f"crowd.{fmt}")
    assert (manifest["input"]["sha256"], manifest["input"]["forecast_events"]) == (
        expected_sha,
        expected_count,
    )
    assert exports.verify_manifest(exports.manifest_path(tmp_path / f"crowd.{fmt}")).ok


@pytest.mark.django_db(transaction=True)
def test_the_input_digest_reads_the_snapshot_of_the_rows_not_later_commits():
    postgres_only()
    tournament = build_history()
    export = plan(tournament)
    _, before = fill_then_reference(export)
    question = tournament.questions.get(key=KEYS[1])
    late = ForecasterFactory()
    with exports.snapshot():
        snapshot_id = exports._export_snapshot()
        # Committed by another connection after the snapshot was taken, with a time in range.
        in_thread(
            lambda: Forecast.objects.create(
                question=question, forecaster=late, probability=0.5, time=at(9)
            )
        )
        seen = in_thread(lambda: exports._input_digest_in_snapshot(export, snapshot_id))
    assert seen == before
    assert reference_digest(export) != before  # a new snapshot sees the late forecast


@pytest.mark.django_db
def test_postgresql_float_text_is_python_repr():
    postgres_only()
    rng = random.Random(2026)
    values = [rng.random() for _ in range(300_000)]
    values += [10 ** rng.uniform(-12, 0) for _ in range(100_000)]
    values += [round(rng.random(), rng.randint(1, 17)) for _ in range(100_000)]
    values += [1.0, 0.5, 0.1 + 0.2, 1e-05, 2.5e-08, 5e-324, 0.001, 0.999, 1 - 2**-53, 1 / 3]
    values = [v for v in values if 0 < v <= 1]
    with exports.snapshot(), connection.cursor() as cur:
        cur.execute(
            f"SELECT {exports.PG_REPR.format('v')} "
            "FROM unnest(%s::float8[]) WITH ORDINALITY AS t(v, i) ORDER BY i",
            [values],
        )
        got = [text for (text,) in cur.fetchall()]
    assert got == [repr(v) for v in values]


@pytest.mark.django_db
def test_postgresql_time_text_is_iso():
    postgres_only()
    rng = random.Random(7)
    start = dt.datetime(1970, 1, 1, tzinfo=UTC)
    times = [
        start + dt.timedelta(microseconds=rng.randrange(130 * 365 * 86_400 * 10**6))
        for _ in range(20_000)
    ]
    times += [t.replace(microsecond=0) for t in times[:1000]]
    times += [dt.datetime(2028, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC)]
    with exports.snapshot(), connection.cursor() as cur:
        cur.execute(
            f"SELECT {exports.PG_TIME.format('t')} "
            "FROM unnest(%s::timestamptz[]) WITH ORDINALITY AS x(t, i) ORDER BY i",
            [times],
        )
        got = [text for (text,) in cur.fetchall()]
    assert got == [exports.iso(t) for t in times]


@pytest.mark.django_db
@time_machine.travel(dt.datetime(2030, 1, 3, tzinfo=UTC), tick=False)  # the as_of is past
def test_api_exports_of_revealed_questions_are_the_reference_bytes():
    tournament = TournamentFactory(slug="reveal-export", min_forecasters=3)
    shown, hidden = QuestionFactory(tournament=tournament), QuestionFactory(tournament=tournament)
    for i in range(3):
        forecast_submit(
            question_id=shown.pk, forecaster=ForecasterFactory(), probability=0.3, at=at(i, 10)
        )
    forecast_submit(
        question_id=hidden.pk, forecaster=ForecasterFactory(), probability=0.7, at=at(5)
    )
    url = f"/api/v1/tournaments/{tournament.slug}/crowd-export/"
    params = {"format": "csv", "as_of": "2030-01-02T00:00:00Z"}
    staff = APIClient()
    staff.force_authenticate(UserFactory(is_staff=True))
    for client, keys, public in (
        (APIClient(), [shown.key], True),
        (staff, sorted([shown.key, hidden.key]), False),
    ):
        export = plan(tournament, question_keys=keys, public=public)
        expected_csv, (expected_sha, expected_count) = fill_then_reference(export)
        response = client.get(url, params)
        assert response.status_code == 200
        body = b"".join(response.streaming_content)
        assert body == expected_csv
        # Anonymous: the public series, one point once three forecasters are in; staff: all.
        assert body.count(b"\n") - 1 == (1 if public else 4)
        manifest = client.get(url + "manifest/", params).json()
        assert manifest["questions"] == keys
        assert manifest["series"] == ("public" if public else "full")
        assert manifest["output"]["sha256"] == hashlib.sha256(expected_csv).hexdigest()
        assert manifest["input"]["sha256"] == expected_sha
        assert manifest["input"]["forecast_events"] == expected_count
