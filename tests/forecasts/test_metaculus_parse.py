"""Reading Metaculus's forecast-data download: the sample parses, every broken row is named."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from forecasts.metaculus import COLUMNS, parse_metaculus

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "metaculus-format" / "forecasts.csv"


def _rows() -> list[dict[str, str]]:
    return list(csv.DictReader(SAMPLE.open(encoding="utf-8")))


def _write(tmp_path: Path, rows: list[dict[str, str]]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "forecasts.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _line_of(rows: list[dict[str, str]], forecast_id: str) -> int:
    return 2 + next(i for i, r in enumerate(rows) if r["forecast_id"] == forecast_id)


def test_the_sample_parses_whole() -> None:
    f = parse_metaculus(SAMPLE)
    assert f.errors == []
    assert [q.type for q in f.questions.values()] == [
        "binary",
        "multiple_choice",
        "numeric",
        "numeric",
    ]
    assert len(f.forecasts) == 32
    mc = f.questions["102"]
    assert mc.options == ["Org A", "Org B", "Org C", "Other"]
    assert (mc.outcome.kind, mc.outcome.option) == ("option", 1)  # "Org B"
    numeric = f.questions["103"]
    assert numeric.scale is not None and numeric.scale.open_lower and not numeric.scale.open_upper
    assert (numeric.outcome.kind, numeric.outcome.value) == ("value", 83.5)
    log_scale = f.questions["104"]
    assert log_scale.scale is not None and log_scale.scale.zero_point == 0.0
    first = f.forecasts[0]
    assert (first.author_id, first.name, first.probability) == ("9000", "alpha", 0.427)
    cdfs = [fc.values for fc in f.forecasts if fc.question_id == "103"]
    assert all(v is not None and v.shape == (201,) and v[-1] == 1.0 for v in cdfs)


def _broken(rows: list[dict[str, str]], forecast_id: str, column: str, value: str) -> None:
    for r in rows:
        if r["forecast_id"] == forecast_id:
            r[column] = value


def _cdf_of(rows: list[dict[str, str]], forecast_id: str) -> list[float]:
    row = next(r for r in rows if r["forecast_id"] == forecast_id)
    return json.loads(row["continuous_cdf"])


@pytest.mark.parametrize(
    ("forecast_id", "column", "make", "reason"),
    [
        ("1017", "continuous_cdf", lambda c: [*c[:100], c[100] - 0.05, *c[101:]], "decreas"),
        ("1017", "continuous_cdf", lambda c: c[:200], "201"),
        ("1017", "continuous_cdf", lambda c: [*c[:50], float("nan"), *c[51:]], "number"),
        # the upper bound of question 103 is closed: no mass may lie above it
        ("1017", "continuous_cdf", lambda c: [*c[:200], 0.98], "upper bound"),
    ],
)
def test_a_broken_cdf_is_named_with_its_line(
    tmp_path: Path, forecast_id: str, column: str, make, reason: str
) -> None:
    rows = _rows()
    cdf = make(_cdf_of(rows, forecast_id))
    _broken(rows, forecast_id, column, json.dumps(cdf).replace("NaN", "NaN"))
    f = parse_metaculus(_write(tmp_path, rows))
    line = _line_of(rows, forecast_id)
    assert len(f.errors) == 1, f.errors
    assert f.errors[0].startswith(f"forecasts.csv line {line}: ")
    assert reason in f.errors[0].lower()
    assert all(fc.line != line for fc in f.forecasts)


def test_probabilities_that_do_not_sum_to_one_are_refused(tmp_path: Path) -> None:
    rows = _rows()
    _broken(rows, "1010", "probability_yes_per_category", "[0.3, 0.3, 0.3, 0.3]")
    f = parse_metaculus(_write(tmp_path, rows))
    assert len(f.errors) == 1
    assert f.errors[0].startswith(f"forecasts.csv line {_line_of(rows, '1010')}: ")
    assert "sum" in f.errors[0]


def test_an_unknown_option_label_is_refused_on_every_row(tmp_path: Path) -> None:
    rows = _rows()
    for r in rows:
        if r["question_id"] == "102":
            r["resolution"] = "Org Z"
    f = parse_metaculus(_write(tmp_path, rows))
    first = _line_of(rows, "1009")
    assert f.errors == [
        f"forecasts.csv line {first}: question 102: resolution 'Org Z' is not one of the "
        "options ['Org A', 'Org B', 'Org C', 'Other']"
    ]
    assert not [fc for fc in f.forecasts if fc.question_id == "102"]


def test_a_resolution_outside_a_closed_range_is_refused(tmp_path: Path) -> None:
    rows = _rows()
    for r in rows:
        if r["question_id"] == "103":
            r["resolution"] = "120"  # range [40, 100], upper bound closed
    f = parse_metaculus(_write(tmp_path, rows))
    assert len(f.errors) == 1
    assert "outside the range [40, 100]" in f.errors[0]
    assert f.errors[0].startswith(f"forecasts.csv line {_line_of(rows, '1017')}: question 103")


def test_outside_an_open_range_resolves_below_or_above(tmp_path: Path) -> None:
    rows = _rows()
    for r in rows:
        if r["question_id"] == "103":
            r["resolution"] = "below_lower_bound"
        if r["question_id"] == "104":
            r["resolution"] = "20000"
    f = parse_metaculus(_write(tmp_path, rows))
    assert f.errors == []
    assert f.questions["103"].outcome.kind == "below"
    assert f.questions["104"].outcome.kind == "above"


def test_question_fields_must_agree_across_rows(tmp_path: Path) -> None:
    rows = _rows()
    _broken(rows, "1003", "question_title", "Another title")
    f = parse_metaculus(_write(tmp_path, rows))
    assert f.errors == [
        f"forecasts.csv line {_line_of(rows, '1003')}: question 101's question_title differ "
        f"from line {_line_of(rows, '1001')}"
    ]


def test_repeats_are_dropped_and_conflicts_named(tmp_path: Path) -> None:
    rows = _rows()
    rows.append(dict(rows[0]))
    f = parse_metaculus(_write(tmp_path, rows))
    assert f.errors == [] and len(f.forecasts) == 32
    conflict = dict(rows[0], probability_yes="0.9")
    rows[-1] = conflict
    f = parse_metaculus(_write(tmp_path, rows))
    assert f.errors == [
        f"forecasts.csv line {len(rows) + 1}: author 9000 on question 101 at "
        "2025-03-11T10:00:00+00:00 differs from line 2: conflicting rows"
    ]


def test_ambiguous_annuls_and_an_empty_cell_leaves_unresolved(tmp_path: Path) -> None:
    rows = _rows()
    for r in rows:
        if r["question_id"] == "101":
            r["resolution"] = "ambiguous"
        if r["question_id"] == "102":
            r["resolution"] = ""
    f = parse_metaculus(_write(tmp_path, rows))
    assert f.errors == []
    assert f.questions["101"].outcome.kind == "annulled"
    assert f.questions["102"].outcome is None and f.questions["102"].resolve_time is None


def test_missing_columns_and_garbage_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "forecasts.csv"
    path.write_text("question_id,type\n1,binary\n", encoding="utf-8")
    f = parse_metaculus(path)
    assert f.errors and "missing column(s)" in f.errors[0]
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert parse_metaculus(path).errors


def test_cdf_values_are_kept_as_given() -> None:
    f = parse_metaculus(SAMPLE)
    rows = _rows()
    given = np.asarray(json.loads(rows[16]["continuous_cdf"]))
    assert np.array_equal(f.forecasts[16].values, given)


@pytest.mark.parametrize(
    ("forecast_id", "column"),
    [("1017", "continuous_cdf"), ("1010", "probability_yes_per_category")],
)
def test_a_json_integer_too_large_for_a_float_is_named_with_its_line(
    tmp_path: Path, forecast_id: str, column: str
) -> None:
    """``json.loads`` keeps 10**400 as an int; ``math.isfinite`` of it raised OverflowError,
    which escaped the parser (a traceback instead of the line and reason)."""
    rows = _rows()
    row = next(r for r in rows if r["forecast_id"] == forecast_id)
    row[column] = "[" + "1" + "0" * 400 + ", " + row[column][1:]
    f = parse_metaculus(_write(tmp_path, rows))
    line = _line_of(rows, forecast_id)
    assert f.errors == [f"forecasts.csv line {line}: {column}[0] is not a finite number"]
    assert all(fc.line != line for fc in f.forecasts)


def test_ids_longer_than_their_key_columns_are_named_with_their_line(tmp_path: Path) -> None:
    """SQLite stored a 300-character question key or author key; PostgreSQL raised DataError
    while writing, after the file had been checked: now both are refused by the parser."""
    rows = _rows()
    long_qid = next(r for r in rows if r["forecast_id"] == "1010")["question_id"] + "9" * 95
    for r in rows:
        if r["question_id"] == "102":
            r["question_id"] = long_qid
    _broken(rows, "1001", "author_id", "a" * 151)
    f = parse_metaculus(_write(tmp_path, rows))
    first_mc = min(_line_of(rows, r["forecast_id"]) for r in rows if r["question_id"] == long_qid)
    author_line = _line_of(rows, "1001")
    assert f"forecasts.csv line {author_line}: author_id is 151 characters long; at most 150" in (
        f.errors
    )
    assert (
        f"forecasts.csv line {first_mc}: question_id is 98 characters long; at most 90" in f.errors
    )
    assert long_qid not in f.questions
