"""Invoices and credit notes (PDFs), payment methods, and paying an invoice, through the
Django test client: each page and each POST with good and bad input, the wrong role (403)
and another customer's object (404)."""

import re
from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from billing.invoicing.services.credits import credit_note_issue
from billing.invoicing.services.invoices import invoice_create
from billing.models import (
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    Payment,
    PaymentMethod,
    PaymentMethodStatus,
    PaymentSource,
    PaymentStatus,
    SandboxPaymentMethod,
)
from billing.payments.gateways.base import GatewayError, StoredMethod
from billing.payments.services.payments import payment_collect
from billing.tests.payment_helpers import card, open_invoice
from customers.models import CustomerRole

INVOICES = reverse("portal:invoices")
METHODS = reverse("portal:payment_methods")
ADD_SANDBOX = reverse("portal:payment_method_add_sandbox")
ADD_STRIPE = reverse("portal:payment_method_add_stripe")
R = CustomerRole


def draft_invoice(customer):
    line = InvoiceLine(
        customer=customer,
        currency="USD",
        kind=LineKind.ONE_TIME,
        description="Draft fee",
        unit_amount=Decimal("5"),
        amount=Decimal("5"),
    )
    with transaction.atomic():
        return invoice_create(customer=customer, currency="USD", lines=[line], at=timezone.now())


def pay_url(invoice):
    return reverse("portal:invoice_pay", args=[invoice.pk])


def nonce_of(response) -> str:
    return re.search(r'name="nonce" value="([^"]+)"', response.content.decode()).group(1)


@pytest.fixture
def invoice(acme):
    return open_invoice(acme.customer, amount="40.00", at=timezone.now())


# Invoices and credit notes
def test_invoices_list_open_and_paid_invoices_and_credit_notes_not_drafts(acme, invoice):
    now = timezone.now()
    draft = draft_invoice(acme.customer)
    note = credit_note_issue(invoice=invoice, at=now, reason="other")
    response = acme.client(R.VIEWER).get(INVOICES)
    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-invoice="{invoice.number}"' in page
    assert "40.00 USD" in page
    assert "Open" in page
    assert f'data-credit-note="{note.number}"' in page
    assert reverse("portal:credit_note_pdf", args=[note.pk]) in page
    assert reverse("portal:invoice_pdf", args=[draft.pk]) not in page
    assert pay_url(invoice) not in page  # a viewer cannot pay


def test_invoices_offer_pay_to_billing_managers(acme, invoice):
    page = acme.client(R.BILLING).get(INVOICES).content.decode()
    assert pay_url(invoice) in page


def test_invoices_of_another_customer_never_show(acme, globex):
    theirs = open_invoice(globex.customer, at=timezone.now())
    page = acme.client().get(INVOICES).content.decode()
    assert theirs.number not in page


def test_invoice_pdf_download(acme, invoice):
    response = acme.client(R.VIEWER).get(reverse("portal:invoice_pdf", args=[invoice.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="{invoice.number}.pdf"' in response["Content-Disposition"]
    assert response.content.startswith(b"%PDF")


def test_invoice_pdf_of_another_customer_or_a_draft_is_404(acme, globex):
    now = timezone.now()
    theirs = open_invoice(globex.customer, at=now)
    draft = draft_invoice(acme.customer)
    client = acme.client()
    assert client.get(reverse("portal:invoice_pdf", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("portal:invoice_pdf", args=[draft.pk])).status_code == 404
    assert client.get(reverse("portal:invoice_pdf", args=[999999])).status_code == 404


def test_credit_note_pdf_download_and_isolation(acme, globex, invoice):
    now = timezone.now()
    note = credit_note_issue(invoice=invoice, at=now, reason="duplicate", memo="Sorry.")
    response = acme.client(R.MEMBER).get(reverse("portal:credit_note_pdf", args=[note.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="{note.number}.pdf"' in response["Content-Disposition"]
    assert response.content.startswith(b"%PDF")
    theirs = credit_note_issue(
        invoice=open_invoice(globex.customer, at=now), at=now, reason="other"
    )
    url = reverse("portal:credit_note_pdf", args=[theirs.pk])
    assert acme.client().get(url).status_code == 404


# Payment methods
@pytest.mark.parametrize("role", [R.VIEWER, R.MEMBER])
def test_payment_methods_need_manage_billing(acme, role):
    client = acme.client(role)
    assert client.get(METHODS).status_code == 403
    response = client.post(ADD_SANDBOX, {"card_number": "4242424242424242"})
    assert response.status_code == 403
    assert not PaymentMethod.objects.filter(customer=acme.customer).exists()


def test_payment_methods_list_with_brand_last4_expiry_and_default(acme):
    now = timezone.now()
    card(acme.customer, token="tok_visa", at=now)  # noqa: S106
    card(acme.customer, token="tok_mastercard", default=False, at=now)  # noqa: S106
    response = acme.client(R.BILLING).get(METHODS)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Visa •••• 4242" in page
    assert "Mastercard •••• 4444" in page
    assert "12/2034" in page
    assert page.count('class="badge ok">Default') == 1
    assert "Add a card (sandbox)" in page
    assert "js.stripe.com" not in page


def test_add_a_sandbox_test_card_by_number_never_stores_the_number(acme):
    response = acme.client(R.BILLING).post(
        ADD_SANDBOX, {"card_number": "4242 4242 4242 4242", "make_default": "on"}, follow=True
    )
    assert response.status_code == 200
    assert "Visa •••• 4242 12/2034 added." in response.content.decode()
    method = PaymentMethod.objects.get(customer=acme.customer)
    assert method.is_default
    assert method.last4 == "4242"
    assert "4242424242424242" not in method.token
    sandbox = SandboxPaymentMethod.objects.get(reference=method.token)
    assert sandbox.test_token == "tok_visa"  # noqa: S105
    assert "4242424242424242" not in response.content.decode()


def test_add_a_sandbox_card_by_test_token(acme):
    response = acme.client(R.ADMIN).post(ADD_SANDBOX, {"test_token": "tok_mastercard"})
    assert response.status_code == 302
    assert PaymentMethod.objects.get(customer=acme.customer).brand == "mastercard"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"card_number": "4111111111111111"}, "not one of the sandbox"),
        ({}, "Give a test card number or pick a test token."),
        (
            {"card_number": "4242424242424242", "test_token": "tok_visa"},
            "not both",
        ),
        ({"test_token": "tok_nope"}, "Select a valid choice"),
    ],
)
def test_add_a_sandbox_card_with_bad_input_changes_nothing(acme, data, error):
    response = acme.client(R.BILLING).post(ADD_SANDBOX, data)
    assert response.status_code == 400
    page = response.content.decode()
    assert error in page
    assert "4111111111111111" not in page  # the number is not echoed back
    assert not PaymentMethod.objects.filter(customer=acme.customer).exists()


def test_add_refuses_get(acme):
    assert acme.client().get(ADD_SANDBOX).status_code == 405


def test_set_the_default(acme):
    now = timezone.now()
    first = card(acme.customer, token="tok_visa", at=now)  # noqa: S106
    second = card(acme.customer, token="tok_mastercard", default=False, at=now)  # noqa: S106
    url = reverse("portal:payment_method_default", args=[second.pk])
    response = acme.client(R.BILLING).post(url, follow=True)
    assert "is now the default" in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.is_default
    assert not first.is_default


def test_remove_a_method_after_confirming(acme):
    method = card(acme.customer, at=timezone.now())
    url = reverse("portal:payment_method_remove", args=[method.pk])
    client = acme.client(R.BILLING)
    page = client.get(reverse("portal:payment_methods")).content.decode()
    assert f'href="{url}">Remove' in page  # a link to the confirmation page
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Remove {method.label}?" in page
    assert "it will not be charged again" in page
    assert "It is your default payment method" in page
    assert "until you add a card and make it the default" in page
    assert 'name="confirm" value="yes"' in page
    method.refresh_from_db()
    assert method.status == PaymentMethodStatus.ACTIVE  # looking changes nothing

    response = client.post(url, {"confirm": "yes"}, follow=True)
    assert "removed" in response.content.decode()
    method.refresh_from_db()
    assert method.status == PaymentMethodStatus.DETACHED
    assert client.post(url, {"confirm": "yes"}).status_code == 404  # already gone
    assert client.get(url).status_code == 404


def test_a_remove_without_the_confirmation_goes_to_it(acme):
    method = card(acme.customer, at=timezone.now())
    url = reverse("portal:payment_method_remove", args=[method.pk])
    response = acme.client(R.BILLING).post(url)
    assert response.status_code == 303
    assert response["Location"] == url
    method.refresh_from_db()
    assert method.status == PaymentMethodStatus.ACTIVE


def test_removing_the_default_names_the_other_method(acme):
    now = timezone.now()
    first = card(acme.customer, token="tok_visa", at=now)  # noqa: S106
    second = card(acme.customer, token="tok_mastercard", default=False, at=now)  # noqa: S106
    page = (
        acme.client(R.BILLING)
        .get(reverse("portal:payment_method_remove", args=[first.pk]))
        .content.decode()
    )
    assert f"until you make another method the default ({second.label} is on file)" in page
    page = (
        acme.client(R.BILLING)
        .get(reverse("portal:payment_method_remove", args=[second.pk]))
        .content.decode()
    )
    assert "It is your default payment method" not in page


def test_default_and_remove_of_another_customers_method_are_404(acme, globex):
    theirs = card(globex.customer, at=timezone.now())
    client = acme.client(R.BILLING)
    for name in ("payment_method_default", "payment_method_remove"):
        url = reverse(f"portal:{name}", args=[theirs.pk])
        assert client.post(url, {"confirm": "yes"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == PaymentMethodStatus.ACTIVE


def test_default_and_remove_need_manage_billing(acme):
    method = card(acme.customer, at=timezone.now())
    for name in ("payment_method_default", "payment_method_remove"):
        url = reverse(f"portal:{name}", args=[method.pk])
        assert acme.client(R.VIEWER).post(url, {"confirm": "yes"}).status_code == 403
    remove = reverse("portal:payment_method_remove", args=[method.pk])
    assert acme.client(R.VIEWER).get(remove).status_code == 403
    default = reverse("portal:payment_method_default", args=[method.pk])
    assert acme.client(R.BILLING).get(default).status_code == 405
    method.refresh_from_db()
    assert method.status == PaymentMethodStatus.ACTIVE


# Stripe Elements (rendered only: a fake adapter stands in for the network)
class FakeStripe:
    charges = True
    calls: list = []

    def __init__(self, options=None):
        self.options = options or {}

    def available(self):
        return True

    def customer_setup(self, *, customer_id, email, name):
        return f"cus_fake{customer_id}"

    def setup_intent_create(self, *, gateway_customer_id, kinds):
        FakeStripe.calls.append((gateway_customer_id, kinds))
        return "seti_fake_secret_abc"

    def payment_method_store(self, *, gateway_customer_id, token):
        return StoredMethod(
            token="pm_fake_1", kind="card", brand="visa", last4="1881", exp_month=4, exp_year=2031
        )


@pytest.fixture
def stripe_on(settings):
    settings.STRIPE_TEST_SECRET_KEY = "sk_test_fake"  # noqa: S105
    settings.STRIPE_TEST_PUBLIC_KEY = "pk_test_fake"
    settings.PAYMENT_ADAPTERS = {"stripe": "portal.tests.test_billing.FakeStripe"}
    FakeStripe.calls = []


def test_stripe_elements_render_when_stripe_is_configured(acme, stripe_on):
    page = acme.client(R.BILLING).get(METHODS).content.decode()
    assert "https://js.stripe.com/v3/" in page
    assert 'data-publishable-key="pk_test_fake"' in page
    assert 'data-client-secret="seti_fake_secret_abc"' in page
    assert "Card number" not in page  # no sandbox form: the card never touches our server
    assert FakeStripe.calls == [(f"cus_fake{acme.customer.pk}", ["card"])]


def test_stripe_setup_intent_is_stored_as_a_method(acme, stripe_on):
    response = acme.client(R.BILLING).post(ADD_STRIPE, {"token": "seti_123abc"}, follow=True)
    assert "Visa •••• 1881 04/2031 added." in response.content.decode()
    method = PaymentMethod.objects.get(customer=acme.customer)
    assert method.vault == "stripe"
    assert method.token == "pm_fake_1"


def test_stripe_refuses_a_card_number(acme, stripe_on):
    response = acme.client(R.BILLING).post(ADD_STRIPE, {"token": "4242424242424242"}, follow=True)
    assert "Expected a Stripe SetupIntent" in response.content.decode()
    assert not PaymentMethod.objects.filter(customer=acme.customer).exists()


def test_stripe_post_without_stripe_configured_changes_nothing(acme):
    response = acme.client(R.BILLING).post(ADD_STRIPE, {"token": "seti_123abc"}, follow=True)
    assert "Stripe is not configured." in response.content.decode()
    assert not PaymentMethod.objects.filter(customer=acme.customer).exists()


# Paying an invoice
def test_pay_an_open_invoice(acme, invoice):
    card(acme.customer, at=timezone.now())
    client = acme.client(R.BILLING)
    form = client.get(pay_url(invoice))
    assert form.status_code == 200
    assert "Pay 40.00 USD" in form.content.decode()
    method = PaymentMethod.objects.get(customer=acme.customer)
    response = client.post(
        pay_url(invoice), {"method": method.pk, "nonce": nonce_of(form)}, follow=True
    )
    page = response.content.decode()
    assert 'data-payment-status="succeeded"' in page
    assert "is paid" in page
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert Payment.objects.get(invoice=invoice).source == PaymentSource.PORTAL


def test_a_double_submit_is_one_payment(acme, invoice):
    method = card(acme.customer, at=timezone.now())
    client = acme.client(R.BILLING)
    data = {"method": method.pk, "nonce": nonce_of(client.get(pay_url(invoice)))}
    first = client.post(pay_url(invoice), data)
    second = client.post(pay_url(invoice), data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]  # the same payment shown again
    assert Payment.objects.filter(invoice=invoice).count() == 1


def test_a_declined_payment_shows_why_and_can_be_retried(acme, invoice):
    declining = card(acme.customer, token="tok_chargeDeclined", at=timezone.now())  # noqa: S106
    client = acme.client(R.BILLING)
    data = {"method": declining.pk, "nonce": nonce_of(client.get(pay_url(invoice)))}
    page = client.post(pay_url(invoice), data, follow=True).content.decode()
    assert 'data-payment-status="failed"' in page
    assert "Your card was declined." in page
    assert "Retry payment" in page
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    assert "Retry payment" in client.get(INVOICES).content.decode()

    good = card(acme.customer, token="tok_visa", at=timezone.now())  # noqa: S106
    retry = client.get(pay_url(invoice))
    assert "The last payment failed: Your card was declined." in retry.content.decode()
    client.post(pay_url(invoice), {"method": good.pk, "nonce": nonce_of(retry)})
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    statuses = sorted(Payment.objects.filter(invoice=invoice).values_list("status", flat=True))
    assert statuses == [PaymentStatus.FAILED, PaymentStatus.SUCCEEDED]


def test_a_payment_needing_3ds_links_to_the_sandbox_authentication(acme, invoice):
    method = card(acme.customer, token="tok_threeDSecureRequired", at=timezone.now())  # noqa: S106
    client = acme.client(R.BILLING)
    data = {"method": method.pk, "nonce": nonce_of(client.get(pay_url(invoice)))}
    page = client.post(pay_url(invoice), data, follow=True).content.decode()
    assert 'data-payment-status="requires_action"' in page
    payment = Payment.objects.get(invoice=invoice)
    back = f"%2Fportal%2Fpayments%2F{payment.pk}%2F"  # the sandbox page links back here
    assert re.search(rf'href="/sandbox/authenticate/sbx_ch_\w+/\?return_to={back}"', page)


@pytest.mark.parametrize("bad", ["method", "nonce"])
def test_pay_with_bad_input_charges_nothing(acme, globex, invoice, bad):
    mine = card(acme.customer, at=timezone.now())
    theirs = card(globex.customer, at=timezone.now())
    client = acme.client(R.BILLING)
    data = {"method": mine.pk, "nonce": nonce_of(client.get(pay_url(invoice)))}
    data[bad] = theirs.pk if bad == "method" else "x"
    response = client.post(pay_url(invoice), data)
    assert response.status_code == 400
    assert not Payment.objects.filter(invoice=invoice).exists()


def test_pay_a_paid_invoice_is_refused(acme, invoice):
    method = card(acme.customer, at=timezone.now())
    client = acme.client(R.BILLING)
    nonce = nonce_of(client.get(pay_url(invoice)))
    client.post(pay_url(invoice), {"method": method.pk, "nonce": nonce})
    response = client.get(pay_url(invoice), follow=True)
    assert "has nothing to pay" in response.content.decode()
    other_nonce = "n" * 24
    response = client.post(
        pay_url(invoice), {"method": method.pk, "nonce": other_nonce}, follow=True
    )
    assert "only open invoices are paid" in response.content.decode()
    assert Payment.objects.filter(invoice=invoice).count() == 1


def test_pay_needs_manage_billing(acme, invoice):
    method = card(acme.customer, at=timezone.now())
    for role in (R.VIEWER, R.MEMBER):
        client = acme.client(role)
        assert client.get(pay_url(invoice)).status_code == 403
        response = client.post(pay_url(invoice), {"method": method.pk, "nonce": "n" * 24})
        assert response.status_code == 403
    assert not Payment.objects.exists()


def test_pay_another_customers_invoice_is_404(acme, globex):
    theirs = open_invoice(globex.customer, at=timezone.now())
    method = card(acme.customer, at=timezone.now())
    client = acme.client(R.BILLING)
    assert client.get(pay_url(theirs)).status_code == 404
    response = client.post(pay_url(theirs), {"method": method.pk, "nonce": "n" * 24})
    assert response.status_code == 404
    assert not Payment.objects.exists()


def test_payment_page_of_another_customer_is_404(acme, globex):
    theirs = open_invoice(globex.customer, at=timezone.now())
    card(globex.customer, at=timezone.now())
    payment = payment_collect(invoice=theirs, at=timezone.now())
    url = reverse("portal:payment", args=[payment.pk])
    assert acme.client(R.BILLING).get(url).status_code == 404
    assert globex.client(R.BILLING).get(url).status_code == 200
    assert globex.client(R.VIEWER).get(url).status_code == 403


def test_money_is_shown_in_the_currency_precision(acme):
    invoice = open_invoice(acme.customer, amount="1234.5", at=timezone.now())
    page = acme.client().get(INVOICES).content.decode()
    assert "1,234.50 USD" in page
    assert invoice.total == Decimal("1234.5")


def test_stripe_setup_failure_says_cards_cannot_be_added(acme, stripe_on, monkeypatch):
    def refuse(self, **kwargs):
        raise GatewayError("Stripe is down.", code="api_error")

    monkeypatch.setattr(FakeStripe, "setup_intent_create", refuse)
    page = acme.client(R.BILLING).get(METHODS).content.decode()
    assert "Cards cannot be added right now: Stripe is down." in page
    assert "js.stripe.com" not in page


def test_open_invoices_show_the_payment_reference_to_quote(acme, invoice):
    assert invoice.payment_reference.startswith("RF")
    quoted = f"<span data-payment-reference>{invoice.payment_reference}</span>"
    assert quoted in acme.client(R.VIEWER).get(INVOICES).content.decode()
    page = acme.client(R.OWNER).get(pay_url(invoice)).content.decode()
    assert f"<strong data-payment-reference>{invoice.payment_reference}</strong>" in page
