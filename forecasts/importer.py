"""Import a researcher's questions and forecasts (docs/researcher-guide.md).

Every question type: yes/no rows as they always were (``probability``); multiple-choice,
numeric, date and discrete questions through the optional type columns of ``questions.csv``
and the ``forecast`` column of ``forecasts.csv`` (``forecasts.import_typed``: the API's payload
shapes through ``distributions.forecast_from_payload``, resolutions by option label, value or
``below``/``above``). New questions go through ``markets.questions`` (``questions_create_many``).

Two passes: every row of both files is validated first, collecting all problems with their line
numbers; only a clean pair of files is written, in one transaction. Re-importing the same files
changes nothing: questions are matched by key, forecasts by (question, forecaster, time).

Rules (docs/researcher-guide.md, "Time windows"):

- A bare date means 00:00 UTC of that day, except as a ``close_time``, where it means the end of
  the day (00:00 UTC of the next): the day is inclusive, like a milestone deadline.
- A new question's window comes from its row, then from the command's defaults, then from the
  data: it opens at its first forecast (or now) and closes after its last one (at least one day
  after opening).
- Every dated forecast must fall in its question's window: at or after the open, at or before
  the close, not after the resolution's effective time, and not in the future. (Undated rows are
  placed a microsecond apart from the open, in file order.) Rows outside are refused with
  their line, never silently dropped or scored.
- Two rows for the same forecaster, question and time with different probabilities, or a row
  that contradicts a forecast already imported, are refused naming both: the log is
  append-only. An exact repeat is the same forecast and is counted as already there.
- Forecasts added to a question that already has a final resolution are scored again
  (``forecasts.signals.log_changed``).

Resolutions (docs/researcher-guide.md, "Resolutions on re-import"): the file is the source of
truth for the resolutions an import recorded. A question without a final resolution is resolved
when its cell has an outcome; one whose final resolution came from an import follows the file:
a different outcome re-resolves it (``question_resolve``), an empty cell un-resolves it
(``question_unresolve``: an audit record, its scores go). A resolution decided by staff or the
milestone rule is not the import's to change: a file that disagrees with it is reported, and
the resolution kept. Every change and every disagreement is reported with its line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from config.bulk import bulk_insert_new
from forecasts import distributions
from forecasts.bulk import crowd_recompute_many
from forecasts.import_typed import parse_config, parse_outcome, parse_typed_forecast
from forecasts.models import Forecast, Forecaster
from forecasts.services import P_MAX, P_MIN
from forecasts.signals import send_log_changed
from markets.models import AuditRecord, Question, Resolution, Tournament
from markets.questions import QuestionsRejected, questions_create_many
from markets.resolution.manual import (
    question_resolve,
    question_unresolve,
    questions_resolve_many,
)

RESOLUTIONS = {
    "YES": Resolution.Outcome.YES,
    "NO": Resolution.Outcome.NO,
    "ANNULLED": Resolution.Outcome.ANNULLED,
    "": None,
}
MAX_ERRORS_SHOWN = 50
# Longest text each column may hold (the database's limits), checked with the rest of the rows.
MAX_LENGTH = {
    "question key": Question._meta.get_field("key").max_length,
    "title": Question._meta.get_field("title").max_length,
    "forecaster key": Forecaster._meta.get_field("key").max_length,
    "tournament slug": Tournament._meta.get_field("slug").max_length,
    "tournament name": Tournament._meta.get_field("name").max_length,
}
# Without times, file order is time order: row i gets open_time + i microseconds, so a blind
# contest's forecasts all hold (almost) the whole window and re-imports give the same times.
ROW_SPACING = dt.timedelta(microseconds=1)
UNDATED_SPAN = dt.timedelta(seconds=1)  # undated placements lie within a second of the open
DEFAULT_WINDOW = dt.timedelta(days=1)
BATCH = 5_000  # question ids per statement of the bulk reads
FORECAST_COLUMNS = ("question_id", "forecaster_id", "probability", "time")


class ImportFailed(Exception):
    def __init__(self, errors: list[str]):
        self.errors = errors
        shown = errors[:MAX_ERRORS_SHOWN]
        more = len(errors) - len(shown)
        text = "\n".join(shown) + (f"\n… and {more} more" if more > 0 else "")
        super().__init__(f"{len(errors)} problem(s); nothing was imported.\n{text}")


@dataclass
class QuestionRow:
    line: int
    key: str
    title: str
    outcome: str | None
    open_time: dt.datetime | None
    close_time: dt.datetime | None
    # The type configuration (``markets.question_types.CONFIG_FIELDS``; ``forecasts.import_typed``).
    config: dict[str, Any] = field(default_factory=lambda: {"type": "binary"})
    option: int | None = None  # multiple choice resolved "option": the option's index
    value: float | None = None  # continuous resolved "value": in the question's units
    # False when the type columns are refused (reported on this line): the question's
    # forecasts cannot be read, and are skipped rather than reported as of an unknown question.
    usable: bool = True

    @property
    def binary(self) -> bool:
        return bool(self.config["type"] == "binary")


@dataclass
class ForecastRow:
    line: int
    forecaster: str
    question: str
    probability: float | None
    time: dt.datetime | None
    values: np.ndarray | None = None  # a typed question's stored vector (float64[K] or [201])

    @property
    def stored(self) -> float | bytes:
        """What identifies the forecast in the log: the probability, or the vector's bytes."""
        if self.values is None:
            assert self.probability is not None
            return self.probability
        return distributions.to_bytes(self.values)


def _shown(value: float | bytes | None) -> str:
    """A forecast in a message: the probability, or "a <n>-value distribution"."""
    if isinstance(value, bytes):
        return f"a {len(value) // 8}-value distribution"
    return f"{value:g}" if value is not None else "a withdrawal"


@dataclass
class ImportReport:
    tournament: str
    tournament_created: bool = False
    questions_created: int = 0
    forecasters_created: int = 0
    forecasts_created: int = 0
    forecasts_existing: int = 0
    resolutions_recorded: int = 0
    resolutions_withdrawn: int = 0
    clipped: int = 0
    questions_recomputed: list[str] = field(default_factory=list)
    # One line per resolution change ("questions.csv line 2: m1 un-resolved (was YES)").
    resolution_changes: list[str] = field(default_factory=list)
    # One line per resolution the file disagrees with but the import may not change.
    resolutions_kept: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.tournament_created
            or self.questions_created
            or self.forecasts_created
            or self.resolutions_recorded
            or self.resolutions_withdrawn
        )


def _read_csv(
    path: Path, name: str, required: set[str], either: tuple[str, ...] = ()
) -> tuple[list[str], Iterable[tuple[int, dict]]]:
    """The header and the rows (line number, cells stripped) of a CSV file. ``required``
    columns must all be there, and one of ``either`` when given (the first is named when
    none is). Raises ``ImportFailed``."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ImportFailed([f"{name}: file {path} does not exist"]) from None
    except OSError as exc:  # a directory, no permission
        raise ImportFailed([f"{name}: cannot read {path}: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ImportFailed([f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    if "\x00" in text:
        # No database text can hold one (PostgreSQL refuses it), and no CSV of text has one.
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ImportFailed([f"{name} line {line}: a NUL character (is this a text file?)"])
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = required - set(header)
    if either and not set(either) & set(header):
        missing.add(either[0])
    if missing:
        raise ImportFailed(
            [
                f"{name} line 1: missing column(s) {', '.join(sorted(missing))} "
                f"(found: {', '.join(header) or 'nothing'})"
            ]
        )
    reader.fieldnames = header

    def rows() -> Iterable[tuple[int, dict]]:
        for row in reader:
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}

    return header, rows()


def _too_long(where: str, what: str, text: str) -> list[str]:
    """The error for a text over its column's ``MAX_LENGTH`` (in characters), or none."""
    limit = MAX_LENGTH[what]
    if limit is not None and len(text) > limit:
        return [f"{where}: {what} is {len(text)} characters long; at most {limit}"]
    return []


def tournament_errors(slug: str, name: str | None) -> list[str]:
    """Problems with the tournament an import writes to: its slug is the one in every URL
    (letters, digits, hyphens and underscores), and both fit their columns."""
    errors = []
    try:
        validate_slug(slug)
    except ValidationError:
        errors.append(
            f"tournament {slug!r}: a slug is letters, digits, hyphens and underscores only"
        )
    errors += _too_long("tournament", "tournament slug", slug)
    errors += _too_long("tournament", "tournament name", name or "")
    return errors


EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)


def _parse_time(raw: str, *, end_of_day: bool = False) -> dt.datetime:
    """An ISO 8601 time (UTC when no offset is given). A bare date is 00:00 UTC that day, or
    with ``end_of_day`` 00:00 UTC of the next (the day inclusive). Every form must fall in
    [1970, 3000): exports write four-digit years and windows add days to times. Raises
    ValueError."""
    try:
        day = dt.date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        day = None
    if day is not None:
        value = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
        if end_of_day and day < LATEST.date():
            value += dt.timedelta(days=1)
    else:
        try:
            parsed = parse_datetime(raw)
        except (ValueError, OverflowError):
            parsed = None
        if parsed is None:
            raise ValueError(f"time {raw!r} is not ISO 8601")
        value = parsed.replace(tzinfo=dt.UTC) if timezone.is_naive(parsed) else parsed
    try:
        early, late = value < EARLIEST, value >= LATEST
    except OverflowError:  # an offset that moves the year out of range
        early, late = value.year < EARLIEST.year, value.year >= LATEST.year
    if early:
        raise ValueError(f"time {raw!r} is before 1970")
    if late:
        raise ValueError(f"time {raw!r} is not before the year 3000")
    return value


def parse_questions(path: Path) -> tuple[list[QuestionRow], list[str]]:
    _, rows = _read_csv(path, "questions.csv", {"question", "title", "resolution"})
    errors: list[str] = []
    out: list[QuestionRow] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        where = f"questions.csv line {line}"
        key, title, res = row.get("question", ""), row.get("title", ""), row.get("resolution", "")
        if not key:
            errors.append(f"{where}: empty question key")
            continue
        if key in seen:
            errors.append(f"{where}: question {key!r} already defined on line {seen[key]}")
            continue
        seen[key] = line
        if not title:
            errors.append(f"{where}: question {key!r} has no title")
        errors += _too_long(where, "question key", key) + _too_long(where, "title", title)
        try:
            config = parse_config(row)
        except ValueError as exc:
            errors.append(f"{where}: question {key!r}: {exc}")
            out.append(QuestionRow(line, key, title, None, None, None, usable=False))
            continue
        outcome: str | None = None
        option: int | None = None
        value: float | None = None
        if config["type"] == "binary":
            if res.upper() in RESOLUTIONS:
                outcome = RESOLUTIONS[res.upper()]
            else:  # reported; the row still checks its forecasts (nothing is written)
                errors.append(f"{where}: resolution {res!r} is not YES, NO, ANNULLED or empty")
        else:
            try:
                typed = parse_outcome(res, config)
            except ValueError as exc:
                errors.append(f"{where}: question {key!r}: {exc}")
                typed = None
            if typed is not None:
                outcome, option, value = typed.kind, typed.option, typed.value
        times: dict[str, dt.datetime | None] = {"open_time": None, "close_time": None}
        for col in times:
            if row.get(col):
                try:
                    times[col] = _parse_time(row[col], end_of_day=col == "close_time")
                except ValueError as exc:
                    errors.append(f"{where}: {col} {exc}")
        if times["open_time"] and times["close_time"] and times["close_time"] <= times["open_time"]:
            errors.append(f"{where}: close_time is not after open_time")
        out.append(
            QuestionRow(
                line,
                key,
                title,
                outcome,
                times["open_time"],
                times["close_time"],
                config=config,
                option=option,
                value=value,
            )
        )
    return out, errors


def parse_forecasts(
    path: Path,
    question_keys: set[str] | dict[str, QuestionRow],
    *,
    clip: bool,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[ForecastRow], list[str], int]:
    """The rows of ``forecasts.csv``, every problem with its line, and how many probabilities
    were clipped. ``question_keys`` are the questions of ``questions.csv``: a set of keys (all
    yes/no) or their rows by key, whose ``config`` says how to read a typed question's
    ``forecast`` cell (``forecasts.import_typed.parse_typed_forecast``). The file needs
    ``forecaster``, ``question`` and ``probability`` or ``forecast``."""
    _, rows = _read_csv(
        path, "forecasts.csv", {"forecaster", "question"}, either=("probability", "forecast")
    )
    configs = question_keys if isinstance(question_keys, dict) else {}
    errors: list[str] = []
    out: list[ForecastRow] = []
    clipped = 0
    seen: dict[tuple[str, str, dt.datetime], tuple[int, float | bytes]] = {}
    for line, row in rows:
        if progress is not None:
            progress(1)
        where = f"forecasts.csv line {line}"
        forecaster, question, raw = (
            row.get("forecaster", ""),
            row.get("question", ""),
            row.get("probability", ""),
        )
        if not forecaster:
            errors.append(f"{where}: empty forecaster")
            continue
        if problem := _too_long(where, "forecaster key", forecaster):
            errors += problem
            continue
        if question not in question_keys:
            errors.append(f"{where}: unknown question {question!r}")
            continue
        qrow = configs.get(question)
        if qrow is not None and not qrow.usable:
            continue  # its type columns were refused, on its own line
        values: np.ndarray | None = None
        if qrow is not None and not qrow.binary:
            qtype = qrow.config["type"]
            if raw:
                errors.append(
                    f"{where}: {question!r} is a {qtype} question: leave probability empty and "
                    "give the forecast in the forecast column"
                )
                continue
            try:
                values = parse_typed_forecast(row.get("forecast", ""), qrow.config)
            except ValueError as exc:
                errors.append(f"{where}: {question!r} ({qtype}): {exc}")
                continue
        elif row.get("forecast"):
            errors.append(
                f"{where}: {question!r} is a yes/no question: its forecast goes in the "
                "probability column, not forecast"
            )
            continue
        p: float | None = None
        if values is None:
            try:
                p, was_clipped = _probability(raw, clip=clip)
            except ValueError as exc:
                errors.append(f"{where}: {exc}")
                continue
            clipped += was_clipped
        time = None
        if row.get("time"):
            try:
                time = _parse_time(row["time"])
            except ValueError as exc:
                errors.append(f"{where}: {exc}")
                continue
        frow = ForecastRow(line, forecaster, question, p, time, values)
        if time is not None:
            ident = (forecaster, question, time)
            stored = frow.stored
            if ident in seen and seen[ident][1] != stored:
                first_line, first_p = seen[ident]
                errors.append(
                    f"{where}: forecaster {forecaster!r} on {question!r} at {time.isoformat()} "
                    f"is {_shown(stored)} here but {_shown(first_p)} on line {first_line}: "
                    "conflicting rows"
                )
                continue
            if ident in seen:
                continue  # an exact repeat of the same forecast
            seen[ident] = (line, stored)
        out.append(frow)
    return out, errors, clipped


def _probability(raw: str, *, clip: bool) -> tuple[float, bool]:
    """A yes/no forecast's probability cell and whether it was clipped into [P_MIN, P_MAX]
    (with ``clip``, a value within [0, 1]). Raises ``ValueError`` with the reason."""
    try:
        p = float(raw)
    except ValueError:
        raise ValueError(f"probability {raw!r} is not a number") from None
    if not math.isfinite(p):
        raise ValueError(f"probability {raw!r} is not a finite number")
    if P_MIN <= p <= P_MAX:
        return p, False
    if clip and 0.0 <= p <= 1.0:
        return min(max(p, P_MIN), P_MAX), True
    hint = " (--clip clips values within [0, 1])" if 0.0 <= p <= 1.0 else ""
    raise ValueError(f"probability {raw} is outside [{P_MIN}, {P_MAX}]{hint}")


def import_forecasts(
    *,
    tournament_slug: str,
    questions_path: Path,
    forecasts_path: Path,
    clip: bool = False,
    tournament_name: str | None = None,
    default_open: dt.datetime | None = None,
    default_close: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    on_phase: Callable[[str, int], None] | None = None,
) -> ImportReport:
    """Validate both files completely, then write everything or nothing.

    ``progress(n)`` counts forecast rows validated; ``on_stage(message)`` announces each stage
    as it starts: validating the questions and the forecasts, writing the forecasts (with their
    count), computing the crowd histories (with the number of questions), recording the
    resolutions, and scoring (after the write commits: in-process without a broker, where it
    takes the longest). ``load_demo`` and ``import_forecasts`` show them.

    With ``on_phase(label, total)``, the writing stages are counted too: each announces its
    label and its number of units (forecasts written, questions whose crowd is computed,
    questions whose resolution is checked), then ``progress(n)`` counts those units. The import
    command resets its progress bar there.

    The work per question is batched (issue 14): questions, forecasts, crowd histories
    (``forecasts.bulk.crowd_recompute_many``), first resolutions
    (``questions_resolve_many``) and their scoring (one batch after commit) are written in a
    few statements each, so a PredictionBook-size file (15,000 questions) imports in well
    under a minute (docs/performance.md)."""
    stage = on_stage or (lambda _msg: None)
    counted = on_phase is not None and progress is not None
    phase = on_phase if counted and on_phase is not None else (lambda _label, _total: None)
    step = progress if counted and progress is not None else (lambda _n: None)
    stage("Validating questions")
    errors = tournament_errors(tournament_slug, tournament_name)
    qrows, qerrors = parse_questions(questions_path)
    errors += qerrors
    stage("Validating forecasts")
    frows, ferrors, clipped = parse_forecasts(
        forecasts_path, {q.key: q for q in qrows}, clip=clip, progress=progress
    )
    errors += ferrors
    if errors:
        raise ImportFailed(errors)
    stage("Writing")
    with transaction.atomic():
        report = _write(
            tournament_slug,
            tournament_name,
            qrows,
            frows,
            clipped,
            default_open,
            default_close,
            stage=stage,
            phase=phase,
            step=step,
        )
        rescored = Resolution.objects.filter(
            question__tournament__slug=tournament_slug,
            question__key__in=report.questions_recomputed,
            state=Resolution.State.FINAL,
        )
        if report.resolutions_recorded or rescored.exists():
            # Scoring subscribes to the commit below (and runs there without a broker).
            stage("Scoring the resolved questions")
    return report


def _window_ends(
    questions: dict[str, Question], qrows: list[QuestionRow], now: dt.datetime
) -> dict[int, dt.datetime]:
    """Each question's last instant for forecasts: its close, or the effective time of its
    final resolution (existing and kept, or the one this import records) when earlier."""
    ends = {q.pk: q.close_time for q in questions.values()}
    outcomes = {questions[row.key].pk: row.outcome for row in qrows}
    finals = Resolution.objects.filter(
        question_id__in=list(ends), state=Resolution.State.FINAL
    ).values_list("question_id", "resolved_at", "source")
    for qid, resolved_at, source in finals:
        if source == Resolution.Source.IMPORT and outcomes.get(qid) is None:
            continue  # this import un-resolves it
        ends[qid] = min(ends[qid], resolved_at)
    for row in qrows:
        if row.outcome is not None:
            q = questions[row.key]
            ends[q.pk] = min(ends[q.pk], q.close_time, now)
    return ends


def _outside_window(q: Question, time: dt.datetime, end: dt.datetime, now: dt.datetime) -> str:
    """Why a forecast at ``time`` cannot be in ``q``'s log, or "" if it can."""
    if time < q.open_time:
        return f"before the question opened ({q.open_time.isoformat()})"
    if time > now:
        return "in the future"
    if time > q.close_time:
        return f"after the question closed ({q.close_time.isoformat()})"
    if time > end:
        return f"after the question was resolved ({end.isoformat()})"
    return ""


@transaction.atomic
def _write(
    slug: str,
    name: str | None,
    qrows: list[QuestionRow],
    frows: list[ForecastRow],
    clipped: int,
    default_open: dt.datetime | None,
    default_close: dt.datetime | None,
    stage: Callable[[str], None] = lambda _msg: None,
    phase: Callable[[str, int], None] = lambda _label, _total: None,
    step: Callable[[int], None] = lambda _n: None,
) -> ImportReport:
    report = ImportReport(tournament=slug, clipped=clipped)
    tournament, report.tournament_created = Tournament.objects.get_or_create(
        slug=slug, defaults={"name": name or slug.replace("-", " ").title()}
    )
    now = timezone.now().replace(microsecond=0)
    first_time: dict[str, dt.datetime] = {}
    last_time: dict[str, dt.datetime] = {}
    for f in frows:
        if f.time is not None and (f.question not in first_time or f.time < first_time[f.question]):
            first_time[f.question] = f.time
        if f.time is not None and (f.question not in last_time or f.time > last_time[f.question]):
            last_time[f.question] = f.time

    existing_q = {q.key: q for q in Question.objects.filter(tournament=tournament)}
    questions: dict[str, Question] = {}
    specs: list[dict[str, Any]] = []
    spec_rows: list[QuestionRow] = []
    mismatched: list[str] = []
    for row in qrows:
        if row.key in existing_q:
            q = existing_q[row.key]
            differs = [name for name, value in row.config.items() if getattr(q, name) != value]
            if differs:
                mismatched.append(
                    f"questions.csv line {row.line}: question {row.key!r} was imported with "
                    f"another {', '.join(differs)}; a question's type and scale cannot change"
                )
            questions[row.key] = q
            continue
        open_time = row.open_time or default_open or first_time.get(row.key) or now
        close_time = row.close_time or default_close
        if close_time is None:  # from the data: after the last forecast, at least a day
            after_last = last_time.get(row.key, open_time) + ROW_SPACING
            close_time = max(after_last, open_time + DEFAULT_WINDOW)
        if close_time <= open_time:
            close_time = open_time + DEFAULT_WINDOW
        specs.append(
            {
                "key": row.key,
                "title": row.title or row.key,
                "open_time": open_time,
                "close_time": close_time,
                **row.config,
            }
        )
        spec_rows.append(row)
    if mismatched:
        raise ImportFailed(mismatched)
    # Through the one door for new questions (the same checks as the API's question_create).
    try:
        created = questions_create_many(tournament=tournament, questions=specs, now=now)
    except QuestionsRejected as exc:
        raise ImportFailed(
            [f"questions.csv line {spec_rows[i].line}: {error}" for i, error in exc.errors]
        ) from None
    for question in created:
        questions[question.key] = question
    report.questions_created = len(created)

    keys = sorted({f.forecaster for f in frows})
    existing_f = dict(Forecaster.objects.filter(source=slug, key__in=keys).values_list("key", "id"))
    new = [Forecaster(source=slug, key=k) for k in keys if k not in existing_f]
    Forecaster.objects.bulk_create(new, batch_size=2000)
    report.forecasters_created = len(new)
    ids = dict(Forecaster.objects.filter(source=slug, key__in=keys).values_list("key", "id"))

    have: dict[tuple[int, int, dt.datetime], float | bytes | None] = {
        (qid, fid, time): p if v is None else bytes(v)
        for qid, fid, time, p, v in Forecast.objects.filter(
            question__tournament=tournament, forecaster__source=slug
        ).values_list("question_id", "forecaster_id", "time", "probability", "values")
    }
    ends = _window_ends(questions, qrows, now)
    open_times = {q.pk: q.open_time for q in questions.values()}
    problems: list[str] = []
    to_create: list[tuple[int, int, float, dt.datetime]] = []  # yes/no: plain rows
    to_create_typed: list[Forecast] = []  # multiple choice and continuous: their vectors
    touched: set[int] = set()
    # Undated rows already in the log, per (question, forecaster) in time order: a re-import
    # matches its k-th undated row of a pair to the pair's k-th, wherever the row now sits in
    # the file (its placement, open + row index µs, moves when rows are added before it).
    placed: dict[tuple[int, int], list[tuple[dt.datetime, float | bytes | None]]] = {}
    for (qid, fid, time), p in sorted(have.items(), key=lambda item: item[0][2]):
        q_open = open_times.get(qid)
        if q_open is not None and q_open <= time < q_open + UNDATED_SPAN:
            placed.setdefault((qid, fid), []).append((time, p))
    seen_undated: dict[tuple[int, int], int] = {}
    for index, f in enumerate(frows):
        q = questions[f.question]
        time = f.time or q.open_time + ROW_SPACING * index
        if f.time is None:
            pair = (q.pk, ids[f.forecaster])
            k = seen_undated[pair] = seen_undated.get(pair, -1) + 1
            earlier = placed.get(pair, [])
            if k < len(earlier):
                time = earlier[k][0]  # the same undated forecast, imported before
        where = f"forecasts.csv line {f.line}"
        if f.time is not None and (problem := _outside_window(q, time, ends[q.pk], now)):
            problems.append(
                f"{where}: {f.forecaster!r} on {f.question!r} at {time.isoformat()}: {problem}"
            )
            continue
        if f.time is None and q.open_time > now:
            problems.append(
                f"{where}: {f.forecaster!r} on {f.question!r} has no time, and undated rows are "
                f"placed at the open, {q.open_time.isoformat()}: in the future"
            )
            continue
        ident = (q.pk, ids[f.forecaster], time)
        stored = f.stored
        if ident in have:
            if have[ident] != stored:
                problems.append(
                    f"{where}: {f.forecaster!r} on {f.question!r} at {time.isoformat()} is "
                    f"{_shown(stored)}, but the forecast already imported there is "
                    f"{_shown(have[ident])}; the log is append-only (give the new forecast a "
                    "new time)"
                )
            else:
                report.forecasts_existing += 1
            continue
        have[ident] = stored
        if isinstance(stored, bytes):
            to_create_typed.append(
                Forecast(
                    question_id=q.pk, forecaster_id=ids[f.forecaster], values=stored, time=time
                )
            )
        else:
            to_create.append((q.pk, ids[f.forecaster], stored, time))
        touched.add(q.pk)
    if problems:
        raise ImportFailed(problems)  # inside the transaction: nothing was written
    total = len(to_create) + len(to_create_typed)
    if total:
        stage(f"Writing {total:,} forecasts")
        phase(f"Writing {total:,} forecasts", total)
    for start in range(0, len(to_create), 5_000):
        # Plain rows (COPY on PostgreSQL): no model instance or SQL built per forecast.
        bulk_insert_new(Forecast, FORECAST_COLUMNS, to_create[start : start + 5_000])
        step(len(to_create[start : start + 5_000]))
    for start in range(0, len(to_create_typed), 5_000):
        Forecast.objects.bulk_create(to_create_typed[start : start + 5_000])
        step(len(to_create_typed[start : start + 5_000]))
    report.forecasts_created = total

    if touched:
        stage(f"Computing the crowd history of {len(touched):,} questions")
        phase(f"Crowd history of {len(touched):,} questions", len(touched))
    crowd_recompute_many(question_ids=touched, progress=step)
    report.questions_recomputed = [key for key, q in questions.items() if q.pk in touched]
    # Scores of questions already resolved now miss these forecasts: scoring subscribes.
    send_log_changed(question_ids=sorted(touched))

    stage("Recording resolutions")
    phase(f"Resolutions of {len(qrows):,} questions", len(qrows))
    finals = _finals([questions[row.key].pk for row in qrows])
    # Who un-resolved a question last matters only to one without a final resolution.
    staff = _unresolved_by_staff(
        [questions[r.key].pk for r in qrows if r.outcome is not None and r.key not in finals]
    )
    pending: list[tuple[int, str, str, dt.datetime]] = []
    for row in qrows:
        q = questions[row.key]
        _apply_resolution(
            row,
            q,
            current=finals.get(q.pk),
            unresolved_by_staff=q.pk in staff,
            slug=slug,
            now=now,
            report=report,
            pending=pending,
        )
        step(1)
    # First resolutions in one batch (scored as one batch after commit); the others, rare
    # (re-resolutions and un-resolutions), went through question_resolve and question_unresolve.
    questions_resolve_many(
        resolutions=pending, source=Resolution.Source.IMPORT, actor_label="import"
    )
    return report


def _finals(question_ids: list[int]) -> dict[int, Resolution]:
    """The final resolution of each of ``question_ids`` that has one, by question id."""
    out: dict[int, Resolution] = {}
    for start in range(0, len(question_ids), BATCH):
        out.update(
            (r.question_id, r)
            for r in Resolution.objects.filter(
                question_id__in=question_ids[start : start + BATCH], state=Resolution.State.FINAL
            )
        )
    return out


def _unresolved_by_staff(question_ids: list[int]) -> set[int]:
    """Those of ``question_ids`` whose last audit record is an un-resolution that did not come
    from an import (staff decided it: a re-import must not undo that, any more than a staff
    resolution)."""
    out: set[int] = set()
    for start in range(0, len(question_ids), BATCH):
        last: dict[int, tuple[str, str]] = {}
        records = (
            AuditRecord.objects.filter(question_id__in=question_ids[start : start + BATCH])
            .order_by("question_id", "-at", "-id")
            .values_list("question_id", "action", "actor_label")
        )
        for qid, action, label in records:
            last.setdefault(qid, (action, label))
        out.update(
            qid
            for qid, (action, label) in last.items()
            if action == AuditRecord.Action.UNRESOLVED and label != "import"
        )
    return out


DECIDED_BY = {Resolution.Source.MANUAL: "staff", Resolution.Source.RULE: "the milestone rule"}


def _spelled(
    outcome: str,
    q: Question | None = None,
    *,
    option: int | None = None,
    value: float | None = None,
) -> str:
    """An outcome as questions.csv spells it: YES, NO, ANNULLED, an option's label in quotes,
    a value (a date question's as an ISO 8601 time), BELOW or ABOVE."""
    if outcome == Resolution.Outcome.OPTION and q is not None and option is not None:
        return repr(q.options[option]) if option < len(q.options) else f"option {option}"
    if outcome == Resolution.Outcome.VALUE and value is not None:
        if q is not None and q.type == Question.Type.DATE:
            return dt.datetime.fromtimestamp(value, dt.UTC).isoformat()
        return f"{value:g}"
    return outcome.upper()


def _row_spelled(row: QuestionRow, q: Question) -> str:
    assert row.outcome is not None
    return _spelled(row.outcome, q, option=row.option, value=row.value)


def _res_spelled(res: Resolution, q: Question) -> str:
    return _spelled(res.outcome, q, option=res.option, value=res.value)


def _same(res: Resolution, row: QuestionRow) -> bool:
    """Whether ``res`` records the outcome of ``row`` (kind, option and value)."""
    return (res.outcome, res.option, res.value) == (row.outcome, row.option, row.value)


def _apply_resolution(
    row: QuestionRow,
    q: Question,
    *,
    current: Resolution | None,
    unresolved_by_staff: bool,
    slug: str,
    now: dt.datetime,
    report: ImportReport,
    pending: list[tuple[int, str, str, dt.datetime]],
) -> None:
    """Bring ``q``'s resolution in line with its row (rules in the module docstring), through
    the resolution services, and report what changed or was kept, naming the line. ``current``
    is its final resolution; ``unresolved_by_staff`` whether staff un-resolved it last. A yes/no
    question's first resolution is appended to ``pending`` (question id, outcome, reason,
    effective time) for ``questions_resolve_many``; any other is made here."""
    where = f"questions.csv line {row.line}"
    if current is not None and current.source != Resolution.Source.IMPORT:
        decided_by = DECIDED_BY.get(Resolution.Source(current.source), current.source)
        if row.outcome is not None and not _same(current, row):
            report.resolutions_kept.append(
                f"{where}: {q.key} is resolved {_res_spelled(current, q)} by {decided_by} but "
                f"the file says {_row_spelled(row, q)}: kept (re-resolve it by hand if the "
                "file is right)"
            )
        elif row.outcome is None and q.resolutions.filter(source=Resolution.Source.IMPORT).exists():
            report.resolutions_kept.append(
                f"{where}: {q.key} is resolved {_res_spelled(current, q)} by {decided_by}; the "
                "file no longer resolves it: kept (un-resolve it by hand if the file is right)"
            )
        return
    if row.outcome is None:
        if current is None:
            return
        question_unresolve(
            question_id=q.pk,
            reason=f"The resolution cell is empty in {where} (import into {slug})",
            source=Resolution.Source.IMPORT,
            actor_label="import",
        )
        report.resolutions_withdrawn += 1
        report.resolution_changes.append(
            f"{where}: {q.key} un-resolved (was {_res_spelled(current, q)})"
        )
        return
    if current is not None and _same(current, row):
        return
    if current is None and unresolved_by_staff:
        report.resolutions_kept.append(
            f"{where}: {q.key} was un-resolved by staff but the file says "
            f"{_row_spelled(row, q)}: kept unresolved (resolve it by hand if the file is right)"
        )
        return
    reason = f"Imported from {slug} ({where})"
    if current is None and row.binary:  # batched; the other types through question_resolve,
        # which checks that the outcome fits the question's type (docs/methods.md §13.4)
        pending.append((q.pk, row.outcome, reason, min(q.close_time, now)))
        report.resolutions_recorded += 1
        report.resolution_changes.append(f"{where}: {q.key} resolved {_row_spelled(row, q)}")
        return
    if current is not None:
        reason += f": the file now says {_row_spelled(row, q)}, was {_res_spelled(current, q)}"
    question_resolve(
        question_id=q.pk,
        outcome=row.outcome,
        option=row.option,
        value=row.value,
        reason=reason,
        source=Resolution.Source.IMPORT,
        resolved_at=min(q.close_time, now),
        actor_label="import",
    )
    report.resolutions_recorded += 1
    if current is None:
        report.resolution_changes.append(f"{where}: {q.key} resolved {_row_spelled(row, q)}")
        return
    report.resolution_changes.append(
        f"{where}: {q.key} re-resolved {_res_spelled(current, q)} → {_row_spelled(row, q)}"
    )
