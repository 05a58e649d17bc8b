"""Takeoff settings: one module, driven by environment variables.

With no environment at all, Takeoff runs on SQLite with tasks executed in-process, so a fresh
checkout works with no services. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and a
real Celery broker. See ``.env.example`` for every variable.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config import keys, ratelimit

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- DEBUG and keys ------------------------------------------------------------------------
# DEBUG is off unless the environment turns it on (`make demo`, the test settings and local
# development do): a production deployment that forgets it must not show tracebacks with its
# settings. With DEBUG off both keys must be real (config.keys.key_problem): set, not a
# placeholder from .env.example, at least 32 characters; a key set but empty is refused always.
DEBUG = env.bool("DEBUG", default=False)


def _key(name: str, development_key: str) -> str:
    # os.environ, not env.str: django-environ reads an empty value as unset.
    value = os.environ.get(name)
    problem = keys.key_problem(name, value, debug=DEBUG)
    if problem:
        raise ImproperlyConfigured(
            problem + ("" if DEBUG else " (For local development set DEBUG=true.)")
        )
    return development_key if value is None else value


SECRET_KEY = _key("SECRET_KEY", keys.DEVELOPMENT_SECRET_KEY)
# Pseudonyms in exports are HMACs keyed with this (forecasts.pseudonyms); rotating it changes
# every pseudonym. Its own key, not SECRET_KEY: rotating SECRET_KEY must not change pseudonyms.
PSEUDONYM_KEY = _key("PSEUDONYM_KEY", keys.DEVELOPMENT_PSEUDONYM_KEY)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "markets",
    "forecasts",
    "trading",
    "scoring",
    "web",
    "community",
]

MIDDLEWARE = [
    # /healthz answers before host validation and the HTTPS redirect: docker-compose's
    # healthcheck calls http://127.0.0.1:8000/healthz from inside the container.
    "config.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # NUL characters anywhere (400) and oversized API bodies (413, JSON), before any view.
    "config.middleware.InputGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "community.context_processors.notifications",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'takeoff.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serves concurrent users (the demo) with one writer at a time (docs/operations.md):
    # - IMMEDIATE: a transaction takes the write lock when it begins, waiting for it up to
    #   "timeout" seconds. A deferred one read first, and its upgrade to a writer was refused at
    #   once while another transaction wrote ("database is locked", whatever the timeout).
    #   Read-only transactions (exports) begin deferred: config.sqlite.read_transaction.
    # - WAL: readers and the writer do not block each other; synchronous=NORMAL is WAL's
    #   recommended setting (no corruption; a power cut can lose the last commits).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        }
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
    # PostgreSQL: the hot statements (config.rows.prepared_cursor: token lookup, the forecast
    # write path) bind parameters server-side, and psycopg prepares a statement the fifth time
    # a connection runs it, so PostgreSQL stops re-planning them. Every other query keeps
    # Django's client-side binding (no limit of 65,535 parameters). Turn off behind a
    # transaction-pooling PgBouncer: prepared statements belong to one server connection.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="takeoff@localhost")

# --- Celery -------------------------------------------------------------------------------
# Without REDIS_URL tasks run in-process (eager): the demo needs no broker. With it, a real
# worker and beat take over.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
# The built-in baseline bots (forecasts.baselines) refresh when a feed changes benchmark results
# and when a question resolves. Off in the test settings: tests of other features should not
# meet bot forecasts they did not ask for (tests/bots turn it on).
BASELINE_BOTS = env.bool("BASELINE_BOTS", default=True)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
# A task whose worker died is redelivered after this; the sweep covers the gap meanwhile.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Two queues, each with its own worker (docker-compose): the minute sweep, feed polls and
# milestone evaluations on "default"; recomputes, scoring, median fills and leaderboards
# (minutes on a large tournament) on "heavy", so the sweep is never stuck behind a recompute.
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_HEAVY_QUEUE = "heavy"
CELERY_TASK_ROUTES = {
    name: {"queue": CELERY_HEAVY_QUEUE}
    for name in (
        "scoring.score_question",
        "scoring.score_questions",
        "scoring.recompute_question",
        "scoring.rebuild_leaderboard",
        "forecasts.fill_medians",
        # Notification producers and digests: minutes at 100,000 followers (bench_digests).
        "community.notify",
        "community.send_digests",
        "community.digests_send",
        "community.digest_send",
        "community.digests_deliver",
    )
}
SWEEP_INTERVAL_SECONDS = env.int("SWEEP_INTERVAL_SECONDS", default=60)
FEED_POLL_INTERVAL_SECONDS = env.int("FEED_POLL_INTERVAL_SECONDS", default=3600)
CELERY_BEAT_SCHEDULE = {
    "sweep": {"task": "markets.sweep", "schedule": SWEEP_INTERVAL_SECONDS},
    "repair-scores": {"task": "scoring.repair_scores", "schedule": SWEEP_INTERVAL_SECONDS},
    "repair-settlements": {
        "task": "trading.repair_settlements",
        "schedule": SWEEP_INTERVAL_SECONDS,
    },
    "poll-feeds": {"task": "markets.poll_feeds", "schedule": FEED_POLL_INTERVAL_SECONDS},
    # Notifications (community.jobs): idempotent producers, then the daily digests.
    "notify": {
        "task": "community.notify",
        "schedule": env.int("NOTIFY_INTERVAL_SECONDS", default=900),
    },
    "digests": {
        "task": "community.send_digests",
        "schedule": env.int("DIGEST_INTERVAL_SECONDS", default=3600),
    },
}

# Feed URLs polled by beat, as NAME=URL pairs (NAME one of metr, swebench, mlebench, ...).
FEED_URLS = env.dict("FEED_URLS", default={})
# Review window before an automatic resolution becomes final.
RESOLUTION_REVIEW_HOURS = env.float("RESOLUTION_REVIEW_HOURS", default=48.0)

CACHES = {
    "default": (
        {"BACKEND": "config.cache.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Floats rounded to 12 significant digits in JSON (api.renderers); files keep every digit.
    "DEFAULT_RENDERER_CLASSES": [
        "api.renderers.RoundedJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # JSON nested past what the parser can take is a 400 (api.parsers), not a RecursionError.
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Domain errors (config.errors.DomainError) map to HTTP here, not in each view.
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    # One throttle checks per-IP, per-user, per-token and submission limits in one cache round
    # trip, and answers 429 with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="600/min"),
        "user": env.str("THROTTLE_USER", default="6000/min"),
        "token": env.str("THROTTLE_TOKEN", default="6000/min"),
        "submit": env.str("THROTTLE_SUBMIT", default="3000/min"),
        "trade": env.str("THROTTLE_TRADE", default="3000/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Takeoff API",
    "DESCRIPTION": "Crowd forecasts, scores and benchmark resolutions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema_hooks.require_one_of_bodies",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # In-process (eager) mode logs every task and warns about the memory transport.
        "celery.app.trace": {"level": "INFO" if REDIS_URL else "WARNING"},
        "kombu.connection": {"level": "ERROR"},
    },
}

# --- Proxies, HTTPS and the client address ------------------------------------------------
# How many reverse proxies in front of the app append to X-Forwarded-For (and set
# X-Forwarded-Proto). 0, the default: clients connect directly, both headers are ignored and
# the client address is REMOTE_ADDR. Behind one TLS-terminating proxy (the docker-compose
# deployment), 1. One rule (config.clientip) for the API throttle, the login lockout and the
# password-reset limit.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
if NUM_PROXIES < 0:
    raise ImproperlyConfigured("NUM_PROXIES must be 0 or more.")
REST_FRAMEWORK["NUM_PROXIES"] = NUM_PROXIES
if NUM_PROXIES:
    # Only a trusted proxy may say the client connected over HTTPS; without one a client could.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

if not DEBUG:
    # Production: HTTPS only (`manage.py check --deploy` is clean with these; tested).
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)  # one year
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)

# --- Login lockout and password-reset limits ------------------------------------------------
# django-axes: a (username, client IP) pair that fails LOGIN_FAILURE_LIMIT times in a row is
# locked out for LOGIN_LOCKOUT_MINUTES, on the site's login and the admin's alike; the lockout
# page answers 429. Keyed on the pair, so nobody can lock a user out from another address, and
# a success resets the count. Failed attempts are stored in the database (axes' AccessAttempt).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out pair before checking
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.float("LOGIN_LOCKOUT_MINUTES", default=15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "config.clientip.client_ip"
AXES_LOCKOUT_CALLABLE = "web.views.accounts.locked_out"  # 429, Retry-After, a clear page
# Only failures are recorded: a row per successful login is personal data we do not need.
AXES_DISABLE_ACCESS_LOG = True
# Password-reset emails (web.views.accounts, config.ratelimit): per address and per client IP,
# GCRA rates like the API's ("N/period": a burst of N, then N per period).
PASSWORD_RESET_RATE_EMAIL = env.str("PASSWORD_RESET_RATE_EMAIL", default="3/hour")
PASSWORD_RESET_RATE_IP = env.str("PASSWORD_RESET_RATE_IP", default="20/hour")
for _name in ("PASSWORD_RESET_RATE_EMAIL", "PASSWORD_RESET_RATE_IP"):
    try:
        ratelimit.parse_rate(globals()[_name])
    except ValueError as exc:
        raise ImproperlyConfigured(f"{_name}: {exc}") from None

# --- Community (discussion, notifications) --------------------------------------------------
# Absolute links in emails (digests, unsubscribe): the site's public origin.
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")
COMMENT_RATES = env.list("COMMENT_RATES", default=["5/min", "100/day"])
REPORT_RATES = env.list("REPORT_RATES", default=["10/hour"])
PROPOSAL_RATES = env.list("PROPOSAL_RATES", default=["5/day"])
COMMENT_EDIT_MINUTES = env.int("COMMENT_EDIT_MINUTES", default=15)
# The hour (UTC) from which the day's digest is sent.
DIGEST_HOUR_UTC = env.int("DIGEST_HOUR_UTC", default=7)
# How long a send step holds an unsent digest of the outbox before another run (beat's
# digest sweep) may send it: longer than the digest tasks' time limit (300 s).
DIGEST_LEASE_SECONDS = env.int("DIGEST_LEASE_SECONDS", default=600)
