from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from forecasts.exports import output_problem
from markets.models import Tournament
from scoring import exports


class Command(BaseCommand):
    help = (
        "Write the scores of a tournament's current final resolutions as CSV: "
        "question,subject,forecaster,rule,score,coverage (forecaster: a pseudonym; empty for "
        "the crowd)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tournament", required=True, help="Tournament slug")
        parser.add_argument("--output", required=True, type=Path)

    def handle(self, *args, **opts) -> None:
        tournament = Tournament.objects.filter(slug=opts["tournament"]).first()
        if tournament is None:
            raise CommandError(f"No tournament {opts['tournament']!r}.")
        output: Path = opts["output"]
        if problem := output_problem(output):
            raise CommandError(f"Cannot write the export: {problem}.")
        rows = -1  # the header
        tmp = output.with_name(output.name + ".part")
        try:
            with tmp.open("wb") as fh:
                for chunk in exports.render_scores_csv(tournament):
                    fh.write(chunk)
                    rows += chunk.count(b"\n")
            tmp.replace(output)
        except OSError as exc:  # disk full, permission denied: nothing is left behind
            tmp.unlink(missing_ok=True)
            raise CommandError(f"Cannot write {output}: {exc.strerror or exc}.") from None
        self.stdout.write(self.style.SUCCESS(f"Wrote {rows} scores to {output}."))
