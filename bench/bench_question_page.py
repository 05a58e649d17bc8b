"""Server time of the question page with a 100,000-forecast history (issue 6).

Builds (once) a question with 100,000 forecasts from 10,000 forecasters and its crowd history,
then times GET /questions/<pk>/ through Django's test client for a logged-in forecaster: the
whole request in-process (middleware, queries, chart, template), without network or browser.
Run against PostgreSQL for the figure in docs/performance.md:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/takeoff_bench \
        uv run python bench/bench_question_page.py

Prints one line: median, p95 and max over the timed requests, and the query count.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
# Never write 100,000 rows into the development database: without DATABASE_URL, use a scratch
# SQLite file (the figure that counts is PostgreSQL's).
os.environ.setdefault("DATABASE_URL", "sqlite:////tmp/takeoff-bench-question-page.sqlite3")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from forecasts.models import Forecast, Forecaster  # noqa: E402
from forecasts.services import crowd_recompute, forecaster_for_user  # noqa: E402
from markets.models import Question, Tournament  # noqa: E402

FORECASTS = 100_000
FORECASTERS = 10_000
REQUESTS = 50
UTC = dt.UTC


def build() -> Question:
    tournament, _ = Tournament.objects.get_or_create(
        slug="bench-question-page", defaults={"name": "Bench: question page", "min_forecasters": 1}
    )
    question, created = Question.objects.get_or_create(
        tournament=tournament,
        key="big",
        defaults={
            "title": "A question with a 100,000-forecast history",
            "open_time": dt.datetime(2024, 1, 1, tzinfo=UTC),
            "close_time": dt.datetime(2035, 1, 1, tzinfo=UTC),
            "status": Question.Status.OPEN,
        },
    )
    if not created:
        return question
    rng = random.Random(2026)
    Forecaster.objects.bulk_create(
        [Forecaster(source=tournament.slug, key=f"f{i}") for i in range(FORECASTERS)],
        batch_size=5000,
    )
    ids = list(Forecaster.objects.filter(source=tournament.slug).values_list("id", flat=True))
    t0 = dt.datetime(2024, 1, 2, tzinfo=UTC)
    Forecast.objects.bulk_create(
        [
            Forecast(
                question=question,
                forecaster_id=ids[rng.randrange(len(ids))],
                probability=round(rng.uniform(0.05, 0.95), 3),
                time=t0 + dt.timedelta(minutes=7 * i),
            )
            for i in range(FORECASTS)
        ],
        batch_size=5000,
    )
    viewer, _ = get_user_model().objects.get_or_create(username="bench-viewer")
    Forecast.objects.create(
        question=question,
        forecaster=forecaster_for_user(viewer),
        probability=0.6,
        time=t0 + dt.timedelta(minutes=7 * FORECASTS + 1),
    )
    crowd_recompute(question_id=question.pk)
    return question


def main() -> None:
    call_command("migrate", verbosity=0)
    question = build()
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-viewer"))
    url = question.get_absolute_url()
    for _ in range(5):
        assert client.get(url).status_code == 200
    times = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    times.sort()
    p95 = times[max(0, round(0.95 * len(times)) - 1)]
    print(
        f"question page, {question.crowd.events:,} history points, {connection.vendor}: "
        f"median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms "
        f"over {REQUESTS} requests; {len(queries.captured_queries)} queries"
    )


if __name__ == "__main__":
    main()
