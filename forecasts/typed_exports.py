"""Multiple-choice and continuous questions in the crowd exports (``forecasts.exports``).

One file per export, every question in it (a **wide** layout): the columns are
``question,time,forecasters``, then one group per kind of question the export holds, in this
order, each group present only when a question of its kind is:

- yes/no: ``probability,median,mean`` (an export of yes/no questions only has exactly the
  columns, and bytes, it always had);
- multiple choice: ``p_0 … p_{K−1}``, the crowd's option probabilities in the question's option
  order (K = the most options of a question in the export; a question with fewer leaves the
  rest empty). Labels are free text and differ between questions, so columns are named by
  index; the manifest's ``types`` lists each question's labels;
- continuous (numeric, date, discrete): ``q05,q25,q50,q75,q95`` — the crowd's 5, 25, 50, 75 and
  95% quantiles in **value units** (docs/methods.md §12.1, §13.3: the history point's quantile
  locations on the internal scale, mapped through the question's scale; clamped to the range)
  — then ``below`` and ``above``, the crowd's probability of a value below and above the range;
- JSON and Parquet only, when the export holds a continuous question: ``cdf``, the crowd's full
  pooled CDF at the 201 grid locations (docs/methods.md §12.1), on the **last exported row of
  each continuous question** only (null elsewhere). History points store the summary above,
  not the distribution; the CDF is the log pool of the forecasts active after that row's
  event, recomputed from the log (``final_cdf``), so the same as-of time gives the same bytes.
  A multiple-choice row's ``p_i`` already are its full distribution.

Cells of a group that does not apply to a row's question are empty (CSV) or null. Dates: the
``q`` columns of a date question are ISO 8601 UTC with microseconds in CSV and JSON (a quantile
rounded to the microsecond; one outside the years 1–9999 stays Unix seconds) and Unix seconds
(float64) in Parquet. Numbers follow the export's float rule (Python ``repr``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecasts import typed
from forecasts.distributions import Scale
from markets.models import Question

BINARY_COLUMNS = ("probability", "median", "mean")
QUANTILE_COLUMNS = ("q05", "q25", "q50", "q75", "q95")
CONTINUOUS_COLUMNS = (*QUANTILE_COLUMNS, "below", "above")
DISTRIBUTION_COLUMN = "cdf"
QUANTILE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)

DISTRIBUTION_NOTE = (
    "History points keep a summary only (multiple choice: every option probability; "
    "continuous: the 5/25/50/75/95% quantiles and P(below), P(above)). JSON and Parquet add "
    "'cdf', the full pooled CDF at the 201 grid locations, on the last exported row of each "
    "continuous question (null elsewhere), recomputed from the forecast log up to that row's "
    "event (docs/methods.md §12.1, §13.3)."
)
DATE_NOTE = (
    "date questions: q05…q95 are ISO 8601 UTC with microseconds in CSV and JSON "
    "(Unix seconds when outside the years 1-9999), Unix seconds (float64) in Parquet"
)


@dataclass(frozen=True)
class QuestionSpec:
    """What an export needs of a question's type: its options or its scale."""

    type: str
    options: tuple[str, ...] = ()
    scale: Scale | None = None

    @classmethod
    def of(cls, question: Question) -> QuestionSpec:
        """The spec of ``question`` (its ``type``, ``options``, range and bounds)."""
        if question.type == Question.Type.MULTIPLE_CHOICE:
            return cls(question.type, tuple(str(o) for o in question.options))
        if question.is_continuous:
            assert question.range_min is not None and question.range_max is not None
            scale = Scale(
                question.range_min,
                question.range_max,
                question.open_lower_bound,
                question.open_upper_bound,
                question.zero_point,
            )
            return cls(question.type, scale=scale)
        return cls(question.type)

    @property
    def is_binary(self) -> bool:
        return self.type == Question.Type.BINARY

    @property
    def is_multiple_choice(self) -> bool:
        return self.type == Question.Type.MULTIPLE_CHOICE

    @property
    def is_continuous(self) -> bool:
        return self.scale is not None

    @property
    def is_date(self) -> bool:
        return self.type == Question.Type.DATE

    @property
    def width(self) -> int:
        """Floats in one stored forecast: k options, or the 201 CDF points (0: yes/no)."""
        if self.is_multiple_choice:
            return len(self.options)
        return typed.CDF_POINTS if self.is_continuous else 0

    def describe(self) -> dict[str, Any]:
        """The question's entry in a manifest's ``types``."""
        out: dict[str, Any] = {"type": self.type}
        if self.is_multiple_choice:
            out["options"] = list(self.options)
            out["columns"] = [f"p_{i}" for i in range(len(self.options))]
        elif self.scale is not None:
            s = self.scale
            out["scale"] = {
                "range_min": s.range_min,
                "range_max": s.range_max,
                "open_lower_bound": s.open_lower,
                "open_upper_bound": s.open_upper,
                "zero_point": s.zero_point,
                "kind": "logarithmic" if s.is_log else "linear",
            }
            out["values"] = "Unix seconds (UTC)" if self.is_date else "value units"
        return out


@dataclass(frozen=True)
class Layout:
    """The column groups of an export (module docstring)."""

    binary: bool
    options: int  # K, the most options of a multiple-choice question (0: none)
    continuous: bool
    distribution: bool  # JSON and Parquet with a continuous question: the ``cdf`` column

    @classmethod
    def of(cls, specs: Iterable[QuestionSpec], fmt: str) -> Layout:
        """The layout of an export of questions ``specs`` in format ``fmt``. An export without
        any question has the yes/no columns (its header is what it always was)."""
        specs = list(specs)
        continuous = any(s.is_continuous for s in specs)
        return cls(
            binary=any(s.is_binary for s in specs) or not specs,
            options=max((len(s.options) for s in specs if s.is_multiple_choice), default=0),
            continuous=continuous,
            distribution=continuous and fmt != "csv",
        )

    @property
    def typed(self) -> bool:
        return bool(self.options) or self.continuous

    @property
    def typed_columns(self) -> tuple[str, ...]:
        """The multiple-choice and continuous columns (without ``cdf``)."""
        return tuple(f"p_{i}" for i in range(self.options)) + (
            CONTINUOUS_COLUMNS if self.continuous else ()
        )

    def columns(self) -> tuple[str, ...]:
        return (
            "question",
            "time",
            "forecasters",
            *(BINARY_COLUMNS if self.binary else ()),
            *self.typed_columns,
            *((DISTRIBUTION_COLUMN,) if self.distribution else ()),
        )


Cell = float | None


def typed_cells(spec: QuestionSpec, layout: Layout, summaries: Sequence[Any]) -> list[list[Cell]]:
    """The ``layout.typed_columns`` cells of one question's history points.

    ``summaries``: each point's ``CrowdPoint.summary`` bytes (None: nobody active). Returns one
    list per point, float or None (missing) per typed column: option probabilities as stored;
    quantiles in value units (``Scale.value`` of the stored locations, docs/methods.md §12.1;
    dates in Unix seconds); P(below), P(above) as stored. Raises ``ValueError`` when a stored
    summary has the wrong length for the question (a type changed under its history).
    """
    n_typed = len(layout.typed_columns)
    rows: list[list[Cell]] = [[None] * n_typed for _ in summaries]
    present = [i for i, s in enumerate(summaries) if s is not None]
    if spec.is_binary or not present:
        return rows
    width = len(spec.options) if spec.is_multiple_choice else len(CONTINUOUS_COLUMNS)
    raw = b"".join(bytes(summaries[i]) for i in present)
    if len(raw) != 8 * width * len(present):
        raise ValueError(
            f"stored history summaries are not {width} floats each: recompute the crowd"
        )
    block = np.frombuffer(raw, dtype="<f8").reshape(len(present), width)
    if spec.is_multiple_choice:
        start, values = 0, block
    else:
        assert spec.scale is not None
        start = layout.options
        values = np.concatenate([spec.scale.value(block[:, :5]), block[:, 5:]], axis=1)
    for i, row in zip(present, values.tolist(), strict=True):
        rows[i][start : start + width] = row
    return rows


def date_text(seconds: float) -> str | None:
    """Unix seconds as the exports' ISO 8601 UTC time (rounded to the microsecond), or None when
    no such time exists in the years 1–9999."""
    if not math.isfinite(seconds):
        return None
    try:
        t = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    except OverflowError:
        return None
    return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond:06d}Z"


def date_columns(layout: Layout) -> range:
    """Indexes, within ``layout.typed_columns``, of the quantile columns."""
    return range(layout.options, layout.options + len(QUANTILE_COLUMNS))


def final_cdf(question: Question, event_id: int) -> list[float] | None:
    """The crowd's pooled CDF (float[201]) right after forecast event ``event_id`` of continuous
    ``question``: the vector log pool (docs/methods.md §13.3) of the forecasts active after
    that event (each forecaster's latest event up to it in log order — time, then id — when it
    is a forecast), with the weights the crowd uses (``forecasts.services.crowd_weights``,
    recency ``pooling.recency_weights``, extremizing d). None when nobody is active.

    Memory grows with the active forecasts, not the log: the log up to the event is read
    without its vectors, then the active vectors alone. Sums run in (time, id) order with
    numpy's pairwise summation, so the same log gives the same floats. Raises ``LookupError``
    when the event is not one of the question's.
    """
    from django.db.models import Q

    from forecasts import pooling, vector_pooling
    from forecasts.models import Forecast
    from forecasts.services import crowd_params, crowd_weights

    log = Forecast.objects.filter(question_id=question.pk)
    at = log.filter(pk=event_id).values_list("time", flat=True).first()
    if at is None:
        raise LookupError(f"event {event_id} is not in the log of question {question.pk}")
    latest: dict[int, tuple[int, str]] = {}
    upto = log.filter(Q(time__lt=at) | Q(time=at, id__lte=event_id))
    for fid, eid, kind in (
        upto.order_by("time", "id").values_list("forecaster_id", "id", "kind").iterator(20_000)
    ):
        latest[fid] = (eid, kind)
    active = [eid for eid, kind in latest.values() if kind == Forecast.Kind.FORECAST]
    if not active:
        return None
    rows = list(
        log.filter(id__in=active)
        .order_by("time", "id")
        .values_list("forecaster_id", "time", "values")
    )
    forecaster = np.array([r[0] for r in rows], dtype=np.int64)
    times = np.array([r[1].timestamp() for r in rows], dtype=np.float64)
    vectors = np.stack([typed.from_bytes(r[2]) for r in rows])
    params = crowd_params(question)
    weights = crowd_weights(question, forecaster) * pooling.recency_weights(
        times, float(times.max()), params.half_life
    )
    logs = vector_pooling.log_terms(typed.outcomes(question, vectors))
    pooled = vector_pooling.pool_from_sums(
        np.sum(weights[:, None] * logs, axis=0),
        float(np.sum(weights)),
        typed.support(question),
        extremize=params.extremize,
    )
    return [float(v) for v in typed.crowd_vector(question, pooled).tolist()]


def values_json(raw: Any) -> str:
    """A stored forecast vector (little-endian float64 bytes) as a JSON list of ``repr`` floats:
    ``[0.2,0.3,0.5]``. The raw forecasts export and the input digest write vectors so."""
    return "[" + ",".join(repr(v) for v in typed.from_bytes(raw).tolist()) + "]"
