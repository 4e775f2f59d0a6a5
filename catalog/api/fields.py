"""Money fields for every app's API serializers (the apps above the catalog import them)."""

from decimal import Decimal

from rest_framework import serializers

from catalog.money import format_amount

MAX_AMOUNT_DIGITS = 19


def amount_field(**kwargs) -> serializers.DecimalField:
    """A money amount in: a decimal string (or JSON number), ≥ 0, at most 4 places."""
    return serializers.DecimalField(
        max_digits=MAX_AMOUNT_DIGITS, decimal_places=4, min_value=Decimal(0), **kwargs
    )


class AmountsInCurrencyMixin:
    """Prints `amount_fields` as strings in the row's currency precision ("49.00", "1000" JPY)."""

    amount_fields: tuple[str, ...] = ()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for name in self.amount_fields:
            value = getattr(instance, name)
            data[name] = None if value is None else format_amount(value, instance.currency)
        return data
