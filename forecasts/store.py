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

The bulk side lives here too: ``load_events`` reads a question's whole log as numpy arrays
(one binary COPY on PostgreSQL) and ``write_points`` writes a rebuilt history (binary COPY
records built in numpy), for recomputes, scoring and ``verify_crowd``.

Why the state is locked in the same statement rather than read after it: in READ COMMITTED, a
statement that waited for a row lock re-reads only the rows it locks (EvalPlanQual). Locking
the state row too makes PostgreSQL return its newest committed version — the one the previous
holder of the lock wrote — instead of the version from before the wait.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, overload

import numpy as np
from django.db import connection
from django.db.models import Q

from config import rows
from config.bulk import bulk_insert
from config.rows import column
from forecasts.models import CrowdPoint, CrowdState, Forecast, MedianCheckpoint
from markets.models import Question, Tournament

PREVIOUS_FIELDS = ("kind", "probability", "time", "values")

# Switched off by a test to run the ORM path on PostgreSQL and compare.
FUSED_ON_POSTGRESQL = True


@dataclass(frozen=True, slots=True)
class PreviousEvent:
    """The forecaster's event on the question before the new one: what the sums hold for them."""

    kind: str
    probability: float | None
    time: dt.datetime
    values: bytes | memoryview | None = None  # multiple choice and continuous (forecasts.typed)


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


# --- Reading the log and writing the history in bulk (recompute, scoring, verify) -------------


# One row of the PostgreSQL binary COPY of a question's log (see _load_events_copy): a field
# count, then for each field its byte length and its big-endian value.
_COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("n_id", ">i4"), ("id", ">i8"),
        ("n_time", ">i4"), ("time", ">f8"),
        ("n_forecaster", ">i4"), ("forecaster", ">i8"),
        ("n_probability", ">i4"), ("probability", ">f8"),
        ("n_track_record_weight", ">i4"), ("track_record_weight", ">f8"),
    ]
)  # fmt: skip
_COPY_ROW_MANY = np.dtype(  # _load_events_copy_many: the question id, then _COPY_ROW's fields
    [
        ("fields", ">i2"),
        ("n_question_id", ">i4"), ("question_id", ">i8"),
        ("n_id", ">i4"), ("id", ">i8"),
        ("n_time", ">i4"), ("time", ">f8"),
        ("n_forecaster", ">i4"), ("forecaster", ">i8"),
        ("n_probability", ">i4"), ("probability", ">f8"),
        ("n_track_record_weight", ">i4"), ("track_record_weight", ">f8"),
    ]
)  # fmt: skip
_COPY_HEADER = 19  # signature (11), flags (4), header extension length (4)
_COPY_TRAILER = 2  # field count −1


@dataclass(frozen=True)
class EventLog:
    """A question's forecast log as parallel arrays, in event order (time, then id).

    ``ids`` (int64 event ids), ``times`` (float64 epoch seconds), ``forecaster`` (int64 ids),
    ``probs`` (float64; NaN for a withdrawal), ``track_record_weight`` (float64: the a_i stored
    with each event when it was made, a record; the crowd pools with
    ``forecasts.services.crowd_weights``, docs/methods.md §6.2).
    """

    ids: np.ndarray
    times: np.ndarray
    forecaster: np.ndarray
    probs: np.ndarray
    track_record_weight: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def load_events(question_id: int) -> EventLog:
    """The question's forecast log as arrays, in event order (time, then id).

    On PostgreSQL one binary COPY read straight into numpy; elsewhere the ORM.
    """
    if connection.vendor == "postgresql":
        return _load_events_copy(question_id)
    return _event_log(Forecast.objects.filter(question_id=question_id))


def load_events_after(question_id: int, time: dt.datetime, event_id: int) -> EventLog:
    """The question's events after the event (``time``, ``event_id``) in event order: the
    log's suffix, read through the (question, time, id) index."""
    after = Q(time__gt=time) | Q(time=time, id__gt=event_id)
    return _event_log(Forecast.objects.filter(after, question_id=question_id))


def _event_log(events: Any) -> EventLog:
    rows = list(
        events.order_by("time", "id").values_list(
            "id", "time", "forecaster_id", "probability", "track_record_weight"
        )
    )
    n = len(rows)
    return EventLog(
        ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=n),
        times=np.fromiter((r[1].timestamp() for r in rows), dtype=np.float64, count=n),
        forecaster=np.fromiter((r[2] for r in rows), dtype=np.int64, count=n),
        probs=np.fromiter(
            (np.nan if r[3] is None else r[3] for r in rows), dtype=np.float64, count=n
        ),
        track_record_weight=np.fromiter((r[4] for r in rows), dtype=np.float64, count=n),
    )


def _copy_out(sql: str) -> memoryview:
    """PostgreSQL: the records of a ``COPY (...) TO STDOUT (FORMAT BINARY)`` statement, header
    and trailer removed (fixed-size rows, read with ``numpy.frombuffer``)."""
    buffer = bytearray()
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for chunk in copy:
            buffer += chunk
    return memoryview(buffer)[_COPY_HEADER : len(buffer) - _COPY_TRAILER]


def _load_events_copy(question_id: int) -> EventLog:
    """PostgreSQL: the log as one binary COPY read straight into numpy (no Python row objects).

    Every field is fixed-width and never NULL (a withdrawal's probability is sent as NaN), so
    the rows are fixed-size records.
    """
    table = Forecast._meta.db_table
    sql = (
        f"COPY (SELECT id, extract(epoch FROM time)::float8, forecaster_id, "
        f"coalesce(probability, 'NaN'::float8), track_record_weight FROM {table} "
        f"WHERE question_id = {int(question_id)} ORDER BY time, id) TO STDOUT (FORMAT BINARY)"
    )
    body = _copy_out(sql)
    rows = np.frombuffer(body, dtype=_COPY_ROW)
    return EventLog(
        ids=rows["id"].astype(np.int64),
        times=rows["time"].astype(np.float64),
        forecaster=rows["forecaster"].astype(np.int64),
        probs=rows["probability"].astype(np.float64),
        track_record_weight=rows["track_record_weight"].astype(np.float64),
    )


@dataclass(frozen=True)
class VectorEventLog(EventLog):
    """The log of a multiple-choice or continuous question: ``EventLog`` (``probs`` all NaN)
    plus ``values`` (float64[n, width]: each forecast's stored vector, a row of NaN for a
    withdrawal) and ``stamps`` (the events' times as stored, for the history points)."""

    values: np.ndarray
    stamps: Sequence[dt.datetime]


def load_vector_events(question_id: int, width: int) -> VectorEventLog:
    """The question's log with each forecast's stored vector (``width`` float64 values, see
    ``forecasts.typed``), in event order. On PostgreSQL one binary COPY read straight into
    numpy (``_load_vector_events_copy``); elsewhere, or should a stored vector not have
    ``width`` values, one ORM query."""
    if connection.vendor == "postgresql":
        log = _load_vector_events_copy(question_id, width)
        if log is not None:
            return log
    return _load_vector_events_orm(question_id, width)


def _load_vector_events_orm(question_id: int, width: int) -> VectorEventLog:
    """``load_vector_events`` through the ORM: one query, a Python row per event."""
    rows = list(
        Forecast.objects.filter(question_id=question_id)
        .order_by("time", "id")
        .values_list("id", "time", "forecaster_id", "track_record_weight", "values")
    )
    n = len(rows)
    values = np.full((n, width), np.nan, dtype=np.float64)
    for i, row in enumerate(rows):
        if row[4] is not None:
            values[i] = np.frombuffer(bytes(row[4]), dtype="<f8")
    return VectorEventLog(
        ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=n),
        times=np.fromiter((r[1].timestamp() for r in rows), dtype=np.float64, count=n),
        forecaster=np.fromiter((r[2] for r in rows), dtype=np.int64, count=n),
        probs=np.full(n, np.nan, dtype=np.float64),
        track_record_weight=np.fromiter((r[3] for r in rows), dtype=np.float64, count=n),
        values=values,
        stamps=[r[1] for r in rows],
    )


def _vector_copy_row(width: int) -> np.dtype:
    """One row of the binary COPY in ``_load_vector_events_copy``: fixed-width fields, the
    vector last (bytea: its stored little-endian float64 values)."""
    return np.dtype(
        [
            ("fields", ">i2"),
            ("n_id", ">i4"), ("id", ">i8"),
            ("n_time", ">i4"), ("time", ">f8"),
            ("n_forecaster", ">i4"), ("forecaster", ">i8"),
            ("n_track_record_weight", ">i4"), ("track_record_weight", ">f8"),
            ("n_values", ">i4"), ("values", "<f8", (width,)),
        ]
    )  # fmt: skip


class EpochStamps(Sequence[dt.datetime]):
    """Event times read from the database as epoch seconds (each within 0.25 µs of a whole
    microsecond), seen as the aware datetimes they were — converted when an item or slice is
    read, not 100,000 datetime objects up front (the recompute reads the last one, scoring
    none)."""

    def __init__(self, times: np.ndarray) -> None:
        self._us = np.rint(np.asarray(times, dtype=np.float64) * 1e6).astype("datetime64[us]")

    def __len__(self) -> int:
        return int(self._us.shape[0])

    @overload
    def __getitem__(self, index: int) -> dt.datetime: ...
    @overload
    def __getitem__(self, index: slice) -> list[dt.datetime]: ...
    def __getitem__(self, index: int | slice) -> dt.datetime | list[dt.datetime]:
        if isinstance(index, slice):
            return [t.replace(tzinfo=dt.UTC) for t in self._us[index].astype(object).tolist()]
        return self._us[index].astype(object).replace(tzinfo=dt.UTC)

    def __iter__(self) -> Iterator[dt.datetime]:
        return iter(self[:])


def _load_vector_events_copy(question_id: int, width: int) -> VectorEventLog | None:
    """PostgreSQL: ``load_vector_events`` as one binary COPY read into numpy — no Python row
    objects but the event times. A withdrawal's NULL vector is sent as ``width`` NaN, so every
    row has the same size. None when a stored vector is not ``width`` values long (the caller
    then reads through the ORM, which reports it)."""
    table = Forecast._meta.db_table
    nan = "000000000000f87f" * width  # float64 NaN, little-endian
    sql = (
        f"COPY (SELECT id, extract(epoch FROM time)::float8, forecaster_id, "
        f"track_record_weight, coalesce(values, decode('{nan}', 'hex')) FROM {table} "
        f"WHERE question_id = {int(question_id)} ORDER BY time, id) TO STDOUT (FORMAT BINARY)"
    )
    body = _copy_out(sql)
    layout = _vector_copy_row(width)
    if len(body) % layout.itemsize:
        return None
    rows = np.frombuffer(body, dtype=layout)
    if np.any(rows["n_values"] != 8 * width) or np.any(rows["fields"] != 5):
        return None
    times = rows["time"].astype(np.float64)
    return VectorEventLog(
        ids=rows["id"].astype(np.int64),
        times=times,
        forecaster=rows["forecaster"].astype(np.int64),
        probs=np.full(len(rows), np.nan, dtype=np.float64),
        track_record_weight=rows["track_record_weight"].astype(np.float64),
        values=rows["values"].astype(np.float64),
        stamps=EpochStamps(times),
    )


def write_vector_points(
    question_id: int,
    ev: VectorEventLog,
    forecasters: np.ndarray,
    summary: np.ndarray,
    public_seq: np.ndarray,
) -> int:
    """Write one history point per event of a multiple-choice or continuous question:
    ``forecasters`` (int per event), ``summary`` (float64[n, s]; a NaN row — nobody active —
    is stored NULL) as little-endian bytes, ``public_seq`` (0: private). Binary COPY built in
    numpy on PostgreSQL (``_copy_vector_points_binary``), text COPY / bulk INSERT elsewhere.
    Returns the points written."""
    if connection.vendor == "postgresql":
        return _copy_vector_points_binary(question_id, ev, forecasters, summary, public_seq)
    columns = ("question_id", "seq", "time", "forecasters", "summary", "forecast_id",
               "public_seq")  # fmt: skip
    blobs = [
        None if np.isnan(row).any() else np.ascontiguousarray(row, dtype="<f8").tobytes()
        for row in summary
    ]
    return bulk_insert(CrowdPoint, columns, zip(
        [question_id] * len(ev.ids), range(1, len(ev.ids) + 1), ev.stamps,
        forecasters.tolist(), blobs, ev.ids.tolist(), [s or None for s in public_seq.tolist()],
        strict=True,
    ))  # fmt: skip


def load_events_many(question_ids: list[int]) -> dict[int, EventLog]:
    """``load_events`` of many questions in a few statements (batches of ``MANY_BATCH`` ids):
    each question's log as arrays in event order, the same values ``load_events`` reads (one
    binary COPY per batch on PostgreSQL, the ORM elsewhere). A question without events is
    absent from the result."""
    out: dict[int, EventLog] = {}
    ids = sorted(set(question_ids))
    for start in range(0, len(ids), MANY_BATCH):
        batch = ids[start : start + MANY_BATCH]
        if connection.vendor == "postgresql":
            qids, log = _load_events_copy_many(batch)
        else:
            rows = list(
                Forecast.objects.filter(question_id__in=batch)
                .order_by("question_id", "time", "id")
                .values_list("question_id", "id", "time", "forecaster_id", "probability",
                             "track_record_weight")
            )  # fmt: skip
            n = len(rows)
            qids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
            log = EventLog(
                ids=np.fromiter((r[1] for r in rows), dtype=np.int64, count=n),
                times=np.fromiter((r[2].timestamp() for r in rows), dtype=np.float64, count=n),
                forecaster=np.fromiter((r[3] for r in rows), dtype=np.int64, count=n),
                probs=np.fromiter(
                    (np.nan if r[4] is None else r[4] for r in rows), dtype=np.float64, count=n
                ),
                track_record_weight=np.fromiter((r[5] for r in rows), dtype=np.float64, count=n),
            )
        bounds = np.flatnonzero(np.diff(qids)) + 1
        starts = [0, *bounds.tolist()]
        ends = [*bounds.tolist(), len(qids)]
        for a, b in zip(starts, ends, strict=True):
            if a < b:
                out[int(qids[a])] = EventLog(
                    ids=log.ids[a:b].copy(),
                    times=log.times[a:b].copy(),
                    forecaster=log.forecaster[a:b].copy(),
                    probs=log.probs[a:b].copy(),
                    track_record_weight=log.track_record_weight[a:b].copy(),
                )
    return out


MANY_BATCH = 5_000  # question ids per statement of the bulk reads


def _load_events_copy_many(question_ids: list[int]) -> tuple[np.ndarray, EventLog]:
    """PostgreSQL: the logs of ``question_ids`` as one binary COPY (``_load_events_copy``'s
    expressions, with the question id first), ordered by question, then event order."""
    table = Forecast._meta.db_table
    listed = ",".join(str(int(q)) for q in question_ids)
    sql = (
        f"COPY (SELECT question_id, id, extract(epoch FROM time)::float8, forecaster_id, "
        f"coalesce(probability, 'NaN'::float8), track_record_weight FROM {table} "
        f"WHERE question_id IN ({listed}) ORDER BY question_id, time, id) "
        f"TO STDOUT (FORMAT BINARY)"
    )
    body = _copy_out(sql)
    rows = np.frombuffer(body, dtype=_COPY_ROW_MANY)
    return rows["question_id"].astype(np.int64), EventLog(
        ids=rows["id"].astype(np.int64),
        times=rows["time"].astype(np.float64),
        forecaster=rows["forecaster"].astype(np.int64),
        probs=rows["probability"].astype(np.float64),
        track_record_weight=rows["track_record_weight"].astype(np.float64),
    )


def nullable(values: Any) -> list[float | None]:
    """A float array as a list with NaN → None (SQL NULL)."""
    return [None if v != v else v for v in values.tolist()]


def write_points(
    question_id: int,
    ids: np.ndarray,
    times: np.ndarray,
    hist: Any,
    *,
    public_seq: np.ndarray | None = None,
) -> int:
    """Write one crowd history point per event (``hist`` from ``forecasts.history.pool_history``),
    at the time of its forecast event; binary COPY on PostgreSQL. Returns the points written.

    ``public_seq`` (int64 per event, 0 for a private point; ``forecasts.privacy.public_series``)
    marks the public series; None writes every point private."""
    if public_seq is None:
        public_seq = np.zeros(len(ids), dtype=np.int64)
    if connection.vendor != "postgresql":
        stamps = dict(Forecast.objects.filter(question_id=question_id).values_list("id", "time"))
        columns = ("question_id", "seq", "time", "forecasters", "probability", "median", "mean",
                   "forecast_id", "public_seq")  # fmt: skip
        return bulk_insert(CrowdPoint, columns, zip(
            [question_id] * len(ids), range(1, len(ids) + 1), [stamps[i] for i in ids.tolist()],
            hist.forecasters.tolist(), nullable(hist.probability), nullable(hist.median),
            nullable(hist.mean), ids.tolist(), [s or None for s in public_seq.tolist()],
            strict=True,
        ))  # fmt: skip
    return _copy_points_binary(question_id, ids, times, hist, public_seq)


_PG_EPOCH = 946_684_800.0  # 2000-01-01 UTC: PostgreSQL's binary timestamps count from here
_POINT_FIELDS = [  # (column, big-endian type, nullable)
    ("question_id", ">i8", False),
    ("seq", ">i4", False),
    ("time", ">i8", False),
    ("forecasters", ">i4", False),
    ("probability", ">f8", True),
    ("median", ">f8", True),
    ("mean", ">f8", True),
    ("forecast_id", ">i8", False),
    ("public_seq", ">i4", True),
]


def _copy_points_binary(
    question_id: int, ids: np.ndarray, times: np.ndarray, hist: Any, public_seq: np.ndarray
) -> int:
    """PostgreSQL: the history as binary COPY records built in numpy — no Python row objects.

    A binary COPY row is a field count, then per field its length and big-endian value, or
    length −1 for NULL. Rows sharing a NULL pattern have one fixed layout, so each pattern's
    rows are one structured array; row order in the table does not matter. Times are exact:
    the log's epoch floats carry whole microseconds to within 0.25 µs, and are rounded back.
    """
    n = len(ids)
    values = {
        "question_id": np.full(n, question_id, dtype=np.int64),
        "seq": np.arange(1, n + 1, dtype=np.int64),
        "time": np.rint((times - _PG_EPOCH) * 1e6).astype(np.int64),
        "forecasters": hist.forecasters.astype(np.int64),
        "probability": hist.probability,
        "median": hist.median,
        "mean": hist.mean,
        "forecast_id": ids,
        # 0 marks a private point: NULL in the table (NaN below picks the NULL layout).
        "public_seq": np.where(public_seq > 0, public_seq, np.nan),
    }
    nullable = [name for name, _, null in _POINT_FIELDS if null]
    pattern = np.zeros(n, dtype=np.int64)
    for bit, name in enumerate(nullable):
        pattern |= np.isnan(values[name]).astype(np.int64) << bit
    table = connection.ops.quote_name(CrowdPoint._meta.db_table)
    columns = ", ".join(name for name, _, _ in _POINT_FIELDS)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8))  # signature, flags, no extension
        for code in np.unique(pattern).tolist():
            rows = pattern == code
            null = {name for bit, name in enumerate(nullable) if code >> bit & 1}
            layout: list[tuple[str, str]] = [("fields", ">i2")]
            for name, kind, _ in _POINT_FIELDS:
                layout.append((f"len_{name}", ">i4"))
                if name not in null:
                    layout.append((name, kind))
            record = np.empty(int(rows.sum()), dtype=np.dtype(layout))
            record["fields"] = len(_POINT_FIELDS)
            for name, kind, _ in _POINT_FIELDS:
                if name in null:
                    record[f"len_{name}"] = -1
                else:
                    record[f"len_{name}"] = np.dtype(kind).itemsize
                    record[name] = values[name][rows]
            copy.write(record.tobytes())
        copy.write(b"\xff\xff")  # trailer: field count −1
    return n


def _copy_vector_points_binary(
    question_id: int,
    ev: VectorEventLog,
    forecasters: np.ndarray,
    summary: np.ndarray,
    public_seq: np.ndarray,
) -> int:
    """PostgreSQL: ``write_vector_points`` as binary COPY records built in numpy (as
    ``_copy_points_binary``): rows sharing a NULL pattern (summary, public_seq) are one
    structured array; the summary is a bytea of its little-endian float64 values."""
    n = len(ev.ids)
    if n == 0:
        return 0
    s = np.asarray(summary, dtype=np.float64).reshape(n, -1)
    width = s.shape[1]
    fields = [
        ("question_id", ">i8"),
        ("seq", ">i4"),
        ("time", ">i8"),
        ("forecasters", ">i4"),
        ("summary", ("<f8", (width,))),
        ("forecast_id", ">i8"),
        ("public_seq", ">i4"),
    ]
    values: dict[str, np.ndarray] = {
        "question_id": np.full(n, question_id, dtype=np.int64),
        "seq": np.arange(1, n + 1, dtype=np.int64),
        "time": np.rint((ev.times - _PG_EPOCH) * 1e6).astype(np.int64),
        "forecasters": np.asarray(forecasters, dtype=np.int64),
        "summary": s,
        "forecast_id": ev.ids,
        "public_seq": np.asarray(public_seq, dtype=np.int64),
    }
    null_summary = np.isnan(s).any(axis=1) if width else np.ones(n, dtype=bool)
    null_public = values["public_seq"] <= 0
    pattern = null_summary.astype(np.int64) | (null_public.astype(np.int64) << 1)
    table = connection.ops.quote_name(CrowdPoint._meta.db_table)
    columns = ", ".join(name for name, _ in fields)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8))  # signature, flags, no extension
        for code in np.unique(pattern).tolist():
            rows = pattern == code
            null = {"summary"} if code & 1 else set()
            if code & 2:
                null.add("public_seq")
            layout: list[tuple[Any, ...]] = [("fields", ">i2")]
            for name, kind in fields:
                layout.append((f"len_{name}", ">i4"))
                if name not in null:
                    layout.append((name, *kind) if isinstance(kind, tuple) else (name, kind))
            record = np.empty(int(rows.sum()), dtype=np.dtype(layout))
            record["fields"] = len(fields)
            for name, _ in fields:
                if name in null:
                    record[f"len_{name}"] = -1
                else:
                    record[f"len_{name}"] = record.dtype[name].itemsize
                    record[name] = values[name][rows]
            copy.write(record.tobytes())
        copy.write(b"\xff\xff")  # trailer: field count −1
    return n


# --- Median fill: compare-and-set writes, no question lock -----------------------------------


def pending_medians(question_id: int) -> np.ndarray:
    """Event ids (int64, in event order) of the question's points whose median is still empty.

    Read through the partial index ``crowd_point_median_pending``: a handful of rows, not the
    question's whole history. Points without active forecasters keep an empty median for good
    and are not pending.
    """
    ids = (
        CrowdPoint.objects.filter(
            question_id=question_id,
            median__isnull=True,
            forecasters__gt=0,
            probability__isnull=False,  # yes/no points only: vector types have no median
            forecast_id__isnull=False,
        )
        .order_by("seq")
        .values_list("forecast_id", flat=True)
    )
    return np.fromiter(ids, dtype=np.int64)


def fill_medians(question_id: int, forecast_ids: np.ndarray, medians: np.ndarray) -> int:
    """Compare-and-set: write each median into the point of its event only while that point's
    median is still empty. Returns the points written.

    A point that a concurrent ``crowd_recompute`` replaced (its rebuilt points carry exact
    medians) or that another fill already wrote is left alone, so the fill needs no lock: a
    submission never updates an existing point, and a recompute's delete makes this UPDATE skip
    the rows it removed. ``medians`` is float64, NaN for none (written as NULL). One statement
    (``unnest`` of two arrays) on PostgreSQL, which skips rows another transaction holds
    (``SKIP LOCKED``: concurrent fills never wait for each other, so they cannot deadlock); one
    parameterized statement per point elsewhere.
    """
    if not len(forecast_ids):
        return 0
    table, median, forecast, question = (
        rows.table(CrowdPoint),
        column(CrowdPoint, "median"),
        column(CrowdPoint, "forecast"),
        column(CrowdPoint, "question"),
    )
    values = nullable(np.asarray(medians, dtype=np.float64))
    ids = [int(i) for i in forecast_ids.tolist()]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Rows another fill (or a recompute's delete) holds are skipped, never waited for:
            # two fills updating overlapping points in different orders deadlocked. A skipped
            # point gets the same exact median from the holder, or stays empty for the next fill.
            pk = column(CrowdPoint, "id")
            cursor.execute(
                f"WITH target AS (SELECT p.{pk} AS id, v.median FROM {table} AS p "
                f"JOIN unnest(%s::bigint[], %s::float8[]) AS v(forecast_id, median) "
                f"ON p.{forecast} = v.forecast_id "
                f"WHERE p.{question} = %s AND p.{median} IS NULL AND v.median IS NOT NULL "
                f"ORDER BY p.{pk} FOR UPDATE OF p SKIP LOCKED) "
                f"UPDATE {table} AS p SET {median} = target.median FROM target "
                f"WHERE p.{pk} = target.id",
                [ids, values, question_id],
            )
            return cursor.rowcount
        written = 0
        sql = (
            f"UPDATE {table} SET {median} = %s "
            f"WHERE {forecast} = %s AND {question} = %s AND {median} IS NULL"
        )
        for fid, value in zip(ids, values, strict=True):
            if value is None:
                continue
            cursor.execute(sql, [value, fid, question_id])
            written += cursor.rowcount
        return written


def point_event(question_id: int, seq: int) -> int | None:
    """The event id of the question's history point ``seq`` (None when there is none)."""
    return (
        CrowdPoint.objects.filter(question_id=question_id, seq=seq)
        .values_list("forecast_id", flat=True)
        .first()
    )


@dataclass(frozen=True)
class Checkpoint:
    """A median fill's stopping point: history point ``seq``, its event (``event_id``, ``time``)
    and the active forecasts after it (int64 forecaster ids, float64 clipped probabilities)."""

    seq: int
    event_id: int
    time: dt.datetime
    forecaster: np.ndarray
    probability: np.ndarray


def median_checkpoint(question_id: int) -> Checkpoint | None:
    """The question's checkpoint while it is valid — point ``seq`` still belongs to its event —
    else None."""
    row = MedianCheckpoint.objects.filter(question_id=question_id).first()
    if row is None or point_event(question_id, row.seq) != row.event_id:
        return None
    return Checkpoint(
        seq=row.seq,
        event_id=row.event_id,
        time=row.time,
        forecaster=np.frombuffer(bytes(row.forecasters), dtype="<i8").astype(np.int64),
        probability=np.frombuffer(bytes(row.probabilities), dtype="<f8").astype(np.float64),
    )


def save_median_checkpoint(question_id: int, checkpoint: Checkpoint) -> None:
    """Store the question's checkpoint (the last writer wins: every checkpoint is valid for the
    log it describes)."""
    MedianCheckpoint.objects.update_or_create(
        question_id=question_id,
        defaults={
            "seq": checkpoint.seq,
            "event_id": checkpoint.event_id,
            "time": checkpoint.time,
            "forecasters": checkpoint.forecaster.astype("<i8").tobytes(),
            "probabilities": checkpoint.probability.astype("<f8").tobytes(),
        },
    )
