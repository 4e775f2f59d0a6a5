"""Subscribing is a checkout: `POST /subscriptions/` charges the first invoice in the same
request, after the subscription is committed, and answers the resulting status; no worker runs
here. The collection task queued at finalization then does nothing (never a second charge)."""

from unittest import mock

import pytest
from django.core.cache import cache
from django.utils import timezone

from billing import tasks
from billing.invoicing.services.checkout import (
    subscription_checkout,
    subscription_checkout_on_commit,
)
from billing.models import DunningCase, Invoice, Payment, Subscription
from billing.payments.services.payments import payment_collect
from billing.tests import factories
from billing.tests.payment_helpers import card, customer_with_card
from catalog.tests.factories import feature

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()  # the access check's cache


@pytest.fixture
def post(api, django_capture_on_commit_callbacks):
    """POST as a client; the on-commit callbacks run as after a real commit (no worker)."""

    def call(path, body, status=201):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(path, body, format="json")
        assert response.status_code == status, response.content
        return response.json()

    return call


def subscribe(post, token):
    """A customer with a `token` card and a plan granting `sso`, all over the API."""
    post(
        "/api/v1/customers/",
        {"external_id": "acme", "name": "Acme", "email": "a@acme.test", "currency": "USD"},
    )
    post("/api/v1/customers/acme/payment-methods/", {"gateway": "sandbox", "token": token})
    post("/api/v1/features/", {"code": "sso", "name": "SSO", "kind": "boolean"})
    plan = {
        "code": "pro",
        "name": "Pro",
        "currency": "USD",
        "interval": "month",
        "amount": "30.00",
        "entitlements": [{"feature": "sso", "value": True}],
    }
    post("/api/v1/plans/", plan)
    return post("/api/v1/subscriptions/", {"customer": "acme", "plan": "pro"})


def access(api) -> tuple[bool, str]:
    body = api.post("/api/v1/access/check", {"customer": "acme", "feature": "sso"}, format="json")
    return body.json()["allowed"], body.json()["reason"]


def allowed(api) -> bool:
    return access(api)[0]


def first_invoice(sub_id) -> Invoice:
    return Subscription.objects.get(pk=sub_id).first_invoice


def test_a_paid_first_charge_answers_active_with_access(api, post):
    sub = subscribe(post, "tok_visa")
    assert sub["status"] == "active"
    assert first_invoice(sub["id"]).status == "paid"
    assert allowed(api) is True


def test_a_declined_first_charge_answers_incomplete_without_access(api, post):
    sub = subscribe(post, "tok_chargeDeclined")
    assert sub["status"] == "incomplete"
    invoice = first_invoice(sub["id"])
    assert invoice.status == "open"
    assert Payment.objects.get(invoice=invoice).status == "failed"
    assert allowed(api) is False
    assert not DunningCase.objects.exists()


def test_the_queued_task_never_charges_a_declined_checkout_again(api, post):
    sub = subscribe(post, "tok_chargeDeclined")
    invoice = first_invoice(sub["id"])
    card(invoice.customer, token="tok_visa")  # even with a good card now: no second try
    assert tasks.invoice_collect_task(invoice_id=invoice.pk) == "already_attempted"
    assert Payment.objects.filter(invoice=invoice).count() == 1
    assert Subscription.objects.get(pk=sub["id"]).status == "incomplete"


def test_the_queued_task_does_nothing_after_a_paid_checkout(post):
    sub = subscribe(post, "tok_visa")
    invoice = first_invoice(sub["id"])
    assert tasks.invoice_collect_task(invoice_id=invoice.pk) == "nothing_due"
    assert Payment.objects.filter(invoice=invoice).count() == 1


def test_3d_secure_answers_incomplete_and_the_task_leaves_the_payment_alone(api, post):
    sub = subscribe(post, "tok_threeDSecureRequired")
    assert sub["status"] == "incomplete"
    invoice = first_invoice(sub["id"])
    payment = Payment.objects.get(invoice=invoice)
    assert payment.status == "requires_action"
    assert tasks.invoice_collect_task(invoice_id=invoice.pk) == "already_attempted"
    payment.refresh_from_db()
    assert payment.status == "requires_action"  # not superseded by a second charge
    assert allowed(api) is False


def test_a_gateway_error_is_incomplete_not_a_failed_call(api, post):
    sub = subscribe(post, "tok_chargeDeclinedProcessingError")
    assert sub["status"] == "incomplete"
    payment = Payment.objects.get(invoice=first_invoice(sub["id"]))
    assert (payment.status, payment.failure_code) == ("failed", "gateway_error")


def test_a_timeout_leaves_it_active_with_the_payment_unknown(post):
    sub = subscribe(post, "tok_sandboxTimeout")
    assert sub["status"] == "active"
    assert Payment.objects.get(invoice=first_invoice(sub["id"])).status == "unknown"


def test_an_unexpected_fault_of_the_charge_still_answers_the_subscription(post):
    failing = mock.patch(
        "billing.payments.services.collection.invoice_collect", side_effect=RuntimeError
    )
    with failing:
        sub = subscribe(post, "tok_visa")
    assert sub["status"] == "active"
    assert Subscription.objects.filter(pk=sub["id"]).exists()


def test_without_a_payment_method_nothing_is_charged():
    customer = factories.customer("acme")
    sub = subscription_checkout(customer=customer, plan=factories.plan(), at=timezone.now())
    assert (sub.status, sub.first_invoice.status) == ("active", "open")
    assert not Payment.objects.exists()


def test_a_trial_is_not_charged():
    customer, _ = customer_with_card(token="tok_chargeDeclined")
    plan = factories.plan()
    sub = subscription_checkout(customer=customer, plan=plan, at=timezone.now(), trial_days=7)
    assert (sub.status, sub.first_invoice) == ("trialing", None)
    assert not Payment.objects.exists()


def test_a_payment_by_hand_still_pays_an_incomplete_checkout():
    """Only automatic collection is done once: the customer's new card pays and activates."""
    customer, _ = customer_with_card(token="tok_chargeDeclined")
    sub = subscription_checkout(customer=customer, plan=factories.plan(), at=timezone.now())
    assert sub.status == "incomplete"
    good = card(customer, token="tok_visa")
    payment = payment_collect(invoice=sub.first_invoice, at=timezone.now(), method=good)
    assert payment.status == "succeeded"
    sub.refresh_from_db()
    assert sub.status == "active"


def test_the_admin_path_charges_after_its_transaction_commits(django_capture_on_commit_callbacks):
    customer, _ = customer_with_card(token="tok_chargeDeclined")
    with django_capture_on_commit_callbacks(execute=True):
        sub = subscription_checkout_on_commit(
            customer=customer, plan=factories.plan(), at=timezone.now()
        )
        assert not Payment.objects.exists()  # not inside the creating transaction
    assert Payment.objects.filter(invoice_id=sub.first_invoice_id).count() == 1
    sub.refresh_from_db()
    assert sub.status == "incomplete"


@pytest.mark.django_db(transaction=True)
def test_with_real_commits_access_waits_for_the_charge(api):
    """Each service commits for real here: the in-process sync of the creation is held until
    the charge's outcome is known, so a declined checkout is never granted, even briefly."""
    customer, _ = customer_with_card(token="tok_chargeDeclined")
    sso = feature("sso", kind="boolean")
    factories.plan(code="pro", entitlements=[{"feature": sso, "value": True}])
    body = {"customer": "acme", "plan": "pro"}
    assert api.post("/api/v1/subscriptions/", body, format="json").json()["status"] == "incomplete"
    assert access(api) == (False, "not_provisioned")  # not "suspended": never granted
    card(customer, token="tok_visa")
    assert api.post("/api/v1/subscriptions/", body, format="json").json()["status"] == "active"
    assert access(api) == (True, "ok")
