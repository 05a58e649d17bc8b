"""Crowd exports of multiple-choice and continuous questions (forecasts.typed_exports): the
columns of each type in CSV, JSON and Parquet, the full pooled CDF at the end, manifests that
describe the types, verify_export with tamper detection, byte-identical re-exports, the public
series rule, the input digest and the raw forecasts export with vectors."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest
import time_machine
from django.core.management import CommandError, call_command

from forecasts import distributions as dist
from forecasts import exports, typed
from forecasts.models import CrowdPoint, CrowdState, Forecast
from forecasts.pseudonyms import pseudonym
from forecasts.services import (
    crowd_recompute,
    forecast_submit,
    forecast_withdraw,
    vector_history,
    vector_log,
)
from forecasts.typed_exports import CONTINUOUS_COLUMNS, date_text, final_cdf
from markets.models import Question, Tournament
from tests.factories import ForecasterFactory, QuestionFactory

UTC = dt.UTC
T0 = dt.datetime(2030, 1, 1, tzinfo=UTC)
AS_OF = T0 + dt.timedelta(days=1)
GRID = np.linspace(0.0, 1.0, 201)
MC_LABELS = ["Alpha", "=Beta, inc.", "Gamma"]
DATE_MIN, DATE_MAX = 1.7e9, 1.9e9


def standard_cdf(rng: np.random.Generator, open_lower: bool, open_upper: bool) -> np.ndarray:
    """A random standardised CDF (1% uniform floor, mass outside open bounds; §12.3)."""
    g = np.concatenate([[0.0], np.cumsum(rng.dirichlet(np.full(200, 3.0)))])
    g[-1] = 1.0
    below = 0.001 if open_lower else 0.0
    above = 0.001 if open_upper else 0.0
    return (1.0 - 0.01 - below - above) * g + 0.01 * GRID + below


def option_probs(rng: np.random.Generator, k: int) -> np.ndarray:
    p = rng.dirichlet(np.ones(k)) * (1 - 0.01 * k) + 0.01
    return p / p.sum()


def values_for(question: Question, rng: np.random.Generator) -> np.ndarray:
    if question.type == Question.Type.MULTIPLE_CHOICE:
        return option_probs(rng, len(question.options))
    return standard_cdf(rng, question.open_lower_bound, question.open_upper_bound)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def build(slug: str = "typed") -> SimpleNamespace:
    """A mixed tournament: a yes/no question, multiple choice with 3 and 2 options, numeric on a
    log scale (open above), a date question (open both ends); eight forecasters, withdrawals,
    and one forecast per question after AS_OF."""
    tournament = Tournament.objects.create(slug=slug, name="Typed", min_forecasters=1)
    rng = np.random.default_rng(7)
    yes_no = QuestionFactory(tournament=tournament, key="a-yes-no")
    mc = QuestionFactory(
        tournament=tournament, key="b-choice", type=Question.Type.MULTIPLE_CHOICE, options=MC_LABELS
    )
    mc2 = QuestionFactory(
        tournament=tournament,
        key="c-two",
        type=Question.Type.MULTIPLE_CHOICE,
        options=["yes", "no"],
    )
    log = QuestionFactory(
        tournament=tournament,
        key="d-log",
        type=Question.Type.NUMERIC,
        range_min=1.0,
        range_max=1000.0,
        zero_point=0.0,
        open_upper_bound=True,
    )
    date = QuestionFactory(
        tournament=tournament,
        key="e-date",
        type=Question.Type.DATE,
        range_min=DATE_MIN,
        range_max=DATE_MAX,
        open_lower_bound=True,
        open_upper_bound=True,
    )
    people = [ForecasterFactory() for _ in range(8)]
    for q in (yes_no, mc, mc2, log, date):
        for i in range(14):
            who = people[(3 * i) % 8]
            when = at(17 * i + 0.5)
            if i in (6, 11):
                forecast_withdraw(question_id=q.pk, forecaster=people[(3 * (i - 2)) % 8], at=when)
            elif q.type == Question.Type.BINARY:
                p = float(rng.uniform(0.05, 0.95))
                forecast_submit(question_id=q.pk, forecaster=who, probability=p, at=when)
            else:
                v = values_for(q, rng)
                forecast_submit(question_id=q.pk, forecaster=who, values=v, at=when)
        late = at(3 * 24 * 60)  # after AS_OF
        if q.type == Question.Type.BINARY:
            forecast_submit(question_id=q.pk, forecaster=people[0], probability=0.5, at=late)
        else:
            forecast_submit(
                question_id=q.pk, forecaster=people[0], values=values_for(q, rng), at=late
            )
    return SimpleNamespace(
        tournament=tournament, yes_no=yes_no, mc=mc, mc2=mc2, log=log, date=date, people=people
    )


@pytest.fixture
def world(db) -> SimpleNamespace:
    return build()


def plan(world: SimpleNamespace, fmt: str, **kwargs) -> exports.CrowdExport:
    return exports.crowd_export_plan(
        tournament=world.tournament, fmt=fmt, as_of=kwargs.pop("as_of", AS_OF), **kwargs
    )


def write(tmp_path: Path, export: exports.CrowdExport, name: str = "crowd") -> Path:
    out = tmp_path / f"{name}.{export.fmt}"
    exports.write_export(export, out)
    return out


def csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def points(question: Question, as_of: dt.datetime = AS_OF) -> list[CrowdPoint]:
    return list(CrowdPoint.objects.filter(question=question, time__lte=as_of).order_by("seq"))


def scale_of(q: Question) -> dist.Scale:
    return dist.Scale(
        q.range_min, q.range_max, q.open_lower_bound, q.open_upper_bound, q.zero_point
    )


EXPECTED_COLUMNS = [
    "question",
    "time",
    "forecasters",
    "probability",
    "median",
    "mean",
    "p_0",
    "p_1",
    "p_2",
    *CONTINUOUS_COLUMNS,
]


# --- CSV -------------------------------------------------------------------------------------


def test_csv_has_a_column_group_per_type_and_the_stored_values(world, tmp_path):
    out = write(tmp_path, plan(world, "csv"))
    text = out.read_text()
    assert text.splitlines()[0] == ",".join(EXPECTED_COLUMNS)
    rows = csv_rows(out)
    by_key: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_key.setdefault(row["question"], []).append(row)
    # The formula-like label does not reach the CSV: columns are named by index.
    assert "Beta" not in text
    # Multiple choice: the stored pooled probabilities, repr, the missing third option empty.
    for q, k in ((world.mc, 3), (world.mc2, 2)):
        stored = points(q)
        assert len(by_key[q.key]) == len(stored)
        for row, point in zip(by_key[q.key], stored, strict=True):
            assert row["time"] == exports.iso(point.time)
            assert int(row["forecasters"]) == point.forecasters
            assert row["probability"] == row["median"] == row["mean"] == ""
            assert all(row[c] == "" for c in CONTINUOUS_COLUMNS)
            probs = typed.from_bytes(point.summary).tolist()
            assert [row[f"p_{i}"] for i in range(k)] == [repr(p) for p in probs]
            assert all(row[f"p_{i}"] == "" for i in range(k, 3))
    # Numeric, log scale: quantile locations mapped to value units, tails as stored.
    scale = scale_of(world.log)
    for row, point in zip(by_key[world.log.key], points(world.log), strict=True):
        summary = typed.from_bytes(point.summary)
        values = scale.value(summary[:5]).tolist()
        assert [row[c] for c in ("q05", "q25", "q50", "q75", "q95")] == [repr(v) for v in values]
        assert [row["below"], row["above"]] == [repr(v) for v in summary[5:].tolist()]
        assert all(row[f"p_{i}"] == "" for i in range(3))
        assert 1.0 <= float(row["q05"]) <= float(row["q50"]) <= float(row["q95"]) <= 1000.0
        assert float(row["below"]) == 0.0  # closed lower bound
    # On a log scale the median value is not the midpoint of the range at location 0.5.
    assert scale.value(0.5) == pytest.approx(np.sqrt(1000.0), rel=1e-12)
    # Date: ISO 8601 UTC, microseconds.
    date_scale = scale_of(world.date)
    for row, point in zip(by_key[world.date.key], points(world.date), strict=True):
        seconds = date_scale.value(typed.from_bytes(point.summary)[:5]).tolist()
        assert [row[c] for c in ("q05", "q25", "q50", "q75", "q95")] == [
            date_text(s) for s in seconds
        ]
        parsed = dt.datetime.fromisoformat(row["q50"].replace("Z", "+00:00"))
        assert abs(parsed.timestamp() - seconds[2]) <= 1e-6
    # Yes/no rows: as in a yes/no-only export, then empty typed cells.
    for row, point in zip(by_key[world.yes_no.key], points(world.yes_no), strict=True):
        assert row["probability"] == repr(point.probability)
        assert all(row[c] == "" for c in EXPECTED_COLUMNS[6:])
    # Only what was there at AS_OF, in key order.
    assert [r["question"] for r in rows] == sorted(r["question"] for r in rows)
    assert all(r["time"] <= exports.iso(AS_OF) for r in rows)


def test_a_yes_no_question_keeps_its_bytes_and_gains_only_empty_cells(world, tmp_path):
    alone = exports.crowd_export_plan(
        tournament=world.tournament, fmt="csv", question_key=world.yes_no.key, as_of=AS_OF
    )
    alone_lines = b"".join(exports.render(alone)).decode().splitlines()
    assert alone_lines[0] == ",".join(exports.COLUMNS)
    mixed_lines = [
        line
        for line in b"".join(exports.render(plan(world, "csv"))).decode().splitlines()
        if line.startswith(world.yes_no.key + ",")
    ]
    tail = "," * (len(EXPECTED_COLUMNS) - len(exports.COLUMNS))
    assert mixed_lines == [line + tail for line in alone_lines[1:]]


def test_an_export_of_one_typed_question_has_only_its_columns(world, tmp_path):
    one = exports.crowd_export_plan(
        tournament=world.tournament, fmt="csv", question_key=world.mc2.key, as_of=AS_OF
    )
    assert one.columns == ("question", "time", "forecasters", "p_0", "p_1")
    log = exports.crowd_export_plan(
        tournament=world.tournament, fmt="parquet", question_key=world.log.key, as_of=AS_OF
    )
    assert log.columns == ("question", "time", "forecasters", *CONTINUOUS_COLUMNS, "cdf")


# --- JSON and Parquet ------------------------------------------------------------------------


def test_json_holds_the_csv_rows_and_the_full_cdf_on_each_continuous_questions_last_row(
    world, tmp_path
):
    rows_csv = csv_rows(write(tmp_path, plan(world, "csv")))
    out = write(tmp_path, plan(world, "json"))
    rows = json.loads(out.read_text())
    assert out.read_bytes().isascii()
    assert list(rows[0]) == [*EXPECTED_COLUMNS, "cdf"]
    assert len(rows) == len(rows_csv)
    for row, row_csv in zip(rows, rows_csv, strict=True):
        for column in EXPECTED_COLUMNS:
            value = row[column]
            assert ("" if value is None else str(value)) == row_csv[column], column
    for q in (world.log, world.date):
        mine = [r for r in rows if r["question"] == q.key]
        assert all(r["cdf"] is None for r in mine[:-1])
        cdf = np.array(mine[-1]["cdf"])
        assert cdf.shape == (201,) and np.all(np.diff(cdf) >= 0)
        # The full distribution agrees with the last point's summary …
        summary = typed.from_bytes(points(q)[-1].summary)
        assert dist.quantiles(cdf, [0.5], scale_of(q))[0] == pytest.approx(
            scale_of(q).value(summary[2]), rel=1e-9
        )
        assert cdf[0] == pytest.approx(summary[5], abs=1e-12)
        assert 1 - cdf[-1] == pytest.approx(summary[6], abs=1e-12)
    assert all(r["cdf"] is None for r in rows if r["question"] in ("a-yes-no", "b-choice"))


def test_the_cdf_at_the_end_is_the_current_crowd_when_as_of_covers_every_event(world, tmp_path):
    as_of = at(4 * 24 * 60)
    rows = json.loads(b"".join(exports.render(plan(world, "json", as_of=as_of))))
    last = [r for r in rows if r["question"] == world.log.key][-1]
    state = CrowdState.objects.get(question=world.log)
    assert last["cdf"] == pytest.approx(typed.from_bytes(state.vector).tolist(), abs=1e-9)


def test_parquet_has_typed_columns_dates_in_unix_seconds_and_a_cdf_list(world, tmp_path):
    rows_csv = csv_rows(write(tmp_path, plan(world, "csv")))
    table = pq.read_table(write(tmp_path, plan(world, "parquet")))
    assert table.column_names == [*EXPECTED_COLUMNS, "cdf"]
    assert str(table.schema.field("cdf").type) == "list<element: double>"
    assert str(table.schema.field("q50").type) == "double"
    rows = table.to_pylist()
    assert len(rows) == len(rows_csv)
    for row, row_csv in zip(rows, rows_csv, strict=True):
        assert exports.iso(row["time"]) == row_csv["time"]
        for column in EXPECTED_COLUMNS[2:]:
            value = row[column]
            if row["question"] == world.date.key and column in ("q05", "q25", "q50", "q75", "q95"):
                assert date_text(value) == row_csv[column]
                assert DATE_MIN <= value <= DATE_MAX
            else:
                assert ("" if value is None else repr(value)) == row_csv[column], column
    json_rows = json.loads(b"".join(exports.render(plan(world, "json"))))
    assert [r["cdf"] for r in rows] == [r["cdf"] for r in json_rows]


@pytest.mark.parametrize(("extremize", "half_life_hours"), [(1.0, None), (1.7, 0.5)])
def test_the_final_cdf_is_the_engines_pool_after_that_event(db, extremize, half_life_hours):
    tournament = Tournament.objects.create(
        slug="pool", name="Pool", extremize=extremize, half_life_hours=half_life_hours
    )
    q = QuestionFactory(
        tournament=tournament,
        type=Question.Type.NUMERIC,
        range_min=-5.0,
        range_max=5.0,
        open_lower_bound=True,
    )
    rng = np.random.default_rng(3)
    people = [ForecasterFactory() for _ in range(4)]
    for i in range(12):
        who = people[i % 4]
        if i == 7:
            forecast_withdraw(question_id=q.pk, forecaster=people[3], at=at(10 * i))
        else:
            forecast_submit(
                question_id=q.pk, forecaster=who, values=values_for(q, rng), at=at(10 * i)
            )
    # Everyone withdraws at the end: no crowd, no CDF.
    for who in people[:3]:
        forecast_withdraw(question_id=q.pk, forecaster=who, at=at(500))
    ev = vector_log(q)
    for n, point in enumerate(CrowdPoint.objects.filter(question=q).order_by("seq"), 1):
        got = final_cdf(q, point.forecast_id)
        prefix = dataclasses.replace(
            ev,
            **{
                f: getattr(ev, f)[:n]
                for f in ("ids", "times", "forecaster", "probs", "track_record_weight", "values")
            },
            stamps=ev.stamps[:n],
        )
        last = vector_history(q, prefix).last
        if point.summary is None:
            assert got is None and np.isnan(last).all()
            continue
        assert got == pytest.approx(typed.crowd_vector(q, last).tolist(), abs=1e-12)
        summary = typed.from_bytes(point.summary)
        assert got[0] == pytest.approx(summary[5], abs=1e-12)
    with pytest.raises(LookupError):
        final_cdf(q, 10**9)


# --- reproducibility, manifests, verify ------------------------------------------------------


@pytest.mark.parametrize("fmt", exports.FORMATS)
def test_re_export_gives_the_same_bytes_and_verifies(world, tmp_path, fmt):
    first = write(tmp_path, plan(world, fmt), "one")
    # Later forecasts change nothing as of AS_OF.
    rng = np.random.default_rng(99)
    for q in (world.mc, world.log, world.date):
        forecast_submit(
            question_id=q.pk, forecaster=world.people[5], values=values_for(q, rng), at=at(5000)
        )
    second = write(tmp_path, plan(world, fmt), "two")
    assert first.read_bytes() == second.read_bytes()
    report = io.StringIO()
    call_command("verify_export", str(exports.manifest_path(first)), "--no-progress", stdout=report)
    assert "MATCH" in report.getvalue()


def test_the_manifest_describes_types_columns_and_the_distribution(world, tmp_path):
    out = write(tmp_path, plan(world, "parquet"))
    manifest = json.loads(exports.manifest_path(out).read_text())
    assert manifest["columns"] == [*EXPECTED_COLUMNS, "cdf"]
    types = manifest["types"]
    assert types["a-yes-no"] == {"type": "binary"}
    assert types["b-choice"] == {
        "type": "multiple_choice",
        "options": MC_LABELS,
        "columns": ["p_0", "p_1", "p_2"],
    }
    assert types["d-log"]["scale"] == {
        "range_min": 1.0,
        "range_max": 1000.0,
        "open_lower_bound": False,
        "open_upper_bound": True,
        "zero_point": 0.0,
        "kind": "logarithmic",
    }
    assert types["e-date"]["values"] == "Unix seconds (UTC)"
    assert "summary" in manifest["distribution"] and "cdf" in manifest["distribution"]
    assert "§13.3" in manifest["method"]["vector"]["source"]
    assert "ISO 8601" in manifest["formatting"]["typed_columns"]
    assert manifest["rows"] == sum(len(points(q)) for q in world.tournament.questions.all())


def test_a_yes_no_manifest_has_no_typed_sections(world, tmp_path):
    export = exports.crowd_export_plan(
        tournament=world.tournament, fmt="csv", question_key=world.yes_no.key, as_of=AS_OF
    )
    manifest = json.loads(exports.manifest_path(write(tmp_path, export)).read_text())
    assert manifest["columns"] == list(exports.COLUMNS)
    assert "types" not in manifest and "distribution" not in manifest
    assert "vector" not in manifest["method"]
    assert manifest["input"]["canonical_form"] == exports.INPUT_CANONICAL_FORM


def test_the_input_digest_follows_its_canonical_form_with_vectors(world, tmp_path):
    export = plan(world, "csv")
    events = []
    for qid, key in export.questions:
        for f in Forecast.objects.filter(question_id=qid, time__lte=AS_OF).select_related(
            "forecaster"
        ):
            name = pseudonym(
                f.forecaster_id, imported_key=f.forecaster.key, source=f.forecaster.source
            )
            value = (
                f.probability
                if f.probability is not None or f.values is None
                else typed.from_bytes(f.values).tolist()
            )
            line = json.dumps([key, exports.iso(f.time), name, value], separators=(",", ":"))
            events.append((key, f.time, line + "\n"))
    events.sort()
    digest = hashlib.sha256("".join(line for *_, line in events).encode()).hexdigest()
    manifest = json.loads(exports.manifest_path(write(tmp_path, export)).read_text())
    assert manifest["input"] == {
        "forecast_events": len(events),
        "sha256": digest,
        "canonical_form": exports.INPUT_CANONICAL_FORM + exports.TYPED_CANONICAL_FORM,
    }
    # A vector is not mistaken for a withdrawal: withdrawals alone are null.
    nulls = sum(line.endswith(",null]\n") for *_, line in events)
    withdrawals = Forecast.objects.filter(
        question__tournament=world.tournament, kind="withdrawal", time__lte=AS_OF
    ).count()
    assert nulls == withdrawals == 10


def test_a_changed_vector_is_reported_by_verify(world, tmp_path):
    out = write(tmp_path, plan(world, "json"))
    changed = Forecast.objects.filter(question=world.log, kind="forecast").order_by("time").first()
    cdf = typed.from_bytes(changed.values)
    cdf[1:200] = 0.5 * (cdf[1:200] + GRID[1:200])
    Forecast.objects.filter(pk=changed.pk).update(values=typed.to_bytes(cdf))
    report = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command(
            "verify_export", str(exports.manifest_path(out)), "--no-progress", stdout=report
        )
    assert exc.value.returncode == 1
    assert "input forecast set differs" in report.getvalue()
    crowd_recompute(question_id=world.log.pk)
    result = exports.verify_manifest(exports.manifest_path(out))
    assert any("recomputed bytes differ" in p for p in result.problems)


def test_a_tampered_typed_file_is_reported(world, tmp_path):
    out = write(tmp_path, plan(world, "csv"))
    data = out.read_bytes()
    row = next(line for line in data.split(b"\n") if line.startswith(b"e-date,"))
    out.write_bytes(data.replace(row, row.replace(b"Z,", b"Z ,", 1), 1))
    result = exports.verify_manifest(exports.manifest_path(out))
    assert not result.ok and any("on disk" in p for p in result.problems)


def test_relabelled_options_are_reported_by_verify(world, tmp_path):
    out = write(tmp_path, plan(world, "csv"))
    Question.objects.filter(pk=world.mc.pk).update(options=["Alpha", "Beta", "Gamma"])
    result = exports.verify_manifest(exports.manifest_path(out))
    # The bytes are the same (columns are named by index); the meaning is not.
    assert result.problems == ["question types, options or scales differ from the manifest's"]


# --- privacy: the public series --------------------------------------------------------------


def test_a_public_export_of_typed_questions_holds_only_public_points(world, tmp_path):
    export = plan(world, "json", public=True)
    threshold = export.min_public_forecasters
    rows = json.loads(b"".join(exports.render(export)))
    for q in (world.mc, world.log, world.date):
        public = [p for p in points(q) if p.public_seq is not None and p.forecasters >= threshold]
        assert 0 < len(public) < len(points(q))
        mine = [r for r in rows if r["question"] == q.key]
        assert [r["time"] for r in mine] == [exports.iso(p.time) for p in public]
    # The CDF at the end is the crowd at the last public point, not the newest (private) one.
    full = json.loads(b"".join(exports.render(plan(world, "json"))))
    public_cdf = [r for r in rows if r["question"] == world.log.key][-1]["cdf"]
    full_cdf = [r for r in full if r["question"] == world.log.key][-1]["cdf"]
    last_public = [p for p in points(world.log) if p.public_seq is not None][-1]
    summary = typed.from_bytes(last_public.summary)
    assert public_cdf[0] == pytest.approx(summary[5], abs=1e-12)
    assert 1 - public_cdf[-1] == pytest.approx(summary[6], abs=1e-12)
    assert public_cdf != full_cdf
    # The manifest records the series, and verify replays it.
    out = write(tmp_path, export)
    assert json.loads(exports.manifest_path(out).read_text())["series"] == "public"
    assert exports.verify_manifest(exports.manifest_path(out)).ok


def test_anonymous_api_export_of_a_typed_question_is_its_public_series(world, tmp_path):
    from rest_framework.test import APIClient

    with time_machine.travel(AS_OF + dt.timedelta(days=5), tick=False):  # AS_OF is past
        response = APIClient().get(
            f"/api/v1/questions/{world.log.pk}/crowd-export/",
            {"format": "csv", "as_of": exports.iso(AS_OF)},
        )
        assert response.status_code == 200
        body = b"".join(response.streaming_content)
    export = exports.crowd_export_plan(
        tournament=world.tournament,
        fmt="csv",
        question_key=world.log.key,
        as_of=AS_OF,
        public=True,
    )
    assert body == b"".join(exports.render(export))
    assert body.decode().splitlines()[0] == "question,time,forecasters," + ",".join(
        CONTINUOUS_COLUMNS
    )


# --- raw forecasts -----------------------------------------------------------------------------


def test_raw_forecasts_csv_carries_vectors_as_json_lists(world):
    export = plan(world, "csv")
    text = b"".join(exports.render_raw_forecasts(export)).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [*exports.RAW_COLUMNS, "values"]
    stored = {}
    for f in Forecast.objects.filter(question__tournament=world.tournament, time__lte=AS_OF):
        stored.setdefault(f.question.key, []).append(f)
    assert len(rows) == sum(len(v) for v in stored.values())
    for row in rows:
        if row["kind"] == "withdrawal":
            assert row["probability"] == row["values"] == ""
        elif row["question"] == world.yes_no.key:
            assert float(row["probability"]) > 0 and row["values"] == ""
        else:
            assert row["probability"] == ""
            vector = json.loads(row["values"])
            width = {world.mc.key: 3, world.mc2.key: 2}.get(row["question"], 201)
            assert len(vector) == width
            assert any(
                typed.from_bytes(f.values).tolist() == vector
                for f in stored[row["question"]]
                if f.values is not None
            )


def test_raw_forecasts_parquet_has_a_list_column_with_the_csv_values(world):
    export = plan(world, "csv")
    text = b"".join(exports.render_raw_forecasts(export)).decode()
    rows_csv = list(csv.DictReader(io.StringIO(text)))
    data = b"".join(exports.render_raw_forecasts(export, fmt="parquet"))
    assert data == b"".join(exports.render_raw_forecasts(export, fmt="parquet"))
    table = pq.read_table(io.BytesIO(data))
    assert table.column_names == [*exports.RAW_COLUMNS, "values"]
    assert str(table.schema.field("values").type) == "list<element: double>"
    for row, row_csv in zip(table.to_pylist(), rows_csv, strict=True):
        assert (row["question"], exports.iso(row["time"])) == (row_csv["question"], row_csv["time"])
        assert (row["forecaster"], row["kind"]) == (row_csv["forecaster"], row_csv["kind"])
        assert ("" if row["probability"] is None else repr(row["probability"])) == row_csv[
            "probability"
        ]
        assert row["values"] == (json.loads(row_csv["values"]) if row_csv["values"] else None)
    with pytest.raises(exports.ExportError, match="Unknown format"):
        list(exports.render_raw_forecasts(export, fmt="json"))


def test_raw_forecasts_of_yes_no_questions_only_have_no_values_column(world):
    export = dataclasses.replace(
        plan(world, "csv"),
        questions=((world.yes_no.pk, world.yes_no.key),),
        specs=(),
    )
    text = b"".join(exports.render_raw_forecasts(export)).decode()
    assert text.splitlines()[0] == ",".join(exports.RAW_COLUMNS)
    assert all(line.count(",") == 4 for line in text.splitlines())


def test_typed_points_leave_the_median_fill_alone(world, monkeypatch):
    called = []
    monkeypatch.setattr(
        "forecasts.services.crowd_fill_medians",
        lambda *, question_id: called.append(question_id) or 0,
    )
    exports.fill_pending_medians(plan(world, "csv"))
    assert world.mc.pk not in called and world.log.pk not in called


def test_a_discrete_question_exports_values_of_its_scale(db, tmp_path):
    tournament = Tournament.objects.create(slug="discrete", name="Discrete", min_forecasters=1)
    scale = dist.discrete_scale(0, 10, 1)
    q = QuestionFactory(
        tournament=tournament,
        key="count",
        type=Question.Type.DISCRETE,
        range_min=scale.range_min,
        range_max=scale.range_max,
    )
    rng = np.random.default_rng(11)
    for i in range(4):
        forecast_submit(
            question_id=q.pk, forecaster=ForecasterFactory(), values=values_for(q, rng), at=at(i)
        )
    export = exports.crowd_export_plan(tournament=tournament, fmt="csv", as_of=AS_OF)
    out = write(tmp_path, export)
    rows = csv_rows(out)
    assert list(rows[0]) == ["question", "time", "forecasters", *CONTINUOUS_COLUMNS]
    for row, point in zip(rows, points(q), strict=True):
        values = [float(row[c]) for c in ("q05", "q25", "q50", "q75", "q95")]
        assert values == scale.value(typed.from_bytes(point.summary)[:5]).tolist()
        assert -0.5 <= values[0] <= values[-1] <= 10.5
    manifest = json.loads(exports.manifest_path(out).read_text())
    assert manifest["types"]["count"]["type"] == "discrete"
    assert manifest["types"]["count"]["scale"]["range_min"] == -0.5


def test_date_text_is_the_export_time_format_or_none_outside_the_calendar():
    assert date_text(0.0) == "1970-01-01T00:00:00.000000Z"
    assert date_text(1.9e9 + 0.25) == "2030-03-17T17:46:40.250000Z"
    assert date_text(-86400.0) == "1969-12-31T00:00:00.000000Z"
    assert date_text(1e12) is None and date_text(float("nan")) is None


@pytest.mark.django_db(transaction=True)
def test_a_typed_manifest_read_on_two_connections_equals_one_read_on_one(tmp_path):
    """On PostgreSQL the input digest is read on a second connection from the export's snapshot
    (vectors formatted in Python there too); inside a caller's transaction, on one connection."""
    world = build("typed-two")
    export = plan(world, "parquet")
    manifest = exports.write_export(export, tmp_path / "crowd.parquet")
    from django.db import transaction

    with transaction.atomic():
        inner = exports.build_manifest(export, filename="crowd.parquet")
    assert inner == manifest
    assert (
        manifest["input"]["forecast_events"]
        == Forecast.objects.filter(question__tournament=world.tournament, time__lte=AS_OF).count()
    )
    assert exports.verify_manifest(exports.manifest_path(tmp_path / "crowd.parquet")).ok


def test_the_api_raw_forecasts_export_carries_vectors_under_the_recipients_pseudonyms(world):
    from rest_framework.test import APIClient

    from tests.factories import UserFactory

    staff = UserFactory(is_staff=True)
    client = APIClient()
    client.force_authenticate(staff)
    with time_machine.travel(AS_OF + dt.timedelta(days=5), tick=False):
        response = client.get(
            f"/api/v1/tournaments/{world.tournament.slug}/forecasts-export/",
            {"as_of": exports.iso(AS_OF)},
        )
        assert response.status_code == 200
        body = b"".join(response.streaming_content)
    assert body == b"".join(exports.render_raw_forecasts(plan(world, "csv"), recipient=staff.pk))
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert list(rows[0]) == [*exports.RAW_COLUMNS, "values"]
    assert {len(json.loads(r["values"])) for r in rows if r["values"]} == {2, 3, 201}
