"""``manage.py ingest_benchmarks FILE --feed NAME``: ingest one benchmark feed file offline."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from markets.benchmarks.feeds import FEEDS, MAX_FEED_BYTES
from markets.benchmarks.feeds.base import size_error
from markets.benchmarks.ingest import feed_ingest, feed_record_failure


class Command(BaseCommand):
    help = (
        "Ingest a benchmark feed file: records a feed snapshot, adds new results, records "
        "changed values as revisions, and triggers the milestone rule for affected questions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path of the feed file (YAML, JSON, markdown, CSV, text)")
        parser.add_argument(
            "--feed",
            required=True,
            choices=sorted(FEEDS),
            help="Which feed format the file is in.",
        )

    def handle(self, *args, **options) -> None:
        feed: str = options["feed"]
        path = Path(options["file"])
        if not path.exists():
            raise CommandError(f"{path}: no such file.")
        if not path.is_file():
            raise CommandError(f"{path}: not a regular file.")
        size = path.stat().st_size
        if size > MAX_FEED_BYTES:
            # Refused before reading: the snapshot records the attempt without the bytes.
            error = size_error(feed, size)
            snapshot = feed_record_failure(feed=feed, source=path.name, error=error, size=size)
            raise CommandError(f"{path}: {error}. Nothing was imported (snapshot #{snapshot.pk}).")
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: cannot read the file: {exc.strerror or exc}.") from None

        result = feed_ingest(feed=feed, raw=raw, source=path.name)
        snapshot = result.snapshot
        if not result.ok:
            raise CommandError(
                f"{path}: {snapshot.error}. Nothing was imported (snapshot #{snapshot.pk} "
                "recorded as failed)."
            )
        if result.duplicate_of is not None:
            self.stdout.write(
                f"{path.name} ({feed}): identical to snapshot #{result.duplicate_of}; "
                f"added 0, revised 0, unchanged: all (snapshot #{snapshot.pk})."
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"{path.name} ({feed}): added {result.added}, revised {result.revised}, "
                f"unchanged {result.unchanged}, retired {result.retired} "
                f"(snapshot #{snapshot.pk})."
            )
        )
