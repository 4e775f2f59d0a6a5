from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.payments.services.bank_statements import bank_statement_import


class Command(BaseCommand):
    help = (
        "Import a CSV bank statement: each new incoming transfer is recorded and matched to "
        "the customer and invoices its remittance names; rows recorded before are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The CSV file (a header row, one transfer per row).")

    def handle(self, *args, path: str, **options):
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"No such file: {path}")
        result = bank_statement_import(
            file=file.read_bytes(), filename=file.name, at=timezone.now(), actor="command"
        )
        self.stdout.write(
            f"{file.name}: {result.created} new transfer(s), {result.matched} matched, "
            f"{result.duplicates} recorded before, {len(result.skipped)} outgoing skipped, "
            f"{len(result.errors)} error(s)."
        )
        for row, message in result.skipped:
            self.stdout.write(f"  row {row}: {message}")
        for row, message in result.errors:
            self.stderr.write(f"  row {row}: {message}")
