"""Accounts and abuse (issue 13): login lockout, password-reset limits, the web submission
limit, proxy headers, token double-clicks, and tokens revoked by a password change."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
import time_machine
from django.contrib.auth.hashers import make_password
from django.core import mail
from django.db import IntegrityError, close_old_connections, connection
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from forecasts.models import Forecast
from tests.web.conftest import PASSWORD, login
from web import tokens as token_service

pytestmark = pytest.mark.django_db
WRONG = "not-the-password"


def _login(client: Client, username: str, password: str, url: str = "/accounts/login/", **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


# --- Login lockout (django-axes) ------------------------------------------------------------


def test_login_locks_out_after_five_failures_even_with_the_right_password(site):
    client = Client()
    codes = [_login(client, "alice", WRONG).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]
    locked = _login(client, "alice", PASSWORD)
    assert locked.status_code == 429
    assert not _logged_in(client)
    body = locked.content.decode()
    assert "Too many failed logins" in body and "15 minutes" in body
    assert locked["Retry-After"] == str(15 * 60)
    # The pair is locked, not the account nor the address: others carry on.
    other_ip = Client(REMOTE_ADDR="198.51.100.7")
    assert _login(other_ip, "alice", PASSWORD).status_code == 302
    assert _login(Client(), "bob", PASSWORD).status_code == 302


def test_a_lockout_ends_after_the_cool_off(site):
    start = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    client = Client()
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(5):
            _login(client, "alice", WRONG)
        clock.shift(dt.timedelta(minutes=14))
        assert _login(client, "alice", PASSWORD).status_code == 429
        # The refused attempt counts as a failure too: 15 minutes from it, not from the fifth.
        clock.shift(dt.timedelta(minutes=16))
        assert _login(client, "alice", PASSWORD).status_code == 302
        assert _logged_in(client)


def test_the_admin_login_is_locked_out_too(site):
    site.alice.is_staff = True
    site.alice.save()
    client = Client()
    codes = [_login(client, "alice", WRONG, url="/admin/login/").status_code for _ in range(5)]
    assert codes[-1] == 429
    assert _login(client, "alice", PASSWORD, url="/admin/login/").status_code == 429
    # The site's login and the admin's count together: the pair is locked on both.
    assert _login(client, "alice", PASSWORD).status_code == 429


def test_a_success_resets_the_count_so_regular_logins_never_lock(site):
    client = Client()
    for _ in range(4):
        assert [_login(client, "alice", WRONG).status_code for _ in range(4)] == [200] * 4
        assert _login(client, "alice", PASSWORD).status_code == 302
        client.post(reverse("logout"))
    for _ in range(20):
        assert _login(client, "alice", PASSWORD).status_code == 302


def test_a_forged_x_forwarded_for_does_not_escape_the_lockout(site):
    """NUM_PROXIES=0 (default): the header is the client's own text and is ignored."""
    client = Client()
    for i in range(5):
        _login(client, "alice", WRONG, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
    assert _login(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.99").status_code == 429


def test_behind_a_trusted_proxy_the_lockout_keys_on_the_forwarded_client(site, settings):
    settings.NUM_PROXIES = 1
    proxy = Client(REMOTE_ADDR="10.0.0.1")  # every request arrives from the proxy
    for _ in range(5):
        _login(proxy, "alice", WRONG, HTTP_X_FORWARDED_FOR="spoofed, 203.0.113.5")
    assert _login(proxy, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 429
    # Another client behind the same proxy is not locked out.
    assert _login(proxy, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.6").status_code == 302


# --- Password reset limits ------------------------------------------------------------------


def _reset(email: str, client: Client | None = None, **extra):
    return (client or Client()).post(reverse("password_reset"), {"email": email}, **extra)


def _without_csrf(response) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())


def test_password_reset_emails_are_limited_per_address(site):
    codes = [_reset(site.alice.email).status_code for _ in range(4)]
    assert codes == [302, 302, 302, 429]
    assert len(mail.outbox) == 3
    limited = _reset(site.alice.email.upper())  # the same address, another spelling
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert "no email was sent" in limited.content.decode()
    assert len(mail.outbox) == 3
    assert _reset(site.bob.email).status_code == 302  # another address is not affected
    assert len(mail.outbox) == 4


def test_the_reset_answers_do_not_reveal_whether_an_address_has_an_account(site):
    known, unknown = site.alice.email, "nobody-here@example.org"
    for _ in range(3):
        sent, not_sent = _reset(known), _reset(unknown)
        assert (sent.status_code, sent.url) == (not_sent.status_code, not_sent.url)
    assert len(mail.outbox) == 3
    limited_known, limited_unknown = _reset(known), _reset(unknown)
    assert limited_known.status_code == limited_unknown.status_code == 429
    # The same page, but for the address typed into the form (echoed back).
    assert _without_csrf(limited_known).replace(known, "@") == _without_csrf(
        limited_unknown
    ).replace(unknown, "@")


def test_password_reset_emails_are_limited_per_client_ip(site, settings):
    settings.PASSWORD_RESET_RATE_IP = "5/hour"
    client = Client()
    codes = [_reset(f"someone{i}@example.org", client).status_code for i in range(6)]
    assert codes == [302] * 5 + [429]
    # A forged X-Forwarded-For does not make a new client (NUM_PROXIES=0) ...
    assert (
        _reset("fresh@example.org", client, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 429
    )
    # ... another address does.
    assert _reset(site.alice.email, Client(REMOTE_ADDR="198.51.100.7")).status_code == 302
    assert len(mail.outbox) == 1


def test_the_reset_limit_ends_after_its_period(site):
    start = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        assert [_reset(site.alice.email).status_code for _ in range(4)][-1] == 429
        clock.shift(dt.timedelta(minutes=20))  # 3/hour: one more every 20 minutes
        assert _reset(site.alice.email).status_code == 302
        assert _reset(site.alice.email).status_code == 429
    assert len(mail.outbox) == 4


# --- The web forecast form shares the API's submission limit ---------------------------------


def _submit(client: Client, question, p: str = "40", **headers):
    url = reverse("forecast-submit", args=[question.pk])
    return client.post(url, {"probability": p}, **headers)


def test_web_submissions_are_limited_like_the_api(site, rates):
    rates(submit="2/min")
    client = login(site.carol)
    ajax = {"HTTP_ACCEPT": "application/json"}
    assert [_submit(client, site.open_q, **ajax).status_code for _ in range(2)] == [200, 200]
    before = Forecast.objects.filter(forecaster__user=site.carol).count()
    refused = _submit(client, site.open_q, "55", **ajax)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 30
    data = refused.json()
    assert data["ok"] is False and "Nothing was saved" in data["error"]
    assert data["retry_after"] == int(refused["Retry-After"])
    plain = _submit(client, site.open_q, "55")  # JavaScript off: the page, with the message
    assert plain.status_code == 429
    assert "Too many forecast changes" in plain.content.decode()
    withdraw = client.post(reverse("forecast-withdraw", args=[site.open_q.pk]), **ajax)
    assert withdraw.status_code == 429
    assert Forecast.objects.filter(forecaster__user=site.carol).count() == before  # unchanged
    # Per user: another forecaster is not affected.
    assert _submit(login(site.alice), site.open_q, **ajax).status_code == 200


def test_the_web_and_the_api_draw_on_one_bucket_per_user(site, rates):
    rates(submit="3/min")
    web = login(site.carol)
    token, _ = Token.objects.get_or_create(user=site.carol)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    body = {"question": site.open_q.pk, "probability": 0.5}
    assert api.post("/api/v1/forecasts/", body, format="json").status_code == 201
    assert _submit(web, site.open_q, HTTP_ACCEPT="application/json").status_code == 200
    assert api.post("/api/v1/forecasts/", body, format="json").status_code == 201
    assert _submit(web, site.open_q, HTTP_ACCEPT="application/json").status_code == 429
    assert api.post("/api/v1/forecasts/", body, format="json").status_code == 429


# --- The API throttle and X-Forwarded-For ---------------------------------------------------


def test_the_anonymous_api_throttle_ignores_a_forged_x_forwarded_for(site, rates):
    rates(anon="5/min")
    api = APIClient()
    codes = [
        api.get("/api/v1/tournaments/", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code
        for i in range(10)
    ]
    assert codes == [200] * 5 + [429] * 5


def test_behind_a_trusted_proxy_the_api_throttle_keys_on_the_forwarded_client(
    site, rates, settings
):
    rates(anon="2/min")
    settings.NUM_PROXIES = 1
    proxy = APIClient(REMOTE_ADDR="10.0.0.1")

    def get(xff: str) -> int:
        return proxy.get("/api/v1/tournaments/", HTTP_X_FORWARDED_FOR=xff).status_code

    # The client's own entries (left of the proxy's) change nothing.
    assert [get(f"forged-{i}, 203.0.113.5") for i in range(3)] == [200, 200, 429]
    assert get("203.0.113.6") == 200


# --- API tokens -----------------------------------------------------------------------------


def test_a_token_double_click_is_handled_when_the_insert_meets_a_concurrent_token(site):
    """The unique violation path (SQLite too): another request's token lands between our
    delete and our insert; the step is retried and the user ends with one working token."""
    real_create = Token.objects.create
    raced = []

    def create_after_a_rival(**kwargs):
        if not raced:
            raced.append(real_create(user=kwargs["user"]))  # the other click's token
        return real_create(**kwargs)

    client = login(site.carol)
    from unittest import mock

    with mock.patch.object(Token.objects, "create", side_effect=create_after_a_rival):
        response = client.post(reverse("api-token-create"))
    assert response.status_code == 302
    token = Token.objects.get(user=site.carol)
    assert token.key != raced[0].key
    page = client.get(reverse("api-tokens")).content.decode()
    assert token.key in page


def test_token_replace_gives_up_after_repeated_violations(site, monkeypatch):
    def always_taken(**kwargs):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(Token.objects, "create", always_taken)
    with pytest.raises(IntegrityError):
        token_service.token_replace(site.carol)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_concurrent_token_creations_all_succeed_on_postgresql():
    """Four simultaneous "create token" posts by one user: no 500, one token left."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL; CI runs this with DATABASE_URL set")
    from tests.factories import UserFactory

    user = UserFactory(username="clicker")
    Token.objects.create(user=user)
    barrier = threading.Barrier(4)
    codes: list[int] = []
    errors: list[BaseException] = []

    def click() -> None:
        try:
            client = Client(raise_request_exception=True)
            client.force_login(user)
            barrier.wait()
            codes.append(client.post(reverse("api-token-create")).status_code)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:2]
    assert codes == [302] * 4
    assert Token.objects.filter(user=user).count() == 1


def _api_status(key: str) -> int:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api.get("/api/v1/forecasts/").status_code


def test_a_password_change_revokes_the_api_token(site):
    client = login(site.alice)
    key = Token.objects.create(user=site.alice).key
    assert _api_status(key) == 200
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "another-long-pass-77",
            "new_password2": "another-long-pass-77",
        },
    )
    assert response.status_code == 302
    assert not Token.objects.filter(user=site.alice).exists()
    assert _api_status(key) == 401


def test_a_password_reset_revokes_the_api_token(site):
    key = Token.objects.create(user=site.alice).key
    assert _reset(site.alice.email).status_code == 302
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    client = Client()
    form_url = client.get(link).url  # Django swaps the token for a session marker
    response = client.post(
        form_url, {"new_password1": "brand-new-pass-88", "new_password2": "brand-new-pass-88"}
    )
    assert response.status_code == 302 and response.url == reverse("password_reset_complete")
    assert _api_status(key) == 401


def test_set_password_anywhere_revokes_but_other_saves_and_hash_upgrades_do_not(site, settings):
    """The admin's password form and `manage.py changepassword` both call set_password + save."""
    token = Token.objects.create(user=site.bob)
    site.bob.first_name = "Bob"
    site.bob.save()
    assert Token.objects.filter(pk=token.pk).exists()  # not a password change
    # A hash upgrade at login (the stored hasher is no longer preferred) keeps the token.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    site.bob.password = make_password(PASSWORD, hasher="md5")
    site.bob.save()
    client = Client()
    assert _login(client, "bob", PASSWORD).status_code == 302
    site.bob.refresh_from_db()
    assert site.bob.password.startswith("pbkdf2_sha1$")  # upgraded
    assert Token.objects.filter(pk=token.pk).exists()
    site.bob.set_password("a-new-password-99")
    site.bob.save()
    assert not Token.objects.filter(user=site.bob).exists()


def test_disabling_password_authentication_in_the_admin_revokes_the_api_token(site):
    """Found by a new-user probe: the admin's "Disable password-based authentication"
    (set_unusable_password) left the token working."""
    from django.contrib.auth.forms import AdminPasswordChangeForm

    token = Token.objects.create(user=site.bob)
    form = AdminPasswordChangeForm(site.bob, {"usable_password": "false"})
    assert form.is_valid(), form.errors
    form.save()
    assert not Token.objects.filter(pk=token.pk).exists()
    # A user whose password was already unusable keeps a token through other saves.
    token = Token.objects.create(user=site.bob)
    site.bob.first_name = "Robert"
    site.bob.save()
    assert Token.objects.filter(pk=token.pk).exists()
