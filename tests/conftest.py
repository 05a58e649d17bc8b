from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data"
# Playwright's sync API runs an event loop in the test thread; Django's ORM refuses to run
# inside one unless told the test thread is safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def data_dir() -> Path:
    return DATA


def on_postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # PBKDF2 at production strength costs ~0.3 s a user; tests create hundreds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def celery_eager():
    """Run tasks in-process, whatever REDIS_URL says: CI sets it but runs no worker.

    Tests of real worker behaviour start their own worker and switch this off.
    """
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def empty_cache(settings):
    """A fresh in-memory cache per test: debounce markers and throttle counters live there.

    Not the Redis of REDIS_URL: clearing that would flush the broker's queue too. Tests with a
    real worker run it in its own process, against Redis.
    """
    from django.core.cache import cache

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clock_after_2031():
    """Run the test in 2040 (the clock ticking): tests whose questions live in 2030–2031 resolve
    them with effective times in the past, as the resolution service requires."""
    import datetime as dt

    import time_machine

    with time_machine.travel(dt.datetime(2040, 1, 1, tzinfo=dt.UTC), tick=True):
        yield


@pytest.fixture
def rates(settings):
    """``rates(submit="3/min", ...)``: the API throttle rates for one test, the others generous."""

    def set_rates(**rates):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                "anon": "1000/min",
                "user": "1000/min",
                "token": "1000/min",
                "submit": "1000/min",
                **rates,
            },
        }

    return set_rates
