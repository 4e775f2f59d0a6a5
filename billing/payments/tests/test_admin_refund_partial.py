"""A partial refund from a payment's "Refund…" page: what is left is shown, an amount below it
refunds part of the payment after a confirmation naming the amount and what stays refundable,
the reason is kept; refusals change nothing; only finance refunds."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from billing.models import BillingEvent, Payment, Refund, SandboxCharge
from billing.payments.services.payments import payment_collect
from billing.payments.services.refunds import payment_refund
from billing.tests.payment_helpers import customer_with_card, open_invoice

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def payment():
    customer, _ = customer_with_card(external_id="acme")
    invoice = open_invoice(customer, "30.00", at=timezone.now())
    return payment_collect(invoice=invoice, at=timezone.now(), source="api")


def refund_url(payment) -> str:
    return reverse("admin:billing_payment_refund", args=[payment.pk])


def text(response) -> str:
    return " ".join(response.content.decode().split())


def staff(client, group):
    user = get_user_model().objects.create_user(f"u-{group}", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)


def test_the_page_shows_what_is_left(admin_client, payment):
    payment_refund(payment=payment, amount=D("10.00"), at=timezone.now())
    page = admin_client.get(refund_url(payment))
    assert page.context["form"]["amount"].value() == D("20.00")
    assert page.context["summary"]["Left to refund"] == "20.00"
    assert "At most 20.00 USD (left to refund)" in text(page)


def test_partial_refund_confirmed_then_done(admin_client, admin_user, payment):
    data = {"amount": "7.25", "reason": "Late delivery"}
    response = admin_client.post(refund_url(payment), data)
    assert response.status_code == 200
    page = text(response)
    assert "7.25 USD</strong> to Visa •••• 4242" in page
    assert "22.75 USD stays refundable" in page
    assert "Reason: Late delivery" in page
    assert not Refund.objects.exists()  # nothing until confirmed
    response = admin_client.post(refund_url(payment), {**data, "_confirm": "1"}, follow=True)
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", D("7.25"))
    refund = Refund.objects.get()
    assert (refund.amount, refund.reason, refund.status) == (
        D("7.25"),
        "Late delivery",
        "succeeded",
    )
    assert SandboxCharge.objects.get().amount_refunded == 725
    event = BillingEvent.objects.get(kind="payment.refunded")
    assert event.payload["reason"] == "Late delivery"
    assert event.actor == f"user:{admin_user.pk}:{admin_user.username}"
    # a second part, up to what is left
    admin_client.post(refund_url(payment), {"amount": "22.75", "reason": "rest", "_confirm": "1"})
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == ("refunded", D("30.00"))


@pytest.mark.parametrize(
    ("amount", "reason", "field", "message"),
    [
        ("30.01", "x", "amount", "At most 30.00 is left to refund."),
        ("0", "x", "amount", "above 0"),
        ("-1", "x", "amount", "above 0"),
        ("1.005", "x", "amount", "2 decimal places"),
        ("5.00", "", "reason", "required"),
    ],
)
def test_refused_amounts_change_nothing(admin_client, payment, amount, reason, field, message):
    for extra in ({}, {"_confirm": "1"}):  # the first step, or a forged confirmation
        response = admin_client.post(
            refund_url(payment), {"amount": amount, "reason": reason, **extra}
        )
        assert response.status_code == 200
        assert message in " ".join(response.context["form"].errors[field])
    assert not Refund.objects.exists()
    payment.refresh_from_db()
    assert payment.status == "succeeded"


def test_a_refund_made_meanwhile_is_caught_at_confirmation(admin_client, payment):
    data = {"amount": "20.00", "reason": "x"}
    assert admin_client.post(refund_url(payment), data).status_code == 200
    payment_refund(payment=payment, amount=D("15.00"), at=timezone.now())  # someone else
    response = admin_client.post(refund_url(payment), {**data, "_confirm": "1"})
    assert "At most 15.00 is left to refund." in " ".join(response.context["form"].errors["amount"])
    assert Refund.objects.count() == 1


@pytest.mark.parametrize(
    ("group", "allowed"),
    [("read-only", False), ("support", False), ("operations", False), ("finance", True)],
)
def test_only_finance_refunds(client, payment, group, allowed):
    staff(client, group)
    change = client.get(reverse("admin:billing_payment_change", args=[payment.pk]))
    assert (refund_url(payment) in change.content.decode()) is allowed
    assert client.get(refund_url(payment)).status_code == (200 if allowed else 403)
    data = {"amount": "5.00", "reason": "x", "_confirm": "1"}
    assert client.post(refund_url(payment), data).status_code == (302 if allowed else 403)
    changelist = client.get(reverse("admin:billing_payment_changelist")).context["action_form"]
    offered = {name for name, _ in changelist.fields["action"].choices} if changelist else set()
    assert ("refund_selected" in offered) is allowed
    assert Refund.objects.exists() is allowed
    assert Payment.objects.get(pk=payment.pk).status == (
        "partially_refunded" if allowed else "succeeded"
    )
