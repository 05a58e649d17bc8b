"""import_forecasts --format metaculus: questions of every type from the rows, all or nothing,
re-import changes nothing, resolutions by type."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from forecasts import distributions
from forecasts.models import CrowdPoint, CrowdState, Forecast, Forecaster
from forecasts.services import crowd_recompute
from markets.models import Question, Resolution, Tournament
from scoring.models import Score

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "metaculus-format" / "forecasts.csv"


def run(path: Path, slug: str = "meta") -> str:
    out = io.StringIO()
    call_command(
        "import_forecasts",
        "--format",
        "metaculus",
        str(path),
        "--tournament",
        slug,
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


def test_the_sample_imports_every_type() -> None:
    run(SAMPLE)
    qs = {q.key: q for q in Question.objects.all()}
    assert {k: q.type for k, q in qs.items()} == {
        "metaculus-101": "binary",
        "metaculus-102": "multiple_choice",
        "metaculus-103": "numeric",
        "metaculus-104": "numeric",
    }
    assert qs["metaculus-102"].options == ["Org A", "Org B", "Org C", "Other"]
    log_q = qs["metaculus-104"]
    assert (log_q.range_min, log_q.range_max, log_q.zero_point) == (60.0, 10000.0, 0.0)
    assert log_q.open_lower_bound and log_q.open_upper_bound
    assert Forecast.objects.count() == 32
    assert Forecaster.objects.filter(source="meta").count() == 4
    # resolutions by type, effective at actual_resolve_time
    res = {r.question.key: r for r in Resolution.objects.filter(state="final")}
    assert (res["metaculus-101"].outcome, res["metaculus-102"].option) == ("yes", 1)
    assert (res["metaculus-103"].outcome, res["metaculus-103"].value) == ("value", 83.5)
    assert res["metaculus-104"].value == 1450.0
    assert {r.resolved_at.isoformat() for r in res.values()} == {"2025-04-01T01:00:00+00:00"}
    # the stored CDFs are the file's, bit for bit (not standardised again)
    rows = list(csv.DictReader(SAMPLE.open(encoding="utf-8")))
    given = np.asarray(json.loads(rows[16]["continuous_cdf"]))
    stored = Forecast.objects.get(
        question=qs["metaculus-103"], time="2025-03-11T10:00:00Z", forecaster__key="9000"
    )
    assert np.array_equal(distributions.from_bytes(bytes(stored.values)), given)
    # the crowd is the recompute's
    before = snapshot()
    for q in qs.values():
        crowd_recompute(question_id=q.pk)
    assert snapshot() == before
    mc = CrowdState.objects.get(question=qs["metaculus-102"])
    assert distributions.from_bytes(bytes(mc.vector)).sum() == pytest.approx(1.0, abs=1e-12)


def test_the_sample_is_scored_by_type(django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        run(SAMPLE)
    rules = {
        key: set(Score.objects.filter(question__key=key).values_list("rule", flat=True))
        for key in ("metaculus-101", "metaculus-102", "metaculus-103", "metaculus-104")
    }
    assert {"brier", "log", "baseline", "peer"} <= rules["metaculus-101"]
    assert {"mc_brier", "log", "baseline", "peer"} <= rules["metaculus-102"]
    assert {"crps", "log", "baseline", "peer"} <= rules["metaculus-103"]
    assert "crps" in rules["metaculus-104"] and "mc_brier" not in rules["metaculus-104"]
    # every forecaster and the crowd
    subjects = Score.objects.filter(question__key="metaculus-103", rule="log")
    assert subjects.filter(forecaster__isnull=False).count() == 4
    assert subjects.filter(forecaster__isnull=True).exists()


def test_reimport_changes_nothing() -> None:
    run(SAMPLE)
    before, state = counts(), snapshot()
    out = run(SAMPLE)
    assert "Nothing to change: 32 forecasts already imported." in out
    assert counts() == before and snapshot() == state


def _rows() -> list[dict[str, str]]:
    return list(csv.DictReader(SAMPLE.open(encoding="utf-8")))


def _write(tmp_path: Path, rows: list[dict[str, str]]) -> Path:
    path = tmp_path / "forecasts.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("column", "value", "line", "reason"),
    [
        ("continuous_cdf", json.dumps([0.5] * 200), 18, "201"),
        ("probability_yes_per_category", "[0.5, 0.3, 0.1, 0.2]", 10, "sum to 1.1"),
        ("resolution", "Org Z", 10, "not one of the options"),
        ("probability_yes", "1.5", 2, "outside [0.001, 0.999]"),
    ],
)
def test_a_bad_row_writes_nothing(tmp_path: Path, column, value, line, reason) -> None:
    rows = _rows()
    target = rows[line - 2]
    for r in rows:
        if column == "resolution" and r["question_id"] == target["question_id"]:
            r[column] = value
    target[column] = value
    with pytest.raises(CommandError) as err:
        run(_write(tmp_path, rows))
    assert f"forecasts.csv line {line}: " in str(err.value)
    assert reason in str(err.value)
    assert "nothing was imported" in str(err.value)
    assert counts() == (0, 0, 0, 0, 0, 0)


def test_a_changed_scale_on_reimport_is_refused(tmp_path: Path) -> None:
    run(SAMPLE)
    before = counts()
    rows = _rows()
    for r in rows:
        if r["question_id"] == "103":
            r["range_max"] = "110.0"
    with pytest.raises(CommandError, match="cannot change"):
        run(_write(tmp_path, rows))
    assert counts() == before


def test_a_new_resolution_in_the_file_re_resolves(tmp_path: Path) -> None:
    run(SAMPLE)
    rows = _rows()
    for r in rows:
        if r["question_id"] == "102":
            r["resolution"] = "Org C"
    out = run(_write(tmp_path, rows))
    assert "resolved 'Org C'" in out
    final = Resolution.objects.get(question__key="metaculus-102", state="final")
    assert (final.outcome, final.option, final.version) == ("option", 2, 2)
