"""Creating questions: the one service every way of adding a question goes through (the API
today; staff forms and importers can call it the same way), and conditional pairs
(``conditional_create``, docs/methods.md §14).

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
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from config.bulk import bulk_insert_new
from markets.errors import ConditionalError, QuestionError, QuestionTypeError
from markets.models import Benchmark, Comparator, Conditional, Question, Resolution, Tournament
from markets.question_types import CONFIG_FIELDS, question_type_validate

KEY_MAX: int = Question._meta.get_field("key").max_length or 100
TITLE_MAX: int = Question._meta.get_field("title").max_length or 300


def _status_at(open_time: dt.datetime, close_time: dt.datetime, now: dt.datetime) -> str:
    if now < open_time:
        return Question.Status.UPCOMING
    if now < close_time:
        return Question.Status.OPEN
    return Question.Status.CLOSED


def _milestone_check(
    kind: str, comparator: str, threshold: float | None, deadline: dt.date | None
) -> None:
    """The ``milestone_complete`` constraint, in words (a clear error instead of an
    IntegrityError)."""
    if comparator and comparator not in Comparator.values:
        raise QuestionError(
            f"Unknown comparator {comparator!r}: use one of {', '.join(Comparator.values)}.",
            field="comparator",
        )
    if threshold is not None and not math.isfinite(threshold):
        raise QuestionError("The threshold must be a finite number.", field="threshold")
    if kind == Question.Type.BINARY:
        complete = bool(comparator) and threshold is not None and deadline is not None
    elif kind == Question.Type.DATE:
        complete = bool(comparator) and threshold is not None
    else:
        complete = deadline is not None
    if not complete:
        raise QuestionError(
            "A milestone rule needs its parts: a yes/no question the comparator, threshold and "
            "deadline; a numeric, discrete or multiple-choice question the deadline (its as-of "
            "date); a date question the comparator and threshold.",
            field="benchmark",
        )


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
    benchmark: Benchmark | None = None,
    comparator: str = "",
    threshold: float | None = None,
    deadline: dt.date | None = None,
    **config: Any,
) -> Question:
    """A validated, unsaved question: every check of ``question_create`` (the milestone rule
    included) but the key's uniqueness in the tournament (which needs the database). Arguments,
    defaults and errors as ``question_create``; nothing is written."""
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
    if benchmark is not None:
        _milestone_check(config.get("type", Question.Type.BINARY), comparator, threshold, deadline)
    question = Question(
        tournament=tournament,
        benchmark=benchmark,
        comparator=comparator,
        threshold=threshold,
        deadline=deadline,
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
    benchmark: Benchmark | None = None,
    comparator: str = "",
    threshold: float | None = None,
    deadline: dt.date | None = None,
    **config: Any,
) -> Question:
    """Create a question of any type in ``tournament`` and return it (saved).

    ``config``: the type settings among ``markets.question_types.CONFIG_FIELDS`` (``type``,
    ``options``, ``range_min``, ``range_max``, ``open_lower_bound``, ``open_upper_bound``,
    ``zero_point``; dates in Unix seconds), checked by ``question_type_validate``. ``key``
    defaults to the slug of the title. Status: upcoming, open or closed at ``now`` (default
    the current time). ``benchmark`` with ``comparator``, ``threshold`` and ``deadline`` is an
    optional milestone rule (docs/methods.md §8.1, §8.8–§8.10): a yes/no question needs all
    three, a numeric, discrete or multiple-choice one the deadline (its as-of date), a date
    question the comparator and threshold.

    Raises ``QuestionTypeError`` for an invalid type configuration or an unknown setting, and
    ``QuestionError`` (naming the field) for an empty or overlong title or key, a window that
    does not close after it opens, a key already used in the tournament, or an incomplete
    milestone rule (field ``benchmark``). Nothing is written on an error.
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
        benchmark=benchmark,
        comparator=comparator,
        threshold=threshold,
        deadline=deadline,
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


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _upstream(questions: list[Question]) -> set[int]:
    """Ids of every question the given ones follow as branches, transitively: for a branch,
    its conditional's parent and child and what those follow. A new conditional whose branch
    is among them would make a question follow itself."""
    seen: set[int] = set()
    frontier = {q.pk for q in questions}
    while frontier:
        rows = Conditional.objects.filter(
            Q(if_yes_id__in=frontier) | Q(if_no_id__in=frontier)
        ).values_list("parent_id", "child_id")
        frontier = {qid for pair in rows for qid in pair} - seen
        seen |= frontier
    return seen


def _check_branch(
    branch: Question, side: str, parent: Question, child: Question, upstream: set[int]
) -> None:
    field = f"if_{side}"
    if branch.pk in (parent.pk, child.pk):
        raise ConditionalError(
            f"The {side.upper()} branch cannot be the parent or the child itself.", field=field
        )
    if branch.tournament_id != parent.tournament_id:
        raise ConditionalError(
            f"The {side.upper()} branch “{branch}” is in another tournament: the parent, the "
            "child and both branches must be in one tournament.",
            field=field,
        )
    if branch.pk in upstream:
        raise ConditionalError(
            f"The {side.upper()} branch “{branch}” is a question the parent or the child "
            "already follows: the conditional would make it follow itself (a cycle).",
            field=field,
        )
    if any(getattr(branch, name) != getattr(child, name) for name in CONFIG_FIELDS):
        raise ConditionalError(
            f"The {side.upper()} branch must ask what the child asks: the same type, options "
            f"and range as “{child}”.",
            field=field,
        )
    if branch.has_milestone:
        raise ConditionalError(
            f"The {side.upper()} branch has a milestone rule of its own: a branch resolves "
            "only from its parent and child.",
            field=field,
        )
    if branch.resolutions.filter(state=Resolution.State.FINAL).exists():
        raise ConditionalError(
            f"The {side.upper()} branch “{branch}” is already resolved.", field=field
        )
    if Conditional.objects.filter(Q(if_yes=branch) | Q(if_no=branch)).exists():
        raise ConditionalError(
            f"“{branch}” is already a branch of another conditional.", field=field
        )


@transaction.atomic
def conditional_create(
    *,
    parent: Question,
    child: Question,
    if_yes: Question | None = None,
    if_no: Question | None = None,
    key: str = "",
    open_time: dt.datetime | None = None,
    close_time: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Conditional:
    """Create the conditional pair "if ``parent`` resolves YES / NO, then ``child``?" and
    return it (saved), docs/methods.md §14.

    The branches are ordinary questions in the parent's tournament with the child's type
    configuration, so forecasts, crowd forecasts and scores work on them unchanged. Given as
    ``if_yes`` and ``if_no`` (both or neither) they must be existing, unresolved questions
    without a milestone rule and with the child's configuration; otherwise both are created
    through ``question_create``: keys ``<key>-if-yes`` / ``<key>-if-no`` (``key`` defaulting to
    ``if-<parent key>-then-<child key>``), open from ``open_time`` (default ``now``) to
    ``close_time`` (default the child's close). A parent or child already resolved or annulled
    is propagated at once (``markets.resolution.conditional``).

    Raises ``ConditionalError`` (naming the field) for a parent that is not yes/no, a parent
    equal to the child or a branch equal to either (self-reference), a child or branch in
    another tournament, the same question as both branches, a branch the parent or child
    already follows (a cycle), a branch already resolved, already a branch elsewhere, with a
    rule of its own or another configuration than the child's, or an existing pair; and
    ``QuestionError`` / ``QuestionTypeError`` from ``question_create`` for created branches
    (e.g. a window that closes before it opens). Nothing is written on an error.
    """
    from markets.resolution.conditional import conditional_reconcile

    if parent.pk == child.pk:
        raise ConditionalError(
            "The parent and the child must be different questions: a question cannot be "
            "conditional on itself.",
            field="child",
        )
    if parent.type != Question.Type.BINARY:
        raise ConditionalError(
            f"The parent must be a yes/no question (“{parent}” is "
            f"{parent.get_type_display().lower()}): a conditional branches on YES or NO.",
            field="parent",
        )
    if child.tournament_id != parent.tournament_id:
        raise ConditionalError(
            "The child is in another tournament: the parent, the child and both branches "
            "must be in one tournament.",
            field="child",
        )
    if (if_yes is None) != (if_no is None):
        raise ConditionalError(
            "Give both branches or neither (then both are created).",
            field="if_no" if if_no is None else "if_yes",
        )
    if Conditional.objects.filter(parent=parent, child=child).exists():
        raise ConditionalError(
            f"A conditional on “{parent}” with the child “{child}” already exists.",
            field="child",
        )
    upstream = _upstream([parent, child])
    if if_yes is not None and if_no is not None:
        if if_yes.pk == if_no.pk:
            raise ConditionalError(
                "The YES and NO branches must be different questions.", field="if_no"
            )
        _check_branch(if_yes, "yes", parent, child, upstream)
        _check_branch(if_no, "no", parent, child, upstream)
        yes, no = if_yes, if_no
    else:
        now = now or timezone.now()
        base = (key or "").strip() or slugify(f"if-{parent.key}-then-{child.key}")
        base = base[: KEY_MAX - len("-if-yes")]
        config = {name: getattr(child, name) for name in CONFIG_FIELDS}
        config["options"] = list(child.options or [])
        made = {}
        for side in ("yes", "no"):
            made[side] = question_create(
                tournament=parent.tournament,
                key=f"{base}-if-{side}",
                title=_shorten(
                    f"If “{parent.title}” resolves {side.upper()}: {child.title}", TITLE_MAX
                ),
                description=(
                    f"The {side.upper()} branch of a conditional pair: what “{child.title}” "
                    f"resolves to, in the world where “{parent.title}” resolves {side.upper()}."
                ),
                resolution_criteria=(
                    f"Follows the child's resolution once the parent resolves {side.upper()}. "
                    f"Annulled if the parent resolves {'NO' if side == 'yes' else 'YES'}, or if "
                    "the parent or the child is annulled."
                ),
                open_time=open_time or now,
                close_time=close_time or child.close_time,
                now=now,
                **config,
            )
        yes, no = made["yes"], made["no"]
    try:
        with transaction.atomic():
            conditional = Conditional.objects.create(
                parent=parent, child=child, if_yes=yes, if_no=no
            )
    except IntegrityError:  # a concurrent create of the same pair or branch
        raise ConditionalError(
            "This conditional (or one of its branches) was just created by another request.",
            field="child",
        ) from None
    conditional_reconcile(conditional_id=conditional.pk)
    return conditional


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
