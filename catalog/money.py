"""Currency precision: rounding to a currency's minor unit and converting to/from minor units.

Precision comes from ISO 4217 via py-moneyed (USD 2 places, JPY 0, KWD 3). Rounding is
ROUND_HALF_UP (halves go away from zero, also for negative amounts).
"""

from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from moneyed import CurrencyDoesNotExist, get_currency


@cache
def currency_precision(code: str) -> int:
    """Number of decimal places of the currency's minor unit (USD 2, JPY 0, KWD 3)."""
    try:
        sub_unit = get_currency(code).sub_unit
    except CurrencyDoesNotExist:
        raise ValueError(
            f"Unknown currency code {code!r}; use an ISO 4217 code such as USD."
        ) from None
    places = len(str(sub_unit)) - 1
    if sub_unit != 10**places:
        raise ValueError(f"Currency {code} has a minor unit that is not a power of ten.")
    return places


def round_money(amount: Decimal, currency: str) -> Decimal:
    """`amount` quantized to the currency's minor unit, ROUND_HALF_UP."""
    _check_decimal(amount)
    exponent = Decimal(1).scaleb(-currency_precision(currency))
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


def format_amount(amount: Decimal, currency: str) -> str:
    """A decimal string in the currency's precision: "49.00" USD, "4900" JPY, "12.500" KWD."""
    return format(round_money(amount, currency), "f")


def format_unit_amount(amount: Decimal, currency: str) -> str:
    """A unit amount (up to 12 places): trailing zeros dropped, but at least the currency's
    minor digits ("29.00", "0.0000125" USD; "5" JPY)."""
    _check_decimal(amount)
    places = currency_precision(currency)
    value = amount.normalize()
    if value.as_tuple().exponent > -places:
        value = value.quantize(Decimal(1).scaleb(-places))
    return format(value, "f")


def decimal_places(amount: Decimal) -> int:
    """Decimal places an amount really has ("1.50" has 1, "100" has 0)."""
    _check_decimal(amount)
    return max(0, -amount.normalize().as_tuple().exponent)


def money_places_error(amount: Decimal, currency: str) -> str | None:
    """Why `amount` is not an amount of `currency` (more decimals than its minor unit), or
    None when it fits. An unknown currency is left to the currency check."""
    try:
        places = currency_precision(currency)
    except ValueError:
        return None
    if decimal_places(amount) <= places:
        return None
    if places == 0:
        return f"{currency} amounts are whole numbers (no decimals)."
    return f"{currency} amounts have at most {places} decimal places."


def to_minor_units(amount: Decimal, currency: str) -> int:
    """12.50 USD -> 1250. The amount must already fit the currency's precision (round first)."""
    _check_decimal(amount)
    minor = amount.scaleb(currency_precision(currency))
    if minor != minor.to_integral_value():
        raise ValueError(
            f"{amount} has more decimal places than {currency} allows; round it first."
        )
    return int(minor)


def from_minor_units(value: int, currency: str) -> Decimal:
    """1250 USD -> Decimal("12.50"); 1250 JPY -> Decimal("1250")."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Minor units must be an int, not {type(value).__name__}.")
    return Decimal(value).scaleb(-currency_precision(currency))


def _check_decimal(amount: object) -> None:
    if not isinstance(amount, Decimal):
        raise TypeError(f"Amounts must be Decimal, not {type(amount).__name__}.")
    if not amount.is_finite():
        raise ValueError(f"Amounts must be finite, not {amount}.")
