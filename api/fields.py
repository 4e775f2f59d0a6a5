"""Input fields shared by every app's API serializers."""

from rest_framework import serializers

TIMEZONE_HELP = "ISO 8601 with an offset (2027-01-31T12:00:00Z or +01:00); none is refused."


class AwareDateTimeField(serializers.DateTimeField):
    """An instant in: ISO 8601 with an offset. A timestamp without one is refused
    (`timezone_required`) instead of being read as UTC."""

    default_error_messages = {
        "timezone_required": "Give the timestamp with an offset (2027-01-31T12:00:00Z or +01:00).",
    }

    def __init__(self, **kwargs):
        help_text = kwargs.pop("help_text", None)
        kwargs["help_text"] = f"{help_text} {TIMEZONE_HELP}" if help_text else TIMEZONE_HELP
        super().__init__(**kwargs)

    def enforce_timezone(self, value):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            self.fail("timezone_required")
        return super().enforce_timezone(value)
