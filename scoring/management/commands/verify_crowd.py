"""``manage.py verify_crowd``: the stored crowds against a recompute from the log, and the stored
track-record weights against the current scores (docs/methods.md §2.5, §6.2). In scoring, the
layer that knows both."""

from __future__ import annotations

import math

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from forecasts import typed
from forecasts.cohorts import crowd_events
from forecasts.history import pool_history
from forecasts.models import CrowdPoint, CrowdState
from forecasts.privacy import public_series
from forecasts.services import crowd_params, crowd_weights, vector_history, vector_log
from forecasts.store import load_events
from markets.models import Question, Tournament
from scoring.track_record import weights_mismatches

TOLERANCE = 1e-9


def _differs(stored: float | None, fresh: float) -> bool:
    if stored is None:
        return not math.isnan(fresh)
    return math.isnan(fresh) or abs(stored - fresh) > TOLERANCE


class Command(BaseCommand):
    help = (
        "Compare stored crowd histories with a from-scratch recompute, and stored track-record "
        "weights with the ones the current scores give (tolerance 1e-9)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tournament", help="Only this tournament (slug)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts) -> None:
        questions = Question.objects.select_related("tournament").order_by("tournament_id", "id")
        if opts["tournament"]:
            questions = questions.filter(tournament__slug=opts["tournament"])
            if not questions.exists():
                raise CommandError(f"No questions in tournament {opts['tournament']!r}.")
        problems: list[str] = []
        checked = points_checked = weights_checked = 0
        tournaments = Tournament.objects.filter(
            pk__in=questions.values("tournament_id"), track_record_weighting=True
        ).order_by("pk")
        for tournament in tournaments:
            weights_checked += 1
            for forecaster_id, stored, fresh in weights_mismatches(
                tournament_id=tournament.pk, tolerance=TOLERANCE
            ):
                problems.append(
                    f"{tournament.slug}: the stored track-record weight of forecaster "
                    f"{forecaster_id} is {stored:.10g}; the current scores give {fresh:.10g}"
                )
        for question in tqdm(
            list(questions),
            desc="Verifying",
            unit="question",
            disable=opts["no_progress"],
            file=self.stderr._out,
        ):
            if typed.is_vector(question):
                checked += 1
                points_checked += _verify_vector(question, problems)
                continue
            ev = crowd_events(question, load_events(question.pk))  # the default crowd's events
            stored = list(
                CrowdPoint.objects.filter(question=question)
                .order_by("seq")
                .values_list(
                    "seq",
                    "forecasters",
                    "probability",
                    "mean",
                    "median",
                    "forecast_id",
                    "public_seq",
                )
            )
            state = CrowdState.objects.filter(question=question).first()
            checked += 1
            name = f"{question.tournament.slug}/{question.key}"
            if len(stored) != len(ev.ids):
                problems.append(
                    f"{name}: {len(stored)} stored points for {len(ev.ids)} forecast events"
                )
                continue
            # Every point belongs to the event at its place in the log: a deleted or inserted
            # event shows even when the counts still agree.
            point_events = [row[5] for row in stored]
            if point_events != ev.ids.tolist():
                missing = sorted(set(point_events) - set(ev.ids.tolist()) - {None})
                extra = sorted(set(ev.ids.tolist()) - set(point_events))
                problems.append(
                    f"{name}: history points and forecast events disagree (points of missing "
                    f"events {missing[:5]}, events without a point {extra[:5]})"
                )
                continue
            if not stored:
                if state is not None and state.events:
                    problems.append(f"{name}: crowd state counts {state.events} events; log empty")
                continue
            params = crowd_params(question)
            hist = pool_history(
                ev.times,
                ev.forecaster,
                ev.probs,
                track_record_weight=crowd_weights(question, ev.forecaster),
                **params.kwargs(),
            )
            bad = 0
            worst: dict[str, float] = {}  # largest difference per differing field
            for i, (_seq, n, p, mean, median, _event, _public) in enumerate(stored):
                fields = {"probability": (p, hist.probability[i]), "mean": (mean, hist.mean[i])}
                if median is not None:  # medians of the newest points may still be filling
                    fields["median"] = (median, hist.median[i])
                differing = {k: v for k, v in fields.items() if _differs(*v)}
                if n != hist.forecasters[i]:
                    differing["forecasters"] = (float(n), float(hist.forecasters[i]))
                if differing:
                    bad += 1
                for field, (got, want) in differing.items():
                    gap = math.inf if got is None or math.isnan(want) else abs(got - want)
                    worst[field] = max(worst.get(field, 0.0), gap)
            points_checked += len(stored)
            last = len(stored) - 1
            if state is None:
                problems.append(f"{name}: no crowd state for {len(stored)} forecast events")
            elif (
                state.events != len(ev.ids)
                or state.forecasters != hist.forecasters[last]
                or _differs(state.probability, hist.probability[last])
                or _differs(state.mean, hist.mean[last])
            ):
                problems.append(
                    f"{name}: the crowd state ({state.forecasters} forecasters, "
                    f"{state.events} events, p = {state.probability}) differs from a recompute "
                    f"({hist.forecasters[last]} forecasters, {len(ev.ids)} events, "
                    f"p = {hist.probability[last]:.10g})"
                )
            # The public series (docs/privacy.md) is a function of the log: the same points.
            public = public_series(ev.times, ev.forecaster, hist.forecasters)
            stored_public = [row[6] or 0 for row in stored]
            if stored_public != public.seq.tolist() or (
                state is not None
                and (state.public_points, state.batch_forecasters)
                != (public.public_points, public.batch_forecasters)
            ):
                differing = sum(
                    a != b for a, b in zip(stored_public, public.seq.tolist(), strict=True)
                )
                problems.append(
                    f"{name}: the public series differs from a recompute ({differing} points "
                    "marked differently, or the batch state)"
                )
            if bad:
                problems.append(
                    f"{question.tournament.slug}/{question.key}: {bad} of {len(stored)} "
                    "points differ (largest difference: "
                    + ", ".join(f"{field} {gap:.3g}" for field, gap in sorted(worst.items()))
                    + ")"
                )
        for line in problems:
            self.stdout.write(self.style.ERROR(line))
        summary = (
            f"{checked} questions, {points_checked} history points, the weights of "
            f"{weights_checked} track-record-weighted tournament(s) checked"
        )
        if problems:
            raise CommandError(f"{len(problems)} difference(s) from a recompute; {summary}.")
        self.stdout.write(
            self.style.SUCCESS(
                f"All stored crowd histories match a recompute to {TOLERANCE:g}, and the stored "
                f"weights their scores: {summary}."
            )
        )


def _verify_vector(question: Question, problems: list[str]) -> int:
    """The checks of ``Command.handle`` for a multiple-choice or continuous question: every point
    belongs to its event, its active count and summary (pooled option probabilities, or the
    continuous summary) equal a recompute to ``TOLERANCE``, and so do the crowd state (events,
    forecasters, the crowd vector) and the public series. Appends to ``problems``; returns the
    points checked."""
    name = f"{question.tournament.slug}/{question.key}"
    ev = crowd_events(question, vector_log(question))
    stored = list(
        CrowdPoint.objects.filter(question=question)
        .order_by("seq")
        .values_list("forecasters", "summary", "forecast_id", "public_seq")
    )
    state = CrowdState.objects.filter(question=question).first()
    if [row[2] for row in stored] != ev.ids.tolist():
        problems.append(
            f"{name}: {len(stored)} history points do not match the {len(ev.ids)} forecast events"
        )
        return 0
    if not stored:
        if state is not None and state.events:
            problems.append(f"{name}: crowd state counts {state.events} events; log empty")
        return 0
    hist = vector_history(question, ev)
    bad, worst = 0, 0.0
    for i, (n, summary, _event, _public) in enumerate(stored):
        fresh = hist.summary[i]
        if summary is None or np.isnan(fresh).any():
            differs = (summary is None) != bool(np.isnan(fresh).any())
            gap = math.inf if differs else 0.0
        else:
            got = typed.from_bytes(summary)
            gap = float(np.max(np.abs(got - fresh))) if got.shape == fresh.shape else math.inf
        if n != hist.forecasters[i] or gap > TOLERANCE:
            bad += 1
            worst = max(worst, gap)
    if bad:
        problems.append(
            f"{name}: {bad} of {len(stored)} points differ (largest summary difference {worst:.3g})"
        )
    last = len(stored) - 1
    if state is None:
        problems.append(f"{name}: no crowd state for {len(stored)} forecast events")
    else:
        fresh_vector = typed.crowd_vector(question, hist.last) if hist.forecasters[last] else None
        stored_vector = None if state.vector is None else typed.from_bytes(state.vector)
        vector_differs = (fresh_vector is None) != (stored_vector is None) or (
            fresh_vector is not None
            and stored_vector is not None
            and (
                stored_vector.shape != fresh_vector.shape
                or float(np.max(np.abs(stored_vector - fresh_vector))) > TOLERANCE
            )
        )
        if (
            state.events != len(ev.ids)
            or state.forecasters != hist.forecasters[last]
            or vector_differs
        ):
            problems.append(
                f"{name}: the crowd state ({state.forecasters} forecasters, {state.events} "
                f"events) differs from a recompute ({hist.forecasters[last]} forecasters, "
                f"{len(ev.ids)} events, or the crowd vector)"
            )
    public = public_series(ev.times, ev.forecaster, hist.forecasters)
    if [row[3] or 0 for row in stored] != public.seq.tolist() or (
        state is not None
        and (state.public_points, state.batch_forecasters)
        != (public.public_points, public.batch_forecasters)
    ):
        problems.append(f"{name}: the public series differs from a recompute")
    return len(stored)
