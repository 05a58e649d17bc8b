from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from forecasts import exports


class Command(BaseCommand):
    help = (
        "Regenerate a crowd, score, trades or market history export from the database as of "
        "its manifest's time and report whether the bytes (and the input forecast set, the "
        "resolutions behind the scores, or the trades covered) match. Exit status 1 on a "
        "mismatch."
    )
    # A data command: it reads the database and writes files. Django's system checks import
    # every URL and view first (about a second) and have nothing to say about either.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("manifest", type=Path, help="FILE.manifest.json")
        parser.add_argument(
            "--recipient",
            help="Username whose pseudonyms the file carries (a score export downloaded from "
            "the API by that user)",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts) -> None:
        manifest: Path = opts["manifest"]
        bar = tqdm(
            unit="rows",
            unit_scale=True,
            desc="Recomputing",
            disable=opts["no_progress"],
            file=self.stderr._out,
        )
        recipient = None
        if opts["recipient"]:
            from django.contrib.auth import get_user_model

            user = get_user_model().objects.filter(username=opts["recipient"]).first()
            if user is None:
                raise CommandError(f"No user {opts['recipient']!r}.")
            recipient = user.pk
        try:
            with bar:
                result = exports.verify_manifest(manifest, progress=bar.update, recipient=recipient)
        except exports.ExportError as exc:
            raise CommandError(str(exc)) from None
        m = result.manifest
        if result.ok:
            if m.get("kind") == "scores":
                inputs = f"{m['input']['resolutions']} resolutions"
            elif "trades" in m["input"]:  # a trades or market history export
                inputs = f"input {m['input']['trades']} trades"
            else:
                inputs = f"input {m['input']['forecast_events']} forecast events"
            self.stdout.write(
                self.style.SUCCESS(
                    f"MATCH: {m['output']['file']} — {m['rows']} rows, sha256 "
                    f"{m['output']['sha256']}, {inputs}, as of {m['as_of']}."
                )
            )
            return
        self.stdout.write(self.style.ERROR(f"MISMATCH: {m['output']['file']} as of {m['as_of']}"))
        for problem in result.problems:
            self.stdout.write(f"  - {problem}")
        raise CommandError("The export does not match a recompute from the database.", returncode=1)
