"""Bot accounts: owned, marked as bots, their own tokens, one primary; refused by the web forms."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from rest_framework.authtoken.models import Token

from forecasts.bots import bot_create, bot_set_primary, bot_token_replace, builtin_bot
from forecasts.errors import BotError
from forecasts.models import Forecast, Forecaster
from forecasts.services import forecast_submit
from tests.factories import QuestionFactory, UserFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def test_an_owner_runs_several_bots_and_the_first_is_primary():
    owner = UserFactory()
    first = bot_create(owner=owner, name="alpha-bot")
    second = bot_create(owner=owner, name="beta-bot", description="an LLM")
    assert first.is_bot and second.is_bot
    assert first.is_primary and not second.is_primary
    assert first.display_name == "alpha-bot [bot]"
    assert not first.user.has_usable_password()  # a bot account cannot log in
    bot_set_primary(owner=owner, bot_id=second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.is_primary and not first.is_primary


def test_two_primary_bots_are_refused_by_the_database():
    owner = UserFactory()
    first = bot_create(owner=owner, name="alpha-bot")
    second = bot_create(owner=owner, name="beta-bot")
    assert first.is_primary
    with pytest.raises(IntegrityError), transaction.atomic():
        Forecaster.objects.filter(pk=second.pk).update(is_primary=True)


def test_bad_bot_names_and_foreign_bots_are_refused():
    owner, other = UserFactory(), UserFactory()
    with pytest.raises(BotError, match="not a valid bot name"):
        bot_create(owner=owner, name="has space")
    bot = bot_create(owner=owner, name="alpha-bot")
    with pytest.raises(BotError, match="taken"):
        bot_create(owner=other, name="alpha-bot")
    with pytest.raises(BotError, match="no such bot"):
        bot_set_primary(owner=other, bot_id=bot.pk)
    with pytest.raises(BotError, match="cannot own"):
        bot_create(owner=bot.user, name="child-bot")
    assert Forecaster.objects.filter(is_bot=True).count() == 1


def test_each_bot_has_its_own_api_token_and_forecasts_through_the_api(client):
    owner = UserFactory()
    bot = bot_create(owner=owner, name="alpha-bot")
    token = bot_token_replace(owner=owner, bot_id=bot.pk)
    assert token.user_id == bot.user_id
    assert not Token.objects.filter(user=owner).exists()
    question = QuestionFactory()
    response = client.post(
        "/api/v1/forecasts/",
        {"question": question.pk, "probability": 0.3},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert response.status_code == 201, response.content
    assert Forecast.objects.get().forecaster_id == bot.pk
    # A new token revokes the bot's old one.
    bot_token_replace(owner=owner, bot_id=bot.pk)
    again = client.get("/api/v1/forecasts/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert again.status_code == 401


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_a_bot_web_form_post_is_refused_with_a_clear_message(client, accept):
    owner = UserFactory()
    bot = bot_create(owner=owner, name="alpha-bot")
    question = QuestionFactory()
    client.force_login(bot.user)
    url = reverse("forecast-submit", args=[question.pk])
    response = client.post(url, {"probability": "40"}, HTTP_ACCEPT=accept, follow=True)
    body = response.content.decode()
    assert "Bot accounts forecast through the API" in body
    assert not Forecast.objects.exists()
    if accept == "application/json":
        assert response.status_code == 403
    # The owner, a person, still forecasts through the form.
    client.force_login(owner)
    ok = client.post(url, {"probability": "40"}, HTTP_ACCEPT=accept)
    assert ok.status_code in (200, 302)
    assert Forecast.objects.get().forecaster.user_id == owner.pk


def test_a_bot_withdrawal_through_the_web_is_refused(client):
    bot = bot_create(owner=UserFactory(), name="alpha-bot")
    question = QuestionFactory()
    forecast_submit(question_id=question.pk, forecaster=bot, probability=0.4)
    client.force_login(bot.user)
    url = reverse("forecast-withdraw", args=[question.pk])
    response = client.post(url, HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert Forecast.objects.count() == 1


def test_builtin_bots_have_no_owner_and_are_marked():
    bot = builtin_bot("trend-bot", "Benchmark trend baseline")
    assert bot.is_bot and bot.owner is None and bot.source == "builtin"
    assert bot.display_name == "trend-bot [bot]"
    assert builtin_bot("trend-bot").pk == bot.pk


def test_owners_manage_their_bots_through_the_api():
    from rest_framework.test import APIClient

    owner, stranger = UserFactory(), UserFactory()
    client = APIClient()
    client.force_authenticate(owner)
    made = client.post("/api/v1/bots/", {"name": "alpha-bot"}, format="json")
    assert made.status_code == 201 and made.json()["primary"] is True
    second = client.post("/api/v1/bots/", {"name": "beta-bot", "description": "x"}, format="json")
    bad = client.post("/api/v1/bots/", {"name": "no spaces"}, format="json")
    assert bad.status_code == 400 and "not a valid bot name" in bad.content.decode()
    assert client.post("/api/v1/bots/", {"name": 5}, format="json").status_code == 400
    bot_id = second.json()["id"]
    assert client.post(f"/api/v1/bots/{bot_id}/primary/").json()["primary"] is True
    token = client.post(f"/api/v1/bots/{bot_id}/token/").json()["token"]
    listed = client.get("/api/v1/bots/").json()["results"]
    assert [(b["name"], b["primary"]) for b in listed] == [("alpha-bot", False), ("beta-bot", True)]
    # Somebody else's bot is not yours to manage; a bot's token cannot make bots.
    other = APIClient()
    other.force_authenticate(stranger)
    assert other.post(f"/api/v1/bots/{bot_id}/token/").status_code == 404
    as_bot = APIClient(HTTP_AUTHORIZATION=f"Token {token}")
    refused = as_bot.post("/api/v1/bots/", {"name": "child-bot"}, format="json")
    assert refused.status_code == 400 and "cannot own" in refused.content.decode()
    assert APIClient().get("/api/v1/bots/").status_code == 401
