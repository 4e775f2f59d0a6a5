"""Money fields for every app's API serializers (the apps above the catalog import them).

In: `MoneyAmountInputField` refuses more decimals than the currency has (JPY 10.5, USD
1.001). Out: `MoneyAmountField` prints exactly the currency's minor digits ("29.00" USD,
"1000" JPY, "1.500" KWD); `UnitAmountField` prints unit prices (up to 12 places) without
trailing zeros but with at least the currency's minor digits ("29.00", "0.0000125").
Each serializer attribute must be its own field instance (drf-spectacular keeps only one
name of a shared instance).
"""

from collections.abc import Mapping
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.money import format_amount, format_unit_amount, money_places_error
from catalog.pricing import MONEY_PROPERTIES

MAX_AMOUNT_DIGITS = 19
AMOUNT_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
MONEY_HELP = "A decimal string with exactly the currency's minor digits (29.00 USD, 1000 JPY)."
UNIT_HELP = (
    "A decimal string: trailing zeros dropped, at least the currency's minor digits "
    "(29.00, 0.0000125)."
)


def _lookup(obj, path: str):
    for part in path.split("."):
        if obj is None:
            return None
        obj = obj.get(part) if isinstance(obj, Mapping) else getattr(obj, part, None)
    return obj


class _CurrencyAmountField(serializers.Field):
    """Reads the amount and the currency (`currency`: a dotted path on the object, else
    the serializer context's "currency") and formats them."""

    help = MONEY_HELP

    def __init__(self, *, currency: str = "currency", **kwargs):
        help_text = kwargs.pop("help_text", None)
        kwargs["help_text"] = f"{help_text} {self.help}" if help_text else self.help
        super().__init__(read_only=True, **kwargs)
        self.currency = currency

    def get_attribute(self, instance):
        value = super().get_attribute(instance)
        if value is None:
            return None
        currency = _lookup(instance, self.currency) or self.context.get("currency")
        return self.format(Decimal(value), currency)

    def format(self, value: Decimal, currency: str) -> str:
        raise NotImplementedError

    def to_representation(self, value):
        return value


@extend_schema_field({"type": "string", "pattern": AMOUNT_PATTERN, "example": "29.00"})
class MoneyAmountField(_CurrencyAmountField):
    """An amount in the currency's exact precision (output only)."""

    def format(self, value: Decimal, currency: str) -> str:
        return format_amount(value, currency)


@extend_schema_field({"type": "string", "pattern": AMOUNT_PATTERN, "example": "0.0125"})
class UnitAmountField(_CurrencyAmountField):
    """A unit price (output only)."""

    help = UNIT_HELP

    def format(self, value: Decimal, currency: str) -> str:
        return format_unit_amount(value, currency)


def charge_properties_out(properties: dict, currency: str) -> dict:
    """Normalized charge properties as answered: money amounts with the currency's minor
    digits, unit amounts by the unit rule; counts and the rate unchanged."""

    def one(values: dict) -> dict:
        out = {}
        for key, value in values.items():
            if isinstance(value, str) and key in MONEY_PROPERTIES:
                value = format_amount(Decimal(value), currency)
            elif isinstance(value, str) and key == "unit_amount":
                value = format_unit_amount(Decimal(value), currency)
            out[key] = value
        return out

    result = one(properties)
    if isinstance(properties.get("tiers"), list):
        result["tiers"] = [one(tier) for tier in properties["tiers"]]
    return result


def _currency_of(field: serializers.Field, key: str | None) -> str | None:
    currency = field.context.get("currency")
    if currency is None and key:
        data = getattr(field.root, "initial_data", None)
        currency = data.get(key) if isinstance(data, Mapping) else None
    return currency.upper() if isinstance(currency, str) else None


class MoneyAmountInputField(serializers.DecimalField):
    """A money amount in: a decimal string (or JSON number), ≥ 0, with no more decimals than
    its currency has (`too_many_decimal_places`). The currency is the serializer context's
    "currency" (an object's, e.g. the invoice's) or the request's field named `currency`."""

    def __init__(self, *, currency: str | None = "currency", **kwargs):
        kwargs.setdefault("min_value", Decimal(0))
        kwargs.setdefault("help_text", "A decimal string; at most the currency's minor digits.")
        super().__init__(max_digits=MAX_AMOUNT_DIGITS, decimal_places=4, **kwargs)
        self.currency_key = currency

    def validate_precision(self, value):
        currency = _currency_of(self, self.currency_key)
        error = None if currency is None else money_places_error(value, currency)
        if error:
            raise serializers.ValidationError(error, code="too_many_decimal_places")
        return super().validate_precision(value)


def amount_field(**kwargs) -> MoneyAmountInputField:
    """A money amount in (see MoneyAmountInputField)."""
    return MoneyAmountInputField(**kwargs)
