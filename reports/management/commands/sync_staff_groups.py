from django.core.management.base import BaseCommand

from reports.staff_groups import sync_staff_groups


class Command(BaseCommand):
    help = "Re-apply the staff group policy (finance, operations, support, read-only)."

    def handle(self, *args, **options):
        for name, count in sync_staff_groups().items():
            self.stdout.write(f"{name}: {count} permissions")
