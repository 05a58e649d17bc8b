"""Model instances from hand-written SQL, converted exactly as the ORM converts its rows.

For the few hot statements where compiling an ORM query costs more than running it (the
forecast write path and token authentication): the SQL is written once from the models'
metadata, and the rows it returns become ordinary model instances.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Field, Model


@cache
def columns(model: type[Model]) -> tuple[Field, ...]:
    """The model's concrete fields, in the order ``select_list`` and ``from_row`` use."""
    return tuple(model._meta.concrete_fields)


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


def select_list(alias: str, model: type[Model]) -> str:
    """``alias.col1, alias.col2, …`` for every concrete field of ``model``."""
    return ", ".join(f"{alias}.{qn(f.column)}" for f in columns(model))


@cache
def _converters(vendor: str, model: type[Model]) -> tuple[tuple[Any, ...], ...]:
    # The backend's converters first, then the field's own (as SQLCompiler.get_converters).
    return tuple(
        (*connection.ops.get_db_converters(f.get_col(model._meta.db_table)),
         *f.get_db_converters(connection))
        for f in columns(model)
    )  # fmt: skip


def from_row(model: type[Model], row: tuple | list, start: int = 0) -> Any:
    """An instance of ``model`` from ``row[start:start + len(columns(model))]``."""
    fields = columns(model)
    converters = _converters(connection.vendor, model)
    values = []
    for i, field in enumerate(fields):
        value = row[start + i]
        for convert in converters[i]:
            value = convert(value, field, connection)
        values.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], values)


def insert_values(model: type[Model], obj: Model, fields: tuple[Field, ...]) -> list[Any]:
    """Parameters that save ``fields`` of a new ``obj``, prepared as ``Model.save`` does."""
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]


def update_values(obj: Model, fields: tuple[Field, ...]) -> list[Any]:
    """Parameters that save ``fields`` of an existing ``obj``, prepared as ``Model.save`` does."""
    return [f.get_db_prep_save(f.pre_save(obj, False), connection) for f in fields]


def mark_saved(obj: Model, pk: Any) -> None:
    """Make ``obj`` a saved instance with primary key ``pk``, as ``Model.save`` leaves it."""
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias
