import re
from datetime import UTC, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.usage.storage import usage_events_archive, usage_events_count_by_month

_MONTH = re.compile(r"(\d{4})-(\d{2})")


class Command(BaseCommand):
    help = (
        "Archive the raw usage events of the months before --before to gzip JSON-lines files "
        "in --output (one per month), then remove them from the database. Aggregates and "
        "dedup keys are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--before", required=True, help="YYYY-MM: archive the months before this one (UTC)."
        )
        parser.add_argument("--output", help="Directory of the archive files (created).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the rows per month; change nothing."
        )

    def handle(self, *args, before, output, dry_run, **options):
        match = _MONTH.fullmatch(before.strip())
        if not match or not 1 <= int(match[2]) <= 12:
            raise CommandError(f"--before {before!r} is not a month as YYYY-MM, e.g. 2026-01.")
        start = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
        if not dry_run and not output:
            raise CommandError("--output DIR is required (or use --dry-run).")
        try:
            if dry_run:
                counts = usage_events_count_by_month(before=start)
            else:
                result = usage_events_archive(
                    before=start, directory=Path(output), at=timezone.now()
                )
                counts = result["months"]
        except ValueError as error:
            raise CommandError(str(error)) from error
        for month, count in counts.items():
            self.stdout.write(f"{month}: {count} events")
        total = sum(counts.values())
        if dry_run:
            self.stdout.write(f"Dry run: {total} events before {before} would be archived.")
            return
        for path in result["files"]:
            self.stdout.write(f"Wrote {path}")
        for name in result["partitions_dropped"]:
            self.stdout.write(f"Dropped partition {name}")
        self.stdout.write(f"Archived and removed {total} events before {before}.")
