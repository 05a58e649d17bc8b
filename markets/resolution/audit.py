"""The audit trail: one helper writes every AuditRecord, so each resolution change, close,
proposal, flag and review is recorded the same way."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from markets.actors import actor_or_none
from markets.models import AuditRecord, Question, Resolution


def audit_record(
    *,
    question: Question | int,
    action: str,
    resolution: Resolution | None = None,
    user: Any = None,
    label: str = "",
    reason: str = "",
    evidence: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> AuditRecord:
    """Write one audit record of ``action`` (an ``AuditRecord.Action``) on ``question``.

    ``user`` is the person who acted (None, or an anonymous user, for the system); ``label``
    names the system actor ("milestone rule", "sweep", "import"…) and is kept only when no
    person acted. ``at`` defaults to now. Returns the saved record.
    """
    actor = actor_or_none(user)
    question_field = "question_id" if isinstance(question, int) else "question"
    return AuditRecord.objects.create(
        **{question_field: question},
        resolution=resolution,
        action=action,
        actor=actor,
        actor_label="" if actor else label,
        reason=reason,
        evidence=evidence or {},
        at=at or timezone.now(),
    )
