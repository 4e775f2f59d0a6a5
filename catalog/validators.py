"""Validators for codes shared by every app: currencies, countries, time zones."""

import zoneinfo
from decimal import Decimal
from functools import cache

from babel import Locale
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from moneyed import CURRENCIES

from catalog.money import money_places_error

# Babel's territories include regions that are not ISO 3166-1 countries.
_NOT_COUNTRIES = {"EA", "EU", "EZ", "IC", "QO", "UN", "XA", "XB", "XK", "ZZ"}

code_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$",
    "Use letters, digits, '-', '_' and '.', starting with a letter or digit (at most 100).",
    code="invalid_code",
)


@cache
def country_codes() -> frozenset[str]:
    territories = Locale("en").territories
    return frozenset(
        c for c in territories if len(c) == 2 and c.isalpha() and c not in _NOT_COUNTRIES
    )


@cache
def timezone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_currency(value: str) -> None:
    if value not in CURRENCIES or value in {"XXX", "XTS"}:
        raise ValidationError(
            "%(value)s is not an ISO 4217 currency code (e.g. USD, EUR, JPY).",
            code="invalid_currency",
            params={"value": value},
        )


def validate_country(value: str) -> None:
    if value not in country_codes():
        raise ValidationError(
            "%(value)s is not an ISO 3166-1 alpha-2 country code (e.g. US, DE).",
            code="invalid_country",
            params={"value": value},
        )


def validate_timezone(value: str) -> None:
    if value not in timezone_names():
        raise ValidationError(
            "%(value)s is not an IANA time zone (e.g. Europe/Berlin).",
            code="invalid_timezone",
            params={"value": value},
        )


def validate_money_places(amount, currency: str, field: str = "amount") -> None:
    """Refuses an amount with more decimals than its currency has (JPY 10.5, USD 1.001):
    a ValidationError on `field`, code `too_many_decimal_places`. Every place money enters
    uses this (the API's MoneyAmountInputField gives the same error earlier)."""
    error = money_places_error(amount, currency) if isinstance(amount, Decimal) else None
    if error:
        raise ValidationError({field: ValidationError(error, code="too_many_decimal_places")})
