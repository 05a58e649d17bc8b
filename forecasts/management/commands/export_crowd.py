from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from forecasts import exports
from markets.models import Tournament


class Command(BaseCommand):
    help = (
        "Export the crowd history of a tournament (or one question) as CSV, JSON or Parquet, "
        "with FILE.manifest.json next to it (see docs/researcher-guide.md)."
    )
    # A data command: it reads the database and writes files. Django's system checks import
    # every URL and view first (about a second) and have nothing to say about either.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tournament", required=True, help="Tournament slug")
        parser.add_argument("--question", help="Export only this question (its key)")
        parser.add_argument("--format", required=True, choices=exports.FORMATS, dest="fmt")
        parser.add_argument("--output", required=True, type=Path, help="File to write")
        parser.add_argument(
            "--as-of",
            help="History as it stood at this ISO 8601 time (default: now minus one second)",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts) -> None:
        tournament = Tournament.objects.filter(slug=opts["tournament"]).first()
        if tournament is None:
            raise CommandError(f"No tournament {opts['tournament']!r}.")
        try:
            as_of = exports.parse_as_of(opts["as_of"]) if opts["as_of"] else None
            export = exports.crowd_export_plan(
                tournament=tournament, fmt=opts["fmt"], question_key=opts["question"], as_of=as_of
            )
        except exports.ExportError as exc:
            raise CommandError(str(exc)) from None
        output: Path = opts["output"]
        if problem := exports.output_problem(output):
            raise CommandError(f"Cannot write the export: {problem}.")
        # Counting the rows reads the whole history once more: only for a progress bar shown.
        bar = tqdm(
            total=None if opts["no_progress"] else exports.count_rows(export),
            unit="rows",
            unit_scale=True,
            desc=f"Exporting {output.name}",
            disable=opts["no_progress"],
            file=self.stderr._out,
        )
        try:
            with bar:
                manifest = exports.write_export(export, output, progress=bar.update)
        except OSError as exc:  # disk full, permission denied: nothing is left behind
            raise CommandError(f"Cannot write {output}: {exc.strerror or exc}.") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {manifest['rows']} rows to {output} "
                f"(sha256 {manifest['output']['sha256']}) and {exports.manifest_path(output)}; "
                f"as of {manifest['as_of']}."
            )
        )
