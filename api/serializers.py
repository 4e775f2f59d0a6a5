from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses unknown fields instead of ignoring them (a typo in a
    field name must not pass silently)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {
                        name: [serializers.ErrorDetail("Unknown field.", code="unknown_field")]
                        for name in unknown
                    }
                )
        return super().to_internal_value(data)
