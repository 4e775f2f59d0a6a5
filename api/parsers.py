import json
from decimal import Decimal

from django.conf import settings
from rest_framework import exceptions, parsers


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a valid JSON number")


def _nul_path(value, path: str = "") -> str | None:
    """The dotted path ("events.0.properties") of the first text holding a NUL, else None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return path or "non_field_errors"
            found = _nul_path(item, child)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


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
        path = _nul_path(data) if "u0000" in text.lower() else None
        if path is not None:
            detail = exceptions.ErrorDetail(
                "Null characters are not allowed.", code="null_characters_not_allowed"
            )
            raise exceptions.ValidationError({path: [detail]})
        return data
