"""Benchmark pages: every recorded result (revisions included) and the trajectory chart."""

from __future__ import annotations

from django.db.models import Count, Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from markets.models import Benchmark, BenchmarkResult, Question
from web import charts


def benchmark_list(request: HttpRequest) -> HttpResponse:
    # Only questions the viewer can see are counted: a private tournament's questions are not
    # even counted for outsiders (docs/privacy.md).
    visible = Question.objects.visible_to(request.user).values("pk")
    benchmarks = list(
        Benchmark.objects.annotate(
            n_results=Count("results", filter=Q(results__is_current=True), distinct=True),
            best_value=Max("results__value", filter=Q(results__is_current=True)),
            latest=Max("results__achieved_on"),
            n_questions=Count("questions", filter=Q(questions__in=visible), distinct=True),
        )
    )
    for b in benchmarks:
        # Lower-is-better benchmarks need the minimum; rare, so one query each.
        if not b.higher_is_better and b.n_results:
            b.best_value = (
                b.results.filter(is_current=True)
                .order_by("value")
                .values_list("value", flat=True)[0]
            )
    return render(request, "markets/benchmark_list.html", {"benchmarks": benchmarks})


def benchmark_detail(request: HttpRequest, slug: str) -> HttpResponse:
    benchmark = get_object_or_404(Benchmark, slug=slug)
    results = list(
        BenchmarkResult.objects.filter(benchmark=benchmark)
        .select_related("snapshot", "revision_of", "retired_in")
        .defer("snapshot__raw", "retired_in__raw")
        .prefetch_related("revisions")
        .order_by("achieved_on", "first_seen", "id")
    )
    current = sorted((r for r in results if r.is_current), key=lambda r: r.plot_time)
    superseded = [r for r in results if not r.is_current]
    questions = list(
        Question.objects.visible_to(request.user)
        .filter(benchmark=benchmark)
        .select_related("tournament")
    )
    best = charts.frontier(
        [(r.plot_time, r.value, r.system) for r in current], benchmark.higher_is_better
    )
    best_keys = {(s, v) for _, v, s in best}
    thresholds = sorted(
        {
            (q.threshold, f"{q.get_comparator_display()} {q.threshold:g}")
            for q in questions
            if q.threshold is not None
        }
    )
    chart = charts.responsive(
        charts.benchmark_chart,
        uid="bchart",
        name=benchmark.name,
        unit=benchmark.unit,
        results=[(r.plot_time, r.value, r.system) for r in current],
        revised=[(r.plot_time, r.value, r.system) for r in superseded],
        thresholds=thresholds,
        higher_is_better=benchmark.higher_is_better,
    )
    rows = sorted(results, key=lambda r: (r.plot_time, r.id), reverse=True)
    for r in rows:
        r.is_best = r.is_current and (r.system, r.value) in best_keys
        r.when = r.plot_time
    return render(
        request,
        "markets/benchmark_detail.html",
        {
            "benchmark": benchmark,
            "chart": chart,
            "rows": rows,
            "n_current": len(current),
            "n_revised": sum(1 for r in superseded if not r.is_retired),
            "n_retired": sum(1 for r in superseded if r.is_retired),
            "best": best[-1] if best else None,
            "questions": questions,
        },
    )
