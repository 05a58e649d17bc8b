from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from forecasts.exports import ExportError, manifest_path, output_problem, parse_as_of
from markets.models import Tournament
from scoring import market_exports


class Command(BaseCommand):
    help = (
        "Write a tournament's play-money trades (--dataset trades: question,sequence,time,"
        "trader,outcome,outcome_label,shares,cost; trader: a pseudonym) or its market price "
        "history (--dataset history: question,sequence,time,outcome,outcome_label,price) as of "
        "a time, as CSV, JSON or Parquet, with FILE.manifest.json next to it (manage.py "
        "verify_export checks it; docs/researcher-guide.md)."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tournament", required=True, help="Tournament slug")
        parser.add_argument("--output", required=True, type=Path)
        parser.add_argument("--dataset", choices=list(market_exports.DATASETS), default="trades")
        parser.add_argument("--format", choices=list(market_exports.FORMATS), default="csv")
        parser.add_argument(
            "--as-of",
            help="Trades executed at or before this ISO 8601 time (default: now minus one "
            "second; a future time is refused)",
        )

    def handle(self, *args, **opts) -> None:
        tournament = Tournament.objects.filter(slug=opts["tournament"]).first()
        if tournament is None:
            raise CommandError(f"No tournament {opts['tournament']!r}.")
        try:
            as_of = parse_as_of(opts["as_of"]) if opts["as_of"] else None
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        output: Path = opts["output"]
        if problem := output_problem(output):
            raise CommandError(f"Cannot write the export: {problem}.")
        export = market_exports.market_export_plan(
            tournament=tournament, dataset=opts["dataset"], fmt=opts["format"], as_of=as_of
        )
        try:
            manifest = market_exports.write_market_export(export, output)
        except OSError as exc:  # disk full, permission denied: nothing is left behind
            raise CommandError(f"Cannot write {output}: {exc.strerror or exc}.") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {manifest['rows']} rows ({manifest['input']['trades']} trades) to "
                f"{output} (sha256 {manifest['output']['sha256']}) and {manifest_path(output)}; "
                f"as of {manifest['as_of']}."
            )
        )
