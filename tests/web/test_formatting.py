"""The number formats the pages use."""

from __future__ import annotations

import pytest

from web.forms import ForecastForm
from web.templatetags.takeoff import num, pct, signed, tone, val


@pytest.mark.parametrize(
    ("p", "decimals", "text"),
    [
        (0.72, 1, "72%"),
        (0.7215, 1, "72.2%"),
        (0.001, 1, "0.1%"),
        (0.999, 1, "99.9%"),
        (0.003, 0, "<1%"),
        (0.9999, 0, ">99%"),
        (0.0, 0, "0%"),
        (1.0, 0, "100%"),
        (None, 1, "\u2014"),
    ],
)
def test_pct(p, decimals, text):
    assert pct(p, decimals) == text


def test_signed_scores_use_a_real_minus_and_no_colour_for_zero():
    assert signed(12.345) == "+12.3"
    assert signed(-4.56) == "\u22124.6"
    assert signed(-0.04) == "0.0"
    assert tone(-0.04) == "neutral"
    assert tone(0.06) == "good"
    assert tone(-3) == "bad"
    assert num(-0.6543) == "\u22120.654"


def test_benchmark_values():
    assert val(718.8) == "718.8"
    assert val(6000) == "6,000"
    assert val(0.6) == "0.6"
    assert val(77.78) == "77.78"


@pytest.mark.parametrize(
    ("p", "text"), [(0.72, "72"), (0.7215, "72.15"), (0.001, "0.1"), (0.999, "99.9"), (0.5, "50")]
)
def test_form_shows_probability_as_percent(p, text):
    assert ForecastForm.percent(p) == text


def test_form_turns_percent_into_exact_probability():
    form = ForecastForm({"probability": "99.9"})
    assert form.is_valid()
    assert form.cleaned_data["probability"] == 0.999
    form = ForecastForm({"probability": "72,5 %"})
    assert form.is_valid()
    assert form.cleaned_data["probability"] == 0.725
