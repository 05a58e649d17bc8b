from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from markets.models import Tournament
from scoring import exports


class Command(BaseCommand):
    help = (
        "Write the scores of a tournament's current final resolutions as CSV: "
        "question,forecaster,rule,score,coverage (forecaster: a pseudonym or crowd)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tournament", required=True, help="Tournament slug")
        parser.add_argument("--output", required=True, type=Path)

    def handle(self, *args, **opts) -> None:
        tournament = Tournament.objects.filter(slug=opts["tournament"]).first()
        if tournament is None:
            raise CommandError(f"No tournament {opts['tournament']!r}.")
        output: Path = opts["output"]
        rows = -1  # the header
        with output.open("wb") as fh:
            for chunk in exports.render_scores_csv(tournament):
                fh.write(chunk)
                rows += chunk.count(b"\n")
        self.stdout.write(self.style.SUCCESS(f"Wrote {rows} scores to {output}."))
