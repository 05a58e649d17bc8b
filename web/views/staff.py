"""The staff resolution desk: proposals awaiting review and questions flagged for review.

Thin views: validate a reason, call one service, report the outcome. Resolving by hand and
re-resolving stay in the admin (actions with an intermediate reason page), linked from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from markets.errors import ResolutionError
from markets.models import AuditRecord, Question, Resolution
from markets.resolution.finality import resolution_confirm, resolution_reject
from markets.resolution.manual import question_review_clear
from web.admin.markets import ReasonForm


def _can_resolve(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perm("markets.change_question"):
            raise PermissionDenied("Resolving questions needs the change-question permission.")
        return view(request, *args, **kwargs)

    return staff_member_required(wrapped)


ACTIVITY_ROWS = 30  # lines of the activity table
ACTIVITY_SCAN = 2000  # most recent audit records read to fill them (an import writes hundreds)


@dataclass
class ActivityGroup:
    """One line of the staff activity table: an audit record, or a run of consecutive import
    records by the same actor (a contest import writes one per question), newest first."""

    records: list[AuditRecord]

    @property
    def first(self) -> AuditRecord:
        return self.records[0]

    @property
    def count(self) -> int:
        return len(self.records)

    @property
    def oldest(self) -> AuditRecord:
        return self.records[-1]


def activity_groups(records: Iterable[AuditRecord], limit: int) -> list[ActivityGroup]:
    """Up to ``limit`` lines of the activity table from ``records`` (newest first): consecutive
    ``imported`` records of the same actor fold into one line with their count."""
    groups: list[ActivityGroup] = []
    for record in records:
        last = groups[-1].first if groups else None
        if (
            last is not None
            and record.action == AuditRecord.Action.IMPORTED
            and last.action == AuditRecord.Action.IMPORTED
            and record.who == last.who
        ):
            groups[-1].records.append(record)
            continue
        if len(groups) == limit:
            break
        groups.append(ActivityGroup([record]))
    return groups


@staff_member_required
def resolutions(request: HttpRequest) -> HttpResponse:
    proposals = (
        Resolution.objects.filter(state=Resolution.State.PROPOSED)
        .select_related(
            "question__tournament",
            "question__benchmark",
            "evidence_result__benchmark",
            "evidence_snapshot",
        )
        .order_by("finalizes_at", "pk")
    )
    flags = AuditRecord.objects.filter(action=AuditRecord.Action.FLAGGED).order_by("-at", "-pk")
    flagged = (
        Question.objects.filter(needs_review=True)
        .select_related("tournament", "benchmark")
        .prefetch_related(
            Prefetch("audit", queryset=flags, to_attr="flags"),
            Prefetch(
                "resolutions",
                queryset=Resolution.objects.filter(state=Resolution.State.FINAL).select_related(
                    "evidence_result"
                ),
                to_attr="finals",
            ),
        )
        .order_by("pk")
    )
    hide_imports = request.GET.get("imports") == "hide"
    recent = AuditRecord.objects.select_related(
        "question", "actor", "resolution__question"
    ).order_by("-at", "-pk")
    if hide_imports:
        recent = recent.exclude(action=AuditRecord.Action.IMPORTED)
    context = {
        **admin.site.each_context(request),
        "title": "Resolution review",
        "proposals": proposals,
        "flagged": flagged,
        "activity": activity_groups(recent[:ACTIVITY_SCAN], ACTIVITY_ROWS),
        "hide_imports": hide_imports,
        "form": ReasonForm(reason_required=False),
        "can_resolve": request.user.has_perm("markets.change_question"),
    }
    return render(request, "staff/resolutions.html", context)


def _reasoned(request: HttpRequest, *, required: bool, call: Callable[[str], str]) -> HttpResponse:
    form = ReasonForm(request.POST, reason_required=required)
    if not form.is_valid():
        messages.error(request, "Give a reason: it is recorded in the audit trail.")
    else:
        try:
            messages.success(request, call(form.cleaned_data["reason"]))
        except ResolutionError as exc:
            messages.error(request, str(exc))
    return redirect("staff:resolutions")


@require_POST
@_can_resolve
def resolution_confirm_view(request: HttpRequest, pk: int) -> HttpResponse:
    def call(reason: str) -> str:
        final = resolution_confirm(resolution_id=pk, user=request.user, reason=reason)
        return f"Confirmed: “{final.question}” is final {final.get_outcome_display().upper()}."

    return _reasoned(request, required=False, call=call)


@require_POST
@_can_resolve
def resolution_reject_view(request: HttpRequest, pk: int) -> HttpResponse:
    def call(reason: str) -> str:
        rejected = resolution_reject(resolution_id=pk, user=request.user, reason=reason)
        outcome = rejected.get_outcome_display().upper()
        return f"Rejected the proposed {outcome} for “{rejected.question}”."

    return _reasoned(request, required=True, call=call)


@require_POST
@_can_resolve
def question_review_clear_view(request: HttpRequest, pk: int) -> HttpResponse:
    def call(reason: str) -> str:
        question = question_review_clear(question_id=pk, user=request.user, reason=reason)
        return f"“{question}” keeps its resolution; the review flag is cleared."

    return _reasoned(request, required=True, call=call)
