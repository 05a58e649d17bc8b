"""Reproducible crowd-history exports: CSV, JSON and Parquet, streamed, with a manifest.

An export is a pure function of (tournament, question list, format, as-of time) and the database:
the same inputs give the same bytes, so ``verify_export`` can regenerate the file later and compare
SHA-256 digests. What makes the bytes reproducible:

- **Row order**: questions in code-point order of their key (= UTF-8 byte order), then history
  points in ``seq`` order. Only points with ``time <= as_of`` are written.
- **Series**: ``full`` (every point: staff, permitted researchers, ``manage.py export_crowd``)
  or ``public`` (only the public points shown to everyone else, ``forecasts.privacy``,
  docs/privacy.md); the manifest records which, and ``verify_export`` replays the same one.
- **Times**: ISO 8601 UTC, always with microseconds: ``2026-01-31T12:00:00.000000Z``.
- **Floats**: Python ``repr`` — the shortest decimal string that round-trips to the same IEEE-754
  double (at most 17 significant digits), identical on every platform. Missing values (no active
  forecaster; a median not computed) are an empty CSV field and JSON ``null``.
- **CSV**: header ``question,time,forecasters,probability,median,mean``, ``\\n`` line endings,
  the question key written by ``csv_text`` (a leading ``=``, ``+``, ``-``, ``@``, tab or CR
  neutralised with ``'``; quoted only when it needs it, RFC 4180). **JSON**: an array of row
  objects, one per line, keys in column order, ASCII only. **Parquet**: pyarrow, snappy, row
  groups of ``PARQUET_ROW_GROUP`` rows, ``time`` as timestamp[us, UTC]; Parquet's footer records
  the writer (``parquet-cpp-arrow version X``) and no timestamp, so the bytes depend only on the
  data and the pyarrow version (recorded in the manifest).

**Multiple-choice and continuous questions** (``forecasts.typed_exports``): the header gains
``p_0…p_{K−1}`` and ``q05,q25,q50,q75,q95,below,above`` after the yes/no columns (each group only
when a question of its kind is in the export; ``probability,median,mean`` only when a yes/no
question is), and JSON and Parquet a ``cdf`` list on each continuous question's last row. An
export of yes/no questions only is byte for byte what it always was. The manifest gains
``types`` (each question's options or scale) and ``distribution``.

**Input forecast set digest** (``input.sha256`` in the manifest): SHA-256 over one line per
forecast event (forecasts and withdrawals) of the exported questions with ``time <= as_of``::

    json.dumps([question_key, time_iso, forecaster, probability], separators=(",", ":")) + "\\n"

with ``forecaster`` the export pseudonym (``forecasts.pseudonyms``), ``probability`` the float
(JSON ``null`` for a withdrawal; for a multiple-choice or continuous forecast its stored vector,
a JSON list of floats). Lines are sorted by question key (code-point order), then by
time, and events at the same instant by the line itself (the lines are ASCII, so this is byte
order: effectively by forecaster). No database id takes part. The digest identifies the
forecasts the crowd was computed from without revealing who made them; the raw forecasts export
(staff) lists exactly these events in this order.

The default as-of time is ``AS_OF_LAG`` before now, so that a submission whose transaction is
still in flight cannot land behind an export that has already been read. Reads happen inside one
REPEATABLE READ transaction on PostgreSQL, so points and the input digest describe one snapshot;
a manifest reads its input digest on a second connection that imports that same snapshot
(``SET TRANSACTION SNAPSHOT``), in parallel with the rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import platform
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import islice
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from config.sqlite import read_transaction
from forecasts.models import CrowdPoint, Forecast, Forecaster
from forecasts.privacy import public_threshold
from forecasts.pseudonyms import PseudonymCache
from forecasts.typed_exports import (
    DATE_NOTE,
    DISTRIBUTION_NOTE,
    Layout,
    QuestionSpec,
    date_columns,
    date_text,
    final_cdf,
    typed_cells,
    values_json,
)
from markets.models import Question, Tournament

FORMATS = ("csv", "json", "parquet")
COLUMNS = ("question", "time", "forecasters", "probability", "median", "mean")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}
MANIFEST_VERSION = 1
CROWD_KIND = "crowd_history"  # the manifest kind of a crowd export
FETCH_ROWS = 20_000
PARQUET_ROW_GROUP = 131_072
AS_OF_LAG = dt.timedelta(seconds=1)
SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f]+(-[0-9A-Fa-f]+)*")
FLOAT_FORMAT = (
    "Python repr: shortest round-trip decimal (≤ 17 significant digits); empty/null = missing"
)
TIME_FORMAT = "ISO 8601 UTC with microseconds, e.g. 2026-01-31T12:00:00.000000Z"
TYPED_CANONICAL_FORM = (
    "; a multiple-choice or continuous forecast's probability is its stored vector, a JSON "
    "list of floats (option probabilities, or the CDF at the 201 grid locations)"
)
INPUT_CANONICAL_FORM = (
    "SHA-256 of json.dumps([question, time, forecaster, probability], "
    'separators=(",", ":")) + "\\n" '
    "per forecast event (withdrawal: probability null) with time <= as_of, sorted by "
    "question (code-point order), then time, then the line itself"
)

Row = tuple[str, str, int, float | None, float | None, float | None]


class ExportError(Exception):
    """An export that cannot be made (unknown question, bad format); the message says why."""


def iso(t: dt.datetime) -> str:
    """The fixed time format of every export: UTC, microseconds always present, ``Z``."""
    t = t.astimezone(dt.UTC)
    return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond:06d}Z"


def parse_as_of(raw: str, *, allow_future: bool = False) -> dt.datetime:
    """An export's as_of from ISO 8601 (UTC without an offset). Raises ``ExportError`` when it
    is not a time, or when it is later than now minus ``AS_OF_LAG``: an export must cover only
    what can no longer change, so that the same as_of always gives the same bytes.
    ``allow_future`` is for replaying a manifest, which records what it covered."""
    from django.utils.dateparse import parse_datetime

    try:
        value = parse_datetime(raw.strip().replace("Z", "+00:00")) if raw else None
    except ValueError:  # well formed but not a time: month 13, hour 25
        value = None
    if value is None:
        raise ExportError(f"as_of {raw!r} is not an ISO 8601 time")
    if timezone.is_naive(value):
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    if not allow_future and value > default_as_of():
        # A later forecast would change what such an export contains: it could not be
        # reproduced, and its manifest would stop verifying.
        raise ExportError(
            f"as_of {raw!r} is in the future: only the past is fixed. Leave as_of out for the "
            "newest data (the export then names the instant it covers)."
        )
    return value


def default_as_of() -> dt.datetime:
    return timezone.now().astimezone(dt.UTC) - AS_OF_LAG


@lru_cache(maxsize=1)
def software_version() -> str:
    try:
        with (Path(settings.BASE_DIR) / "pyproject.toml").open("rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


# --- what an export covers -----------------------------------------------------------------


@dataclass(frozen=True)
class CrowdExport:
    tournament: Tournament
    questions: tuple[tuple[int, str], ...]  # (id, key), sorted by key
    fmt: str
    as_of: dt.datetime
    question_key: str | None = None  # set when one question was asked for
    public: bool = False  # only the public series (docs/privacy.md)
    # The type of each question, in the order of ``questions`` (forecasts.typed_exports);
    # empty: all yes/no.
    specs: tuple[QuestionSpec, ...] = ()

    @cached_property
    def spec_of(self) -> dict[int, QuestionSpec]:
        """Question id → its type spec (yes/no for a question ``specs`` does not cover)."""
        binary = QuestionSpec(Question.Type.BINARY)
        given = dict(zip((qid for qid, _ in self.questions), self.specs, strict=False))
        return {qid: given.get(qid, binary) for qid, _ in self.questions}

    @cached_property
    def layout(self) -> Layout:
        """The export's column groups (forecasts.typed_exports)."""
        return Layout.of(self.spec_of.values(), self.fmt)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.layout.columns()

    @property
    def typed(self) -> bool:
        """Whether a multiple-choice or continuous question is in the export."""
        return any(not spec.is_binary for spec in self.spec_of.values())

    @property
    def series(self) -> str:
        return "public" if self.public else "full"

    @property
    def min_public_forecasters(self) -> int | None:
        """Fewest forecasters of a written point in a public export; None for the full one."""
        if not self.public:
            return None
        return public_threshold(self.tournament.min_forecasters)

    @property
    def keys(self) -> list[str]:
        return [key for _, key in self.questions]


def crowd_export_plan(
    *,
    tournament: Tournament,
    fmt: str,
    question_key: str | None = None,
    question_keys: Iterable[str] | None = None,
    as_of: dt.datetime | None = None,
    include: Callable[[Question], bool] | None = None,
    public: bool = False,
) -> CrowdExport:
    """Fix what an export covers. ``include`` filters questions (the API passes the reveal rule).

    ``question_keys`` pins an explicit list (``verify_export`` replays a manifest's list).
    ``public`` writes only the public series (docs/privacy.md).
    """
    if fmt not in FORMATS:
        raise ExportError(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")
    # The crowd state comes along for ``include`` (the reveal rule reads its forecaster count).
    qs = Question.objects.filter(tournament=tournament).select_related("tournament", "crowd")
    if question_key is not None:
        qs = qs.filter(key=question_key)
        if not qs.exists():
            raise ExportError(f"Tournament {tournament.slug} has no question {question_key!r}.")
    if question_keys is not None:
        wanted = set(question_keys)
        qs = qs.filter(key__in=wanted)
        found = set(qs.values_list("key", flat=True))
        if found != wanted:
            missing = ", ".join(sorted(wanted - found))
            raise ExportError(f"Tournament {tournament.slug} no longer has question(s) {missing}.")
    questions = sorted(
        (q for q in qs if include is None or include(q)), key=lambda question: question.key
    )
    ordered = tuple((q.pk, q.key) for q in questions)
    return CrowdExport(
        specs=tuple(QuestionSpec.of(q) for q in questions),
        tournament=tournament,
        questions=ordered,
        fmt=fmt,
        as_of=(as_of or default_as_of()).astimezone(dt.UTC),
        question_key=question_key,
        public=public,
    )


def method_description(tournament: Tournament) -> dict[str, Any]:
    return {
        "name": "logarithmic pooling",
        "formula": (
            "logit p* = b + d * (sum w_i logit p_i / sum w_i - b); p_i clipped to [eps, 1-eps]"
        ),
        "parameters": {
            "extremize": tournament.effective_extremize,
            "extremize_fitted": bool(
                tournament.fit_extremize and tournament.fitted_extremize is not None
            ),
            "base_rate": tournament.base_rate,
            "base_logit": tournament.base_logit,
            "half_life_hours": tournament.half_life_hours,
            "track_record_weighting": tournament.track_record_weighting,
            "bots_in_crowd": tournament.bots_in_crowd,
            "epsilon": 0.001,
        },
        "comparators": {
            "median": "median of the same clipped current forecasts",
            "mean": "arithmetic mean of the same clipped current forecasts",
        },
    }


# --- reading -------------------------------------------------------------------------------


@contextlib.contextmanager
def snapshot() -> Iterator[None]:
    """One consistent read: REPEATABLE READ on PostgreSQL when we open the transaction; on
    SQLite a deferred transaction, which holds no write lock while an export streams."""
    outermost = not connection.in_atomic_block
    with read_transaction():
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                if outermost:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                _read_settings(cur)
        yield


def _read_settings(cur: Any) -> None:
    # Shortest round-trip float output (the PostgreSQL 12+ default, made explicit): with PG_REPR
    # it equals Python's repr (see PG_REPR).
    cur.execute("SET LOCAL extra_float_digits = 1")


def _can_share_snapshot() -> bool:
    """Whether a second connection can read what this one will read inside ``snapshot()``.

    Only on PostgreSQL, and only when ``snapshot()`` opens the transaction: a transaction we are
    already in may hold writes of its own that no other connection can see (a test's, for one).
    """
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _export_snapshot() -> str:
    """Id of this transaction's snapshot, for ``SET TRANSACTION SNAPSHOT`` in another session."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_export_snapshot()")
        (snapshot_id,) = cur.fetchone()
    if not SNAPSHOT_ID.fullmatch(snapshot_id):
        raise ExportError(f"Unexpected snapshot id {snapshot_id!r} from PostgreSQL.")
    return str(snapshot_id)


def _input_digest_in_snapshot(export: CrowdExport, snapshot_id: str) -> tuple[str, int]:
    """``input_digest`` on this thread's own connection, reading the snapshot ``snapshot_id``.

    The importing transaction sees exactly the rows the exporting one sees, so the digest
    describes the same database state as the rows rendered alongside it.
    """
    try:
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                # A utility statement takes no bind parameters; the id was checked on export.
                cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'")
                _read_settings(cur)
            return input_digest(export)
    finally:
        connection.close()


def fill_pending_medians(export: CrowdExport) -> None:
    """Fill medians that submissions left for the after-commit task, before reading.

    The median of a history point is filled after the submission commits; exporting a point in
    between would give different bytes than the same export a second later. The service is
    idempotent and computes exactly what the task would.
    """
    ids = [qid for qid, _ in export.questions]
    pending = set(
        CrowdPoint.objects.filter(
            question_id__in=ids,
            median__isnull=True,
            forecasters__gt=0,
            # Multiple-choice and continuous points have no median to fill (their summary is
            # complete when written): only yes/no points, which always carry a probability.
            probability__isnull=False,
            time__lte=export.as_of,
        ).values_list("question_id", flat=True)
    )
    if not pending:
        return
    from forecasts.services import crowd_fill_medians

    for qid in sorted(pending):
        crowd_fill_medians(question_id=qid)


def _pg_named_cursor(sql: str, params: tuple) -> Iterator[list[tuple]]:
    """Server-side cursor on the Django connection: constant memory for any history length."""
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor(name=f"takeoff_export_{id(params)}") as cur:
        cur.itersize = FETCH_ROWS
        cur.execute(sql, params)
        while rows := cur.fetchmany(FETCH_ROWS):
            yield rows


def iter_points(
    question_id: int, as_of: dt.datetime, min_public: int | None = None
) -> Iterator[list[tuple]]:
    """Chunks of (time_iso, forecasters, probability, median, mean) in seq order.

    ``min_public``: only public points with at least that many forecasters (the public series).
    """
    table = CrowdPoint._meta.db_table
    if connection.vendor == "postgresql":
        # to_char does the time formatting in C; the format equals ``iso`` (a test checks).
        public, params = _public_sql(min_public)
        sql = (
            "SELECT to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
            f"forecasters, probability, median, mean FROM {table} "
            f"WHERE question_id = %s AND time <= %s{public} ORDER BY seq"
        )
        yield from _pg_named_cursor(sql, (question_id, as_of, *params))
        return
    points = CrowdPoint.objects.filter(question_id=question_id, time__lte=as_of)
    if min_public is not None:
        points = points.filter(public_seq__isnull=False, forecasters__gte=min_public)
    qs = (
        points.order_by("seq")
        .values_list("time", "forecasters", "probability", "median", "mean")
        .iterator(chunk_size=FETCH_ROWS)
    )
    while chunk := list(islice(qs, FETCH_ROWS)):
        yield [(iso(t), n, p, m, a) for t, n, p, m, a in chunk]


def _public_sql(min_public: int | None) -> tuple[str, tuple]:
    """The extra WHERE condition (and its parameters) of the public series, or nothing."""
    if min_public is None:
        return "", ()
    return " AND public_seq IS NOT NULL AND forecasters >= %s", (int(min_public),)


# PostgreSQL's float8 output with extra_float_digits = 1 is the shortest round-trip decimal, as
# Python's repr; the two differ only in that repr writes integral values as "1.0" (and switches to
# exponent notation at 1e16 rather than 1e15, which no probability reaches). A test compares the
# two on half a million values in (0, 1]; the bytes are the same on PostgreSQL and SQLite.
PG_REPR = "CASE WHEN {0} = trunc({0}) THEN trunc({0})::numeric::text || '.0' ELSE {0}::text END"
PG_TIME = "to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
SQL_CHUNK = 20_000  # rows per query of the PostgreSQL fast paths


def _pg_csv_rows(
    question_id: int,
    key_field: str,
    as_of: dt.datetime,
    min_public: int | None = None,
    tail: str = "",
) -> Iterator[tuple[bytes, int]]:
    """CSV rows of one question, formatted by PostgreSQL, fetched as one array of lines per chunk.

    A chunk is a range of SQL_CHUNK ``seq`` values read from the (question, seq) index in order;
    the next range starts at the next point there is. Constant memory on both sides and no
    per-row Python work, which is what makes the CSV export several times faster than
    formatting rows in Python. ``ARRAY(subquery)`` keeps the subquery's order, so PostgreSQL
    does not sort the chunk again (``string_agg(... ORDER BY seq)`` did, for a quarter of the
    query's time). LIMIT never cuts a range (``seq`` is unique per question); it makes the
    planner read the range in index order rather than through a bitmap and a sort.
    ``tail`` ends every line before its newline: the empty cells of the typed columns of an
    export that also holds multiple-choice or continuous questions (forecasts.typed_exports).
    """
    import psycopg

    table = CrowdPoint._meta.db_table
    line = " || ',' || ".join(
        [
            "%(key)s::text",
            PG_TIME.format("time"),
            "forecasters::text",
            *(f"coalesce({PG_REPR.format(c)}, '')" for c in ("probability", "median", "mean")),
        ]
    )
    where = f"FROM {table} WHERE question_id = %(question)s AND time <= %(as_of)s"
    if min_public is not None:
        where += " AND public_seq IS NOT NULL AND forecasters >= %(min_public)s"
    sql = (
        f"SELECT ARRAY(SELECT {line} || %(tail)s::text || E'\\n' {where} AND seq > %(lo)s "
        f"AND seq <= %(hi)s ORDER BY seq LIMIT {SQL_CHUNK}), "
        f"(SELECT min(seq) {where} AND seq > %(hi)s)"
    )
    params: dict[str, Any] = {
        "key": key_field,
        "question": question_id,
        "as_of": as_of,
        "min_public": min_public,
        "tail": tail,
    }
    lo: int | None = 0  # seq > 0: the first point is seq 1
    connection.ensure_connection()
    # A psycopg cursor of our own: binary results (an array in binary needs no parsing), which
    # Django's client-side binding cursor cannot give.
    with psycopg.Cursor(connection.connection) as cur:
        while lo is not None:
            params.update(lo=lo, hi=lo + SQL_CHUNK)
            cur.execute(sql, params, binary=True)
            lines, following = cur.fetchone() or ((), None)
            if lines:
                yield "".join(lines).encode(), len(lines)
            lo = None if following is None else following - 1


def _pg_event_lines(
    question_id: int, key_json: str, names: dict[int, str], as_of: dt.datetime
) -> Iterator[tuple[bytes, int]]:
    """Canonical input lines of one question in blocks (PostgreSQL formats time and floats).

    Within one question every line starts with the same ``[key,"`` and a fixed-width time, so
    the canonical order (time, then line) is plain string order: each block is sorted, and the
    events of the block's last instant wait for the next block so that a group of equal times is
    never split.
    """
    table = Forecast._meta.db_table
    sql = (
        f"SELECT {PG_TIME.format('time')}, forecaster_id, "
        f"coalesce({PG_REPR.format('probability')}, 'null') FROM {table} "
        "WHERE question_id = %s AND time <= %s ORDER BY time, id"
    )
    carry: list[tuple[str, int, str]] = []
    for rows in _pg_named_cursor(sql, (question_id, as_of)):
        rows = carry + rows if carry else rows
        cut = len(rows)
        last = rows[-1][0]
        while cut and rows[cut - 1][0] == last:
            cut -= 1
        carry = rows[cut:]
        if cut:
            yield _event_block(rows[:cut], key_json, names)
    if carry:
        yield _event_block(carry, key_json, names)


def _event_block(
    rows: list[tuple[str, int, str]], key_json: str, names: dict[int, str]
) -> tuple[bytes, int]:
    head = f'[{key_json},"'
    lines = [f'{head}{t}",{names[fid]},{p}]\n' for t, fid, p in rows]
    # The rows come in time order, so this only reorders events at the same instant; on lines
    # already in order (the usual case) the sort makes one linear pass of comparisons.
    lines.sort()
    return "".join(lines).encode(), len(lines)


def count_rows(export: CrowdExport) -> int:
    points = CrowdPoint.objects.filter(
        question_id__in=[qid for qid, _ in export.questions], time__lte=export.as_of
    )
    if export.public:
        points = points.filter(
            public_seq__isnull=False, forecasters__gte=export.min_public_forecasters
        )
    return points.count()


# --- rendering -----------------------------------------------------------------------------


CSV_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection)."""


def csv_text(text: str) -> str:
    """One text cell of any CSV Takeoff writes: crowd and raw forecast exports, the score export,
    the calibration CSV. The one rule for all of them (docs/researcher-guide.md, exports):

    1. A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
       single quote ``'`` in front, so that a spreadsheet opening the file shows the text
       instead of running it as a formula (OWASP "CSV injection"): ``=HYPERLINK(…)`` is
       written ``'=HYPERLINK(…)``, ``-5`` as a question key ``'-5``.
    2. The cell is then quoted (RFC 4180) only when it holds a comma, a quote or a line break.

    Only text columns (question keys, forecaster keys and pseudonyms, subject and rule names,
    header names) pass through here; numbers are written as they are, so a score of ``-0.5``
    stays ``-0.5``. Deterministic, so exports stay byte-reproducible.
    """
    if text.startswith(CSV_FORMULA_TRIGGERS):
        text = "'" + text
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_number(value: float | int | None) -> str:
    """One number cell: ``repr`` (the shortest round-trip decimal for a float), empty for
    missing. Never neutralised: a leading ``-`` is a sign here."""
    return "" if value is None else repr(value)


def _typed_points(
    export: CrowdExport, question_id: int
) -> Iterator[list[tuple[str, int, list[float | None], list[float] | None]]]:
    """Chunks of one multiple-choice or continuous question's exported points in ``seq`` order:
    (time ISO, forecasters, the ``layout.typed_columns`` cells, the ``cdf`` or None).

    The ``cdf`` (JSON and Parquet exports of continuous questions) goes with the last exported
    point only: the pool of the log up to that point's event (``typed_exports.final_cdf``).
    Raises ``ExportError`` when a stored point does not fit the question's type.
    """
    spec, layout = export.spec_of[question_id], export.layout
    points = CrowdPoint.objects.filter(question_id=question_id, time__lte=export.as_of)
    if export.public:
        points = points.filter(
            public_seq__isnull=False, forecasters__gte=export.min_public_forecasters
        )
    cdf_seq, cdf = None, None
    if layout.distribution and spec.is_continuous:
        last = points.order_by("-seq").values_list("seq", "forecast_id", "summary").first()
        if last is not None and last[2] is not None and last[1] is not None:
            question = Question.objects.select_related("tournament").get(pk=question_id)
            try:
                cdf_seq, cdf = last[0], final_cdf(question, last[1])
            except LookupError as exc:
                raise ExportError(
                    f"{exc}: recompute the crowd of question {question.key}."
                ) from None
    on_pg = connection.vendor == "postgresql"
    if on_pg:
        # PostgreSQL writes the time text (``PG_TIME`` equals ``iso``, a test checks): parsing
        # each timestamp into a datetime was a third of the export's time.
        points = points.annotate(time_text=RawSQL(PG_TIME.format('"time"'), ()))
    rows = (
        points.order_by("seq")
        .values_list("seq", "time_text" if on_pg else "time", "forecasters", "summary")
        .iterator(chunk_size=FETCH_ROWS)
    )
    while chunk := list(islice(rows, FETCH_ROWS)):
        try:
            cells = typed_cells(spec, layout, [summary for *_, summary in chunk])
        except ValueError as exc:
            raise ExportError(f"Question {question_id}: {exc}.") from None
        yield [
            (t if on_pg else iso(t), n, row, cdf if seq == cdf_seq else None)
            for (seq, t, n, _), row in zip(chunk, cells, strict=True)
        ]


def _csv_chunks(export: CrowdExport) -> Iterator[tuple[bytes, int]]:
    layout = export.layout
    yield (",".join(layout.columns()) + "\n").encode(), 0
    # The empty cells of the columns a row's question does not have.
    typed_tail = "," * len(layout.typed_columns)
    binary_gap = ",,," if layout.binary else ""
    dates = set(date_columns(layout))
    for qid, key in export.questions:
        k = csv_text(key)
        spec = export.spec_of[qid]
        if not spec.is_binary:
            is_date = spec.is_date
            for points in _typed_points(export, qid):
                text = "".join(
                    [
                        f"{k},{t},{n}{binary_gap}"
                        + "".join(
                            [
                                ","
                                + (
                                    _csv_cell(v, True)
                                    if is_date and j in dates
                                    else ("" if v is None else repr(v))
                                )
                                for j, v in enumerate(c)
                            ]
                        )
                        + "\n"
                        for t, n, c, _ in points
                    ]
                )
                yield text.encode(), len(points)
            continue
        if connection.vendor == "postgresql":
            yield from _pg_csv_rows(
                qid, k, export.as_of, export.min_public_forecasters, tail=typed_tail
            )
            continue
        for rows in iter_points(qid, export.as_of, export.min_public_forecasters):
            text = "".join(
                [
                    f"{k},{t},{n},{'' if p is None else repr(p)},"
                    f"{'' if m is None else repr(m)},{'' if a is None else repr(a)}{typed_tail}\n"
                    for t, n, p, m, a in rows
                ]
            )
            yield text.encode(), len(rows)


def _csv_cell(value: float | None, is_date: bool) -> str:
    """A typed cell in CSV: ``repr``, empty when missing; a date quantile as ISO 8601."""
    if value is None:
        return ""
    if is_date:
        return date_text(value) or repr(value)
    return repr(value)


def _json_cell(value: float | None, is_date: bool) -> str:
    """A typed cell in JSON: ``repr``, ``null`` when missing; a date quantile as an ISO string."""
    if value is None:
        return "null"
    if is_date and (text := date_text(value)) is not None:
        return f'"{text}"'
    return repr(value)


def _json_chunks(export: CrowdExport) -> Iterator[tuple[bytes, int]]:
    """JSON array, one row object per line: ``[\\n{...},\\n{...}\\n]\\n`` (``[]`` when empty)."""
    layout = export.layout
    names = [json.dumps(c) for c in layout.typed_columns]
    typed_tail = "".join(f",{name}:null" for name in names)
    if layout.distribution:
        typed_tail += ',"cdf":null'
    binary_gap = ',"probability":null,"median":null,"mean":null' if layout.binary else ""
    dates = set(date_columns(layout))
    first = True
    yield b"[", 0
    for qid, key in export.questions:
        k = json.dumps(key)
        spec = export.spec_of[qid]
        if not spec.is_binary:
            for points in _typed_points(export, qid):
                parts = []
                for t, n, cells, cdf in points:
                    body = "".join(
                        f",{name}:{_json_cell(v, spec.is_date and j in dates)}"
                        for j, (name, v) in enumerate(zip(names, cells, strict=True))
                    )
                    if layout.distribution:
                        body += ',"cdf":' + (
                            "null" if cdf is None else "[" + ",".join(map(repr, cdf)) + "]"
                        )
                    parts.append(
                        f'{{"question":{k},"time":"{t}","forecasters":{n}{binary_gap}{body}}}'
                    )
                text = ("\n" if first else ",\n") + ",\n".join(parts)
                first = False
                yield text.encode(), len(points)
            continue
        for rows in iter_points(qid, export.as_of, export.min_public_forecasters):
            parts = [
                f'{{"question":{k},"time":"{t}","forecasters":{n},'
                f'"probability":{"null" if p is None else repr(p)},'
                f'"median":{"null" if m is None else repr(m)},'
                f'"mean":{"null" if a is None else repr(a)}{typed_tail}}}'
                for t, n, p, m, a in rows
            ]
            text = ("\n" if first else ",\n") + ",\n".join(parts)
            first = False
            yield text.encode(), len(rows)
    yield (b"]\n" if first else b"\n]\n"), 0


class _Sink(io.RawIOBase):
    """A write-only file for pyarrow that hands written bytes back to a generator."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self._parts.append(data)
        return len(data)

    def drain(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def parquet_schema(layout: Layout | None = None) -> Any:
    """The Parquet schema of an export with ``layout`` (None: yes/no questions only)."""
    import pyarrow as pa

    fields = [
        ("question", pa.string()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("forecasters", pa.int64()),
    ]
    if layout is None or layout.binary:
        fields += [("probability", pa.float64()), ("median", pa.float64()), ("mean", pa.float64())]
    if layout is not None:
        fields += [(name, pa.float64()) for name in layout.typed_columns]
        if layout.distribution:
            fields.append(("cdf", pa.list_(pa.float64())))
    return pa.schema(fields)


def _parquet_chunks(export: CrowdExport) -> Iterator[tuple[bytes, int]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    layout = export.layout
    columns = layout.columns()
    schema = parquet_schema(layout)
    sink = _Sink()
    writer = pq.ParquetWriter(
        sink,
        schema,
        compression="snappy",
        version="2.6",
        use_dictionary=["question"],
        write_statistics=True,
        store_schema=True,
    )
    buffer: dict[str, list] = {c: [] for c in columns}
    binary_columns = ("probability", "median", "mean") if layout.binary else ()
    typed_columns = layout.typed_columns + (("cdf",) if layout.distribution else ())

    def flush(n_rows: int) -> bytes:
        arrays = {
            "question": pa.array(buffer["question"][:n_rows], pa.string()),
            "time": pa.array(buffer["time"][:n_rows], pa.string()).cast(schema.field("time").type),
        }
        for c in columns[2:]:
            arrays[c] = pa.array(buffer[c][:n_rows], schema.field(c).type)
        table = pa.table(arrays, schema=schema)
        for c in columns:
            del buffer[c][:n_rows]
        writer.write_table(table, row_group_size=PARQUET_ROW_GROUP)
        return sink.drain()

    for qid, key in export.questions:
        spec = export.spec_of[qid]
        if spec.is_binary:
            chunks: Iterator[list] = iter_points(qid, export.as_of, export.min_public_forecasters)
        else:
            chunks = _typed_points(export, qid)
        for rows in chunks:
            buffer["question"].extend([key] * len(rows))
            if spec.is_binary:
                names: tuple[str, ...] = ("time", "forecasters", *binary_columns)
                for col, values in zip(names, zip(*rows, strict=True), strict=True):
                    buffer[col].extend(values)
                for col in typed_columns:
                    buffer[col].extend([None] * len(rows))
            else:
                buffer["time"].extend([t for t, *_ in rows])
                buffer["forecasters"].extend([n for _, n, *_ in rows])
                for col in binary_columns:
                    buffer[col].extend([None] * len(rows))
                for j, col in enumerate(layout.typed_columns):
                    buffer[col].extend([cells[j] for *_, cells, _ in rows])
                if layout.distribution:
                    buffer["cdf"].extend([cdf for *_, cdf in rows])
            while len(buffer["time"]) >= PARQUET_ROW_GROUP:
                yield flush(PARQUET_ROW_GROUP), 0
            yield b"", len(rows)
    if buffer["time"]:
        yield flush(len(buffer["time"])), 0
    writer.close()
    yield sink.drain(), 0


RENDERERS = {"csv": _csv_chunks, "json": _json_chunks, "parquet": _parquet_chunks}


@dataclass
class RenderResult:
    rows: int = 0
    size: int = 0
    sha256: str = ""
    _hash: Any = field(default_factory=hashlib.sha256, repr=False)


def render(
    export: CrowdExport,
    result: RenderResult | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """The export's bytes, in chunks; ``result`` receives row count, size and SHA-256 at the end.

    Reads inside one snapshot transaction, which a client that goes away closes (GeneratorExit).
    """
    result = result if result is not None else RenderResult()
    with snapshot():
        for data, n in RENDERERS[export.fmt](export):
            result.rows += n
            if progress is not None and n:
                progress(n)
            if data:
                result.size += len(data)
                result._hash.update(data)
                yield data
    result.sha256 = result._hash.hexdigest()


def _events(question_id: int, as_of: dt.datetime) -> Iterator[tuple[str, int, str]]:
    """(time ISO, forecaster id, value) in time order. The value is the probability's ``repr``,
    a multiple-choice or continuous forecast's vector as a JSON list of ``repr`` floats
    (``typed_exports.values_json``), or ``null`` for a withdrawal."""
    rows = (
        Forecast.objects.filter(question_id=question_id, time__lte=as_of)
        .order_by("time", "id")
        .values_list("time", "forecaster_id", "probability", "values")
        .iterator(chunk_size=FETCH_ROWS)
    )
    for t, fid, p, v in rows:
        if p is not None:
            yield iso(t), fid, repr(p)
        else:
            yield iso(t), fid, "null" if v is None else values_json(v)


def iter_events(
    export: CrowdExport, recipient: int | None = None, only: int | None = None
) -> Iterator[tuple[str, str, str, str, str]]:
    """The input forecast set in canonical order: (key, time, forecaster, probability, line).

    ``probability`` is its ``repr`` (``null`` for a withdrawal); ``line`` is the event's
    canonical JSON line (module doc); events of one question at the same instant are ordered by
    the line. ``recipient`` (a user id) names forecasters with that recipient's pseudonyms
    (``forecasts.pseudonyms``); the canonical form (None) uses the server's. ``only``: the
    events of that question alone. A multiple-choice or continuous forecast's value is its
    vector as a JSON list (``_events``).
    """
    named = _names(export, recipient)
    for qid, key in export.questions:
        if only is not None and qid != only:
            continue
        k = json.dumps(key)
        group: list[tuple[str, str, str, str, str]] = []
        group_time = None
        for ts, fid, p in _events(qid, export.as_of):
            if ts != group_time and group:
                yield from _sorted_group(group)
            group_time = ts
            name, name_json = named[fid]
            group.append((key, ts, name, p, f'[{k},"{ts}",{name_json},{p}]\n'))
        yield from _sorted_group(group)


def _names(export: CrowdExport, recipient: int | None = None) -> dict[int, tuple[str, str]]:
    """Export name and its JSON form of every forecaster with an event in the export: one query
    for all its questions (a forecaster in many questions is named once)."""
    names = PseudonymCache(recipient)
    ids = Forecast.objects.filter(question_id__in=[qid for qid, _ in export.questions]).values(
        "forecaster_id"
    )
    out = {
        fid: (name := names(fid, imported_key=fkey, source=source), json.dumps(name))
        for fid, source, fkey in Forecaster.objects.filter(id__in=ids, is_bot=False).values_list(
            "id", "source", "key"
        )
    }
    # A bot is no person: it appears under its public name, marked (``bot_label``).
    for fid, username, fkey in Forecaster.objects.filter(id__in=ids, is_bot=True).values_list(
        "id", "user__username", "key"
    ):
        out[fid] = (name := bot_label(username or fkey), json.dumps(name))
    return out


def bot_label(name: str) -> str:
    """A bot's identity in exports: ``bot:`` and its name (docs/methods.md §16.1)."""
    return f"bot:{name}"


def _sorted_group(group: list[tuple[str, str, str, str, str]]) -> list[tuple]:
    if len(group) > 1:
        group.sort(key=lambda event: event[4])
    out = list(group)
    group.clear()
    return out


def input_digest(export: CrowdExport) -> tuple[str, int]:
    """SHA-256 and count of the input forecast set, in the canonical form of the module doc."""
    h = hashlib.sha256()
    count = 0
    if connection.vendor == "postgresql":
        named = {fid: js for fid, (_, js) in _names(export).items()}
        for qid, key in export.questions:
            if not export.spec_of[qid].is_binary:
                # Vectors are formatted in Python (``_events``): no SQL fast path for them.
                for *_, line in iter_events(export, only=qid):
                    h.update(line.encode())
                    count += 1
                continue
            for block, n in _pg_event_lines(qid, json.dumps(key), named, export.as_of):
                h.update(block)
                count += n
        return h.hexdigest(), count
    for *_, line in iter_events(export):
        h.update(line.encode())
        count += 1
    return h.hexdigest(), count


RAW_COLUMNS = ("question", "time", "forecaster", "kind", "probability")
RAW_VALUES_COLUMN = "values"
RAW_FORMATS = ("csv", "parquet")


def raw_columns(export: CrowdExport) -> tuple[str, ...]:
    """The raw forecasts export's columns: ``RAW_COLUMNS``, then ``values`` when a
    multiple-choice or continuous question is in the export."""
    return RAW_COLUMNS + ((RAW_VALUES_COLUMN,) if export.typed else ())


def render_raw_forecasts(
    export: CrowdExport, recipient: int | None = None, fmt: str = "csv"
) -> Iterator[bytes]:
    """The input forecast set (staff and permitted researchers), canonical order, with
    ``recipient``'s pseudonyms (``forecasts.pseudonyms``; None: the server's).

    ``fmt`` ``csv``: columns ``raw_columns(export)``; a yes/no forecast's ``probability``, a
    multiple-choice or continuous forecast's stored vector in ``values`` as a JSON list of
    floats (option probabilities, or the CDF at the 201 grid locations; docs/methods.md §12.1),
    both empty for a withdrawal. ``parquet``: the same columns, ``time`` as timestamp[us, UTC],
    ``probability`` float64 and ``values`` list<float64>. Raises ``ExportError`` for another
    format.
    """
    if fmt not in RAW_FORMATS:
        raise ExportError(f"Unknown format {fmt!r}: use one of {', '.join(RAW_FORMATS)}.")
    if fmt == "parquet":
        yield from _raw_parquet(export, recipient)
        return
    typed = export.typed
    yield (",".join(raw_columns(export)) + "\n").encode()
    with snapshot():
        lines: list[str] = []
        for key, ts, name, p, _ in iter_events(export, recipient):
            kind = "withdrawal" if p == "null" else "forecast"
            if p.startswith("["):
                value = f',"{p}"'  # a JSON list holds commas: always quoted
                p = ""
            else:
                value = "," if typed else ""
            lines.append(
                f"{csv_text(key)},{ts},{csv_text(name)},{kind},{'' if p == 'null' else p}{value}\n"
            )
            if len(lines) >= FETCH_ROWS:
                yield "".join(lines).encode()
                lines.clear()
        if lines:
            yield "".join(lines).encode()


def _raw_parquet(export: CrowdExport, recipient: int | None) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [
        ("question", pa.string()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("forecaster", pa.string()),
        ("kind", pa.string()),
        ("probability", pa.float64()),
    ]
    if export.typed:
        fields.append((RAW_VALUES_COLUMN, pa.list_(pa.float64())))
    schema = pa.schema(fields)
    sink = _Sink()
    writer = pq.ParquetWriter(
        sink,
        schema,
        compression="snappy",
        version="2.6",
        use_dictionary=["question", "forecaster", "kind"],
        write_statistics=True,
        store_schema=True,
    )
    buffer: dict[str, list] = {name: [] for name, _ in fields}

    def flush() -> bytes:
        arrays = {
            "question": pa.array(buffer["question"], pa.string()),
            "time": pa.array(buffer["time"], pa.string()).cast(schema.field("time").type),
        }
        for name, kind in fields[2:]:
            arrays[name] = pa.array(buffer[name], kind)
        writer.write_table(pa.table(arrays, schema=schema), row_group_size=PARQUET_ROW_GROUP)
        for values in buffer.values():
            values.clear()
        return sink.drain()

    with snapshot():
        for key, ts, name, p, _ in iter_events(export, recipient):
            buffer["question"].append(key)
            buffer["time"].append(ts)
            buffer["forecaster"].append(name)
            buffer["kind"].append("withdrawal" if p == "null" else "forecast")
            is_vector = p.startswith("[")
            buffer["probability"].append(None if p == "null" or is_vector else float(p))
            if export.typed:
                buffer[RAW_VALUES_COLUMN].append(json.loads(p) if is_vector else None)
            if len(buffer["time"]) >= PARQUET_ROW_GROUP:
                yield flush()
        if buffer["time"]:
            yield flush()
        writer.close()
        yield sink.drain()


# --- files and manifests -------------------------------------------------------------------


def manifest_for(
    export: CrowdExport, result: RenderResult, *, input_sha256: str, input_count: int, filename: str
) -> dict[str, Any]:
    software = {"takeoff": software_version(), "python": platform.python_version()}
    if export.fmt == "parquet":
        import pyarrow

        software["pyarrow"] = pyarrow.__version__
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "kind": CROWD_KIND,
        "tournament": export.tournament.slug,
        "question": export.question_key,
        "questions": export.keys,
        "format": export.fmt,
        "series": export.series,
        "columns": list(export.columns),
        "method": method_description(export.tournament),
        "software": software,
        "as_of": iso(export.as_of),
        "input": {
            "forecast_events": input_count,
            "sha256": input_sha256,
            "canonical_form": INPUT_CANONICAL_FORM,
        },
        "rows": result.rows,
        "output": {"file": filename, "bytes": result.size, "sha256": result.sha256},
        "formatting": {
            "floats": FLOAT_FORMAT,
            "times": TIME_FORMAT,
            "row_order": "question key, then seq",
        },
    }
    if export.typed:
        _describe_types(export, manifest)
    return manifest


def _describe_types(export: CrowdExport, manifest: dict[str, Any]) -> None:
    """What a manifest says of an export that holds multiple-choice or continuous questions:
    each question's type and options or scale (``types``), the vector pool, what the typed
    columns hold, and how a vector enters the input digest (forecasts.typed_exports)."""
    manifest["types"] = {key: export.spec_of[qid].describe() for qid, key in export.questions}
    manifest["method"]["vector"] = {
        "name": "logarithmic pooling of option probabilities or PMF buckets",
        "formula": (
            "p*_k = exp(d * S_k / W) / sum_j exp(d * S_j / W), S_k = sum w_i ln p_ik, W = sum w_i"
        ),
        "source": "docs/methods.md §13.3",
    }
    manifest["distribution"] = DISTRIBUTION_NOTE
    manifest["formatting"]["typed_columns"] = (
        "p_i: option i's probability (labels in 'types'); q05..q95: the crowd's quantiles in "
        "value units; below, above: P(value below / above the range); " + DATE_NOTE
    )
    manifest["input"]["canonical_form"] = INPUT_CANONICAL_FORM + TYPED_CANONICAL_FORM


def build_manifest(
    export: CrowdExport,
    *,
    progress: Callable[[int], None] | None = None,
    out: IO[bytes] | None = None,
    filename: str = "",
) -> dict[str, Any]:
    """Render the export (to ``out`` if given, else only hashed) and return its manifest."""
    fill_pending_medians(export)
    result = RenderResult()
    shared = _can_share_snapshot()
    with snapshot(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-input") as pool:
        # On PostgreSQL the input digest is read on a second connection from the same snapshot,
        # in parallel with the rows: the two reads take about as long as each other, and each
        # keeps one PostgreSQL backend busy. Elsewhere (SQLite, or inside a caller's
        # transaction) it is read after the rows, on this connection.
        digest = (
            pool.submit(_input_digest_in_snapshot, export, _export_snapshot()) if shared else None
        )
        for data in render(export, result, progress=progress):
            if out is not None:
                out.write(data)
        if digest is None:
            input_sha, input_count = input_digest(export)
        else:
            input_sha, input_count = digest.result()
    return manifest_for(
        export, result, input_sha256=input_sha, input_count=input_count, filename=filename
    )


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def output_problem(path: Path) -> str | None:
    """Why an export cannot be written to ``path``, or None. Checked by the commands before the
    export runs, so that a mistyped directory costs nothing and reads as one line."""
    if path.is_dir():
        return f"{path} is a directory: give the file's name"
    if not path.parent.is_dir():
        return f"directory {path.parent} does not exist: create it first"
    return None


def dump_manifest(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode()


def write_with_manifest(
    path: Path, build: Callable[[IO[bytes], str], dict[str, Any]]
) -> dict[str, Any]:
    """Write FILE through ``build(file object, file name)`` (which streams the export into it
    and returns its manifest) and then FILE.manifest.json. The file goes through a temporary
    name first: nothing half-written is left behind on an error. Returns the manifest."""
    tmp = path.with_name(path.name + ".part")
    try:
        with tmp.open("wb") as fh:
            manifest = build(fh, path.name)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    manifest_path(path).write_bytes(dump_manifest(manifest))
    return manifest


def write_export(
    export: CrowdExport, path: Path, *, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Write FILE and FILE.manifest.json (``write_with_manifest``)."""
    return write_with_manifest(
        path,
        lambda fh, name: build_manifest(export, progress=progress, out=fh, filename=name),
    )


@dataclass
class Verification:
    manifest: dict[str, Any]
    recomputed: dict[str, Any]
    file_sha256: str | None
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


MANIFEST_FIELDS = {  # field: (Python type, JSON type)
    "tournament": (str, "string"),
    "format": (str, "string"),
    "as_of": (str, "string"),
    "questions": (list, "array"),
    "rows": (int, "integer"),
    "input": (dict, "object"),
    "output": (dict, "object"),
}


def read_manifest(manifest_file: Path) -> dict[str, Any]:
    """A manifest file's contents, with every field ``verify_manifest`` reads checked.

    Raises ``ExportError`` naming the file and what is wrong: unreadable, not JSON, a field
    missing or of the wrong type, a NUL character, an ``output.file`` that is not a bare name.
    """
    try:
        manifest = json.loads(manifest_file.read_text())
        problem = _manifest_problem(manifest)
    except (OSError, ValueError) as exc:  # decoding errors are ValueErrors
        problem = str(exc)
    if problem:
        raise ExportError(f"{manifest_file}: not a readable export manifest ({problem})")
    return manifest


def _manifest_problem(manifest: Any) -> str | None:
    if not isinstance(manifest, dict):
        return "not a JSON object"
    for name, (kind, json_type) in MANIFEST_FIELDS.items():
        if not isinstance(manifest.get(name), kind):
            return f"{name} is missing or not a JSON {json_type}"
    texts = [
        manifest["tournament"],
        manifest["format"],
        manifest["as_of"],
        *manifest["questions"],
        manifest.get("question") or "",
        manifest["output"].get("file"),
        manifest["output"].get("sha256"),
        manifest["input"].get("sha256"),
    ]
    if not all(isinstance(text, str) for text in texts):
        return "question(s), output.file, output.sha256 and input.sha256 must be text"
    if any("\x00" in text for text in texts):
        return "a NUL character in a text field"
    filename = manifest["output"]["file"]
    if not filename or Path(filename).name != filename:
        return f"output.file {filename!r} is not a file name"
    return None


Verifier = Callable[..., Verification]
VERIFIERS: dict[str, Verifier] = {}
"""Verifiers of the other manifest kinds, by ``kind``, registered by the app that makes them
(``scoring`` registers ``scores`` in its ``AppConfig.ready``: this layer cannot import it).
Each takes ``(manifest_file, *, progress, recipient)``."""


def verify_manifest(
    manifest_file: Path,
    *,
    progress: Callable[[int], None] | None = None,
    recipient: int | None = None,
) -> Verification:
    """Regenerate an export from the database and compare it with its manifest (and file).

    A manifest of another ``kind`` (a score export) goes to its registered verifier
    (``VERIFIERS``), with ``recipient`` (a user id) for files made with a recipient's
    pseudonyms. Raises ``ExportError`` when the manifest cannot be read (``read_manifest``),
    is of an unknown kind, names a tournament or questions the database does not have, or a
    format that does not exist."""
    manifest = read_manifest(manifest_file)
    kind = manifest.get("kind", CROWD_KIND)
    if kind != CROWD_KIND:
        verifier = VERIFIERS.get(kind) if isinstance(kind, str) else None
        if verifier is None:
            raise ExportError(f"{manifest_file}: unknown export kind {kind!r}.")
        return verifier(manifest_file, progress=progress, recipient=recipient)
    slug, fmt, keys = manifest["tournament"], manifest["format"], manifest["questions"]
    as_of = parse_as_of(manifest["as_of"], allow_future=True)
    tournament = Tournament.objects.filter(slug=slug).first()
    if tournament is None:
        raise ExportError(f"Tournament {slug!r} does not exist in this database.")
    export = crowd_export_plan(
        tournament=tournament,
        fmt=fmt,
        question_key=manifest.get("question"),
        question_keys=keys,
        as_of=as_of,
        public=manifest.get("series", "full") == "public",
    )
    recomputed = build_manifest(export, progress=progress, filename=manifest["output"]["file"])
    problems: list[str] = []
    if recomputed["method"] != manifest.get("method"):
        problems.append("method parameters differ from the manifest's")
    if recomputed.get("types") != manifest.get("types"):
        problems.append("question types, options or scales differ from the manifest's")
    if recomputed["input"]["sha256"] != manifest["input"]["sha256"]:
        problems.append(
            f"input forecast set differs: {recomputed['input']['forecast_events']} events, "
            f"sha256 {recomputed['input']['sha256']} (manifest: "
            f"{manifest['input'].get('forecast_events')} events, {manifest['input']['sha256']})"
        )
    if recomputed["rows"] != manifest["rows"]:
        problems.append(f"row count {recomputed['rows']} (manifest: {manifest['rows']})")
    if recomputed["output"]["sha256"] != manifest["output"]["sha256"]:
        problems.append(
            f"recomputed bytes differ: sha256 {recomputed['output']['sha256']} "
            f"(manifest: {manifest['output']['sha256']})"
        )
    if fmt == "parquet":
        import pyarrow

        software = manifest.get("software")
        was = software.get("pyarrow") if isinstance(software, dict) else None
        if was and was != pyarrow.__version__:
            problems.append(f"written with pyarrow {was}, recomputed with {pyarrow.__version__}")
    file_sha = None
    data_file = manifest_file.with_name(manifest["output"]["file"])
    if data_file.is_file():
        file_sha = sha256_file(data_file)
        if file_sha != manifest["output"]["sha256"]:
            problems.append(
                f"{data_file.name} on disk does not match the manifest (sha256 {file_sha})"
            )
    return Verification(manifest, recomputed, file_sha, problems)
