"""Each fraud rule holds the payment for review with its reason; staff approve or reject."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.models import PaymentMethod, SandboxCharge
from billing.payments.services import payments
from billing.payments.services.methods import payment_method_risk_report
from billing.tests import factories
from billing.tests.payment_helpers import AT, card, customer_with_card, open_invoice
from customers.models import Customer

pytestmark = pytest.mark.django_db


def collect(invoice, at=AT):
    return payments.payment_collect(invoice=invoice, at=at, source="api")


def old_customer(customer, days=365):
    Customer.objects.filter(pk=customer.pk).update(created_at=AT - timedelta(days=days))
    customer.refresh_from_db()
    return customer


def test_a_clean_payment_passes_every_rule():
    customer, _ = customer_with_card()
    assert collect(open_invoice(old_customer(customer))).status == "succeeded"


def test_velocity_per_customer(settings):
    settings.PAYMENT_FRAUD = {**settings.PAYMENT_FRAUD, "attempts_per_customer_per_hour": 3}
    customer, _ = customer_with_card(token="tok_chargeDeclined")
    old_customer(customer)
    for minute in range(3):
        assert collect(open_invoice(customer), at=AT + timedelta(minutes=minute)).status == "failed"
    held = collect(open_invoice(customer), at=AT + timedelta(minutes=5))
    assert held.status == "review"
    assert "by the customer" in held.review_reason
    attempt = held.attempts.get()
    assert (attempt.status, attempt.code) == ("blocked", "velocity_customer")
    # An hour later the window has moved on.
    later = collect(open_invoice(customer), at=AT + timedelta(minutes=70))
    assert later.status == "failed"


def test_velocity_per_card_across_customers(settings):
    settings.PAYMENT_FRAUD = {**settings.PAYMENT_FRAUD, "attempts_per_card_per_hour": 2}
    held = None
    for n in range(3):
        customer, _ = customer_with_card(external_id=f"c{n}", token="tok_chargeDeclined")
        payment = collect(open_invoice(old_customer(customer)), at=AT + timedelta(minutes=n))
        held = payment if payment.status == "review" else held
    assert held is not None
    assert held.attempts.get().code == "velocity_card"


def test_amount_limit_by_customer_age():
    customer, _ = customer_with_card()
    Customer.objects.filter(pk=customer.pk).update(created_at=AT - timedelta(days=2))
    customer.refresh_from_db()
    assert collect(open_invoice(customer, "999.00")).status == "succeeded"
    held = collect(open_invoice(customer, "1200.00"))
    assert held.status == "review"
    assert held.attempts.get().code == "amount_limit"
    older = factories.customer(external_id="older")
    card(older)
    old_customer(older, days=40)
    assert collect(open_invoice(older, "1200.00")).status == "succeeded"


def test_card_country_must_match_the_billing_country():
    customer, _ = customer_with_card(token="tok_gb")
    Customer.objects.filter(pk=customer.pk).update(country="US", created_at=AT - timedelta(days=99))
    customer.refresh_from_db()
    held = collect(open_invoice(customer))
    assert held.status == "review"
    assert held.attempts.get().code == "card_country"
    assert "GB" in held.review_reason
    assert SandboxCharge.objects.count() == 0


def test_radar_risk_level_blocks_the_card():
    customer, method = customer_with_card()
    old_customer(customer)
    payment_method_risk_report(vault="sandbox", token=method.token, risk_level="highest", at=AT)
    held = collect(open_invoice(customer))
    assert held.status == "review"
    assert held.attempts.get().code == "risk_level"


def test_the_gateway_risk_level_of_a_charge_is_kept_on_the_card():
    customer, method = customer_with_card(token="tok_riskLevelHighest")
    old_customer(customer)
    assert collect(open_invoice(customer)).status == "succeeded"
    assert PaymentMethod.objects.get(pk=method.pk).risk_level == "highest"
    assert collect(open_invoice(customer)).status == "review"


def test_staff_approve_or_reject_a_held_payment():
    customer, _ = customer_with_card(token="tok_gb")
    Customer.objects.filter(pk=customer.pk).update(country="US", created_at=AT - timedelta(days=99))
    first, second = open_invoice(customer, "20.00"), open_invoice(customer, "30.00")
    approved = payments.payment_review_approve(payment=collect(first), at=AT)
    assert approved.status == "succeeded"
    assert [a.status for a in approved.attempts.order_by("number")] == ["blocked", "succeeded"]
    rejected = payments.payment_review_reject(payment=collect(second), at=AT, reason="stolen")
    assert (rejected.status, rejected.failure_code) == ("failed", "fraud_rejected")
    assert SandboxCharge.objects.get().amount == 2000
    second.refresh_from_db()
    assert second.amount_due == Decimal("30.00")
