"""Creating questions: the one service every way of adding a question goes through (the API
today; staff forms and importers can call it the same way).

A question gets a tournament, a key unique within it, a title, texts, its forecasting window
and its type configuration (``markets.question_types``, docs/methods.md §13.1). Its status
follows from the window at creation (upcoming, open or closed), as the periodic sweep would
set it.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from markets.errors import QuestionError, QuestionTypeError
from markets.models import Question, Tournament
from markets.question_types import CONFIG_FIELDS, question_type_validate

KEY_MAX: int = Question._meta.get_field("key").max_length or 100
TITLE_MAX: int = Question._meta.get_field("title").max_length or 300


def _status_at(open_time: dt.datetime, close_time: dt.datetime, now: dt.datetime) -> str:
    if now < open_time:
        return Question.Status.UPCOMING
    if now < close_time:
        return Question.Status.OPEN
    return Question.Status.CLOSED


def question_create(
    *,
    tournament: Tournament,
    title: str,
    open_time: dt.datetime,
    close_time: dt.datetime,
    key: str = "",
    description: str = "",
    resolution_criteria: str = "",
    now: dt.datetime | None = None,
    **config: Any,
) -> Question:
    """Create a question of any type in ``tournament`` and return it (saved).

    ``config``: the type settings among ``markets.question_types.CONFIG_FIELDS`` (``type``,
    ``options``, ``range_min``, ``range_max``, ``open_lower_bound``, ``open_upper_bound``,
    ``zero_point``; dates in Unix seconds), checked by ``question_type_validate``. ``key``
    defaults to the slug of the title. Status: upcoming, open or closed at ``now`` (default
    the current time).

    Raises ``QuestionTypeError`` for an invalid type configuration or an unknown setting, and
    ``QuestionError`` (naming the field) for an empty or overlong title or key, a window that
    does not close after it opens, or a key already used in the tournament. Nothing is written
    on an error.
    """
    unknown = sorted(set(config) - set(CONFIG_FIELDS))
    if unknown:
        raise QuestionTypeError(f"Not a type setting: {', '.join(unknown)}.")
    title = title.strip()
    if not title:
        raise QuestionError("A question needs a title.", field="title")
    if len(title) > TITLE_MAX:
        raise QuestionError(f"The title is longer than {TITLE_MAX} characters.", field="title")
    key = (key or "").strip() or slugify(title)[:KEY_MAX]
    if not key:
        raise QuestionError("Give a key: the title has no letters or digits.", field="key")
    if len(key) > KEY_MAX:
        raise QuestionError(f"The key is longer than {KEY_MAX} characters.", field="key")
    if not close_time > open_time:
        raise QuestionError("The question must close after it opens.", field="close_time")
    for name in ("range_min", "range_max", "zero_point"):
        value = config.get(name)
        if value is not None and not math.isfinite(value):
            raise QuestionTypeError(f"{name} must be a finite number.")
    question = Question(
        tournament=tournament,
        key=key,
        title=title,
        description=description,
        resolution_criteria=resolution_criteria,
        open_time=open_time,
        close_time=close_time,
        status=_status_at(open_time, close_time, now or timezone.now()),
        **config,
    )
    if question.options is None:
        question.options = []
    question_type_validate(question)
    try:
        with transaction.atomic():
            if Question.objects.filter(tournament=tournament, key=key).exists():
                raise QuestionError(
                    f"The tournament already has a question with the key {key!r}.", field="key"
                )
            question.save(force_insert=True)
    except IntegrityError:  # a concurrent create of the same key
        raise QuestionError(
            f"The tournament already has a question with the key {key!r}.", field="key"
        ) from None
    return question
