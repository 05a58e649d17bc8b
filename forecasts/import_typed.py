"""The typed columns of the native import format (docs/researcher-guide.md, "Questions of every
type"): multiple-choice, numeric, date and discrete questions next to yes/no.

``questions.csv`` may add ``question_type`` (``binary`` when absent or empty), ``options`` (a JSON
list of labels or labels separated by ``|``), ``range_min``/``range_max`` (numbers; for ``date``
also ISO 8601 dates, stored as Unix seconds), ``open_lower_bound``/``open_upper_bound`` (true or
false, empty = false) and ``zero_point`` (log scale when set). ``forecasts.csv`` may add
``forecast``: the forecast of a typed question as the API takes it (``{"probabilities": …}``,
``{"cdf": …}``, ``{"percentiles": …, "below": …, "above": …}``, ``{"components": …}``), or a bare
JSON list (option probabilities in option order, or the 201-point CDF), or for multiple choice
probabilities separated by ``|``. Every input goes through ``distributions.forecast_from_payload``
(docs/methods.md §12.8): what is stored is the standardised vector, exactly what the API would
store for the same payload.

This module only parses and checks cells; every function raises ``ValueError`` with the reason
(the importer adds the file and line). It imports numpy and ``forecasts.distributions`` only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecasts import distributions

__all__ = [
    "CONTINUOUS",
    "TYPES",
    "TypedOutcome",
    "parse_config",
    "parse_outcome",
    "parse_typed_forecast",
    "scale_of",
]

TYPES = ("binary", "multiple_choice", "numeric", "date", "discrete")
CONTINUOUS = ("numeric", "date", "discrete")
TYPE_COLUMNS = (
    "options",
    "range_min",
    "range_max",
    "open_lower_bound",
    "open_upper_bound",
    "zero_point",
)
ANNULLED = ("annulled", "ambiguous")
BELOW = ("below", "below_lower_bound")
ABOVE = ("above", "above_upper_bound")


@dataclass(frozen=True)
class TypedOutcome:
    """A resolution cell of a typed question: ``kind`` a ``Resolution.Outcome`` value
    ("annulled", "option" with ``option`` the index, "value" with ``value`` in the question's
    units (dates in Unix seconds), "below", "above")."""

    kind: str
    option: int | None = None
    value: float | None = None


def _bool(raw: str, what: str) -> bool:
    low = raw.strip().lower()
    if low in ("true", "t", "yes", "1"):
        return True
    if low in ("false", "f", "no", "0", ""):
        return False
    raise ValueError(f"{what} {raw!r} is not true or false")


def _number(raw: str, what: str, question_type: str) -> float:
    try:
        x = float(raw)
    except ValueError:
        if question_type == "date":
            try:
                return distributions.parse_date_value(raw, field=what)
            except distributions.DistributionError:
                raise ValueError(f"{what} {raw!r} is not a number or an ISO 8601 date") from None
        raise ValueError(f"{what} {raw!r} is not a number") from None
    if not math.isfinite(x):
        raise ValueError(f"{what} {raw!r} is not a finite number")
    return x


def _options(raw: str) -> list[str]:
    if raw.startswith("["):
        try:
            value = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            raise ValueError("options is not a JSON list") from None
        if not isinstance(value, list) or not all(isinstance(o, str) for o in value):
            raise ValueError("options must be a JSON list of labels (strings)")
        labels = [o.strip() for o in value]
    else:
        labels = [o.strip() for o in raw.split("|")] if raw else []
    if len(labels) < 2 or not all(labels):
        raise ValueError("options must hold at least two non-empty labels")
    repeated = sorted({o for o in labels if labels.count(o) > 1})
    if repeated:
        raise ValueError(f"options repeats the label {repeated[0]!r}")
    return labels


def parse_config(row: dict[str, str]) -> dict[str, Any]:
    """The type configuration of a ``questions.csv`` row, as ``question_build`` takes it
    (``markets.question_types.CONFIG_FIELDS``). A yes/no row must leave the typed columns
    empty; a multiple-choice row needs ``options``; a continuous row ``range_min`` and
    ``range_max`` forming a valid scale (``distributions.Scale.validate``). Raises
    ``ValueError``."""
    qtype = (row.get("question_type") or row.get("type") or "binary").strip().lower()
    if qtype not in TYPES:
        raise ValueError(f"question_type {qtype!r} is not one of {', '.join(TYPES)}")
    given = [c for c in TYPE_COLUMNS if row.get(c)]
    if qtype == "binary":
        if given:
            raise ValueError(f"a binary question takes no {', '.join(given)}")
        return {"type": "binary"}
    if qtype == "multiple_choice":
        extra = [c for c in given if c != "options"]
        if extra:
            raise ValueError(f"a multiple_choice question takes no {', '.join(extra)}")
        return {"type": qtype, "options": _options(row.get("options", ""))}
    if "options" in given:
        raise ValueError(f"a {qtype} question takes no options")
    missing = [c for c in ("range_min", "range_max") if not row.get(c)]
    if missing:
        raise ValueError(f"a {qtype} question needs {' and '.join(missing)}")
    zero = row.get("zero_point", "")
    config: dict[str, Any] = {
        "type": qtype,
        "range_min": _number(row["range_min"], "range_min", qtype),
        "range_max": _number(row["range_max"], "range_max", qtype),
        "open_lower_bound": _bool(row.get("open_lower_bound", ""), "open_lower_bound"),
        "open_upper_bound": _bool(row.get("open_upper_bound", ""), "open_upper_bound"),
        "zero_point": _number(zero, "zero_point", qtype) if zero else None,
    }
    try:
        scale_of(config).validate()
    except distributions.DistributionError as exc:
        raise ValueError(str(exc)) from None
    return config


def scale_of(config: dict[str, Any]) -> distributions.Scale:
    """The ``distributions.Scale`` of a continuous configuration from ``parse_config``."""
    return distributions.Scale(
        range_min=config["range_min"],
        range_max=config["range_max"],
        open_lower=config["open_lower_bound"],
        open_upper=config["open_upper_bound"],
        zero_point=config["zero_point"],
    )


def parse_outcome(raw: str, config: dict[str, Any]) -> TypedOutcome | None:
    """The resolution cell of a multiple-choice or continuous question: empty (unresolved,
    None), ``annulled``/``ambiguous``, an option label (exactly as in ``options``), or a value
    (number; ISO 8601 date for ``date``), ``below``/``above`` (also ``below_lower_bound``/
    ``above_upper_bound``). A value beyond an open bound resolves ``below``/``above``
    (docs/methods.md §12.7); beyond a closed one it is refused. Raises ``ValueError``."""
    text = raw.strip()
    low = text.lower()
    if not text:
        return None
    if low in ANNULLED:
        return TypedOutcome("annulled")
    qtype = config["type"]
    if qtype == "multiple_choice":
        options = config["options"]
        if text not in options:
            raise ValueError(
                f"resolution {text!r} is not one of the options ({', '.join(options)}) or annulled"
            )
        return TypedOutcome("option", option=options.index(text))
    scale = scale_of(config)
    if low in BELOW or low in ABOVE:
        below = low in BELOW
        if not (scale.open_lower if below else scale.open_upper):
            side = "lower" if below else "upper"
            raise ValueError(f"resolution {text!r} but the {side} bound is closed")
        return TypedOutcome("below" if below else "above")
    value = _number(text, "resolution", qtype)
    if value < scale.range_min or value > scale.range_max:
        below = value < scale.range_min
        if not (scale.open_lower if below else scale.open_upper):
            raise ValueError(
                f"resolution {text} is outside the range [{scale.range_min:g}, "
                f"{scale.range_max:g}] and the {'lower' if below else 'upper'} bound is closed"
            )
        return TypedOutcome("below" if below else "above")
    return TypedOutcome("value", value=value)


def parse_typed_forecast(raw: str, config: dict[str, Any]) -> np.ndarray:
    """The vector to store for the ``forecast`` cell of a multiple-choice or continuous question
    (float64[K] option probabilities or the standardised float64[201] CDF), through
    ``distributions.forecast_from_payload`` (docs/methods.md §12.8). Raises ``ValueError``."""
    text = raw.strip()
    qtype = config["type"]
    if not text:
        raise ValueError(f"a {qtype} question needs its forecast in the forecast column")
    payload: Any
    if text.startswith(("{", "[")):
        try:
            payload = json.loads(text, parse_constant=lambda c: float(c))
        except (json.JSONDecodeError, RecursionError):
            raise ValueError("forecast is not valid JSON") from None
    elif qtype == "multiple_choice" and "|" in text:
        try:
            payload = [float(p) for p in text.split("|")]
        except ValueError:
            raise ValueError(f"forecast {text!r} is not numbers separated by |") from None
    else:
        raise ValueError(
            "forecast must be a JSON object (probabilities, cdf, percentiles or components), "
            + (
                "a JSON list or probabilities separated by |"
                if qtype == "multiple_choice"
                else "or a JSON list of 201 CDF points"
            )
        )
    if isinstance(payload, list):
        payload = {"probabilities" if qtype == "multiple_choice" else "cdf": payload}
    continuous = qtype in CONTINUOUS
    try:
        return distributions.forecast_from_payload(
            payload,
            question_type=qtype,
            scale=scale_of(config) if continuous else None,
            n_options=None if continuous else len(config["options"]),
        )
    except distributions.DistributionError as exc:
        raise ValueError(str(exc)) from None
