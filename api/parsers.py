import json
from decimal import Decimal

from django.conf import settings
from rest_framework import exceptions, parsers


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a valid JSON number")


class DecimalJSONParser(parsers.JSONParser):
    """JSON numbers with a fraction become Decimal, so no float ever reaches money code."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(
                stream.read().decode(encoding), parse_float=Decimal, parse_constant=_reject_constant
            )
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
