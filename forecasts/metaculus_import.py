"""Import Metaculus's forecast-data download (``import_forecasts --format metaculus FILE``).

The file is read and checked whole first (``forecasts.metaculus``); only a clean file is written,
in one transaction, so a bad line changes nothing. Questions are created from the rows (key
``metaculus-<question_id>``, with their type, options or scale), forecasters are keyed by
``author_id`` within the tournament's import, and forecasts are matched by (question, forecaster,
time): re-importing the same file changes nothing, and a row that contradicts a forecast already
imported is refused (the log is append-only). Every touched question's crowd is recomputed from
its log (``crowd_recompute``), and resolutions go through the resolution services with the file's
``actual_resolve_time`` as the effective time; as for the native format
(docs/researcher-guide.md, "Resolutions on re-import"), the file is the source of truth for the
resolutions an import recorded, and a resolution decided by staff or a milestone rule is kept and
reported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from forecasts import distributions
from forecasts.importer import ImportFailed, ImportReport, tournament_errors
from forecasts.metaculus import (
    KEY_PREFIX,
    MetaculusFile,
    MetaculusQuestion,
    Outcome,
    parse_metaculus,
)
from forecasts.models import Forecast, Forecaster
from forecasts.services import crowd_recompute
from forecasts.signals import send_log_changed
from markets.errors import QuestionError, QuestionTypeError
from markets.models import Question, Resolution, Tournament
from markets.questions import QuestionsRejected, question_build, questions_create_many
from markets.resolution.manual import question_resolve, question_unresolve

__all__ = ["import_metaculus", "question_key"]

SOURCE = "metaculus"
TYPE_FIELDS = ("type", "options", "range_min", "range_max", "open_lower_bound", "open_upper_bound")


def question_key(question_id: str) -> str:
    """The Takeoff key of Metaculus question ``question_id``."""
    return f"{KEY_PREFIX}{question_id}"


def _config(q: MetaculusQuestion) -> dict[str, object]:
    scale = q.scale
    return {
        "type": q.type,
        "options": q.options,
        "range_min": scale.range_min if scale else None,
        "range_max": scale.range_max if scale else None,
        "open_lower_bound": bool(scale and scale.open_lower),
        "open_upper_bound": bool(scale and scale.open_upper),
        "zero_point": scale.zero_point if scale else None,
    }


def _stored(fc_probability: float | None, fc_values: np.ndarray | None) -> float | bytes:
    return fc_probability if fc_values is None else distributions.to_bytes(fc_values)


def _existing_value(probability: float | None, values: bytes | memoryview | None) -> float | bytes:
    return probability if values is None else bytes(values)  # type: ignore[return-value]


def _describe(outcome: Outcome | None, q: Question) -> str:
    if outcome is None:
        return "unresolved"
    if outcome.kind == "option" and outcome.option is not None:
        return repr(q.options[outcome.option])
    if outcome.kind == "value":
        return f"{outcome.value:g}"
    return outcome.kind.upper() if outcome.kind in ("yes", "no") else outcome.kind


def _current_outcome(res: Resolution) -> Outcome:
    return Outcome(res.outcome, option=res.option, value=res.value)


def import_metaculus(
    *,
    tournament_slug: str,
    tournament_name: str | None,
    path: Path,
    progress: Callable[[int], None] | None = None,
    on_stage: Callable[[str], None] = lambda _msg: None,
) -> ImportReport:
    """Import the Metaculus forecast CSV at ``path`` into tournament ``tournament_slug``
    (created if missing, named ``tournament_name`` or the file's ``project_title``).

    Returns an ``ImportReport``. Raises ``ImportFailed`` with every problem and its line (bad
    rows, a question whose type or scale differs from the one already imported, forecasts after
    their question's resolution time or in the future, rows contradicting the log); nothing is
    written then.
    """
    errors = tournament_errors(tournament_slug, tournament_name)
    parsed = parse_metaculus(path, progress=progress)
    errors += parsed.errors
    if errors:
        raise ImportFailed(errors)
    with transaction.atomic():
        return _write(tournament_slug, tournament_name, parsed, path.name, on_stage)


def _write(
    slug: str, name: str | None, parsed: MetaculusFile, filename: str, stage: Callable[[str], None]
) -> ImportReport:
    report = ImportReport(tournament=slug)
    project = next((q.project for q in parsed.questions.values() if q.project), "")
    tournament, report.tournament_created = Tournament.objects.get_or_create(
        slug=slug, defaults={"name": (name or project or slug)[:200]}
    )
    now = timezone.now()
    problems: list[str] = []
    existing = {
        q.key: q
        for q in Question.objects.filter(
            tournament=tournament,
            key__in=[question_key(qid) for qid in parsed.questions],
        )
    }
    questions: dict[str, Question] = {}
    specs: list[tuple[str, dict[str, Any]]] = []
    for qid, mq in parsed.questions.items():
        where = f"{filename} line {mq.line}"
        config = _config(mq)
        q = existing.get(question_key(qid))
        if q is not None:
            differs = [f for f in (*TYPE_FIELDS, "zero_point") if getattr(q, f) != config[f]]
            if differs:
                problems.append(
                    f"{where}: question {qid} was imported with another {', '.join(differs)}; "
                    "a question's type and scale cannot change"
                )
            questions[qid] = q
            continue
        spec = {
            "key": question_key(qid),
            "title": mq.title,
            "open_time": mq.open_time,
            "close_time": mq.close_time,
            "resolution_criteria": f"Imported from Metaculus question {qid}.",
            **config,
        }
        try:  # the checks of the one door (question_create), every row's problems reported
            question_build(tournament=tournament, now=now, **spec)
        except (QuestionError, QuestionTypeError) as exc:
            problems.append(f"{where}: question {qid}: {exc}")
            continue
        specs.append((qid, spec))
    if problems:
        raise ImportFailed(problems)
    try:
        created = questions_create_many(
            tournament=tournament, questions=[spec for _, spec in specs], now=now
        )
    except QuestionsRejected as exc:
        raise ImportFailed(
            [
                f"{filename} line {parsed.questions[specs[i][0]].line}: question "
                f"{specs[i][0]}: {error}"
                for i, error in exc.errors
            ]
        ) from None
    for (qid, _), q in zip(specs, created, strict=True):
        questions[qid] = q
    report.questions_created = len(created)

    authors = sorted({fc.author_id for fc in parsed.forecasts})
    known = dict(Forecaster.objects.filter(source=slug, key__in=authors).values_list("key", "id"))
    new = [Forecaster(source=slug, key=a) for a in authors if a not in known]
    Forecaster.objects.bulk_create(new, batch_size=2000)
    report.forecasters_created = len(new)
    ids = dict(Forecaster.objects.filter(source=slug, key__in=authors).values_list("key", "id"))

    by_pk = {q.pk: q for q in questions.values()}
    have = {
        (qid, fid, time): _existing_value(p, v)
        for qid, fid, time, p, v in Forecast.objects.filter(
            question_id__in=list(by_pk), kind=Forecast.Kind.FORECAST
        ).values_list("question_id", "forecaster_id", "time", "probability", "values")
    }
    to_create: list[Forecast] = []
    touched: set[int] = set()
    for fc in parsed.forecasts:
        q = questions[fc.question_id]
        mq = parsed.questions[fc.question_id]
        where = f"{filename} line {fc.line}"
        if fc.time > now:
            problems.append(f"{where}: forecast_timestamp {fc.time.isoformat()} is in the future")
            continue
        if mq.resolve_time is not None and fc.time > mq.resolve_time:
            problems.append(
                f"{where}: forecast_timestamp {fc.time.isoformat()} is after the question's "
                f"resolution time {mq.resolve_time.isoformat()}"
            )
            continue
        ident = (q.pk, ids[fc.author_id], fc.time)
        value = _stored(fc.probability, fc.values)
        if ident in have:
            if have[ident] != value:
                problems.append(
                    f"{where}: author {fc.author_id} on question {fc.question_id} at "
                    f"{fc.time.isoformat()} differs from the forecast already imported; the log "
                    "is append-only"
                )
            else:
                report.forecasts_existing += 1
            continue
        have[ident] = value
        to_create.append(
            Forecast(
                question=q,
                forecaster_id=ids[fc.author_id],
                probability=fc.probability,
                values=None if fc.values is None else distributions.to_bytes(fc.values),
                time=fc.time,
            )
        )
        touched.add(q.pk)
    if problems:
        raise ImportFailed(problems)  # inside the transaction: nothing was written
    if to_create:
        stage(f"Writing {len(to_create):,} forecasts")
    Forecast.objects.bulk_create(to_create, batch_size=5000)
    report.forecasts_created = len(to_create)
    if touched:
        stage(f"Computing the crowd history of {len(touched):,} questions")
    for pk in sorted(touched):
        crowd_recompute(question_id=pk)
        report.questions_recomputed.append(by_pk[pk].key)
    send_log_changed(question_ids=sorted(touched))

    stage("Recording resolutions")
    for qid, mq in parsed.questions.items():
        _resolution(mq, questions[qid], slug=slug, filename=filename, now=now, report=report)
    return report


def _resolution(
    mq: MetaculusQuestion,
    q: Question,
    *,
    slug: str,
    filename: str,
    now: dt.datetime,
    report: ImportReport,
) -> None:
    """Bring ``q``'s resolution in line with the file (module docstring), through the services."""
    where = f"{filename} line {mq.line}"
    current = q.resolutions.filter(state=Resolution.State.FINAL).first()
    wanted = mq.outcome
    if current is not None and current.source != Resolution.Source.IMPORT:
        if wanted != _current_outcome(current):
            report.resolutions_kept.append(
                f"{where}: {q.key} is resolved {_describe(_current_outcome(current), q)} by "
                f"{current.get_source_display().lower()} but the file says "
                f"{_describe(wanted, q)}: kept"
            )
        return
    if wanted is None:
        if current is None:
            return
        question_unresolve(
            question_id=q.pk,
            reason=f"The resolution cell is empty in {where} (import into {slug})",
            source=Resolution.Source.IMPORT,
            actor_label="import",
        )
        report.resolutions_withdrawn += 1
        report.resolution_changes.append(f"{where}: {q.key} un-resolved")
        return
    if current is not None and _current_outcome(current) == wanted:
        return
    reason = f"Imported from Metaculus into {slug} ({where})"
    if current is not None:
        reason += f": the file now says {_describe(wanted, q)}, was "
        reason += _describe(_current_outcome(current), q)
    resolved_at = min(mq.resolve_time or q.close_time, now)
    question_resolve(
        question_id=q.pk,
        outcome=wanted.kind,
        option=wanted.option,
        value=wanted.value,
        reason=reason,
        source=Resolution.Source.IMPORT,
        resolved_at=resolved_at,
        actor_label="import",
    )
    report.resolutions_recorded += 1
    report.resolution_changes.append(f"{where}: {q.key} resolved {_describe(wanted, q)}")
