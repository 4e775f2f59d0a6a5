"""Rebuild the reports' tables (recognition schedules, journal, MRR history) from billing's
records. Closed months and the account codes are kept."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from reports.rebuild import reports_rebuild


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        last = reports_rebuild(at=timezone.now())
        self.stdout.write(f"Rebuilt from the billing event log through event #{last}.")
