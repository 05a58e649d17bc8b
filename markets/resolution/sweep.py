"""The periodic sweep: open and close questions on time, evaluate milestone questions, finalize
proposals whose review window has passed. Beat runs it every ``SWEEP_INTERVAL_SECONDS``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from markets.models import AuditRecord, Question
from markets.resolution.audit import audit_record
from markets.resolution.finality import resolutions_finalize_due
from markets.resolution.milestones import milestones_evaluate_due


def questions_open_due(*, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Move upcoming questions whose open time has come to open (compare-and-set)."""
    now = now or timezone.now()
    ids = list(
        Question.objects.filter(status=Question.Status.UPCOMING, open_time__lte=now)
        .order_by("open_time")
        .values_list("id", flat=True)[:batch]
    )
    return Question.objects.filter(
        pk__in=ids, status=Question.Status.UPCOMING, close_time__gt=now
    ).update(status=Question.Status.OPEN)


def questions_close_due(*, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Close questions past their close time, in bounded batches, compare-and-set."""
    now = now or timezone.now()
    ids = list(
        Question.objects.filter(
            status__in=[Question.Status.UPCOMING, Question.Status.OPEN], close_time__lte=now
        )
        .order_by("close_time")
        .values_list("id", flat=True)[:batch]
    )
    closed = 0
    for qid in ids:
        with transaction.atomic():
            updated = Question.objects.filter(
                pk=qid, status__in=[Question.Status.UPCOMING, Question.Status.OPEN]
            ).update(status=Question.Status.CLOSED)
            if updated:
                audit_record(question=qid, action=AuditRecord.Action.CLOSED, label="sweep", at=now)
                closed += 1
    return closed


@dataclass(frozen=True)
class SweepReport:
    opened: int
    closed: int
    evaluated: int
    finalized: int


def markets_sweep(*, now: dt.datetime | None = None, batch: int = 200) -> SweepReport:
    """One periodic pass: open and close due questions, evaluate milestone questions, finalize
    proposals whose review window has passed. Every step is a bounded batch and idempotent, so
    overlapping or repeated sweeps are harmless, and a sweep catches whatever a lost task missed.
    """
    now = now or timezone.now()
    opened = questions_open_due(now=now, batch=batch)
    closed = questions_close_due(now=now, batch=batch)
    # Evaluate before finalizing, so that a revision seen now withdraws a due proposal first.
    evaluated = milestones_evaluate_due(now=now, batch=batch)
    finalized = resolutions_finalize_due(now=now, batch=batch)
    return SweepReport(opened=opened, closed=closed, evaluated=evaluated, finalized=finalized)
