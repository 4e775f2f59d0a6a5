"""The shared fields of issue 13 §1: aware timestamps in, money in and out, the 413 answer,
and the schema declaring every money field as a string of its own."""

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.core.exceptions import RequestDataTooBig
from django.test import RequestFactory
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from api.errors import api_bad_request
from api.fields import AwareDateTimeField
from catalog.api.fields import MoneyAmountField, MoneyAmountInputField, UnitAmountField
from catalog.money import format_unit_amount, money_places_error

D = Decimal


class When(serializers.Serializer):
    at = AwareDateTimeField()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2027-01-31T12:00:00Z", datetime(2027, 1, 31, 12, tzinfo=UTC)),
        ("2027-01-31T13:00:00+01:00", datetime(2027, 1, 31, 12, tzinfo=UTC)),
        (
            datetime(2027, 1, 31, 12, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2027, 1, 31, 17, tzinfo=UTC),
        ),
    ],
)
def test_aware_timestamps_are_taken(value, expected):
    serializer = When(data={"at": value})
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data["at"] == expected


@pytest.mark.parametrize("value", ["2027-01-31T12:00:00", "2027-01-31 12:00", datetime(2027, 1, 1)])
def test_naive_timestamps_are_refused(value):
    serializer = When(data={"at": value})
    assert not serializer.is_valid()
    assert serializer.errors["at"][0].code == "timezone_required"


def test_a_timestamp_past_year_9999_is_a_field_error():
    serializer = When(data={"at": "9999-12-31T23:59:59-12:00"})
    assert not serializer.is_valid()
    assert serializer.errors["at"][0].code == "overflow"


class Price(serializers.Serializer):
    currency = serializers.CharField()
    amount = MoneyAmountInputField()


@pytest.mark.parametrize(
    ("currency", "amount", "ok"),
    [
        ("JPY", "10", True),
        ("JPY", "10.0", True),
        ("JPY", "10.5", False),
        ("USD", "1.00", True),
        ("USD", "1.001", False),
        ("usd", "1.001", False),
        ("KWD", "1.005", True),
        ("KWD", "1.0005", False),
        ("XYZ", "1.5", True),  # an unknown currency is the currency field's error
    ],
)
def test_money_in_refuses_more_decimals_than_the_currency(currency, amount, ok):
    serializer = Price(data={"currency": currency, "amount": amount})
    assert serializer.is_valid() is ok, serializer.errors
    if not ok:
        assert serializer.errors["amount"][0].code == "too_many_decimal_places"


def test_money_in_takes_the_currency_from_the_context():
    class Refund(serializers.Serializer):
        amount = MoneyAmountInputField()

    assert not Refund(data={"amount": "5.5"}, context={"currency": "JPY"}).is_valid()
    assert Refund(data={"amount": "5"}, context={"currency": "JPY"}).is_valid()


def test_money_places_error_words_the_rule():
    assert money_places_error(D("10.5"), "JPY") == "JPY amounts are whole numbers (no decimals)."
    assert money_places_error(D("1.001"), "USD") == "USD amounts have at most 2 decimal places."
    assert money_places_error(D("1.0100"), "USD") is None  # trailing zeros are no decimals
    assert money_places_error(D("1E+3"), "JPY") is None


class Row(serializers.Serializer):
    currency = serializers.CharField()
    amount = MoneyAmountField()
    unit_amount = UnitAmountField()


@pytest.mark.parametrize(
    ("currency", "amount", "unit", "shown", "unit_shown"),
    [
        ("USD", D("29.0000"), D("29.000000000000"), "29.00", "29.00"),
        ("USD", D("29"), D("0.000012500000"), "29.00", "0.0000125"),
        ("JPY", D("1000.0000"), D("1E+3"), "1000", "1000"),
        ("JPY", D("0"), D("0.5"), "0", "0.5"),
        ("KWD", D("1.5"), D("1.5"), "1.500", "1.500"),
        ("USD", D("-3.1"), D("2.125"), "-3.10", "2.125"),
    ],
)
def test_money_out_has_exactly_the_currency_digits(currency, amount, unit, shown, unit_shown):
    row = {"currency": currency, "amount": amount, "unit_amount": unit}
    assert Row(row).data == {"currency": currency, "amount": shown, "unit_amount": unit_shown}
    assert format_unit_amount(unit, currency) == unit_shown


def test_money_out_reads_a_dotted_currency_or_the_context():
    class Allocation(serializers.Serializer):
        amount = MoneyAmountField(currency="payment.currency")

    class Line(serializers.Serializer):
        amount = MoneyAmountField()

    payment = {"currency": "JPY"}
    assert Allocation({"amount": D("5.0000"), "payment": payment}).data == {"amount": "5"}
    assert Line({"amount": D("5")}, context={"currency": "KWD"}).data == {"amount": "5.000"}
    assert Line({"amount": 0}, context={"currency": "USD"}).data == {"amount": "0.00"}


# --- Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE: 413 in the error format -------------------


@pytest.mark.parametrize(
    "url", ["/api/v1/events/batch/", "/api/v1/customers/", "/api/v1/access/check"]
)
@pytest.mark.parametrize("idempotency", [False, True])
def test_a_body_over_the_limit_is_a_413_in_the_error_format(api, settings, url, idempotency):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"events": [{"transaction_id": "x" * 100}] * 200})
    headers = {"HTTP_IDEMPOTENCY_KEY": "big-1"} if idempotency else {}
    response = api.post(url, data=body, content_type="application/json", **headers)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "invalid_request"
    assert response.json()["error"]["code"] == "request_too_large"


def test_a_small_access_check_still_takes_the_fast_path(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"customer": "nobody", "feature": "sso"})
    response = api.post("/api/v1/access/check", data=body, content_type="application/json")
    assert response.status_code == 400  # no such customer: the full view words it
    assert response.json()["error"]["field"] == "customer"


def test_plain_api_views_answer_400_and_413_in_the_error_format():
    request = RequestFactory().post("/api/v1/access/check")
    too_big = api_bad_request(request, RequestDataTooBig("too big"))
    assert too_big.status_code == 413
    assert json.loads(too_big.content)["error"]["code"] == "request_too_large"
    other = api_bad_request(request, ValueError("x"))
    assert other.status_code == 400
    assert json.loads(other.content)["error"]["type"] == "invalid_request"


# --- The schema declares every money field, each a string ------------------------------


@pytest.fixture(scope="module")
def components():
    return SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]


@pytest.mark.parametrize(
    ("component", "fields"),
    [
        ("InvoiceOutput", ("subtotal", "discount", "tax", "total", "amount_paid", "amount_due")),
        ("InvoiceLineOutput", ("amount", "tax_amount", "unit_amount")),
        ("PaymentOutput", ("amount", "amount_refunded")),
        ("PaymentAllocationOutput", ("amount",)),
        ("RefundOutput", ("amount",)),
        ("CreditNoteOutput", ("total", "amount_due_reduction", "refund_amount", "credit_amount")),
        ("CreditNoteLineOutput", ("amount",)),
        ("PlanOutput", ("amount",)),
        ("AddOnOutput", ("amount",)),
        ("CouponOutput", ("amount_off",)),
        ("BankTransferOutput", ("amount",)),
        ("BalanceTransactionOutput", ("amount",)),
        ("CurrencyBalanceOutput", ("amount",)),
        ("SlaCreditOutput", ("amount",)),
        ("ChargeUsageOutput", ("amount",)),
        ("SubscriptionUsageOutput", ("total",)),
    ],
)
def test_money_fields_are_declared_as_strings(components, component, fields):
    properties = components[component]["properties"]
    for name in fields:
        assert properties[name]["type"] == "string", (component, name)
        assert properties[name]["pattern"], (component, name)
        assert "digits" in properties[name]["description"], (component, name)
