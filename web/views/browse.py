"""Home, tournament and list pages: the questions and tournaments a visitor can see, filtered."""

from __future__ import annotations

import datetime as dt

from django.core.paginator import Paginator
from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from forecasts.privacy import full_history_access, public_threshold
from markets.models import Question, Tournament
from web.views._common import FILTERS, filter_questions, list_queryset, question_rows

HOME_PER_TOURNAMENT = 8
QUESTIONS_PER_PAGE = 50
STATE_ORDER = {"open": 0, "proposed": 1, "upcoming": 2, "closed": 3, "resolved": 4, "annulled": 5}


def _filter_name(request: HttpRequest, default: str) -> str:
    name = request.GET.get("filter", default)
    return name if name in dict(FILTERS) else default


def _sorted(rows: list) -> list:
    # Open questions first (soonest close first), settled ones last (latest first).
    def key(row):
        q = row.question
        rank = STATE_ORDER.get(row.state, 9)
        stamp = q.close_time.timestamp()
        return (rank, -stamp if rank >= 4 else stamp, q.pk)

    return sorted(rows, key=key)


def _counts(qs, now) -> dict[str, int]:
    return {name: filter_questions(qs, name, now).count() for name, _ in FILTERS}


def _with_counts(qs: QuerySet[Tournament], now: dt.datetime) -> QuerySet[Tournament]:
    """Tournaments with their number of questions, open ones (accepting forecasts now) and
    settled ones (resolved or annulled), in the same query."""
    return qs.annotate(
        n_questions=Count("questions", distinct=True),
        n_open=Count(
            "questions",
            filter=Q(
                questions__status__in=[Question.Status.UPCOMING, Question.Status.OPEN],
                questions__open_time__lte=now,
                questions__close_time__gt=now,
            ),
            distinct=True,
        ),
        n_settled=Count(
            "questions",
            filter=Q(questions__status__in=[Question.Status.RESOLVED, Question.Status.ANNULLED]),
            distinct=True,
        ),
    )


def empty_section_text(tournament: Tournament, current: str) -> str:
    """What a home-page section says when the filter leaves none of the tournament's questions:
    why (all settled, none yet), so the visitor knows where to look instead."""
    label = dict(FILTERS)[current].lower()
    n, settled = tournament.n_questions, tournament.n_settled  # type: ignore[attr-defined]
    if n == 0:
        return "This tournament has no questions yet."
    if current != "resolved" and settled == n:
        return f"No {label} questions: all {n:,} of this tournament's questions are settled."
    return f"No {label} questions in this tournament."


def home(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    current = _filter_name(request, "open")
    tournaments = list(
        _with_counts(Tournament.objects.visible_to(request.user), now).order_by(
            "-n_open", "-created_at"
        )
    )
    base = filter_questions(list_queryset(request.user), current, now)
    # The first questions of every tournament in one query: number them within each
    # tournament in the list's own order, keep one more than shown to know if there are more.
    ordering = [
        F(name[1:]).desc() if name.startswith("-") else F(name).asc()
        for name in (base.query.order_by or Question._meta.ordering)
    ]
    numbered = base.annotate(
        place=Window(RowNumber(), partition_by=F("tournament_id"), order_by=ordering)
    ).filter(place__lte=HOME_PER_TOURNAMENT + 1)
    by_tournament: dict[int, list[Question]] = {}
    for question in numbered:
        by_tournament.setdefault(question.tournament_id, []).append(question)
    picked: list[tuple[Tournament, list[Question], bool]] = []
    for tournament in tournaments:
        questions = sorted(by_tournament.get(tournament.pk, []), key=lambda q: q.place)
        picked.append(
            (tournament, questions[:HOME_PER_TOURNAMENT], len(questions) > HOME_PER_TOURNAMENT)
        )
    # One query for the viewer's own forecasts across every section.
    rows = question_rows([q for _, qs, _ in picked for q in qs], request.user, now)
    by_question = {row.question.pk: row for row in rows}
    sections = [
        {
            "tournament": tournament,
            "rows": _sorted([by_question[q.pk] for q in questions]),
            "more": more,
            "empty_text": empty_section_text(tournament, current),
            # Offer the resolved questions when the filter hides a tournament's settled ones.
            "offer_resolved": not questions and current != "resolved" and tournament.n_settled,
        }
        for tournament, questions, more in picked
    ]
    return render(
        request,
        "markets/home.html",
        {
            "sections": sections,
            "filters": FILTERS,
            "current_filter": current,
            "now": now,
        },
    )


def tournament_detail(request: HttpRequest, slug: str) -> HttpResponse:
    now = timezone.now()
    tournament = get_object_or_404(Tournament.objects.visible_to(request.user), slug=slug)
    current = _filter_name(request, "all")
    all_qs = list_queryset(request.user).filter(tournament=tournament)
    questions = list(filter_questions(all_qs, current, now))
    rows = question_rows(questions, request.user, now)
    if current == "all":
        rows = _sorted(rows)
    counts = _counts(Question.objects.filter(tournament=tournament), now)
    return render(
        request,
        "markets/tournament_detail.html",
        {
            "tournament": tournament,
            "rows": rows,
            "filters": [(name, label, counts[name]) for name, label in FILTERS],
            "current_filter": current,
            "now": now,
            "full_history": full_history_access(request.user),
            "public_min": public_threshold(tournament.min_forecasters),
        },
    )


def tournament_list(request: HttpRequest) -> HttpResponse:
    """GET /tournaments/: every tournament the viewer can see, with its question counts."""
    now = timezone.now()
    tournaments = _with_counts(Tournament.objects.visible_to(request.user), now).order_by(
        "-n_open", "-created_at", "pk"
    )
    return render(request, "markets/tournament_list.html", {"tournaments": list(tournaments)})


def question_list(request: HttpRequest) -> HttpResponse:
    """GET /questions/: every question the viewer can see, across tournaments, filtered as on
    the home page (``?filter=all|open|closing|resolved``, default all) and optionally by
    ``?tournament=SLUG`` (404 for a tournament that does not exist or is hidden), paged by
    ``QUESTIONS_PER_PAGE``."""
    now = timezone.now()
    current = _filter_name(request, "all")
    qs = list_queryset(request.user)
    tournament = None
    slug = request.GET.get("tournament")
    if slug:
        tournament = Tournament.objects.visible_to(request.user).filter(slug=slug).first()
        if tournament is None:
            raise Http404("No such tournament.")
        qs = qs.filter(tournament=tournament)
    counts = _counts(qs, now)
    filtered = filter_questions(qs, current, now)  # soonest close first; resolved: latest first
    page = Paginator(filtered, QUESTIONS_PER_PAGE).get_page(request.GET.get("page"))
    rows = question_rows(list(page.object_list), request.user, now)
    return render(
        request,
        "markets/question_list.html",
        {
            "rows": rows,
            "page": page,
            "tournament": tournament,
            "filters": [(name, label, counts[name]) for name, label in FILTERS],
            "current_filter": current,
            "filter_query": f"&tournament={tournament.slug}" if tournament else "",
            "now": now,
        },
    )
