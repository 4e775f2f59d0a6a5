"""API.md § Payments over HTTP: payment methods, charges with the sandbox's test tokens,
automatic collection of the first invoice, `incomplete` after a declined first charge."""

import pytest

from api.tests.contract import helpers as h
from api.tests.contract.helpers import assert_error


@pytest.fixture
def open_invoice(api):
    """An open invoice of 30.00 and no payment method yet (so nothing collects it)."""
    h.plan(api, "pro", amount="30.00")
    h.customer(api, "acme")
    h.subscribe(api, "acme", "pro")
    (invoice,) = h.invoices_of(api, "acme", status="open")
    return invoice


def test_a_card_is_stored_as_a_gateway_token(api):
    """ "`POST /customers/{id}/payment-methods/` `{gateway, token, default}` stores a card or
    bank account as a gateway token"."""
    h.customer(api, "acme")
    visa = h.card(api, "acme", "tok_visa")
    assert (visa["brand"], visa["last4"], visa["is_default"]) == ("visa", "4242", True)
    master = h.card(api, "acme", "tok_mastercard", default=False)
    assert (master["brand"], master["is_default"]) == ("mastercard", False)
    listed = api.ok("GET", "customers/acme/payment-methods/")["results"]
    assert {m["id"] for m in listed} == {visa["id"], master["id"]}


@pytest.mark.parametrize("token", ["tok_visa", "tok_mastercard"])
def test_a_payment_charges_an_open_invoice(api, open_invoice, token):
    """ "`POST /payments/` `{invoice, payment_method?}` charges an open invoice …; `tok_visa`,
    `tok_mastercard` succeed"; "`GET /payments/?invoice=`"."""
    method = h.card(api, "acme", token, default=False)
    body = {"invoice": open_invoice["number"], "payment_method": method["id"]}
    payment = api.ok("POST", "payments/", body, 201)
    assert (payment["status"], payment["amount"], payment["currency"]) == (
        "succeeded",
        "30.00",
        "USD",
    )
    assert payment["invoice"] == open_invoice["number"]
    invoice = api.ok("GET", f"invoices/{open_invoice['id']}/")
    assert (invoice["status"], invoice["amount_paid"], invoice["amount_due"]) == (
        "paid",
        "30.00",
        "0.00",
    )
    listed = api.ok("GET", "payments/", invoice=open_invoice["number"])["results"]
    assert [p["id"] for p in listed] == [payment["id"]]


DECLINES = {
    "tok_chargeDeclined": "generic_decline",
    "tok_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "tok_chargeDeclinedExpiredCard": "expired_card",
    "tok_chargeDeclinedFraudulent": "fraudulent",
}


def test_declined_cards_decline_with_their_reason(api):
    """ "`tok_chargeDeclined`, `tok_chargeDeclinedInsufficientFunds`,
    `tok_chargeDeclinedExpiredCard`, `tok_chargeDeclinedFraudulent` decline with that
    reason" (one customer each: repeated declines of one invoice are held as card testing)."""
    h.plan(api, "pro", amount="30.00")
    for n, (token, reason) in enumerate(DECLINES.items()):
        h.customer(api, f"c{n}")
        h.subscribe(api, f"c{n}", "pro")
        (invoice,) = h.invoices_of(api, f"c{n}", status="open")
        method = h.card(api, f"c{n}", token, default=False)
        body = {"invoice": invoice["number"], "payment_method": method["id"]}
        payment = api.ok("POST", "payments/", body, 201)
        assert (payment["status"], payment["failure_code"]) == ("failed", reason), token
        assert api.ok("GET", f"invoices/{invoice['id']}/")["status"] == "open"


def test_a_processing_error_is_a_gateway_error(api, open_invoice):
    """ "`tok_chargeDeclinedProcessingError` is a gateway error (failover applies)"."""
    method = h.card(api, "acme", "tok_chargeDeclinedProcessingError", default=False)
    body = {"invoice": open_invoice["number"], "payment_method": method["id"]}
    payment = api.ok("POST", "payments/", body, 201)
    assert payment["status"] != "succeeded"
    assert payment["failure_code"] == "gateway_error"
    assert api.ok("GET", f"invoices/{open_invoice['id']}/")["status"] == "open"


def test_a_paid_invoice_is_not_charged_again(api, open_invoice):
    """ "charges an open invoice": a paid one is refused (422)."""
    method = h.card(api, "acme", default=False)
    body = {"invoice": open_invoice["number"], "payment_method": method["id"]}
    api.ok("POST", "payments/", body, 201)
    again = api.post("payments/", body)
    assert_error(again, 422, "state")
    assert len(api.ok("GET", "payments/", invoice=open_invoice["id"])["results"]) == 1


def test_the_first_invoice_is_collected_at_once_from_the_default_method(api, worker):
    """ "a finalized invoice is charged automatically to the customer's default payment method
    when there is one" and "The first invoice of a new subscription is finalized and collected
    at once (like a checkout)"."""
    h.plan(api, "pro", amount="30.00")
    h.customer(api, "acme")
    h.card(api, "acme", "tok_visa")
    sub = h.subscribe(api, "acme", "pro")
    (invoice,) = h.invoices_of(api, "acme")
    assert invoice["status"] in {"open", "paid"}
    h.wait_for(
        lambda: api.ok("GET", f"invoices/{invoice['id']}/")["status"] == "paid",
        what="the first invoice to be collected",
    )
    (payment,) = api.ok("GET", "payments/", invoice=invoice["id"])["results"]
    assert (payment["status"], payment["source"]) == ("succeeded", "automatic")
    assert api.ok("GET", f"subscriptions/{sub['id']}/")["status"] == "active"


def test_without_a_method_the_invoice_waits_open(api, open_invoice):
    """ "otherwise it waits, open, for a payment or a transfer"."""
    assert open_invoice["status"] == "open"
    assert api.ok("GET", "payments/", invoice=open_invoice["id"])["results"] == []


def test_a_declined_first_charge_is_incomplete_without_access_until_paid(api, worker):
    """ "`incomplete` (its first automatic charge failed: no access until it is paid …)"."""
    h.feature(api, "sso")
    h.plan(api, "pro", amount="30.00", entitlements=[{"feature": "sso", "value": True}])
    h.customer(api, "acme")
    h.card(api, "acme", "tok_chargeDeclined")
    sub = h.subscribe(api, "acme", "pro")
    url = f"subscriptions/{sub['id']}/"
    h.wait_for(
        lambda: api.ok("GET", url)["status"] == "incomplete",
        what="the subscription to be incomplete",
    )
    check = {"customer": "acme", "feature": "sso"}
    h.wait_for(
        lambda: api.ok("POST", "access/check", check)["allowed"] is False,
        timeout=10,
        what="access to be withheld from the incomplete subscription",
    )
    (invoice,) = h.invoices_of(api, "acme")
    assert invoice["status"] == "open"

    good = h.card(api, "acme", "tok_visa", default=False)
    body = {"invoice": invoice["id"], "payment_method": good["id"]}
    assert api.ok("POST", "payments/", body, 201)["status"] == "succeeded"
    assert api.ok("GET", url)["status"] == "active"
    assert api.ok("POST", "access/check", check)["allowed"] is True
