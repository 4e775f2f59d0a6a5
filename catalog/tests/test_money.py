"""Currency precision helpers; plain functions, no database."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.money import (
    currency_precision,
    format_amount,
    from_minor_units,
    round_money,
    to_minor_units,
)

FAST = settings(max_examples=200, deadline=None, database=None)
CURRENCIES = st.sampled_from(["USD", "EUR", "JPY", "KWD", "CLF"])


@pytest.mark.parametrize(
    ("code", "places"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3), ("CLF", 4)]
)
def test_currency_precision(code, places):
    assert currency_precision(code) == places


@pytest.mark.parametrize("code", ["ZZZ", "usd", "", "EURO"])
def test_unknown_currency_is_value_error(code):
    with pytest.raises(ValueError, match="Unknown currency"):
        currency_precision(code)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1234.5", "JPY", "1235"),  # half up at 0 places
        ("1234.4999", "JPY", "1234"),
        ("1.2345", "KWD", "1.235"),  # half up at 3 places
        ("1.2344", "KWD", "1.234"),
        ("2.675", "USD", "2.68"),
        ("-2.675", "USD", "-2.68"),  # halves go away from zero
        ("12.5", "USD", "12.50"),  # pads to the currency's places
        ("12.5", "KWD", "12.500"),
        ("0.0000125", "USD", "0.00"),
    ],
)
def test_round_money(amount, currency, expected):
    result = round_money(Decimal(amount), currency)
    assert isinstance(result, Decimal)
    assert str(result) == expected


def test_round_money_rejects_float():
    with pytest.raises(TypeError):
        round_money(12.5, "USD")


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [("49", "USD", "49.00"), ("4900", "JPY", "4900"), ("12.5", "KWD", "12.500")],
)
def test_format_amount(amount, currency, expected):
    assert format_amount(Decimal(amount), currency) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.50", "USD", 1250),
        ("12.5000", "USD", 1250),  # trailing zeros of a 4-place column are fine
        ("1235", "JPY", 1235),
        ("1.235", "KWD", 1235),
        ("0", "USD", 0),
        ("-3.10", "EUR", -310),
    ],
)
def test_minor_units(amount, currency, minor):
    assert to_minor_units(Decimal(amount), currency) == minor
    assert from_minor_units(minor, currency) == Decimal(amount)


def test_from_minor_units_keeps_currency_places():
    assert str(from_minor_units(1250, "USD")) == "12.50"
    assert str(from_minor_units(1235, "KWD")) == "1.235"
    assert str(from_minor_units(500, "JPY")) == "500"


def test_to_minor_units_refuses_to_round():
    with pytest.raises(ValueError, match="round it first"):
        to_minor_units(Decimal("12.345"), "USD")
    with pytest.raises(ValueError, match="round it first"):
        to_minor_units(Decimal("0.5"), "JPY")


def test_minor_units_reject_wrong_types():
    with pytest.raises(TypeError):
        to_minor_units(12.5, "USD")
    with pytest.raises(TypeError):
        from_minor_units(Decimal("1250"), "USD")
    with pytest.raises(TypeError):
        from_minor_units(True, "USD")


@FAST
@given(value=st.integers(min_value=-(10**15), max_value=10**15), currency=CURRENCIES)
def test_minor_units_round_trip_from_int(value, currency):
    amount = from_minor_units(value, currency)
    assert isinstance(amount, Decimal)
    assert to_minor_units(amount, currency) == value


@FAST
@given(
    amount=st.decimals(
        min_value=-(10**9), max_value=10**9, places=6, allow_nan=False, allow_infinity=False
    ),
    currency=CURRENCIES,
)
def test_minor_units_round_trip_from_rounded_amount(amount, currency):
    rounded = round_money(amount, currency)
    assert abs(rounded - amount) <= Decimal(1).scaleb(-currency_precision(currency)) / 2
    assert round_money(rounded, currency) == rounded
    assert from_minor_units(to_minor_units(rounded, currency), currency) == rounded
