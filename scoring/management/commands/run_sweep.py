"""``manage.py run_sweep``: run the periodic sweep once, in this process."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from scoring.workflows import sweep


class Command(BaseCommand):
    help = (
        "Run the sweep once: open and close due questions, evaluate milestone questions, "
        "finalize proposals whose review window has passed, and repair scores that do not "
        "belong to a question's final resolution."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch", type=int, default=200, help="Maximum items per step (default 200)."
        )

    def handle(self, *args, **options) -> None:
        report = sweep(batch=options["batch"])
        m, s = report.markets, report.scores
        self.stdout.write(
            f"Opened {m.opened}, closed {m.closed}, evaluated {m.evaluated} "
            f"milestone question(s), finalized {m.finalized} proposal(s); rescoring "
            f"{s.stale + s.missing} question(s) ({s.stale} with stale scores, {s.missing} "
            f"without); settled {report.settlements} market(s)."
        )
