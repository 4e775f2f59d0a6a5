"""The invoice PDF, the "invoice finalized" email and GET /api/v1/invoices/{id}/pdf/."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import transaction
from django.template.loader import render_to_string

from billing.invoicing.services import invoices as invoicing
from billing.invoicing.services.documents import (
    PDF_TEMPLATE,
    invoice_email_send,
    invoice_pdf,
    invoice_pdf_context,
)
from billing.invoicing.tasks import invoice_email_send_task
from billing.models import BillingEvent, Invoice, InvoiceLine, LineKind
from billing.tests import factories
from customers.services import contact_create, customer_create

pytestmark = pytest.mark.django_db

JAN_1 = datetime(2027, 1, 1, 5, tzinfo=UTC)  # midnight in New York


def html(invoice: Invoice) -> str:
    return render_to_string(PDF_TEMPLATE, invoice_pdf_context(invoice=invoice))


def first_invoice(customer) -> Invoice:
    return Invoice.objects.filter(customer=customer).order_by("pk").first()


@pytest.fixture
def ny_invoice():
    """An open USD invoice of a New York customer with an address and a tax id."""
    customer = customer_create(
        external_id="acme",
        name="Acme Widgets Inc",
        email="ap@acme.example",
        currency="USD",
        timezone="America/New_York",
        country="US",
        tax_id="US-12-3456789",
        address={"line1": "350 Fifth Avenue", "city": "New York", "postal_code": "10118"},
    )
    plan = factories.plan(code="pro", amount="30.00")
    factories.subscription(customer=customer, plan=plan, at=JAN_1, quantity=2)
    return first_invoice(customer)


def test_pdf_html_shows_what_a_customer_needs(ny_invoice, settings):
    settings.INVOICE_SELLER = {
        "name": "Seller GmbH",
        "address": ["Hauptstraße 1", "10115 Berlin"],
        "email": "invoices@seller.example",
        "tax_id": "DE123456789",
        "payment_details": ["IBAN: DE89 3704 0044 0532 0130 00"],
    }
    text = html(ny_invoice)
    number = ny_invoice.number
    assert number.startswith("INV-2027-")
    for expected in [
        number,
        "Seller GmbH",
        "Hauptstraße 1",
        "DE123456789",
        "Acme Widgets Inc",
        "350 Fifth Avenue",
        "10118 New York",
        "United States",
        "US-12-3456789",
        "ap@acme.example",
        "Pro × 2",
        "1 Jan 2027 – 31 Jan 2027",  # period_end (1 Feb, exclusive) shows as 31 Jan
        "Issue date</td><td>1 Jan 2027",
        "Due date</td><td>15 Jan 2027",
        "30.00 USD",  # unit price
        "60.00 USD",
        f'Payment reference: <span class="reference">{ny_invoice.payment_reference}</span>',
        f"Payment reference</td><td>{ny_invoice.payment_reference}",
        "IBAN: DE89",
    ]:
        assert expected in text, expected
    assert "1 Feb 2027" not in text
    assert "DRAFT" not in text
    assert "Discount" not in text


def test_dates_are_in_the_customers_time_zone():
    ny = factories.customer(external_id="ny", timezone="America/New_York")
    late_evening = datetime(2027, 1, 1, 3, tzinfo=UTC)  # 31 Dec, 22:00 in New York
    factories.subscription(customer=ny, plan=factories.plan(), at=late_evening)
    text = html(first_invoice(ny))
    assert "Issue date</td><td>31 Dec 2026" in text
    assert "31 Dec 2026 – 30 Jan 2027" in text

    tokyo = factories.customer(external_id="tokyo", currency="JPY", timezone="Asia/Tokyo")
    jpy = factories.plan(code="jp", amount="516", currency="JPY")
    factories.subscription(customer=tokyo, plan=jpy, at=datetime(2027, 1, 1, tzinfo=UTC))
    invoice = first_invoice(tokyo)
    assert invoice.lines.get().period_start == datetime(2026, 12, 31, 15, tzinfo=UTC)
    assert "1 Jan 2027 – 31 Jan 2027" in html(invoice)


@pytest.mark.parametrize(
    ("currency", "amount", "shown"),
    [
        ("USD", "60.00", "60.00 USD"),
        ("JPY", "516", "516 JPY"),
        ("KWD", "5.161", "5.161 KWD"),
        ("EUR", "1234.5", "1,234.50 EUR"),
    ],
)
def test_totals_in_the_currencys_precision(currency, amount, shown):
    customer = factories.customer(external_id="c", currency=currency)
    plan = factories.plan(code="p", amount=amount, currency=currency)
    factories.subscription(customer=customer, plan=plan, at=JAN_1)
    context = invoice_pdf_context(invoice=first_invoice(customer))
    zero = "0" if currency == "JPY" else "0.000" if currency == "KWD" else "0.00"
    assert (context["subtotal"], context["total"], context["amount_due"]) == (shown,) * 3
    assert (context["tax"], context["amount_paid"]) == (f"{zero} {currency}",) * 2
    assert context["lines"][0]["amount"] == shown
    assert html(first_invoice(customer)).count(shown) >= 4


def test_unit_price_keeps_its_extra_places_and_discount_shows():
    customer = factories.customer(external_id="c")
    with transaction.atomic():
        line = InvoiceLine(
            customer=customer,
            currency="USD",
            kind=LineKind.USAGE,
            description="API calls",
            quantity=Decimal(1_000_000),
            unit_amount=Decimal("0.0000125"),
            amount=Decimal("12.50"),
        )
        invoice = invoicing.invoice_create(
            customer=customer, currency="USD", lines=[line], at=JAN_1
        )
    Invoice.objects.filter(pk=invoice.pk).update(discount=Decimal("2.5"))
    invoice.refresh_from_db()
    context = invoice_pdf_context(invoice=invoice)
    assert context["lines"][0]["quantity"] == "1000000"
    assert context["lines"][0]["unit_price"] == "0.0000125 USD"
    assert context["discount"] == "-2.50 USD"
    assert "Discount" in html(invoice)


def test_pdf_is_a_real_pdf_and_a_draft_says_so():
    customer = factories.customer(external_id="c")
    plan = factories.plan(code="later", amount="30.00", pay_in_advance=False)
    factories.subscription(customer=customer, plan=plan, at=JAN_1)
    with transaction.atomic():
        line = InvoiceLine(
            customer=customer, currency="USD", kind=LineKind.ONE_TIME, description="Setup"
        )
        draft = invoicing.invoice_create(customer=customer, currency="USD", lines=[line], at=JAN_1)
    assert draft.number is None
    text = html(draft)
    assert 'class="watermark">DRAFT' in text
    assert "Do not pay it" in text
    pdf = invoice_pdf(invoice=draft)
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) > 1024


def test_paid_and_void_invoices_are_stamped(ny_invoice):
    invoicing.invoice_mark_paid(invoice=ny_invoice, at=datetime(2027, 1, 3, tzinfo=UTC))
    paid = html(Invoice.objects.get(pk=ny_invoice.pk))
    assert "stamp-PAID" in paid
    assert "Paid on 2 Jan 2027" in paid  # 3 Jan 00:00 UTC is still 2 Jan in New York
    assert "Payment reference" not in paid

    other = factories.customer(external_id="other")
    factories.subscription(customer=other, plan=factories.plan(code="x"), at=JAN_1)
    void = invoicing.invoice_void(invoice=first_invoice(other), at=JAN_1)
    assert "stamp-VOID" in html(void)
    assert "0.00 USD" in invoice_pdf_context(invoice=void)["amount_due"]


def test_email_goes_to_customer_and_invoice_contacts_once(
    ny_invoice, mailoutbox, django_capture_on_commit_callbacks
):
    customer = ny_invoice.customer
    contact_create(customer=customer, name="Payables", email="payables@acme.example")
    contact_create(customer=customer, name="Dev", email="dev@acme.example", receives_invoices=False)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_email_send(invoice_id=ny_invoice.pk)
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["ap@acme.example", "payables@acme.example"]
    assert mail.subject == f"Invoice {ny_invoice.number} from Example Billing Ltd"
    assert "Amount due: 60.00 USD" in mail.body
    assert ny_invoice.payment_reference.startswith("RF")
    assert f"Payment reference: {ny_invoice.payment_reference}" in mail.body
    assert f"(or the invoice number {ny_invoice.number})" in mail.body
    assert "&" not in mail.body.replace("Acme Widgets Inc", "")  # plain text, nothing escaped
    [(filename, content, mimetype)] = mail.attachments
    assert (filename, mimetype) == (f"{ny_invoice.number}.pdf", "application/pdf")
    assert content.startswith(b"%PDF-")

    with django_capture_on_commit_callbacks(execute=True):
        invoice_email_send(invoice_id=ny_invoice.pk)
        invoice_email_send_task(ny_invoice.pk)
    assert len(mailoutbox) == 1
    assert BillingEvent.objects.filter(kind="invoice.email_sent").count() == 1


def test_email_waits_for_commit_and_rollback_sends_nothing(
    ny_invoice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invoice_email_send(invoice_id=ny_invoice.pk)
    assert len(callbacks) == 1
    assert mailoutbox == []  # not before commit

    def resend_then_fail():
        with transaction.atomic():
            invoice_email_send(invoice_id=ny_invoice.pk, resend=True)
            raise RuntimeError

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            resend_then_fail()
    assert callbacks == []
    assert mailoutbox == []
    assert not BillingEvent.objects.filter(kind="invoice.email_resent").exists()


def test_resend_sends_again(ny_invoice, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invoice_email_send(invoice_id=ny_invoice.pk)
        invoice_email_send(invoice_id=ny_invoice.pk, resend=True)
    assert len(mailoutbox) == 2


def test_no_email_for_a_draft(mailoutbox, django_capture_on_commit_callbacks):
    customer = factories.customer(external_id="c")
    with transaction.atomic():
        line = InvoiceLine(customer=customer, currency="USD", kind=LineKind.ONE_TIME)
        draft = invoicing.invoice_create(customer=customer, currency="USD", lines=[line], at=JAN_1)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_email_send(invoice_id=draft.pk)
    assert mailoutbox == []
    assert not BillingEvent.objects.filter(kind="invoice.email_sent").exists()


def test_api_returns_the_pdf_by_id_or_number(read_only_api, ny_invoice):
    for value in (ny_invoice.pk, ny_invoice.number):
        response = read_only_api.get(f"/api/v1/invoices/{value}/pdf/")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"] == (
            f'attachment; filename="{ny_invoice.number}.pdf"'
        )
        assert response.content.startswith(b"%PDF-")
    asked = read_only_api.get(
        f"/api/v1/invoices/{ny_invoice.pk}/pdf/", HTTP_ACCEPT="application/pdf"
    )
    assert asked.status_code == 200


@pytest.mark.parametrize("value", ["999999", "INV-1999-000001", "9" * 30, "²"])
@pytest.mark.parametrize("accept", ["application/json", "application/pdf"])
def test_api_unknown_invoice_is_404_json(api, value, accept):
    response = api.get(f"/api/v1/invoices/{value}/pdf/", HTTP_ACCEPT=accept)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["type"] == "not_found"


def test_api_needs_a_key(client, ny_invoice):
    response = client.get(f"/api/v1/invoices/{ny_invoice.pk}/pdf/")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication"
