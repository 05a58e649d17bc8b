"""The milestone rules' verdicts for multiple-choice, numeric, date and discrete questions
(docs/methods.md §8.8–§8.11). Reads only; ``markets.resolution.milestones`` proposes, withdraws,
flags and finalizes with these verdicts exactly as it does for yes/no questions.

- numeric, discrete: the best current result (highest, or lowest when the benchmark's
  ``higher_is_better`` is False) counted as of the ``deadline`` (achieved on or before it, or,
  undated, first seen before ``grace_end``). Decided once ``now`` ≥ ``grace_end``.
- date: the first instant at which a current result meets ``comparator threshold``: 00:00 UTC
  of its ``achieved_on``, or, undated, when its qualifying value was first seen. Decided as soon
  as one does; "above" once ``now`` ≥ ``grace_end`` of the range's last day without one.
- multiple choice: the organisation of the best result (as for numeric) as its option.

A verdict that cannot be a resolution (a value beyond a closed bound, no result at all, an
organisation no option fits) is a *problem*: the rule proposes nothing and flags the question.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from markets.models import Benchmark, BenchmarkResult, Question, Resolution
from markets.resolution.organisations import option_for, organisation_of

Outcome = Resolution.Outcome
Type = Question.Type
BEST_TYPES = (Type.NUMERIC, Type.DISCRETE, Type.MULTIPLE_CHOICE)


@dataclass(frozen=True)
class Verdict:
    """What the rule says now.

    ``outcome`` None means not decided yet (or, with ``problem``, not decidable by the rule).
    ``result`` is the evidence, ``seen_at`` when the truth became known (None: at grace_end),
    ``option`` / ``value`` the detail of an option / value outcome, ``words`` the verdict in
    words (typed questions), ``problem`` / ``problem_key`` why staff must decide instead and
    the key that flags it once.
    """

    outcome: str | None
    result: BenchmarkResult | None = None
    seen_at: dt.datetime | None = None
    option: int | None = None
    value: float | None = None
    words: str = ""
    problem: str = ""
    problem_key: str = ""

    @property
    def decision(self) -> tuple[str | None, int | None, float | None, str]:
        """What a resolution would record: (outcome, option, value, problem key)."""
        return (self.outcome, self.option, self.value, self.problem_key)


def rule_end_date(question: Question) -> dt.date:
    """The last day the rule watches: the ``deadline`` (the as-of date of numeric, discrete and
    multiple-choice questions), or for a date question the UTC day of ``range_max``."""
    if question.type == Type.DATE:
        assert question.range_max is not None
        return dt.datetime.fromtimestamp(question.range_max, dt.UTC).date()
    assert question.deadline is not None
    return question.deadline


def grace_end(question: Question) -> dt.datetime:
    """First instant after the rule's last day + grace days (UTC), docs/methods.md §8.2."""
    day = rule_end_date(question) + dt.timedelta(days=question.grace_days + 1)
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def chain_since(result: BenchmarkResult, keeps: Callable[[float], bool]) -> dt.datetime:
    """``first_seen`` of the earliest revision in the unbroken chain back from ``result`` whose
    values all satisfy ``keeps`` (``result`` itself is assumed to): a revision does not restart
    the clock (docs/methods.md §8.3)."""
    seen = result.first_seen
    previous_id = result.revision_of_id
    while previous_id is not None:
        previous = BenchmarkResult.objects.only("value", "first_seen", "revision_of_id").get(
            pk=previous_id
        )
        if not keeps(previous.value):
            break
        seen = previous.first_seen
        previous_id = previous.revision_of_id
    return seen


def _always(_: float) -> bool:
    return True


def _current(question: Question, exclude: Iterable[int]) -> list[BenchmarkResult]:
    assert question.benchmark_id is not None
    return list(
        BenchmarkResult.objects.filter(benchmark_id=question.benchmark_id, is_current=True)
        .exclude(pk__in=list(exclude))
        .select_related("snapshot", "benchmark")
        .order_by("pk")
    )


def _benchmark(question: Question) -> Benchmark:
    assert question.benchmark is not None, "only milestone questions get here"
    return question.benchmark


def _unix(moment: dt.datetime) -> float:
    return moment.timestamp()


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def show_value(question: Question, value: float) -> str:
    """A value of the question in words: a UTC date (date questions) or a number, with the
    benchmark's unit for a milestone question (a question resolved by staff may have none)."""
    if question.type == Type.DATE:
        moment = dt.datetime.fromtimestamp(value, dt.UTC)
        if moment.time() == dt.time.min:
            return f"{moment:%Y-%m-%d}"
        return f"{moment:%Y-%m-%d %H:%M} UTC"
    if question.benchmark is None:
        return f"{value:g}"
    return f"{value:g} {question.benchmark.unit}"


def describe_result(question: Question, result: BenchmarkResult) -> str:
    """A result in words: "system = value unit (achieved YYYY-MM-DD)", or when first seen for a
    result without an achievement date."""
    when = (
        f"achieved {result.achieved_on:%Y-%m-%d}"
        if result.achieved_on
        else f"first seen {result.first_seen:%Y-%m-%d %H:%M} UTC, no achievement date"
    )
    return f"{result.system} = {result.value:g} {_benchmark(question).unit} ({when})"


def typed_criterion(question: Question) -> str:
    """The typed rule in words (audit records, reasons, flags)."""
    benchmark = _benchmark(question)
    grace = f"grace {question.grace_days} days"
    if question.type == Type.DATE:
        assert question.range_min is not None and question.range_max is not None
        low, high = (
            show_value(question, question.range_min),
            show_value(question, question.range_max),
        )
        return (
            f"the date {benchmark.name} first reaches {question.comparator} "
            f"{question.threshold:g} {benchmark.unit} (range {low} to {high}, {grace})"
        )
    best = "highest" if benchmark.higher_is_better else "lowest"
    if question.type == Type.MULTIPLE_CHOICE:
        return (
            f"the organisation holding the best ({best}) {benchmark.name} result on "
            f"{question.deadline:%Y-%m-%d} ({grace})"
        )
    return f"the best ({best}) {benchmark.name} result as of {question.deadline:%Y-%m-%d} ({grace})"


def outcome_words(question: Question, outcome: str, option: int | None, value: float | None) -> str:
    """A typed resolution's outcome in words: "option 1 (Anthropic)", "value 75.2 % resolved",
    "below the range (under 50 % resolved)", "above the range (after 2026-12-31)"…"""
    if outcome == Outcome.OPTION and option is not None:
        label = question.options[option] if 0 <= option < len(question.options) else "?"
        return f"option {option} ({label})"
    if outcome == Outcome.VALUE and value is not None:
        return f"value {show_value(question, value)}"
    dated = question.type == Type.DATE
    if outcome == Outcome.BELOW and question.range_min is not None:
        side = "before" if dated else "under"
        return f"below the range ({side} {show_value(question, question.range_min)})"
    if outcome == Outcome.ABOVE and question.range_max is not None:
        side = "after" if dated else "over"
        return f"above the range ({side} {show_value(question, question.range_max)})"
    return Outcome(outcome).label.lower()


def _counted_as_of(
    question: Question, results: list[BenchmarkResult]
) -> list[tuple[BenchmarkResult, dt.datetime]]:
    """Results counted as of the deadline, with when each was first seen (revision chains
    walked): achieved on or before the deadline, or undated and first seen before grace_end."""
    assert question.deadline is not None
    end = grace_end(question)
    counted = []
    for result in results:
        if result.achieved_on is not None:
            if result.achieved_on <= question.deadline:
                counted.append((result, result.first_seen))
            continue
        since = chain_since(result, _always)
        if since < end:
            counted.append((result, since))
    return counted


def _best(
    question: Question, counted: list[tuple[BenchmarkResult, dt.datetime]]
) -> BenchmarkResult:
    """The best result: highest value (lowest when not ``higher_is_better``); a tie goes to the
    one achieved (or first seen) first, then the lower id."""
    sign = -1.0 if _benchmark(question).higher_is_better else 1.0

    def key(item: tuple[BenchmarkResult, dt.datetime]) -> tuple[Any, ...]:
        result, since = item
        return (sign * result.value, result.achieved_on or since.date(), since, result.pk)

    return min(counted, key=key)[0]


def _placed(
    question: Question, value: float, result: BenchmarkResult | None, seen_at: dt.datetime | None
) -> Verdict:
    """A value as a verdict: the value inside the range, below / above beyond an open bound,
    a problem beyond a closed one."""
    low, high = question.range_min, question.range_max
    assert low is not None and high is not None
    shown = show_value(question, value)
    evidence = f" ({describe_result(question, result)})" if result is not None else ""
    key_pk = result.pk if result is not None else 0
    if value < low or value > high:
        side, open_, bound = (
            ("below", question.open_lower_bound, low)
            if value < low
            else ("above", question.open_upper_bound, high)
        )
        if not open_:
            return Verdict(
                None,
                result,
                seen_at,
                words=f"{shown}{evidence}, {side} the range",
                problem=(
                    f"The rule gives {shown}{evidence}, {side} the range, but the range's "
                    f"{'lower' if side == 'below' else 'upper'} bound "
                    f"{show_value(question, bound)} is closed: staff decide "
                    "(resolve by hand or annul)."
                ),
                problem_key=f"closed-bound:{key_pk}",
            )
        outcome = Outcome.BELOW if side == "below" else Outcome.ABOVE
        return Verdict(
            outcome,
            result,
            seen_at,
            words=f"{outcome_words(question, outcome, None, None)}: {shown}{evidence}",
        )
    return Verdict(
        Outcome.VALUE,
        result,
        seen_at,
        value=float(value),
        words=f"{outcome_words(question, Outcome.VALUE, None, value)}{evidence}",
    )


def _best_verdict(question: Question, now: dt.datetime, exclude: Iterable[int]) -> Verdict:
    if now < grace_end(question):
        return Verdict(None)
    counted = _counted_as_of(question, _current(question, exclude))
    if not counted:
        return Verdict(
            None,
            words="no result",
            problem=(
                f"No current {_benchmark(question).name} result counts for "
                f"{typed_criterion(question)}: the rule has no value to give; staff decide."
            ),
            problem_key="no-result",
        )
    best = _best(question, counted)
    if question.type != Type.MULTIPLE_CHOICE:
        return _placed(question, best.value, best, None)
    described = describe_result(question, best)
    organisation = organisation_of(best.system, best.extra)
    if organisation is None:
        return Verdict(
            None,
            best,
            words=f"best result {described}, organisation unknown",
            problem=(
                f"The best result {described} has no known organisation (no organisation "
                "from its feed, and its name matches none of the known prefixes): staff decide."
            ),
            problem_key=f"no-organisation:{best.pk}",
        )
    option = option_for(organisation, question.options)
    if option is None:
        return Verdict(
            None,
            best,
            words=f"{organisation}, with {described}",
            problem=(
                f"The best result {described} belongs to {organisation}, which matches no "
                "option, and there is no “Other” option: staff decide."
            ),
            problem_key=f"no-option:{best.pk}",
        )
    return Verdict(
        Outcome.OPTION,
        best,
        None,
        option=option,
        words=(
            f"{outcome_words(question, Outcome.OPTION, option, None)}: {organisation} holds "
            f"the best result, {described}"
        ),
    )


def _date_verdict(question: Question, now: dt.datetime, exclude: Iterable[int]) -> Verdict:
    meets = question.milestone_met_by
    first: tuple[tuple[Any, ...], BenchmarkResult, dt.datetime, float] | None = None
    for result in _current(question, exclude):
        if not meets(result.value):
            continue
        since = chain_since(result, meets)
        moment = _midnight(result.achieved_on) if result.achieved_on is not None else since
        key = (moment, since, result.pk)
        if first is None or key < first[0]:
            first = (key, result, since, _unix(moment))
    if first is not None:
        _, result, since, value = first
        return _placed(question, value, result, since)
    if now < grace_end(question):
        return Verdict(None)
    assert question.range_max is not None
    last = show_value(question, question.range_max)
    if not question.open_upper_bound:
        return Verdict(
            None,
            words=f"not reached by {last}",
            problem=(
                f"No result met {typed_criterion(question)} by the end of the range and its "
                f"grace period, but the range's upper bound {last} is closed: the question "
                "cannot resolve above it; staff decide (resolve by hand or annul)."
            ),
            problem_key="not-reached-closed-bound",
        )
    return Verdict(
        Outcome.ABOVE,
        words=(
            f"{outcome_words(question, Outcome.ABOVE, None, None)}: no result met the "
            "threshold by the end of the range and its grace period"
        ),
    )


def typed_verdict(question: Question, *, now: dt.datetime, exclude: Iterable[int] = ()) -> Verdict:
    """The verdict of a non-binary milestone question at ``now`` over its benchmark's current
    results, without the results in ``exclude`` (module docstring; docs/methods.md §8.8–§8.11).
    Raises ``ValueError`` for a binary question (``milestones.milestone_verdict`` owns those)."""
    if question.type in BEST_TYPES:
        return _best_verdict(question, now, exclude)
    if question.type == Type.DATE:
        return _date_verdict(question, now, exclude)
    raise ValueError(f"typed_verdict: {question.type!r} questions have the yes/no rule")
