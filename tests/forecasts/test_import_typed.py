"""import_forecasts, native format, questions of every type (docs/researcher-guide.md,
"Questions of every type"): the typed columns, forecasts in the API's payload shapes stored as
the API stores them, typed resolutions, hostile rows refused with line and reason and nothing
written, re-import changes nothing, and the round trip import → score → export_crowd /
export_scores."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from forecasts import distributions
from forecasts.models import CrowdPoint, CrowdState, Forecast, Forecaster
from forecasts.services import crowd_recompute
from markets.models import Question, Resolution, Tournament
from scoring.models import Score

pytestmark = pytest.mark.django_db

Q_COLUMNS = [
    "question",
    "title",
    "resolution",
    "question_type",
    "options",
    "range_min",
    "range_max",
    "open_lower_bound",
    "open_upper_bound",
    "zero_point",
    "open_time",
    "close_time",
]
WINDOW = {"open_time": "2025-01-01", "close_time": "2025-01-31"}
NUM_CDF = [round(0.95 * i / 200, 12) for i in range(201)]  # closed lower, open upper
PERCENTILES = {"0.05": 10, "0.25": 30, "0.5": 45, "0.75": 60, "0.95": 80}
DATE_PERCENTILES = {
    "0.05": "2025-02-01",
    "0.25": "2025-04-01",
    "0.5": "2025-06-01",
    "0.75": "2025-08-01",
    "0.95": "2025-11-01",
}


def question_rows() -> list[dict[str, str]]:
    return [
        {"question": "yn", "title": "Yes or no?", "resolution": "YES", **WINDOW},
        {
            "question": "mc",
            "title": "Which lab?",
            "resolution": "Beta",
            "question_type": "multiple_choice",
            "options": "Alpha|Beta|Gamma",
            **WINDOW,
        },
        {
            "question": "mc-json",
            "title": "Which one, in JSON?",
            "resolution": "",
            "question_type": "multiple_choice",
            "options": json.dumps(["A, inc.", "B|C"]),
            **WINDOW,
        },
        {
            "question": "num",
            "title": "How much?",
            "resolution": "42.5",
            "question_type": "numeric",
            "range_min": "0",
            "range_max": "100",
            "open_lower_bound": "false",
            "open_upper_bound": "true",
            **WINDOW,
        },
        {
            "question": "log",
            "title": "How many minutes?",
            "resolution": "12000",  # beyond the open upper bound: above
            "question_type": "numeric",
            "range_min": "60",
            "range_max": "10000",
            "open_lower_bound": "true",
            "open_upper_bound": "true",
            "zero_point": "0",
            **WINDOW,
        },
        {
            "question": "when",
            "title": "When?",
            "resolution": "2025-06-15",
            "question_type": "date",
            "range_min": "2025-01-01",
            "range_max": "2026-01-01",
            "open_lower_bound": "true",
            "open_upper_bound": "true",
            **WINDOW,
        },
        {
            "question": "cnt",
            "title": "How many labs?",
            "resolution": "annulled",
            "question_type": "discrete",
            "range_min": "-0.5",
            "range_max": "10.5",
            **WINDOW,
        },
    ]


def forecast_rows() -> list[dict[str, str]]:
    def row(who: str, q: str, time: str, probability: str = "", forecast: object = "") -> dict:
        cell = forecast if isinstance(forecast, str) else json.dumps(forecast)
        return {
            "forecaster": who,
            "question": q,
            "probability": probability,
            "forecast": cell,
            "time": time,
        }

    return [
        row("a", "yn", "2025-01-05", probability="0.7"),
        row("b", "yn", "2025-01-06", probability="0.4"),
        row("a", "mc", "2025-01-05", forecast="0.2|0.5|0.3"),
        row("b", "mc", "2025-01-06", forecast={"probabilities": [0.1, 0.6, 0.3]}),
        row("a", "mc-json", "2025-01-05", forecast=[0.4, 0.6]),
        row("a", "num", "2025-01-05", forecast={"percentiles": PERCENTILES, "above": 0.02}),
        row("b", "num", "2025-01-06", forecast=NUM_CDF),
        row("a", "log", "2025-01-05", forecast={"components": [[1, 1000, 0.3]]}),
        row("a", "when", "2025-01-05", forecast={"percentiles": DATE_PERCENTILES}),
        row("b", "when", "2025-01-07", forecast={"components": [[1, "2025-07-01", 0.1]]}),
        row("a", "cnt", "2025-01-05", forecast={"cdf": [i / 200 for i in range(201)]}),
    ]


def write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def files(tmp_path: Path, qrows=None, frows=None) -> tuple[Path, Path]:
    q = write_csv(tmp_path / "questions.csv", Q_COLUMNS, qrows or question_rows())
    f = write_csv(
        tmp_path / "forecasts.csv",
        ["forecaster", "question", "probability", "forecast", "time"],
        frows or forecast_rows(),
    )
    return q, f


def run(q: Path, f: Path, slug: str = "typed") -> str:
    out = io.StringIO()
    call_command(
        "import_forecasts",
        "--tournament",
        slug,
        "--questions",
        str(q),
        "--forecasts",
        str(f),
        "--no-progress",
        stdout=out,
    )
    return out.getvalue()


def counts() -> tuple[int, ...]:
    return (
        Tournament.objects.count(),
        Question.objects.count(),
        Forecaster.objects.count(),
        Forecast.objects.count(),
        Resolution.objects.count(),
        CrowdPoint.objects.count(),
    )


def snapshot() -> list[tuple]:
    states = CrowdState.objects.order_by("question_id").values_list(
        "question_id", "probability", "vector", "sums", "events"
    )
    return [(q, p, bytes(v or b""), bytes(s or b""), e) for q, p, v, s, e in states]


def stored(key: str, who: str) -> np.ndarray:
    fc = Forecast.objects.get(question__key=key, forecaster__key=who)
    return distributions.from_bytes(bytes(fc.values))


def scale(q: Question) -> distributions.Scale:
    return distributions.Scale(
        q.range_min, q.range_max, q.open_lower_bound, q.open_upper_bound, q.zero_point
    )


def test_every_type_imports_as_the_api_would_store_it(tmp_path: Path) -> None:
    run(*files(tmp_path))
    qs = {q.key: q for q in Question.objects.all()}
    assert {k: q.type for k, q in qs.items()} == {
        "yn": "binary",
        "mc": "multiple_choice",
        "mc-json": "multiple_choice",
        "num": "numeric",
        "log": "numeric",
        "when": "date",
        "cnt": "discrete",
    }
    assert qs["mc"].options == ["Alpha", "Beta", "Gamma"]
    assert qs["mc-json"].options == ["A, inc.", "B|C"]
    assert (qs["log"].range_min, qs["log"].range_max, qs["log"].zero_point) == (60, 10000, 0)
    assert not qs["num"].open_lower_bound and qs["num"].open_upper_bound
    assert qs["when"].range_min == distributions.parse_date_value("2025-01-01")
    # the vectors are forecast_from_payload's, as the API stores them
    assert Forecast.objects.get(question__key="yn", forecaster__key="a").probability == 0.7
    np.testing.assert_array_equal(stored("mc", "a"), np.array([0.2, 0.5, 0.3]) / 1.0)
    for key, who, payload in [
        ("num", "a", {"percentiles": PERCENTILES, "above": 0.02}),
        ("num", "b", {"cdf": NUM_CDF}),
        ("when", "a", {"percentiles": DATE_PERCENTILES}),
        ("log", "a", {"components": [[1, 1000, 0.3]]}),
    ]:
        q = qs[key]
        expected = distributions.forecast_from_payload(
            payload, question_type=q.type, scale=scale(q), n_options=None
        )
        np.testing.assert_array_equal(stored(key, who), expected)
        distributions.validate_stored_vector(
            stored(key, who), question_type=q.type, scale=scale(q), n_options=None
        )
    res = {r.question.key: r for r in Resolution.objects.filter(state="final")}
    assert res["yn"].outcome == "yes"
    assert (res["mc"].outcome, res["mc"].option) == ("option", 1)
    assert (res["num"].outcome, res["num"].value) == ("value", 42.5)
    assert res["log"].outcome == "above"
    assert (res["when"].outcome, res["when"].value) == (
        "value",
        distributions.parse_date_value("2025-06-15"),
    )
    assert res["cnt"].outcome == "annulled"
    assert "mc-json" not in res
    # the crowd is the recompute's
    before = snapshot()
    for q in qs.values():
        crowd_recompute(question_id=q.pk)
    assert snapshot() == before


def test_reimport_changes_nothing(tmp_path: Path) -> None:
    q, f = files(tmp_path)
    run(q, f)
    before, state = counts(), snapshot()
    out = run(q, f)
    assert "Nothing to change: 11 forecasts already imported." in out
    assert counts() == before and snapshot() == state


def _with(rows: list[dict[str, str]], key: str, **cells: str) -> list[dict[str, str]]:
    for row in rows:
        if row["question"] == key:
            row.update(cells)
            return rows
    raise AssertionError(key)


def _forecast(q: str, who: str, cell: object) -> list[dict[str, str]]:
    rows = forecast_rows()
    for row in rows:
        if (row["question"], row["forecaster"]) == (q, who):
            row["forecast"] = cell if isinstance(cell, str) else json.dumps(cell)
            return rows
    raise AssertionError((q, who))


DECREASING = [*NUM_CDF[:100], NUM_CDF[99] - 0.01, *NUM_CDF[101:]]
WITH_NAN = "[" + ", ".join(["0.0", "NaN"] + [repr(x) for x in NUM_CDF[2:]]) + "]"
MASS_BELOW_CLOSED = [0.05 + 0.9 * i / 200 for i in range(201)]

# (which file, rows, line, the reason's words)
HOSTILE = {
    "decreasing CDF": ("forecasts", _forecast("num", "b", DECREASING), 8, "never decreases"),
    "200-point CDF": ("forecasts", _forecast("num", "b", NUM_CDF[:200]), 8, "201 points, not 200"),
    "NaN in a CDF": ("forecasts", _forecast("num", "b", WITH_NAN), 8, "cdf[1] must be a finite"),
    "mass below a closed bound": (
        "forecasts",
        _forecast("num", "b", MASS_BELOW_CLOSED),
        8,
        "lower bound is closed, so cdf[0]",
    ),
    "mass above a closed bound": (
        "forecasts",
        _forecast("cnt", "a", [0.95 * i / 200 for i in range(201)]),
        12,
        "upper bound is closed, so cdf[200] must be 1",
    ),
    "a bare number for a continuous question": (
        "forecasts",
        _forecast("num", "a", "0.5"),
        7,
        "or a JSON list of 201 CDF points",
    ),
    "percentiles out of order": (
        "forecasts",
        _forecast("num", "a", {"percentiles": {**PERCENTILES, "0.5": 5}}),
        7,
        "'num' (numeric): ",
    ),
    "probabilities not summing to 1": (
        "forecasts",
        _forecast("mc", "a", "0.2|0.5|0.5"),
        4,
        "sum to 1.2",
    ),
    "a probability for a missing option": (
        "forecasts",
        _forecast("mc", "a", [0.5, 0.5]),
        4,
        "3 probabilities, one per option, not 2",
    ),
    "a forecast that is not JSON": ("forecasts", _forecast("num", "a", "{cdf: 1"), 7, "not valid"),
    "a typed forecast in the probability column": (
        "forecasts",
        [{**r, "probability": "0.5"} if r["question"] == "cnt" else r for r in forecast_rows()],
        12,
        "leave probability empty",
    ),
    "unknown option label": (
        "questions",
        _with(question_rows(), "mc", resolution="Delta"),
        3,
        "resolution 'Delta' is not one of the options",
    ),
    "resolution below a closed bound": (
        "questions",
        _with(question_rows(), "num", resolution="-5"),
        5,
        "outside the range [0, 100] and the lower bound is closed",
    ),
    "resolution above a closed bound": (
        "questions",
        _with(question_rows(), "cnt", resolution="11"),
        8,
        "upper bound is closed",
    ),
    "'below' on a closed bound": (
        "questions",
        _with(question_rows(), "num", resolution="below"),
        5,
        "the lower bound is closed",
    ),
    "unknown type": (
        "questions",
        _with(question_rows(), "num", question_type="percentage"),
        5,
        "question_type 'percentage' is not one of",
    ),
    "options on a numeric question": (
        "questions",
        _with(question_rows(), "num", options="A|B"),
        5,
        "a numeric question takes no options",
    ),
    "a range upside down": (
        "questions",
        _with(question_rows(), "num", range_min="100", range_max="0"),
        5,
        "range_min (100) must be below range_max (0)",
    ),
    "a repeated option": (
        "questions",
        _with(question_rows(), "mc", options="A|B|A"),
        3,
        "repeats the label 'A'",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_a_hostile_row_is_refused_with_line_and_reason_and_nothing_written(
    tmp_path: Path, case: str
) -> None:
    which, rows, line, reason = HOSTILE[case]
    q, f = files(
        tmp_path,
        qrows=rows if which == "questions" else None,
        frows=rows if which == "forecasts" else None,
    )
    with pytest.raises(CommandError) as err:
        run(q, f)
    message = str(err.value)
    assert f"{which}.csv line {line}: " in message, message
    assert reason in message, message
    assert "nothing was imported" in message
    assert message.count("line ") == 1, message  # one reason; a refused question's
    # forecasts are not reported again as rows of an unknown question
    assert counts() == (0, 0, 0, 0, 0, 0)


def test_a_changed_type_on_reimport_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    q, f = files(tmp_path)
    run(q, f)
    before, state = counts(), snapshot()
    (tmp_path / "again").mkdir()
    q2, f2 = files(tmp_path / "again", qrows=_with(question_rows(), "num", range_max="200"))
    with pytest.raises(CommandError) as err:
        run(q2, f2)
    assert "questions.csv line 5: question 'num' was imported with another range_max" in str(
        err.value
    )
    assert counts() == before and snapshot() == state


def test_a_changed_forecast_on_reimport_is_refused(tmp_path: Path) -> None:
    q, f = files(tmp_path)
    run(q, f)
    before = counts()
    (tmp_path / "again").mkdir()
    q2, f2 = files(tmp_path / "again", frows=_forecast("mc", "a", "0.3|0.4|0.3"))
    with pytest.raises(CommandError) as err:
        run(q2, f2)
    assert "forecasts.csv line 4: 'a' on 'mc'" in str(err.value)
    assert "a 3-value distribution, but the forecast already imported there" in str(err.value)
    assert counts() == before


def test_a_changed_typed_resolution_re_resolves(tmp_path: Path) -> None:
    q, f = files(tmp_path)
    run(q, f)
    (tmp_path / "again").mkdir()
    q2, f2 = files(tmp_path / "again", qrows=_with(question_rows(), "mc", resolution="Gamma"))
    out = run(q2, f2)
    assert "questions.csv line 3: mc re-resolved 'Beta' → 'Gamma'" in out
    final = Resolution.objects.get(question__key="mc", state="final")
    assert (final.outcome, final.option) == ("option", 2)


def test_round_trip_import_score_export(tmp_path: Path, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        run(*files(tmp_path))
    rules = {
        key: set(Score.objects.filter(question__key=key).values_list("rule", flat=True))
        for key in ("yn", "mc", "num", "log", "when")
    }
    assert {"brier", "log"} <= rules["yn"]
    assert {"mc_brier", "log"} <= rules["mc"]
    for key in ("num", "log", "when"):
        assert {"crps", "log"} <= rules[key], key
    assert not Score.objects.filter(question__key__in=["cnt", "mc-json"]).exists()

    scores_csv = tmp_path / "scores.csv"
    later = timezone.now() + dt.timedelta(minutes=1)  # exports stand as of one second ago
    with time_machine.travel(later, tick=False):
        call_command(
            "export_scores",
            "--tournament",
            "typed",
            "--output",
            str(scores_csv),
            stdout=io.StringIO(),
        )
    scores = list(csv.DictReader(scores_csv.open(encoding="utf-8")))
    outcomes = {r["question"]: r["outcome"] for r in scores}
    assert outcomes["yn"] == "yes"
    assert outcomes["mc"] == "option:1"
    assert outcomes["num"] == "value:42.5"
    assert outcomes["log"] == "above"
    assert outcomes["when"].startswith("value:")
    assert "cnt" not in outcomes and "mc-json" not in outcomes
    for key in ("mc", "num", "when"):
        rows = [r for r in scores if r["question"] == key and r["rule"] == "log"]
        assert {r["subject"] for r in rows} == {"forecaster", "crowd"}, key
        crowd_row = next(r for r in rows if r["subject"] == "crowd")
        crowd_score = Score.objects.get(
            question__key=key, resolution__state="final", subject="crowd", rule="log"
        )
        assert float(crowd_row["score"]) == crowd_score.score  # repr round-trips exactly

    crowd_csv = tmp_path / "crowd.csv"
    with time_machine.travel(later, tick=False):
        call_command(
            "export_crowd",
            "--tournament",
            "typed",
            "--format",
            "csv",
            "--output",
            str(crowd_csv),
            "--no-progress",
            stdout=io.StringIO(),
        )
    crowd = list(csv.DictReader(crowd_csv.open(encoding="utf-8")))
    header = list(crowd[0])
    assert {"p_0", "p_1", "p_2", "q05", "q50", "q95", "below", "above"} <= set(header)
    last = {r["question"]: r for r in crowd}  # rows in time order per question
    mc_state = CrowdState.objects.get(question__key="mc")
    pooled = distributions.from_bytes(bytes(mc_state.vector))
    got = [float(last["mc"][f"p_{k}"]) for k in range(3)]
    assert got == pytest.approx(pooled.tolist(), abs=1e-12)
    assert math.isclose(sum(got), 1.0, abs_tol=1e-9)
    num = last["num"]
    q05, q50, q95 = (float(num[c]) for c in ("q05", "q50", "q95"))
    assert 0 <= q05 < q50 < q95
    assert float(num["above"]) > 0 and num["below"] in ("", "0", "0.0")
    assert last["when"]["q50"].startswith("2025-")  # dates as ISO text
    assert last["yn"]["probability"] and not last["yn"]["p_0"]


GUIDE = Path(__file__).resolve().parents[2] / "docs" / "researcher-guide.md"


def _guide_example() -> tuple[str, str]:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("```text\nquestions.csv\n", text.index("### Questions of every type"))
    block = text[start + len("```text\n") : text.index("```", start + 8)]
    questions, forecasts = block.split("\nforecasts.csv\n")
    return questions.removeprefix("questions.csv\n"), forecasts


def test_the_guides_example_imports_and_its_errors_are_the_documented_ones(tmp_path: Path) -> None:
    questions, forecasts = _guide_example()
    q, f = tmp_path / "questions.csv", tmp_path / "forecasts.csv"
    q.write_text(questions, encoding="utf-8")
    f.write_text(forecasts, encoding="utf-8")
    run(q, f, slug="guide")
    res = {r.question.key: r for r in Resolution.objects.filter(state="final")}
    assert (res["lab"].option, res["swe"].value, res["horizon"].outcome) == (1, 42.5, "above")
    assert Forecast.objects.filter(question__tournament__slug="guide").count() == 6
    # the documented error messages, on the documented lines
    bad_q = questions.replace(",Beta,multiple_choice", ",Delta,multiple_choice").replace(
        ",42.5,numeric", ",-5,numeric"
    )
    bad_f = forecasts.replace("0.2|0.5|0.3", "0.2|0.5|0.5")
    (tmp_path / "bad").mkdir()
    q2, f2 = tmp_path / "bad" / "questions.csv", tmp_path / "bad" / "forecasts.csv"
    q2.write_text(bad_q, encoding="utf-8")
    f2.write_text(bad_f, encoding="utf-8")
    before = counts()
    with pytest.raises(CommandError) as err:
        run(q2, f2, slug="guide-bad")
    message = str(err.value)
    guide = " ".join(GUIDE.read_text(encoding="utf-8").split())
    for documented in (
        "questions.csv line 3: question 'lab': resolution 'Delta' is not one of the options "
        "(Alpha, Beta, Gamma) or annulled",
        "questions.csv line 4: question 'swe': resolution -5 is outside the range [0, 100] and "
        "the lower bound is closed",
        "forecasts.csv line 3: 'lab' (multiple_choice): The probabilities sum to 1.2; they must "
        "sum to 1.",
    ):
        assert documented in message, message
        assert documented in guide, documented
    assert counts() == before


def test_a_staff_resolution_of_a_typed_question_is_kept_and_reported(tmp_path: Path) -> None:
    from markets.resolution.manual import question_resolve

    q, f = files(tmp_path)
    run(q, f)
    mc = Question.objects.get(key="mc")
    question_resolve(
        question_id=mc.pk, outcome="option", option=2, reason="Staff: Gamma won", source="manual"
    )
    out = run(q, f)
    assert (
        "questions.csv line 3: mc is resolved 'Gamma' by staff but the file says 'Beta': kept"
        in (out)
    )
    final = Resolution.objects.get(question=mc, state="final")
    assert (final.option, final.source) == (2, "manual")
