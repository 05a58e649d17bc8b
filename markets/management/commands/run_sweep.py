"""``manage.py run_sweep``: run the periodic sweep once, in this process."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from markets.resolution.sweep import markets_sweep


class Command(BaseCommand):
    help = (
        "Run the sweep once: open and close due questions, evaluate milestone questions and "
        "finalize proposals whose review window has passed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch", type=int, default=200, help="Maximum items per step (default 200)."
        )

    def handle(self, *args, **options) -> None:
        report = markets_sweep(batch=options["batch"])
        self.stdout.write(
            f"Opened {report.opened}, closed {report.closed}, evaluated {report.evaluated} "
            f"milestone question(s), finalized {report.finalized} proposal(s)."
        )
