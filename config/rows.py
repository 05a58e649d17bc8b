"""Model instances from hand-written SQL, converted exactly as the ORM converts its rows.

For the few hot statements where compiling an ORM query costs more than running it (the
forecast write path and token authentication): the SQL is written once from the models'
metadata, and the rows it returns become ordinary model instances.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Field, Model, TextField


@cache
def columns(model: type[Model]) -> tuple[Field, ...]:
    """The model's concrete fields, in the order ``select_list`` and ``from_row`` use."""
    return tuple(model._meta.concrete_fields)


@cache
def short_columns(model: type[Model]) -> tuple[Field, ...]:
    """The concrete fields but long text (``TextField``), which is left deferred."""
    return tuple(f for f in columns(model) if not isinstance(f, TextField))


def column(model: type[Model], name: str) -> str:
    """The quoted column of field ``name``."""
    field = model._meta.get_field(name)
    assert isinstance(field, Field) and field.column, f"{name} is not a concrete field"
    return connection.ops.quote_name(field.column)


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def qn(name: str | None) -> str:
    assert name, "a column without a name"
    return connection.ops.quote_name(name)


def select_list(alias: str, fields: tuple[Field, ...]) -> str:
    """``alias.col1, alias.col2, …`` for ``fields``."""
    return ", ".join(f"{alias}.{qn(f.column)}" for f in fields)


@cache
def _loader(
    vendor: str, fields: tuple[Field, ...]
) -> tuple[list[str], list[tuple[int, Field, tuple[Any, ...]]]]:
    """Attribute names, and the fields whose values need converting: (position, converters)."""
    converting = []
    for i, f in enumerate(fields):
        # The backend's converters first, then the field's own (as SQLCompiler.get_converters).
        converters = (
            *connection.ops.get_db_converters(f.get_col(f.model._meta.db_table)),
            *f.get_db_converters(connection),
        )
        if converters:
            converting.append((i, f, converters))
    return [f.attname for f in fields], converting


def from_row(
    model: type[Model], row: tuple | list, start: int = 0, fields: tuple[Field, ...] | None = None
) -> Any:
    """An instance of ``model`` from ``row[start:start + len(fields)]`` (default: every column).

    Fields not given are deferred: read from the database if something asks for them.
    """
    fields = columns(model) if fields is None else fields
    names, converting = _loader(connection.vendor, fields)
    values = list(row[start : start + len(fields)])
    for i, field, converters in converting:
        value = values[i]
        for convert in converters:
            value = convert(value, field, connection)
        values[i] = value
    return model.from_db(connection.alias, names, values)


def save_values(obj: Model, fields: tuple[Field, ...], *, add: bool) -> list[Any]:
    """Parameters that save ``fields`` of ``obj`` (new when ``add``), prepared as ``Model.save``."""
    return [f.get_db_prep_save(f.pre_save(obj, add), connection) for f in fields]


def mark_saved(obj: Model, pk: Any) -> None:
    """Make ``obj`` a saved instance with primary key ``pk``, as ``Model.save`` leaves it."""
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias


@contextmanager
def prepared_cursor() -> Iterator[Any]:
    """A Django cursor whose statements PostgreSQL can prepare (server-side binding).

    Django's PostgreSQL cursors bind parameters on the client, so nothing can be prepared. This
    cursor sends them apart from the SQL; with ``prepare_threshold`` set (settings), psycopg
    prepares a statement the fifth time the connection runs it. It is wrapped as Django wraps
    its own (query logging, execute wrappers). For short statements with few parameters only:
    server-side binding allows at most 65,535. Elsewhere, an ordinary cursor.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    import psycopg

    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    with wrap(raw) as cursor:  # type: ignore[arg-type]  # (stubs name the wrapper, not the raw cursor)
        yield cursor
