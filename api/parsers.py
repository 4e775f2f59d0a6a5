import json
from decimal import Decimal

from django.conf import settings
from rest_framework import exceptions, parsers


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a valid JSON number")


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


class DecimalJSONParser(parsers.JSONParser):
    """JSON numbers with a fraction become Decimal, so no float ever reaches money code.
    Text with a NUL character (\\u0000) is refused: no database column can keep it."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
            data = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
        if "u0000" in text.lower() and _has_nul(data):
            raise exceptions.ParseError("Text may not contain NUL characters (\\u0000).")
        return data
