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
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from config.bulk import bulk_insert_new
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


def question_build(
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
    """A validated, unsaved question: every check of ``question_create`` but the key's
    uniqueness in the tournament (which needs the database). Arguments, defaults and errors
    as ``question_create``; nothing is written."""
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
    return question


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
    question = question_build(
        tournament=tournament,
        title=title,
        open_time=open_time,
        close_time=close_time,
        key=key,
        description=description,
        resolution_criteria=resolution_criteria,
        now=now,
        **config,
    )
    key = question.key
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


class QuestionsRejected(QuestionError):
    """``questions_create_many`` refused some questions: ``errors`` holds (index in the given
    list, the ``QuestionError`` or ``QuestionTypeError`` of that question), every one found."""

    def __init__(self, errors: list[tuple[int, QuestionError | QuestionTypeError]]) -> None:
        index, first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(
            f"Question {index + 1}: {first}{more}", field=getattr(first, "field", None)
        )
        self.errors = errors


CREATE_MANY_BATCH = 2_000  # keys per statement of the uniqueness and id reads


@transaction.atomic
def questions_create_many(
    *, tournament: Tournament, questions: Sequence[dict[str, Any]], now: dt.datetime | None = None
) -> list[Question]:
    """``question_create`` for many questions of one tournament (an import): each dict holds
    ``question_create``'s keyword arguments but ``tournament`` and ``now``; every one is
    checked by ``question_build`` (the same rules) and the keys must be new in the tournament
    and distinct. Then one bulk insert (``config.bulk.bulk_insert_new``) and one read of the
    new ids, instead of one INSERT per question.

    Returns the saved questions in the given order (with their ids). Raises
    ``QuestionsRejected`` listing every refused question by its index; nothing is written then.
    """
    now = now or timezone.now()
    built: list[Question] = []
    errors: list[tuple[int, QuestionError | QuestionTypeError]] = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(questions):
        try:
            question = question_build(tournament=tournament, now=now, **spec)
        except (QuestionError, QuestionTypeError) as exc:
            errors.append((index, exc))
            continue
        if question.key in seen:
            errors.append(
                (
                    index,
                    QuestionError(
                        f"The key {question.key!r} is given twice "
                        f"(question {seen[question.key] + 1}).",
                        field="key",
                    ),
                )
            )
            continue
        seen[question.key] = index
        built.append(question)
    keys = list(seen)
    for start in range(0, len(keys), CREATE_MANY_BATCH):
        for key in Question.objects.filter(
            tournament=tournament, key__in=keys[start : start + CREATE_MANY_BATCH]
        ).values_list("key", flat=True):
            errors.append(
                (
                    seen[key],
                    QuestionError(
                        f"The tournament already has a question with the key {key!r}.",
                        field="key",
                    ),
                )
            )
    if errors:
        raise QuestionsRejected(sorted(errors, key=lambda e: e[0]))
    if not built:
        return []
    fields = [f for f in Question._meta.concrete_fields if f is not Question._meta.auto_field]
    columns = [str(f.column) for f in fields]
    attnames = [f.attname for f in fields]
    for question in built:
        question.created_at = now  # auto_now_add, as ``save`` sets it
    try:
        bulk_insert_new(Question, columns, ([getattr(q, a) for a in attnames] for q in built))
    except IntegrityError:  # a concurrent create of one of the keys
        raise QuestionError(
            "Another request created one of these keys meanwhile.", field="key"
        ) from None
    ids: dict[str, int] = {}
    for start in range(0, len(keys), CREATE_MANY_BATCH):
        ids.update(
            Question.objects.filter(
                tournament=tournament, key__in=keys[start : start + CREATE_MANY_BATCH]
            ).values_list("key", "pk")
        )
    for question in built:
        question.pk = ids[question.key]
        question._state.adding = False
        question._state.db = "default"
    return built
