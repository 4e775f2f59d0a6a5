"""The payments console: pages render, actions and pages go through their services (checked by
the resulting state), refusals come back as messages or form errors, only finance acts."""

import importlib
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import NoReverseMatch, clear_url_caches, reverse

import billing.payments.admin.payments  # noqa: F401 - registers the admin until billing/admin.py does
from billing.models import (
    BillingEvent,
    Gateway,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    Refund,
    RoutingRule,
    SandboxCharge,
)
from billing.payments.gateways.sandbox import sandbox_charge_settle
from billing.payments.services.payments import payment_collect
from billing.payments.services.refunds import payment_refund
from billing.tests import factories
from billing.tests.payment_helpers import AT, card, customer_with_card, open_invoice
from customers.models import Customer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(AT, tick=True):
        yield


@pytest.fixture(autouse=True)
def payment_admin_urls():
    """The admin URLconf may have been built before this module registered the admin."""
    try:
        reverse("admin:billing_payment_record")
    except NoReverseMatch:
        importlib.reload(importlib.import_module(settings.ROOT_URLCONF))
        clear_url_caches()


def url(model, view, *args):
    return reverse(f"admin:billing_{model._meta.model_name}_{view}", args=args)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def staff(client, group):
    user = get_user_model().objects.create_user(group, password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)


def act(client, model, action, *objs):
    data = {"action": action, "_selected_action": [obj.pk for obj in objs]}
    return client.post(url(model, "changelist"), data, follow=True)


def paid(external_id="acme", amount="30.00", token="tok_visa"):  # noqa: S107
    customer, _ = customer_with_card(external_id=external_id, token=token)
    return payment_collect(invoice=open_invoice(customer, amount), at=AT, source="api")


def held_for_review():
    """A GB card of a US customer older than 7 days: the card-country rule holds it."""
    customer, _ = customer_with_card(external_id="held", token="tok_gb")
    Customer.objects.filter(pk=customer.pk).update(country="US", created_at=AT - timedelta(30))
    customer.refresh_from_db()
    payment = payment_collect(invoice=open_invoice(customer), at=AT, source="api")
    assert payment.status == "review"
    return payment


def reload(obj):
    return type(obj).objects.get(pk=obj.pk)


# Pages
@pytest.mark.parametrize("model", [Payment, PaymentMethod, Gateway, RoutingRule, Refund])
def test_changelists_search_and_filters_render(admin_client, model):
    payment_refund(payment=paid(), amount=Decimal("5.00"), at=AT)
    held_for_review()
    RoutingRule.objects.create(name="EU", currency="EUR", gateways=["sandbox"])
    for params in ({}, {"q": "acme"}, {"q": "x"}):
        assert admin_client.get(url(model, "changelist"), params).status_code == 200


def test_payment_filters_and_search(admin_client):
    payment, held = paid(), held_for_review()
    changelist = url(Payment, "changelist")
    for params, expected in [
        ({"status__exact": "review"}, [held]),
        ({"q": payment.invoice.number}, [payment]),
        ({"q": payment.gateway_reference}, [payment]),
        ({"q": "held"}, [held]),
        ({"kind__exact": "card", "currency__exact": "USD"}, [held, payment]),
        ({"created_at__year": "2026", "source__exact": "api"}, [held, payment]),
    ]:
        result = admin_client.get(changelist, params).context["cl"].result_list
        assert sorted(p.pk for p in result) == sorted(p.pk for p in expected)
    page = admin_client.get(changelist).content.decode()
    assert "30.00 USD" in page
    assert "Visa •••• 4242" in page


def test_payment_detail_shows_attempts_allocations_and_refunds(admin_client):
    payment = paid()
    payment_refund(payment=payment, amount=Decimal("10.00"), reason="goodwill", at=AT)
    response = admin_client.get(url(Payment, "change", payment.pk))
    page = response.content.decode()
    assert response.status_code == 200
    attempts, allocations, refunds = response.context["inline_admin_formsets"]
    [attempt] = [form.instance for form in attempts.formset.forms]
    assert attempt.idempotency_key in page
    assert attempt.gateway_reference in page
    assert [f.instance.amount for f in allocations.formset.forms] == [Decimal("30.00")]
    assert [f.instance.reason for f in refunds.formset.forms] == ["goodwill"]
    assert 'name="_save"' not in page
    assert url(Payment, "refund", payment.pk) in page
    assert "20.00" in page  # left to refund
    assert f"subject_type=billing.payment&amp;subject_id={payment.pk}" in page


def test_no_add_change_or_delete_through_the_normal_forms(admin_client):
    payment = paid()
    method = payment.method
    assert admin_client.get(url(Payment, "add")).status_code == 403
    assert admin_client.get(url(Payment, "delete", payment.pk)).status_code == 403
    assert admin_client.get(url(PaymentMethod, "add")).status_code == 403
    assert admin_client.get(url(Refund, "add")).status_code == 403
    page = admin_client.get(url(PaymentMethod, "change", method.pk)).content.decode()
    assert method.token in page
    assert 'name="_save"' not in page
    changelist = admin_client.get(url(Payment, "changelist")).content.decode()
    assert url(Payment, "record") in changelist


# Payment actions
def refund_confirmed(client, *payments, reason="goodwill"):
    """ "Refund (all that is left)…" and its confirmation page, with a reason."""
    data = {"action": "refund_selected", "_selected_action": [p.pk for p in payments]}
    page = client.post(url(Payment, "changelist"), data)
    assert page.status_code == 200  # the confirmation: nothing refunded yet
    assert not Refund.objects.filter(payment__in=payments).exists()
    return client.post(
        url(Payment, "changelist"), {**data, "post": "yes", "reason": reason}, follow=True
    )


def test_refund_action_refunds_all_that_is_left(admin_client, admin_user):
    payment = paid()
    response = refund_confirmed(admin_client, payment)
    assert "Refunded: 1." in messages_of(response)
    payment = reload(payment)
    assert (payment.status, payment.amount_refunded) == ("refunded", Decimal("30.00"))
    assert SandboxCharge.objects.get().amount_refunded == 3000
    event = BillingEvent.objects.get(kind="payment.refunded")
    assert event.actor == f"user:{admin_user.pk}:{admin_user.username}"
    assert event.payload["reason"] == "goodwill"


def test_refund_action_refuses_a_failed_payment_and_goes_on(admin_client):
    declined, good = paid("c1", token="tok_chargeDeclined"), paid("c2")
    response = refund_confirmed(admin_client, declined, good)
    texts = messages_of(response)
    assert any(t.startswith(f"{reload(declined)}: not possible") for t in texts)
    assert "Refunded: 1." in texts
    assert reload(declined).status == "failed"
    assert reload(good).status == "refunded"
    assert not Refund.objects.filter(payment=declined).exists()


def test_partial_refund_page(admin_client):
    payment = paid()
    page_url = url(Payment, "refund", payment.pk)
    form = admin_client.get(page_url).context["form"]
    assert form["amount"].value() == Decimal("30.00")  # all that is left
    for amount, error in [("31.00", "left to refund"), ("0.001", "decimal places")]:
        response = admin_client.post(page_url, {"amount": amount, "reason": "goodwill"})
        assert error in " ".join(response.context["form"].errors["amount"])
    Gateway.objects.filter(code="sandbox").update(options={"outage": True})
    data = {"amount": "5.00", "reason": "x", "_confirm": "1"}
    response = admin_client.post(page_url, data, follow=True)
    assert any("simulated outage" in text for text in messages_of(response))
    assert (reload(payment).status, Refund.objects.get().status) == ("succeeded", "failed")
    Gateway.objects.filter(code="sandbox").update(options={})
    response = admin_client.post(page_url, {"amount": "12.50", "reason": "goodwill"})
    assert response.status_code == 200  # the confirmation first
    assert "12.50 USD" in response.content.decode()
    response = admin_client.post(
        page_url, {"amount": "12.50", "reason": "goodwill", "_confirm": "1"}
    )
    assert response.url == url(Payment, "change", payment.pk)
    payment = reload(payment)
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", Decimal("12.50"))
    assert Refund.objects.get(status="succeeded").reason == "goodwill"


def test_refund_page_of_a_payment_that_cannot_be_refunded(admin_client):
    payment = held_for_review()
    page_url = url(Payment, "refund", payment.pk)
    assert page_url not in admin_client.get(url(Payment, "change", payment.pk)).content.decode()
    response = admin_client.post(page_url, {"amount": "5.00", "reason": "x"})
    assert response.status_code == 200
    assert "cannot be refunded" in " ".join(response.context["form"].non_field_errors())
    assert not Refund.objects.exists()


def test_approve_charges_a_held_payment_and_pays_the_invoice(admin_client):
    payment = held_for_review()
    response = act(admin_client, Payment, "approve_selected", payment)
    assert "Approved: 1." in messages_of(response)
    assert f"Now: #{payment.pk} succeeded." in messages_of(response)
    payment = reload(payment)
    assert payment.status == "succeeded"
    assert payment.invoice.status == InvoiceStatus.PAID
    response = act(admin_client, Payment, "approve_selected", payment)  # not in review
    assert any("not possible" in text for text in messages_of(response))
    assert SandboxCharge.objects.count() == 1


def test_reject_fails_a_held_payment_without_charging(admin_client):
    payment, good = held_for_review(), paid()
    response = act(admin_client, Payment, "reject_selected", payment, good)
    assert "Rejected: 1." in messages_of(response)
    payment = reload(payment)
    assert (payment.status, payment.failure_code) == ("failed", "fraud_rejected")
    assert payment.invoice.status == InvoiceStatus.OPEN
    assert reload(good).status == "succeeded"
    assert SandboxCharge.objects.count() == 1  # only the good one


def test_ask_the_gateway_again(admin_client):
    payment = paid(token="tok_threeDSecureRequired")
    assert payment.status == "requires_action"
    act(admin_client, Payment, "refresh_selected", payment)
    assert reload(payment).status == "requires_action"  # not authenticated yet
    sandbox_charge_settle(reference=payment.gateway_reference)
    response = act(admin_client, Payment, "refresh_selected", payment)
    assert f"Now: #{payment.pk} succeeded." in messages_of(response)
    assert reload(payment).invoice.status == InvoiceStatus.PAID
    response = act(admin_client, Payment, "refresh_selected", payment)
    assert any("nothing to refresh" in text for text in messages_of(response))


# Recording a payment received
def record(client, **overrides):
    data = {"customer": "acme", "amount": "100.00", "currency": "", "invoices": ""}
    return client.post(url(Payment, "record"), {**data, "reference": "CHQ-1", **overrides})


def test_record_a_payment_applies_it_and_puts_the_rest_on_the_balance(admin_client):
    customer = factories.customer()
    first, second = open_invoice(customer, "30.00"), open_invoice(customer, "50.00")
    assert admin_client.get(url(Payment, "record")).status_code == 200
    response = record(admin_client, invoices=f"{second.number}")
    payment = Payment.objects.get(source="manual")
    assert response.url == url(Payment, "change", payment.pk)
    assert (payment.status, payment.amount, payment.currency) == ("succeeded", 100, "USD")
    assert (payment.gateway.code, payment.gateway_reference) == ("bank_transfer", "CHQ-1")
    assert [(a.invoice, a.amount) for a in payment.allocations.all()] == [(second, 50)]
    assert reload(second).status == InvoiceStatus.PAID
    assert reload(first).status == InvoiceStatus.OPEN
    assert BillingEvent.objects.filter(kind="balance.overpayment").exists()
    followed = admin_client.get(response.url)
    assert any(text.startswith(f"Recorded payment #{payment.pk}") for text in messages_of(followed))


@pytest.mark.parametrize(
    ("overrides", "field", "error"),
    [
        ({"customer": "nobody"}, "customer", "No active customer"),
        ({"invoices": "INV-0000-000999"}, "invoices", "No such invoice"),
        ({"amount": "10.001"}, "amount", "2 decimal places"),
        ({"amount": "-5"}, "amount", "above 0"),
        ({"currency": "EUR"}, "invoices", "not the customer's"),
        ({"currency": "ZZZ"}, "currency", "Unknown currency"),
    ],
)
def test_record_shows_validation_errors_and_saves_nothing(admin_client, overrides, field, error):
    customer = factories.customer()
    invoice = open_invoice(customer)
    overrides.setdefault("invoices", invoice.number)
    response = record(admin_client, **overrides)
    assert response.status_code == 200
    assert error in " ".join(response.context["form"].errors[field])
    assert not Payment.objects.exists()
    assert reload(invoice).status == InvoiceStatus.OPEN


# Payment methods
def test_make_default_and_detach(admin_client):
    customer, first = customer_with_card()
    second = card(customer, token="tok_mastercard", default=False)
    response = act(admin_client, PaymentMethod, "make_default_selected", second)
    assert "Made default: 1." in messages_of(response)
    assert (reload(first).is_default, reload(second).is_default) == (False, True)
    page = act(admin_client, PaymentMethod, "detach_selected", second)
    assert "never charged again" in page.content.decode()  # asks first
    assert reload(second).status == "active"
    confirmed = {"action": "detach_selected", "_selected_action": [second.pk], "confirmed": "yes"}
    admin_client.post(url(PaymentMethod, "changelist"), confirmed)
    second = reload(second)
    assert (second.status, second.is_default) == ("detached", False)
    response = act(admin_client, PaymentMethod, "make_default_selected", second)
    assert any("cannot be the default" in text for text in messages_of(response))
    assert not reload(second).is_default


# Gateways and routing rules
GATEWAY = {"name": "Backup", "active": "on", "priority": "50", "options": "{}"}
GATEWAY |= {"currencies": '["USD"]', "method_kinds": '["card"]'}


def test_gateway_add_and_edit(admin_client):
    data = {**GATEWAY, "code": "backup", "adapter": "sandbox", "vault": "sandbox"}
    assert admin_client.post(url(Gateway, "add"), data).status_code == 302
    gateway = Gateway.objects.get(code="backup")
    assert (gateway.vault, gateway.method_kinds) == ("sandbox", ["card"])
    assert gateway.currencies == ["USD"]
    changed = {**data, "name": "Spare", "adapter": "stripe", "vault": "stripe", "currencies": "[]"}
    response = admin_client.post(url(Gateway, "change", gateway.pk), changed)
    assert response.status_code == 302
    gateway = reload(gateway)
    assert (gateway.name, gateway.currencies) == ("Spare", [])
    assert (gateway.adapter, gateway.vault) == ("sandbox", "sandbox")  # kept once created
    assert admin_client.get(url(Gateway, "delete", gateway.pk)).status_code == 403


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"currencies": '["usd"]'}, "currencies"),
        ({"currencies": '"USD"'}, "currencies"),
        ({"method_kinds": '["cash"]'}, "method_kinds"),
        ({"options": "[1]"}, "options"),
    ],
)
def test_gateway_form_checks_its_json(admin_client, overrides, field):
    data = {**GATEWAY, "code": "backup", "adapter": "sandbox", "vault": "sandbox", **overrides}
    response = admin_client.post(url(Gateway, "add"), data)
    assert field in response.context["adminform"].form.errors
    assert not Gateway.objects.filter(code="backup").exists()


RULE = {"name": "Big USD", "priority": "10", "active": "on", "currency": "USD"}
RULE |= {"method_kind": "", "customer": "", "min_amount": "100", "max_amount": "500"}


def test_routing_rule_add(admin_client):
    data = {**RULE, "gateways": '["stripe", "sandbox"]'}
    assert admin_client.post(url(RoutingRule, "add"), data).status_code == 302
    rule = RoutingRule.objects.get()
    assert (rule.gateways, rule.min_amount) == (["stripe", "sandbox"], Decimal(100))


@pytest.mark.parametrize(
    ("overrides", "field", "error"),
    [
        ({"gateways": '["nowhere"]'}, "gateways", "No gateway has the code nowhere."),
        ({"gateways": '["sandbox", "sandbox"]'}, "gateways", "Name each one once."),
        ({"min_amount": "600"}, "max_amount", "The maximum is below the minimum."),
        ({"currency": ""}, "currency", "Amount conditions need a currency."),
        ({"min_amount": "-1"}, "min_amount", "Give an amount of 0 or more."),
    ],
)
def test_routing_rule_validation(admin_client, overrides, field, error):
    data = {**RULE, "gateways": '["sandbox"]', **overrides}
    response = admin_client.post(url(RoutingRule, "add"), data)
    assert error in response.context["adminform"].form.errors[field]
    assert not RoutingRule.objects.exists()


# Staff groups
def test_read_only_staff_see_everything_and_change_nothing(client):
    payment, held = paid(), held_for_review()
    staff(client, "read-only")
    for model in (Payment, PaymentMethod, Gateway, RoutingRule, Refund):
        response = client.get(url(model, "changelist"))
        assert response.status_code == 200
        assert response.context["action_form"] is None
    page = client.get(url(Payment, "change", payment.pk)).content.decode()
    assert url(Payment, "refund", payment.pk) not in page
    assert url(Payment, "record") not in client.get(url(Payment, "changelist")).content.decode()
    act(client, Payment, "refund_selected", payment)
    act(client, Payment, "approve_selected", held)
    detach = {"action": "detach_selected", "_selected_action": [payment.method.pk]}
    client.post(url(PaymentMethod, "changelist"), {**detach, "confirmed": "yes"})
    assert (reload(payment).status, reload(held).status) == ("succeeded", "review")
    assert reload(payment.method).status == "active"
    refund = client.post(url(Payment, "refund", payment.pk), {"amount": "1", "reason": "x"})
    assert refund.status_code == 403
    assert record(client).status_code == 403
    gateway = Gateway.objects.get(code="sandbox")
    response = client.post(url(Gateway, "change", gateway.pk), {**GATEWAY, "name": "Mine"})
    assert response.status_code == 403
    assert reload(gateway).name != "Mine"
    assert not Refund.objects.exists()


def test_finance_staff_act(client):
    payment, held = paid(), held_for_review()
    staff(client, "finance")
    act(client, Payment, "approve_selected", held)
    assert reload(held).status == "succeeded"
    data = {"amount": "5", "reason": "x", "_confirm": "1"}
    response = client.post(url(Payment, "refund", payment.pk), data)
    assert response.status_code == 302
    assert reload(payment).status == "partially_refunded"
    assert client.get(url(Payment, "record")).status_code == 200
    assert client.get(url(Gateway, "add")).status_code == 200
