"""The Stripe adapter against the local Stripe stub (no network): customers, stored methods,
off-session charges and every outcome, lost replies, status lookups, refunds, reconciliation;
then the same through the payment services."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from djstripe.models import Customer as StripeCustomer

from billing.models import Gateway, InvoiceStatus
from billing.payments.gateways.base import ChargeRequest, GatewayError, Outcome
from billing.payments.gateways.stripe import StripeAdapter
from billing.payments.services import payments, reconciliation, refunds
from billing.tests import factories, payment_helpers
from billing.tests.stripe_stub import stripe_stub_running

pytestmark = pytest.mark.django_db
CARD_NUMBER = re.compile(r"(?<!\d)\d{13,19}(?!\d)")
ACH = "pm_fakeusbankaccount0001"
SEPA = "pm_fakesepadebit00000001"


@pytest.fixture
def stub(settings, monkeypatch):
    with stripe_stub_running(settings, monkeypatch, hang_seconds=1.0) as stub:
        yield stub
    sent = [f"{r.path}?{r.query} {r.body}" for r in stub.requests]
    assert not [s for s in sent if CARD_NUMBER.search(s)], "a card number was sent"


@pytest.fixture
def adapter(stub):
    return StripeAdapter({"timeout": 0.4, "max_network_retries": 0})


@pytest.fixture
def card(adapter):
    customer = adapter.customer_setup(customer_id=7, email="ann@example.com", name="Ann")
    return customer, adapter.payment_method_store(gateway_customer_id=customer, token="tok_visa")


def charge_request(card, amount="12.50", currency="USD", key="pay_1_attempt_1", **kwargs):
    customer, method = card
    return ChargeRequest(
        idempotency_key=key,
        amount=Decimal(amount),
        currency=currency,
        method_token=method.token,
        method_kind=method.kind,
        gateway_customer_id=customer,
        description="Invoice INV-1",
        metadata={"payment": "1", "invoice": "9"},
        **kwargs,
    )


def test_available_with_the_secret_key_of_the_mode(settings, stub):
    assert StripeAdapter().available()
    settings.STRIPE_LIVE_MODE = True
    settings.STRIPE_LIVE_SECRET_KEY = ""
    assert not StripeAdapter().available()


def test_customer_created_once_with_our_id_and_mirrored_in_dj_stripe(adapter, stub):
    customer_id = adapter.customer_setup(customer_id=7, email="ann@example.com", name="Ann")
    [created] = stub.calls("POST", "/v1/customers")
    assert created.form["metadata[customer_id]"] == "7"
    assert created.form["email"] == "ann@example.com"
    assert created.idempotency_key == "customer-7"
    assert StripeCustomer.objects.get(id=customer_id).email == "ann@example.com"
    again = adapter.customer_setup(customer_id=7, email="ann@example.com", name="Ann")
    assert again == customer_id  # found in dj-stripe's mirror
    StripeCustomer.objects.all().delete()
    assert adapter.customer_setup(customer_id=7, email="a@b.c", name="A") == customer_id  # search
    assert len(stub.calls("POST", "/v1/customers")) == 1


def test_card_token_becomes_an_attached_payment_method_with_display_data_only(card, stub):
    customer, method = card
    [created] = stub.calls("POST", "/v1/payment_methods")
    assert created.form == {"type": "card", "card[token]": "tok_visa"}
    [attach] = [r for r in stub.requests if r.path.endswith("/attach")]
    assert attach.path == f"/v1/payment_methods/{method.token}/attach"
    assert attach.form == {"customer": customer}
    assert method.token.startswith("pm_")
    assert method.kind == "card"
    assert (method.brand, method.last4, method.exp_month, method.exp_year) == (
        "visa",
        "4242",
        12,
        2034,
    )
    assert method.country == "US"
    assert method.fingerprint


@pytest.mark.parametrize(
    ("token", "kind", "bank", "country", "last4"),
    [
        (ACH, "us_bank_account", "STRIPE TEST BANK", "US", "6789"),
        (SEPA, "sepa_debit", "37040044", "DE", "3000"),
    ],
)
def test_bank_debit_methods_keep_bank_and_last4(adapter, stub, token, kind, bank, country, last4):
    method = adapter.payment_method_store(gateway_customer_id="cus_x", token=token)
    assert (method.kind, method.bank_name, method.country, method.last4) == (
        kind,
        bank,
        country,
        last4,
    )
    assert method.brand == ""
    assert method.exp_year is None
    assert stub.objects[token]["customer"] == "cus_x"


def test_setup_intent_for_elements_then_its_payment_method_is_stored(adapter, stub):
    secret = adapter.setup_intent_create(gateway_customer_id="cus_x", kinds=["card", "sepa_debit"])
    [created] = stub.calls("POST", "/v1/setup_intents")
    assert created.form["payment_method_types[0]"] == "card"
    assert created.form["payment_method_types[1]"] == "sepa_debit"
    assert created.form["usage"] == "off_session"
    assert created.form["customer"] == "cus_x"
    setup_intent = secret.split("_secret_")[0]
    with pytest.raises(GatewayError) as not_done:
        adapter.payment_method_store(gateway_customer_id="cus_x", token=setup_intent)
    assert not_done.value.code == "setup_incomplete"
    stub.setup_intent_confirm(setup_intent, SEPA)  # the browser, with Stripe.js
    method = adapter.payment_method_store(gateway_customer_id="cus_x", token=setup_intent)
    assert (method.token, method.kind) == (SEPA, "sepa_debit")
    assert not [r for r in stub.requests if r.path.endswith("/attach")]  # attached already


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("tok_chargeDeclined", "generic_decline"),
        ("tok_nope", "resource_missing"),
        ("4242424242424242", "invalid_token"),  # a card number is refused before any call
    ],
)
def test_refused_tokens_raise_gateway_errors(adapter, stub, token, code):
    with pytest.raises(GatewayError) as refused:
        adapter.payment_method_store(gateway_customer_id="cus_x", token=token)
    assert refused.value.code == code


def test_a_method_of_another_customer_is_refused(adapter, stub):
    stub.objects[ACH]["customer"] = "cus_someone_else"
    with pytest.raises(GatewayError):
        adapter.payment_method_store(gateway_customer_id="cus_x", token=ACH)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("12.50", "USD", 1250), ("1250", "JPY", 1250), ("1.250", "KWD", 1250)],
)
def test_charge_off_session_in_minor_units(adapter, card, stub, amount, currency, minor):
    result = adapter.charge(charge_request(card, amount, currency))
    [sent] = stub.calls("POST", "/v1/payment_intents")
    assert sent.form["amount"] == str(minor)
    assert sent.form["currency"] == currency.lower()
    assert sent.form["off_session"] == "true"
    assert sent.form["confirm"] == "true"
    assert sent.form["payment_method"] == card[1].token
    assert sent.form["customer"] == card[0]
    assert sent.idempotency_key == "pay_1_attempt_1"
    assert sent.form["metadata[idempotency_key]"] == "pay_1_attempt_1"
    assert (sent.form["metadata[payment]"], sent.form["metadata[invoice]"]) == ("1", "9")
    assert result.outcome == Outcome.SUCCEEDED
    assert result.reference.startswith("pi_")
    assert result.amount == Decimal(amount)
    assert result.risk_level == "normal"
    assert set(result.raw) <= {"id", "status", "latest_charge", "code", "decline_code"}


def test_radar_risk_level_comes_back(adapter, card, stub):
    stub.script("POST /v1/payment_intents", "succeeded", risk_level="elevated")
    assert adapter.charge(charge_request(card)).risk_level == "elevated"


def test_bank_debits_are_processing(adapter, stub):
    stub.script("POST /v1/payment_intents", "processing")
    request = ChargeRequest("k1", Decimal("30.00"), "EUR", SEPA, "sepa_debit", "cus_x")
    result = adapter.charge(request)
    assert result.outcome == Outcome.PROCESSING
    assert result.amount == Decimal("30.00")
    assert stub.calls("POST", "/v1/payment_intents")[0].form["payment_method_types[0]"] == (
        "sepa_debit"
    )


def test_requires_action_carries_the_next_action(adapter, card, stub):
    stub.script("POST /v1/payment_intents", "requires_action")
    result = adapter.charge(charge_request(card))
    assert result.outcome == Outcome.REQUIRES_ACTION
    assert result.next_action == {"type": "use_stripe_sdk", "payment_intent": result.reference}
    assert adapter.intent_client_secret(result.reference).startswith(result.reference)


@pytest.mark.parametrize(
    ("behaviour", "outcome", "code"),
    [
        ("card_declined", Outcome.DECLINED, "insufficient_funds"),
        ("processing_error", Outcome.ERROR, "processing_error"),
        ("authentication_required", Outcome.REQUIRES_ACTION, "authentication_required"),
        ("server_error", Outcome.ERROR, "APIError"),
        ("rate_limited", Outcome.ERROR, "rate_limit"),
        ("unauthorized", Outcome.ERROR, "AuthenticationError"),
    ],
)
def test_failures_map_to_outcomes(adapter, card, stub, behaviour, outcome, code):
    stub.script("POST /v1/payment_intents", behaviour)
    result = adapter.charge(charge_request(card))
    assert (result.outcome, result.code) == (outcome, code)
    if behaviour in ("card_declined", "processing_error"):
        assert result.reference.startswith("pi_")
        assert result.message
        assert result.raw["status"] == "requires_payment_method"


def test_a_lost_reply_is_unknown_and_the_status_is_found_by_idempotency_key(adapter, card, stub):
    stub.script("POST /v1/payment_intents", "hang")
    result = adapter.charge(charge_request(card, key="pay_2_attempt_1"))
    assert (result.outcome, result.reference) == (Outcome.UNKNOWN, "")
    status = adapter.charge_status(idempotency_key="pay_2_attempt_1")
    assert status.outcome == Outcome.SUCCEEDED
    assert status.amount == Decimal("12.50")
    [search] = stub.calls("GET", "/v1/payment_intents/search")
    assert search.query["query"] == "metadata['idempotency_key']:'pay_2_attempt_1'"


def test_search_lag_falls_back_to_the_list_of_recent_intents(adapter, card, stub):
    adapter.charge(charge_request(card, key="pay_3_attempt_1"))
    stub.search_lag = True
    assert adapter.charge_status(idempotency_key="pay_3_attempt_1").outcome == Outcome.SUCCEEDED
    assert stub.calls("GET", "/v1/payment_intents")
    assert adapter.charge_status(idempotency_key="never_sent").outcome == Outcome.NOT_FOUND


def test_a_retry_sends_the_same_idempotency_key_and_charges_once(stub, card):
    stub.script("POST /v1/payment_intents", "server_error")
    adapter = StripeAdapter({"timeout": 2, "max_network_retries": 1})
    result = adapter.charge(charge_request(card, key="pay_4_attempt_1"))
    sent = stub.calls("POST", "/v1/payment_intents")
    assert [r.idempotency_key for r in sent] == ["pay_4_attempt_1"] * 2
    assert result.outcome == Outcome.SUCCEEDED
    replay = adapter.charge(charge_request(card, key="pay_4_attempt_1"))  # Stripe replays
    assert replay.reference == result.reference
    assert len([o for o in stub.objects.values() if o["object"] == "payment_intent"]) == 1


def test_charge_status_by_reference(adapter, card, stub):
    stub.script("POST /v1/payment_intents", "card_declined", decline_code="expired_card")
    declined = adapter.charge(charge_request(card))
    status = adapter.charge_status(idempotency_key="x", reference=declined.reference)
    assert (status.outcome, status.code) == (Outcome.DECLINED, "expired_card")
    assert adapter.charge_status(idempotency_key="x", reference="pi_nope").outcome == (
        Outcome.NOT_FOUND
    )
    stub.script(f"GET /v1/payment_intents/{declined.reference}", "server_error")
    lookup_failed = adapter.charge_status(idempotency_key="x", reference=declined.reference)
    assert lookup_failed.outcome == Outcome.UNKNOWN


def test_refunds_in_minor_units_once_per_key(adapter, card, stub):
    charged = adapter.charge(charge_request(card, "1250", "JPY"))
    kwargs = {"reference": charged.reference, "currency": "JPY"}
    part = adapter.refund(idempotency_key="refund_1", amount=Decimal("250"), **kwargs)
    [sent] = stub.calls("POST", "/v1/refunds")
    assert (sent.form["amount"], sent.form["payment_intent"]) == ("250", charged.reference)
    assert sent.idempotency_key == "refund_1"
    assert part.outcome == Outcome.SUCCEEDED
    assert part.reference.startswith("re_")
    again = adapter.refund(idempotency_key="refund_1", amount=Decimal("250"), **kwargs)
    assert again.reference == part.reference
    too_much = adapter.refund(idempotency_key="refund_2", amount=Decimal("1001"), **kwargs)
    assert too_much.outcome == Outcome.DECLINED
    assert "amount_too_large" in too_much.message
    stub.script("POST /v1/refunds", "hang")
    lost = adapter.refund(idempotency_key="refund_3", amount=Decimal("1"), **kwargs)
    assert lost.outcome == Outcome.UNKNOWN


def test_charges_since_for_reconciliation(adapter, card, stub):
    adapter.charge(charge_request(card, key="pay_5_attempt_1"))
    stub.script("POST /v1/payment_intents", "card_declined")
    adapter.charge(charge_request(card, "3.000", "KWD", key="pay_6_attempt_1"))
    charges = adapter.charges_list(since=datetime(2020, 1, 1, tzinfo=UTC))
    by_key = {c.idempotency_key: c for c in charges}
    assert by_key["pay_5_attempt_1"].status == Outcome.SUCCEEDED
    assert by_key["pay_5_attempt_1"].amount == Decimal("12.50")
    assert by_key["pay_5_attempt_1"].currency == "USD"
    assert by_key["pay_6_attempt_1"].status == Outcome.DECLINED
    assert by_key["pay_6_attempt_1"].amount == Decimal("3.000")
    assert by_key["pay_5_attempt_1"].created_at.tzinfo is not None
    [listed] = stub.calls("GET", "/v1/payment_intents")
    assert int(listed.query["created[gte]"]) == int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())


# Through the payment services (the Stripe gateway row, routed by its vault)
@pytest.fixture
def stripe_customer(stub):
    Gateway.objects.filter(code="stripe").update(options={"timeout": 0.4, "max_network_retries": 0})
    customer = factories.customer(external_id="stripe-acme")
    method = payment_helpers.card(customer, token="tok_visa", gateway="stripe")
    assert (method.vault, method.brand, method.last4) == ("stripe", "visa", "4242")
    assert method.gateway_customer_id.startswith("cus_")
    return customer


def test_an_invoice_is_collected_refunded_and_reconciled_through_stripe(stripe_customer, stub):
    invoice = payment_helpers.open_invoice(stripe_customer, "25.00")
    payment = payments.payment_collect(invoice=invoice, at=payment_helpers.AT, source="api")
    attempt = payment.attempts.get()
    assert payment.status == "succeeded"
    assert payment.gateway.code == "stripe"
    assert payment.gateway_reference == attempt.gateway_reference
    [sent] = stub.calls("POST", "/v1/payment_intents")
    assert sent.form["amount"] == "2500"
    assert sent.idempotency_key == attempt.idempotency_key
    assert attempt.risk_level == "normal"
    refund = refunds.payment_refund(payment=payment, at=payment_helpers.AT)
    assert refund.status == "succeeded"
    assert refund.gateway_reference.startswith("re_")
    check = reconciliation.gateway_charges_unreconciled(since=datetime(2020, 1, 1, tzinfo=UTC))
    assert "stripe" in check.checked
    assert not check.errors
    assert not check.open_here
    assert not check.mismatches


def test_a_lost_reply_is_resolved_by_the_janitor_without_charging_again(stripe_customer, stub):
    invoice = payment_helpers.open_invoice(stripe_customer, "25.00")
    stub.script("POST /v1/payment_intents", "hang")
    payment = payments.payment_collect(invoice=invoice, at=payment_helpers.AT, source="api")
    assert payment.status == "unknown"
    later = payment_helpers.AT + timedelta(minutes=5)
    assert payments.payments_resolve_unknown(at=later) == 1
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert payment.status == "succeeded"
    assert payment.gateway_reference.startswith("pi_")
    assert invoice.status == InvoiceStatus.PAID
    assert len(stub.calls("POST", "/v1/payment_intents")) == 1
