"""Server time of every page and every API list on the demo with ACX (issue 19).

Walks the site's pages (home, tournaments, leaderboards, questions, the crowd's and a
forecaster's track records, benchmarks, token page, staff desk, admin change lists) and the
API's lists (first page and a deep page, the default and the largest page size, page numbers
and the keyset cursor where a list has one) through Django's test client, as an anonymous
visitor, a forecaster (``ada``) and staff (``admin``): the whole request in-process
(middleware, queries, template or serializer), without network or browser. Prints p50 and p95
over ``BENCH_REQUESTS`` requests (after one warm-up request), the queries of one request, and
flags every figure over the 200 ms target. The scores list is timed both ways in the same run:
by cursor (``next``, issue 19) and by page number (``page``: a ``COUNT(*)`` and an ``OFFSET``,
as every page was before). Also times the ACX score export
(``scoring.exports.render_scores_csv``) against its straightforward version
(``tests.reference.score_export``) in the same run, with the SHA-256 of both
(``--only export`` for the export alone).

The demo database is built once, outside this script (about 4 minutes):

    createdb -h 127.0.0.1 -U postgres takeoff_bench_speed
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/takeoff_bench_speed DEBUG=true
    uv run python manage.py migrate && uv run python manage.py load_demo

then, with the same ``DATABASE_URL``:

    uv run python bench/bench_pages.py [--baseline] [--only SUBSTRING]

Benchmarks print figures and assert nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Generous API rate limits: the bench sends hundreds of requests a minute from one address.
for _scope in ("THROTTLE_ANON", "THROTTLE_USER", "THROTTLE_TOKEN"):
    os.environ.setdefault(_scope, "1000000/min")

from _common import machine_line, percentile, setup_django, table  # noqa: E402

TARGET = 0.200  # seconds, p95


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=int(os.environ.get("BENCH_REQUESTS", "15")))
    parser.add_argument("--baseline", action="store_true", help="also time the naive versions")
    parser.add_argument("--only", default="", help="only the targets whose name contains this")
    parser.add_argument("--no-export", action="store_true", help="skip the score export")
    parser.add_argument(
        "--export-repeat", type=int, default=2, help="runs of each score export version"
    )
    return parser.parse_args()


def main() -> None:
    args = _args()
    setup_django(migrate=False)

    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client

    from forecasts.models import Forecast, Forecaster
    from markets.models import Benchmark, Question, Resolution, Tournament
    from scoring.models import Score

    print(machine_line())
    acx = Tournament.objects.filter(slug="acx-2023").first()
    ai = Tournament.objects.filter(slug="ai-milestones").first()
    if acx is None or ai is None:
        sys.exit("The demo with ACX is not loaded: run load_demo on this DATABASE_URL first.")
    users = get_user_model().objects
    clients: dict[str, Client] = {"anon": Client()}
    for role, username in (("ada", "ada"), ("staff", "admin")):
        client = Client()
        client.force_login(users.get(username=username))
        clients[role] = client

    ada = Forecaster.objects.get(user__username="ada")
    imported = Forecaster.objects.filter(source="acx-2023").order_by("id").first()
    ai_open = Question.objects.filter(tournament=ai, status=Question.Status.OPEN).first()
    ai_question = ai_open or Question.objects.filter(tournament=ai).first()
    acx_question = Question.objects.filter(tournament=acx).order_by("key").first()
    benchmark = Benchmark.objects.order_by("slug").first()
    n_scores = Score.objects.count()
    n_forecasts = Forecast.objects.count()
    print(
        f"demo: {Question.objects.count()} questions, {n_forecasts:,} forecasts, "
        f"{n_scores:,} scores, {Resolution.objects.count()} resolutions"
    )

    def deep(total: int, size: int) -> int:
        return max(1, (total + size - 1) // size)

    n_lb = acx.leaderboard.count()
    n_history = acx_question.crowd_points.count() if acx_question else 0
    pages: list[tuple[str, str, list[str]]] = [
        ("home", "/", ["anon", "ada", "staff"]),
        ("home, resolved", "/?filter=resolved", ["anon"]),
        ("tournament: AI milestones", f"/tournaments/{ai.slug}/", ["anon", "ada"]),
        ("tournament: ACX", f"/tournaments/{acx.slug}/", ["anon", "ada", "staff"]),
        ("leaderboard: AI milestones", f"/tournaments/{ai.slug}/leaderboard/", ["anon", "ada"]),
        ("leaderboard: ACX, page 1", f"/tournaments/{acx.slug}/leaderboard/", ["anon", "ada"]),
        (
            "leaderboard: ACX, last page",
            f"/tournaments/{acx.slug}/leaderboard/?page={deep(n_lb, 100)}",
            ["anon"],
        ),
        ("question: AI", f"/questions/{ai_question.pk}/", ["anon", "ada", "staff"]),
        ("question: ACX", f"/questions/{acx_question.pk}/", ["anon", "ada", "staff"]),
        ("crowd", "/crowd/", ["anon", "ada", "staff"]),
        ("crowd, ACX only", f"/crowd/?tournament={acx.slug}", ["anon", "staff"]),
        ("track record: ada", f"/forecasters/{ada.pk}/", ["anon", "ada", "staff"]),
        ("track record: ACX forecaster", f"/forecasters/{imported.pk}/", ["anon", "staff"]),
        ("benchmarks", "/benchmarks/", ["anon"]),
        ("benchmark", f"/benchmarks/{benchmark.slug}/", ["anon"]),
        ("API tokens page", "/account/tokens/", ["ada"]),
        ("login", "/accounts/login/", ["anon"]),
        ("signup", "/accounts/signup/", ["anon"]),
        ("staff: resolutions", "/staff/resolutions/", ["staff"]),
        ("admin: index", "/admin/", ["staff"]),
    ]
    for model in ("markets/tournament", "markets/question", "markets/resolution"):
        pages.append((f"admin: {model}", f"/admin/{model}/", ["staff"]))
    for model in ("markets/auditrecord", "markets/benchmarkresult", "forecasts/forecaster"):
        pages.append((f"admin: {model}", f"/admin/{model}/", ["staff"]))
    for model in ("forecasts/forecast", "forecasts/crowdpoint", "scoring/score"):
        pages.append((f"admin: {model}", f"/admin/{model}/", ["staff"]))
    pages.append(("admin: scoring/leaderboardentry", "/admin/scoring/leaderboardentry/", ["staff"]))
    pages.append(
        (
            "admin: question change form",
            f"/admin/markets/question/{acx_question.pk}/change/",
            ["staff"],
        )
    )

    api = "/api/v1"
    lists: list[tuple[str, str, list[str]]] = [
        ("API tournaments", f"{api}/tournaments/", ["anon"]),
        ("API questions", f"{api}/questions/", ["anon", "staff"]),
        ("API questions, 1000", f"{api}/questions/?page_size=1000", ["anon"]),
        ("API benchmarks", f"{api}/benchmarks/", ["anon"]),
        ("API benchmark results", f"{api}/benchmarks/{benchmark.slug}/results/", ["anon"]),
        ("API question resolutions", f"{api}/questions/{acx_question.pk}/resolutions/", ["anon"]),
        ("API question audit", f"{api}/questions/{acx_question.pk}/audit/", ["anon"]),
        ("API forecasts (your own)", f"{api}/forecasts/", ["ada"]),
        ("API forecasts (your own), 1000", f"{api}/forecasts/?page_size=1000", ["ada"]),
        ("API history", f"{api}/questions/{acx_question.pk}/history/", ["anon", "staff"]),
        (
            "API history, 1000, last page",
            f"{api}/questions/{acx_question.pk}/history/"
            f"?page_size=1000&page={deep(n_history, 1000)}",
            ["staff"],
        ),
        ("API leaderboard", f"{api}/tournaments/{acx.slug}/leaderboard/", ["anon"]),
        (
            "API leaderboard, 1000",
            f"{api}/tournaments/{acx.slug}/leaderboard/?page_size=1000",
            ["anon"],
        ),
        (
            "API leaderboard, 1000, last page",
            f"{api}/tournaments/{acx.slug}/leaderboard/?page_size=1000&page={deep(n_lb, 1000)}",
            ["anon"],
        ),
        ("API calibration", f"{api}/tournaments/{acx.slug}/calibration/", ["anon"]),
        (
            "API calibration, forecasters",
            f"{api}/tournaments/{acx.slug}/calibration/?subject=forecasters",
            ["anon"],
        ),
        ("API scores", f"{api}/scores/", ["anon", "ada", "staff"]),
        ("API scores, 1000", f"{api}/scores/?page_size=1000", ["anon", "staff"]),
        ("API scores, ACX, 1000", f"{api}/scores/?tournament={acx.slug}&page_size=1000", ["staff"]),
        (
            "API scores, 1000, page 2",
            f"{api}/scores/?page_size=1000&page=2",
            ["staff"],
        ),
        (
            "API scores, 1000, page 10 (window's last)",
            f"{api}/scores/?page_size=1000&page=10",
            ["staff"],
        ),
        (
            "API scores, 50, page 200 (window's last)",
            f"{api}/scores/?page=200",
            ["staff"],
        ),
        ("API scores, mine", f"{api}/scores/?mine=true", ["ada"]),
    ]

    rows: list[list[str]] = []
    over: list[str] = []

    def measure(name: str, who: str, fn: Callable[[], Any], n: int) -> tuple[float, float, int]:
        fn()  # warm-up: connection, caches a real server would have filled already
        # Counted with an execute wrapper: Django clears its query log at each request start.
        queries = []
        with connection.execute_wrapper(
            lambda execute, sql, *a: (queries.append(sql), execute(sql, *a))[1]
        ):
            fn()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        p50, p95 = percentile(times, 50), percentile(times, 95)
        flag = "OVER" if p95 > TARGET else ""
        if flag:
            over.append(f"{name} ({who})")
        rows.append([name, who, f"{p50 * 1000:.1f}", f"{p95 * 1000:.1f}", str(len(queries)), flag])
        print(
            f"  {name} [{who}]: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
            f"{len(queries)} queries {flag}",
            file=sys.stderr,
        )
        return p50, p95, len(queries)

    def get(who: str, url: str, follow: bool = False) -> Callable[[], Any]:
        client = clients[who]

        def fn() -> Any:
            response = client.get(url, follow=follow)
            if response.status_code != 200:
                raise SystemExit(f"{url} as {who}: HTTP {response.status_code}")
            if getattr(response, "streaming", False):
                for _ in response.streaming_content:
                    pass
            else:
                _ = response.content
            return response

        return fn

    for name, url, whos in pages + lists:
        if args.only and args.only.lower() not in name.lower():
            continue
        for who in whos:
            measure(name, who, get(who, url), args.requests)

    # Cursor pages: follow ``next`` from the first page, then time the page it leads to deep in
    # the list (the cursor of a row near the end).
    cursor_lists = [
        ("API scores, cursor", f"{api}/scores/?page_size=1000", "staff"),
    ]
    for name, url, who in cursor_lists:
        if args.only and args.only.lower() not in name.lower():
            continue
        first = clients[who].get(url).json()
        nxt = first.get("next")
        if not nxt or "cursor=" not in nxt:
            continue
        measure(f"{name}, page 2", who, get(who, nxt), args.requests)
        measure(f"{name}, second-last page", who, get(who, _deep_cursor(url)), args.requests)

    # The forecasters' calibration on its first request after a change, both ways in the same
    # run: cold (the request reads the log, as before issue 19) and after the scoring run's
    # warm-up (scoring.held.held_forecasts_warm, what tournament_scores_changed does).
    name = "API calibration, forecasters, first request after a change"
    if not args.only or args.only.lower() in name.lower():
        _calibration_first_request(
            acx,
            get("anon", f"{api}/tournaments/{acx.slug}/calibration/?subject=forecasters"),
            args.requests,
        )

    if not args.no_export and (not args.only or "export" in args.only.lower()):
        _export(acx, args)

    cache.close()
    print()
    print(
        table(
            ["page / list", "as", "p50 ms", "p95 ms", "queries", f"> {TARGET * 1000:.0f} ms"], rows
        )
    )
    print()
    print(f"over {TARGET * 1000:.0f} ms at p95: {', '.join(over) if over else 'none'}")


def _deep_cursor(url: str) -> str:
    """The scores list's cursor 1,500 rows before its end: the second-last page of 1000 rows,
    encoded as the list's own ``next`` links are."""
    from django.db.models import Value
    from django.db.models.functions import Coalesce

    from api.pagination import KeysetPagination
    from api.scoring import ScoreViewSet
    from markets.models import Resolution
    from scoring.models import Score

    fields = ScoreViewSet.keyset_fields
    row = (
        Score.objects.filter(resolution__state=Resolution.State.FINAL)
        .annotate(forecaster_key=Coalesce("forecaster_id", Value(0)))
        .order_by(*(f"-{f}" for f in fields))
        .values_list(*fields)[1500]
    )
    return f"{url}&cursor={KeysetPagination().encode(list(row))}"


def _calibration_first_request(acx: Any, request: Callable[[], Any], n: int) -> None:
    """Time the calibration of all forecasters on its first request after its cache entry went
    (a change gives a new key): without a warm-up (the visitor computes) and after
    ``held_forecasts_warm`` (the scoring run computed; the warm-up itself timed apart)."""
    from django.core.cache import cache

    from scoring.held import held_cache_key, held_forecasts_warm, scored_finals

    finals = list(scored_finals(acx).values_list("question_id", "cutoff", "outcome"))
    key = held_cache_key(acx, finals)
    cold, warm, warmups = [], [], []
    for _ in range(n):
        cache.delete(key)
        t0 = time.perf_counter()
        request()
        cold.append(time.perf_counter() - t0)
        cache.delete(key)
        t0 = time.perf_counter()
        held_forecasts_warm(tournament_id=acx.pk)
        warmups.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        request()
        warm.append(time.perf_counter() - t0)
    for label, times in (
        ("cold (the visitor computes)", cold),
        ("after the scoring run's warm-up", warm),
        ("the warm-up itself (in the task)", warmups),
    ):
        print(
            f"calibration, forecasters, first request, {label}: "
            f"p50 {percentile(times, 50) * 1000:.1f} ms, p95 {percentile(times, 95) * 1000:.1f} ms"
        )
    print(
        f"  first request: {percentile(cold, 50) / percentile(warm, 50):.1f}x faster at p50 "
        "with the warm-up"
    )


def _export(acx: Any, args: argparse.Namespace) -> None:
    """The ACX score export (``scoring.exports.render_scores_csv``) and its straightforward
    version (``tests.reference.score_export``, the naive baseline) on the same data in the same
    run, alternating: wall, CPU, size and the SHA-256 of the bytes, which must be the same."""
    import hashlib

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from scoring import exports
    from tests.reference.score_export import reference_scores_csv

    runs: list[tuple[str, Callable[..., Any]]] = [
        ("current", exports.render_scores_csv),
        ("reference", reference_scores_csv),
    ]
    best: dict[str, tuple[float, float]] = {}
    digests: dict[str, str] = {}
    as_of = exports.score_export_plan(tournament=acx).as_of  # one as-of time for both
    for _ in range(args.export_repeat):
        for label, fn in runs:
            t0 = time.perf_counter()
            cpu0 = time.process_time()
            digest = hashlib.sha256()
            size = 0
            for chunk in fn(acx, as_of=as_of):
                digest.update(chunk)
                size += len(chunk)
            wall = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            digests[label] = digest.hexdigest()
            best[label] = min(best.get(label, (wall, cpu)), (wall, cpu))
            print(
                f"export_scores ({label}): {wall:.2f} s wall, {cpu:.2f} s CPU (this process), "
                f"{size / 1e6:.1f} MB, sha256 {digest.hexdigest()[:16]}…"
            )
    (w_new, c_new), (w_ref, c_ref) = best["current"], best["reference"]
    same = "same bytes" if digests["current"] == digests["reference"] else "BYTES DIFFER"
    print(
        f"export_scores, best of {args.export_repeat}: current {w_new:.2f} s wall / "
        f"{c_new:.2f} s CPU, reference {w_ref:.2f} s / {c_ref:.2f} s: "
        f"{w_ref / w_new:.2f}x wall, {c_ref / c_new:.2f}x CPU; {same}"
    )


if __name__ == "__main__":
    main()
