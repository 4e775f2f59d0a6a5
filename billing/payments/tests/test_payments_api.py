"""`/payments/` and `/customers/{id}/payment-methods/` over the API."""

from datetime import timedelta

import pytest

from billing.models import PaymentMethod, SandboxCharge, SandboxPaymentMethod
from billing.tests import factories
from billing.tests.payment_helpers import AT, card, customer_with_card, open_invoice
from customers.models import Customer

pytestmark = pytest.mark.django_db


def methods_url(customer):
    return f"/api/v1/customers/{customer.external_id}/payment-methods/"


def test_store_a_card_by_token_shows_display_data_only(api):
    customer = factories.customer()
    response = api.post(
        methods_url(customer), {"gateway": "sandbox", "token": "tok_visa"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "card"
    assert (body["brand"], body["last4"], body["is_default"]) == ("visa", "4242", True)
    assert "token" not in body
    assert body["label"] == "Visa •••• 4242 12/2034"
    second = api.post(
        methods_url(customer),
        {"gateway": "sandbox", "token": "tok_mastercard", "default": True},
        format="json",
    ).json()
    listed = api.get(methods_url(customer)).json()["results"]
    assert [m["id"] for m in listed if m["is_default"]] == [second["id"]]
    assert len(listed) == 2


def test_a_card_number_is_refused_and_nothing_is_stored(api):
    customer = factories.customer()
    response = api.post(
        methods_url(customer),
        {"gateway": "stripe", "token": "4242 4242 4242 4242"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "card_number_refused"
    unknown = api.post(
        methods_url(customer), {"gateway": "sandbox", "token": "tok_nope"}, format="json"
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"]["field"] == "token"
    assert PaymentMethod.objects.count() == 0


def test_the_sandbox_maps_a_published_test_number_to_a_token_and_keeps_only_last4(api):
    customer = factories.customer()
    response = api.post(
        methods_url(customer),
        {"gateway": "sandbox", "token": "4000 0000 0000 9995"},
        format="json",
    )
    assert response.status_code == 201
    method = PaymentMethod.objects.get()
    assert method.last4 == "9995"
    assert "4000000000009995" not in str(PaymentMethod.objects.values().get())
    assert "4000000000009995" not in str(SandboxPaymentMethod.objects.values().get())


def test_make_default_and_detach(api):
    customer, first = customer_with_card()
    second = card(customer, token="tok_mastercard", default=False)
    made = api.post(f"{methods_url(customer)}{second.pk}/default/")
    assert made.status_code == 200
    assert made.json()["is_default"] is True
    first.refresh_from_db()
    assert first.is_default is False
    detached = api.post(f"{methods_url(customer)}{second.pk}/detach/")
    assert detached.json()["status"] == "detached"
    assert [m["id"] for m in api.get(methods_url(customer)).json()["results"]] == [first.pk]
    other = factories.customer(external_id="other")
    assert api.post(f"{methods_url(other)}{first.pk}/default/").status_code == 404


def test_pay_an_invoice_and_list_its_payments(api):
    customer, _ = customer_with_card()
    invoice = open_invoice(customer, "12.50")
    response = api.post("/api/v1/payments/", {"invoice": invoice.number}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["amount"], body["currency"]) == ("succeeded", "12.50", "USD")
    assert body["invoice"] == invoice.number
    assert body["attempts"][0]["gateway"] == "sandbox"
    assert body["attempts"][0]["status"] == "succeeded"
    assert body["allocations"] == [
        {
            "invoice": invoice.number,
            "invoice_id": invoice.pk,
            "amount": "12.50",
            "created_at": body["allocations"][0]["created_at"],
        }
    ]
    listed = api.get(f"/api/v1/payments/?invoice={invoice.number}").json()["results"]
    assert [p["id"] for p in listed] == [body["id"]]
    assert api.get(f"/api/v1/invoices/{invoice.pk}/").json()["status"] == "paid"
    again = api.post("/api/v1/payments/", {"invoice": invoice.number}, format="json")
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "invoice_not_open"


def test_a_decline_is_a_failed_payment_with_its_code(api):
    customer, _ = customer_with_card(token="tok_chargeDeclinedExpiredCard")
    invoice = open_invoice(customer)
    body = api.post("/api/v1/payments/", {"invoice": invoice.pk}, format="json").json()
    assert (body["status"], body["failure_code"]) == ("failed", "expired_card")


def test_pay_with_another_method_of_the_customer_only(api):
    customer, _ = customer_with_card(token="tok_chargeDeclined")
    good = card(customer, token="tok_visa", default=False)
    stranger, theirs = customer_with_card(external_id="stranger")
    invoice = open_invoice(customer)
    refused = api.post(
        "/api/v1/payments/", {"invoice": invoice.pk, "payment_method": theirs.pk}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "payment_method"
    paid = api.post(
        "/api/v1/payments/", {"invoice": invoice.pk, "payment_method": good.pk}, format="json"
    )
    assert paid.json()["status"] == "succeeded"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "invoice"),
        ({"invoice": "INV-nope"}, "invoice"),
        ({"invoice": "1", "extra": 1}, "extra"),
        ({"invoice": "1", "payment_method": 0}, "payment_method"),
    ],
)
def test_bad_payment_requests_are_400_and_change_nothing(api, body, field):
    response = api.post("/api/v1/payments/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert SandboxCharge.objects.count() == 0


def test_refund_then_refresh_a_3ds_payment(api):
    customer, _ = customer_with_card()
    paid = api.post(
        "/api/v1/payments/", {"invoice": open_invoice(customer, "30.00").pk}, format="json"
    ).json()
    refund = api.post(
        f"/api/v1/payments/{paid['id']}/refund/",
        {"amount": "5.00", "reason": "goodwill"},
        format="json",
    )
    assert refund.status_code == 201
    assert (refund.json()["status"], refund.json()["amount"]) == ("succeeded", "5.00")
    payment = api.get(f"/api/v1/payments/{paid['id']}/").json()
    assert (payment["status"], payment["amount_refunded"]) == ("partially_refunded", "5.00")
    too_much = api.post(
        f"/api/v1/payments/{paid['id']}/refund/", {"amount": "99.00"}, format="json"
    )
    assert too_much.status_code == 400
    assert api.post(f"/api/v1/payments/{paid['id']}/refresh/").status_code == 422


def test_record_money_received_across_invoices_with_the_rest_to_the_balance(api):
    customer = factories.customer()
    first, second = open_invoice(customer, "10.00"), open_invoice(customer, "15.00")
    response = api.post(
        "/api/v1/payments/received/",
        {
            "customer": customer.external_id,
            "amount": "30.00",
            "currency": "USD",
            "invoices": [second.number, first.number],
            "reference": "cheque 1001",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [(a["invoice"], a["amount"]) for a in body["allocations"]] == [
        (second.number, "15.00"),
        (first.number, "10.00"),
    ]
    balance = api.get(f"/api/v1/balances/?customer={customer.external_id}").json()
    assert balance["balances"] == [{"currency": "USD", "amount": "5.00"}]
    partial = api.post(
        "/api/v1/payments/received/",
        {"customer": customer.external_id, "amount": "4.001", "currency": "USD"},
        format="json",
    )
    assert partial.status_code == 400


def test_review_approve_and_reject_over_the_api(api):
    customer, _ = customer_with_card(token="tok_gb")
    Customer.objects.filter(pk=customer.pk).update(country="US", created_at=AT - timedelta(days=90))
    held = api.post(
        "/api/v1/payments/", {"invoice": open_invoice(customer).pk}, format="json"
    ).json()
    assert held["status"] == "review"
    assert held["attempts"][0]["code"] == "card_country"
    approved = api.post(f"/api/v1/payments/{held['id']}/approve/").json()
    assert approved["status"] == "succeeded"
    assert api.post(f"/api/v1/payments/{held['id']}/reject/").status_code == 422


def test_reading_needs_only_the_read_scope_and_writing_the_write_scope(read_only_api):
    customer, _ = customer_with_card()
    invoice = open_invoice(customer)
    assert read_only_api.get("/api/v1/payments/").status_code == 200
    assert read_only_api.get(methods_url(customer)).status_code == 200
    response = read_only_api.post("/api/v1/payments/", {"invoice": invoice.pk}, format="json")
    assert response.status_code == 403
