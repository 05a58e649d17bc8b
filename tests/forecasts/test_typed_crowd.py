"""Multiple-choice and continuous questions in the crowd engine: submit, update, withdraw and
recompute agree to 1e-9, verify_crowd covers them, bad input writes nothing, and the type
configuration and resolution rules hold (docs/methods.md §13)."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, close_old_connections, connection, transaction

from forecasts import typed
from forecasts import vector_pooling as vp
from forecasts.errors import (
    InvalidForecastValues,
    InvalidProbability,
    NothingToWithdraw,
)
from forecasts.models import CrowdPoint, CrowdState, Forecast
from forecasts.services import (
    crowd_recompute,
    forecast_submit,
    forecast_withdraw,
    vector_history,
    vector_log,
)
from markets.errors import QuestionTypeError, ResolutionError
from markets.models import Question, Resolution
from markets.question_types import question_type_set, question_type_validate
from markets.resolution.manual import question_resolve
from tests.factories import ForecasterFactory, QuestionFactory, TournamentFactory

UTC = dt.UTC
T0 = dt.datetime(2030, 1, 1, tzinfo=UTC)
GRID = np.linspace(0.0, 1.0, 201)


def standard_cdf(rng: np.random.Generator, open_lower: bool, open_upper: bool) -> np.ndarray:
    """A random CDF standardised as Metaculus does (1% uniform floor, mass kept outside open
    bounds): docs/methods.md §13.2."""
    g = np.concatenate([[0.0], np.cumsum(rng.dirichlet(np.full(200, 3.0)))])
    g[-1] = 1.0
    if open_lower and open_upper:
        return 0.988 * g + 0.01 * GRID + 0.001
    if open_lower:
        return 0.989 * g + 0.01 * GRID + 0.001
    if open_upper:
        return 0.989 * g + 0.01 * GRID
    return 0.99 * g + 0.01 * GRID


def options(rng: np.random.Generator, k: int) -> np.ndarray:
    p = rng.dirichlet(np.ones(k)) * (1 - 0.01 * k) + 0.01
    return p / p.sum()


def mc_question(k: int = 3, **kwargs) -> Question:
    return QuestionFactory(
        type=Question.Type.MULTIPLE_CHOICE, options=[f"option {i}" for i in range(k)], **kwargs
    )


def continuous_question(open_lower=False, open_upper=False, **kwargs) -> Question:
    fields = {"type": Question.Type.NUMERIC, "range_min": 0.0, "range_max": 100.0, **kwargs}
    return QuestionFactory(open_lower_bound=open_lower, open_upper_bound=open_upper, **fields)


def make_values(question: Question, rng: np.random.Generator) -> np.ndarray:
    if question.type == Question.Type.MULTIPLE_CHOICE:
        return options(rng, len(question.options))
    return standard_cdf(rng, question.open_lower_bound, question.open_upper_bound)


def snapshot(question: Question) -> tuple[list, dict]:
    points = [
        (n, None if s is None else typed.from_bytes(s), f)
        for n, s, f in CrowdPoint.objects.filter(question=question)
        .order_by("seq")
        .values_list("forecasters", "summary", "forecast_id")
    ]
    state = CrowdState.objects.get(question=question)
    return points, {
        "forecasters": state.forecasters,
        "events": state.events,
        "sum_w": state.sum_w,
        "sums": typed.from_bytes(state.sums),
        "linear": typed.from_bytes(state.linear_sums),
        "vector": None if state.vector is None else typed.from_bytes(state.vector),
    }


def assert_close(a: tuple[list, dict], b: tuple[list, dict], tol: float = 1e-9) -> None:
    (pa, sa), (pb, sb) = a, b
    assert len(pa) == len(pb)
    for (n1, s1, f1), (n2, s2, f2) in zip(pa, pb, strict=True):
        assert (n1, f1) == (n2, f2)
        assert (s1 is None) == (s2 is None)
        if s1 is not None:
            assert np.max(np.abs(s1 - s2)) <= tol
    assert (sa["forecasters"], sa["events"]) == (sb["forecasters"], sb["events"])
    assert (sa["vector"] is None) == (sb["vector"] is None)
    if sa["vector"] is not None:
        assert np.max(np.abs(sa["vector"] - sb["vector"])) <= tol
        # The running sums describe the same pool (they may differ by a common factor: t0).
        support = np.abs(sa["sums"]) > 0
        pool_a = vp.pool_from_sums(sa["sums"], sa["sum_w"], support)
        pool_b = vp.pool_from_sums(sb["sums"], sb["sum_w"], support)
        assert np.max(np.abs(pool_a - pool_b)) <= tol


def random_log(question: Question, seed: int, n_events: int = 60, people: int = 7) -> None:
    rng = np.random.default_rng(seed)
    forecasters = [ForecasterFactory() for _ in range(people)]
    at = T0
    for _ in range(n_events):
        at += dt.timedelta(seconds=float(rng.exponential(900.0)))
        who = forecasters[int(rng.integers(people))]
        if rng.random() < 0.2:
            with contextlib.suppress(NothingToWithdraw):
                forecast_withdraw(question_id=question.pk, forecaster=who, at=at)
        else:
            forecast_submit(
                question_id=question.pk, forecaster=who, values=make_values(question, rng), at=at
            )


def verify(capsys) -> str:
    call_command("verify_crowd", "--no-progress")
    return capsys.readouterr().out


QUESTIONS = {
    "multiple choice": lambda t: mc_question(4, tournament=t),
    "numeric closed": lambda t: continuous_question(tournament=t),
    "numeric open": lambda t: continuous_question(True, True, tournament=t),
    "date, open above": lambda t: continuous_question(
        False, True, tournament=t, type=Question.Type.DATE, range_min=1.7e9, range_max=1.9e9
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", list(QUESTIONS))
@pytest.mark.parametrize(
    ("seed", "extremize", "half_life_hours"), [(1, 1.0, None), (2, 2.0, 0.5), (3, 1.5, 24.0)]
)
def test_stored_crowd_equals_a_recompute(kind, seed, extremize, half_life_hours, capsys):
    tournament = TournamentFactory(extremize=extremize, half_life_hours=half_life_hours)
    question = QUESTIONS[kind](tournament)
    random_log(question, seed)
    assert "match a recompute" in verify(capsys)
    incremental = snapshot(question)
    crowd_recompute(question_id=question.pk)
    assert_close(incremental, snapshot(question))
    assert "match a recompute" in verify(capsys)


@pytest.mark.django_db
def test_the_crowd_is_the_log_pool_of_the_current_forecasts():
    question = mc_question(3)
    people = [ForecasterFactory() for _ in range(3)]
    first = [[0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.4, 0.4, 0.2]]
    for i, (who, v) in enumerate(zip(people, first, strict=True)):
        forecast_submit(
            question_id=question.pk,
            forecaster=who,
            values=v,
            at=T0 + dt.timedelta(minutes=i),
        )
    forecast_withdraw(question_id=question.pk, forecaster=people[2], at=T0 + dt.timedelta(hours=1))
    state = CrowdState.objects.get(question=question)
    assert typed.from_bytes(state.vector) == pytest.approx([0.339134, 0.321731, 0.339134], abs=1e-6)
    assert state.forecasters == 2 and state.probability is None
    points = list(CrowdPoint.objects.filter(question=question).order_by("seq"))
    assert [p.forecasters for p in points] == [1, 2, 3, 2]
    assert all(p.probability is None and p.median is None for p in points)
    assert typed.from_bytes(points[-1].summary) == pytest.approx(typed.from_bytes(state.vector))
    # The log holds exactly what was sent (renormalised), as little-endian float64.
    stored = Forecast.objects.filter(question=question).order_by("time", "id").first()
    assert stored.probability is None
    assert typed.from_bytes(stored.values).tolist() == [0.5, 0.3, 0.2]


@pytest.mark.django_db
def test_two_options_give_the_same_crowd_as_a_yes_no_question():
    tournament = TournamentFactory(extremize=1.7, half_life_hours=2.0)
    binary = QuestionFactory(tournament=tournament)
    two = mc_question(2, tournament=tournament)
    people = [ForecasterFactory() for _ in range(4)]
    for i, p in enumerate([0.2, 0.6, 0.9, 0.35, 0.75]):
        at = T0 + dt.timedelta(minutes=37 * i)
        who = people[i % 4]
        forecast_submit(question_id=binary.pk, forecaster=who, probability=p, at=at)
        forecast_submit(question_id=two.pk, forecaster=who, values=[p, 1 - p], at=at)
    state_b = CrowdState.objects.get(question=binary)
    state_m = CrowdState.objects.get(question=two)
    assert typed.from_bytes(state_m.vector)[0] == pytest.approx(state_b.probability, abs=1e-12)


@pytest.mark.django_db
def test_continuous_points_store_quantile_locations_and_outside_mass():
    question = continuous_question(True, True)
    x = GRID
    forecast_submit(
        question_id=question.pk,
        forecaster=ForecasterFactory(),
        values=0.988 * x + 0.01 * x + 0.001,
        at=T0,
    )
    point = CrowdPoint.objects.get(question=question)
    summary = typed.from_bytes(point.summary)
    assert len(bytes(point.summary)) == 56
    assert summary[2] == pytest.approx(0.5, abs=1e-12)  # the median location
    assert summary[5:] == pytest.approx([0.001, 0.001], abs=1e-12)
    state = CrowdState.objects.get(question=question)
    assert typed.from_bytes(state.vector) == pytest.approx(0.998 * x + 0.001, abs=1e-12)


@pytest.mark.django_db
def test_public_points_follow_the_batch_rule():
    question = mc_question(3)
    rng = np.random.default_rng(5)
    people = [ForecasterFactory() for _ in range(7)]
    for i, who in enumerate(people):
        forecast_submit(
            question_id=question.pk,
            forecaster=who,
            values=options(rng, 3),
            at=T0 + dt.timedelta(minutes=i),
        )
    public = list(
        CrowdPoint.objects.filter(question=question)
        .order_by("seq")
        .values_list("public_seq", flat=True)
    )
    assert public == [None, None, 1, None, None, 2, None]


# --- Bad input: a clear error, nothing written ----------------------------------------------


def _bad_cdf(kind: str) -> object:
    good = 0.99 * GRID**2 + 0.01 * GRID
    if kind == "decreasing":
        bad = good.copy()
        bad[100] = bad[98]
        return bad
    if kind == "200 points":
        return good[:200]
    if kind == "nan":
        bad = good.copy()
        bad[50] = np.nan
        return bad
    if kind == "mass below a closed bound":
        return 0.99 * good + 0.01
    if kind == "step too large":
        return np.where(GRID < 0.5, 0.01 * GRID, 0.99 + 0.01 * GRID)
    if kind == "not numbers":
        return ["a"] * 201
    raise AssertionError(kind)


def _assert_nothing_written(question: Question) -> None:
    assert not Forecast.objects.filter(question=question).exists()
    assert not CrowdPoint.objects.filter(question=question).exists()
    assert not CrowdState.objects.filter(question=question, events__gt=0).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind",
    [
        "decreasing",
        "200 points",
        "nan",
        "mass below a closed bound",
        "step too large",
        "not numbers",
    ],
)
def test_broken_cdfs_are_rejected(kind):
    question = continuous_question()
    with pytest.raises(InvalidForecastValues):
        forecast_submit(
            question_id=question.pk, forecaster=ForecasterFactory(), values=_bad_cdf(kind), at=T0
        )
    _assert_nothing_written(question)


@pytest.mark.django_db
def test_an_open_bound_needs_mass_outside():
    question = continuous_question(open_lower=True)
    cdf = 0.989 * GRID + 0.01 * GRID + 0.0005  # only 0.0005 below the range
    with pytest.raises(InvalidForecastValues, match=r"at least 0\.001"):
        forecast_submit(question_id=question.pk, forecaster=ForecasterFactory(), values=cdf, at=T0)
    _assert_nothing_written(question)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([0.5, 0.5], "Expected 3"),
        ([0.5, 0.3, 0.3], "sum to"),
        ([0.9995, 0.0004, 0.0001], "between"),
        ([0.5, np.nan, 0.5], "finite"),
        ([[0.5, 0.3, 0.2]], "Expected 3"),
    ],
)
def test_bad_option_probabilities_are_rejected(values, message):
    question = mc_question(3)
    with pytest.raises(InvalidForecastValues, match=message):
        forecast_submit(
            question_id=question.pk, forecaster=ForecasterFactory(), values=values, at=T0
        )
    _assert_nothing_written(question)


@pytest.mark.django_db
def test_the_wrong_kind_of_forecast_is_rejected():
    mc = mc_question(3)
    binary = QuestionFactory()
    who = ForecasterFactory()
    with pytest.raises(InvalidForecastValues, match="takes values"):
        forecast_submit(question_id=mc.pk, forecaster=who, probability=0.5, at=T0)
    with pytest.raises(InvalidForecastValues, match="takes a probability"):
        forecast_submit(question_id=binary.pk, forecaster=who, values=[0.5, 0.5], at=T0)
    with pytest.raises(InvalidForecastValues, match="not both"):
        forecast_submit(question_id=mc.pk, forecaster=who, probability=0.5, values=[0.5, 0.5])
    with pytest.raises(InvalidProbability):
        forecast_submit(question_id=binary.pk, forecaster=who, at=T0)
    _assert_nothing_written(mc)
    _assert_nothing_written(binary)


@pytest.mark.django_db
def test_the_database_keeps_one_of_probability_and_values():
    question = mc_question(2)
    who = ForecasterFactory()
    blob = typed.to_bytes(np.array([0.5, 0.5]))
    for fields in (
        {"kind": "forecast", "probability": 0.5, "values": blob},
        {"kind": "forecast"},
        {"kind": "withdrawal", "values": blob},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            Forecast.objects.create(question=question, forecaster=who, time=T0, **fields)


# --- Type configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "poll"}, "Unknown question type"),
        ({"type": "multiple_choice", "options": ["only"]}, "at least two"),
        ({"type": "multiple_choice", "options": ["a", "a"]}, "twice"),
        ({"type": "multiple_choice", "options": ["a", " "]}, "empty"),
        ({"type": "multiple_choice", "options": ["a", "b"], "range_min": 0.0}, "no range"),
        ({"type": "binary", "options": ["a", "b"]}, "no options"),
        ({"type": "numeric", "range_min": 1.0}, "needs a range"),
        ({"type": "numeric", "range_min": 5.0, "range_max": 5.0}, "below its max"),
        ({"type": "numeric", "range_min": 0.0, "range_max": float("inf")}, "finite"),
        ({"type": "numeric", "range_min": 1.0, "range_max": 10.0, "zero_point": 2.0}, "outside"),
        ({"type": "date", "range_min": 0.0, "range_max": 1.0, "options": ["x"]}, "no options"),
        # beyond the years 1-9999 a date has no ISO 8601 form: shown clamped, a wrong date
        ({"type": "date", "range_min": -1e20, "range_max": 1.8e9}, "0001-01-01 and 9999"),
        ({"type": "date", "range_min": 1.7e9, "range_max": 1e20}, "0001-01-01 and 9999"),
    ],
)
def test_invalid_type_configurations_are_rejected(fields, message):
    question = Question(**fields)
    with pytest.raises(QuestionTypeError, match=message):
        question_type_validate(question)


def test_valid_type_configurations_pass():
    question_type_validate(Question())
    question_type_validate(Question(type="multiple_choice", options=["a", "b", "c"]))
    question_type_validate(
        Question(type="numeric", range_min=1.0, range_max=1000.0, zero_point=0.0)
    )
    question_type_validate(
        Question(type="date", range_min=1.7e9, range_max=1.8e9, open_upper_bound=True)
    )
    question_type_validate(
        Question(type="date", range_min=-62135596800.0, range_max=253402300799.0)
    )
    question_type_validate(Question(type="numeric", range_min=-1e20, range_max=1e20))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"range_min": 0.0, "range_max": 1.0},  # a yes/no question with a range
        {"type": "numeric", "range_min": 2.0, "range_max": 1.0},
        {"type": "numeric"},
        {"type": "numeric", "range_min": 1.0, "range_max": 10.0, "zero_point": 5.0},
        {"type": "multiple_choice", "open_lower_bound": True},
        {"type": "poll"},
    ],
)
def test_the_database_refuses_bad_type_configurations(fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        QuestionFactory(**fields)


@pytest.mark.django_db
def test_the_type_cannot_change_once_there_are_forecasts():
    question = QuestionFactory()
    question_type_set(question_id=question.pk, type="multiple_choice", options=["a", "b"])
    question.refresh_from_db()
    assert question.type == "multiple_choice" and question.options == ["a", "b"]
    with pytest.raises(QuestionTypeError, match="at least two"):
        question_type_set(question_id=question.pk, options=["a"])
    forecast_submit(
        question_id=question.pk, forecaster=ForecasterFactory(), values=[0.4, 0.6], at=T0
    )
    with pytest.raises(QuestionTypeError, match="already has forecasts"):
        question_type_set(question_id=question.pk, options=["a", "b", "c"])
    with pytest.raises(QuestionTypeError, match="Not a type setting"):
        question_type_set(question_id=question.pk, title="x")
    question.refresh_from_db()
    assert question.options == ["a", "b"]
    # Setting what is already there is no change.
    question_type_set(question_id=question.pk, options=["a", "b"])


@pytest.mark.django_db
def test_existing_questions_are_yes_no_and_keep_working():
    question = QuestionFactory()
    assert question.type == Question.Type.BINARY and question.options == []
    forecast_submit(question_id=question.pk, forecaster=ForecasterFactory(), probability=0.3, at=T0)
    point = CrowdPoint.objects.get(question=question)
    assert point.summary is None and point.probability == pytest.approx(0.3)
    state = CrowdState.objects.get(question=question)
    assert state.sums is None and state.vector is None


# --- Resolution of the new types ------------------------------------------------------------


@pytest.fixture
def past_open():
    return dict(open_time=dt.datetime(2020, 1, 1, tzinfo=UTC))


@pytest.mark.django_db
def test_multiple_choice_resolves_to_an_option():
    question = mc_question(3)
    with pytest.raises(ResolutionError, match="does not exist"):
        question_resolve(question_id=question.pk, outcome="option", option=3)
    with pytest.raises(ResolutionError, match="resolves to an option"):
        question_resolve(question_id=question.pk, outcome="yes")
    with pytest.raises(ResolutionError, match="resolves to an option"):
        question_resolve(question_id=question.pk, outcome="option")
    assert not Resolution.objects.filter(question=question).exists()
    resolution = question_resolve(question_id=question.pk, outcome="option", option=2)
    assert (resolution.outcome, resolution.option, resolution.value) == ("option", 2, None)
    question.refresh_from_db()
    assert question.status == Question.Status.RESOLVED
    with pytest.raises(ResolutionError, match="nothing to change"):
        question_resolve(question_id=question.pk, outcome="option", option=2, reason="again")
    second = question_resolve(question_id=question.pk, outcome="option", option=0, reason="fix")
    assert second.version == 2 and second.option == 0


@pytest.mark.django_db
def test_continuous_resolution_respects_the_bounds():
    closed = continuous_question()
    open_upper = continuous_question(open_upper=True)
    with pytest.raises(ResolutionError, match="closed"):
        question_resolve(question_id=closed.pk, outcome="value", value=100.5)
    with pytest.raises(ResolutionError, match="closed"):
        question_resolve(question_id=closed.pk, outcome="below")
    with pytest.raises(ResolutionError, match="finite"):
        question_resolve(question_id=closed.pk, outcome="value", value=float("nan"))
    with pytest.raises(ResolutionError, match="continuous"):
        question_resolve(question_id=closed.pk, outcome="option", option=1)
    assert not Resolution.objects.filter(question=closed).exists()
    r = question_resolve(question_id=closed.pk, outcome="value", value=100.0)
    assert (r.outcome, r.value) == ("value", 100.0)
    above = question_resolve(question_id=open_upper.pk, outcome="above")
    assert (above.outcome, above.value) == ("above", None)
    beyond = question_resolve(question_id=open_upper.pk, outcome="value", value=250.0, reason="x")
    assert beyond.value == 250.0


@pytest.mark.django_db
@pytest.mark.parametrize("value", [True, "50", [50], 10**400, "2027-01-01"])
def test_a_resolution_value_that_is_not_a_number_is_refused(value):
    """A bool became 1.0 silently; a string, a list or an integer too large for a float raised
    TypeError / OverflowError instead of ResolutionError."""
    question = continuous_question()
    with pytest.raises(ResolutionError, match="finite number"):
        question_resolve(question_id=question.pk, outcome="value", value=value)
    assert not Resolution.objects.filter(question=question).exists()


@pytest.mark.django_db
def test_binary_resolution_is_unchanged_and_refuses_the_new_outcomes():
    question = QuestionFactory()
    with pytest.raises(ResolutionError, match="yes, no or annulled"):
        question_resolve(question_id=question.pk, outcome="option", option=0)
    with pytest.raises(ResolutionError, match="yes, no or annulled"):
        question_resolve(question_id=question.pk, outcome="yes", value=1.0)
    r = question_resolve(question_id=question.pk, outcome="yes")
    assert (r.outcome, r.option, r.value) == ("yes", None, None)
    annulled = question_resolve(question_id=question.pk, outcome="annulled", reason="void")
    assert annulled.outcome == "annulled"


@pytest.mark.django_db
def test_the_database_ties_option_and_value_to_the_outcome():
    question = mc_question(3)
    for fields in (
        {"outcome": "option"},
        {"outcome": "yes", "option": 1},
        {"outcome": "value", "option": 1},
        {"outcome": "below", "value": 3.0},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            Resolution.objects.create(question=question, version=1, state="final", **fields)


# --- Concurrency (PostgreSQL) ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_continuous_submissions_lose_nothing(capsys):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; CI runs this with DATABASE_URL set")
    question = continuous_question(open_upper=True)
    people = [ForecasterFactory() for _ in range(8)]
    per_thread = 500
    errors: list[BaseException] = []

    def work(forecaster) -> None:
        rng = np.random.default_rng(forecaster.pk)
        try:
            for _ in range(per_thread):
                forecast_submit(
                    question_id=question.pk,
                    forecaster=forecaster,
                    values=standard_cdf(rng, False, True),
                )
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=work, args=(f,)) for f in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert Forecast.objects.filter(question=question).count() == 8 * per_thread
    assert CrowdPoint.objects.filter(question=question).count() == 8 * per_thread
    assert "match a recompute" in verify(capsys)


@pytest.mark.django_db
def test_verify_crowd_detects_a_tampered_vector_crowd(capsys):
    question = mc_question(3)
    random_log(question, 11, n_events=12, people=4)
    state = CrowdState.objects.get(question=question)
    vector = typed.from_bytes(state.vector)
    vector[0] += 1e-6
    CrowdState.objects.filter(question=question).update(vector=typed.to_bytes(vector))
    with pytest.raises(CommandError):
        verify(capsys)
    assert "differs from a recompute" in capsys.readouterr().out
    crowd_recompute(question_id=question.pk)
    assert "match a recompute" in verify(capsys)
    # And a tampered point.
    point = CrowdPoint.objects.filter(question=question, summary__isnull=False).first()
    summary = typed.from_bytes(point.summary)
    summary[1] += 1e-7
    CrowdPoint.objects.filter(pk=point.pk).update(summary=typed.to_bytes(summary))
    with pytest.raises(CommandError):
        verify(capsys)
    history = vector_history(question, vector_log(question))
    assert len(history) == Forecast.objects.filter(question=question).count()


# --- Fallbacks, the median fill, and the migration -------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["multiple choice", "numeric open"])
def test_rebasing_and_cancellation_keep_the_crowd_exact(kind, capsys):
    # A 36-second half-life and gaps of hours: t0 is rebased (more than 512 half-lives), and
    # withdrawing the newest forecast leaves almost no weight (a recompute).
    tournament = TournamentFactory(half_life_hours=0.01)
    question = QUESTIONS[kind](tournament)
    rng = np.random.default_rng(4)
    people = [ForecasterFactory() for _ in range(3)]
    at = T0
    for step in range(8):
        at += dt.timedelta(hours=6)
        who = people[step % 3]
        forecast_submit(
            question_id=question.pk, forecaster=who, values=make_values(question, rng), at=at
        )
    # Each event came 600 half-lives after the last: the sums were rebased to it.
    assert CrowdState.objects.get(question=question).t0 == at
    forecast_withdraw(question_id=question.pk, forecaster=people[7 % 3], at=at)
    assert "match a recompute" in verify(capsys)
    incremental = snapshot(question)
    crowd_recompute(question_id=question.pk)
    assert_close(incremental, snapshot(question))
    assert CrowdState.objects.get(question=question).forecasters == 2


@pytest.mark.django_db
def test_the_median_fill_leaves_vector_questions_alone():
    from forecasts.services import crowd_fill_medians
    from forecasts.store import pending_medians

    question = mc_question(3)
    rng = np.random.default_rng(8)
    for i in range(3):
        forecast_submit(
            question_id=question.pk,
            forecaster=ForecasterFactory(),
            values=options(rng, 3),
            at=T0 + dt.timedelta(minutes=i),
        )
    assert pending_medians(question.pk).size == 0
    assert crowd_fill_medians(question_id=question.pk) == 0
    assert not CrowdPoint.objects.filter(question=question, median__isnull=False).exists()


@pytest.mark.django_db(transaction=True)
def test_the_migrations_keep_existing_questions_and_forecasts_valid():
    from django.db.migrations.executor import MigrationExecutor

    before = [("markets", "0005_audit_unresolved"), ("forecasts", "0012_verbose_names")]
    after = [("markets", "0006_question_types"), ("forecasts", "0013_vector_forecasts")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    tournament = old.get_model("markets", "Tournament").objects.create(slug="old", name="Old")
    question = old.get_model("markets", "Question").objects.create(
        tournament=tournament, key="q", title="Old?", open_time=T0, close_time=T0.replace(year=2031)
    )
    user = old.get_model("auth", "User").objects.create(username="old-user")
    forecaster = old.get_model("forecasts", "Forecaster").objects.create(user=user)
    Old = old.get_model("forecasts", "Forecast")
    Old.objects.create(question=question, forecaster=forecaster, probability=0.3, time=T0)
    Old.objects.create(question=question, forecaster=forecaster, kind="withdrawal", time=T0)
    old.get_model("markets", "Resolution").objects.create(
        question=question, version=1, outcome="yes", state="final", source="manual"
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    new = MigrationExecutor(connection).loader.project_state(after).apps
    migrated = new.get_model("markets", "Question").objects.get(pk=question.pk)
    assert (migrated.type, migrated.options, migrated.range_min) == ("binary", [], None)
    events = new.get_model("forecasts", "Forecast").objects.filter(question_id=question.pk)
    assert sorted((e.kind, e.probability, e.values) for e in events) == [
        ("forecast", 0.3, None),
        ("withdrawal", None, None),
    ]
    resolution = new.get_model("markets", "Resolution").objects.get(question_id=question.pk)
    assert (resolution.outcome, resolution.option, resolution.value) == ("yes", None, None)
    # Bring every app back to the latest state for the tests that follow.
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db
def test_model_validation_refuses_a_type_change_after_forecasts():
    from django.core.exceptions import ValidationError

    question = mc_question(2)
    question.options = ["yes", "no", "maybe"]
    question.full_clean()  # no forecasts yet: fine
    forecast_submit(
        question_id=question.pk, forecaster=ForecasterFactory(), values=[0.4, 0.6], at=T0
    )
    with pytest.raises(ValidationError, match="already has forecasts"):
        question.full_clean()
    question.options = ["a"]
    with pytest.raises(ValidationError, match="at least two"):
        question.full_clean()
