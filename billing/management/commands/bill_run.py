from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from billing.services.bill_runs import bill_run_execute


class Command(BaseCommand):
    help = "Bill everything due by --as-of (default now; past or future for a simulation)."

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
            self.stderr.write(
                f"  {run.customers_seen} customers, {run.invoices_created} "
                f"invoices, {run.lines_created} lines"
            )

        started = datetime.now(tz=timezone.get_current_timezone())
        run = bill_run_execute(as_of=when, at=timezone.now(), progress=progress)
        seconds = (datetime.now(tz=started.tzinfo) - started).total_seconds()
        self.stdout.write(
            f"Bill run #{run.pk} as of {when.isoformat()}: {run.customers_seen} customers, "
            f"{run.invoices_created} invoices, {run.lines_created} lines in {seconds:.1f} s."
        )
