"""Issue 15: forecasting multiple-choice, numeric, date and discrete questions from the question
page without JavaScript, through the same service and parser as the API. Bad input of every
kind gives a clear message and saves nothing; an untouched form saves nothing."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.test import Client

from forecasts import typed
from forecasts.models import CrowdState, Forecast
from forecasts.services import forecast_submit, forecaster_for_user
from markets.models import Question
from tests.factories import QuestionFactory, TournamentFactory, UserFactory

pytestmark = pytest.mark.django_db

D2027 = dt.datetime(2027, 1, 1, tzinfo=dt.UTC).timestamp()
D2035 = dt.datetime(2035, 1, 1, tzinfo=dt.UTC).timestamp()


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def questions():
    t = TournamentFactory(slug="typed", min_forecasters=1)
    mc = QuestionFactory(
        tournament=t, type=Question.Type.MULTIPLE_CHOICE, options=["OpenAI", "Google", "Other"]
    )
    numeric = QuestionFactory(
        tournament=t, type=Question.Type.NUMERIC, range_min=0.0, range_max=100.0
    )
    open_numeric = QuestionFactory(
        tournament=t,
        type=Question.Type.NUMERIC,
        range_min=10.0,
        range_max=10000.0,
        zero_point=0.0,
        open_lower_bound=True,
        open_upper_bound=True,
    )
    date = QuestionFactory(
        tournament=t,
        type=Question.Type.DATE,
        range_min=D2027,
        range_max=D2035,
        open_upper_bound=True,
    )
    discrete = QuestionFactory(
        tournament=t, type=Question.Type.DISCRETE, range_min=-0.5, range_max=10.5
    )
    return {"mc": mc, "numeric": numeric, "open": open_numeric, "date": date, "discrete": discrete}


@pytest.fixture
def client():
    c = Client()
    c.force_login(UserFactory(username="fc"))
    return c


def _post(client, q, data):
    return client.post(f"/questions/{q.pk}/forecast/", data)


def _saved(q) -> list[Forecast]:
    return list(Forecast.objects.filter(question=q, forecaster__user__username="fc"))


# --- multiple choice ---------------------------------------------------------------------------


def test_multiple_choice_form_saves_through_the_service(client, questions):
    q = questions["mc"]
    response = _post(client, q, {"option_0": "50", "option_1": "30", "option_2": "20"})
    assert response.status_code == 302
    [f] = _saved(q)
    assert np.allclose(typed.from_bytes(f.values), [0.5, 0.3, 0.2])
    assert CrowdState.objects.get(question=q).forecasters == 1
    html = client.get(q.get_absolute_url()).content.decode()
    assert "Saved your forecast." in html
    # pre-filled with the current forecast, and the button says update
    assert 'name="option_0" id="id_option_0" value="50"' in html
    assert "Update forecast" in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"option_0": "50", "option_1": "30", "option_2": "30"}, "add up to 110%, not 100%"),
        ({"option_0": "", "option_1": "", "option_2": ""}, "Enter a percentage for “OpenAI”"),
        ({"option_0": "abc", "option_1": "30", "option_2": "20"}, "“OpenAI”: that is not a number"),
        ({"option_0": "100", "option_1": "0", "option_2": "0"}, "between 0.1% and 99.9%"),
        ({"option_0": "0", "option_1": "0", "option_2": "0"}, "add up to 0%"),
        ({"option_0": "-10", "option_1": "60", "option_2": "50"}, "“OpenAI”: a percentage cannot"),
        # Found by probe15: all negative with "normalise" said "add up to 0%" (they added to -3%).
        (
            {"option_0": "-1", "option_1": "-1", "option_2": "-1", "normalise": "on"},
            "“OpenAI”: a percentage cannot be negative",
        ),
        ({"option_0": "1e400", "option_1": "60", "option_2": "50"}, "from 0.1 to 99.9"),
        ({"option_0": "inf", "option_1": "60", "option_2": "50"}, "not a number"),
    ],
)
def test_bad_multiple_choice_input_is_refused_with_a_message(client, questions, data, message):
    q = questions["mc"]
    response = _post(client, q, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert "Your forecast was not saved" in response.content.decode()
    assert _saved(q) == []


def test_normalise_scales_the_numbers_to_100(client, questions):
    q = questions["mc"]
    data = {"option_0": "20", "option_1": "20", "option_2": "40"}
    assert _post(client, q, data).status_code == 400
    response = _post(client, q, {**data, "normalise": "on"})
    assert response.status_code == 302
    [f] = _saved(q)
    assert np.allclose(typed.from_bytes(f.values), [0.25, 0.25, 0.5])


def test_rounded_thirds_count_as_100(client, questions):
    q = questions["mc"]
    response = _post(client, q, {"option_0": "33.333", "option_1": "33.333", "option_2": "33.333"})
    assert response.status_code == 302
    assert np.isclose(typed.from_bytes(_saved(q)[0].values).sum(), 1.0)


def test_a_first_multiple_choice_form_starts_empty(client, questions):
    html = client.get(questions["mc"].get_absolute_url()).content.decode()
    assert 'name="option_0" id="id_option_0" value=""' in html
    assert "nothing is saved until you give every option a number" in html
    assert "Save forecast" in html


# --- continuous --------------------------------------------------------------------------------

GOOD = {"p05": "10", "p25": "30", "p50": "45", "p75": "60", "p95": "85"}


def test_numeric_percentiles_are_saved_as_the_api_would(client, questions):
    q = questions["numeric"]
    assert _post(client, q, GOOD).status_code == 302
    [f] = _saved(q)
    cdf = typed.from_bytes(f.values)
    assert cdf.shape == (201,)
    assert abs(np.interp(45, np.linspace(0, 100, 201), cdf) - 0.5) < 0.02
    html = client.get(q.get_absolute_url()).content.decode()
    # Pre-filled from the stored CDF (the round trip through the floor moves it slightly).
    value = html.split('name="p50" id="id_p50" value="')[1].split('"')[0]
    assert abs(float(value) - 45) < 1.0


@pytest.mark.parametrize(
    ("key", "data", "message"),
    [
        ("numeric", {**GOOD, "p25": "5"}, "must be larger than the one before it"),
        ("numeric", {**GOOD, "p95": "120"}, "below the upper end of the range, 100"),
        ("numeric", {**GOOD, "p05": "0"}, "above the lower end of the range, 0"),
        ("numeric", {**GOOD, "p50": ""}, "Enter the 50th (median) percentile"),
        ("numeric", {**GOOD, "p50": "lots"}, "is not a number"),
        ("numeric", {**GOOD, "p50": "nan"}, "50th (median) percentile"),
        ("numeric", {}, "all five percentiles are needed"),
        ("open", {**GOOD, "p05": "20", "below": "10"}, "contradicts your percentiles"),
        ("open", {**GOOD, "p05": "20", "below": "-1"}, "cannot be negative"),
        ("open", {**GOOD, "p05": "20", "above": "100"}, "must be below 100%"),
        (
            "date",
            {
                "p05": "2027-06-01",
                "p25": "2027-03-01",
                "p50": "2028-01-01",
                "p75": "2029-01-01",
                "p95": "2030-01-01",
            },
            "must be later than the one before it",
        ),
        (
            "date",
            {
                "p05": "2026-06-01",
                "p25": "2027-03-01",
                "p50": "2028-01-01",
                "p75": "2029-01-01",
                "p95": "2030-01-01",
            },
            "above the lower end of the range, 1 Jan 2027",
        ),
        ("date", {**GOOD}, "is not a date"),
        ("discrete", {**GOOD}, "below the upper end of the range, 10.5"),
    ],
)
def test_bad_continuous_input_is_refused_with_a_message(client, questions, key, data, message):
    q = questions[key]
    response = _post(client, q, data)
    assert response.status_code == 400, response.content.decode()[:300]
    html = response.content.decode()
    assert message in html
    assert "Your forecast was not saved" in html
    assert _saved(q) == []


def test_closed_bound_does_not_offer_a_mass_beyond_it(client, questions):
    html = client.get(questions["numeric"].get_absolute_url()).content.decode()
    assert 'name="below"' not in html and 'name="above"' not in html
    html = client.get(questions["open"].get_absolute_url()).content.decode()
    assert 'name="below"' in html and 'name="above"' in html
    # a mass sent for a closed bound is ignored by the form (it has no such field)
    response = _post(client, questions["numeric"], {**GOOD, "below": "5"})
    assert response.status_code == 302


def test_open_bounds_take_the_masses_beyond_the_range(client, questions):
    q = questions["open"]
    data = {"p05": "50", "p25": "200", "p50": "500", "p75": "1,000", "p95": "5 000"}
    assert _post(client, q, {**data, "below": "2", "above": "3"}).status_code == 302
    cdf = typed.from_bytes(_saved(q)[0].values)
    assert abs(cdf[0] - 0.02) < 0.005 and abs((1 - cdf[-1]) - 0.03) < 0.005


def test_date_questions_take_date_inputs(client, questions):
    q = questions["date"]
    html = client.get(q.get_absolute_url()).content.decode()
    assert '<input type="date" name="p05"' in html
    data = {
        "p05": "2027-06-01",
        "p25": "2028-01-01",
        "p50": "2029-01-01",
        "p75": "2030-06-01",
        "p95": "2033-01-01",
    }
    assert _post(client, q, data).status_code == 302
    html = client.get(q.get_absolute_url()).content.decode()
    assert 'name="p50" id="id_p50" value="2029-01-0' in html or 'value="2028-12-3' in html


def test_preview_draws_the_distribution_and_saves_nothing(client, questions):
    q = questions["numeric"]
    response = _post(client, q, {**GOOD, "action": "preview"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Preview only: nothing was saved" in html
    assert 'id="preview"' in html and "<svg" in html and "your preview" in html
    # the form keeps what was typed
    assert 'name="p50" id="id_p50" value="45"' in html
    assert _saved(q) == []
    # a bad preview is a message too
    response = _post(client, q, {**GOOD, "p25": "5", "action": "preview"})
    assert response.status_code == 400 and _saved(q) == []


def test_a_first_continuous_form_starts_empty(client, questions):
    html = client.get(questions["numeric"].get_absolute_url()).content.decode()
    assert 'name="p50" id="id_p50" value=""' in html
    assert "nothing is saved until you give all five percentiles" in html
    response = _post(client, questions["numeric"], {"action": "save"})
    assert response.status_code == 400 and _saved(questions["numeric"]) == []


# --- update and withdraw -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["mc", "numeric", "date", "discrete", "open"])
def test_update_and_withdraw_on_every_type(client, questions, key):
    q = questions[key]
    first = {
        "mc": {"option_0": "50", "option_1": "30", "option_2": "20"},
        "numeric": GOOD,
        "open": GOOD,
        "discrete": {"p05": "1", "p25": "3", "p50": "4", "p75": "6", "p95": "9"},
        "date": {
            "p05": "2027-06-01",
            "p25": "2028-01-01",
            "p50": "2029-01-01",
            "p75": "2030-06-01",
            "p95": "2033-01-01",
        },
    }[key]
    assert _post(client, q, first).status_code == 302
    # the page pre-fills the form: posting it back unchanged is accepted
    html = client.get(q.get_absolute_url()).content.decode()
    names = [n for n in first]
    again = {n: html.split(f'name="{n}" id="id_{n}" value="')[1].split('"')[0] for n in names}
    for name in ("below", "above"):
        if f'name="{name}" id="id_{name}" value="' in html:
            again[name] = html.split(f'name="{name}" id="id_{name}" value="')[1].split('"')[0]
    assert _post(client, q, again).status_code == 302, again
    assert len(_saved(q)) == 2
    response = client.post(f"/questions/{q.pk}/withdraw/")
    assert response.status_code == 302
    assert [f.kind for f in _saved(q)][-1] == Forecast.Kind.WITHDRAWAL
    assert CrowdState.objects.get(question=q).forecasters == 0
    html = client.get(q.get_absolute_url()).content.decode()
    assert "You withdrew your forecast" in html


def test_the_web_form_and_the_api_store_the_same_forecast(client, questions):
    q = questions["open"]
    data = {"p05": "50", "p25": "200", "p50": "500", "p75": "1000", "p95": "5000"}
    assert _post(client, q, data).status_code == 302
    web = typed.from_bytes(_saved(q)[0].values)
    api = Client()
    other = UserFactory(username="api")
    api.force_login(other)
    body = {
        "question": q.pk,
        "percentiles": {"0.05": 50, "0.25": 200, "0.5": 500, "0.75": 1000, "0.95": 5000},
    }
    assert api.post("/api/v1/forecasts/", body, content_type="application/json").status_code == 201
    stored = Forecast.objects.get(question=q, forecaster__user=other)
    assert np.array_equal(web, typed.from_bytes(stored.values))


def test_anonymous_visitors_are_asked_to_log_in(questions):
    response = Client().post(f"/questions/{questions['mc'].pk}/forecast/", {"option_0": "50"})
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not Forecast.objects.exists()


def test_a_closed_typed_question_refuses_and_saves_nothing(client, questions):
    q = questions["mc"]
    forecast_submit(
        question_id=q.pk,
        forecaster=forecaster_for_user(UserFactory(username="early")),
        values=[0.2, 0.3, 0.5],
    )
    Question.objects.filter(pk=q.pk).update(
        close_time=dt.datetime(2021, 1, 1, tzinfo=dt.UTC), status=Question.Status.CLOSED
    )
    response = _post(client, q, {"option_0": "50", "option_1": "30", "option_2": "20"})
    assert response.status_code == 302
    assert _saved(q) == []
    html = client.get(q.get_absolute_url()).content.decode()
    assert "forecasts are no longer accepted" in html
    assert 'name="option_0"' not in html


def test_a_script_asking_for_json_gets_json_both_ways(client, questions):
    q = questions["mc"]
    url = f"/questions/{q.pk}/forecast/"
    bad = client.post(
        url, {"option_0": "50", "option_1": "60", "option_2": "5"}, HTTP_ACCEPT="application/json"
    )
    assert bad.status_code == 400 and "add up to 115%" in bad.json()["error"]
    ok = client.post(
        url, {"option_0": "50", "option_1": "45", "option_2": "5"}, HTTP_ACCEPT="application/json"
    )
    assert ok.status_code == 200 and ok.json() == {
        "ok": True,
        "message": "Saved your forecast.",
        "reload": True,
    }
    assert len(_saved(q)) == 1


def test_a_preview_counts_no_write_but_a_save_does(client, questions, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(
        "web.views.forecast.ratelimit.submit_check", lambda user_id: calls.append(user_id)
    )
    q = questions["numeric"]
    assert _post(client, q, {**GOOD, "action": "preview"}).status_code == 200
    assert calls == []
    assert _post(client, q, GOOD).status_code == 302
    assert len(calls) == 1


def test_an_overlong_rationale_is_refused_on_its_field(client, questions):
    q = questions["mc"]
    data = {"option_0": "50", "option_1": "30", "option_2": "20", "rationale": "x" * 4001}
    response = _post(client, q, data)
    assert response.status_code == 400
    assert "at most 4000 characters" in response.content.decode()
    assert _saved(q) == []


@pytest.mark.parametrize(
    ("key", "data"),
    [
        # All five within one grid bucket (0.5 of 0–100): the caps of §12.3 would spread the
        # mass over the whole range and save a median near 50, not 99.92.
        (
            "numeric",
            {"p05": "99.9", "p25": "99.91", "p50": "99.92", "p75": "99.93", "p95": "99.94"},
        ),
        (
            "date",
            {
                "p05": "2028-01-01",
                "p25": "2028-01-02",
                "p50": "2028-01-03",
                "p75": "2028-01-04",
                "p95": "2028-01-05",
            },
        ),
    ],
)
def test_percentiles_too_close_for_the_grid_are_refused_not_saved_elsewhere(
    client, questions, key, data
):
    """Found by probe15: the form said "Saved your forecast." for percentiles the grid cannot
    hold, and stored a distribution whose median was tens of points (or years) away."""
    q = questions[key]
    response = _post(client, q, data)
    assert response.status_code == 400, response.content.decode()[:300]
    html = response.content.decode()
    assert "too close together" in html
    assert _saved(q) == []


def test_a_date_in_another_format_is_refused_not_read_as_us(client, questions):
    """Found by probe15: "01/02/2028" (1 February to most of the world) was read as 2 January
    (Django's default US formats) and saved, though the form asks for YYYY-MM-DD."""
    q = questions["date"]
    data = {
        "p05": "01/02/2028",
        "p25": "2028-06-01",
        "p50": "2029-01-01",
        "p75": "2030-06-01",
        "p95": "2033-01-01",
    }
    response = _post(client, q, data)
    assert response.status_code == 400
    assert "The 5th percentile is not a date (use YYYY-MM-DD)." in response.content.decode()
    assert _saved(q) == []
