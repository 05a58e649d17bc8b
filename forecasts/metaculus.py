"""Read Metaculus's forecast-data download (docs/researcher-guide.md, "Metaculus format").

One CSV row per forecast, the question's fields repeated on every row (the layout of Metaculus's
question-data downloads; a sample is ``data/metaculus-format/forecasts.csv``). This module only
reads and checks the file: :func:`parse_metaculus` returns the questions and forecasts it holds
and every problem with its line number, and writes nothing. ``forecasts.metaculus_import`` writes
a clean file through the services.

Per question type (column ``type``):

- ``binary``: ``probability_yes`` in [0.001, 0.999]; resolution ``yes``/``no``.
- ``multiple_choice``: ``options`` (JSON list of labels), ``probability_yes_per_category`` (JSON
  list in option order: each in [0.001, 0.999], summing to 1 ± 1e-6); resolution an option label.
- ``numeric``, ``discrete``, ``date``: ``range_min``/``range_max``, ``open_lower_bound``/
  ``open_upper_bound``, ``zero_point`` (log scale when set), ``continuous_cdf`` (JSON list of 201
  values on the internal grid, docs/methods.md §9); resolution a number (``date``: an ISO 8601 date
  or time, stored as Unix seconds), or ``below_lower_bound`` / ``above_upper_bound``.

For every type ``annulled`` and ``ambiguous`` annul the question (no scores); an empty cell leaves
it unresolved. The question opens at ``published_at`` (else ``created_at``) and closes at
``actual_close_time`` (else ``scheduled_close_time``); the resolution's effective time is
``actual_resolve_time`` (else the close). Forecasters are keyed by ``author_id``; ``forecaster`` is
their display name.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from forecasts import distributions
from forecasts.importer import MAX_LENGTH, _parse_time

__all__ = [
    "COLUMNS",
    "MetaculusFile",
    "MetaculusForecast",
    "MetaculusQuestion",
    "parse_metaculus",
]

COLUMNS = [
    "forecast_id",
    "question_id",
    "post_id",
    "question_title",
    "created_at",
    "author_id",
    "probability_yes",
    "probability_yes_per_category",
    "continuous_cdf",
    "forecast_timestamp",
    "forecaster",
    "is_bot",
    "resolution",
    "scheduled_close_time",
    "actual_close_time",
    "scheduled_resolve_time",
    "actual_resolve_time",
    "spot_scoring_time",
    "published_at",
    "question_weight",
    "cp_reveal_time",
    "type",
    "options",
    "range_min",
    "range_max",
    "open_lower_bound",
    "open_upper_bound",
    "zero_point",
    "project_title",
]
"""The columns of Metaculus's forecast CSV, in their order."""

REQUIRED = {
    "question_id",
    "question_title",
    "author_id",
    "forecast_timestamp",
    "resolution",
    "type",
}
TYPES = ("binary", "multiple_choice", "numeric", "date", "discrete")
CONTINUOUS = ("numeric", "date", "discrete")
ANNULLED = {"annulled", "ambiguous"}
BELOW, ABOVE = "below_lower_bound", "above_upper_bound"
# The question's fields, repeated on each of its rows: every row must agree with the first.
QUESTION_FIELDS = (
    "question_title",
    "type",
    "options",
    "range_min",
    "range_max",
    "open_lower_bound",
    "open_upper_bound",
    "zero_point",
    "resolution",
    "published_at",
    "created_at",
    "scheduled_close_time",
    "actual_close_time",
    "actual_resolve_time",
)
MAX_TITLE = 300
KEY_PREFIX = "metaculus-"
"""A question's Takeoff key is this prefix and its ``question_id``."""
MAX_QUESTION_ID = (MAX_LENGTH["question key"] or 100) - len(KEY_PREFIX)
"""Longest ``question_id``: its key must fit the question key column (PostgreSQL refuses a
longer one with an error after the file was checked, SQLite stores it)."""
MAX_AUTHOR_ID = MAX_LENGTH["forecaster key"] or 150
"""Longest ``author_id``: the forecaster key column."""


@dataclass(frozen=True)
class Outcome:
    """A parsed resolution: ``kind`` is "yes", "no", "annulled", "option" (``option`` = index),
    "value" (``value`` in the question's units; dates in Unix seconds), "below" or "above"."""

    kind: str
    option: int | None = None
    value: float | None = None


@dataclass
class MetaculusQuestion:
    """One question of the file: its first line, type and scale, window and resolution."""

    line: int
    question_id: str
    title: str
    type: str
    options: list[str]
    scale: distributions.Scale | None
    open_time: dt.datetime
    close_time: dt.datetime
    resolve_time: dt.datetime | None
    outcome: Outcome | None
    project: str


@dataclass
class MetaculusForecast:
    """One forecast row: ``probability`` for binary, ``values`` (option probabilities or the
    201-point CDF as given, validated) otherwise."""

    line: int
    question_id: str
    author_id: str
    name: str
    is_bot: bool
    time: dt.datetime
    probability: float | None = None
    values: np.ndarray | None = None


@dataclass
class MetaculusFile:
    questions: dict[str, MetaculusQuestion] = field(default_factory=dict)
    forecasts: list[MetaculusForecast] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _rows(path: Path, errors: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        errors.append(f"{path.name}: cannot read ({exc.strerror or exc})")
        return
    except UnicodeDecodeError as exc:
        errors.append(f"{path.name}: not UTF-8 text (byte {exc.start})")
        return
    if "\x00" in text:
        errors.append(f"{path.name}: contains a NUL byte; not a CSV file")
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = sorted(REQUIRED - set(header))
    if missing:
        errors.append(f"{path.name} line 1: missing column(s) {', '.join(missing)}")
        return
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                errors.append(f"{path.name} line {line}: more cells than columns")
                continue
            yield line, {k: (v or "").strip() for k, v in row.items()}
    except csv.Error as exc:
        errors.append(f"{path.name} line {reader.line_num}: {exc}")


def _bool(raw: str, what: str) -> bool:
    low = raw.lower()
    if low in ("true", "t", "1"):
        return True
    if low in ("false", "f", "0", ""):
        return False
    raise ValueError(f"{what} {raw!r} is not true or false")


def _float(raw: str, what: str) -> float:
    try:
        x = float(raw)
    except ValueError:
        raise ValueError(f"{what} {raw!r} is not a number") from None
    if not math.isfinite(x):
        raise ValueError(f"{what} {raw!r} is not a finite number")
    return x


def _json_list(raw: str, what: str) -> list[Any]:
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise ValueError(f"{what} is not a JSON list") from None
    if not isinstance(value, list):
        raise ValueError(f"{what} is not a JSON list")
    return value


def _numbers(raw: str, what: str) -> list[float]:
    values = _json_list(raw, what)
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"{what}[{i}] is not a number")
        try:
            number = float(v)
        except OverflowError:  # a JSON integer too large for a float
            number = math.inf
        if not math.isfinite(number):
            raise ValueError(f"{what}[{i}] is not a finite number")
        out.append(number)
    return out


def _time(row: dict[str, str], *columns: str) -> dt.datetime | None:
    for col in columns:
        if row.get(col):
            try:
                return _parse_time(row[col])
            except ValueError as exc:
                raise ValueError(f"{col}: {exc}") from None
    return None


def _scale(row: dict[str, str]) -> distributions.Scale:
    lo, hi = (
        _float(row.get("range_min", ""), "range_min"),
        _float(row.get("range_max", ""), "range_max"),
    )
    zero = row.get("zero_point", "")
    scale = distributions.Scale(
        range_min=lo,
        range_max=hi,
        open_lower=_bool(row.get("open_lower_bound", ""), "open_lower_bound"),
        open_upper=_bool(row.get("open_upper_bound", ""), "open_upper_bound"),
        zero_point=_float(zero, "zero_point") if zero else None,
    )
    scale.validate()
    return scale


def _outcome(
    raw: str, qtype: str, options: list[str], scale: distributions.Scale | None
) -> Outcome | None:
    low = raw.lower()
    if not raw:
        return None
    if low in ANNULLED:
        return Outcome("annulled")
    if qtype == "binary":
        if low in ("yes", "no"):
            return Outcome(low)
        raise ValueError(f"resolution {raw!r} is not yes, no, annulled, ambiguous or empty")
    if qtype == "multiple_choice":
        if raw not in options:
            raise ValueError(f"resolution {raw!r} is not one of the options {options}")
        return Outcome("option", option=options.index(raw))
    assert scale is not None
    if low == BELOW:
        if not scale.open_lower:
            raise ValueError(f"resolution {raw} but the lower bound is closed")
        return Outcome("below")
    if low == ABOVE:
        if not scale.open_upper:
            raise ValueError(f"resolution {raw} but the upper bound is closed")
        return Outcome("above")
    if qtype == "date":
        try:
            value = distributions.parse_date_value(raw)
        except distributions.DistributionError as exc:
            raise ValueError(f"resolution: {exc}") from None
    else:
        value = _float(raw, "resolution")
    if value < scale.range_min or value > scale.range_max:
        side = "below" if value < scale.range_min else "above"
        if (side == "below" and not scale.open_lower) or (side == "above" and not scale.open_upper):
            raise ValueError(
                f"resolution {raw} is outside the range [{scale.range_min:g}, "
                f"{scale.range_max:g}] and that bound is closed"
            )
        return Outcome(side)
    return Outcome("value", value=value)


def _question(line: int, row: dict[str, str]) -> MetaculusQuestion:
    qtype = row["type"].lower()
    if qtype not in TYPES:
        raise ValueError(f"type {row['type']!r} is not one of {', '.join(TYPES)}")
    title = row["question_title"]
    if not title:
        raise ValueError("empty question_title")
    if len(title) > MAX_TITLE:
        raise ValueError(f"question_title is longer than {MAX_TITLE} characters")
    options: list[str] = []
    scale = None
    if qtype == "multiple_choice":
        raw = _json_list(row.get("options", ""), "options")
        if len(raw) < 2 or not all(isinstance(o, str) and o.strip() for o in raw):
            raise ValueError("options must be a JSON list of at least two non-empty labels")
        if len(set(raw)) != len(raw):
            raise ValueError("options has a repeated label")
        options = list(raw)
    elif qtype in CONTINUOUS:
        try:
            scale = _scale(row)
        except distributions.DistributionError as exc:
            raise ValueError(str(exc)) from None
    opened = _time(row, "published_at", "created_at")
    closed = _time(row, "actual_close_time", "scheduled_close_time")
    if opened is None or closed is None:
        raise ValueError("no open time (published_at) or no close time (scheduled_close_time)")
    if closed <= opened:
        raise ValueError("the close time is not after the open time")
    resolved = _time(row, "actual_resolve_time")
    outcome = _outcome(row.get("resolution", ""), qtype, options, scale)
    return MetaculusQuestion(
        line=line,
        question_id=row["question_id"],
        title=title,
        type=qtype,
        options=options,
        scale=scale,
        open_time=opened,
        close_time=closed,
        resolve_time=resolved if outcome is not None else None,
        outcome=outcome,
        project=row.get("project_title", ""),
    )


def _forecast(line: int, row: dict[str, str], q: MetaculusQuestion) -> MetaculusForecast:
    time = _time(row, "forecast_timestamp")
    if time is None:
        raise ValueError("empty forecast_timestamp")
    if not row["author_id"]:
        raise ValueError("empty author_id")
    if len(row["author_id"]) > MAX_AUTHOR_ID:
        raise ValueError(
            f"author_id is {len(row['author_id'])} characters long; at most {MAX_AUTHOR_ID}"
        )
    fc = MetaculusForecast(
        line=line,
        question_id=q.question_id,
        author_id=row["author_id"],
        name=row.get("forecaster", "") or row["author_id"],
        is_bot=_bool(row.get("is_bot", ""), "is_bot"),
        time=time,
    )
    try:
        if q.type == "binary":
            p = _float(row.get("probability_yes", ""), "probability_yes")
            if not 0.001 <= p <= 0.999:
                raise ValueError(f"probability_yes {p:g} is outside [0.001, 0.999]")
            fc.probability = p
        elif q.type == "multiple_choice":
            raw = _numbers(
                row.get("probability_yes_per_category", ""), "probability_yes_per_category"
            )
            fc.values = distributions.option_probabilities(raw, len(q.options))
        else:
            cdf = _numbers(row.get("continuous_cdf", ""), "continuous_cdf")
            values = np.asarray(cdf, dtype=np.float64)
            distributions.validate_stored_vector(
                values, question_type=q.type, scale=q.scale, n_options=None
            )
            fc.values = values
    except distributions.DistributionError as exc:
        raise ValueError(str(exc)) from None
    return fc


def parse_metaculus(path: Path, *, progress: Callable[[int], None] | None = None) -> MetaculusFile:
    """Read and check a Metaculus forecast CSV at ``path``; never raises on bad content.

    Returns a :class:`MetaculusFile`: questions by ``question_id`` (each with the line that first
    defined it), forecasts in file order, and every problem as ``"FILE line N: reason"`` (a
    question's problem is reported once, on its first line; a row whose question fields differ
    from that line's is refused). Identical repeats of a forecast (same question, author and
    time, same values) are dropped; a repeat with different values is an error naming both lines.
    """
    out = MetaculusFile()
    name = path.name
    first: dict[str, tuple[int, dict[str, str]]] = {}
    bad: set[str] = set()
    seen: dict[tuple[str, str, dt.datetime], tuple[int, Any]] = {}
    for line, row in _rows(path, out.errors):
        if progress is not None:
            progress(1)
        where = f"{name} line {line}"
        qid = row["question_id"]
        if not qid:
            out.errors.append(f"{where}: empty question_id")
            continue
        if len(qid) > MAX_QUESTION_ID:
            out.errors.append(
                f"{where}: question_id is {len(qid)} characters long; at most {MAX_QUESTION_ID}"
            )
            continue
        if qid not in first:
            first[qid] = (line, row)
            try:
                out.questions[qid] = _question(line, row)
            except ValueError as exc:
                out.errors.append(f"{where}: question {qid}: {exc}")
                bad.add(qid)
        else:
            first_line, first_row = first[qid]
            differs = [f for f in QUESTION_FIELDS if row.get(f, "") != first_row.get(f, "")]
            if differs:
                out.errors.append(
                    f"{where}: question {qid}'s {', '.join(differs)} differ from line {first_line}"
                )
                continue
        if qid in bad:
            continue
        q = out.questions[qid]
        try:
            fc = _forecast(line, row, q)
        except ValueError as exc:
            out.errors.append(f"{where}: {exc}")
            continue
        key = (qid, fc.author_id, fc.time)
        value = fc.probability if fc.values is None else fc.values.tobytes()
        if key in seen:
            other_line, other = seen[key]
            if other != value:
                out.errors.append(
                    f"{where}: author {fc.author_id} on question {qid} at {fc.time.isoformat()} "
                    f"differs from line {other_line}: conflicting rows"
                )
            continue
        seen[key] = (line, value)
        if not q.open_time <= fc.time <= q.close_time:
            out.errors.append(
                f"{where}: forecast_timestamp {fc.time.isoformat()} is outside the question's "
                f"window [{q.open_time.isoformat()}, {q.close_time.isoformat()}]"
            )
            continue
        out.forecasts.append(fc)
    for qid, q in out.questions.items():
        if qid not in bad and q.resolve_time is not None and q.resolve_time < q.open_time:
            out.errors.append(f"{name} line {q.line}: question {qid} resolves before it opens")
    return out
