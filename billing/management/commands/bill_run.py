from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from api.errors import DomainError
from billing.invoicing.services.bill_runs import bill_run_execute

BAR = 30


class Command(BaseCommand):
    help = (
        "Bill everything due by --as-of (default now; past or future for a simulation), in "
        "this process, with a progress bar on stderr."
    )

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="ISO 8601 instant, e.g. 2027-02-01T00:00:00Z")

    def handle(self, *args, as_of=None, **options):
        when = timezone.now()
        if as_of:
            parsed = parse_datetime(as_of)
            if parsed is None:
                raise CommandError(f"--as-of {as_of!r} is not an ISO 8601 date-time.")
            if timezone.is_naive(parsed):
                raise CommandError("--as-of needs a time zone, e.g. 2027-02-01T00:00:00Z.")
            when = parsed

        def progress(run):
            total = max(run.customers_total, run.customers_seen, 1)
            filled = BAR * run.customers_seen // total
            self.stderr.write(
                f"\r  [{'#' * filled}{'.' * (BAR - filled)}] {run.customers_seen}/{total} "
                f"customers, {run.invoices_created} invoices, {run.lines_created} lines, "
                f"{run.customers_failed} failed",
                ending="",
            )

        started = datetime.now(tz=timezone.get_current_timezone())
        try:
            run = bill_run_execute(as_of=when, at=timezone.now(), progress=progress)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write("")
        seconds = (datetime.now(tz=started.tzinfo) - started).total_seconds()
        self.stdout.write(
            f"Bill run #{run.pk} as of {when.isoformat()}: {run.status}, {run.customers_seen} "
            f"customers, {run.invoices_created} invoices, {run.lines_created} lines in "
            f"{seconds:.1f} s."
        )
        for failure in run.failures.all():
            self.stderr.write(f"  failed: {failure.customer_external_id}: {failure.error}")
