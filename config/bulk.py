"""Fast bulk inserts for derived rows (scores, crowd history, leaderboards).

The ORM's ``bulk_create`` spends most of its time building SQL per field and row; for tables
that are rebuilt wholesale we write tuples directly: COPY on PostgreSQL (psycopg 3), a single
prepared ``executemany`` elsewhere. Callers pass plain Python values in column order, inside
the caller's transaction.

Every value is stored as the ORM would store it. PostgreSQL has real column types, so COPY
takes Python values as they are. SQLite has none: a time is text, compared as text, so each
value of a time, date, duration, decimal or UUID column goes through its field's
``get_db_prep_save`` (for a time: UTC ``YYYY-MM-DD HH:MM:SS[.ffffff]``, Django's format). The
sqlite3 module's own adapter wrote ``…+00:00``, which sorts after the same instant written by
the ORM, and a point exactly at a cutoff dropped out of ``time <= cutoff`` reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Model

# Fields whose stored value on SQLite differs from what the sqlite3 module makes of the Python
# value. Their values are immutable, so a value seen again is the same prepared value.
PREPARED_TYPES = frozenset(
    {"DateTimeField", "DateField", "TimeField", "DecimalField", "DurationField", "UUIDField"}
)


def bulk_insert(model: type[Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert ``rows`` into ``model``'s table; ``columns`` are database column names.

    Values are Python values in column order (aware datetimes for time columns). Returns the
    number of rows written. Raises ``KeyError`` for a column the model does not have.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
            with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        placeholders = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({cols}) VALUES ({placeholders})"
        batch: list[Sequence[Any]] = []
        for row in _prepared(model, columns, rows):
            batch.append(row)
            if len(batch) >= 10_000:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count


def _prepared(
    model: type[Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Iterator[Sequence[Any]]:
    """``rows`` with the values of ``PREPARED_TYPES`` columns as the ORM saves them."""
    by_column = {f.column: f for f in model._meta.concrete_fields}
    fields: list[tuple[int, Field]] = [
        (i, by_column[c])
        for i, c in enumerate(columns)
        if by_column[c].get_internal_type() in PREPARED_TYPES
    ]
    if not fields:
        yield from rows
        return
    # The last value of each column and its prepared form: a column such as ``computed_at``
    # holds one value for the whole batch, prepared once.
    last: list[tuple[Any, Any]] = [(object(), None) for _ in fields]
    for row in rows:
        out = list(row)
        for k, (i, field) in enumerate(fields):
            value = out[i]
            seen, prepared = last[k]
            if value is not seen:
                prepared = field.get_db_prep_save(value, connection)
                last[k] = (value, prepared)
            out[i] = prepared
        yield out
