"""Data access of the write path: three round trips per forecast event on PostgreSQL.

``forecasts.services`` keeps every rule and all the crowd arithmetic; this module only moves
rows. A submission needs, inside one transaction:

1. the question, its tournament and its crowd state, with the question and the state locked;
2. the new event inserted, and the forecaster's previous event on the question;
3. the updated state saved, and the new history point inserted.

On PostgreSQL each step is one statement (``FOR UPDATE OF`` both rows; a data-modifying CTE
for the other two), written once from the models' metadata (``config.rows``), so a renamed
column cannot drift. Django's ORM takes eight statements and compiles each per request, which
costs more CPU than the rest of the request together. Other databases (SQLite, the development
default) take the ORM path, which does the same in more statements; a test runs both on
PostgreSQL and compares every row they write.

Why the state is locked in the same statement rather than read after it: in READ COMMITTED, a
statement that waited for a row lock re-reads only the rows it locks (EvalPlanQual). Locking
the state row too makes PostgreSQL return its newest committed version — the one the previous
holder of the lock wrote — instead of the version from before the wait.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

from django.db import connection

from config import rows
from config.rows import column
from forecasts.models import CrowdPoint, CrowdState, Forecast
from markets.models import Question, Tournament

PREVIOUS_FIELDS = ("kind", "probability", "time", "track_record_weight")

# Switched off by a test to run the ORM path on PostgreSQL and compare.
FUSED_ON_POSTGRESQL = True


@dataclass(frozen=True, slots=True)
class PreviousEvent:
    """The forecaster's event on the question before the new one: what the sums hold for them."""

    kind: str
    probability: float | None
    time: dt.datetime
    track_record_weight: float


def fused() -> bool:
    """Whether the one-statement-per-step path applies (PostgreSQL)."""
    return FUSED_ON_POSTGRESQL and connection.vendor == "postgresql"


# --- 1. lock ---------------------------------------------------------------------------------


def lock_question_and_state(question_id: int) -> tuple[Question, CrowdState] | None:
    """Lock the question and its crowd state; None when the question does not exist.

    A question without a state row yet (no event so far, or its log was emptied) gets one,
    created under the question's lock.
    """
    if fused():
        with rows.prepared_cursor() as cursor:
            cursor.execute(_lock_sql(), [question_id])
            row = cursor.fetchone()
        if row is not None:
            q_fields, t_fields, s_fields = _locked_fields()
            question = rows.from_row(Question, row, 0, q_fields)
            question.tournament = rows.from_row(Tournament, row, len(q_fields), t_fields)
            state = rows.from_row(CrowdState, row, len(q_fields) + len(t_fields), s_fields)
            state.question = question
            return question, state
    question = (
        Question.objects.select_for_update(of=("self",))
        .select_related("tournament")
        .filter(pk=question_id)
        .first()
    )
    if question is None:
        return None
    state, _ = CrowdState.objects.get_or_create(question=question)
    return question, state


@cache
def _locked_fields() -> tuple[tuple, tuple, tuple]:
    # Long texts (descriptions, resolution criteria) stay deferred: a submission never reads
    # them, and they would be most of the row.
    return rows.short_columns(Question), rows.short_columns(Tournament), rows.columns(CrowdState)


@cache
def _lock_sql() -> str:
    q_fields, t_fields, s_fields = _locked_fields()
    return (
        f"SELECT {rows.select_list('q', q_fields)}, {rows.select_list('t', t_fields)}, "
        f"{rows.select_list('s', s_fields)} "
        f"FROM {rows.table(Question)} q "
        f"JOIN {rows.table(Tournament)} t "
        f"ON t.{column(Tournament, 'id')} = q.{column(Question, 'tournament')} "
        f"JOIN {rows.table(CrowdState)} s "
        f"ON s.{column(CrowdState, 'question')} = q.{column(Question, 'id')} "
        f"WHERE q.{column(Question, 'id')} = %s FOR UPDATE OF q, s"
    )


# --- 2. append -------------------------------------------------------------------------------


def append_event(event: Forecast) -> PreviousEvent | None:
    """Insert ``event`` (setting its id) and return the forecaster's event before it, if any."""
    if fused():
        params = [event.question_id, event.forecaster_id]
        params += rows.save_values(event, _new_fields(Forecast), add=True)
        with rows.prepared_cursor() as cursor:
            cursor.execute(_append_sql(), params)
            row = cursor.fetchone()
        rows.mark_saved(event, row[0])
        return None if row[1] is None else PreviousEvent(*row[1:])
    event.save(force_insert=True)
    previous = (
        Forecast.objects.filter(question_id=event.question_id, forecaster_id=event.forecaster_id)
        .exclude(pk=event.pk)
        .order_by("-time", "-id")
        .values_list(*PREVIOUS_FIELDS)
        .first()
    )
    return None if previous is None else PreviousEvent(*previous)


@cache
def _new_fields(model: type) -> tuple:
    return tuple(f for f in rows.columns(model) if not f.primary_key)


@cache
def _append_sql() -> str:
    table, pk, time = rows.table(Forecast), column(Forecast, "id"), column(Forecast, "time")
    wanted = ", ".join(column(Forecast, name) for name in PREVIOUS_FIELDS)
    fields = _new_fields(Forecast)
    names = ", ".join(rows.qn(f.column) for f in fields)
    values = ", ".join(["%s"] * len(fields))
    # The CTE's SELECT sees the table as of the statement's start: without the new row.
    return (
        f"WITH previous AS (SELECT {wanted} FROM {table} "
        f"WHERE {column(Forecast, 'question')} = %s AND {column(Forecast, 'forecaster')} = %s "
        f"ORDER BY {time} DESC, {pk} DESC LIMIT 1), "
        f"inserted AS (INSERT INTO {table} ({names}) VALUES ({values}) RETURNING {pk}) "
        "SELECT inserted.*, previous.* FROM inserted LEFT JOIN previous ON TRUE"
    )


# --- 3. save ---------------------------------------------------------------------------------


def save_state_and_point(
    state: CrowdState, point: CrowdPoint, update_fields: tuple[str, ...]
) -> None:
    """Save ``update_fields`` of the (locked) state and insert the history point."""
    if fused():
        params = rows.save_values(state, _state_fields(update_fields), add=False)
        params.append(state.pk)
        params += rows.save_values(point, _new_fields(CrowdPoint), add=True)
        with rows.prepared_cursor() as cursor:
            cursor.execute(_save_sql(update_fields), params)
            rows.mark_saved(point, cursor.fetchone()[0])
        return
    state.save(update_fields=update_fields)
    point.save(force_insert=True)


@cache
def _state_fields(update_fields: tuple[str, ...]) -> tuple:
    return tuple(CrowdState._meta.get_field(name) for name in update_fields)


@cache
def _save_sql(update_fields: tuple[str, ...]) -> str:
    sets = ", ".join(f"{column(CrowdState, name)} = %s" for name in update_fields)
    fields = _new_fields(CrowdPoint)
    names = ", ".join(rows.qn(f.column) for f in fields)
    values = ", ".join(["%s"] * len(fields))
    return (
        f"WITH state AS (UPDATE {rows.table(CrowdState)} SET {sets} "
        f"WHERE {column(CrowdState, 'question')} = %s) "
        f"INSERT INTO {rows.table(CrowdPoint)} ({names}) VALUES ({values}) "
        f"RETURNING {column(CrowdPoint, 'id')}"
    )
