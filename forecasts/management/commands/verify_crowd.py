from __future__ import annotations

import math

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from forecasts.history import pool_history
from forecasts.models import CrowdPoint
from forecasts.services import crowd_params
from forecasts.store import load_events
from markets.models import Question

TOLERANCE = 1e-9


def _differs(stored: float | None, fresh: float) -> bool:
    if stored is None:
        return not math.isnan(fresh)
    return math.isnan(fresh) or abs(stored - fresh) > TOLERANCE


class Command(BaseCommand):
    help = "Compare stored crowd histories with a from-scratch recompute (tolerance 1e-9)."

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
        checked = points_checked = 0
        for question in tqdm(
            list(questions),
            desc="Verifying",
            unit="question",
            disable=opts["no_progress"],
            file=self.stderr._out,
        ):
            ev = load_events(question.pk)
            stored = list(
                CrowdPoint.objects.filter(question=question)
                .order_by("seq")
                .values_list("seq", "forecasters", "probability", "mean", "median")
            )
            checked += 1
            if len(stored) != len(ev.ids):
                problems.append(
                    f"{question.tournament.slug}/{question.key}: {len(stored)} stored "
                    f"points for {len(ev.ids)} forecast events"
                )
                continue
            if not stored:
                continue
            params = crowd_params(question)
            hist = pool_history(
                ev.times,
                ev.forecaster,
                ev.probs,
                track_record_weight=ev.track_record_weight,
                **params.kwargs(),
            )
            bad = 0
            worst = 0.0
            for i, (_seq, n, p, mean, median) in enumerate(stored):
                fields = [(p, hist.probability[i]), (mean, hist.mean[i])]
                if median is not None:  # medians of the newest points may still be filling
                    fields.append((median, hist.median[i]))
                if n != hist.forecasters[i] or any(_differs(s, f) for s, f in fields):
                    bad += 1
                    if p is not None and not math.isnan(hist.probability[i]):
                        worst = max(worst, abs(p - hist.probability[i]))
            points_checked += len(stored)
            if bad:
                problems.append(
                    f"{question.tournament.slug}/{question.key}: {bad} of {len(stored)} "
                    f"points differ (largest probability difference {worst:.3g})"
                )
        for line in problems:
            self.stdout.write(self.style.ERROR(line))
        summary = f"{checked} questions, {points_checked} history points checked"
        if problems:
            raise CommandError(f"{len(problems)} question(s) differ from a recompute; {summary}.")
        self.stdout.write(
            self.style.SUCCESS(
                f"All stored crowd histories match a recompute to {TOLERANCE:g}: {summary}."
            )
        )
