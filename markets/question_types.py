"""Question types beyond yes/no: what a valid configuration is, how a type is changed, and what a
valid resolution of each type is (docs/methods.md §13).

- ``binary``: no options, no range.
- ``multiple_choice``: ``options``, at least two labels, unique and non-empty; no range.
- ``numeric``, ``date``, ``discrete`` (continuous): a finite range ``range_min`` < ``range_max``
  (dates in Unix seconds), each bound open or closed, and an optional ``zero_point`` z for a log
  scale, outside [min, max] (the scale's ratio r = (max − z)/(min − z) must be positive and ≠ 1).
  A date question's range lies within the years 1 to 9999 (ISO 8601 dates).

The database checks what SQL can (``question_type_range``, ``resolution_outcome_detail``); these
functions check the rest and give the reason in words.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from django.db import transaction

from markets.errors import QuestionTypeError, ResolutionError
from markets.models import Question, Resolution

Type = Question.Type
Outcome = Resolution.Outcome

CONTINUOUS = (Type.NUMERIC, Type.DATE, Type.DISCRETE)
MAX_OPTIONS = 100
"""Most options a multiple-choice question may have: bounds the bytes of its crowd history
points (8 per option, docs/architecture.md)."""
MAX_LABEL = 200

CONFIG_FIELDS = (
    "type",
    "options",
    "range_min",
    "range_max",
    "open_lower_bound",
    "open_upper_bound",
    "zero_point",
)


def question_type_validate(question: Question) -> None:
    """Check ``question``'s type configuration (not saved). Raises ``QuestionTypeError`` with
    the reason: an unknown type; options on a non-multiple-choice question, or fewer than two,
    duplicate, empty, non-text or overlong labels, or more than ``MAX_OPTIONS``; a range on a
    binary or multiple-choice question, or a missing, non-finite or empty range (min ≥ max) on
    a continuous one; a zero point inside [min, max] or not finite; a date range beyond the
    years 1 to 9999."""
    kind = question.type
    if kind not in Type.values:
        raise QuestionTypeError(
            f"Unknown question type {kind!r}: use one of {', '.join(Type.values)}."
        )
    options = question.options if question.options is not None else []
    if not isinstance(options, list):
        raise QuestionTypeError("The options must be a list of labels.")
    has_range = any(
        v is not None for v in (question.range_min, question.range_max, question.zero_point)
    ) or (question.open_lower_bound or question.open_upper_bound)
    if kind in (Type.BINARY, Type.MULTIPLE_CHOICE) and has_range:
        raise QuestionTypeError(
            f"A {Type(kind).label.lower()} question has no range, bounds or zero point."
        )
    if kind != Type.MULTIPLE_CHOICE and options:
        raise QuestionTypeError(f"A {Type(kind).label.lower()} question has no options.")
    if kind == Type.MULTIPLE_CHOICE:
        _validate_options(options)
    if kind in CONTINUOUS:
        _validate_range(question.range_min, question.range_max, question.zero_point)
    if kind == Type.DATE:
        _validate_date_range(question.range_min, question.range_max)


def _validate_options(options: list[Any]) -> None:
    if len(options) < 2:
        raise QuestionTypeError("A multiple-choice question needs at least two options.")
    if len(options) > MAX_OPTIONS:
        raise QuestionTypeError(f"A multiple-choice question has at most {MAX_OPTIONS} options.")
    seen: set[str] = set()
    for i, label in enumerate(options):
        if not isinstance(label, str) or not label.strip():
            raise QuestionTypeError(f"Option {i + 1} is empty: every option needs a label.")
        if len(label) > MAX_LABEL:
            raise QuestionTypeError(f"Option {i + 1} is longer than {MAX_LABEL} characters.")
        if label in seen:
            raise QuestionTypeError(f"Option {label!r} appears twice: labels must be unique.")
        seen.add(label)


def _validate_range(low: float | None, high: float | None, zero: float | None) -> None:
    if low is None or high is None:
        raise QuestionTypeError("A continuous question needs a range: both min and max.")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise QuestionTypeError("The range's min and max must be finite numbers.")
    if not low < high:
        raise QuestionTypeError(f"The range's min ({low:g}) must be below its max ({high:g}).")
    if zero is not None:
        if not math.isfinite(zero):
            raise QuestionTypeError("The zero point must be a finite number.")
        if low <= zero <= high:
            raise QuestionTypeError(
                f"The zero point ({zero:g}) must lie outside the range [{low:g}, {high:g}] "
                "(docs/methods.md §13.1)."
            )


DATE_MIN = -62135596800.0
"""0001-01-01T00:00:00Z in Unix seconds: the earliest date a date question's range may start."""
DATE_MAX = 253402300799.0
"""9999-12-31T23:59:59Z in Unix seconds: the latest date a date question's range may end."""


def _validate_date_range(low: float | None, high: float | None) -> None:
    # Values beyond the years 1-9999 have no ISO 8601 date: the API and exports would show
    # them clamped to those years, a silently wrong date.
    assert low is not None and high is not None  # _validate_range checked them
    if low < DATE_MIN or high > DATE_MAX:
        raise QuestionTypeError(
            "A date question's range must lie between 0001-01-01 and 9999-12-31 "
            f"(Unix seconds {DATE_MIN:.0f} to {DATE_MAX:.0f})."
        )


@transaction.atomic
def question_type_set(*, question_id: int, **config: Any) -> Question:
    """Set the type configuration of a question (keyword arguments among ``CONFIG_FIELDS``;
    the others keep their values), validated by ``question_type_validate``.

    Locks the question. Raises ``QuestionTypeError`` for an unknown field, an invalid
    configuration, or any change to a question that already has forecast events (its log and
    crowd are in the old type's terms); ``Question.DoesNotExist`` for an unknown question.
    Nothing is written on an error.
    """
    unknown = sorted(set(config) - set(CONFIG_FIELDS))
    if unknown:
        raise QuestionTypeError(f"Not a type setting: {', '.join(unknown)}.")
    question = Question.objects.select_for_update(of=("self",)).get(pk=question_id)
    changed = [name for name, value in config.items() if getattr(question, name) != value]
    if not changed:
        return question
    if question.forecasts.exists():
        raise QuestionTypeError(
            "This question already has forecasts: its type and its options or range can no "
            "longer change."
        )
    for name in changed:
        setattr(question, name, config[name])
    question_type_validate(question)
    question.save(update_fields=changed)
    return question


def resolution_detail_validate(
    question: Question, outcome: str, option: int | None, value: float | None
) -> tuple[int | None, float | None]:
    """Check that a resolution ``outcome`` (with ``option`` or ``value``) fits the question's
    type, and return (option, value) as stored. Raises ``ResolutionError`` with the reason.

    - binary: yes, no or annulled; neither option nor value.
    - multiple choice: ``option`` (an index 0 … k − 1 into the options) or annulled.
    - continuous: ``value`` (finite; inside [min, max], or beyond a bound only where that bound
      is open), ``below`` / ``above`` (only beyond an open bound), or annulled.
    """
    kind = question.type
    if outcome not in Outcome.values:
        raise ResolutionError(
            f"Unknown outcome {outcome!r}: use one of {', '.join(Outcome.values)}."
        )
    if outcome == Outcome.ANNULLED:
        if option is not None or value is not None:
            raise ResolutionError("An annulment carries no option or value.")
        return None, None
    if kind == Type.BINARY:
        if outcome not in (Outcome.YES, Outcome.NO) or option is not None or value is not None:
            raise ResolutionError("A yes/no question resolves yes, no or annulled.")
        return None, None
    if kind == Type.MULTIPLE_CHOICE:
        if outcome != Outcome.OPTION or option is None or value is not None:
            raise ResolutionError(
                "A multiple-choice question resolves to an option (its index) or annulled."
            )
        if isinstance(option, bool) or not isinstance(option, int):
            raise ResolutionError(f"The option must be an index, got {option!r}.")
        if not 0 <= option < len(question.options):
            raise ResolutionError(
                f"Option {option} does not exist: the indices are 0 to {len(question.options) - 1}."
            )
        return option, None
    if outcome not in (Outcome.VALUE, Outcome.BELOW, Outcome.ABOVE) or option is not None:
        raise ResolutionError(
            "A continuous question resolves to a value, below or above its range, or annulled."
        )
    low, high = question.range_min, question.range_max
    assert low is not None and high is not None
    if outcome == Outcome.VALUE:
        value = _finite_value(value, dates=kind == Type.DATE)
        below, above = value < low, value > high
    else:
        if value is not None:
            raise ResolutionError(f"“{Outcome(outcome).label}” carries no value.")
        below, above = outcome == Outcome.BELOW, outcome == Outcome.ABOVE
    if below and not question.open_lower_bound:
        raise ResolutionError(
            f"The range's lower bound {low:g} is closed: the question cannot resolve below it."
        )
    if above and not question.open_upper_bound:
        raise ResolutionError(
            f"The range's upper bound {high:g} is closed: the question cannot resolve above it."
        )
    return None, None if value is None else float(value)


def _finite_value(value: Any, *, dates: bool) -> float:
    """``value`` as a finite float, or ``ResolutionError``: a bool, a string, a list or an
    integer too large for a float is no resolution value (``True`` would have become 1.0)."""
    number = math.nan
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
    if not math.isfinite(number):
        unit = " (Unix seconds for a date question)" if dates else ""
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "…"
        raise ResolutionError(f"The value must be a finite number{unit}, got {shown}.")
    return number
