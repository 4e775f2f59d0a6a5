"""Collecting invoices through the sandbox: every test card, failover, the unknown-outcome
janitor, refunds and 3-D Secure."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from api.errors import Conflict, DomainError, StateError
from billing.models import (
    BillingEvent,
    Gateway,
    InvoiceStatus,
    Payment,
    PaymentAttempt,
    RoutingRule,
    SandboxCharge,
)
from billing.payments.gateways.base import ChargeResult, Outcome
from billing.payments.gateways.sandbox import sandbox_charge_settle
from billing.payments.services import payments, refunds
from billing.tests import factories
from billing.tests.payment_helpers import AT, card, customer_with_card, open_invoice

pytestmark = pytest.mark.django_db


def collect(invoice, **kwargs):
    return payments.payment_collect(invoice=invoice, at=AT, source="api", **kwargs)


def test_a_good_card_pays_the_invoice_once():
    customer, _ = customer_with_card()
    invoice = open_invoice(customer, "25.00")
    payment = collect(invoice)
    invoice.refresh_from_db()
    assert payment.status == "succeeded"
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_paid == Decimal("25.00")
    assert invoice.amount_due == 0
    assert [a.amount for a in payment.allocations.all()] == [Decimal("25.00")]
    charge = SandboxCharge.objects.get()
    assert (charge.amount, charge.currency, charge.status) == (2500, "USD", "succeeded")
    assert charge.idempotency_key == payment.attempts.get().idempotency_key
    kinds = list(BillingEvent.objects.filter(subject_id=str(payment.pk)).values_list("kind"))
    assert ("payment.succeeded",) in kinds
    assert BillingEvent.objects.filter(kind="invoice.paid", subject_id=str(invoice.pk)).exists()
    with pytest.raises(StateError):
        collect(invoice)  # paid: nothing is charged again
    assert SandboxCharge.objects.count() == 1


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("tok_chargeDeclined", "generic_decline"),
        ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("tok_chargeDeclinedExpiredCard", "expired_card"),
        ("tok_chargeDeclinedFraudulent", "fraudulent"),
    ],
)
def test_declined_cards_fail_with_their_reason_and_leave_the_invoice_open(token, code):
    customer, _ = customer_with_card(token=token)
    invoice = open_invoice(customer)
    payment = collect(invoice)
    invoice.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("failed", code)
    assert payment.failure_message
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_due == Decimal("25.00")
    assert payment.attempts.get().status == "declined"
    assert BillingEvent.objects.filter(kind="payment.failed", subject_id=str(payment.pk)).exists()


def test_minor_units_follow_the_currency_precision():
    for currency, amount, minor in [("JPY", "1250", 1250), ("KWD", "1.250", 1250)]:
        customer, _ = customer_with_card(external_id=f"c-{currency.lower()}", currency=currency)
        payment = collect(open_invoice(customer, amount))
        assert payment.status == "succeeded"
        assert SandboxCharge.objects.get(currency=currency).amount == minor


def test_a_processing_error_fails_over_to_the_next_gateway_of_the_same_vault():
    customer, method = customer_with_card()
    Gateway.objects.filter(code="sandbox").update(options={"outage": True})
    Gateway.objects.create(code="sandbox-backup", name="Backup", adapter="sandbox", vault="sandbox")
    payment = collect(open_invoice(customer))
    attempts = list(payment.attempts.order_by("number"))
    assert [(a.gateway.code, a.status) for a in attempts] == [
        ("sandbox", "error"),
        ("sandbox-backup", "succeeded"),
    ]
    assert payment.status == "succeeded"
    assert payment.gateway.code == "sandbox-backup"
    assert attempts[0].idempotency_key != attempts[1].idempotency_key


def test_a_decline_does_not_fail_over():
    customer, _ = customer_with_card(token="tok_chargeDeclinedInsufficientFunds")
    Gateway.objects.create(code="sandbox-backup", name="Backup", adapter="sandbox", vault="sandbox")
    payment = collect(open_invoice(customer))
    assert payment.status == "failed"
    assert payment.attempts.count() == 1


def test_when_every_gateway_errors_the_payment_fails_as_a_gateway_error():
    customer, _ = customer_with_card(token="tok_chargeDeclinedProcessingError")
    payment = collect(open_invoice(customer))
    assert (payment.status, payment.failure_code) == ("failed", "gateway_error")
    assert payment.attempts.get().status == "error"
    assert SandboxCharge.objects.count() == 0


def test_routing_rules_choose_the_gateway_order():
    customer, _ = customer_with_card()
    Gateway.objects.create(code="sandbox-eu", name="EU", adapter="sandbox", vault="sandbox")
    RoutingRule.objects.create(
        name="Big USD via EU", currency="USD", min_amount=Decimal("100"), gateways=["sandbox-eu"]
    )
    small = collect(open_invoice(customer, "25.00"))
    big = collect(open_invoice(customer, "150.00"))
    assert small.gateway.code == "sandbox"
    assert big.gateway.code == "sandbox-eu"
    RoutingRule.objects.create(name="Only stripe", priority=1, customer=customer, gateways=["x"])
    nothing = collect(open_invoice(customer, "10.00"))
    assert (nothing.status, nothing.failure_code) == ("failed", "no_gateway")


def test_a_timeout_leaves_the_payment_unknown_until_the_janitor_asks():
    customer, _ = customer_with_card(token="tok_sandboxTimeout")
    invoice = open_invoice(customer)
    payment = collect(invoice)
    assert payment.status == "unknown"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    with pytest.raises(Conflict):
        collect(invoice)  # no second charge while the first is unresolved
    assert payments.payments_resolve_unknown(at=AT + timedelta(seconds=10)) == 0  # too early
    assert payments.payments_resolve_unknown(at=AT + timedelta(minutes=5)) == 1
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert payment.status == "succeeded"
    assert invoice.status == InvoiceStatus.PAID
    assert SandboxCharge.objects.count() == 1  # asked, never charged again
    assert payments.payments_resolve_unknown(at=AT + timedelta(minutes=10)) == 0


def test_a_worker_killed_between_call_and_record_is_resolved_without_a_second_charge():
    """STARTED was committed and the gateway charged, but the outcome was never recorded."""
    customer, _ = customer_with_card()
    invoice = open_invoice(customer)
    payment = payments._payment_open(invoice=invoice, at=AT, source="api", method=None, actor=None)
    gateway = Gateway.objects.get(code="sandbox")
    attempt = payments._attempt_start(payment=payment, gateway=gateway, at=AT)
    payments._call(gateway, payment, attempt)  # ... and the worker dies here
    assert PaymentAttempt.objects.get().status == "started"
    assert payments.payments_resolve_unknown(at=AT + timedelta(minutes=2)) == 1
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert SandboxCharge.objects.count() == 1


def test_a_call_the_gateway_never_received_fails_the_payment():
    customer, _ = customer_with_card()
    invoice = open_invoice(customer)
    payment = payments._payment_open(invoice=invoice, at=AT, source="api", method=None, actor=None)
    gateway = Gateway.objects.get(code="sandbox")
    payments._attempt_start(payment=payment, gateway=gateway, at=AT)  # died before the call
    payments.payments_resolve_unknown(at=AT + timedelta(minutes=2))
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("failed", "not_received")
    assert SandboxCharge.objects.count() == 0
    assert collect(invoice).status == "succeeded"  # a new payment may now charge


def test_three_d_secure_requires_action_then_succeeds_after_authentication():
    customer, _ = customer_with_card(token="tok_threeDSecureRequired")
    invoice = open_invoice(customer)
    payment = collect(invoice)
    assert payment.status == "requires_action"
    assert payment.next_action["type"] == "redirect_to_url"
    sandbox_charge_settle(reference=payment.gateway_reference, succeed=True)
    payment = payments.payment_refresh(payment=payment, at=AT)
    invoice.refresh_from_db()
    assert payment.status == "succeeded"
    assert invoice.status == InvoiceStatus.PAID


def test_a_new_payment_supersedes_one_waiting_for_authentication():
    customer, _ = customer_with_card(token="tok_threeDSecureRequired")
    invoice = open_invoice(customer)
    first = collect(invoice)
    good = card(customer, token="tok_visa")
    second = collect(invoice, method=good)
    first.refresh_from_db()
    assert (first.status, first.failure_code) == ("failed", "superseded")
    assert second.status == "succeeded"


def test_bank_debits_stay_pending_until_they_settle():
    customer, _ = customer_with_card(token="tok_sepa_debit", currency="EUR")
    invoice = open_invoice(customer, "40.00")
    payment = collect(invoice)
    assert payment.status == "pending"
    assert payment.kind == "sepa_debit"
    sandbox_charge_settle(reference=payment.gateway_reference, succeed=True)
    assert payments.payments_resolve_unknown(at=AT + timedelta(minutes=5)) == 1
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


def test_no_payment_method_is_a_clear_error_that_changes_nothing():
    customer = factories.customer()
    invoice = open_invoice(customer)
    with pytest.raises(DomainError) as error:
        collect(invoice)
    assert error.value.code == "no_payment_method"
    assert Payment.objects.count() == 0


def test_partial_and_full_refunds_move_the_payment_state():
    customer, _ = customer_with_card()
    payment = collect(open_invoice(customer, "30.00"))
    refund = refunds.payment_refund(payment=payment, amount=Decimal("10.00"), at=AT)
    payment.refresh_from_db()
    assert refund.status == "succeeded"
    assert payment.status == "partially_refunded"
    with pytest.raises(Exception, match="left to refund"):
        refunds.payment_refund(payment=payment, amount=Decimal("25.00"), at=AT)
    refunds.payment_refund(payment=payment, at=AT)  # the rest
    payment.refresh_from_db()
    assert payment.status == "refunded"
    assert payment.amount_refunded == Decimal("30.00")
    assert SandboxCharge.objects.get().amount_refunded == 3000


def test_the_gateway_report_applies_once():
    customer, _ = customer_with_card(token="tok_sepa_debit", currency="EUR")
    payment = collect(open_invoice(customer, "40.00"))
    sandbox_charge_settle(reference=payment.gateway_reference)
    report = ChargeResult(Outcome.SUCCEEDED, reference=payment.gateway_reference)
    for _ in range(2):
        payments.payment_gateway_report(reference=payment.gateway_reference, result=report, at=AT)
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert payment.allocations.count() == 1
    assert BillingEvent.objects.filter(kind="payment.succeeded").count() == 1
    unknown = payments.payment_gateway_report(reference="pi_not_ours", result=report, at=AT)
    assert unknown is None


def test_the_sandbox_authentication_page_completes_a_3ds_payment(client):
    customer, _ = customer_with_card(token="tok_threeDSecureRequired")
    invoice = open_invoice(customer)
    payment = collect(invoice)
    url = payment.next_action["url"]
    page = client.get(url)
    assert page.status_code == 200
    assert b"Complete authentication" in page.content
    assert client.post(url, {"result": "succeed"}).status_code == 302
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert payment.status == "succeeded"
    assert invoice.status == InvoiceStatus.PAID
    assert b"Complete authentication" not in client.get(url).content
    assert client.get("/sandbox/authenticate/sbx_ch_nope/").status_code == 404


def test_failed_authentication_fails_the_payment():
    customer, _ = customer_with_card(token="tok_threeDSecureRequired")
    payment = collect(open_invoice(customer))
    sandbox_charge_settle(reference=payment.gateway_reference, succeed=False)
    payment = payments.payment_refresh(payment=payment, at=AT)
    assert (payment.status, payment.failure_code) == ("failed", "authentication_failed")


def test_a_finalized_invoice_is_collected_from_the_default_card(django_capture_on_commit_callbacks):
    from billing.payments.services.collection import invoice_collect

    customer, _ = customer_with_card()
    with django_capture_on_commit_callbacks() as callbacks:
        invoice = open_invoice(customer, "9.00")
    queued = [c for c in callbacks if "invoice_collect_task" in str(getattr(c, "args", ""))]
    assert len(queued) == 1
    assert invoice_collect(invoice_id=invoice.pk, at=AT) == "succeeded"
    assert invoice_collect(invoice_id=invoice.pk, at=AT) == "nothing_due"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    no_card = factories.customer(external_id="nocard")
    with django_capture_on_commit_callbacks() as callbacks:
        open_invoice(no_card)
    assert not [c for c in callbacks if "invoice_collect_task" in str(getattr(c, "args", ""))]


def test_expiring_cards_are_announced_once():
    from billing.payments.services.methods import payment_methods_expiring_notify

    customer, method = customer_with_card()
    assert payment_methods_expiring_notify(at=AT) == 0  # 12/2034 is far away
    method.exp_month, method.exp_year = 3, 2026
    method.save()
    assert payment_methods_expiring_notify(at=AT) == 1
    assert payment_methods_expiring_notify(at=AT + timedelta(days=1)) == 0
    event = BillingEvent.objects.get(kind="payment_method.expiring")
    assert event.payload["expires_on"] == "2026-04-01"
    assert event.customer_id == customer.pk


def test_a_credit_note_refund_is_paid_back_through_the_gateway_once():
    from billing.invoicing.services.credits import credit_note_issue

    customer, _ = customer_with_card()
    invoice = open_invoice(customer, "30.00")
    payment = collect(invoice)
    note = credit_note_issue(
        invoice=invoice, at=AT, reason="other", refund=Decimal("10.00"), lines=None
    )
    [refund] = refunds.credit_note_refund(credit_note=note, at=AT)
    assert (refund.status, refund.amount, refund.credit_note_id) == (
        "succeeded",
        Decimal("10.00"),
        note.pk,
    )
    assert refunds.credit_note_refund(credit_note=note, at=AT) == []  # a rerun pays nothing twice
    payment.refresh_from_db()
    assert payment.status == "partially_refunded"
    assert SandboxCharge.objects.get().amount_refunded == 1000


@pytest.mark.parametrize(
    ("return_to", "shown"),
    [
        ("/portal/payments/7/", True),
        ("https://evil.example/steal", False),
        ("//evil.example/x", False),
        ("javascript:alert(1)", False),
    ],
)
def test_the_sandbox_page_links_back_to_this_site_only(client, return_to, shown):
    customer, _ = customer_with_card(token="tok_threeDSecureRequired")
    payment = collect(open_invoice(customer))
    url = f"{payment.next_action['url']}?{urlencode({'return_to': return_to})}"
    response = client.post(url, {"result": "succeed"})
    assert response["Location"] == url  # back to the page, return_to kept
    page = client.get(url).content.decode()
    assert ("Return to the merchant" in page) is shown
    assert (f'href="{return_to}"' in page) is shown
