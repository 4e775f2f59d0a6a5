from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api.services import api_key_create


class Command(BaseCommand):
    help = "Create an integration API key and print it (only the key: it is shown once)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--scopes", default="read,write", help="Comma-separated: read,write")

    def handle(self, *args, name, scopes, **options):
        try:
            _, raw = api_key_create(
                name=name, scopes=[s.strip() for s in scopes.split(",") if s.strip()]
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(raw)
