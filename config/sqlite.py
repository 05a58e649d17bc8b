"""SQLite specifics: read-only transactions, and stored times in one spelling.

Settings make every SQLite transaction ``BEGIN IMMEDIATE`` (it takes the write lock when it
begins, so two writers queue instead of one failing at once). A transaction that only reads
needs no write lock: ``read_transaction`` begins it deferred, and in WAL mode it reads a
snapshot without waiting for a writer or making one wait.

SQLite has no time type. Django stores a datetime as UTC text ``YYYY-MM-DD HH:MM:SS[.ffffff]``
(``connection.ops.adapt_datetimefield_value``) and every comparison is a text comparison, so
one instant must have one spelling. Before ``config.bulk`` prepared its values, its SQLite path
let the sqlite3 module spell times ``YYYY-MM-DD HH:MM:SS[.ffffff]+00:00``; the data migrations
``forecasts 0007`` and ``scoring 0002`` rewrite such rows with ``normalize_times``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection as default_connection
from django.db import transaction
from django.db.models import DateTimeField, Model

# Django's two spellings: whole seconds, or six digits of microseconds.
_DATE_TIME = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
CANONICAL = (_DATE_TIME, _DATE_TIME + ".[0-9][0-9][0-9][0-9][0-9][0-9]")
BATCH = 10_000


@contextmanager
def read_transaction() -> Iterator[None]:
    """``transaction.atomic()`` for a block that only reads: one consistent view of the data.

    On SQLite, when it opens the transaction, it begins it deferred rather than with the
    settings' IMMEDIATE: a long read (an export streamed to a slow client) then holds no write
    lock, and forecasts keep being written meanwhile. Elsewhere, or inside a transaction, it is
    ``transaction.atomic()``. A write inside the block on SQLite may fail at once with
    "database is locked" when another connection writes: read only.
    """
    conn: Any = default_connection  # SQLite's wrapper has transaction_mode (Django ≥ 5.1)
    if conn.vendor != "sqlite" or conn.in_atomic_block:
        with transaction.atomic():
            yield
        return
    conn.ensure_connection()  # connecting sets transaction_mode from the settings
    mode = conn.transaction_mode
    conn.transaction_mode = None  # a plain BEGIN: deferred
    try:
        with transaction.atomic():
            conn.transaction_mode = mode  # begun; the next transactions are IMMEDIATE again
            yield
    finally:
        conn.transaction_mode = mode


def normalize_times(connection: Any, table: str, column: str, pk: str = "id") -> int:
    """Rewrite the values of ``table.column`` not in Django's spelling; returns how many.

    ``connection`` is a Django database connection, SQLite (a no-op returning 0 elsewhere: the
    other databases have a real time type). A value with a UTC offset (``+00:00``, ``Z``,
    ``-05:00``) is converted to UTC; one without is already UTC (Django's storage). Raises
    ``ValueError`` for a value that is not an ISO 8601 time at all, changing nothing.
    """
    if connection.vendor != "sqlite":
        return 0
    qn = connection.ops.quote_name
    where = " AND ".join(f"{qn(column)} NOT GLOB %s" for _ in CANONICAL)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {qn(pk)}, {qn(column)} FROM {qn(table)} "
            f"WHERE {qn(column)} IS NOT NULL AND {where}",
            list(CANONICAL),
        )
        rows = cursor.fetchall()
        updates = []
        for key, text in rows:
            try:
                value = dt.datetime.fromisoformat(str(text))
            except ValueError:
                raise ValueError(f"{table}.{column} of row {key}: {text!r} is not a time") from None
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.UTC)
            updates.append((connection.ops.adapt_datetimefield_value(value), key))
        sql = f"UPDATE {qn(table)} SET {qn(column)} = %s WHERE {qn(pk)} = %s"
        for start in range(0, len(updates), BATCH):
            cursor.executemany(sql, updates[start : start + BATCH])
    return len(updates)


def normalize_model_times(connection: Any, models: list[type[Model]]) -> int:
    """``normalize_times`` on every datetime column of ``models``; returns the rows rewritten."""
    changed = 0
    for model in models:
        pk = model._meta.pk
        assert pk is not None and pk.column
        table = model._meta.db_table
        for field in model._meta.concrete_fields:
            if isinstance(field, DateTimeField) and field.column:
                changed += normalize_times(connection, table, field.column, pk.column)
    return changed
