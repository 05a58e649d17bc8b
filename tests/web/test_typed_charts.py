"""Issue 15 charts: each option's crowd over time, the fan chart with its 50% and 90% bands,
the current crowd density against yours, and a benchmark's results on the same axes — all
server-rendered SVG with a read-out series, in a wide and a narrow (phone) drawing."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from django.test import Client
from django.utils import timezone

from forecasts import distributions
from forecasts.services import forecast_submit, forecaster_for_user
from forecasts.typed_crowd import question_scale
from markets.models import BenchmarkResult, Comparator, Question
from tests.factories import BenchmarkFactory, QuestionFactory, TournamentFactory, UserFactory
from web import typed_charts

pytestmark = pytest.mark.django_db


def _ts(year: int) -> float:
    return dt.datetime(year, 1, 1, tzinfo=dt.UTC).timestamp()


def _percentiles(q: Question, values) -> np.ndarray:
    levels = ("0.05", "0.25", "0.5", "0.75", "0.95")
    return distributions.forecast_from_payload(
        {"percentiles": dict(zip(levels, values, strict=True))},
        question_type=q.type,
        scale=question_scale(q),
        n_options=None,
    )


@pytest.fixture
def crowd():
    now = timezone.now()
    t = TournamentFactory(slug="c", min_forecasters=1)
    bench = BenchmarkFactory(slug="swe", name="SWE-bench Verified", unit="%")
    for system, value, days in [("Alpha", 60.0, 200), ("Beta", 74.0, 100)]:
        BenchmarkResult.objects.create(
            benchmark=bench,
            system=system,
            value=value,
            achieved_on=(now - dt.timedelta(days=days)).date(),
        )
    start = now - dt.timedelta(days=400)
    mc = QuestionFactory(
        tournament=t, type=Question.Type.MULTIPLE_CHOICE, options=["X", "Y"], open_time=start
    )
    num = QuestionFactory(
        tournament=t,
        type=Question.Type.NUMERIC,
        range_min=0.0,
        range_max=100.0,
        benchmark=bench,
        deadline=dt.date(2027, 1, 1),
        open_time=start,
    )
    date = QuestionFactory(
        tournament=t,
        type=Question.Type.DATE,
        range_min=(now - dt.timedelta(days=10)).timestamp(),
        range_max=_ts(2035),
        open_upper_bound=True,
        benchmark=bench,
        comparator=Comparator.GE,
        threshold=95.0,
        deadline=dt.date(2035, 1, 1),
        open_time=start,
    )
    users = [UserFactory(username=f"u{i}") for i in range(3)]
    for i, user in enumerate(users):
        f = forecaster_for_user(user)
        at = now - dt.timedelta(days=300 - 50 * i)
        forecast_submit(
            question_id=mc.pk, forecaster=f, values=[0.3 + 0.2 * i, 0.7 - 0.2 * i], at=at
        )
        forecast_submit(
            question_id=num.pk,
            forecaster=f,
            values=_percentiles(num, (70 + i, 78 + i, 82 + i, 86 + i, 92 + i)),
            at=at,
        )
        forecast_submit(
            question_id=date.pk,
            forecaster=f,
            values=_percentiles(date, (_ts(2027), _ts(2028), _ts(2029), _ts(2030), _ts(2032 + i))),
            at=at,
        )
    return {"mc": mc, "num": num, "date": date, "users": users}


def _page(q: Question, user=None) -> str:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(q.get_absolute_url()).content.decode()


def test_multiple_choice_chart_draws_each_option_over_time(crowd):
    html = _page(crowd["mc"], crowd["users"][0])
    assert 'id="qchart"' in html and 'id="qchart-n"' in html  # wide and phone drawings
    assert html.count('class="line opt opt-0"') >= 2 and 'class="line opt opt-1"' in html
    series = re.search(r'id="qchart"[^>]*data-series="([^"]*)"', html).group(1)
    # the public point names both options (the log pool of 30, 50 and 70% is 50%)
    assert series.endswith("X 50.0%, Y 50.0%")
    assert 'class="dot own opt-ring opt-0"' in html  # the viewer's forecast as markers
    assert "Each option" in html


def test_fan_chart_has_bands_median_and_the_benchmark(crowd):
    html = _page(crowd["num"])
    chart = re.search(r'<svg class="chart" id="qchart".*?</svg>', html, re.S).group(0)
    assert 'class="band band90"' in chart and 'class="band band50"' in chart
    assert 'class="line crowd"' in chart
    assert "median" in re.search(r'data-series="([^"]*)"', chart).group(1)
    # SWE-bench results on the same value axis (0–100) and time axis.
    assert "Beta: 74 %" in chart
    # the current crowd's density
    assert 'id="qdensity"' in html and 'class="area crowd"' in html


def test_density_chart_compares_the_crowd_with_your_forecast(crowd):
    html = _page(crowd["num"], crowd["users"][1])
    density = re.search(r'<svg class="chart" id="qdensity".*?</svg>', html, re.S).group(0)
    assert 'class="area crowd"' in density and 'class="line own-density"' in density
    assert "P(below" in density  # the read-out gives cumulative probabilities


def test_date_question_draws_the_benchmark_on_its_time_axis(crowd):
    html = _page(crowd["date"])
    density = re.search(r'<svg class="chart" id="qdensity".*?</svg>', html, re.S).group(0)
    assert "Alpha: 60 %" in density and "threshold 95" in density
    assert "range starts" in density  # results before the range widen the axis to the left
    assert 'class="line bench"' in density
    assert "above" in density  # the open upper bound's mass is in the legend


def test_charts_load_nothing_from_another_host(crowd):
    for q in (crowd["mc"], crowd["num"], crowd["date"]):
        html = _page(q)
        for svg in re.findall(r"<svg class=\"chart\".*?</svg>", html, re.S):
            hosts = set(re.findall(r"https?://[^\"' )]+", svg))
            assert hosts <= {"http://www.w3.org/2000/svg"}


def test_hidden_crowd_is_not_drawn():
    t = TournamentFactory(slug="h", min_forecasters=5)
    q = QuestionFactory(tournament=t, type=Question.Type.MULTIPLE_CHOICE, options=["A", "B"])
    forecast_submit(
        question_id=q.pk, forecaster=forecaster_for_user(UserFactory()), values=[0.2, 0.8]
    )
    html = _page(q)
    assert "The crowd forecast is hidden for now." in html
    assert '<path class="line opt' not in html.split('id="qchart"')[1].split("</svg>")[0]


def test_value_axis_ticks_follow_the_scale():
    q = Question(type=Question.Type.NUMERIC, range_min=1.0, range_max=10000.0, zero_point=0.0)
    ticks = typed_charts.ValueAxis(q).ticks(9)
    assert ticks[0][1] == "1" and ticks[-1][1] == "10,000"
    assert all(0 <= x <= 1 for x, _ in ticks)
    d = Question(type=Question.Type.DATE, range_min=_ts(2026), range_max=_ts(2035))
    labels = [label for _, label in typed_charts.ValueAxis(d).ticks(9)]
    assert "2030" in labels


def test_lists_name_the_leading_option_and_the_median(crowd):
    client = Client()
    client.force_login(crowd["users"][2])
    html = client.get("/questions/").content.decode()
    # the crowd's: 50/50 on two options (the first wins ties), and the numeric median
    assert '<span class="stat-value stat-text">X 50%</span>' in html
    assert '<span class="stat-value stat-text">median 8' in html
    # the viewer's own multiple-choice forecast: 70% on X
    assert '<span class="stat-value stat-text">X 70%</span>' in html


def test_the_time_range_applies_to_typed_charts(crowd):
    client = Client()
    full = client.get(crowd["num"].get_absolute_url()).content.decode()
    month = client.get(crowd["num"].get_absolute_url(), {"range": "1m"}).content.decode()
    label = re.compile(r'<svg class="chart" id="qchart".*?<desc id="qchart-desc">([^<]*)<', re.S)
    assert label.search(full).group(1) != label.search(month).group(1)
    assert client.get(crowd["mc"].get_absolute_url(), {"range": "9y"}).status_code == 400
