"""Issue 13 §1 over the API: filters by id or code, naive timestamps refused, money with
more decimals than its currency refused, amounts answered in the currency's precision,
upcoming invoices of every charge model, an out-of-range event timestamp."""

import json
from datetime import UTC, datetime

import pytest
import time_machine

from billing.models import Invoice, UsageEvent
from billing.tests import factories
from billing.usage.tests.test_usage_api import charges
from catalog.tests.factories import metric as metric_create

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 1, 20, 12, tzinfo=UTC)
START = datetime(2027, 1, 15, tzinfo=UTC)
V1 = "/api/v1"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def post(client, url: str, body):
    return client.post(V1 + url, data=json.dumps(body), content_type="application/json")


def error_of(response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["field"]


def listed(client, url: str, key: str = "id", **params) -> list:
    response = client.get(V1 + url, params)
    assert response.status_code == 200, response.json()
    return [row[key] for row in response.json()["results"]]


@pytest.fixture
def metrics(db):
    return {
        "calls": metric_create("calls", "count"),
        "tokens": metric_create("tokens", "sum", "tokens"),
        "peak": metric_create("peak", "max", "gb"),
        "users": metric_create("users", "unique_count", "user"),
        "payments": metric_create("payments", "sum", "amount"),
    }


@pytest.fixture
def two(metrics):
    """acme and beta, each with a subscription (acme's to `pro`, beta's to `basic`)."""
    acme, beta = factories.customer("acme"), factories.customer("beta")
    pro = factories.plan("pro", "30.00", charges=charges(metrics))
    basic = factories.plan("basic", "10.00")
    subs = {
        "acme": factories.subscription(customer=acme, plan=pro, at=START, external_id="acme-1"),
        "beta": factories.subscription(customer=beta, plan=basic, at=START, external_id="beta-1"),
    }
    return {"acme": acme, "beta": beta, "pro": pro, "basic": basic, "subs": subs}


# --- 1. A filter that names an object takes its id or its code -------------------------


def test_subscriptions_and_invoices_filter_by_customer_id_or_external_id(api, two):
    acme, acme_sub = two["acme"], two["subs"]["acme"]
    for value in (str(acme.pk), "acme"):
        assert listed(api, "/subscriptions/", customer=value) == [acme_sub.pk]
    for value in (str(two["pro"].pk), "pro"):
        assert listed(api, "/subscriptions/", plan=value) == [acme_sub.pk]
    acme_invoices = list(Invoice.objects.filter(customer=acme).values_list("pk", flat=True))
    assert acme_invoices
    for value in (str(acme.pk), "acme"):
        assert sorted(listed(api, "/invoices/", customer=value)) == sorted(acme_invoices)
    for value in (str(acme_sub.pk), "acme-1"):
        assert sorted(listed(api, "/invoices/", subscription=value)) == sorted(acme_invoices)


@pytest.mark.parametrize("value", ["nobody", "999999", "²"])
def test_a_filter_naming_no_object_answers_an_empty_list(api, two, value):
    assert listed(api, "/subscriptions/", customer=value) == []
    assert listed(api, "/invoices/", customer=value) == []
    assert listed(api, "/subscriptions/", plan=value) == []


def test_payments_credit_notes_and_bank_transfers_filter_by_id_or_code(api, two):
    acme = two["acme"]
    invoice = Invoice.objects.get(customer=acme)
    paid = post(
        api, "/payments/received/", {"customer": "acme", "amount": "30.00", "currency": "USD"}
    )
    assert paid.status_code == 201, paid.json()
    payment = paid.json()["id"]
    for key, values in {
        "customer": (str(acme.pk), "acme"),
        "invoice": (str(invoice.pk), invoice.number),
    }.items():
        for value in values:
            assert listed(api, "/payments/", **{key: value}) == [payment]
    note = post(api, "/credit-notes/", {"invoice": invoice.number, "reason": "duplicate"})
    assert note.status_code == 201, note.json()
    for key, values in {
        "customer": (str(acme.pk), "acme"),
        "invoice": (str(invoice.pk), invoice.number),
    }.items():
        for value in values:
            assert listed(api, "/credit-notes/", **{key: value}) == [note.json()["id"]]
    transfer = post(
        api,
        "/bank-transfers/",
        {
            "bank_reference": "BANK-1",
            "amount": "5.00",
            "currency": "USD",
            "received_at": "2027-01-19T10:00:00Z",
            "remittance": "acme",
        },
    )
    assert transfer.status_code == 201, transfer.json()
    for value in (str(acme.pk), "acme"):
        assert listed(api, "/bank-transfers/", customer=value) == [transfer.json()["id"]]
    assert listed(api, "/bank-transfers/", customer="beta") == []


def test_discounts_and_usage_alerts_filter_by_id_or_code(api, two):
    acme, sub = two["acme"], two["subs"]["acme"]
    coupon = post(
        api,
        "/coupons/",
        {"code": "TEN", "name": "Ten", "kind": "percent", "percent_off": "10", "duration": "once"},
    )
    assert coupon.status_code == 201, coupon.json()
    discount = post(
        api, "/discounts/", {"coupon": "TEN", "customer": "acme", "subscription": "acme-1"}
    )
    assert discount.status_code == 201, discount.json()
    for key, values in {
        "customer": (str(acme.pk), "acme"),
        "coupon": (str(coupon.json()["id"]), "TEN"),
        "subscription": (str(sub.pk), "acme-1"),
    }.items():
        for value in values:
            assert listed(api, "/discounts/", **{key: value}) == [discount.json()["id"]]
    alert = post(
        api, "/usage-alerts/", {"subscription": "acme-1", "metric": "calls", "threshold": "10"}
    )
    assert alert.status_code == 201, alert.json()
    calls = two["pro"].charges.get(metric__code="calls").metric
    for key, values in {
        "subscription": (str(sub.pk), "acme-1"),
        "metric": (str(calls.pk), "calls"),
    }.items():
        for value in values:
            assert listed(api, "/usage-alerts/", **{key: value}) == [alert.json()["id"]]
    assert listed(api, "/usage-alerts/", subscription="beta-1") == []


def test_plans_filter_by_product_id_or_code(api):
    product = post(api, "/products/", {"code": "suite", "name": "Suite"}).json()
    plan = post(
        api, "/plans/", {"code": "p", "name": "P", "currency": "USD", "product": "suite"}
    ).json()
    post(api, "/plans/", {"code": "other", "name": "O", "currency": "USD"})
    for value in (str(product["id"]), "suite"):
        assert listed(api, "/plans/", product=value) == [plan["id"]]


# --- 2. Upcoming invoice and usage of every charge model -------------------------------


def usage_events() -> list[dict]:
    def event(tx, code, **properties):
        return {
            "transaction_id": tx,
            "subscription": "acme-1",
            "code": code,
            "timestamp": "2027-01-20T10:00:00Z",
            "properties": properties,
        }

    return [
        *(event(f"call-{i}", "calls") for i in range(7)),
        event("tok-1", "tokens", tokens="250.5"),
        event("gb-1", "peak", gb="12.5"),
        *(event(f"user-{i}", "users", user=f"u{i}") for i in range(8)),
        event("pay-1", "payments", amount="100"),
        event("pay-2", "payments", amount="33.33"),
    ]


def test_upcoming_invoice_prices_every_charge_model(api, two):
    response = post(api, "/events/batch/", {"events": usage_events()})
    assert response.json()["created"] == 19, response.json()
    upcoming = api.get(f"{V1}/subscriptions/acme-1/upcoming-invoice/")
    assert upcoming.status_code == 200, upcoming.content
    usage = {
        line["description"].split(" (")[1].split(")")[0]: line
        for line in upcoming.json()["lines"]
        if line["kind"] == "usage"
    }
    assert {
        model: (line["quantity"], line["unit_amount"], line["amount"])
        for model, line in usage.items()
    } == {  # noqa: E501
        "standard": ("7", "0.05", "0.35"),
        "graduated": ("250.5", "0.00", "2.75"),
        "volume": ("12.5", "0.00", "21.75"),
        "package": ("8", "0.00", "20.00"),
        "percentage": ("133.33", "0.00", "2.20"),
    }
    base = next(line for line in upcoming.json()["lines"] if line["kind"] == "subscription")
    assert (base["unit_amount"], base["amount"]) == ("30.00", "30.00")
    assert upcoming.json()["subtotal"] == "77.05"
    charged = api.get(f"{V1}/subscriptions/acme-1/usage/").json()["charges"]
    assert [(c["model"], c["amount"]) for c in charged] == [
        ("standard", "0.35"),
        ("graduated", "2.75"),
        ("volume", "21.75"),
        ("package", "20.00"),
        ("percentage", "2.20"),
    ]


# --- 3. An event timestamp out of range is that event's rejection only ----------------


def test_batch_with_a_timestamp_past_year_9999_rejects_only_that_event(api, two):
    events = usage_events()[:3]
    events[1]["timestamp"] = "9999-12-31T23:59:59-12:00"
    response = post(api, "/events/batch/", {"events": events})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["rejected"]) == (2, 1)
    assert body["results"][1]["error"]["code"] == "invalid_timestamp"
    assert set(UsageEvent.objects.values_list("transaction_id", flat=True)) == {
        "call-0",
        "call-2",
    }
    single = post(api, "/events/", {**events[1], "transaction_id": "one"})
    assert error_of(single) == (400, "invalid_timestamp", "timestamp")


# --- 4. Timestamps without an offset are refused everywhere ----------------------------

NAIVE = "2027-01-18T10:00:00"


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/subscriptions/", {"customer": "acme", "plan": "pro", "start_at": NAIVE}, "start_at"),
        ("/subscriptions/acme-1/cancel/", {"at": NAIVE}, "at"),
        ("/subscriptions/acme-1/change/", {"quantity": 2, "at": NAIVE}, "at"),
        ("/subscriptions/acme-1/pause/", {"at": NAIVE}, "at"),
        ("/subscriptions/acme-1/resume/", {"at": NAIVE}, "at"),
        ("/subscriptions/acme-1/undo-cancel/", {"at": NAIVE}, "at"),
        ("/subscriptions/acme-1/sla-credits/", {"period_at": NAIVE, "uptime": "99"}, "period_at"),
        ("/billing-runs/", {"as_of": NAIVE}, "as_of"),
        (
            "/bank-transfers/",
            {"bank_reference": "B", "amount": "1.00", "currency": "USD", "received_at": NAIVE},
            "received_at",
        ),
        (
            "/coupons/",
            {
                "code": "C",
                "name": "C",
                "kind": "percent",
                "percent_off": "5",
                "duration": "once",
                "redeem_by": NAIVE,
            },
            "redeem_by",
        ),
        (
            "/events/",
            {"transaction_id": "t", "subscription": "acme-1", "code": "calls", "timestamp": NAIVE},
            "timestamp",
        ),
    ],
)
def test_a_timestamp_without_an_offset_is_refused(api, two, url, body, field):
    response = post(api, url, body)
    assert error_of(response) == (400, "timezone_required", field)


def test_a_batch_event_without_an_offset_is_rejected(api, two):
    event = {"transaction_id": "t", "subscription": "acme-1", "code": "calls", "timestamp": NAIVE}
    result = post(api, "/events/batch/", {"events": [event]}).json()["results"][0]
    assert (result["status"], result["error"]["code"]) == ("rejected", "timezone_required")


def test_reconciliation_since_without_an_offset_is_refused(api):
    response = api.get(f"{V1}/reconciliation/", {"since": NAIVE})
    assert error_of(response) == (400, "timezone_required", "since")
    assert api.get(f"{V1}/reconciliation/", {"since": NAIVE + "Z"}).status_code == 200


def test_a_timestamp_with_an_offset_still_works(api, two):
    response = post(api, "/subscriptions/acme-1/cancel/", {"at": "2027-01-18T10:00:00+02:00"})
    assert response.status_code == 200, response.json()


# --- 5. Money with more decimals than its currency is refused --------------------------


def plan_body(currency="USD", **changes):
    return {"code": "p1", "name": "P1", "currency": currency, "amount": "10", **changes}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (plan_body("JPY", amount="10.5"), "amount"),
        (plan_body("USD", amount="1.001"), "amount"),
        (plan_body("KWD", amount="1.0005"), "amount"),
        (
            plan_body(
                "JPY",
                charges=[
                    {
                        "metric": "calls",
                        "model": "graduated",
                        "properties": {
                            "tiers": [
                                {"up_to": 10, "unit_amount": "1"},
                                {"up_to": None, "unit_amount": "1", "flat_amount": "0.5"},
                            ]
                        },
                    }
                ],
            ),
            "charges.0.properties.tiers.1.flat_amount",
        ),
        (
            plan_body(
                charges=[
                    {
                        "metric": "calls",
                        "model": "package",
                        "properties": {"package_size": 10, "amount": "1.005"},
                    }
                ]
            ),
            "charges.0.properties.amount",
        ),
        (
            plan_body(
                charges=[
                    {
                        "metric": "payments",
                        "model": "percentage",
                        "properties": {"rate": "1.5", "fixed_amount": "0.001"},
                    }
                ]
            ),
            "charges.0.properties.fixed_amount",
        ),
        (
            plan_body(
                charges=[
                    {
                        "metric": "payments",
                        "model": "percentage",
                        "properties": {"rate": "1", "per_event_min": "0.015"},
                    }
                ]
            ),
            "charges.0.properties.per_event_min",
        ),
        (
            plan_body(
                charges=[
                    {
                        "metric": "payments",
                        "model": "percentage",
                        "properties": {"rate": "1", "per_event_max": "9.999"},
                    }
                ]
            ),
            "charges.0.properties.per_event_max",
        ),
    ],
)
def test_plan_money_with_too_many_decimals_is_refused(api, metrics, body, field):
    response = post(api, "/plans/", body)
    assert error_of(response) == (400, "too_many_decimal_places", field)


def test_unit_amounts_may_have_twelve_decimals(api, metrics):
    body = plan_body(
        "JPY",
        amount="1000",
        charges=[
            {
                "metric": "calls",
                "model": "standard",
                "properties": {"unit_amount": "0.000000000125"},
            }
        ],
    )
    response = post(api, "/plans/", body)
    assert response.status_code == 201, response.json()
    assert response.json()["charges"][0]["properties"] == {"unit_amount": "0.000000000125"}


def test_other_money_inputs_refuse_too_many_decimals(api, two):
    update = api.patch(
        f"{V1}/plans/basic/", data=json.dumps({"amount": "9.999"}), content_type="application/json"
    )
    assert error_of(update) == (400, "too_many_decimal_places", "amount")
    addon = {"code": "a", "name": "A", "currency": "JPY", "amount": "0.5", "interval": "month"}
    assert error_of(post(api, "/addons/", addon)) == (400, "too_many_decimal_places", "amount")
    coupon = {
        "code": "F",
        "name": "F",
        "kind": "fixed",
        "amount_off": "5.5",
        "currency": "JPY",
        "duration": "once",
    }
    assert error_of(post(api, "/coupons/", coupon)) == (
        400,
        "too_many_decimal_places",
        "amount_off",
    )
    received = {"customer": "acme", "amount": "1.001", "currency": "USD"}
    assert error_of(post(api, "/payments/received/", received)) == (
        400,
        "too_many_decimal_places",
        "amount",
    )
    transfer = {
        "bank_reference": "B",
        "amount": "100.5",
        "currency": "JPY",
        "received_at": "2027-01-19T10:00:00Z",
    }
    assert error_of(post(api, "/bank-transfers/", transfer)) == (
        400,
        "too_many_decimal_places",
        "amount",
    )
    invoice = Invoice.objects.get(customer=two["acme"])
    paid = post(
        api, "/payments/received/", {"customer": "acme", "amount": "30.00", "currency": "USD"}
    ).json()
    assert error_of(post(api, f"/payments/{paid['id']}/refund/", {"amount": "1.001"})) == (
        400,
        "too_many_decimal_places",
        "amount",
    )
    line = invoice.lines.first()
    note = {
        "invoice": invoice.number,
        "reason": "other",
        "lines": [{"line": line.pk, "amount": "1.001"}],
    }  # noqa: E501
    assert error_of(post(api, "/credit-notes/", note)) == (
        400,
        "too_many_decimal_places",
        "lines.0.amount",
    )


# --- 6. Amounts in the currency's precision in every answer ----------------------------


@pytest.mark.parametrize(
    ("currency", "amount", "shown"),
    [("JPY", "1000", "1000"), ("USD", "29", "29.00"), ("KWD", "1.5", "1.500")],
)
def test_plan_and_addon_amounts_have_the_currency_digits(api, metrics, currency, amount, shown):
    tiers = [
        {"up_to": 10, "unit_amount": "2", "flat_amount": "1"},
        {"up_to": None, "unit_amount": "0.0000125"},
    ]
    body = plan_body(
        currency,
        amount=amount,
        charges=[{"metric": "calls", "model": "graduated", "properties": {"tiers": tiers}}],
    )
    plan = post(api, "/plans/", body).json()
    assert plan["amount"] == shown
    minor = shown.partition(".")[2]
    zero = "0" + ("." + "0" * len(minor) if minor else "")
    one = "1" + ("." + "0" * len(minor) if minor else "")
    two_units = "2" + ("." + "0" * len(minor) if minor else "")
    assert plan["charges"][0]["properties"]["tiers"] == [
        {"up_to": 10, "unit_amount": two_units, "flat_amount": one},
        {"up_to": None, "unit_amount": "0.0000125", "flat_amount": zero},
    ]
    addon = {"code": "a", "name": "A", "currency": currency, "amount": amount, "interval": "month"}
    assert post(api, "/addons/", addon).json()["amount"] == shown


def test_invoice_payment_and_credit_note_amounts_are_strings_in_precision(api, metrics):
    customer = factories.customer("yen", currency="JPY")
    plan = factories.plan("yen-plan", "1000", currency="JPY")
    factories.subscription(customer=customer, plan=plan, at=START)
    invoice = api.get(f"{V1}/invoices/", {"customer": "yen"}).json()["results"][0]
    assert {k: invoice[k] for k in ("subtotal", "total", "amount_due", "amount_paid")} == {
        "subtotal": "1000",
        "total": "1000",
        "amount_due": "1000",
        "amount_paid": "0",
    }
    assert (invoice["lines"][0]["unit_amount"], invoice["lines"][0]["amount"]) == ("1000", "1000")
    paid = post(
        api, "/payments/received/", {"customer": "yen", "amount": "1000", "currency": "JPY"}
    ).json()
    assert (paid["amount"], paid["amount_refunded"]) == ("1000", "0")
    assert paid["allocations"][0]["amount"] == "1000"
    note = post(api, "/credit-notes/", {"invoice": invoice["number"], "reason": "other"}).json()
    assert (note["total"], note["lines"][0]["amount"]) == ("1000", "1000")
