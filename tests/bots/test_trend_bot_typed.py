"""The trend baseline on the demo's numeric and date milestone questions, against a hand
computation (docs/methods.md §16.4): the forecasts are valid standardised CDFs and the refresh is
idempotent."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
import time_machine

from forecasts import distributions, trend
from forecasts.baselines import (
    TREND_BOT,
    trend_bot_refresh,
    trend_forecast,
    typed_trend_forecast,
)
from forecasts.models import Forecast
from forecasts.typed import values_validate
from forecasts.typed_crowd import question_scale
from markets.models import Question
from tests.factories import TournamentFactory
from web.management import demo_typed
from web.management.commands.load_demo import Command

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
YEAR = 365.25 * 86400
DAY = 86400.0


def _demo_typed(key: str, tournament=None) -> Question:
    """The demo's benchmarks and results (load_demo's own loader) and its typed question
    ``key``, created as load_demo creates it."""
    if tournament is None:
        Command()._benchmarks()
        tournament = TournamentFactory()
    spec = next(s for s in demo_typed.TYPED if s["key"] == key)
    return demo_typed._typed_question(tournament, spec)


def _years(day: str) -> float:
    return (
        dt.datetime.combine(dt.date.fromisoformat(day), dt.time(12), tzinfo=dt.UTC).timestamp()
        / YEAR
        + 1970
    )


def _hand_draws(t: list[float], y: list[float]):
    """The bootstrap draws by hand (module doc of forecasts.trend): per kept resample the mean
    time, the mean y, the slope and the picked residual."""
    rng = np.random.default_rng(trend.SEED)
    idx = rng.integers(0, len(t), size=(trend.DRAWS, len(t))).tolist()
    pick = rng.integers(0, len(t), size=trend.DRAWS).tolist()
    out = []
    for rows, k in zip(idx, pick, strict=True):
        tt, yy = [t[i] for i in rows], [y[i] for i in rows]
        if len(set(tt)) < 2:
            continue
        n = len(tt)
        tm, ym = sum(tt) / n, sum(yy) / n
        b = sum((a - tm) * (c - ym) for a, c in zip(tt, yy, strict=True)) / sum(
            (a - tm) ** 2 for a in tt
        )
        out.append((tm, ym, b, yy[k] - (ym + b * (tt[k] - tm))))
    return out


def _order_stat(samples: list[float], q: float) -> float:
    """The smallest sample with at least a share q at or below it."""
    s = sorted(samples)
    return s[max(math.ceil(q * len(s)) - 1, 0)]


def _check_valid_cdf(question: Question, cdf: np.ndarray) -> None:
    assert cdf.shape == (distributions.GRID,)
    assert np.all(np.diff(cdf) >= distributions.MIN_STEP - 1e-12)
    assert np.all(np.diff(cdf) <= distributions.MAX_STEP + 1e-12)
    values_validate(question, cdf.copy())  # what forecast_submit checks


def test_numeric_best_swe_bench_verified_on_1_january_2027_matches_a_hand_computation():
    question = _demo_typed("swebench-best-2027")
    forecast = typed_trend_forecast(question, NOW)
    assert forecast is not None and forecast.kind == trend.LOGISTIC and not forecast.known

    # Inputs, by hand: the SWE-bench Verified records of data/benchmarks/history.csv.
    t = forecast.times.tolist()
    v = forecast.values.tolist()
    y = [math.log(x / (100 - x)) for x in v]
    at = _years("2027-01-01")
    record = max(v)
    samples = [
        max(100 / (1 + math.exp(-(ym + b * (at - tm) + e))), record)
        for tm, ym, b, e in _hand_draws(t, y)
    ]
    lo, mid, hi = (_order_stat(samples, q) for q in (0.05, 0.5, 0.95))
    scale = question_scale(question)
    grid = scale.value(distributions.LOCATIONS)
    raw = [sum(s <= g for s in samples) / len(samples) for g in grid.tolist()]
    raw[0] = 0.0  # closed lower bound at 70%: nothing below (the record is 78.8%)
    raw[-1] = 1.0

    print()
    print("Best SWE-bench Verified on 2027-01-01 — trend bot inputs:")
    for ti, vi in zip(t, v, strict=True):
        print(f"  t = {ti:.4f}  {vi:6.2f} %")
    print(f"  record so far {record} %, {len(samples)} draws at t* = {at:.4f}")
    print(f"  5/50/95%: {lo:.2f} / {mid:.2f} / {hi:.2f} % (bot {forecast.percentiles})")
    print(
        f"  stored CDF 5/50/95%: {distributions.quantiles(forecast.cdf, [0.05, 0.5, 0.95], scale)}"
    )
    print(f"  rationale: {forecast.rationale(question)}")

    assert forecast.record == record == 78.8
    np.testing.assert_allclose(np.sort(forecast.samples), sorted(samples), rtol=1e-12)
    assert forecast.percentiles == pytest.approx((lo, mid, hi), rel=1e-12)
    np.testing.assert_allclose(forecast.raw, raw, atol=1e-15)
    np.testing.assert_array_equal(forecast.cdf, distributions.standardise_cdf(raw, scale))
    _check_valid_cdf(question, forecast.cdf)
    # The figures docs/methods.md §16.4 quotes.
    assert (round(lo, 1), round(mid, 1), round(hi, 1)) == (96.7, 98.7, 99.8)


def test_date_metr_6000_minutes_matches_a_hand_computation_and_the_yes_no_forecast():
    question = _demo_typed("metr-6000-date")
    forecast = typed_trend_forecast(question, NOW)
    assert forecast is not None and forecast.kind == trend.LOG_LINEAR and not forecast.known

    t = forecast.times.tolist()
    y = [math.log(x) for x in forecast.values.tolist()]
    today = dt.datetime(2026, 11, 30, tzinfo=dt.UTC).timestamp()
    samples = []
    for tm, ym, b, e in _hand_draws(t, y):
        if b <= 0:
            samples.append(math.inf)
            continue
        crossing = (tm + (math.log(6000) - ym - e) / b - 1970) * YEAR  # epoch seconds
        midnight = math.ceil((crossing - DAY / 2) / DAY) * DAY  # first day whose noon is past it
        samples.append(max(midnight, today))
    lo, mid, hi = (_order_stat(samples, q) for q in (0.05, 0.5, 0.95))
    scale = question_scale(question)
    grid = scale.value(distributions.LOCATIONS)
    raw = [sum(s <= g for s in samples) / len(samples) for g in grid.tolist()]
    raw[0] = 0.0  # closed lower bound 2026-01-01: every sample is at least today

    def day(x: float) -> str:
        return "never" if x == math.inf else f"{dt.datetime.fromtimestamp(x, dt.UTC):%Y-%m-%d}"

    end_2026 = dt.datetime(2026, 12, 31, tzinfo=dt.UTC).timestamp()
    by_end_2026 = sum(s <= end_2026 for s in samples) / len(samples)
    above = sum(s > scale.range_max for s in samples)
    print()
    print("Date METR p50 first ≥ 6,000 minutes — trend bot inputs:")
    for ti, vi in zip(t, forecast.values.tolist(), strict=True):
        print(f"  t = {ti:.4f}  {vi:8.2f} min")
    print(f"  {len(samples)} draws; median {day(mid)}, 90% interval {day(lo)} to {day(hi)}")
    print(f"  after the range (2032-01-01): {above}; never: {sum(s == math.inf for s in samples)}")
    print(f"  P(by 2026-12-31) = {by_end_2026:.4f}; raw cdf[200] = {raw[-1]:.4f}")
    qs = distributions.quantiles(forecast.cdf, [0.05, 0.5, 0.95], scale)
    print(f"  stored CDF 5/50/95%: {[day(x) for x in qs.tolist()]}")
    print(f"  rationale: {forecast.rationale(question)}")

    np.testing.assert_allclose(np.sort(forecast.samples), sorted(samples), rtol=1e-12)
    assert forecast.percentiles == (lo, mid, hi)
    np.testing.assert_allclose(forecast.raw, raw, atol=1e-15)
    np.testing.assert_array_equal(forecast.cdf, distributions.standardise_cdf(raw, scale))
    _check_valid_cdf(question, forecast.cdf)
    # The same draws as the yes/no forecast: P(date ≤ 2026-12-31) is the trend bot's
    # probability for "METR p50 ≥ 6,000 minutes by the end of 2026" (0.0145, §16.4).
    assert by_end_2026 == pytest.approx(0.0145, abs=1e-12)
    # The figures docs/methods.md §16.4 quotes.
    assert (day(lo), day(mid), day(hi)) == ("2027-02-14", "2027-08-11", "2027-12-11")


def test_the_date_cdf_agrees_with_the_yes_no_forecast_at_every_deadline():
    question = _demo_typed("metr-6000-date")
    forecast = typed_trend_forecast(question, NOW)
    assert forecast is not None
    yes_no = Question(
        benchmark=question.benchmark,
        type=Question.Type.BINARY,
        comparator=question.comparator,
        threshold=question.threshold,
    )
    for day in ("2027-06-30", "2028-01-01", "2029-03-15", "2031-12-31"):
        yes_no.deadline = dt.date.fromisoformat(day)
        p = trend_forecast(yes_no, NOW)
        assert p is not None
        midnight = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp()
        share = float(np.mean(forecast.samples <= midnight))
        assert min(max(share, 0.001), 0.999) == pytest.approx(p.probability, abs=1e-12), day


def test_a_date_already_reached_puts_the_mass_on_its_date():
    question = _demo_typed("metr-6000-date")
    question.threshold = 300.0  # met by GPT-5.2 on 2025-12-11, before the range
    forecast = typed_trend_forecast(question, NOW)
    assert forecast is not None and forecast.known and forecast.fit is None
    _check_valid_cdf(question, forecast.cdf)
    # Closed lower bound 2026-01-01: counted at the bound, the first bucket takes the cap.
    assert forecast.cdf[1] == pytest.approx(distributions.MAX_STEP, abs=1e-9)


def test_multiple_choice_is_not_forecast():
    question = _demo_typed("metr-best-org-2026")
    assert typed_trend_forecast(question, NOW) is None


@time_machine.travel(NOW)  # while the demo questions are open
def test_the_typed_refresh_submits_valid_cdfs_once_and_is_idempotent():
    numeric = _demo_typed("swebench-best-2027")
    date = _demo_typed("metr-6000-date", numeric.tournament)
    _demo_typed("metr-best-org-2026", numeric.tournament)
    assert trend_bot_refresh(now=NOW) == 2
    assert trend_bot_refresh(now=NOW) == 0  # the same forecasts are not written again
    for question in (numeric, date):
        forecast = Forecast.objects.get(question=question, forecaster__key=TREND_BOT)
        assert forecast.forecaster.is_bot
        stored = distributions.from_bytes(bytes(forecast.values))
        _check_valid_cdf(question, stored)
        expected = typed_trend_forecast(question, NOW)
        assert expected is not None
        np.testing.assert_allclose(stored, expected.cdf, atol=1e-12)
        assert "bootstrap draws" in forecast.rationale
    assert Forecast.objects.filter(forecaster__key=TREND_BOT).count() == 2


def test_a_resample_of_equal_times_is_dropped_even_when_their_rounded_mean_differs():
    # Five times 2024.9227: their float mean is not 2024.9227 exactly, so Σ(t − t̄)² is ~1e-25,
    # not 0; the old test sxx > 0 kept such a resample with a meaningless slope (the bug).
    x = 2024.9227
    same = np.full(5, x)
    assert float(((same - same.mean()) ** 2).sum()) > 0
    times = [x, x, x, x, 2026.0]
    draws = trend.draws_of(times, [1.0, 2.0, 3.0, 4.0, 5.0], trend.LOG_LINEAR)
    rng = np.random.default_rng(trend.SEED)
    idx = rng.integers(0, 5, size=(trend.DRAWS, 5))
    # Only the four equal times drawn, or only the fifth one.
    without_slope = int(np.sum(np.all(idx < 4, axis=1) | np.all(idx == 4, axis=1)))
    assert without_slope > 600 and draws.dropped == without_slope
    assert np.all(np.abs(draws.slope) < 10)


def test_crossing_years_and_the_empirical_cdf_by_hand():
    t, v = [2020.0, 2021.0, 2022.0], [1.0, 2.0, 4.0]  # exactly doubling yearly: residuals 0
    years = trend.crossing_years(t, v, trend.LOG_LINEAR, 16.0, rising=True, draws=50)
    kept = trend.draws_of(t, v, trend.LOG_LINEAR, draws=50)
    assert years.size == kept.slope.size and np.allclose(years, 2024.0)
    falling = trend.crossing_years(t, v, trend.LOG_LINEAR, 0.5, rising=False, draws=50)
    assert np.all(np.isinf(falling))  # a rising trend never falls to it
    np.testing.assert_array_equal(
        trend.empirical_cdf([1.0, 2.0, 2.0, math.inf], [0.0, 1.0, 2.0, 3.0]), [0, 0.25, 0.75, 0.75]
    )
