"""Issue 13: a NUL character sent to the site or the admin is a clean 400, never a 500.

PostgreSQL text cannot hold NUL: a page filter, the admin's search box or list filters, or a text
primary key in an admin URL that reached the database with one failed there. One rule
(``config.middleware.InputGuardMiddleware``) refuses it at the door: the site's 400 page.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import reverse

from forecasts.models import Forecast
from tests.web.conftest import login

pytestmark = pytest.mark.django_db


def assert_bad_request_page(response) -> None:
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "Bad request" in response.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/crowd/?tournament=%00",
        "/?filter=%00",
        "/?tournament=%00",
        "/tournaments/ai-milestones/?filter=%00",
        "/tournaments/ai-milestones/leaderboard/?page=%00",
        "/benchmarks/?q=%00",
        "/me/?tournament=%00",
        "/accounts/login/?next=%00",
        "/?%00=1",
    ],
)
def test_a_nul_in_a_page_query_string_is_the_400_page(site, url):
    assert_bad_request_page(login(site.alice).get(url))
    assert_bad_request_page(Client().get(url))


def test_a_nul_in_question_and_track_record_filters_is_the_400_page(site):
    for url in (
        f"/questions/{site.open_q.pk}/?median=%00",
        f"/forecasters/{site.alice.forecaster.pk}/?tournament=%00",
    ):
        assert_bad_request_page(Client().get(url))


def test_a_nul_in_a_form_field_is_the_400_page_and_saves_nothing(site):
    client = login(site.carol)
    before = Forecast.objects.count()
    r = client.post(
        reverse("forecast-submit", args=[site.open_q.pk]),
        {"probability": "40", "rationale": "a\x00b"},
    )
    assert_bad_request_page(r)
    assert Forecast.objects.count() == before


def test_a_nul_in_a_cookie_is_the_400_page(site):
    """A quoted cookie may carry NUL as an octal escape ("\\000"); the session key would reach
    the database with it."""
    client = Client()
    client.cookies["sessionid"] = "abcdefghijklmnop\x00"
    assert_bad_request_page(client.get("/"))


@pytest.fixture
def admin_client(db, django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("root", "root@example.org", "pw-12345678")
    client = Client()
    client.force_login(user)
    return client


def _changelists() -> list[tuple[str, admin.ModelAdmin]]:
    return sorted(
        (
            reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"),
            model_admin,
        )
        for model, model_admin in admin.site._registry.items()
    )


def test_a_nul_in_every_admin_search_and_list_filter_is_the_400_page(site, admin_client):
    """Every changelist with a search box or list filters, each of its parameters with NUL
    (``?q=%00``, ``?status__exact=%00``, ``?tournament__id__exact=%00``, ...)."""
    checked = []
    for url, model_admin in _changelists():
        params = ["q"] if model_admin.search_fields else []
        params += _filter_parameters(model_admin, url)
        for name in params:
            r = admin_client.get(f"{url}?{quote(name)}=%00")
            assert_bad_request_page(r)
            checked.append((url, name))
        if params:
            # The same changelist without the NUL still answers.
            assert admin_client.get(url).status_code == 200, url
    names = {name for _, name in checked}
    assert {"q", "status__exact", "tournament__id__exact", "state__exact"} <= names
    assert len(checked) >= 30


def _filter_parameters(model_admin: admin.ModelAdmin, url: str) -> list[str]:
    """The query parameters of a changelist's list filters, as Django's admin builds them."""
    from django.contrib.auth import get_user_model

    request = RequestFactory().get(url)
    request.user = get_user_model().objects.get(username="root")
    changelist = model_admin.get_changelist_instance(request)
    return [p for spec in changelist.filter_specs for p in spec.expected_parameters()]


def test_a_nul_in_an_admin_object_url_is_the_400_page(site, admin_client):
    """The token admin's primary key is text: its change page looked the NUL up."""
    assert_bad_request_page(admin_client.get("/admin/authtoken/tokenproxy/%00/change/"))
    assert_bad_request_page(admin_client.get("/admin/markets/question/%00/change/"))
