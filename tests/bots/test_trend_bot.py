"""The trend baseline on the demo's benchmark history, against a hand computation
(docs/methods.md §16.4), and the baselines' refresh, scoring and labelling."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
import time_machine

from forecasts import trend
from forecasts.baselines import (
    BASE_RATE_BOT,
    TREND_BOT,
    base_rate_bot_refresh,
    trend_bot_refresh,
    trend_forecast,
)
from forecasts.models import Forecast
from markets.benchmarks.signals import send_results_changed
from markets.models import Benchmark, BenchmarkResult, Comparator, Question
from tests.factories import QuestionFactory, TournamentFactory
from web.management.commands.load_demo import QUESTIONS, Command

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
YEAR = 365.25 * 86400


def _demo_question(key: str) -> Question:
    """The demo's benchmarks and results (load_demo's own loader), and its question ``key``."""
    Command()._benchmarks()
    spec = next(s for s in QUESTIONS if s["key"] == key)
    return QuestionFactory(
        key=key,
        title=spec["title"],
        open_time=spec["open"],
        close_time=spec["close"],
        benchmark=Benchmark.objects.get(slug=spec["benchmark"]),
        comparator=spec["comparator"],
        threshold=spec["threshold"],
        deadline=spec["deadline"],
    )


def _hand_ols(t: list[float], y: list[float]) -> tuple[float, float, float]:
    """(mean t, intercept at mean t, slope) by the textbook sums."""
    n = len(t)
    tm = sum(t) / n
    ym = sum(y) / n
    sxy = sum((a - tm) * (b - ym) for a, b in zip(t, y, strict=True))
    sxx = sum((a - tm) ** 2 for a in t)
    return tm, ym, sxy / sxx


def test_trend_bot_forecast_for_metr_6000_minutes_by_end_2026_matches_a_hand_computation():
    question = _demo_question("metr-6000-2026")
    forecast = trend_forecast(question, NOW)
    assert forecast is not None and not forecast.already_met

    # Inputs, by hand: the METR p50 results of data/benchmarks/history.csv, every one a record.
    results = [
        ("2022-03-15", 0.60),
        ("2023-03-14", 3.99),
        ("2024-12-05", 38.8),
        ("2025-02-24", 60.4),
        ("2025-04-16", 119.7),
        ("2025-08-07", 203.0),
        ("2025-11-24", 293.0),
        ("2025-12-11", 352.2),
        ("2026-02-05", 718.8),
    ]
    t = [
        dt.datetime.combine(dt.date.fromisoformat(d), dt.time(12), tzinfo=dt.UTC).timestamp() / YEAR
        + 1970
        for d, _ in results
    ]
    y = [math.log(v) for _, v in results]
    tm, intercept, slope = _hand_ols(t, y)
    at = dt.datetime(2026, 12, 31, 12, tzinfo=dt.UTC).timestamp() / YEAR + 1970
    trend_at_deadline = math.exp(intercept + slope * (at - tm))
    doubling_months = 12 * math.log(2) / slope

    # The bootstrap by hand, from the same random draws (module doc of forecasts.trend).
    rng = np.random.default_rng(trend.SEED)
    idx = rng.integers(0, len(t), size=(trend.DRAWS, len(t))).tolist()
    pick = rng.integers(0, len(t), size=trend.DRAWS).tolist()
    met = kept = 0
    for rows, k in zip(idx, pick, strict=True):
        tt, yy = [t[i] for i in rows], [y[i] for i in rows]
        if len(set(tt)) < 2:
            continue
        kept += 1
        m, a, b = _hand_ols(tt, yy)
        e = yy[k] - (a + b * (tt[k] - m))
        met += math.exp(a + b * (at - m) + e) >= 6000
    p_hand = min(max(met / kept, 0.001), 0.999)

    print()
    print("METR p50 ≥ 6,000 minutes by 2026-12-31 — trend bot inputs:")
    for (d, v), ti in zip(results, forecast.times.tolist(), strict=True):
        print(f"  {d}  t = {ti:.4f}  {v:8.2f} min")
    print(
        f"  fit: ln v = {forecast.fit.intercept:.6f} + {forecast.fit.slope:.6f}·(t − "
        f"{forecast.fit.t_mean:.4f}); doubling {forecast.fit.doubling_months:.2f} months "
        f"(90% bootstrap {forecast.boot.doubling_interval()[0]:.2f}–"
        f"{forecast.boot.doubling_interval()[1]:.2f}); residual sd {forecast.fit.residual_sd:.4f}"
    )
    print(f"  trend at 2026-12-31: {forecast.trend_value:,.1f} min (hand {trend_at_deadline:,.1f})")
    print(f"  P = {forecast.probability:.4f} (hand {p_hand:.4f}, {met}/{kept} draws)")
    print(f"  rationale: {forecast.rationale(question)}")

    assert forecast.fit.n == 9
    np.testing.assert_allclose(forecast.times, t, rtol=0, atol=1e-9)
    assert forecast.fit.slope == pytest.approx(slope, rel=1e-12)
    assert forecast.fit.intercept == pytest.approx(intercept, rel=1e-12)
    assert forecast.fit.doubling_months == pytest.approx(doubling_months, rel=1e-12)
    assert forecast.trend_value == pytest.approx(trend_at_deadline, rel=1e-9)
    assert forecast.probability == pytest.approx(p_hand, abs=1e-12)
    # The figures docs/methods.md §16.4 quotes.
    assert round(doubling_months, 1) == 4.9
    assert round(trend_at_deadline) == 2068
    assert forecast.probability == pytest.approx(0.0145, abs=1e-9)


def test_swe_bench_verified_gets_a_logistic_trend():
    question = _demo_question("swebench-95-2026")
    forecast = trend_forecast(question, NOW)
    assert forecast is not None and forecast.kind == trend.LOGISTIC
    assert forecast.fit.n == 5
    # By hand: logit of the record percentages, OLS, back through the logistic.
    t = forecast.times.tolist()
    y = [math.log(v / (100 - v)) for v in forecast.values.tolist()]
    tm, a, b = _hand_ols(t, y)
    at = dt.datetime(2026, 12, 31, 12, tzinfo=dt.UTC).timestamp() / YEAR + 1970
    assert forecast.trend_value == pytest.approx(100 / (1 + math.exp(-(a + b * (at - tm)))))
    assert 0.5 < forecast.probability <= 0.999


def test_a_milestone_already_met_is_forecast_at_the_upper_bound():
    question = _demo_question("corebench-95-2026")
    forecast = trend_forecast(question, NOW)
    assert forecast is not None and forecast.already_met and forecast.probability == 0.999


@time_machine.travel(NOW)  # while the demo questions are open
def test_the_refresh_submits_once_labels_the_bot_and_is_idempotent():
    question = _demo_question("metr-6000-2026")
    other = QuestionFactory(tournament=question.tournament)  # no benchmark: base rate only
    assert trend_bot_refresh(now=NOW) == 1
    assert trend_bot_refresh(now=NOW) == 0  # the same forecast is not written again
    bot_forecast = Forecast.objects.get(question=question)
    assert bot_forecast.forecaster.is_bot and bot_forecast.forecaster.key == TREND_BOT
    assert bot_forecast.forecaster.display_name == "trend-bot [bot]"
    assert "doubling time 4.9 months" in bot_forecast.rationale
    assert base_rate_bot_refresh(now=NOW) == 2
    rates = Forecast.objects.filter(forecaster__key=BASE_RATE_BOT)
    assert {f.question_id for f in rates} == {question.pk, other.pk}
    assert all(f.probability == 0.5 for f in rates)  # nothing resolved yet: (0 + 1) / (0 + 2)


def test_a_feed_change_refreshes_the_trend_bot_through_its_task(
    settings, django_capture_on_commit_callbacks
):
    settings.BASELINE_BOTS = True
    question = _demo_question("metr-6000-2026")
    with time_machine.travel(NOW, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            send_results_changed(benchmark_ids=[question.benchmark_id], now=NOW, trigger="test")
        assert Forecast.objects.filter(question=question, forecaster__key=TREND_BOT).count() == 1
        # Off: a feed change leaves the bots alone.
        settings.BASELINE_BOTS = False
        BenchmarkResult.objects.filter(benchmark_id=question.benchmark_id).update(value=1.0)
        with django_capture_on_commit_callbacks(execute=True):
            send_results_changed(benchmark_ids=[question.benchmark_id], now=NOW, trigger="test")
        assert Forecast.objects.filter(question=question, forecaster__key=TREND_BOT).count() == 1


def test_not_a_trend_benchmark_is_left_alone():
    bench = Benchmark.objects.create(slug="elo", name="Elo", unit="points")
    q = QuestionFactory(
        tournament=TournamentFactory(),
        benchmark=bench,
        comparator=Comparator.GE,
        threshold=1500,
        deadline=dt.date(2030, 1, 1),
    )
    assert trend_forecast(q, NOW) is None
