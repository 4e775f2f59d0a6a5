"""A new subscription whose first automatic charge fails is `incomplete` (no dunning) until
its first invoice is paid, and `incomplete_expired` (invoice voided) after
SUBSCRIPTION_INCOMPLETE_HOURS; a later invoice's failure is past due, as before."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import (
    BillingEvent,
    DunningCase,
    Invoice,
    InvoiceStatus,
    PaymentSource,
)
from billing.models import SubscriptionStatus as S
from billing.payments.gateways.sandbox import sandbox_charge_settle
from billing.payments.services import payments
from billing.payments.services.collection import invoice_collect
from billing.payments.services.incomplete_jobs import subscriptions_incomplete_expire
from billing.tests import factories
from billing.tests.payment_helpers import AT, card, customer_with_card, renewal_invoice

pytestmark = pytest.mark.django_db


def new_subscription(token="tok_chargeDeclinedInsufficientFunds", **kwargs):  # noqa: S107
    customer, _ = customer_with_card(token=token)
    plan = factories.plan(**kwargs)
    sub = factories.subscription(customer=customer, plan=plan, at=AT)
    invoice = Invoice.objects.filter(pk=sub.first_invoice_id).first()
    return sub, invoice


def kinds(sub) -> list[str]:
    events = BillingEvent.objects.filter(subject_type="billing.subscription", subject_id=sub.pk)
    return list(events.order_by("pk").values_list("kind", flat=True))


def test_a_declined_first_charge_makes_the_subscription_incomplete_without_dunning():
    sub, invoice = new_subscription()
    assert (sub.status, invoice.status, invoice.total) == (S.ACTIVE, "open", Decimal("30.00"))
    assert invoice_collect(invoice_id=invoice.pk, at=AT) == "failed"
    sub.refresh_from_db()
    assert sub.status == S.INCOMPLETE
    assert not DunningCase.objects.exists()
    assert "subscription.past_due" not in kinds(sub)
    event = BillingEvent.objects.get(kind="subscription.incomplete")
    assert event.payload["code"] == "insufficient_funds"
    assert event.payload["expires_at"] == (AT + timedelta(hours=23)).isoformat()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    # the customer trying the same card again is still no dunning case
    payments.payment_collect(invoice=invoice, at=AT + timedelta(minutes=5))
    assert not DunningCase.objects.exists()


def test_paying_the_first_invoice_activates_it():
    sub, invoice = new_subscription()
    invoice_collect(invoice_id=invoice.pk, at=AT)
    good = card(sub.customer, token="tok_visa")
    later = AT + timedelta(hours=2)
    payment = payments.payment_collect(
        invoice=invoice, at=later, source=PaymentSource.PORTAL, method=good
    )
    assert payment.status == "succeeded"
    sub.refresh_from_db()
    assert sub.status == S.ACTIVE
    assert kinds(sub)[-2:] == ["subscription.incomplete", "subscription.activated"]
    assert (
        BillingEvent.objects.filter(kind="subscription.activated").last().payload["from_incomplete"]
    )
    # nothing left to expire
    assert subscriptions_incomplete_expire(at=later + timedelta(days=2)) == 0


def test_three_d_secure_on_the_first_charge_is_incomplete_until_authenticated():
    sub, invoice = new_subscription(token="tok_threeDSecureRequired")
    invoice_collect(invoice_id=invoice.pk, at=AT)
    sub.refresh_from_db()
    assert sub.status == S.INCOMPLETE
    payment = invoice.payments.get()
    assert payment.status == "requires_action"
    sandbox_charge_settle(reference=payment.gateway_reference, succeed=True)
    payments.payment_refresh(payment=payment, at=AT + timedelta(minutes=3))
    sub.refresh_from_db()
    assert sub.status == S.ACTIVE


def test_an_unpaid_incomplete_subscription_expires_and_its_invoice_is_voided(settings):
    settings.SUBSCRIPTION_INCOMPLETE_HOURS = 23
    sub, invoice = new_subscription()
    invoice_collect(invoice_id=invoice.pk, at=AT)
    assert subscriptions_incomplete_expire(at=AT + timedelta(hours=22, minutes=59)) == 0
    expired_at = AT + timedelta(hours=23)
    assert subscriptions_incomplete_expire(at=expired_at) == 1
    sub.refresh_from_db()
    invoice.refresh_from_db()
    assert (sub.status, sub.ended_at) == (S.INCOMPLETE_EXPIRED, expired_at)
    assert invoice.status == InvoiceStatus.VOID
    assert kinds(sub)[-1] == "subscription.incomplete_expired"
    assert subscriptions_incomplete_expire(at=expired_at + timedelta(hours=1)) == 0


def test_the_expiry_hours_come_from_the_setting(settings):
    settings.SUBSCRIPTION_INCOMPLETE_HOURS = 2
    sub, invoice = new_subscription()
    invoice_collect(invoice_id=invoice.pk, at=AT)
    assert subscriptions_incomplete_expire(at=AT + timedelta(hours=2)) == 1


def test_an_incomplete_subscription_can_be_canceled():
    sub, invoice = new_subscription()
    invoice_collect(invoice_id=invoice.pk, at=AT)
    sub = subscription_cancel(subscription=sub, at=AT + timedelta(hours=1), when="period_end")
    assert sub.status == S.CANCELED
    assert subscriptions_incomplete_expire(at=AT + timedelta(days=2)) == 0


def test_a_later_invoice_that_fails_is_past_due_as_before():
    sub, invoice = new_subscription(token="tok_visa")  # noqa: S106
    assert invoice_collect(invoice_id=invoice.pk, at=AT) == "succeeded"
    card(sub.customer, token="tok_chargeDeclined")
    later = renewal_invoice(sub, AT + timedelta(days=30))
    assert invoice_collect(invoice_id=later.pk, at=AT + timedelta(days=30)) == "failed"
    sub.refresh_from_db()
    assert sub.status == S.PAST_DUE
    assert DunningCase.objects.filter(invoice=later).exists()


def test_a_trial_has_no_first_charge_and_its_later_failure_is_past_due():
    customer, _ = customer_with_card(token="tok_chargeDeclined")
    sub = factories.subscription(customer=customer, plan=factories.plan(), at=AT, trial_days=14)
    assert (sub.status, sub.first_invoice) == (S.TRIALING, None)
    sub.activate()
    sub.save()
    later = renewal_invoice(sub, AT + timedelta(days=14))
    invoice_collect(invoice_id=later.pk, at=AT + timedelta(days=14))
    sub.refresh_from_db()
    assert sub.status == S.PAST_DUE


def test_a_first_invoice_paid_from_the_balance_never_makes_it_incomplete():
    sub, invoice = new_subscription(amount="0.00")
    assert sub.status == S.ACTIVE
    assert invoice is None or Invoice.objects.get(pk=invoice.pk).status == "paid"
    if invoice is not None:
        assert invoice_collect(invoice_id=invoice.pk, at=AT) == "nothing_due"
    sub.refresh_from_db()
    assert sub.status == S.ACTIVE
