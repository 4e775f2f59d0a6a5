from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from billing.usage.storage import usage_partitions_ensure, usage_partitions_list


def _months(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise CommandError(f"Expected a number of months (0 or more), got {value!r}.")
    return number


class Command(BaseCommand):
    help = (
        "Create the monthly partitions of the usage events table (PostgreSQL) around the "
        "current month, moving matching rows out of the default partition; --list only lists."
    )

    def add_arguments(self, parser):
        parser.add_argument("--months-ahead", type=str, default="3", help="Default 3.")
        parser.add_argument("--months-back", type=str, default="1", help="Default 1.")
        parser.add_argument(
            "--list",
            dest="list_only",
            action="store_true",
            help="List the partitions; create nothing.",
        )

    def handle(self, *args, months_ahead, months_back, list_only, **options):
        if connection.vendor != "postgresql":
            self.stdout.write(
                f"Usage events are not partitioned on {connection.vendor}: nothing to do."
            )
            return
        if not list_only:
            created = usage_partitions_ensure(
                at=timezone.now(),
                months_back=_months(months_back),
                months_ahead=_months(months_ahead),
            )
            self.stdout.write(
                f"Created {len(created)} partition(s): {', '.join(created)}"
                if created
                else "All partitions exist already."
            )
            return
        for partition in usage_partitions_list():
            if partition["default"]:
                bounds = "default"
            else:
                bounds = f"{_bound(partition['from'])} .. {_bound(partition['to'])}"
            rows = partition["rows"] if partition["rows_exact"] else f"~{partition['rows']}"
            self.stdout.write(f"{partition['name']}  {bounds}  {rows} rows")


def _bound(value) -> str:
    return "unbounded" if value is None else value.isoformat()
