"""Production settings (issue 13): DEBUG off by default, real keys, `check --deploy` clean.

Settings are read once per process, so each case runs Django in a subprocess with an
environment of its own (nothing inherited but PATH: no DEBUG from the test settings, no .env
value can leak in because every variable the settings read here is set explicitly).
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import keys

ROOT = Path(__file__).resolve().parent.parent
SECRET = secrets.token_urlsafe(48)
PSEUDONYM = secrets.token_urlsafe(48)


def production_env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    """DEBUG off, real keys, one host, SQLite in tmp_path: a deployment that did it right."""
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": SECRET,
        "PSEUDONYM_KEY": PSEUDONYM,
        "ALLOWED_HOSTS": "takeoff.example.org",
        "CSRF_TRUSTED_ORIGINS": "https://takeoff.example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


SETUP = "import django; django.setup(); from django.conf import settings"


@pytest.mark.parametrize("num_proxies", ["0", "1"])
def test_check_deploy_is_clean_with_production_settings(tmp_path, num_proxies):
    """`manage.py check --deploy` fails on any warning here (--fail-level WARNING)."""
    env = production_env(tmp_path, NUM_PROXIES=num_proxies)
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_production_settings_are_https_only(tmp_path):
    code = f"""
        {SETUP}
        print(settings.DEBUG, settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS,
              settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE,
              settings.SECURE_PROXY_SSL_HEADER, settings.REST_FRAMEWORK["NUM_PROXIES"])
    """
    direct = run_python(code, production_env(tmp_path))
    assert direct.returncode == 0, direct.stderr
    # No proxy: X-Forwarded-Proto is not trusted, and X-Forwarded-For is ignored.
    assert direct.stdout.split() == ["False", "True", "31536000", "True", "True", "None", "0"]
    proxied = run_python(code, production_env(tmp_path, NUM_PROXIES="1"))
    assert proxied.returncode == 0, proxied.stderr
    assert "('HTTP_X_FORWARDED_PROTO', 'https') 1" in proxied.stdout


def test_debug_is_off_unless_turned_on(tmp_path):
    env = production_env(tmp_path, DEBUG=None)
    done = run_python(f"{SETUP}; print(settings.DEBUG)", env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_with_only_database_url_set_the_app_refuses_to_start(tmp_path):
    """The issue's set-up (only DATABASE_URL): DEBUG was on and a 500 showed the database URL.
    Now DEBUG is off, so the development keys are refused."""
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    done = run_python(SETUP, env)
    assert done.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set when DEBUG is off" in done.stderr


def test_an_anonymous_500_shows_the_plain_error_page_not_the_settings(tmp_path):
    """DEBUG off by default: a server error is the site's 500 page, without the database URL."""
    database = tmp_path / "secret-database-name.sqlite3"  # never migrated: every query fails
    env = production_env(tmp_path, DEBUG=None, DATABASE_URL=f"sqlite:///{database}")
    code = f"""
        {SETUP}
        from django.test import Client
        response = Client(raise_request_exception=False).get(
            "/", secure=True, HTTP_HOST="takeoff.example.org"
        )
        print(response.status_code)
        print(response.content.decode())
    """
    done = run_python(code, env)
    assert done.returncode == 0, done.stderr
    status, _, body = done.stdout.partition("\n")
    assert status == "500"
    assert "Something went wrong" in body
    assert "secret-database-name" not in body and "Traceback" not in body


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"PSEUDONYM_KEY": None}, "PSEUDONYM_KEY must be set when DEBUG is off"),
        ({"PSEUDONYM_KEY": ""}, "PSEUDONYM_KEY is set but empty"),
        ({"PSEUDONYM_KEY": "   "}, "PSEUDONYM_KEY is set but empty"),
        (
            {"PSEUDONYM_KEY": "change-me-to-another-long-random-string"},
            "PSEUDONYM_KEY is a placeholder",
        ),
        ({"PSEUDONYM_KEY": keys.DEVELOPMENT_PSEUDONYM_KEY}, "PSEUDONYM_KEY is a placeholder"),
        ({"PSEUDONYM_KEY": "short-key-9"}, "PSEUDONYM_KEY must be at least 32 characters"),
        ({"SECRET_KEY": ""}, "SECRET_KEY is set but empty"),
        ({"SECRET_KEY": "change-me-to-a-long-random-string"}, "SECRET_KEY is a placeholder"),
        ({"SECRET_KEY": keys.DEVELOPMENT_SECRET_KEY}, "SECRET_KEY is a placeholder"),
    ],
)
def test_without_debug_the_app_refuses_to_start_with_a_weak_key(tmp_path, overrides, message):
    done = run_python(SETUP, production_env(tmp_path, **overrides))
    assert done.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in done.stderr
    assert message in done.stderr
    assert "secrets.token_urlsafe" in done.stderr  # says how to make one


def test_an_empty_pseudonym_key_is_refused_with_debug_on_too(tmp_path):
    env = production_env(tmp_path, DEBUG="true", PSEUDONYM_KEY="")
    done = run_python(SETUP, env)
    assert done.returncode != 0
    assert "PSEUDONYM_KEY is set but empty" in done.stderr


def test_with_debug_on_unset_keys_get_development_keys(tmp_path):
    env = production_env(tmp_path, DEBUG="true", SECRET_KEY=None, PSEUDONYM_KEY=None)
    done = run_python(f"{SETUP}; print(settings.SECRET_KEY); print(settings.PSEUDONYM_KEY)", env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [keys.DEVELOPMENT_SECRET_KEY, keys.DEVELOPMENT_PSEUDONYM_KEY]


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def test_env_example_as_copied_is_refused_until_both_keys_are_real(tmp_path):
    """README's deployment path is `cp .env.example .env`: its placeholders must not start."""
    example = _env_example()
    assert example["DEBUG"] == "false"
    env = {
        **example,
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    refused = run_python(SETUP, env)
    assert refused.returncode != 0
    assert "SECRET_KEY is a placeholder" in refused.stderr
    refused = run_python(SETUP, {**env, "SECRET_KEY": SECRET})
    assert refused.returncode != 0
    assert "PSEUDONYM_KEY is a placeholder" in refused.stderr
    started = run_python(
        f"{SETUP}; print(settings.NUM_PROXIES)",
        {**env, "SECRET_KEY": SECRET, "PSEUDONYM_KEY": PSEUDONYM},
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "1"  # docker-compose's web sits behind one TLS proxy


@pytest.mark.parametrize(
    ("value", "debug", "refused"),
    [
        (None, True, False),
        ("", True, True),
        (" ", False, True),
        (None, False, True),
        ("change-me-to-a-long-random-string", True, False),  # development: anything non-empty
        ("change-me-to-a-long-random-string", False, True),
        ("x" * 31, False, True),
        ("x" * 32, False, False),
        ("CHANGE-ME-" + "x" * 40, False, True),
        # a stable id: a random value in the id made pytest-xdist workers collect different tests
        pytest.param(secrets.token_urlsafe(48), False, False, id="a-random-64-char-key"),
    ],
)
def test_key_rule(value, debug, refused):
    assert (keys.key_problem("PSEUDONYM_KEY", value, debug=debug) is not None) is refused


def test_an_empty_pseudonym_key_never_makes_a_pseudonym(settings):
    """Even if the settings were bypassed: HMAC with an empty key is as reversible as a hash."""
    from forecasts.pseudonyms import pseudonym_for_id

    settings.PSEUDONYM_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="PSEUDONYM_KEY is empty"):
        pseudonym_for_id(1)
    with pytest.raises(ImproperlyConfigured):
        pseudonym_for_id(1, key="")
    settings.PSEUDONYM_KEY = PSEUDONYM
    assert pseudonym_for_id(1).startswith("f_")


def test_the_test_settings_turn_debug_on_for_the_suite_only():
    """pytest uses config.settings_test (DEBUG on at startup, as in development)."""
    import os

    from django.conf import settings

    assert os.environ["DJANGO_SETTINGS_MODULE"] == "config.settings_test"
    assert os.environ["DEBUG"] == "true"
    assert settings.PSEUDONYM_KEY  # development key, never empty


def test_behind_the_proxy_http_is_redirected_and_the_healthcheck_still_answers(tmp_path):
    """docker-compose's healthcheck: plain HTTP to 127.0.0.1:8000, a host not in ALLOWED_HOSTS."""
    code = f"""
        {SETUP}
        from django.test import Client
        c = Client()
        health = c.get("/healthz", HTTP_HOST="127.0.0.1:8000")
        print(health.status_code, health.json()["status"])
        page = c.get("/questions/1/", HTTP_HOST="takeoff.example.org")
        print(page.status_code, page["Location"])
        proxied = c.get(
            "/healthz", HTTP_HOST="takeoff.example.org", HTTP_X_FORWARDED_PROTO="https"
        )
        print(proxied.status_code, proxied.get("Strict-Transport-Security"))
        print(c.get("/", HTTP_HOST="127.0.0.1:8000").status_code)
    """
    done = run_python(code, production_env(tmp_path, NUM_PROXIES="1"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "200 ok"
    assert lines[1] == "301 https://takeoff.example.org/questions/1/"
    assert lines[2] == "200 None"  # answered before SecurityMiddleware adds headers
    assert lines[3] == "400"  # any other path still validates the host


@pytest.mark.parametrize(
    ("num_proxies", "meta", "expected"),
    [
        (0, {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}, "10.0.0.1"),
        (1, {"REMOTE_ADDR": "10.0.0.1"}, "10.0.0.1"),
        (
            1,
            {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "1.1.1.1, 203.0.113.5"},
            "203.0.113.5",
        ),
        (
            2,
            {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "1.1.1.1, 2.2.2.2, 10.0.0.9"},
            "2.2.2.2",
        ),
        (3, {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}, "203.0.113.5"),
        (1, {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": " "}, "10.0.0.1"),
    ],
)
def test_client_ip_follows_num_proxies(settings, num_proxies, meta, expected):
    from django.test import RequestFactory

    from config.clientip import client_ip

    settings.NUM_PROXIES = num_proxies
    request = RequestFactory().get("/")
    request.META.update(meta)
    assert client_ip(request) == expected
