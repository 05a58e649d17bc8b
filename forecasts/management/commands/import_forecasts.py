from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from forecasts.importer import ImportFailed, import_forecasts
from forecasts.metaculus_import import import_metaculus


def _when(raw: str | None) -> dt.datetime | None:
    if raw is None:
        return None
    value = parse_datetime(raw)
    if value is None:
        raise CommandError(f"{raw!r} is not an ISO 8601 time")
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Command(BaseCommand):
    help = (
        "Import questions and forecasts from the researcher CSV formats: yes/no, multiple "
        "choice, numeric, date and discrete (see docs/researcher-guide.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--tournament", required=True, help="Tournament slug (created if missing)"
        )
        parser.add_argument("--name", help="Tournament name when it is created")
        parser.add_argument(
            "file",
            nargs="?",
            type=Path,
            help="With --format metaculus: Metaculus's forecast CSV (one row per forecast)",
        )
        parser.add_argument(
            "--format",
            choices=["native", "metaculus"],
            default="native",
            help="native: --questions and --forecasts CSVs; metaculus: one forecast-data CSV",
        )
        parser.add_argument("--questions", type=Path)
        parser.add_argument("--forecasts", type=Path)
        parser.add_argument(
            "--clip",
            action="store_true",
            help="Clip probabilities within [0, 1] to [0.001, 0.999] instead of rejecting them",
        )
        parser.add_argument("--open-time", help="Open time for questions that give none (ISO 8601)")
        parser.add_argument("--close-time", help="Close time for questions that give none")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts) -> None:
        if opts["format"] == "metaculus":
            if opts["file"] is None or opts["questions"] or opts["forecasts"]:
                raise CommandError("--format metaculus takes one FILE (no --questions/--forecasts)")
            forecasts: Path = opts["file"]
        else:
            if opts["file"] is not None or not (opts["questions"] and opts["forecasts"]):
                raise CommandError("the native format takes --questions and --forecasts")
            forecasts = opts["forecasts"]
        total = None
        try:  # only for the progress bar: an unreadable file is the importer's to report
            with forecasts.open("rb") as fh:
                total = max(sum(1 for _ in fh) - 1, 0)
        except OSError:
            pass
        bar = tqdm(
            total=total,
            unit="rows",
            desc="Validating",
            disable=opts["no_progress"],
            file=self.stderr._out,
        )
        try:
            if opts["format"] == "metaculus":
                report = import_metaculus(
                    tournament_slug=opts["tournament"],
                    tournament_name=opts["name"],
                    path=forecasts,
                    progress=bar.update,
                    on_stage=lambda msg: bar.set_description(msg),
                )
            else:
                report = import_forecasts(
                    tournament_slug=opts["tournament"],
                    tournament_name=opts["name"],
                    questions_path=opts["questions"],
                    forecasts_path=forecasts,
                    clip=opts["clip"],
                    default_open=_when(opts["open_time"]),
                    default_close=_when(opts["close_time"]),
                    progress=bar.update,
                    on_stage=lambda msg: bar.set_description(msg),
                    on_phase=lambda label, n: (bar.reset(total=n), bar.set_description(label)),
                )
        except ImportFailed as exc:
            bar.close()
            raise CommandError(str(exc)) from None
        bar.close()
        if opts["clip"]:
            self.stdout.write(f"Clipped {report.clipped:,} probabilities to [0.001, 0.999].")
        for line in report.resolutions_kept:
            self.stdout.write(self.style.WARNING(line))
        if not report.changed:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Nothing to change: {report.forecasts_existing:,} forecasts already imported."
                )
            )
            return
        created = " (created)" if report.tournament_created else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Tournament {report.tournament}{created}: "
                f"{report.questions_created:,} questions, "
                f"{report.forecasters_created:,} forecasters, "
                f"{report.forecasts_created:,} forecasts, "
                f"{report.resolutions_recorded:,} resolutions imported, "
                f"{report.resolutions_withdrawn:,} un-resolved"
                f" ({report.forecasts_existing:,} forecasts were already there)."
            )
        )
        for line in report.resolution_changes:
            self.stdout.write(line)
