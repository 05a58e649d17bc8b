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

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Field, Model
from django.utils import timezone

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


def bulk_insert_new(
    model: type[Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Insert new rows of ``model`` giving only ``columns`` (database column names); every other
    column but an auto primary key gets what the ORM's ``create`` would store: its field's
    default (a callable default such as ``timezone.now`` is called once for the whole batch),
    the current time for ``auto_now``/``auto_now_add``, "" for a text field and NULL for any
    other field without a default. JSON values (given or default) are encoded as the ORM
    encodes them. Through ``bulk_insert`` (COPY
    on PostgreSQL, one prepared ``executemany`` elsewhere): no model instance or SQL is built
    per row. No primary keys come back: callers read them by a natural key when needed.

    Returns the number of rows written. Raises ``KeyError`` for a column the model does not
    have; the database's ``IntegrityError`` for a missing column that needs a value.
    """
    by_column = {f.column: f for f in model._meta.concrete_fields}
    given = set(columns)
    for c in given:
        by_column[c]
    now = timezone.now()
    extra: list[str] = []
    values: list[Any] = []
    for field in model._meta.concrete_fields:
        if field.column in given or field is model._meta.auto_field:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value: Any = now
        else:  # the default, else "" for a text column, else NULL (as ``Model()`` sets it)
            value = field.get_default()
        if field.get_internal_type() == "JSONField":
            value = field.get_db_prep_save(value, connection)
        extra.append(str(field.column))
        values.append(value)
    tail = tuple(values)
    json_at = [
        (i, by_column[c])
        for i, c in enumerate(columns)
        if by_column[c].get_internal_type() == "JSONField"
    ]

    def full(row: Sequence[Any]) -> tuple[Any, ...]:
        if not json_at:
            return tuple(row) + tail
        out = list(row)
        for i, field in json_at:
            out[i] = field.get_db_prep_save(out[i], connection)
        return tuple(out) + tail

    return bulk_insert(model, [*columns, *extra], (full(row) for row in rows))


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


# --- Column-wise inserts: binary COPY built in numpy -------------------------------------------

PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # PostgreSQL's binary timestamps count from here
_BINARY_KINDS = {  # internal type → big-endian binary COPY field
    "AutoField": ">i4",
    "IntegerField": ">i4",
    "PositiveIntegerField": ">i4",
    "SmallIntegerField": ">i2",
    "BigAutoField": ">i8",
    "BigIntegerField": ">i8",
    "FloatField": ">f8",
}
_TEXT_KINDS = frozenset({"CharField", "TextField"})
_COPY_ROWS = 16_384  # rows per block of binary COPY records (bounded scratch memory)


def bulk_insert_columns(model: type[Model], columns: dict[str, Any]) -> int:
    """Insert rows given column by column; keys are database column names.

    Each value is one of: a float64 array (NaN is NULL) or an integer array for a numeric
    column; an array of str for a text column (few distinct values, as a choice column); or a
    single Python value repeated on every row (an aware datetime, a str, an int). Array columns
    share one length n; returns n. On PostgreSQL one binary COPY built in numpy — no Python row
    objects: rows sharing a NULL pattern and text values have one fixed layout, so each such
    group is one structured array (row order in the table does not matter). Elsewhere the rows
    go through ``bulk_insert``. Values are stored exactly (binary float8 is the float itself).
    Raises ``KeyError`` for a column the model does not have, ``ValueError`` for arrays of
    different lengths or a column type this writer does not handle.
    """
    by_column = {f.column: f for f in model._meta.concrete_fields}
    lengths = {len(v) for v in columns.values() if isinstance(v, np.ndarray)}
    if len(lengths) != 1:
        raise ValueError("give array columns of one common length (at least one array)")
    (n,) = lengths
    if n == 0:
        return 0
    fields = {name: by_column[name] for name in columns}
    if connection.vendor != "postgresql":
        return bulk_insert(model, list(columns), _column_rows(columns, fields, n))
    kinds: dict[str, Any] = {}
    values: dict[str, np.ndarray] = {}
    null: dict[str, np.ndarray] = {}
    text: dict[str, tuple[list[bytes], np.ndarray]] = {}
    for name, value in columns.items():
        internal = _internal_type(fields[name])
        if internal in _TEXT_KINDS:
            arr = np.asarray([value] * n if not isinstance(value, np.ndarray) else value, dtype=str)
            labels, codes = np.unique(arr, return_inverse=True)
            text[name] = ([str(s).encode() for s in labels.tolist()], codes.astype(np.int64))
            continue
        if internal == "DateTimeField":
            if isinstance(value, np.ndarray):
                raise ValueError(f"column {name!r}: give one datetime for every row")
            kinds[name] = ">i8"
            values[name] = np.full(n, (value - PG_EPOCH) // dt.timedelta(microseconds=1))
            null[name] = np.zeros(n, dtype=bool)
            continue
        if internal not in _BINARY_KINDS:
            raise ValueError(f"column {name!r}: {internal} is not handled")
        kinds[name] = _BINARY_KINDS[internal]
        arr = np.asarray(value) if isinstance(value, np.ndarray) else np.full(n, value)
        missing = np.isnan(arr) if arr.dtype.kind == "f" else np.zeros(n, dtype=bool)
        if kinds[name] != ">f8":
            arr = np.where(missing, 0, arr).astype(np.int64)
        values[name], null[name] = arr, missing
    # One group per (NULL pattern, text values): a mixed-radix key over the columns.
    key = np.zeros(n, dtype=np.int64)
    radix = 1
    for name in columns:
        if name in text:
            names, codes = text[name]
            key += codes * radix
            radix *= len(names)
        elif null[name].any():
            key += null[name].astype(np.int64) * radix
            radix *= 2
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8))  # signature, flags, no extension
        for lo in range(0, n, _COPY_ROWS):
            hi = min(n, lo + _COPY_ROWS)
            copy.write(_binary_records(columns, kinds, values, null, text, key, lo, hi))
        copy.write(b"\xff\xff")  # trailer: field count −1
    return n


def _binary_records(
    columns: dict[str, Any],
    kinds: dict[str, Any],
    values: dict[str, np.ndarray],
    null: dict[str, np.ndarray],
    text: dict[str, tuple[list[bytes], np.ndarray]],
    key: np.ndarray,
    lo: int,
    hi: int,
) -> bytes:
    """Binary COPY records of rows [lo, hi), in row order: each group of rows sharing a layout
    (``key``) is one structured array, scattered into one buffer at its rows' offsets. Row order
    is kept: rows inserted in the caller's order fill the indexes in that order (grouped rows
    made each index take one pass per group, splitting pages mid-tree)."""
    _, first, inverse = np.unique(key[lo:hi], return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    sizes = np.empty(hi - lo, dtype=np.int64)
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for g, row0 in enumerate((first + lo).tolist()):
        rows = np.flatnonzero(inverse == g)
        layout: list[tuple[str, Any]] = [("fields", ">i2")]
        fixed: dict[str, bytes] = {}
        for name in columns:
            layout.append((f"len_{name}", ">i4"))
            if name in text:
                labels, codes = text[name]
                fixed[name] = labels[int(codes[row0])]
                if fixed[name]:
                    layout.append((name, f"S{len(fixed[name])}"))
            elif not null[name][row0]:
                layout.append((name, kinds[name]))
        record = np.empty(len(rows), dtype=np.dtype(layout))
        record["fields"] = len(columns)
        for name in columns:
            if name in text:
                record[f"len_{name}"] = len(fixed[name])
                if fixed[name]:
                    record[name] = fixed[name]
            elif null[name][row0]:
                record[f"len_{name}"] = -1
            else:
                record[f"len_{name}"] = np.dtype(kinds[name]).itemsize
                record[name] = values[name][lo:hi][rows]
        width = record.dtype.itemsize
        sizes[rows] = width
        parts.append((rows, record.view(np.uint8).reshape(len(rows), width)))
    ends = np.cumsum(sizes)
    starts = ends - sizes
    buffer = np.empty(int(ends[-1]), dtype=np.uint8)
    for rows, raw in parts:
        buffer[starts[rows][:, None] + np.arange(raw.shape[1])] = raw
    return buffer.tobytes()


def _internal_type(field: Field) -> str:
    """The column's storage type: a foreign key stores its target's key type."""
    target = field.target_field if field.is_relation else field  # type: ignore[attr-defined]
    internal = target.get_internal_type()
    if field.is_relation and internal == "BigAutoField":
        return "BigIntegerField"
    return str(internal)


def _column_rows(
    columns: dict[str, Any], fields: dict[str, Field], n: int
) -> Iterator[tuple[Any, ...]]:
    """``bulk_insert_columns``' columns as Python row tuples (NaN → None, numpy → Python; an
    integer column's floats → int)."""
    lists: list[list[Any]] = []
    for name, value in columns.items():
        if not isinstance(value, np.ndarray):
            lists.append([value] * n)
        elif value.dtype.kind == "f":
            as_int = _BINARY_KINDS.get(_internal_type(fields[name]), ">f8") != ">f8"
            lists.append([None if x != x else int(x) if as_int else x for x in value.tolist()])
        else:
            lists.append(value.tolist())
    return zip(*lists, strict=True)
